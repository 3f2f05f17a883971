"""A manager's term over time: reminders before its planned end (the days are data), a renewal with the
same manager rules and inquiries that runs a new full term from the planned end, and a term that ran
out with no renewal and no successor, told to the county office and escalated to the province."""
from __future__ import annotations

import json
from datetime import datetime, time, timedelta, timezone

from sqlalchemy import select

from support import ACTORS, PIN, ROOT, found_center, login, user
from test_web_procedures import post_task, start_from_center
from office_support import answer, decide
from web.certificate import certificate_context
from web.extensions import db
from workflows import facts, registry, terms
from workflows.cases import complete_task
from workflows.models import Case, ManagerTerm, Record, User
from workflows.notifications import Notification, OutboxMessage, render

TERMS = json.loads((ROOT / "bpmn" / "terms.json").read_text("utf-8"))
FIXTURE = json.loads((ROOT / "bpmn" / "scenarios" / "term_renewal" / "fixtures.json").read_text("utf-8"))["renewal"]


def _renewal_form(app, case: Case) -> dict:
    from office_support import doc_bytes
    from workflows import documents
    holder = user(ACTORS["applicant"])
    return {**FIXTURE, "documents": {
        field: documents.store_document(db.session, app.config["STORAGE_DIR"], case=case, user=holder, field=field,
                                        filename=f"{field}.png", content=doc_bytes(i)).sha256
        for i, field in enumerate(("manager_id_copy", "manager_photo", "manager_degree"))}}


def test_the_county_starts_a_renewal_the_manager_signs_it_and_the_term_runs_a_new_full_term(app, client):
    center = found_center(app, ACTORS["applicant"])
    term = registry.current_manager(db.session, center.id)
    first_end = term.planned_end
    login(client, "arak_officer")
    assert 'id="start-term_renewal"' in client.get(f"/centers/{center.id}").get_data(as_text=True)
    case_id = start_from_center(client, center.id, "term_renewal")
    case = db.session.get(Case, case_id)
    # the task waits on the center's holder, who is told
    assert case.tasks[0].name == "submit_renewal" and case.tasks[0].assignee_id == user(ACTORS["applicant"]).id
    assert db.session.scalar(select(Notification.kind).where(Notification.case_id == case_id,
                                                             Notification.user_id == case.applicant_id)) == "task"
    now = datetime.now(timezone.utc)
    holder = user(ACTORS["applicant"])
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=holder, data=_renewal_form(app, case),
                  pin=PIN, now=now)
    db.session.commit()
    assert case.status == "inquiries"  # the same inquiries as a manager change
    answer(case, now + timedelta(minutes=1))
    decide(case, "arak_officer", "approve", now + timedelta(minutes=2))
    decide(case, "markazi_officer", "approve", now + timedelta(minutes=3))
    assert case.status == "renewed"
    db.session.expire_all()
    term = db.session.get(ManagerTerm, term.id)
    assert term.end_date is None and term.planned_end == registry.planned_end(first_end, TERMS)
    # the renewal is signed, proved, and shown with the new planned end
    proved, problems = facts.prove_center(db.session, center.id)
    assert problems == [] and proved.current_term["planned_end"] == term.planned_end.isoformat()
    assert proved.current_term["renewed_by"] == [case.public_id]
    page = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert "تمدیدشده" in page and 'id="term-expired"' not in page
    with app.test_request_context():
        context = certificate_context(db.session.get(Case, case_id))
    assert context["title"] == "حکم تمدید دوره مدیریت کانون فرهنگی هنری مسجد"
    assert context["renewed_until"] == term.planned_end and context["renewed_from"] == first_end


def test_a_renewal_for_someone_else_breaks_the_renewal_rule(app):
    center = found_center(app, ACTORS["applicant"])
    from workflows.cases import start_case
    holder = user(ACTORS["applicant"])
    case = start_case(db.session, process_key="term_renewal", starter=holder, center=center)
    data = _renewal_form(app, case)
    data["manager"] = {**data["manager"], "national_id": "0013542419"}
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=holder, data=data, pin=PIN)
    db.session.commit()
    assert case.status == "correction"
    body = json.loads(db.session.scalars(select(Record.canonical).where(Record.case_id == case.id)
                                         .order_by(Record.seq.desc())).first())
    assert [v["rule"] for v in body["rule_results"]["violations"]] == ["renewal_other_person"]
    assert body["rule_results"]["facts"]["renews_current_manager"] is False


def _tick(runner, day) -> None:
    moment = datetime.combine(day, time(6, 0), tzinfo=timezone.utc)
    result = runner.invoke(args=["tick", "--now", moment.isoformat()])
    assert result.exit_code == 0, result.output


