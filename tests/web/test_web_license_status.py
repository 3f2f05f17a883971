"""A license's life after it is issued: a province suspends it for a period and lifts it, revokes it,
or closes a center at its own request; each a signed procedure with the county's report and the
province's decision, and every page, export and certificate shows the status the records prove."""
from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import select, text

from support import ACTORS, PIN, csv_rows, found_center, login, png_bytes, user
from test_web_procedures import post_task, start_from_center
from web.certificate import certificate_context
from web.extensions import db
from workflows import facts, registry
from workflows.cases import complete_task, start_case
from workflows.errors import Conflict
from workflows.models import Case, License, ManagerTerm, User, tehran_today, utcnow
from workflows.notifications import Notification

REPORT = {"findings": "کانون سه ماه است هیچ برنامه‌ای برگزار نکرده و به نامه‌های اداره پاسخ نداده است."}


def _as(client, username: str) -> None:
    client.post("/logout")
    login(client, username)


def _license(center_id: int) -> License:
    db.session.expire_all()
    return db.session.scalars(select(License).where(License.center_id == center_id)).one()


def test_a_province_suspends_a_license_until_a_day_and_lifts_it_and_every_page_shows_what_the_records_prove(app, client):
    center = found_center(app, ACTORS["applicant"])
    number = _license(center.id).number
    login(client, "markazi_officer")
    page = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert 'id="start-license_suspension"' in page and 'id="start-suspension_lift"' not in page
    case_id = start_from_center(client, center.id, "license_suspension")
    # the county office writes its report, whoever started the procedure, and is told so
    assert db.session.get(Case, case_id).tasks[0].name == "county_report"
    told = set(db.session.scalars(select(User.username).join(Notification, Notification.user_id == User.id)
                                  .where(Notification.case_id == case_id, Notification.kind == "task")))
    assert told == {"arak_officer", "arak_head"}
    _as(client, "arak_officer")
    assert post_task(client, case_id, {"findings": "کوتاه"}).status_code == 422
    assert post_task(client, case_id, {**REPORT, "file.report_file": (io.BytesIO(png_bytes("gray")), "visit.png")}
                     ).status_code == 302
    _as(client, "markazi_officer")
    # the province's desk: the county's report (its photo previewed) and the center's license and manager now
    task_id = db.session.get(Case, case_id).tasks[0].task_id
    desk = client.get(f"/cases/{case_id}/tasks/{task_id}").get_data(as_text=True)
    report = desk.split('id="desk-form-county_report"')[1].split("</section>")[0]
    assert REPORT["findings"] in report and 'class="preview"' in report
    assert 'id="desk-license"><span class="status license-active">فعال' in desk and "فاطمه محمدی‌نیا" in desk
    response = post_task(client, case_id, {"decision": "approve", "reason": "نبود فعالیت در سه ماه گذشته"})
    assert response.status_code == 422 and 'id="err-suspended_until"' in response.get_data(as_text=True)
    last_day = tehran_today(utcnow()) + timedelta(days=30)
    assert post_task(client, case_id, {"decision": "approve", "suspended_until": last_day.isoformat(),
                                       "reason": "نبود فعالیت در سه ماه گذشته"}).status_code == 302
    row = _license(center.id)
    assert (row.status, row.suspended_until, row.status_since) == ("suspended", last_day, tehran_today(utcnow()))

    # the center's page, the registry, the public check and the export say suspended, until when and why
    page = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert 'id="license-status" class="status license-suspended">تعلیق‌شده' in page and "نبود فعالیت" in page
    assert 'id="start-suspension_lift"' in page and 'id="start-license_suspension"' not in page
    assert 'class="status license-suspended"' in client.get("/centers").get_data(as_text=True)
    public = client.get(f"/verify/license/{number}").get_data(as_text=True)
    assert 'id="public-license-status" class="status license-suspended">تعلیق‌شده' in public
    checked = client.get(f"/api/v1/verify/license/{number}").get_json()
    assert checked["facts_ok"] and checked["center"]["license_status"] == "suspended"
    assert checked["center"]["suspended_until"] == last_day.isoformat()
    detail = client.get(f"/api/v1/centers/{center.id}").get_json()
    assert detail["license"]["status"] == "suspended" and detail["license"]["status_reason"] == "نبود فعالیت در سه ماه گذشته"
    row_csv = next(r for r in csv_rows(client.get("/centers/export.csv")) if r["شماره مجوز"] == number)
    assert row_csv["کد وضعیت مجوز"] == "suspended" and row_csv["وضعیت مجوز"] == "تعلیق‌شده"
    exported = next(c for c in client.get("/centers/export.json").get_json()["centers"] if c["license_number"] == number)
    assert exported["license_status"] == "suspended" and exported["license_suspended_until"] == last_day.isoformat()
    with app.test_request_context():
        context = certificate_context(db.session.get(Case, case_id))
    assert context["title"] == "حکم تعلیق مجوز کانون"
    assert context["license_change"]["status"] == "suspended" and context["license_change"]["until"] == last_day

    # while it holds, the holder cannot start a manager change: not offered, and refused if asked
    _as(client, ACTORS["applicant"])
    page = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert 'id="start-manager_change"' not in page and 'id="start-manager_retirement"' in page
    assert client.post(f"/centers/{center.id}/cases", data={"process_key": "manager_change"}).status_code == 409

    # a status edited in the database is not what the records prove: shown as unproved, never as a fact
    db.session.execute(text("UPDATE licenses SET status = 'active', suspended_until = NULL WHERE id = :id"),
                       {"id": row.id})
    db.session.commit()
    page = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert 'id="facts-warning"' in page
    db.session.execute(text("UPDATE licenses SET status = 'suspended', suspended_until = :day WHERE id = :id"),
                       {"id": row.id, "day": last_day})
    db.session.commit()

    # the province lifts it before its last day: in force again, and a manager change may start
    _as(client, "markazi_officer")
    lift_id = start_from_center(client, center.id, "suspension_lift")
    _as(client, "arak_officer")
    assert post_task(client, lift_id, {"findings": "کانون برنامه‌های هفتگی خود را از سر گرفته و گزارش داده است."}).status_code == 302
    _as(client, "markazi_officer")
    assert post_task(client, lift_id, {"decision": "approve", "reason": "فعالیت کانون از سر گرفته شد."}).status_code == 302
    row = _license(center.id)
    assert (row.status, row.suspended_until) == ("active", None)
    proved, problems = facts.prove_center(db.session, center.id)
    assert problems == [] and proved.license["status"] == "active" and proved.license["status_case"]
    _as(client, ACTORS["applicant"])
    assert 'id="start-manager_change"' in client.get(f"/centers/{center.id}").get_data(as_text=True)

    # monitoring counts the new procedures and their steps like the others
    _as(client, "markazi_head")
    page = client.get("/monitoring").get_data(as_text=True)
    assert "تعلیق مجوز کانون" in page and "رفع تعلیق مجوز کانون" in page and "تعلیق مجوز" in page
    steps = csv_rows(client.get("/monitoring/steps.csv"))
    assert {r["کد مرحله"] for r in steps if r["کد فرایند"] == "license_suspension"} >= {"county_report", "province_decide"}


