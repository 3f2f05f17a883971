"""A center's holder on a 360 px phone downloads the standard signboard (SVG and PDF), has it made,
sends a photo of it installed; the county office approves it from the desk, and the center's page
shows it. The SVG, drawn by Chromium, carries a QR code that reads back as the license's public check."""
from __future__ import annotations

import base64
import shutil
import subprocess

import pytest
from sqlalchemy import select

from browser_support import PIN, fa, follow, no_problems, sign_in
from office_support import base_time, licensed, national_id
from support import png_bytes
from web.extensions import db
from forms import jalali_iso
from workflows.models import Case, License, tehran_today, utcnow


def test_the_signboard_downloaded_installed_and_approved_on_a_phone(app, browser_page, live_server, screens, tmp_path):
    page, problems = browser_page
    base = live_server
    center = licensed(app, "applicant1", county="markazi-arak", mosque="مسجد امام رضا", manager_id=national_id(902),
                      now=base_time(), county_officer="arak_officer", province_officer="markazi_officer")
    number = db.session.scalars(select(License.number).where(License.center_id == center.id)).one()

    sign_in(page, base, "applicant1")
    page.goto(f"{base}/centers/{center.id}")
    assert page.locator("#signboard-downloads li").count() == 4
    screens(page, "signboard-center")
    with page.expect_download() as svg_download:
        page.click("#board-sign_100x70-svg")
    svg = tmp_path / "board.svg"
    svg_download.value.save_as(svg)
    with page.expect_download() as pdf_download:
        page.click("#board-banner_300x90-pdf")
    pdf = tmp_path / "banner.pdf"
    pdf_download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-") and svg_download.value.suggested_filename.endswith(".svg")

    # the SVG as a print shop's viewer draws it: the center's name in Persian, the QR code readable
    viewer = page.context.new_page()
    viewer.goto(svg.as_uri())
    drawn = viewer.eval_on_selector_all("svg text", "texts => texts.map(t => t.textContent)")
    words = " ".join(drawn)  # a long name is drawn on two lines
    assert "کانون فرهنگی هنری مسجد امام رضا" in words and fa(number) in words and "اراک" in words
    qr_right = viewer.eval_on_selector("svg g", "g => g.getBoundingClientRect().right")
    lefts = viewer.eval_on_selector_all("svg text", "texts => texts.slice(1, -1).map(t => t.getBoundingClientRect().left)")
    assert min(lefts) > qr_right  # the name and the lines sit beside the QR code, overlapping nothing
    encoded = base64.b64encode(svg.read_bytes()).decode("ascii")
    viewer.set_viewport_size({"width": 1000, "height": 700})
    viewer.goto("about:blank")
    viewer.set_content(f'<img id="board" src="data:image/svg+xml;base64,{encoded}" style="width: 1000px">')
    viewer.wait_for_function("document.getElementById('board').complete")
    shot = tmp_path / "board.png"
    viewer.locator("#board").screenshot(path=str(shot))
    viewer.close()
    if shutil.which("zbarimg") is None:
        pytest.skip("zbar-tools not installed")
    decoded = subprocess.run(["zbarimg", "--raw", "-q", str(shot)], capture_output=True, text=True, check=True)
    assert decoded.stdout.strip() == f"{app.config['PUBLIC_BASE_URL']}/verify/license/{number}"

    # the photo of the installed sign, sent from the phone
    follow(page, "#start-signboard")
    photo = tmp_path / "installed.png"
    photo.write_bytes(png_bytes("green"))
    page.set_input_files("#f-documents-signboard_photo", str(photo))
    page.fill("#f-installed_on", fa(jalali_iso(tehran_today(utcnow()))))
    page.fill("#pin", PIN)
    follow(page, "#submit")
    case = db.session.scalars(select(Case).where(Case.center_id == center.id, Case.process_key == "signboard")).one()
    db.session.refresh(case)
    assert case.status == "county_check"

    # the county office sees the photo on its desk and approves it
    sign_in(page, base, "arak_officer")
    page.goto(f"{base}/cases/{case.id}/tasks/{case.tasks[0].task_id}")
    assert page.locator("#doc-documents-signboard_photo img.preview").is_visible()
    page.check("input[name='document_review.0.verdict'][value=accepted]")
    page.check("input[name=decision][value=approve]")
    page.fill("#pin", PIN)
    follow(page, "#submit")
    page.wait_for_selector("#case-status")

    sign_in(page, base, "applicant1")
    page.goto(f"{base}/centers/{center.id}")
    installed = page.locator("#signboard-installed img")
    assert installed.is_visible() and installed.evaluate("img => img.naturalWidth") > 0
    screens(page, "signboard-installed")
    no_problems(problems)


def test_a_form_kept_on_the_phone_survives_a_reload_and_a_dropped_signal_and_is_sent_when_it_returns(
        app, browser_page, live_server, tmp_path):
    page, problems = browser_page
    base = live_server
    center = licensed(app, "applicant1", county="markazi-arak", mosque="مسجد امام رضا", manager_id=national_id(903),
                      now=base_time(), county_officer="arak_officer", province_officer="markazi_officer")
    sign_in(page, base, "applicant1")
    page.goto(f"{base}/centers/{center.id}")
    follow(page, "#start-signboard")
    task_url = page.url
    assert page.get_attribute("#f-documents-signboard_photo", "capture") == "environment"  # the phone's camera
    photo = tmp_path / "installed.png"
    photo.write_bytes(png_bytes("green"))
    day = fa(jalali_iso(tehran_today(utcnow())))
    page.set_input_files("#f-documents-signboard_photo", str(photo))
    page.fill("#f-installed_on", day)
    page.fill("#f-note", "تابلو بالای در ورودی نصب شد.")
    page.wait_for_timeout(300)  # the chosen photo is written to the phone's storage

    # the page closed and opened again: what was typed and the photo chosen come back, the PIN does not
    page.goto(task_url)
    page.wait_for_selector("#offline-status:not([hidden])")
    assert "بازگردانده شد" in page.inner_text("#offline-status")
    assert page.input_value("#f-installed_on") == day and page.input_value("#f-note") == "تابلو بالای در ورودی نصب شد."
    assert page.eval_on_selector("#f-documents-signboard_photo", "input => input.files.length") == 1
    assert page.input_value("#pin") == ""

    # the signal drops as the form is signed: it is held on the phone, nothing reaches the server
    page.context.set_offline(True)
    page.fill("#pin", PIN)
    page.click("#submit")
    page.wait_for_selector("#offline-status:not([hidden])")
    assert "اینترنت در دسترس نیست" in page.inner_text("#offline-status")
    case = db.session.scalars(select(Case).where(Case.center_id == center.id, Case.process_key == "signboard")).one()
    db.session.refresh(case)
    assert case.status == "draft"

    # the signal returns: the form goes by itself, and what was kept goes with it
    with page.expect_navigation():
        page.context.set_offline(False)
    page.wait_for_selector("#case-status")
    db.session.refresh(case)
    assert case.status == "county_check"
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('kept:'))") == []
    no_problems([p for p in problems if "ERR_INTERNET_DISCONNECTED" not in p])
