"""The office's desk: one page holds the whole application, each attachment with its preview, each
inquiry's answer with its agency, the rule results and the earlier decisions; the officer reviews each
document in the signed decision, and the founder then replaces only the rejected ones."""
from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from forms import normalize_text
from support import ACTORS, PIN, answer_all, application_fixture, in_county_review, login, pdf_bytes
from test_web_pages import submit, waiting_task
from web.extensions import db
from workflows import documents, notes
from workflows.models import Case, CaseNote, Record, utcnow
from workflows.notifications import OutboxMessage
from workflows.verification import verify_case


def desk(client, case_id: int) -> str:
    response = client.get(f"/cases/{case_id}/tasks/{waiting_task(case_id)}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def section(html: str, id_: str) -> str:
    return html.split(f'id="{id_}"', 1)[1].split("</section>", 1)[0]


def test_the_desk_shows_everything_the_decision_is_made_from(app, client):
    case = in_county_review(app)
    login(client, ACTORS["county"])
    html = desk(client, case.id)
    fixture = application_fixture()
    application = section(html, "desk-application")
    # every section of the signed application, the board's national ids and roles, consents and contacts
    for board in fixture["founding_board"]:
        assert normalize_text(board["full_name"]) in application
        assert "".join("۰۱۲۳۴۵۶۷۸۹"[int(d)] for d in board["national_id"]) in application
    assert "امام جماعت" in application and "عضو هیئت امنا" in application  # roles by their labels
    assert "علی‌اکبر رضایی" in application and "بله" in application  # the trustees' head and consents
    # each attachment by its name, previewed in the page: images as images, PDFs drawn by pdf.js
    documents_ = section(html, "desk-documents")
    assert documents_.count('<article class="document"') == 3
    assert 'class="preview" src="/cases/' in documents_ and 'class="pdf-preview" data-src="/cases/' in documents_
    assert re.search(r'name="document_review\.0\.verdict" value="rejected"', documents_)
    assert 'data-pdfjs="/vendor/pdfjs-dist/pdf.min.mjs"' in html
    script = client.get("/vendor/pdfjs-dist/pdf.min.mjs")
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
    script.close()
    # each inquiry with its agency, its reference and the date it was answered
    inquiries = section(html, "desk-inquiries")
    assert "قوه قضاییه" in inquiries and "شماره پاسخ" in inquiries and inquiries.count("<tr") == 5
    # the rule tables: the facts they read and each rule, met or not
    rules = section(html, "desk-rules")
    assert "تعداد اعضای هیئت مؤسس" in rules and "سن مدیر (سال)" in rules
    assert "مساحت اندازه‌گیری‌شده فضا (مترمربع)" in rules and "حضور امام جماعت در بازدید" in rules  # the visit's checklist
    assert rules.count("برقرار است") == 12 and "برقرار نیست" not in rules
    assert "درخواست‌ها و تصمیم‌های پیشین" in html and "ثبت و امضای درخواست" in section(html, "desk-decisions")
    # the decision is signed on the same page
    assert 'id="task-form"' in html and 'name="decision"' in html and 'id="print-case"' in html


def test_a_rejected_document_returns_to_the_founder_who_replaces_only_it(app, client):
    case = in_county_review(app)
    login(client, ACTORS["county"])
    html = desk(client, case.id)
    rows = dict(re.findall(r'name="(document_review\.\d)\.document" value="([a-z_.]+)"', html))
    degree = next(row for row, path in rows.items() if path == "documents.manager_degree")
    reason = "مدرک تحصیلی مدیر مهر ندارد."
    posted = {f"{row}.document": path for row, path in rows.items()}  # the hidden inputs a browser sends
    # a rejected document needs a reason; the error is shown at that document, nothing is signed
    response = submit(client, case.id, waiting_task(case.id), {**posted,
        "decision": "return", "reason": "مدرک تحصیلی را اصلاح کنید.", f"{degree}.verdict": "rejected"})
    assert response.status_code == 422 and f'id="err-{degree}.reason"' in response.get_data(as_text=True)
    assert db.session.get(Case, case.id).status == "county_review"
    # approving while rejecting a document is refused at the decision
    response = submit(client, case.id, waiting_task(case.id), {**posted,
        "decision": "approve", f"{degree}.verdict": "rejected", f"{degree}.reason": reason})
    assert response.status_code == 422 and 'id="err-decision"' in response.get_data(as_text=True)
    others = {f"{row}.verdict": "accepted" for row in rows if row != degree}
    response = submit(client, case.id, waiting_task(case.id), {**posted,
        "decision": "return", "reason": "مدرک تحصیلی را اصلاح کنید.", f"{degree}.verdict": "rejected",
        f"{degree}.reason": reason, **others})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == "correction"

    client.post("/logout")
    login(client, ACTORS["applicant"])
    # told by notification (and SMS and email) which documents to send again
    assert "این مدارک را دوباره بارگذاری کنید: تصویر آخرین مدرک تحصیلی مدیر." in client.get(
        "/notifications").get_data(as_text=True)
    assert any("تصویر آخرین مدرک تحصیلی مدیر" in m.body for m in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.channel == "sms")))
    task_id = waiting_task(case.id)
    page = client.get(f"/cases/{case.id}/tasks/{task_id}").get_data(as_text=True)
    listed = page.split('id="rejected-documents"')[1].split("</ul>")[0]
    assert "تصویر آخرین مدرک تحصیلی مدیر" in listed and reason in listed and "عکس" not in listed
    assert page.count('class="hint ok review-accepted"') == 2  # the accepted ones are kept, not asked again
    hidden = dict(re.findall(r'name="(documents\.[a-z_]+)" value="([0-9a-f]{64})"', page))
    fields = {k: ("true" if v is True else str(v)) for k, v in
              __import__("web.formdata", fromlist=["flatten"]).flatten(application_fixture()).items()
              if not k.startswith("documents")}
    # sending the same rejected file again is refused at that field
    response = submit(client, case.id, task_id, {**fields, **hidden})
    assert response.status_code == 422
    assert 'id="err-documents.manager_degree"' in response.get_data(as_text=True)
    # a new file for it goes through; the accepted ones are signed again as they were
    response = submit(client, case.id, task_id, {
        **fields, **{k: v for k, v in hidden.items() if k != "documents.manager_degree"},
        "file.documents.manager_degree": (io.BytesIO(pdf_bytes("stamped degree")), "مدرک با مهر.pdf")})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.status == "inquiries" and documents.open_review(db.session, case) == {}
    answer_all(case, "clear", utcnow())
    client.post("/logout")
    login(client, ACTORS["county"])
    html = desk(client, case.id)
    # the desk shows what the earlier review said of the document, and the new file
    assert "مدرک با مهر.pdf" in section(html, "desk-documents") and reason in section(html, "desk-documents")
    assert reason in section(html, "desk-decisions")