def test_a_suspension_ends_by_itself_after_its_last_day(app):
    center = found_center(app, ACTORS["applicant"])
    county, province = user("arak_officer"), user("markazi_officer")
    now = utcnow()
    last_day = tehran_today(now) + timedelta(days=2)
    case = start_case(db.session, process_key="license_suspension", starter=county, center=center, now=now)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=county, data=REPORT, pin=PIN, now=now)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=province, pin=PIN, now=now,
                  data={"decision": "approve", "suspended_until": last_day.isoformat(), "reason": "نبود فعالیت"})
    db.session.commit()
    proved, problems = facts.prove_center(db.session, center.id)
    assert problems == []
    assert facts.license_status(proved.license, last_day) == "suspended"
    assert facts.license_status(proved.license, last_day + timedelta(days=1)) == "active"
    assert registry.license_status(db.session, center.id, last_day + timedelta(days=1)) == "active"
    holder = user(ACTORS["applicant"])
    savepoint = db.session.begin_nested()
    try:
        start_case(db.session, process_key="manager_change", starter=holder, center=center, now=now)
        raise AssertionError("a manager change started while the license was suspended")
    except Conflict:
        savepoint.rollback()
    later = now + timedelta(days=3)
    started = start_case(db.session, process_key="manager_change", starter=holder, center=center, now=later)
    assert started.status == "draft"


