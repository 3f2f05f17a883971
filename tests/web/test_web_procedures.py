"""Manager change, retirement, inquiries, deadlines and the registry, through the pages, API and CLI."""
from __future__ import annotations

import io
import json
import re
import shutil
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from forms import t
from support import (
    ACTORS, OTHER_MANAGER, PIN, csv_rows, found_center, in_county_review, login, pass_visit, pdf_bytes, png_bytes, submitted_founding,
    user,
)
from web.extensions import db
from workflows.cases import complete_task, deploy, start_case
from forms import jalali_iso, to_persian_digits
from web.certificate import certificate_context
from workflows import facts
from workflows.models import Case, Inquiry, License, ManagerTerm, ProcessDefinition, Record, tehran_today, utcnow

AGENCY = {"Authorization": "Bearer demo-judiciary-token"}
HEALTH = {"Authorization": "Bearer demo-health-token"}


def new_manager_form() -> dict:
    return {"manager.first_name": "محمدحسین", "manager.last_name": "صالحی", "manager.national_id": "۰۰۱۳۵۴۲۴۱۹",
            "manager.birth_date": "۱۳۷۸/۰۱/۱۵", "manager.gender": "male", "manager.education": "seminary_2",
            "manager.mobile": "09121110000", "reason": "مدیر پیشین به شهر دیگری رفته است.",
            "file.documents.manager_id_copy": (io.BytesIO(png_bytes("red")), "id.png"),
            "file.documents.manager_photo": (io.BytesIO(png_bytes("blue")), "photo.png"),
            "file.documents.manager_degree": (io.BytesIO(pdf_bytes()), "degree.pdf")}


def post_task(client, case_id: int, data: dict):
    db.session.expire_all()
    task = db.session.get(Case, case_id).tasks[0]
    return client.post(f"/cases/{case_id}/tasks/{task.task_id}", data={**data, "_action": "submit", "pin": PIN},
                       content_type="multipart/form-data")


def start_from_center(client, center_id: int, process_key: str) -> int:
    response = client.post(f"/centers/{center_id}/cases", data={"process_key": process_key})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return int(re.search(r"/cases/(\d+)", response.headers["Location"]).group(1))


def test_manager_change_through_the_pages_and_the_cli(app, client, runner):
    center = found_center(app, ACTORS["applicant"])
    login(client, "applicant1")
    page = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert 'id="start-manager_change"' in page and "فاطمه محمدی‌نیا" in page
    case_id = start_from_center(client, center.id, "manager_change")
    assert post_task(client, case_id, new_manager_form()).status_code == 302
    assert db.session.get(Case, case_id).status == "inquiries"

    result = runner.invoke(args=["answer-inquiries", "--case", str(case_id)])
    assert result.exit_code == 0 and "4 inquiry answer(s) signed" in result.output
    db.session.expire_all()
    assert db.session.get(Case, case_id).status == "visit_scheduling"
    pass_visit(db.session.get(Case, case_id), utcnow())
    assert db.session.get(Case, case_id).status == "county_review"

    for officer in ("arak_officer", "markazi_officer"):
        client.post("/logout")
        login(client, officer)
        assert post_task(client, case_id, {"decision": "approve"}).status_code == 302
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    assert case.status == "appointed"
    terms = db.session.scalars(select(ManagerTerm).where(ManagerTerm.center_id == center.id).order_by(ManagerTerm.id)).all()
    assert [(t.national_id, t.end_reason) for t in terms] == [("2389001122", "replaced"), ("0013542419", None)]
    assert terms[0].end_date == terms[1].start_date
    page = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert "محمدحسین صالحی" in page
    with app.test_request_context(base_url="http://127.0.0.1:5000"):
        from web.certificate import certificate_context
        context = certificate_context(case)
    assert context["title"] == "حکم انتصاب مدیر کانون فرهنگی هنری مسجد"
    assert context["manager_national_id"] == "0013542419" and context["ended_term"]["national_id"] == "2389001122"
    assert client.get(f"/cases/{case_id}/certificate.pdf").data.startswith(b"%PDF")