def test_offices_sign_internal_notes_and_messages_the_founder_reads_only_the_messages(app, client):
    case = in_county_review(app)
    login(client, ACTORS["county"])
    task_page = f"/cases/{case.id}/tasks/{waiting_task(case.id)}"
    internal = "پیش از تصمیم با امام جماعت تماس گرفته شود."
    message = "لطفاً اصل مدرک تحصیلی را هنگام بازدید همراه داشته باشید."
    # too short, or a wrong PIN: nothing is signed
    assert client.post(f"/cases/{case.id}/notes", data={"kind": "office_note", "text": "کم", "pin": PIN,
                                                         "next": task_page}).status_code == 302
    assert client.post(f"/cases/{case.id}/notes", data={"kind": "office_note", "text": internal, "pin": "0000",
                                                         "next": task_page}).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(CaseNote)) == 0
    before = case.status
    for kind, text in (("office_note", internal), ("applicant_message", message)):
        response = client.post(f"/cases/{case.id}/notes", data={"kind": kind, "text": text, "pin": PIN,
                                                                 "next": task_page})
        assert response.status_code == 302 and response.headers["Location"].endswith(f"{task_page}#notes")
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.status == before and case.tasks  # a note moves nothing
    html = desk(client, case.id)
    assert internal in section(html, "notes") and message in section(html, "notes")
    records = db.session.scalars(select(Record).where(Record.case_id == case.id,
                                                      Record.action.in_(notes.NOTE_ACTIONS))).all()
    assert [r.action for r in records] == ["office_note", "applicant_message"]
    assert internal not in records[0].canonical and internal not in records[0].form_data  # only its digest
    assert verify_case(db.session, case).ok

    client.post("/logout")
    login(client, ACTORS["applicant"])
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert message in page and internal not in page and "یادداشت داخلی" not in page
    assert 'id="note-form"' not in page
    assert client.post(f"/cases/{case.id}/notes", data={"kind": "applicant_message", "text": message,
                                                        "pin": PIN}).status_code == 403
    notices = client.get("/notifications").get_data(as_text=True)
    assert message in notices
    token = client.post("/api/v1/auth/token", json={"username": ACTORS["applicant"], "password": "demo1234"}).json
    read = client.get(f"/api/v1/cases/{case.id}", headers={"Authorization": f"Bearer {token['token']}"}).json
    assert "office_note" not in [r["action"] for r in read["records"]]
    assert "applicant_message" in [r["action"] for r in read["records"]]


def test_notes_through_the_api_are_signed_and_field_keyed(app, client):
    from office_support import tokens_for
    case = in_county_review(app)
    officer = tokens_for(ACTORS["county"])[ACTORS["county"]]
    for body, key in (({"kind": "gossip", "text": "مدارک را همراه بیاورید."}, "kind"),
                      ({"kind": "office_note", "text": "کم"}, "text")):
        bad = client.post(f"/api/v1/cases/{case.id}/notes", headers=officer, json={**body, "pin": PIN})
        assert bad.status_code == 422 and list(bad.json["errors"]) == [key], bad.json
    made = client.post(f"/api/v1/cases/{case.id}/notes", headers=officer,
                       json={"kind": "applicant_message", "text": "مدارک را همراه بیاورید.", "pin": PIN})
    assert made.status_code == 201 and made.json["action"] == "applicant_message"
    applicant = tokens_for(ACTORS["applicant"])[ACTORS["applicant"]]
    assert client.post(f"/api/v1/cases/{case.id}/notes", headers=applicant, json={
        "kind": "office_note", "text": "یادداشت متقاضی", "pin": PIN}).status_code == 403
    read = client.get(f"/api/v1/cases/{case.id}", headers=applicant).json
    assert read["tracking_code"] == case.tracking_code and "applicant_message" in [r["action"] for r in read["records"]]