def test_a_center_closes_at_its_own_request_and_its_manager_is_free_to_manage_another(app, client):
    center = found_center(app, ACTORS["applicant"])
    manager = registry.current_manager(db.session, center.id).national_id
    login(client, ACTORS["applicant"])
    case_id = start_from_center(client, center.id, "center_closure")
    response = post_task(client, case_id, {"reason": "هیئت امنا فضای کانون را برای شبستان نیاز دارد."})
    assert response.status_code == 422 and 'id="err-confirm"' in response.get_data(as_text=True)
    assert post_task(client, case_id, {"reason": "هیئت امنا فضای کانون را برای شبستان نیاز دارد.",
                                       "confirm": "true"}).status_code == 302
    _as(client, "arak_officer")
    assert post_task(client, case_id, REPORT).status_code == 302
    _as(client, "markazi_officer")
    assert post_task(client, case_id, {"decision": "approve", "reason": "درخواست هیئت امنا پذیرفته شد."}).status_code == 302
    db.session.expire_all()
    assert _license(center.id).status == "closed"
    term = db.session.scalars(select(ManagerTerm).where(ManagerTerm.center_id == center.id)).one()
    assert term.end_reason == "closed" and term.end_date == tehran_today(utcnow())
    assert registry.manages_other_center(db.session, manager) == 0
    page = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert 'class="status license-closed">تعطیل‌شده' in page and 'id="procedures"' not in page
    with app.test_request_context():
        context = certificate_context(db.session.get(Case, case_id))
    assert context["title"] == "گواهی تعطیلی کانون" and context["ended_term"]["end_reason"] == "closed"
    _as(client, ACTORS["applicant"])
    assert client.post(f"/centers/{center.id}/cases", data={"process_key": "manager_retirement"}).status_code == 409


def test_a_manager_change_running_when_the_license_is_revoked_cannot_appoint_and_is_rejected(app, client):
    from office_support import answer, decide
    from test_web_procedures import new_manager_form
    center = found_center(app, ACTORS["applicant"])
    login(client, ACTORS["applicant"])
    change_id = start_from_center(client, center.id, "manager_change")
    assert post_task(client, change_id, new_manager_form()).status_code == 302
    change = db.session.get(Case, change_id)
    answer(change, utcnow())
    decide(change, "arak_officer", "approve", utcnow())
    assert change.status == "province_review"
    county, province = user("arak_officer"), user("markazi_officer")
    revocation = start_case(db.session, process_key="license_revocation", starter=county, center=center)
    complete_task(db.session, case=revocation, task_id=revocation.tasks[0].task_id, actor=county, data=REPORT, pin=PIN)
    complete_task(db.session, case=revocation, task_id=revocation.tasks[0].task_id, actor=province, pin=PIN,
                  data={"decision": "approve", "reason": "تخلف آشکار از آیین‌نامه"})
    db.session.commit()
    _as(client, "markazi_officer")
    refused = post_task(client, change_id, {"decision": "approve"})
    assert refused.status_code == 409 and "مجوز این کانون در این میان لغو یا تعطیل شده است" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Case, change_id).status == "province_review"  # nothing signed
    assert registry.current_manager(db.session, center.id) is None  # the revocation ended the term; no one appointed
    assert post_task(client, change_id, {"decision": "reject", "reason": "مجوز کانون لغو شده است."}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, change_id).status == "rejected"


def test_a_suspension_through_the_api_with_field_keyed_errors_and_the_same_refusals_as_the_pages(app, client):
    from test_web_api import token_for
    center = found_center(app, ACTORS["applicant"])
    province, county = token_for(client, "markazi_officer"), token_for(client, "arak_officer")
    holder = token_for(client, ACTORS["applicant"])
    started = client.post("/api/v1/cases", json={"process_key": "license_suspension", "center_id": center.id},
                          headers=province)
    assert started.status_code == 201, started.json
    case = started.json

    def complete(headers, data):
        current = client.get(f"/api/v1/cases/{case['id']}", headers=headers).json
        return client.post(f"/api/v1/cases/{case['id']}/tasks/{current['tasks'][0]['id']}/complete",
                           json={"data": data, "pin": PIN}, headers=headers)

    assert complete(county, REPORT).status_code == 200
    refused = complete(province, {"decision": "approve", "reason": "نبود فعالیت",
                                  "suspended_until": "۱۳۹۰/۰۱/۰۱"})  # Persian digits accepted; a past day refused
    assert refused.status_code == 422 and set(refused.json["errors"]) == {"suspended_until"}
    last_day = tehran_today(utcnow()) + timedelta(days=20)
    done = complete(province, {"decision": "approve", "reason": "نبود فعالیت", "suspended_until": last_day.isoformat()})
    assert done.status_code == 200 and done.json["case"]["status"] == "suspended"
    assert [r["action"] for r in done.json["records"]] == ["approve", "suspend_license"]
    detail = client.get(f"/api/v1/centers/{center.id}", headers=holder).json
    assert detail["proved"] and detail["license"]["status"] == "suspended"
    assert detail["license"]["suspended_until"] == last_day.isoformat()
    # the holder's manager change is refused by the API as by the pages
    change = client.post("/api/v1/cases", json={"process_key": "manager_change", "center_id": center.id}, headers=holder)
    assert change.status_code == 409
    # a county office from elsewhere cannot start anything for it
    other = token_for(client, "kashan_officer")
    assert client.post("/api/v1/cases", json={"process_key": "suspension_lift", "center_id": center.id},
                       headers=other).status_code == 404