def _told(kind: str) -> dict[str, int]:
    db.session.expire_all()
    rows = db.session.execute(select(Notification.user_id, Notification.key).where(Notification.kind == kind)).all()
    names = dict(db.session.execute(select(User.id, User.username)).all())
    found: dict[str, int] = {}
    for user_id, _key in rows:
        found[names[user_id]] = found.get(names[user_id], 0) + 1
    return found


def test_the_tick_reminds_before_the_planned_end_once_per_threshold_and_escalates_a_term_that_ran_out(app, runner, client):
    center = found_center(app, ACTORS["applicant"])
    end = registry.current_manager(db.session, center.id).planned_end
    first, second = sorted(TERMS["reminder_days"], reverse=True)
    _tick(runner, end - timedelta(days=first + 1))
    assert _told("term_reminder") == {}
    _tick(runner, end - timedelta(days=first - 1))
    _tick(runner, end - timedelta(days=first - 2))  # the same threshold: no one is told twice
    reminded = _told("term_reminder")
    assert reminded == {ACTORS["applicant"]: 1, "arak_officer": 1, "arak_head": 1}
    _tick(runner, end - timedelta(days=second))
    assert _told("term_reminder") == {name: 2 for name in reminded}
    _tick(runner, end)  # the planned end itself is the term's last day
    assert _told("term_expired") == {}
    _tick(runner, end + timedelta(days=1))
    expired = _told("term_expired")
    assert set(expired) == {ACTORS["applicant"], "arak_officer", "arak_head", "markazi_officer", "markazi_head"}
    notice = db.session.scalars(select(Notification).where(Notification.kind == "term_expired")).first()
    assert notice.center_id == center.id and "نه تمدید شد" in render(notice)
    _tick(runner, end + timedelta(days=2))
    assert _told("term_expired") == expired  # told once
    # the holder opens it from the notifications page and lands on the center's page; it went by SMS too
    holder = user(ACTORS["applicant"])
    mine = db.session.scalars(select(Notification).where(Notification.kind == "term_expired",
                                                         Notification.user_id == holder.id)).one()
    if holder.mobile:
        sms = db.session.scalars(select(OutboxMessage).where(OutboxMessage.notification_id == mine.id,
                                                             OutboxMessage.channel == "sms")).one()
        assert "نه تمدید شد" in sms.body
    login(client, ACTORS["applicant"])
    response = client.post(f"/notifications/{mine.id}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/centers/{center.id}")


def test_a_term_past_its_planned_end_shows_as_expired():
    proved = facts.ProvedCenter(terms=[{"id": 1, "full_name": "x", "national_id": "0013542419",
                                        "start_date": "2022-01-01", "planned_end": "2026-01-01", "interim": False,
                                        "end_date": None, "end_reason": None, "ended_by": None, "renewed_by": []}])
    today = datetime(2026, 1, 2).date()
    assert terms.expired(proved.terms[0]["planned_end"], today)
    assert not terms.expired(proved.terms[0]["planned_end"], today - timedelta(days=1))


def test_a_planned_end_edited_in_the_database_is_not_told_as_a_fact(app, runner):
    from sqlalchemy import text
    from workflows.models import tehran_today, utcnow
    center = found_center(app, ACTORS["applicant"])
    soon = tehran_today(utcnow()) + timedelta(days=10)
    db.session.execute(text("UPDATE manager_terms SET planned_end = :day WHERE center_id = :id"),
                       {"day": soon, "id": center.id})
    db.session.commit()
    _tick(runner, tehran_today(utcnow()))
    assert _told("term_reminder") == {}  # the records say four years: nobody is reminded of a forged end


def test_an_interims_term_is_not_renewed_but_replaced(app, client):
    center = found_center(app, ACTORS["applicant"])
    officer = user("arak_officer")
    from workflows.cases import start_case
    from workflows.models import tehran_today, utcnow
    retirement = start_case(db.session, process_key="manager_retirement", starter=officer, center=center)
    complete_task(db.session, case=retirement, task_id=retirement.tasks[0].task_id, actor=officer, pin=PIN,
                  data={"effective_date": tehran_today(utcnow()).isoformat(), "reason": "رسیدن به سن بازنشستگی."})
    complete_task(db.session, case=retirement, task_id=retirement.tasks[0].task_id, actor=officer, pin=PIN,
                  data={"continuity": "interim", "interim": {"full_name": "رضا قاسمی", "national_id": "0067749828",
                                                             "mobile": "09350001122"}})
    db.session.commit()
    login(client, ACTORS["applicant"])
    page = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert 'id="start-term_renewal"' not in page and 'id="start-manager_change"' in page
    assert client.post(f"/centers/{center.id}/cases", data={"process_key": "term_renewal"}).status_code == 409
