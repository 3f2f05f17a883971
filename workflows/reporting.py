"""Periodic reports of licensed centers (``bpmn/reporting.json``): which periods are due, and which
centers did not sign a report for them — listed for their county after one missed period and flagged
for their province after ``flag_after``.

A period is filed when the center's holder signed a report naming it (its year and period fields, as
the report's procedure signed them), whatever the county then did with it; a center is asked only for
the periods its license covered from their first day and that ended ``due_days`` ago.
"""
from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import jdatetime
from sqlalchemy import select
from sqlalchemy.orm import Session

from forms.persian import TEHRAN
from signing import parse_time
from workflows import facts, procedures
from workflows.models import Case, Center, License, Office, Record, tehran_today

__all__ = ["Period", "Rules", "MissedReports", "SharedMember", "shared_members", "rules", "check_tables", "period_of", "period_containing",
           "due_periods", "missed_reports", "filed", "CenterReport", "center_reports"]


@dataclass(frozen=True)
class Period:
    year: int
    #: 1 … 12 / months per period (a season: 1 spring … 4 winter)
    number: int
    first_day: date
    last_day: date
    #: the choice list whose labels name the periods («پاییز»), "" when none does
    choices: str = ""


@dataclass(frozen=True)
class Rules:
    process_key: str
    period_months: int
    year_field: str
    period_field: str
    due_days: int
    look_back: int
    flag_after: int
    period_choices: str = ""
    #: the report's list of registered members, and the field of a member that identifies them
    members_field: str = ""
    member_id_field: str = ""
    #: the report's list of programmes and its section of participant counts (by age band and gender)
    programmes_field: str = ""
    participants_field: str = ""


@dataclass(frozen=True)
class SharedMember:
    """A member of a report who is also a member in another center's recent report."""

    member_id: str
    full_name: str
    #: the other centers (id, name as their signed records say)
    centers: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class MissedReports:
    center_id: int
    center_name: str
    county_id: int
    county_name: str
    province_name: str
    #: the due periods the center signed no report for, oldest first
    missed: tuple[Period, ...]
    #: missed at least ``flag_after`` periods: its province sees it too
    flagged: bool


def rules(tables: Any) -> list[Rules]:
    """The reporting rules of a version's tables (an entry that is not well formed is left out: the
    deploy's check names it)."""
    found = []
    for key, entry in (tables.get("reporting") or {}).items():
        if key.startswith("_") or problems(key, entry):
            continue
        found.append(Rules(key, entry["period_months"], entry["year_field"], entry["period_field"],
                           entry["due_days"], entry["look_back"], entry["flag_after"], entry.get("period_choices", ""),
                           entry.get("members_field", ""), entry.get("member_id_field", ""),
                           entry.get("programmes_field", ""), entry.get("participants_field", "")))
    return found


def check_tables(tables: Any) -> list[str]:
    """What is wrong with a version's ``reporting.json`` (empty: nothing, or no such table)."""
    reporting = tables.get("reporting")
    if reporting is None:
        return []
    if not isinstance(reporting, dict):
        return ["reporting.json: must be an object of procedures"]
    return [p for key, entry in reporting.items() if not key.startswith("_") for p in problems(key, entry)]


