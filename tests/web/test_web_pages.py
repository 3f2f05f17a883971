"""The founding flow through the pages, as people click it: forms, uploads, drafts, decisions, PDF."""
from __future__ import annotations

import io
import re

from sqlalchemy import select

from support import PIN, answer_all, application_fixture, login, pdf_bytes, png_bytes
from web.extensions import db
from web.formdata import flatten
from workflows.models import Case, License, Record, utcnow


def form_fields(application: dict) -> dict:
    fields = {k: v for k, v in flatten(application).items() if not k.startswith("documents")}
    fields = {k: ("true" if v is True else str(v)) for k, v in fields.items()}
    return fields


def uploads() -> dict:
    return {"file.documents.manager_id_copy": (io.BytesIO(png_bytes("red")), "id.png"),
            "file.documents.manager_photo": (io.BytesIO(png_bytes("blue")), "photo.png"),
            "file.documents.manager_degree": (io.BytesIO(pdf_bytes()), "degree.pdf")}


def start(client) -> tuple[int, str]:
    response = client.post("/cases/new")
    assert response.status_code == 302
    match = re.search(r"/cases/(\d+)/tasks/([0-9a-f-]+)", response.headers["Location"])
    return int(match.group(1)), match.group(2)


def waiting_task(case_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Case, case_id).tasks[0].task_id


def submit(client, case_id, task_id, data, **extra):
    payload = {**data, "_action": "submit", "pin": PIN, **extra}
    return client.post(f"/cases/{case_id}/tasks/{task_id}", data=payload, content_type="multipart/form-data")


