"""Leave and substitutes: who is away, and who stands in for them.

A person records their leave (``record_leave``: the first and last day, signed with their own PIN), or their
office head records it for them. Their office head, or the head of the province above a county office,
names a substitute for a period and a set
of procedures (``name_substitute``): a colleague of the same office or of the office above. Both are signed
records of the admin log, read back from what they signed (``access.substitutions``, ``leaves``).

While a substitution is in force the substitute's inbox holds the absent person's tasks and claims
(``workflows.inbox``), ``access.may_act`` lets them act, and what they sign carries ``acting_for``: the
absent person and the substitution's record. Monitoring lists the offices with nobody present on a working
day (``unstaffed_offices``).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import forms
from workflows import access, chain, procedures
from workflows.errors import Forbidden, InvalidInput
from workflows.models import Office, User

__all__ = ["Leave", "LEAVE_ACTION", "MAX_DAYS", "leaves", "name_substitute", "record_leave", "unstaffed_offices"]

LEAVE_ACTION = "record_leave"
#: the longest leave or substitution one record may cover
MAX_DAYS = 92


@dataclass(frozen=True)
class Leave:
    seq: int
    user_id: int
    first_day: date
    last_day: date


def leaves(session: Session, *, day: date | None = None, user_ids: Iterable[int] | None = None) -> list[Leave]:
    """The leaves of the admin log, as their records signed them (on ``day`` and of these people when given)."""
    wanted = set(user_ids) if user_ids is not None else None
    found = []
    for row in chain.signed_details(session, LEAVE_ACTION, "leave"):
        leave = Leave(row.seq, row.details["user_id"], date.fromisoformat(row.details["first_day"]),
                      date.fromisoformat(row.details["last_day"]))
        if (day is None or leave.first_day <= day <= leave.last_day) and (wanted is None or leave.user_id in wanted):
            found.append(leave)
    return found


def record_leave(session: Session, user: User, *, data: Mapping[str, Any], pin: str, now: datetime) -> Leave:
    """Sign a leave for a range of days: the person's own, or (``data["person"]``) a colleague's whose office
    this person heads (a colleague away sick does not sign in to say so)."""
    from workflows import admin

    if not access.is_office_role(user.role) or user.office_id is None:
        raise Forbidden("only the people of an office record leave")
    if not isinstance(data, Mapping):
        raise InvalidInput({"_schema": [forms.t("errors.not_an_object")]})
    errors: dict[str, list[str]] = {}
    person = user
    if data.get("person") not in (None, "", user.username):
        person = _person(session, data.get("person"), "person", errors)
        if person is not None and not _heads(user, person):
            raise Forbidden("only the office head records a colleague's leave")
    first, last = _period(data, errors)
    if errors:
        raise InvalidInput(errors)
    signed = {"user_id": person.id, "username": person.username, "first_day": first.isoformat(),
              "last_day": last.isoformat()}
    record = admin.append_record(session, user, pin, now, LEAVE_ACTION, dict(signed), {"leave": signed})
    return Leave(record.seq, person.id, first, last)


def name_substitute(session: Session, head: User, *, data: Mapping[str, Any], pin: str,
                    now: datetime) -> access.Substitution:
    """Sign a substitute for an absent colleague (see the module's doc for who may name whom)."""
    from workflows import admin

    if not isinstance(data, Mapping):
        raise InvalidInput({"_schema": [forms.t("errors.not_an_object")]})
    errors: dict[str, list[str]] = {}
    absent = _person(session, data.get("absent"), "absent", errors)
    substitute = _person(session, data.get("substitute"), "substitute", errors)
    first, last = _period(data, errors)
    keys = data.get("process_keys") or []
    if isinstance(keys, str):
        keys = [keys]
    known = set(procedures.catalogue(session).current)
    if not isinstance(keys, list) or any(key not in known for key in keys):
        errors["process_keys"] = [forms.t("errors.choice_invalid")]
        keys = []
    if absent is not None and not _heads(head, absent):
        raise Forbidden("only the absent person's office head names their substitute")
    if absent is not None and substitute is not None and "substitute" not in errors:
        office = absent.office
        if substitute.id == absent.id:
            errors["substitute"] = [forms.t("absence.errors.self")]
        elif not access.is_office_role(substitute.role) or substitute.office_id not in (office.id, office.parent_id):
            errors["substitute"] = [forms.t("absence.errors.office")]
    if errors:
        raise InvalidInput(errors)
    signed = {"absent_id": absent.id, "absent": absent.username, "substitute_id": substitute.id,
              "substitute": substitute.username, "first_day": first.isoformat(), "last_day": last.isoformat(),
              "process_keys": sorted(set(keys))}
    record = admin.append_record(session, head, pin, now, access.SUBSTITUTE_ACTION, dict(signed),
                                 {"substitution": signed})
    return access.Substitution(record.seq, absent.id, substitute.id, first, last, tuple(signed["process_keys"]),
                               head.id)


def _heads(head: User, absent: User) -> bool:
    """A county head heads the people of their office; a province head those of their office and its counties."""
    if not head.active or absent.office is None:
        return False
    if head.role == "county_head":
        return head.office_id == absent.office_id
    if head.role == "province_head":
        return head.office_id in (absent.office_id, absent.office.parent_id)
    return False


def _person(session: Session, username: Any, field: str, errors: dict) -> User | None:
    if not isinstance(username, str) or not username.strip():
        errors[field] = [forms.t("errors.required")]
        return None
    person = session.scalars(select(User).where(User.username == forms.normalize_text(username).lower(),
                                                User.active)).first()
    if person is None or person.office_id is None:
        errors[field] = [forms.t("absence.errors.unknown_person")]
        return None
    return person


def _period(data: Mapping[str, Any], errors: dict) -> tuple[date | None, date | None]:
    from workflows.working_time import read_day

    first = read_day(data, "first_day", errors)
    last = read_day(data, "last_day", errors) if data.get("last_day") not in (None, "") else first
    if first is not None and last is not None:
        if last < first:
            errors["last_day"] = [forms.t("calendar.errors.ends_before_start")]
        elif (last - first).days + 1 > MAX_DAYS:
            errors["last_day"] = [forms.t("absence.errors.too_long")]
    return first, last


def unstaffed_offices(session: Session, day: date, office_ids: Iterable[int]) -> list[Office]:
    """The offices among these where, on a working day of theirs, every person who acts in the office's lane
    is on leave (an office with no account in the system at all is not listed: nobody works there yet)."""
    from workflows import working_time

    offices = list(session.scalars(select(Office).where(Office.id.in_(list(office_ids)), Office.kind != "hq")
                                   .order_by(Office.kind.desc(), Office.code)))
    away = {leave.user_id for leave in leaves(session, day=day)}
    calendars = working_time.calendars_for(session, offices)
    found = []
    for office in offices:
        if not calendars[office.id].is_working(day):
            continue
        people = access.office_people(session, office.id, office.kind)
        if people and all(person.id in away for person in people):
            found.append(office)
    return found