def test_office_starts_a_retirement_and_names_an_interim(app, client):
    center = found_center(app, ACTORS["applicant"])
    login(client, "arak_officer")
    case_id = start_from_center(client, center.id, "manager_retirement")
    today = (utcnow() + timedelta(hours=3, minutes=30)).date().isoformat()
    assert post_task(client, case_id, {"effective_date": today, "reason": "رسیدن به سن بازنشستگی."}).status_code == 302
    assert db.session.get(Case, case_id).status == "acknowledgement"
    response = post_task(client, case_id, {"continuity": "interim"})
    assert response.status_code == 422 and 'id="err-interim"' in response.get_data(as_text=True)
    response = post_task(client, case_id, {"continuity": "interim", "interim.full_name": "رضا قاسمی",
                                           "interim.national_id": "0067749828", "interim.mobile": "09350001122"})
    assert response.status_code == 302
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    assert case.status == "closed" and case.outcome == "interim_appointed"
    current = db.session.scalars(select(ManagerTerm).where(ManagerTerm.center_id == center.id,
                                                           ManagerTerm.end_date.is_(None))).one()
    assert current.interim and current.national_id == "0067749828"
    # the applicant of another center cannot start anything here
    client.post("/logout")
    login(client, "applicant2")
    assert client.post(f"/centers/{center.id}/cases", data={"process_key": "manager_resignation"}).status_code == 404


def test_a_term_ends_on_the_requested_effective_date_not_on_the_acknowledgement_day(app, client):
    center = found_center(app, ACTORS["applicant"])
    login(client, "arak_officer")
    case_id = start_from_center(client, center.id, "manager_retirement")
    today = tehran_today(utcnow())
    # a day already past is refused with its reason, and nothing is signed
    response = post_task(client, case_id, {"effective_date": (today - timedelta(days=1)).isoformat(),
                                           "reason": "رسیدن به سن بازنشستگی."})
    assert response.status_code == 422 and "امروز یا روزی پس از آن" in response.get_data(as_text=True)
    effective = today + timedelta(days=17)
    assert post_task(client, case_id, {"effective_date": to_persian_digits(jalali_iso(effective)),
                                       "reason": "رسیدن به سن بازنشستگی."}).status_code == 302
    # the county office acknowledges it from the desk, which shows the signed request
    db.session.expire_all()
    desk = client.get(f"/cases/{case_id}/tasks/{db.session.get(Case, case_id).tasks[0].task_id}").get_data(as_text=True)
    request_shown = desk.split('id="desk-form-office_request"')[1].split("</dl>")[0]
    assert to_persian_digits(jalali_iso(effective)) in request_shown and "رسیدن به سن بازنشستگی." in request_shown
    response = post_task(client, case_id, {"continuity": "interim", "interim.full_name": "رضا قاسمی",
                                           "interim.national_id": "0067749828", "interim.mobile": "09350001122"})
    assert response.status_code == 302
    db.session.expire_all()
    terms = db.session.scalars(select(ManagerTerm).where(ManagerTerm.center_id == center.id)
                               .order_by(ManagerTerm.id)).all()
    assert [(t.end_date, t.end_reason) for t in terms[:1]] == [(effective, "retired")]
    assert terms[1].start_date == effective and terms[1].interim
    # until that day the retiring manager is still the one in force; the interim is shown as named for it
    page = client.get(f"/centers/{center.id}").get_data(as_text=True)
    current = page.split('id="current-manager"')[1].split("</dd>")[0]
    assert terms[0].full_name in current and "رضا قاسمی" not in current
    assert "رضا قاسمی" in page.split('id="next-manager"')[1].split("</dd>")[0]
    assert to_persian_digits(jalali_iso(effective)) in page.split('id="next-manager"')[1].split("</dd>")[0]
    with app.test_request_context(base_url="http://127.0.0.1:5000"):
        context = certificate_context(db.session.get(Case, case_id))
    assert context["ended_term"]["end_date"] == effective
    assert db.session.get(Case, case_id).center_id == center.id and facts.prove_center(db.session, center.id)[1] == []