def test_founding_through_the_pages_with_a_return_for_correction(client):
    login(client, "applicant1")
    case_id, task_id = start(client)
    page = client.get(f"/cases/{case_id}/tasks/{task_id}").get_data(as_text=True)
    assert 'dir="rtl"' in page and "درخواست تأسیس کانون" in page

    response = submit(client, case_id, task_id, {**form_fields(application_fixture()), **uploads()})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert db.session.get(Case, case_id).status == "inquiries"
    answer_all(db.session.get(Case, case_id), "clear", utcnow())
    assert db.session.get(Case, case_id).status == "county_review"

    client.post("/logout")
    login(client, "arak_officer")
    inbox = client.get("/cases").get_data(as_text=True)
    assert f"/cases/{case_id}/tasks/" in inbox
    reason = "کد پستی مسجد را بررسی و دوباره وارد کنید."
    response = submit(client, case_id, waiting_task(case_id), {"decision": "return", "reason": reason})
    assert response.status_code == 302
    assert db.session.get(Case, case_id).status == "correction"

    client.post("/logout")
    login(client, "applicant1")
    task_id = waiting_task(case_id)
    page = client.get(f"/cases/{case_id}/tasks/{task_id}").get_data(as_text=True)
    assert reason in page  # the applicant sees why
    assert "اراک، خیابان شهید بهشتی" in page  # the form is prefilled from the signed submission
    fields = form_fields(application_fixture())
    fields["mosque.postal_code"] = "3813645780"
    hidden = dict(re.findall(r'name="(documents\.[a-z_]+)" value="([0-9a-f]{64})"', page))
    assert len(hidden) == 3  # uploaded documents carried over
    assert all(f'class="uploaded-name">{name}</bdi>' in page for name in ("id.png", "photo.png", "degree.pdf"))
    response = submit(client, case_id, task_id, {**fields, **hidden})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    answer_all(db.session.get(Case, case_id), "clear", utcnow())

    for officer in ("arak_officer", "markazi_officer"):
        client.post("/logout")
        login(client, officer)
        assert submit(client, case_id, waiting_task(case_id), {"decision": "approve"}).status_code == 302

    case = db.session.get(Case, case_id)
    assert case.status == "licensed"
    actions = [r.action for r in db.session.scalars(select(Record).where(Record.case_id == case_id).order_by(Record.seq))]
    visit = ["schedule_visit", "record_visit"]  # each round of inquiries is followed by the county's site visit
    assert [a for a in actions if a != "inquiry_answer"] == ["submit", *visit, "return", "resubmit", *visit, "approve",
                                                             "approve", "issue_license"]
    assert actions.count("inquiry_answer") == 8
    license_ = db.session.scalars(select(License).where(License.case_id == case_id)).one()

    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "همه امضاها و پیوند زنجیره درست است" in page
    pdf = client.get(f"/cases/{case_id}/certificate.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    client.post("/logout")
    login(client, "applicant1")
    assert client.get(f"/cases/{case_id}/certificate.pdf").status_code == 200
    assert license_.number.startswith("00-")


def test_invalid_submission_keeps_everything_typed_and_shows_errors_next_to_fields(client):
    login(client, "applicant1")
    case_id, task_id = start(client)
    fields = form_fields(application_fixture())
    fields["manager.national_id"] = "1234567890"
    fields["mosque.postal_code"] = "۱۲۳"
    response = submit(client, case_id, task_id, {**fields, **uploads()})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="err-manager.national_id"' in page and "کد ملی نامعتبر است" in page
    assert 'id="err-mosque.postal_code"' in page
    assert "مسجد جامع امام حسن مجتبی" in page  # typed values are still there
    assert len(re.findall(r'name="documents\.[a-z_]+" value="[0-9a-f]{64}"', page)) == 3
    case = db.session.get(Case, case_id)
    assert case.status == "draft" and db.session.scalar(select(Record.id).where(Record.case_id == case_id)) is None
    # and the draft survives a reload
    page = client.get(f"/cases/{case_id}/tasks/{task_id}").get_data(as_text=True)
    assert "مسجد جامع امام حسن مجتبی" in page


def test_wrong_pin_signs_nothing(client):
    login(client, "applicant1")
    case_id, task_id = start(client)
    response = submit(client, case_id, task_id, {**form_fields(application_fixture()), **uploads()}, pin="0000")
    assert response.status_code == 422
    assert "رمز امضا نادرست است" in response.get_data(as_text=True)
    assert db.session.get(Case, case_id).status == "draft"
    assert db.session.scalar(select(Record.id).where(Record.case_id == case_id)) is None


def test_save_draft_and_resume(client):
    login(client, "applicant1")
    case_id, task_id = start(client)
    response = client.post(f"/cases/{case_id}/tasks/{task_id}",
                           data={"mosque.name": "مسجد النبی", "manager.birth_date": "۱۳۷۰/۰۵/۱۲", "_action": "save"})
    assert response.status_code == 302
    page = client.get(f"/cases/{case_id}/tasks/{task_id}").get_data(as_text=True)
    assert "مسجد النبی" in page and "۱۳۷۰/۰۵/۱۲" in page


def test_bad_upload_is_refused_by_content(client):
    login(client, "applicant1")
    case_id, task_id = start(client)
    data = {**form_fields(application_fixture()), **uploads()}
    data["file.documents.manager_photo"] = (io.BytesIO(b"MZ\x90\x00 not an image"), "photo.png")
    response = submit(client, case_id, task_id, data)
    assert response.status_code == 422
    assert 'id="err-documents.manager_photo"' in response.get_data(as_text=True)


def test_applicant_cannot_see_another_applicants_case(client):
    login(client, "applicant1")
    case_id, task_id = start(client)
    client.post("/logout")
    login(client, "applicant2")
    assert client.get(f"/cases/{case_id}").status_code == 404
    assert client.get(f"/cases/{case_id}/tasks/{task_id}").status_code == 404
    assert client.get(f"/cases/{case_id}/certificate.pdf").status_code == 404
    assert f"/cases/{case_id}" not in client.get("/cases").get_data(as_text=True)


def test_pages_need_login(client):
    assert client.get("/cases").status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/verify").status_code == 200
    assert client.get("/verify/nonsense").status_code == 404
