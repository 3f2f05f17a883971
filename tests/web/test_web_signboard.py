"""A licensed center's standard signboard and banner, drawn from its proved facts (print-ready PDF and
SVG, with a QR code to the license's public check), and the installed sign's photo approved by the
county office and shown on the center's page."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from support import ACTORS, PIN, ROOT, found_center, login, png_bytes, user
from test_web_procedures import post_task, start_from_center
from web.extensions import db
from workflows.cases import complete_task, start_case
from workflows.models import Case, License, tehran_today, utcnow

SIZES = json.loads((ROOT / "bpmn" / "signboards.json").read_text("utf-8"))["sizes"]


def _number(center_id: int) -> str:
    return db.session.scalars(select(License.number).where(License.center_id == center_id)).one()


def test_every_standard_size_downloads_as_svg_and_pdf_with_the_proved_facts_and_a_qr_to_the_public_check(
        app, client, tmp_path):
    center = found_center(app, ACTORS["applicant"])
    number = _number(center.id)
    persian_number = number.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    verify_url = f"{app.config['PUBLIC_BASE_URL']}/verify/license/{number}"
    login(client, ACTORS["applicant"])
    page = client.get(f"/centers/{center.id}").get_data(as_text=True)
    for code, size in SIZES.items():
        assert f'id="board-{code}-pdf"' in page and f'id="board-{code}-svg"' in page and size["label"] in page
        drawn = client.get(f"/centers/{center.id}/signboard/{code}.svg")
        assert drawn.status_code == 200 and drawn.mimetype == "image/svg+xml"
        root = ET.fromstring(drawn.get_data())  # well-formed, of the board's real size
        assert (root.get("width"), root.get("height")) == (f"{size['width_cm'] * 10}mm", f"{size['height_cm'] * 10}mm")
        words = " ".join("".join(e.itertext()) for e in root.iter("{http://www.w3.org/2000/svg}text"))
        assert "کانون فرهنگی هنری مسجد" in words and persian_number in words and "اراک" in words
        assert verify_url in drawn.get_data(as_text=True) and "base64," in drawn.get_data(as_text=True)  # font embedded
        printed = client.get(f"/centers/{center.id}/signboard/{code}.pdf")
        assert printed.status_code == 200 and printed.mimetype == "application/pdf"
        assert f'signboard-{center.id}-{code}.pdf' in printed.headers["Content-Disposition"]
        if shutil.which("pdftoppm") and shutil.which("zbarimg"):
            pdf = tmp_path / f"{code}.pdf"
            pdf.write_bytes(printed.get_data())
            subprocess.run(["pdftoppm", "-r", "10", "-png", "-singlefile", str(pdf), str(tmp_path / code)], check=True)
            size_line = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
            points = [line for line in size_line.splitlines() if line.startswith("Page size")][0]
            width_pt = float(points.split()[2])
            assert abs(width_pt / 72 * 2.54 - size["width_cm"]) < 0.5  # printed at its real size
            decoded = subprocess.run(["zbarimg", "--raw", "-q", str(tmp_path / f"{code}.png")], capture_output=True,
                                     text=True, check=True).stdout.strip()
            assert decoded == verify_url
    # the QR code leads to the public check of this license, which says it is in force
    public = client.get(f"/verify/license/{number}").get_data(as_text=True)
    assert "license-active" in public
    # an unknown size or format is a clear 404
    assert client.get(f"/centers/{center.id}/signboard/sign_1x1.pdf").status_code == 404
    assert client.get(f"/centers/{center.id}/signboard/sign_100x70.png").status_code == 404
    # another holder cannot draw this center's board
    client.post("/logout")
    login(client, "applicant2")
    assert client.get(f"/centers/{center.id}/signboard/sign_100x70.svg").status_code == 404


def test_no_board_for_a_suspended_license_or_for_facts_the_records_do_not_prove(app, client):
    center = found_center(app, ACTORS["applicant"])
    login(client, ACTORS["applicant"])
    db.session.execute(text("UPDATE centers SET name = 'کانون ساختگی' WHERE id = :id"), {"id": center.id})
    db.session.commit()
    refused = client.get(f"/centers/{center.id}/signboard/sign_100x70.pdf")
    assert refused.status_code == 409 and "ساختگی" not in refused.get_data(as_text=True)
    db.session.execute(text("UPDATE centers SET name = :name WHERE id = :id"),
                       {"id": center.id, "name": "کانون فرهنگی هنری مسجد جامع امام حسن مجتبی (ع)"})
    db.session.commit()
    assert client.get(f"/centers/{center.id}/signboard/sign_100x70.pdf").status_code == 200
    county, province = user("arak_officer"), user("markazi_officer")
    case = start_case(db.session, process_key="license_suspension", starter=county, center=center)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=county, pin=PIN,
                  data={"findings": "کانون سه ماه است هیچ برنامه‌ای برگزار نکرده است."})
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=province, pin=PIN,
                  data={"decision": "approve", "reason": "نبود فعالیت",
                        "suspended_until": (tehran_today(utcnow()) + timedelta(days=10)).isoformat()})
    db.session.commit()
    refused = client.get(f"/centers/{center.id}/signboard/banner_300x90.svg")
    assert refused.status_code == 409 and "تنها برای کانونی کشیده می‌شود که مجوز آن امروز فعال است" in \
        refused.get_data(as_text=True)
    page = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert 'id="signboard-downloads"' not in page


def test_the_holder_sends_the_installed_signs_photo_and_the_county_approves_it_onto_the_centers_page(app, client):
    center = found_center(app, ACTORS["applicant"])
    login(client, ACTORS["applicant"])
    page = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert 'id="signboard-installed"' not in page and 'id="start-signboard"' in page
    case_id = start_from_center(client, center.id, "signboard")
    today = tehran_today(utcnow()).isoformat()
    assert post_task(client, case_id, {"installed_on": today}).status_code == 422  # the photo is required
    photo = png_bytes("green")
    assert post_task(client, case_id, {"installed_on": today,
                                       "file.documents.signboard_photo": (io.BytesIO(photo), "sign.png")}).status_code == 302
    client.post("/logout")
    login(client, "arak_officer")
    desk = client.get(f"/cases/{case_id}/tasks/{db.session.get(Case, case_id).tasks[0].task_id}").get_data(as_text=True)
    assert 'id="doc-documents-signboard_photo"' in desk  # previewed on the desk, reviewed like any document
    assert post_task(client, case_id, {"decision": "approve", "document_review.0.document": "documents.signboard_photo",
                                       "document_review.0.verdict": "accepted"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case_id).status == "approved"
    client.post("/logout")
    login(client, ACTORS["applicant"])
    page = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert 'id="signboard-installed"' in page
    src = page.split('id="signboard-installed"><img class="preview" src="')[1].split('"')[0]
    with client.get(src) as shown:
        assert shown.status_code == 200 and shown.get_data() == photo


@pytest.mark.parametrize("code", sorted(SIZES))
def test_the_sizes_are_data(code):
    entry = SIZES[code]
    assert entry["kind"] in ("sign", "banner") and entry["width_cm"] > entry["height_cm"] > 0 and entry["label"]
