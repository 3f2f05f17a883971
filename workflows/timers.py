"""Deadlines: fire the timers that are due, each firing a signed record by the system account.

`due_cases` lists what is due; `fire_case` fires one case's due timers in the caller's
transaction; `remind` tells the holders of a task its deadline is near (``reminder_working_days`` of
working_time.json: each threshold once per deadline); `move_deadlines` counts the working-day deadlines of a closure's offices again (each
case whose deadline moved signs a ``deadline_moved`` record saying from when to when). The tick command commits per case, so two ticks at once fire each timer once:
the second finds the case already moved on (its wake-up time is later, or its version changed).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from signing import Signer, format_time
import forms
from workflows import inquiries, notifications, outcomes, procedures, transitions, working_time  # noqa: F401
from workflows.models import Case, CaseTask, Office, Record, User
from workflows.working_time import Closure

_Parent = aliased(Office)

__all__ = ["due_cases", "fire_case", "move_deadlines", "remind"]

#: how many calendar days the reminders look ahead for working days (the longest run of days off is shorter)
_REMINDER_SLACK_DAYS = 21


def due_cases(session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Ids of cases with a timer due at ``now``, earliest first."""
    return list(session.scalars(select(Case.id).where(Case.wake_at.is_not(None), Case.wake_at <= now)
                                .order_by(Case.wake_at).limit(limit)))


def fire_case(session: Session, case_id: int, *, now: datetime, system: User, signer: Signer) -> list[Record]:
    """Fire the case's due timers and sign what happened; nothing when nothing is due any more."""
    case = session.get(Case, case_id)
    if case is None:
        return []
    change = transitions.Transition.begin(session, case, now)
    if change.case.wake_at is None or change.case.wake_at > now:
        return []
    with change.engine() as instance:
        fired = instance.fire_due_timers(now)
    if not fired:
        change.finish()
        return []
    change.sign(signer, system, action="deadline_passed", details={"timers": fired})
    return change.finish(signer, system).records



def move_deadlines(session: Session, closure: Closure, *, now: datetime, system: User, signer: Signer) -> list[Record]:
    """Count again the working-day deadlines of the running cases of the closure's offices, by their
    calendars as they are now; sign a ``deadline_moved`` record for each case whose deadline moved."""
    query = select(Case.id).where(Case.outcome.is_(None), Case.wake_at.is_not(None)).order_by(Case.id)
    if closure.offices:
        offices = select(Office.id).outerjoin(_Parent, Office.parent_id == _Parent.id).where(
            (Office.code.in_(closure.offices)) | (_Parent.code.in_(closure.offices)))
        query = query.where(Case.county_office_id.in_(offices))
    signed = []
    for case_id in session.scalars(query).all():
        change = transitions.Transition.begin(session, session.get(Case, case_id), now)
        with change.engine(react=False) as instance:
            moved = instance.reschedule_working_timers()
        if moved:
            signed.append(change.sign(signer, system, action="deadline_moved", details={
                "closure": closure.seq,
                "moved": {wait.name: {"from": format_time(was), "to": format_time(wait.fire_at)} for wait, was in moved},
                "calendar": {"office": change.case.county_office.code if change.case.county_office else None,
                             "version": change.calendar.version}}))
        change.finish()
    return signed


def remind(session: Session, now: datetime) -> list[notifications.Notification]:
    """Tell the holders of each waiting task whose deadline is within a reminder threshold (in the working
    days of its case's county office) that it is near; once per threshold and deadline (a moved deadline
    is reminded again)."""
    thresholds = sorted(procedures.newest_tables(session).get("working_time", {}).get("reminder_working_days", []))
    if not thresholds:
        return []
    rows = session.execute(select(CaseTask, Case).join(Case, Case.id == CaseTask.case_id).where(
        CaseTask.due_at.is_not(None), CaseTask.due_at > now,
        CaseTask.due_at <= now + timedelta(days=thresholds[-1] + _REMINDER_SLACK_DAYS))
        .order_by(CaseTask.due_at, CaseTask.id)).all()
    calendars = working_time.calendars_for(session, [case.county_office for _task, case in rows])
    made = []
    for task, case in rows:
        left = calendars[case.county_office_id].working_days_left(now, task.due_at)
        threshold = next((days for days in thresholds if left <= days), None)
        if threshold is None:
            continue
        key = f"{case.public_id}:task:{task.task_id}:{task.due_at.isoformat()}:remind:{threshold}"
        params = {"case": notifications.case_label(case), "step": task.title,
                  "due": forms.format_jalali(task.due_at, with_time=True), "days": forms.to_persian_digits(str(left))}
        people = notifications.task_holders(session, case, task)
        made += notifications.add_all(session, [(person, "due_soon", key, params) for person in people],
                                      now, case=case)
    return made