def test_agency_answers_are_scoped_checked_and_signed(app, client):
    center = found_center(app, ACTORS["applicant"])
    applicant = {"Authorization": "Bearer " + client.post("/api/v1/auth/token", json={
        "username": "applicant1", "password": "demo1234"}).json["token"]}
    case = client.post("/api/v1/cases", json={"process_key": "manager_change", "center_id": center.id},
                       headers=applicant).json
    digests = {}
    for field, content in (("manager_id_copy", png_bytes()), ("manager_photo", png_bytes("red")),
                           ("manager_degree", pdf_bytes())):
        digests[field] = client.post(f"/api/v1/cases/{case['id']}/documents", headers=applicant,
                                     data={"file": (io.BytesIO(content), "x")},
                                     content_type="multipart/form-data").json["sha256"]
    manager = {"first_name": "محمدحسین", "last_name": "صالحی", "national_id": "0013542419",
               "birth_date": "1378/01/15", "gender": "male", "education": "seminary_2", "mobile": "09121110000"}
    response = client.post(f"/api/v1/cases/{case['id']}/tasks/{case['tasks'][0]['id']}/complete", headers=applicant,
                           json={"data": {"manager": manager, "reason": "جابه‌جایی مدیر پیشین",
                                          "documents": digests}, "pin": PIN})
    assert response.status_code == 200 and response.json["case"]["status"] == "inquiries"
    mine = client.get("/api/v1/inquiries", headers=AGENCY).json["inquiries"]
    assert [i["kind"] for i in mine] == ["criminal_record"]
    theirs = client.get("/api/v1/inquiries", headers=HEALTH).json["inquiries"][0]
    records_before = db.session.query(Record).count()

    def answer(inquiry_id, body, headers=AGENCY):
        return client.post(f"/api/v1/inquiries/{inquiry_id}/answer", json=body, headers=headers)

    good = {"data": {"result": "not_clear", "reference": "ق-۱۴۰۵-۷۷", "note": "سابقه دارد"}, "pin": PIN}
    assert answer(999999, good).status_code == 404
    assert answer(theirs["id"], good).status_code == 404  # another agency's inquiry looks absent
    bad = answer(mine[0]["id"], {"data": {"result": "maybe"}, "pin": PIN})
    assert bad.status_code == 422 and set(bad.json["errors"]) == {"result", "reference"}
    assert answer(mine[0]["id"], {**good, "pin": "0000"}).status_code == 422
    assert answer(mine[0]["id"], {"data": good["data"]}).status_code == 422
    assert db.session.query(Record).count() == records_before
    assert answer(mine[0]["id"], good).status_code == 200
    assert answer(mine[0]["id"], good).status_code == 409
    assert db.session.query(Record).count() == records_before + 1
    stored = db.session.get(Inquiry, mine[0]["id"])
    assert (stored.status, stored.result, stored.reference) == ("answered", "not_clear", "ق-1405-77")
    # applicants and officers cannot answer, and agencies see no cases
    assert answer(theirs["id"], good, headers=applicant).status_code == 404
    assert client.get(f"/api/v1/cases/{case['id']}", headers=HEALTH).status_code == 404
    # the county sees the answer on the case
    login(client, "arak_officer")
    page = client.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert "دارای مانع" in page and "سابقه دارد" in page


def test_resend_an_unanswered_inquiry(app, client):
    found_center(app, ACTORS["applicant"])
    center = found_center(app, "applicant2", manager_national_id=OTHER_MANAGER)
    officer = {"Authorization": "Bearer " + client.post("/api/v1/auth/token", json={
        "username": "arak_officer", "password": "demo1234"}).json["token"]}
    applicant = {"Authorization": "Bearer " + client.post("/api/v1/auth/token", json={
        "username": "applicant2", "password": "demo1234"}).json["token"]}
    case = client.post("/api/v1/cases", json={"process_key": "manager_change", "center_id": center.id},
                       headers=applicant).json
    assert case["status"] == "draft"
    inquiry = Inquiry(case_id=case["id"], round=1, kind="criminal_record", agency="judiciary",
                      subject_national_id="0013542419", subject_name="x", status="pending",
                      sent_at=utcnow(), due_at=utcnow())
    db.session.add(inquiry)
    db.session.commit()
    url = f"/api/v1/inquiries/{inquiry.id}/resend"
    assert client.post(url, json={"reason": "دیر", "pin": PIN}, headers=officer).status_code == 422
    assert client.post(url, json={"reason": "پاسخی نرسید؛ دوباره فرستاده شد.", "pin": PIN}, headers=applicant).status_code == 403
    response = client.post(url, json={"reason": "پاسخی نرسید؛ دوباره فرستاده شد.", "pin": PIN}, headers=officer)
    assert response.status_code == 200 and response.json["action"] == "resend_inquiry"
    db.session.expire_all()
    assert db.session.get(Inquiry, inquiry.id).due_at.replace(tzinfo=None) > utcnow().replace(tzinfo=None) + timedelta(days=6)


