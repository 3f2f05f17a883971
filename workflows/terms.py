"""A manager's term as the days pass: reminders before its planned end, and a term that ran out.

``bpmn/terms.json`` says how many days before a term's planned end the center's holder and its county
office are reminded (``reminder_days``, e.g. 60 and 30): each reminder once, the nearest threshold
reached. A term still open after its planned end (neither renewed nor followed by a successor)
leaves the center's manager term expired: the holder, the county office and the province are told;
when it was an interim's term, they are asked to have a permanent manager named. Centers whose
license was revoked or closed have no open term and are not watched.

The tick runs ``watch``. Every notification's key names the term and its planned end, so two ticks
tell no one twice, and a renewed term (a later planned end) is watched afresh. A center whose rows
are not what its signed records say is told nothing (its facts would not be proved); the audit
reports it.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

import forms
from workflows import access, facts, notifications, procedures
from workflows.models import Center, License, ManagerTerm, Office, User, tehran_today
from workflows.notifications import Notification

__all__ = ["watch", "expired"]

_log = logging.getLogger(__name__)


def expired(planned_end: date | str | None, today: date) -> bool:
    """True when a term planned to end on this day has run out by ``today`` (its last day was before)."""
    if planned_end is None:
        return False
    day = date.fromisoformat(planned_end) if isinstance(planned_end, str) else planned_end
    return day < today


def watch(session: Session, now: datetime) -> list[notifications.Notification]:
    """Tell whoever must know of every open term near or past its planned end (see the module's doc)."""
    terms_table = procedures.newest_tables(session).get("terms", {})
    thresholds = sorted(int(d) for d in terms_table.get("reminder_days", []))
    today = tehran_today(now)
    horizon = today + timedelta(days=thresholds[-1] if thresholds else 0)
    rows = session.execute(
        select(ManagerTerm, Center).join(Center, Center.id == ManagerTerm.center_id)
        .join(License, License.center_id == Center.id)
        .where(ManagerTerm.end_date.is_(None), ManagerTerm.planned_end.is_not(None),
               ManagerTerm.planned_end <= horizon, License.status.in_(("active", "suspended")))
        .order_by(ManagerTerm.planned_end, ManagerTerm.id)).all()
    due = []
    for term, center in rows:
        left = (term.planned_end - today).days
        if left < 0:
            due.append((term, center, left, f"term:{term.id}:{term.planned_end.isoformat()}:expired"))
        elif thresholds and left <= thresholds[-1]:
            threshold = next(d for d in thresholds if left <= d)
            due.append((term, center, left, f"term:{term.id}:{term.planned_end.isoformat()}:remind:{threshold}"))
    # an event's people are told together: one whose key exists was told (a tick a minute reads one query)
    told = set(session.scalars(select(Notification.key).where(Notification.key.in_([key for *_, key in due]))
                               .distinct())) if due else set()
    due = [entry for entry in due if entry[-1] not in told]
    # what a notification states (the center, the manager, the planned end) is what the records prove
    checked = facts.check_centers(session, [center.id for _term, center, _left, _key in due])
    made = []
    for term, center, left, key in due:
        if checked[center.id][1]:
            _log.warning("center %s: its rows are not what its records say; no term notification sent", center.id)
            continue
        params = {"center": forms.to_persian_digits(center.name), "manager": term.full_name,
                  "end": forms.format_jalali(term.planned_end), "days": forms.to_persian_digits(str(max(left, 0)))}
        county = session.get(Office, center.county_office_id)
        people = [session.get(User, center.applicant_id), *access.office_people(session, county.id, "county")]
        if left >= 0:
            kind = "term_reminder"
        else:
            people += access.office_people(session, county.parent_id, "province") if county.parent_id else []
            kind = "interim_expired" if term.interim else "term_expired"
        made += notifications.add_all(session, [(person, kind, key, params) for person in people], now,
                                      center_id=center.id)
    return made
