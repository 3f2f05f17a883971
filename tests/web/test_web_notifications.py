"""Notifications: who is told of what, the outbox and its sender, the page and the count in the navigation."""
from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from office_support import RecordingSender, answer, base_time, decide, founding, national_id, tokens_for
from support import login, pass_visit, record_visit, schedule_visit, tick, user
from forms import to_persian_digits
from web.extensions import db
from workflows import notifications, outbox
from workflows.cases import case_records, complete_task
from workflows.models import Case, License, User
from workflows.notifications import Notification, OutboxMessage


def told(kind: str, case: Case) -> dict[str, list[str]]:
    """username → texts of the notifications of this kind about this case."""
    rows = db.session.scalars(select(Notification).where(Notification.kind == kind, Notification.case_id == case.id)
                              .order_by(Notification.id)).all()
    result: dict[str, list[str]] = {}
    for row in rows:
        result.setdefault(db.session.get(User, row.user_id).username, []).append(notifications.render(row))
    return result


def test_each_step_tells_the_people_concerned(app):
    now = base_time()
    case = founding(app, "applicant1", county="markazi-arak", mosque="مسجد خبر", manager_id=national_id(401), now=now)
    assert told("task", case) == {}  # waiting on the agencies: no person to tell yet
    answer(case, now + timedelta(hours=1), visit=False)
    assert set(told("task", case)) == {"arak_officer", "arak_head"}  # the visit's scheduling, for the office
    assert "منتظر اقدام شماست" in told("task", case)["arak_officer"][0]
    schedule_visit(case, now + timedelta(hours=1), "arak_head", "arak_officer")
    visit = told("visit", case)  # the founder learns the day and the expert, to open the space with the imam
    assert list(visit) == ["applicant1"] and "محمد حسینی" in visit["applicant1"][0]
    assert "امام جماعت" in visit["applicant1"][0] and "، ساعت ۱۰ صبح" in visit["applicant1"][0]
    sms = db.session.scalars(select(OutboxMessage.body).where(OutboxMessage.channel == "sms",
                                                              OutboxMessage.body == visit["applicant1"][0])).all()
    assert len(sms) == 1
    # the visit itself waits on its expert alone
    assert len(told("task", case)["arak_officer"]) == 2 and len(told("task", case)["arak_head"]) == 1
    record_visit(case, now + timedelta(hours=1), "arak_officer")
    assert len(told("task", case)["arak_head"]) == 2  # the review, for the office (its expert signed the visit)

    decide(case, "arak_officer", "return", now + timedelta(hours=2), reason="کد پستی مسجد نادرست است.")
    returned = told("returned", case)
    assert list(returned) == ["applicant1"] and "کد پستی مسجد نادرست است." in returned["applicant1"][0]
    assert "applicant1" in told("task", case)  # the correction waits on them

    data = json.loads(case_records(db.session, case)[0].form_data)  # resubmit the corrected application
    data["mosque"]["postal_code"] = "3813645780"
    db.session.refresh(case)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user("applicant1"), data=data,
                  pin="1405", now=now + timedelta(hours=3))
    db.session.commit()
    before = len(told("task", case)["arak_head"])
    answer(case, now + timedelta(hours=4))
    # the visit's scheduling and the review came back to the office: new tasks
    assert len(told("task", case)["arak_head"]) == before + 2

    decide(case, "arak_head", "approve", now + timedelta(hours=5))
    assert set(told("task", case)) >= {"markazi_officer", "markazi_head"}
    assert "arak_head" not in told("decision", case)
    decide(case, "markazi_officer", "approve", now + timedelta(hours=6))
    assert len(told("decision", case)["applicant1"]) == 2
    outcome = told("outcome", case)["applicant1"][0]
    number = db.session.scalars(select(License.number).where(License.case_id == case.id)).one()
    assert "صدور مجوز" in outcome and to_persian_digits(number) in outcome

    # one SMS and one email per notification, each under its own key
    total = db.session.scalar(select(func.count()).select_from(Notification))
    messages = db.session.scalars(select(OutboxMessage)).all()
    assert len(messages) == 2 * total and {m.channel for m in messages} == {"sms", "email"}
    assert len({m.key for m in messages}) == len(messages)
    assert all(m.status == "pending" for m in messages)
    sms = next(m for m in messages if m.channel == "sms" and m.address == user("applicant1").mobile)
    assert sms.body and "پرونده" in sms.subject