def test_tick_fires_each_deadline_once(app, runner):
    found_center(app, ACTORS["applicant"])
    center = found_center(app, "applicant2", manager_national_id=OTHER_MANAGER)
    case = start_case(db.session, process_key="manager_resignation", starter=user("applicant2"), center=center)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user("applicant2"),
                  data={"effective_date": (utcnow() + timedelta(days=20)).date().isoformat(),
                        "reason": "ادامه تحصیل در شهر دیگر"}, pin=PIN)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user("arak_officer"),
                  data={"continuity": "successor"}, pin=PIN)
    db.session.commit()
    assert case.status == "awaiting_successor" and case.wake_at is not None
    later = (utcnow() + timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")
    first = runner.invoke(args=["tick", "--now", later])
    second = runner.invoke(args=["tick", "--now", later])
    assert first.exit_code == 0 and "1 case(s)" in first.output and "successor_overdue" in first.output
    assert second.exit_code == 0 and "0 case(s)" in second.output
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.status == "interim_needed" and [t.name for t in case.tasks] == ["name_interim"]
    actions = [r.action for r in db.session.scalars(select(Record).where(Record.case_id == case.id))]
    assert actions.count("deadline_passed") == 1
    assert runner.invoke(args=["tick", "--now", "yesterday"]).exit_code != 0


def test_registry_search_export_and_jurisdiction(app, client):
    center = found_center(app, ACTORS["applicant"])
    login(client, "arak_officer")
    page = client.get("/centers").get_data(as_text=True)
    assert center.name in page
    by_id = client.get("/centers?national_id=۲۳۸۹۰۰۱۱۲۲").get_data(as_text=True)
    assert center.name in by_id
    assert center.name not in client.get("/centers?national_id=0013542419").get_data(as_text=True)
    number = db.session.scalars(select(License.number).where(License.center_id == center.id)).one()
    persian = number.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    for search in (f"license_number={number}", f"license_number={persian}", f"license_number={number.replace('-', '')}",
                   f"license_number={number[3:7]}", f"q={number}", f"q={persian.replace('-', '')}"):
        assert center.name in client.get(f"/centers?{search}").get_data(as_text=True), search
    for search in ("license_number=99-1399-99999", "q=99-1399-99999"):
        assert center.name not in client.get(f"/centers?{search}").get_data(as_text=True), search
    token = {"Authorization": "Bearer " + client.post("/api/v1/auth/token", json={
        "username": "arak_officer", "password": "demo1234"}).json["token"]}
    found = client.get(f"/api/v1/centers?license_number={persian}", headers=token).json["centers"]
    assert [c["id"] for c in found] == [center.id]
    rows = csv_rows(client.get("/centers/export.csv"))
    assert len(rows) == 1 and rows[0]["کد ملی مدیر"] == "2389001122" and rows[0]["شماره مجوز"]
    assert (rows[0]["کد شهرستان"], rows[0]["شهرستان"], rows[0]["کد وضعیت مجوز"], rows[0]["وضعیت مجوز"]) == (
        "markazi-arak", "اراک", "active", "فعال")
    assert re.fullmatch("[۰-۹]{4}/[۰-۹]{2}/[۰-۹]{2} [۰-۹]{2}:[۰-۹]{2}", rows[0]["زمان صدور مجوز"])
    assert re.fullmatch("[۰-۹]{4}/[۰-۹]{2}/[۰-۹]{2}", rows[0]["آغاز دوره مدیر"])
    assert (rows[0]["سرپرست"], rows[0]["مطابق رکوردهای امضاشده"]) == ("خیر", "بله")
    exported = json.loads(client.get("/centers/export.json").get_data(as_text=True))
    assert exported["centers"][0]["county"] == "markazi-arak" and "license_number" in exported["fields"]
    on = client.get(f"/centers/{center.id}?on=۱۳۹۰/۰۱/۰۱").get_data(as_text=True)
    assert "در این تاریخ مدیری ثبت نشده است" in on
    client.post("/logout")
    login(client, "saveh_officer")
    assert center.name not in client.get("/centers").get_data(as_text=True)
    assert client.get(f"/centers/{center.id}").status_code == 404
    assert json.loads(client.get("/centers/export.json").get_data(as_text=True))["centers"] == []
    assert client.get("/centers/export.xml").status_code == 404


# --- what an administrator may deploy, and a process that fails at run time ---------------------

def changed_bpmn(app, tmp_path, filename: str, old: str, new: str):
    """A copy of the BPMN folder with one exact edit in one file."""
    folder = tmp_path / "bpmn"
    shutil.copytree(app.config["BPMN_DIR"], folder, ignore=shutil.ignore_patterns("scenarios"))
    path = folder / filename
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), "utf-8")
    return folder


