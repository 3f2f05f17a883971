"""Deadlines: fire the timers that are due, each firing a signed record by the system account.

`due_cases` lists what is due; `fire_case` fires one case's due timers in the caller's
transaction. The tick command commits per case, so two ticks at once fire each timer once:
the second finds the case already moved on (its wake-up time is later, or its version changed).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from signing import Signer
from workflows import inquiries, outcomes, transitions  # noqa: F401 (inquiries, outcomes: their reactions)
from workflows.models import Case, Record, User

__all__ = ["due_cases", "fire_case"]


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