def test_notifications_are_made_once(app):
    now = base_time()
    case = founding(app, "applicant1", county="markazi-arak", mosque="مسجد یکبار", manager_id=national_id(402), now=now)
    answer(case, now + timedelta(hours=1))
    before = (db.session.scalar(select(func.count()).select_from(Notification)),
              db.session.scalar(select(func.count()).select_from(OutboxMessage)))
    case.notified_seq = 0  # as if the records had not been seen: the unique keys still hold
    records = notifications.unnotified(db.session, case, [])
    assert records and case.notified_seq == records[-1].seq
    assert notifications.after_transition(db.session, case, {}, now + timedelta(hours=2), records) == []
    db.session.commit()
    after = (db.session.scalar(select(func.count()).select_from(Notification)),
             db.session.scalar(select(func.count()).select_from(OutboxMessage)))
    assert before == after


def test_a_passed_deadline_is_told(app):
    now = base_time()
    case = founding(app, "applicant1", county="markazi-arak", mosque="مسجد مهلت", manager_id=national_id(403), now=now)
    answer(case, now + timedelta(hours=1))
    due = db.session.get(Case, case.id).tasks[0].due_at  # five working days of Arak, whatever today is
    assert tick(app, due - timedelta(seconds=1)) == []
    tick(app, due)
    case = db.session.get(Case, case.id)
    assert case.tasks[0].name == "escalated_county_review"
    overdue = told("overdue", case)
    assert set(overdue) == {"arak_officer", "arak_head", "applicant1"}
    assert "مهلت" in overdue["applicant1"][0]
    assert {"markazi_officer", "markazi_head"} <= set(told("task", case))


def test_send_outbox_sends_each_message_once(app, runner):
    now = base_time()
    case = founding(app, "applicant1", county="markazi-arak", mosque="مسجد پیامک", manager_id=national_id(404), now=now)
    answer(case, now + timedelta(hours=1), visit=False)
    pending = outbox.pending_count(db.session)
    assert pending == 4  # the visit to schedule: two officers of Arak, SMS and email each
    first = runner.invoke(args=["send-outbox"])
    assert first.exit_code == 0, first.output
    assert f"{pending} sent, 0 failed, 0 pending." in first.output
    assert "[sms → 09120000006]" in first.output and "منتظر اقدام شماست" in first.output  # the console sender
    second = runner.invoke(args=["send-outbox"])
    assert "0 sent, 0 failed, 0 pending." in second.output
    db.session.expire_all()
    assert {m.status for m in db.session.scalars(select(OutboxMessage))} == {"sent"}

    pass_visit(case, now + timedelta(hours=1))
    assert "sent, 0 failed, 0 pending." in runner.invoke(args=["send-outbox"]).output
    decide(case, "arak_officer", "reject", now + timedelta(hours=2), reason="فضای آموزشی کافی نیست.")
    RecordingSender.sent.clear()
    third = runner.invoke(args=["send-outbox", "--sender", "office_support:RecordingSender"])
    assert third.exit_code == 0 and "2 sent" in third.output
    assert {m.channel for m in RecordingSender.sent} == {"sms", "email"}
    assert all("فضای آموزشی کافی نیست." in m.body for m in RecordingSender.sent)
    db.session.expire_all()
    assert {m.provider_id for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.provider_id.is_not(None)))} == {"id-1", "id-2"}