SUBMIT_TASK_END = '<bpmn:outgoing>Flow_submitted</bpmn:outgoing>\n    </bpmn:userTask>'


def looped_submit(cardinality: str) -> str:
    return SUBMIT_TASK_END.replace("</bpmn:userTask>", "<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>"
                                   f"{cardinality}</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>"
                                   "</bpmn:userTask>")


@pytest.mark.parametrize(("filename", "old", "new", "message"), [
    ("center_founding.bpmn", SUBMIT_TASK_END, looped_submit("100000000"),
     "center_founding.bpmn: submit_application: loopCardinality '100000000' is not a whole number from 0 to 100"),
    ("deadlines.json", '"county_review": {"working_days": 5}, "inquiries"', '"county_review": "P999999999Y", "inquiries"',
     "deadlines.json: center_founding.county_review: 'P999999999Y' is longer than the longest duration allowed, "
     "1827 days"),
    ("deadlines.json", '"successor": "P30D"', '"successor": "PT0S"',
     "deadlines.json: manager_retirement.successor: 'PT0S' is no time at all"),
    ("deadlines.json", '"inquiries": {"working_days": 10}}', '"inquiries": "ten days"}',
     "deadlines.json: center_founding.inquiries: 'ten days' is not an ISO 8601 duration"),
    ("deadlines.json", '"inquiries": {"working_days": 10}}', '"inquiries": {"working_days": 10.5}}',
     "deadlines.json: center_founding.inquiries: {'working_days': 10.5} is neither an ISO 8601 duration nor "
     "{\"working_days\": N} with a whole number N"),
    ("working_time.json", '"days_off": ["friday"]', '"days_off": ["friday", "jomeh"]',
     "working_time.json: days_off: days off must be a list of weekday names"),
    ("terms.json", '"manager_term_years": 4', '"manager_term_years": 400',
     "terms.json: manager_term_years: 'P400Y' is longer than the longest duration allowed"),
    ("manager_eligibility.dmn", "&gt; 41", "&gt; 39",
     "manager_eligibility.dmn: manager_eligibility: rule Rule_manager_age_max: its message does not state 39"),
], ids=["huge-cardinality", "billion-year-deadline", "zero-deadline", "malformed-deadline",
        "fractional-working-days", "unknown-weekday", "400-year-term",
        "rule-changed-without-its-words"])
def test_deploy_refuses_sources_beyond_bounds_and_stores_nothing(app, runner, tmp_path, filename, old, new, message):
    app.config["BPMN_DIR"] = changed_bpmn(app, tmp_path, filename, old, new)
    versions = db.session.query(ProcessDefinition).count()
    started = time.monotonic()
    result = runner.invoke(args=["deploy"])
    assert time.monotonic() - started < 10
    assert result.exit_code == 1 and "nothing deployed: " in result.output and message in result.output, result.output
    assert db.session.query(ProcessDefinition).count() == versions


def case_row(case_id: int) -> tuple:
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    return (case.state, case.status, case.lock_version, [t.task_id for t in case.tasks],
            db.session.query(Record).filter_by(case_id=case_id).count())


