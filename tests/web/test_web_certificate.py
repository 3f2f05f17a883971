"""The certificate PDF: rendered from the case's data, with a QR code that decodes to the verification URL."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from sqlalchemy import select

from support import ACTORS, application_fixture, found_center, login, user
from web.certificate import certificate_context, render_certificate
from web.extensions import db
from workflows.models import Case, License, Record
from workflows.verification import resolve_token, verify_case


def licensed_case(app):
    center = found_center(app, ACTORS["applicant"])
    return db.session.scalars(select(Case).where(Case.center_id == center.id)).one()


def test_certificate_renders_license_data_and_a_qr_that_resolves(app, tmp_path):
    case = licensed_case(app)
    with app.test_request_context(base_url="http://127.0.0.1:5000"):
        context = certificate_context(case)
        pdf = render_certificate(context)
    license_ = db.session.scalars(select(License).where(License.case_id == case.id)).one()
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000
    assert context["license_number"] == license_.number
    assert context["manager_national_id"] == application_fixture()["manager"]["national_id"]
    assert [e["action"] for e in context["entries"] if e["action"] != "inquiry_answer"] == [
        "submit", "schedule_visit", "record_visit", "approve", "approve", "issue_license"]
    assert context["verification"]["ok"]
    assert context["verify_url"].endswith(f"/verify/{context['token']}")

    if not (shutil.which("pdftoppm") and shutil.which("zbarimg")):
        pytest.fail("poppler-utils and zbar-tools are needed (make test installs them)")
    (tmp_path / "c.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", tmp_path / "c.pdf", tmp_path / "page"], check=True)
    decoded = subprocess.run(["zbarimg", "--quiet", "--raw", tmp_path / "page.png"], check=True,
                             capture_output=True, text=True).stdout.strip()
    assert decoded == context["verify_url"]
    check = resolve_token(db.session, context["token"])
    assert check is not None and check.case.id == case.id and check.report.ok and check.is_head


def test_public_verification_page_reports_a_tampered_chain(app, client):
    case = licensed_case(app)
    last = db.session.scalars(select(Record).where(Record.case_id == case.id).order_by(Record.seq.desc())).first()
    token = f"{case.public_id}.{last.hash[:20]}"
    page = client.get(f"/verify/{token}").get_data(as_text=True)
    assert "همه امضاها و پیوند زنجیره درست است" in page and "مجوز صادر شد" in page

    first = db.session.scalars(select(Record).where(Record.case_id == case.id, Record.seq == 1)).one()
    data = json.loads(first.form_data)
    data["manager"]["national_id"] = "0499370899"
    first.form_data = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    db.session.commit()
    assert not verify_case(db.session, case).ok
    page = client.get(f"/verify/{token}").get_data(as_text=True)
    assert "زنجیره امضاها معتبر نیست" in page


@pytest.mark.parametrize("column", ["action", "actor_user_id", "canonical", "hash", "signature", "key_id", "seq"])
def test_changing_a_stored_column_breaks_verification(app, column):
    case = licensed_case(app)
    record = db.session.scalars(select(Record).where(Record.case_id == case.id, Record.action == "approve")
                                .order_by(Record.seq)).first()
    other = db.session.scalars(select(Record).where(Record.case_id == case.id, Record.seq == record.seq + 1)).one()
    changed = {"action": "reject", "actor_user_id": user("markazi_officer").id,
               "canonical": record.canonical.replace('"approve"', '"reject"'), "hash": "0" * 64,
               "signature": other.signature, "key_id": other.key_id, "seq": 1000}[column]
    setattr(record, column, changed)
    db.session.commit()
    report = verify_case(db.session, case)
    assert not report.ok and report.problems


def test_the_verification_address_is_the_configured_one_whatever_host_the_client_names(app, client):
    """A client that sends its own Host header cannot make a sealed certificate point elsewhere."""
    center = found_center(app, ACTORS["applicant"])
    case = db.session.scalars(select(Case).where(Case.center_id == center.id)).one()
    token = client.post("/api/v1/auth/token", json={"username": "applicant1", "password": "demo1234"}).json["token"]
    response = client.get(f"/api/v1/cases/{case.id}/certificate.pdf",
                          headers={"Host": "verify-mosques.evil.example", "Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    with app.test_request_context(base_url="http://verify-mosques.evil.example"):
        context = certificate_context(case)
    assert context["verify_url"].startswith(app.config["PUBLIC_BASE_URL"] + "/verify/")
    assert "evil.example" not in context["verify_url"]