def problems(key: str, entry: Any) -> list[str]:
    """What is wrong with one procedure's reporting entry (empty: nothing)."""
    if not isinstance(entry, dict):
        return [f"reporting.{key}: must be an object"]
    found = []
    if entry.get("period_months") not in (1, 2, 3, 4, 6, 12):
        found.append(f"reporting.{key}.period_months: one of 1, 2, 3, 4, 6, 12")
    for name in ("period_choices", "members_field", "member_id_field", "programmes_field", "participants_field"):
        if not isinstance(entry.get(name, ""), str):
            found.append(f"reporting.{key}.{name}: a name")
    for name in ("year_field", "period_field"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            found.append(f"reporting.{key}.{name}: a form field's name")
    for name, low in (("due_days", 0), ("look_back", 1), ("flag_after", 1)):
        if type(entry.get(name)) is not int or not low <= entry[name] <= 366:
            found.append(f"reporting.{key}.{name}: a whole number from {low} to 366")
    return found


def period_of(rule: Rules, year: int, number: int) -> Period:
    first = jdatetime.date(year, (number - 1) * rule.period_months + 1, 1)
    after = (jdatetime.date(year + 1, 1, 1) if number * rule.period_months == 12
             else jdatetime.date(year, number * rule.period_months + 1, 1))
    return Period(year, number, first.togregorian(), after.togregorian() - timedelta(days=1), rule.period_choices)


def period_containing(rule: Rules, day: date) -> Period:
    jalali = jdatetime.date.fromgregorian(date=day)
    return period_of(rule, jalali.year, (jalali.month - 1) // rule.period_months + 1)


def due_periods(rule: Rules, today: date) -> list[Period]:
    """The last ``look_back`` periods whose reports were due by ``today``, oldest first."""
    current = period_containing(rule, today)
    year, number = current.year, current.number
    found: list[Period] = []
    while len(found) < rule.look_back:
        period = period_of(rule, year, number)
        if period.last_day + timedelta(days=rule.due_days) < today:
            found.append(period)
        year, number = (year - 1, 12 // rule.period_months) if number == 1 else (year, number - 1)
    return found[::-1]


def missed_reports(session: Session, county_ids: Collection[int] | None, today: date) -> list[MissedReports]:
    """The licensed centers of these counties (None: every county) that missed a due period, flagged
    first, then by county and name. What is shown of a center (its name, county, license and the day
    it was issued) is what its signed records say (``facts.check_centers``): the rows only pick them."""
    found: list[MissedReports] = []
    for rule in rules(procedures.newest_tables(session)):
        periods = due_periods(rule, today)
        query = select(Center.id).join(License, License.center_id == Center.id)
        if county_ids is not None:
            query = query.where(Center.county_office_id.in_(list(county_ids)))
        proved = facts.check_centers(session, list(session.scalars(query.distinct())))
        counties = {office.code: office for office in session.scalars(select(Office).where(
            Office.code.in_({p.center["county"] for p, _ in proved.values() if p.center})))}
        reported = filed(session, rule, list(proved))
        for center_id, (center, _) in proved.items():
            county = counties.get(center.center["county"]) if center.center else None
            if county is None or center.license is None or facts.license_status(center.license, today) != "active" \
                    or (county_ids is not None and county.id not in county_ids):
                continue
            licensed_on = tehran_today(parse_time(center.license["issued_at"]))
            missed = tuple(p for p in periods if p.first_day >= licensed_on
                           and (center_id, p.year, p.number) not in reported)
            if missed:
                found.append(MissedReports(center_id, center.center["name"], county.id, county.name,
                                           county.parent.name if county.parent else "", missed,
                                           len(missed) >= rule.flag_after))
    return sorted(found, key=lambda m: (not m.flagged, m.county_name, m.center_name, m.center_id))


def filed(session: Session, rule: Rules, center_ids: list[int]) -> set[tuple[int, int, int]]:
    """(center, year, period) of each report the centers' holders signed under this rule's procedure, as
    its case's latest holder-signed form names it (a report returned and corrected to another period
    files that one, not both)."""
    latest: dict[int, tuple[int, str]] = {}
    for case_id, center_id, form_data in session.execute(
            select(Case.id, Case.center_id, Record.form_data).join(Record, Record.case_id == Case.id).where(
                Case.process_key == rule.process_key, Case.center_id.in_(center_ids), Record.form_data.is_not(None),
                Record.actor_user_id == Case.applicant_id).order_by(Record.id)):
        latest[case_id] = (center_id, form_data)
    filed = set()
    for center_id, form_data in latest.values():
        data = json.loads(form_data)
        try:
            filed.add((center_id, int(data[rule.year_field]), int(data[rule.period_field])))
        except (KeyError, TypeError, ValueError):
            continue  # a signed form of the procedure that names no period (none today)
    return filed


def shared_members(session: Session, case: Case, today: date) -> list[SharedMember]:
    """The members of the case's latest signed report whose ID the latest report of another center, signed
    within the lists' look-back, names too (a person counted by two centers), in the report's order."""
    rule = next((r for r in rules(procedures.newest_tables(session)) if r.process_key == case.process_key), None)
    if rule is None or not rule.members_field or not rule.member_id_field or case.center_id is None:
        return []
    own = session.scalars(select(Record.form_data).where(
        Record.case_id == case.id, Record.actor_user_id == case.applicant_id, Record.form_data.is_not(None))
        .order_by(Record.seq.desc()).limit(1)).first()
    members = _members(rule, own)
    if not members:
        return []
    since = due_periods(rule, today)[0].first_day if rule.look_back else today
    latest: dict[int, str] = {}
    for center_id, form_data in session.execute(
            select(Case.center_id, Record.form_data).join(Record, Record.case_id == Case.id).where(
                Case.process_key == case.process_key, Case.center_id != case.center_id,
                Record.actor_user_id == Case.applicant_id, Record.form_data.is_not(None),
                Record.created_at >= datetime.combine(since, time(), TEHRAN)).order_by(Record.id)):
        latest[center_id] = form_data
    elsewhere: dict[str, list[int]] = {}
    for center_id, form_data in latest.items():
        for member_id in {m.get(rule.member_id_field) for m in _members(rule, form_data)}:
            elsewhere.setdefault(member_id, []).append(center_id)
    shared = [m for m in members if m.get(rule.member_id_field) in elsewhere]
    if not shared:
        return []
    proved = facts.check_centers(session, sorted({c for m in shared for c in elsewhere[m[rule.member_id_field]]}))
    names = {center_id: center.center["name"] for center_id, (center, _) in proved.items() if center.center}
    return [SharedMember(m[rule.member_id_field], m.get("full_name", ""),
                         tuple((c, names[c]) for c in sorted(elsewhere[m[rule.member_id_field]]) if c in names))
            for m in shared]


def _members(rule: Rules, form_data: str | None) -> list[dict]:
    members = json.loads(form_data).get(rule.members_field) if form_data else None
    return [m for m in members if isinstance(m, dict)] if isinstance(members, list) else []


@dataclass(frozen=True)
class CenterReport:
    """One report a center's holder signed, as its case's latest holder-signed form says."""

    case_id: int
    #: the case's status now (acknowledged, with the county, returned …)
    status: str
    year: int
    number: int
    programmes: int
    #: the participants of the age-and-gender table, all bands
    participants: int
    members: int


def center_reports(session: Session, rule: Rules, center_id: int, years: Collection[int]) -> list[CenterReport]:
    """The reports of these years the center's holder signed under the rule's procedure, by year and
    period (the evidence an evaluation of those years is scored from)."""
    latest: dict[int, tuple[str, str]] = {}
    for case_id, status, form_data in session.execute(
            select(Case.id, Case.status, Record.form_data).join(Record, Record.case_id == Case.id).where(
                Case.process_key == rule.process_key, Case.center_id == center_id, Record.form_data.is_not(None),
                Record.actor_user_id == Case.applicant_id).order_by(Record.id)):
        latest[case_id] = (status, form_data)
    found = []
    for case_id, (status, form_data) in latest.items():
        data = json.loads(form_data)
        try:
            year, number = int(data[rule.year_field]), int(data[rule.period_field])
        except (KeyError, TypeError, ValueError):
            continue
        if year not in years:
            continue
        bands = data.get(rule.participants_field) if isinstance(data.get(rule.participants_field), dict) else {}
        programmes = data.get(rule.programmes_field) if isinstance(data.get(rule.programmes_field), list) else []
        found.append(CenterReport(case_id, status, year, number, len(programmes),
                                  sum(v for v in bands.values() if type(v) is int), len(_members(rule, form_data))))
    return sorted(found, key=lambda r: (r.year, r.number, r.case_id))
