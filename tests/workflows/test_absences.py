"""Leave and substitutes: a colleague records leave, the office head names a substitute, and the substitute
finds the absent person's tasks and decides them "acting for" them, in the signed record."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import jdatetime
import pytest
from sqlalchemy import select

from support import PIN, answer_all, submitted_founding, user
from web.certificate import certificate_context, certificate_html
from web.extensions import db
from workflows import absences, access, inbox, working_time
from workflows.cases import complete_task
from workflows.errors import Forbidden, InvalidInput
from workflows.models import CaseTask, Office, Record

TEHRAN = timezone(timedelta(hours=3, minutes=30))


def jalali(days_from_today: int) -> str:
    day = (datetime.now(timezone.utc).astimezone(TEHRAN) + timedelta(days=days_from_today)).date()
    return jdatetime.date.fromgregorian(date=day).strftime("%Y/%m/%d")


def _arak_case(app):
    case = submitted_founding(app)
    answer_all(case, "clear", datetime.now(timezone.utc))
    return case


def test_the_province_officer_stands_in_for_the_arak_officer_and_signs_acting_for_them(app):
    now = datetime.now(timezone.utc)
    case = _arak_case(app)
    task = db.session.scalars(select(CaseTask).where(CaseTask.case_id == case.id)).one()
    officer, head, stand_in = user("arak_officer"), user("arak_head"), user("markazi_officer")
    inbox.claim(db.session, task, officer, now)  # the officer took it before going away
    db.session.commit()
    assert not access.may_act(stand_in, task)
    leave = absences.record_leave(db.session, officer, data={"first_day": jalali(0), "last_day": jalali(3)},
                                  pin=PIN, now=now)
    assert [l.seq for l in absences.leaves(db.session, day=leave.first_day)] == [leave.seq]
    named = absences.name_substitute(db.session, head, data={
        "absent": "arak_officer", "substitute": "markazi_officer", "first_day": jalali(0), "last_day": jalali(3),
        "process_keys": ["center_founding"]}, pin=PIN, now=now)
    db.session.commit()
    assert access.acting_for(stand_in, task) == (officer, named)

    found = inbox.search_tasks(db.session, stand_in, inbox.TaskFilters(queue="mine"), now)
    assert [t.id for t in found.items] == [task.id]  # the absent person's claim is in the substitute's inbox
    assert found.counts["mine"] == 1
    complete_task(db.session, case=case, task_id=task.task_id, actor=stand_in, data={"decision": "approve"}, pin=PIN,
                  now=now)
    db.session.commit()
    record = db.session.scalars(select(Record).where(Record.case_id == case.id, Record.action == "approve")).one()
    assert record.actor_user_id == stand_in.id
    assert json.loads(record.canonical)["details"]["acting_for"] == {
        "username": "arak_officer", "full_name": officer.full_name, "office": "markazi-arak",
        "substitution": named.seq}
    assert case.status == "province_review"
    with app.test_request_context():  # the certificate's list of steps says it too
        assert "به جانشینی از محمد حسینی (کارشناس اداره اراک)" in certificate_html(certificate_context(case))


def test_a_substitution_covers_its_procedures_and_days_only(app):
    now = datetime.now(timezone.utc)
    case = _arak_case(app)
    task = db.session.scalars(select(CaseTask).where(CaseTask.case_id == case.id)).one()
    absences.name_substitute(db.session, user("arak_head"), data={
        "absent": "arak_officer", "substitute": "markazi_officer", "first_day": jalali(0),
        "process_keys": ["manager_change"]}, pin=PIN, now=now)
    absences.name_substitute(db.session, user("arak_head"), data={
        "absent": "arak_officer", "substitute": "markazi_head",
        "first_day": jalali(5), "last_day": jalali(6)}, pin=PIN, now=now)
    db.session.commit()
    for person in ("markazi_officer", "markazi_head"):
        assert access.acting_for(user(person), task) is None
        office = inbox.search_tasks(db.session, user(person), inbox.TaskFilters(queue="office"), now).items
        assert task.id not in [t.id for t in office]
        with pytest.raises(Forbidden):
            complete_task(db.session, case=case, task_id=task.task_id, actor=user(person),
                          data={"decision": "approve"}, pin=PIN, now=now)
    in_five_days = (now.astimezone(TEHRAN) + timedelta(days=5)).date()
    assert access.acting_for(user("markazi_head"), task, in_five_days)[0] == user("arak_officer")


def test_who_names_a_substitute_and_what_a_bad_naming_is_told(app):
    now = datetime.now(timezone.utc)
    valid = {"absent": "arak_officer", "substitute": "arak_head", "first_day": jalali(0), "last_day": jalali(2)}
    with pytest.raises(Forbidden):  # a colleague is not the office head
        absences.name_substitute(db.session, user("saveh_officer"), data=valid, pin=PIN, now=now)
    with pytest.raises(Forbidden):  # another province's head
        absences.name_substitute(db.session, user("isfahan_officer"), data=valid, pin=PIN, now=now)
    with pytest.raises(InvalidInput) as other_county:
        absences.name_substitute(db.session, user("arak_head"), data={**valid, "substitute": "saveh_officer"},
                                 pin=PIN, now=now)
    assert list(other_county.value.errors) == ["substitute"]
    with pytest.raises(InvalidInput) as bad:
        absences.name_substitute(db.session, user("markazi_head"), data={
            "absent": "arak_officer", "substitute": "arak_officer", "first_day": "1405/13/40",
            "process_keys": ["no_such_procedure"]}, pin=PIN, now=now)
    assert set(bad.value.errors) == {"substitute", "first_day", "process_keys"}
    with pytest.raises(InvalidInput) as long:
        absences.name_substitute(db.session, user("markazi_head"), data={**valid, "last_day": jalali(200)},
                                 pin=PIN, now=now)
    assert list(long.value.errors) == ["last_day"]
    assert access.substitutions(db.session) == []  # nothing half-written
    named = absences.name_substitute(db.session, user("markazi_head"), data=valid, pin=PIN, now=now)
    assert (named.absent_id, named.substitute_id, named.process_keys) == (
        user("arak_officer").id, user("arak_head").id, ())
    sick = absences.record_leave(db.session, user("arak_head"), data={"person": "arak_officer", "first_day": jalali(1)},
                                 pin=PIN, now=now)
    assert sick.user_id == user("arak_officer").id  # the head records a colleague's leave
    with pytest.raises(Forbidden):  # a colleague does not
        absences.record_leave(db.session, user("saveh_officer"), data={"person": "arak_officer",
                                                                       "first_day": jalali(1)}, pin=PIN, now=now)
    with pytest.raises(Forbidden):  # an applicant keeps no leave in an office
        absences.record_leave(db.session, user("applicant1"), data={"first_day": jalali(0)}, pin=PIN, now=now)


def test_an_office_with_everyone_on_leave_on_a_working_day_is_listed(app):
    now = datetime.now(timezone.utc)
    arak = db.session.scalars(select(Office).where(Office.code == "markazi-arak")).one()
    calendar = working_time.calendar_for(db.session, arak)
    day = next(now.astimezone(TEHRAN).date() + timedelta(days=n) for n in range(10)
               if calendar.is_working(now.astimezone(TEHRAN).date() + timedelta(days=n)))
    day_text = jdatetime.date.fromgregorian(date=day).strftime("%Y/%m/%d")
    people = access.office_people(db.session, arak.id, "county")
    for person in people[:-1]:
        absences.record_leave(db.session, person, data={"first_day": day_text}, pin=PIN, now=now)
    assert arak not in absences.unstaffed_offices(db.session, day, [arak.id])
    absences.record_leave(db.session, people[-1], data={"first_day": day_text}, pin=PIN, now=now)
    assert absences.unstaffed_offices(db.session, day, [arak.id]) == [arak]
    friday = next(day + timedelta(days=n) for n in range(7) if (day + timedelta(days=n)).weekday() == 4)
    assert absences.unstaffed_offices(db.session, friday, [arak.id]) == []  # closed anyway