def test_a_condition_failing_at_run_time_answers_a_clear_error_and_leaves_the_case(app, client, tmp_path):
    broken = changed_bpmn(app, tmp_path, "center_founding.bpmn", 'county_review["decision"] == "approve"',
                          'county_review["decision"] == "approve" and 1 / 0 == 0')
    deploy(db.session, broken, "center_founding")
    db.session.commit()
    case = in_county_review(app)
    before = case_row(case.id)
    officer = {"Authorization": "Bearer " + client.post("/api/v1/auth/token", json={
        "username": "arak_officer", "password": "demo1234"}).json["token"]}
    url = f"/api/v1/cases/{case.id}/tasks/{before[3][0]}/complete"
    response = client.post(url, headers=officer, json={"data": {"decision": "approve"}, "pin": PIN})
    assert response.status_code == 409
    assert response.json["error"] == "processfailed" and response.json["message"] == t("web.error.process_failed")
    assert response.json["errors"] == {"process": [t("errors.process_failed")]}
    assert case_row(case.id) == before

    # the page keeps the officer's input as a draft and says why in Persian
    login(client, "arak_officer")
    response = post_task(client, case.id, {"decision": "approve", "note": "بررسی شد"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/tasks/{before[3][0]}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert t("web.error.process_failed") in page and "بررسی شد" in page
    assert case_row(case.id) == before

    # the case is still actionable along a path the broken condition does not block
    response = client.post(url, headers=officer, json={"data": {"decision": "return", "reason": "مدارک ناقص است."},
                                                       "pin": PIN})
    assert response.status_code == 200 and response.json["case"]["status"] == "correction"


def test_a_cardinality_failing_at_start_answers_a_clear_error_and_makes_no_case(app, client, tmp_path):
    for cardinality in ("copies", "1000 * 1000"):
        broken = changed_bpmn(app, tmp_path / cardinality.replace(" ", ""), "center_founding.bpmn", SUBMIT_TASK_END,
                              looped_submit(cardinality))
        deploy(db.session, broken, "center_founding")
        db.session.commit()
        applicant = {"Authorization": "Bearer " + client.post("/api/v1/auth/token", json={
            "username": "applicant1", "password": "demo1234"}).json["token"]}
        cases = db.session.query(Case).count()
        started = time.monotonic()
        response = client.post("/api/v1/cases", json={"process_key": "center_founding"}, headers=applicant)
        assert time.monotonic() - started < 10
        assert response.status_code == 409 and response.json["errors"] == {"process": [t("errors.process_failed")]}
        assert db.session.query(Case).count() == cases


def test_a_timer_failing_in_the_tick_leaves_its_case_and_the_tick_goes_on(app, runner, tmp_path, caplog):
    # a version whose late inquiries lead straight to the county's review, whose deadline names a missing entry:
    # the timer that fails starts when the inquiries' deadline fires in the tick
    broken = changed_bpmn(app, tmp_path, "center_founding.bpmn", 'deadlines["county_review"]',
                          'deadlines["county_review_days"]')
    diagram = broken / "center_founding.bpmn"
    diagram.write_text(diagram.read_text("utf-8").replace(
        'sourceRef="inquiries_overdue" targetRef="schedule_visit"', 'sourceRef="inquiries_overdue" targetRef="county_review"'),
        "utf-8")
    deploy(db.session, broken, "center_founding")
    db.session.commit()
    stuck = submitted_founding(app)
    deploy(db.session, app.config["BPMN_DIR"], "center_founding")
    db.session.commit()
    moving = submitted_founding(app, "applicant2")
    before = case_row(stuck.id)
    later = max(stuck.wake_at, moving.wake_at).strftime("%Y-%m-%dT%H:%M:%SZ")  # both inquiries' ten working days
    result = runner.invoke(args=["tick", "--now", later])
    assert result.exit_code == 0 and "1 case(s)" in result.output and f"#{moving.id} inquiries_overdue" in result.output
    assert case_row(stuck.id) == before
    assert f"case {stuck.id}: a timer failed in the process definition" in caplog.text
    assert "county_review_days" in caplog.text


def test_a_rule_changed_with_its_words_shows_in_the_form_with_no_code_change(app, client, runner, tmp_path):
    app.config["BPMN_DIR"] = changed_bpmn(app, tmp_path, "manager_eligibility.dmn", "&gt; 41", "&gt; 39")
    dmn = app.config["BPMN_DIR"] / "manager_eligibility.dmn"
    dmn.write_text(dmn.read_text().replace("نباید بیش از ۴۱ سال", "نباید بیش از ۳۹ سال"))
    result = runner.invoke(args=["deploy"])
    assert result.exit_code == 0, result.output
    login(client, "applicant1")
    response = client.post("/cases/new", data={"process_key": "center_founding"})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    rules = page.split('id="eligibility-rules"')[1].split("</div>")[0]
    assert "سن مدیر کانون نباید بیش از ۳۹ سال باشد." in rules and "۴۱" not in rules
