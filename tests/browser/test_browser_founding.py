"""A founding, end to end in a real browser: apply (a rejected submission keeps what was typed), return for
correction, resubmit, approve twice, download the certificate and verify it; the diagram follows each step."""
from __future__ import annotations

from browser_support import (
    CHAIN_OK, attach_documents, decide, degree_pdf, diagram_markers, enhanced, fill_form, follow, no_problems, pick_date,
    rejected_once, sign_in,
)
from conftest import ARTIFACTS
from support import PIN, answer_all, application_fixture
from web.extensions import db
from web.scope import timeline as timeline_of
from workflows.models import Case, utcnow
from workflows.verification import verification_token


def answer_inquiries(case_url: str) -> None:
    """The agencies answer through their own channel (here: the domain operation, as the API does)."""
    db.session.expire_all()
    answer_all(db.session.get(Case, int(case_url.rsplit("/", 1)[-1])), "clear", utcnow())


def test_founding_in_the_browser(browser_page, live_server, tmp_path, screens):
    page, problems = browser_page
    base = live_server
    application = application_fixture()

    sign_in(page, base, "applicant1")
    follow(page, "#new-center_founding")
    enhanced(page)
    # on the phone the header is one line: the short name and a menu
    assert page.locator("#menu-button").is_visible() and not page.locator("#nav-notifications").is_visible()
    assert page.locator(".topbar").bounding_box()["height"] < 60
    # the rules the application is checked against, read from the rule tables themselves
    rules = page.inner_text("#eligibility-rules")
    assert "هیئت مؤسس کانون باید دست‌کم ۵ عضو داشته باشد." in rules and "سن مدیر کانون نباید بیش از ۴۱ سال" in rules
    # the founding board: one row to start with, rows added and removed with buttons
    board = page.locator("#section-founding_board")
    assert board.locator(".row-item:visible").count() == 1
    # the long form in sections, with its progress
    assert page.locator("#form-progress li").count() >= 5
    assert page.inner_text("#progress-text").startswith("۰ از")
    fill_form(page, application, skip=("manager.birth_date",))
    pick_date(page, "f-manager-birth_date", 1375, 3, 14)
    assert page.input_value("#f-manager-birth_date") == "۱۳۷۵/۰۳/۱۴"
    assert page.inner_text("[data-field='documents.manager_photo'] .file-name") == "فایلی انتخاب نشده است"
    assert board.locator(".row-item:visible").count() == 5
    board.locator(".add-row").click()
    page.fill("#f-founding_board-5-full_name", "ردیف اضافه")
    board.locator(".row-item[data-row='5'] .remove-row").click()
    assert board.locator(".row-item:visible").count() == 5
    assert page.input_value("#f-founding_board-5-full_name") == ""
    attach_documents(page, tmp_path)
    photo = page.locator("[data-field='documents.manager_photo']")
    assert photo.locator("button").inner_text() == "انتخاب فایل"
    assert photo.locator(".file-name").inner_text() == "photo.png"
    sections = page.locator("#form-progress li").count()
    assert page.locator("#form-progress li.done").count() == sections
    screens(page, "application-form")

    # rejected by the server: a postal code too short and a wrong PIN; nothing typed is lost
    page.fill("#f-mosque-postal_code", "۳۸۱۳")
    page.fill("#pin", "0000")
    no_problems(problems)
    follow(page, "#submit")
    rejected_once(page, problems)
    assert page.inner_text("#err-mosque\\.postal_code") == "کد پستی باید ۱۰ رقم باشد."
    assert page.get_attribute("#f-mosque-postal_code", "aria-invalid") == "true"
    assert page.input_value("#f-mosque-name") == application["mosque"]["name"]
    assert page.input_value("#f-manager-birth_date") == "۱۳۷۵/۰۳/۱۴"
    assert page.input_value("#f-founding_board-4-full_name") == application["founding_board"][4]["full_name"]
    assert page.locator("[data-field='documents.manager_photo'] .hint.ok").count() == 1  # the upload was kept
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert "کد پستی مسجد: کد پستی باید ۱۰ رقم باشد." in page.inner_text("#error-list")
    assert page.locator("#error-list li").count() == 1  # the form is checked before the key is tried
    assert page.locator("#form-progress li.bad").count() == 1
    screens(page, "application-rejected")
    # the section stays marked while the field it was rejected for is not edited
    page.fill("#f-mosque-address", application["mosque"]["address"] + "،")
    assert page.locator("#form-progress li.bad").count() == 1

    page.fill("#f-mosque-postal_code", "۳۸۱۳۶۴۵۷۸۹")
    assert page.locator("#form-progress li.bad").count() == 0
    page.fill("#pin", PIN)
    follow(page, "#submit")
    assert page.inner_text("#case-status") == "در انتظار پاسخ استعلام‌ها"
    case_url = page.url
    markers = diagram_markers(page)
    assert "submit_application" in markers["done"] and "inquiries_complete" in markers["current"]
    assert "متقاضی" in markers["lanes"] and "applicant" not in markers["lanes"]
    answer_inquiries(case_url)
    page.reload()
    assert page.inner_text("#case-status") == "در بررسی اداره شهرستان"
    assert page.locator("#inquiries tr.inquiry-answered").count() == 4
    assert diagram_markers(page)["current"] == ["county_review"]
    # on a phone the diagram opens on the current step, large enough to read
    frame, step = page.locator("#diagram").bounding_box(), page.locator("#diagram .step-current").bounding_box()
    assert frame["x"] <= step["x"] and step["x"] + step["width"] <= frame["x"] + frame["width"], (frame, step)
    assert step["width"] >= 60, step
    screens(page, "case-in-county-review")
    # the keyboard moves and zooms it
    viewport = "document.querySelector('#diagram g.viewport').getAttribute('transform')"
    before = page.evaluate(viewport)
    zoomed_from = page.locator("#diagram .step-current").bounding_box()["width"]
    page.focus("#diagram svg")
    page.keyboard.press("ArrowLeft")
    moved = page.evaluate(viewport)
    assert moved != before
    page.keyboard.press("+")
    assert page.locator("#diagram .step-current").bounding_box()["width"] > zoomed_from

    # the county officer decides from the desk: the whole case on the page where the decision is signed
    reason = "کد پستی مسجد با نشانی نمی‌خواند؛ اصلاح کنید."
    sign_in(page, base, "arak_officer")
    follow(page, "#inbox a.button")
    enhanced(page)
    page.wait_for_selector("#desk-documents .pdf-preview[data-state=drawn]")
    assert page.locator("#desk-documents .pdf-preview canvas.pdf-page").count() == 2  # both pages of the degree
    assert page.locator("#desk-documents img.preview").count() == 2
    page.wait_for_function("[...document.querySelectorAll('#desk-documents img.preview')].every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator("#desk-inquiries tr.inquiry-answered").count() == 4
    assert "برقرار است" in page.inner_text("#desk-rules")
    assert application["founding_board"][2]["full_name"] in page.inner_text("#desk-application")
    degree = page.locator("article#doc-documents-manager_degree")
    degree.locator("input[value=rejected]").check()
    degree.locator("input[name$='.reason']").fill("مهر دانشگاه روی مدرک دیده نمی‌شود.")
    for other in ("manager_photo", "manager_id_copy"):
        page.locator(f"article#doc-documents-{other} input[value=accepted]").check()
    page.check("input[name=decision][value=return]")
    page.fill("#f-reason", reason)
    page.fill("#pin", PIN)
    screens(page, "desk")
    page.emulate_media(media="print")
    printed = page.evaluate("""() => ['.topbar', '#decision-card', '#print-case', '#desk-documents fieldset']
        .map(s => getComputedStyle(document.querySelector(s)).display)""")
    assert printed == ["none"] * 4, printed
    assert page.locator("#desk-application").is_visible() and page.locator("#desk-inquiries").is_visible()
    page.screenshot(path=str(ARTIFACTS / "print-desk.png"), full_page=True)
    page.emulate_media(media="screen")
    follow(page, "#submit")
    assert page.inner_text("#case-status") == "بازگشت برای اصلاح"

    # the founder replaces the rejected document only; the accepted ones are kept as they were
    sign_in(page, base, "applicant1")
    page.goto(case_url)
    assert diagram_markers(page)["current"] == ["correct_application"]
    follow(page, "#open-task")
    assert reason in page.inner_text("#return-reason")
    assert "مهر دانشگاه" in page.inner_text("#rejected-documents")
    assert page.locator(".review-accepted").count() == 2
    assert page.input_value("#f-mosque-name") == application["mosque"]["name"]
    screens(page, "correction-with-rejected-document")
    page.fill("#f-mosque-postal_code", "3813645780")
    page.fill("#pin", PIN)
    follow(page, "#submit")  # the same degree sent again: refused at that document
    rejected_once(page, problems)
    assert page.locator("#err-documents\\.manager_degree").count() == 1
    rescan = tmp_path / "degree-stamped.pdf"
    rescan.write_bytes(degree_pdf() + b"\n% stamped\n")
    page.set_input_files("#f-documents-manager_degree", str(rescan))
    page.fill("#pin", PIN)
    follow(page, "#submit")
    assert page.inner_text("#case-status") == "در انتظار پاسخ استعلام‌ها"
    answer_inquiries(case_url)

    decide(page, base, "arak_officer", "approve")
    decide(page, base, "markazi_officer", "approve")
    assert page.inner_text("#case-status") == "مجوز صادر شد"
    assert CHAIN_OK in page.inner_text("#verification")
    timeline = page.inner_text("#timeline")
    for action in ("ثبت و امضای درخواست", "بازگشت برای اصلاح", "ارسال دوباره پس از اصلاح", "صدور مجوز"):
        assert action in timeline
    markers = diagram_markers(page)
    assert markers["current"] == []
    assert {"submit_application", "correct_application", "county_review", "province_review"} <= set(markers["done"])
    assert "پرونده به پایان رسیده است." in page.inner_text("#diagram-now")
    screens(page, "case-licensed")

    with page.expect_download() as download:
        page.click("#certificate")
    pdf_path = download.value.path()
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF")

    # anyone verifies it: by the token of its QR code, and by uploading the PDF itself
    case = db.session.get(Case, int(case_url.rsplit("/", 1)[-1]))
    token = verification_token(case, timeline_of(case)[-1]["hash"])
    page.context.clear_cookies()
    page.goto(f"{base}/verify")
    page.fill("#token", token)
    follow(page, "form.row button")
    result = page.inner_text("#verify-result")
    assert CHAIN_OK in result and "مجوز صادر شد" in result
    screens(page, "public-verification")
    page.goto(f"{base}/verify")
    page.set_input_files("#pdf", str(pdf_path))
    follow(page, "#pdf-form button[type=submit]")
    result = page.inner_text("#pdf-result")
    assert "مهر سند معتبر است" in result and CHAIN_OK in result and "مجوز صادر شد" in result
    no_problems(problems)