def test_a_failing_gateway_retries_then_gives_up_and_a_taken_message_is_not_taken_twice(app, runner):
    now = base_time()
    case = founding(app, "applicant1", county="markazi-arak", mosque="مسجد خرابی", manager_id=national_id(405), now=now)
    answer(case, now + timedelta(hours=1), visit=False)
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        result = runner.invoke(args=["send-outbox", "--sender", "office_support:FailingSender"])
        assert result.exit_code == 0 and "0 sent, 4 failed" in result.output
    db.session.expire_all()
    rows = db.session.scalars(select(OutboxMessage)).all()
    assert {(m.status, m.attempts) for m in rows} == {("failed", outbox.MAX_ATTEMPTS)}
    assert "gateway unreachable" in rows[0].last_error
    # two senders at once: what one took, the other does not see
    row = rows[0]
    row.status, row.attempts = "pending", 0
    db.session.commit()
    taken = outbox.take(db.session)
    db.session.commit()
    assert taken.id == row.id and taken.status == "sending"
    assert outbox.take(db.session) is None
    assert runner.invoke(args=["send-outbox", "--requeue-stuck", "--sender", "office_support:RecordingSender"]
                         ).exit_code == 0
    with pytest.raises(ValueError):
        outbox.load_sender("no-colon")
    with pytest.raises(TypeError):
        outbox.load_sender("builtins:object")
    stream = io.StringIO()
    outbox.ConsoleSender(stream).send(outbox.OutgoingMessage("sms", "09120000000", "موضوع", "متن", "k"))
    assert "09120000000" in stream.getvalue()


def test_notifications_page_count_and_api(app, client):
    now = base_time()
    case = founding(app, "applicant1", county="markazi-arak", mosque="مسجد صفحه", manager_id=national_id(406), now=now)
    answer(case, now + timedelta(hours=1))
    decide(case, "arak_officer", "return", now + timedelta(hours=2), reason="مدارک ناخواناست.")
    login(client, "applicant1")
    page = client.get("/cases").get_data(as_text=True)
    # the visit's day, the return with its reason, the correction waiting on them
    assert 'id="nav-notifications"' in page and '<span class="badge unread">۳</span>' in page
    listing = client.get("/notifications").get_data(as_text=True)
    assert "مدارک ناخواناست." in listing and "بازدید میدانی" in listing and listing.count('class="unread') == 3
    first = db.session.scalars(select(Notification).where(Notification.user_id == user("applicant1").id)).first()
    response = client.post(f"/notifications/{first.id}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/cases/{case.id}")
    assert '<span class="badge unread">۲</span>' in client.get("/notifications").get_data(as_text=True)
    others = db.session.scalars(select(Notification).where(Notification.user_id == user("arak_head").id)).first()
    assert client.post(f"/notifications/{others.id}").status_code == 404
    client.post("/notifications/read")
    assert client.get("/notifications?unread=1").get_data(as_text=True).count('class="unread') == 0
    api = client.get("/api/v1/notifications", headers=tokens_for("arak_head")["arak_head"]).json
    assert api["unread"] == 2 and api["notifications"][0]["case_id"] == case.id  # the visit to schedule, the review
    assert client.get("/notifications?page=abc").status_code == 422


def test_a_transition_writes_its_notifications_in_one_statement(app):
    """Whoever a transition tells, its notifications are one INSERT that skips those a person already has
    (none read first), and nobody is told twice."""
    from sqlalchemy import event

    now = base_time()
    case = founding(app, "applicant1", county="markazi-arak", mosque="مسجد شمارش", manager_id=national_id(402), now=now)
    answer(case, now + timedelta(hours=1))
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        decide(case, "arak_officer", "approve", now + timedelta(hours=2))  # tells the applicant and the province
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    lookups = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "FROM notifications" in s]
    writes = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO NOTIFICATIONS")]
    assert lookups == [] and len(writes) == 1, statements
    assert set(told("task", case)) >= {"markazi_officer", "markazi_head"} and len(told("decision", case)) == 1
    before = db.session.scalar(select(func.count()).select_from(Notification))
    db.session.refresh(case)
    case.notified_seq = 0  # the same transition's notifications made again: every one exists already
    assert notifications.after_transition(db.session, case, {}, now, notifications.unnotified(db.session, case, [])) == []
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Notification)) == before
