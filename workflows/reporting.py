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

import forms
from forms.persian import TEHRAN
from signing import parse_time
from workflows import facts, procedures
from workflows.models import Case, Center, License, Office, Record, tehran_today

__all__ = ["Period", "Rules", "rule_for", "count_problems", "MissedReports", "SharedMember", "shared_members", "rules", "check_tables", "period_of", "period_containing",
           "due_periods", "missed_reports", "filed", "CenterReport", "center_reports", "CountyActivity", "county_activity", "activity_levels"]


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
    #: the field of a programme that counts its participants
    programme_participants_field: str = ""
    #: the choice list whose labels name the activity levels
    activity_levels_choices: str = ""


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
                           entry.get("programmes_field", ""), entry.get("participants_field", ""),
                           entry.get("programme_participants_field", ""), entry.get("activity_levels_choices", "")))
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
    for name in ("period_choices", "members_field", "member_id_field", "programmes_field", "participants_field",
                 "programme_participants_field", "activity_levels_choices"):
        if not isinstance(entry.get(name, ""), str):
            found.append(f"reporting.{key}.{name}: a name")
    for name in ("year_field", "period_field"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            found.append(f"reporting.{key}.{name}: a form field's name")
    for name, low in (("due_days", 0), ("look_back", 1), ("flag_after", 1)):
        if type(entry.get(name)) is not int or not low <= entry[name] <= 366:
            found.append(f"reporting.{key}.{name}: a whole number from {low} to 366")
    levels = entry.get("activity_levels", [])
    if not isinstance(levels, list) or not all(
            isinstance(level, dict) and isinstance(level.get("code"), str) and level["code"]
            and type(level.get("min_programmes")) is int and level["min_programmes"] >= 0 for level in levels):
        found.append(f"reporting.{key}.activity_levels: a list of {{code, min_programmes}}, min_programmes a whole "
                     "number from 0")
    elif levels and ([level["min_programmes"] for level in levels]
                     != sorted({level["min_programmes"] for level in levels}, reverse=True)
                     or levels[-1]["min_programmes"] != 0):
        found.append(f"reporting.{key}.activity_levels: from the most programmes down, each fewer than the one "
                     "before, the last 0")
    return found


def rule_for(tables: Any, process_key: str) -> Rules | None:
    return next((r for r in rules(tables) if r.process_key == process_key), None)


def count_problems(rule: Rules, cleaned: dict) -> dict[str, list[str]]:
    """A report whose participants by age band and gender cannot be its programmes' (keyed by the
    section): the season's participants are at least the best-attended programme's and at most all the
    programmes' together (one person may come to several), none without a programme."""
    if not (rule.programmes_field and rule.participants_field and rule.programme_participants_field):
        return {}
    counts = [p.get(rule.programme_participants_field) for p in _list(cleaned, rule.programmes_field)]
    counts = [c for c in counts if type(c) is int]
    total = sum(_counts(cleaned, rule.participants_field))
    most, together = max(counts, default=0), sum(counts)
    if most <= total <= together:
        return {}
    digits = forms.to_persian_digits
    return {rule.participants_field: [forms.t("errors.participants_bounds", total=digits(str(total)),
                                              most=digits(str(most)), together=digits(str(together)))]}


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


def _licensed(session: Session, county_ids: Collection[int] | None, today: date
              ) -> list[tuple[int, "facts.ProvedCenter", Office, date]]:
    """The centers of these counties (None: every county) whose license is in force today, as their signed
    records say: (center id, proved center, county office, the Tehran day the license was issued)."""
    query = select(Center.id).join(License, License.center_id == Center.id)
    if county_ids is not None:
        query = query.where(Center.county_office_id.in_(list(county_ids)))
    proved = facts.check_centers(session, list(session.scalars(query.distinct())))
    counties = {office.code: office for office in session.scalars(select(Office).where(
        Office.code.in_({p.center["county"] for p, _ in proved.values() if p.center})))}
    found = []
    for center_id, (center, _) in proved.items():
        county = counties.get(center.center["county"]) if center.center else None
        if county is None or center.license is None or facts.license_status(center.license, today) != "active" \
                or (county_ids is not None and county.id not in county_ids):
            continue
        found.append((center_id, center, county, tehran_today(parse_time(center.license["issued_at"]))))
    return found


def missed_reports(session: Session, county_ids: Collection[int] | None, today: date) -> list[MissedReports]:
    """The licensed centers of these counties (None: every county) that missed a due period, flagged
    first, then by county and name. What is shown of a center (its name, county, license and the day
    it was issued) is what its signed records say (``facts.check_centers``): the rows only pick them."""
    found: list[MissedReports] = []
    for rule in rules(procedures.newest_tables(session)):
        periods = due_periods(rule, today)
        centers = _licensed(session, county_ids, today)
        reported = filed(session, rule, [center_id for center_id, *_ in centers])
        for center_id, center, county, licensed_on in centers:
            missed = tuple(p for p in periods if p.first_day >= licensed_on
                           and (center_id, p.year, p.number) not in reported)
            if missed:
                found.append(MissedReports(center_id, center.center["name"], county.id, county.name,
                                           county.parent.name if county.parent else "", missed,
                                           len(missed) >= rule.flag_after))
    return sorted(found, key=lambda m: (not m.flagged, m.county_name, m.center_name, m.center_id))


def _latest_forms(session: Session, rule: Rules, center_ids: list[int]) -> dict[int, tuple[int, dict]]:
    """Each report case's latest holder-signed form under the rule's procedure, by case: (center, form)."""
    latest: dict[int, tuple[int, str]] = {}
    for case_id, center_id, form_data in session.execute(
            select(Case.id, Case.center_id, Record.form_data).join(Record, Record.case_id == Case.id).where(
                Case.process_key == rule.process_key, Case.center_id.in_(center_ids), Record.form_data.is_not(None),
                Record.actor_user_id == Case.applicant_id).order_by(Record.id)):
        latest[case_id] = (center_id, form_data)
    return {case_id: (center_id, json.loads(form_data)) for case_id, (center_id, form_data) in latest.items()}


def _period_named(rule: Rules, data: dict) -> tuple[int, int] | None:
    try:
        return int(data[rule.year_field]), int(data[rule.period_field])
    except (KeyError, TypeError, ValueError):
        return None  # a signed form of the procedure that names no period (none today)


def filed(session: Session, rule: Rules, center_ids: list[int]) -> set[tuple[int, int, int]]:
    """(center, year, period) of each report the centers' holders signed under this rule's procedure, as
    its case's latest holder-signed form names it (a report returned and corrected to another period
    files that one, not both)."""
    return {(center_id, *named) for center_id, data in _latest_forms(session, rule, center_ids).values()
            if (named := _period_named(rule, data)) is not None}


@dataclass(frozen=True)
class CountyActivity:
    """A county's licensed centers over the due periods the lists look back on, from their signed reports."""

    county_id: int
    county_code: str
    county_name: str
    province_name: str
    centers: int
    #: center-periods due (those a license covered from their first day) and those a report was signed for
    due: int
    filed: int
    programmes: int
    #: the participants of the reports' age-and-gender tables
    participants: int
    #: distinct members (by their identifying field) of each center's latest report
    members: int
    #: centers by activity level code, as ``activity_levels`` names them
    levels: dict[str, int]


def county_activity(session: Session, county_ids: Collection[int] | None, today: date) -> list[CountyActivity]:
    """Per county in view: of the due periods, how many reports were due and signed; over the reports of
    those periods and the ones since (up to the period running today), the programmes, participants and
    distinct members they report, and the centers by activity level (``reporting.json``'s
    ``activity_levels``: the fewest programmes over those periods a level needs, highest first)."""
    found: dict[int, dict] = {}
    tables = procedures.newest_tables(session)
    for rule in rules(tables):
        levels = activity_levels(tables, rule.process_key)
        periods = {(p.year, p.number): p for p in due_periods(rule, today)}
        # activity and reach read the due periods and those since, up to the one running today (a report
        # filed before its period is due counts there, not for compliance)
        since = min((p.first_day for p in periods.values()), default=today)
        centers = _licensed(session, county_ids, today)
        reports: dict[int, dict[tuple[int, int], dict]] = {}
        for center_id, data in _latest_forms(session, rule, [center_id for center_id, *_ in centers]).values():
            named = _period_named(rule, data)
            if named is None or not 1 <= named[1] <= 12 // rule.period_months:
                continue
            if named in periods or since <= period_of(rule, *named).first_day <= today:
                reports.setdefault(center_id, {})[named] = data
        for center_id, _center, county, licensed_on in centers:
            entry = found.setdefault(county.id, {
                "county_id": county.id, "county_code": county.code, "county_name": county.name,
                "province_name": county.parent.name if county.parent else "", "centers": 0, "due": 0, "filed": 0,
                "programmes": 0, "participants": 0, "members": set(), "levels": {code: 0 for code, _ in levels}})
            own = reports.get(center_id, {})
            asked = {named for named, p in periods.items() if p.first_day >= licensed_on}
            programmes = sum(len(_list(d, rule.programmes_field)) for d in own.values())
            entry["centers"] += 1
            entry["due"] += len(asked)
            entry["filed"] += len(asked & own.keys())
            entry["programmes"] += programmes
            entry["participants"] += sum(v for d in own.values() for v in _counts(d, rule.participants_field))
            if levels:
                entry["levels"][next(code for code, low in levels if programmes >= low)] += 1
            if own:  # the members of its latest period's report
                entry["members"] |= {m.get(rule.member_id_field) for m in _members_of(rule, own[max(own)])} - {None}
    return sorted((CountyActivity(**{**entry, "members": len(entry["members"])}) for entry in found.values()),
                  key=lambda c: (c.province_name, c.county_name))


def _list(data: dict, name: str) -> list:
    return data.get(name) if isinstance(data.get(name), list) else []


def _counts(data: dict, name: str) -> list[int]:
    section = data.get(name)
    return [v for v in section.values() if type(v) is int] if isinstance(section, dict) else []


def activity_levels(tables: Any, process_key: str) -> list[tuple[str, int]]:
    """A report procedure's activity levels: (code, the fewest programmes over the due periods), highest
    first (empty: it names none)."""
    entry = (tables.get("reporting") or {}).get(process_key) or {}
    return [(level["code"], level["min_programmes"]) for level in entry.get("activity_levels") or []]


def shared_members(session: Session, case: Case, today: date) -> list[SharedMember]:
    """The members of the case's latest signed report whose ID the latest report of another center, signed
    within the lists' look-back, names too (a person counted by two centers), in the report's order."""
    rule = rule_for(procedures.newest_tables(session), case.process_key)
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
    return _members_of(rule, json.loads(form_data)) if form_data else []


def _members_of(rule: Rules, data: dict) -> list[dict]:
    members = data.get(rule.members_field)
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
    forms = _latest_forms(session, rule, [center_id])
    statuses = dict(session.execute(select(Case.id, Case.status).where(Case.id.in_(list(forms)))).all()) if forms else {}
    found = []
    for case_id, (_center, data) in forms.items():
        named = _period_named(rule, data)
        if named is None or named[0] not in years:
            continue
        found.append(CenterReport(case_id, statuses[case_id], *named, len(_list(data, rule.programmes_field)),
                                  sum(_counts(data, rule.participants_field)), len(_members_of(rule, data))))
    return sorted(found, key=lambda r: (r.year, r.number, r.case_id))
