"""Working time: the days an office works, and deadlines counted in them.

An office's calendar has four sources, each named where a day off is shown:

- the working week (``bpmn/working_time.json``): the weekly days off, Friday everywhere and the days a
  province adds (Thursday in some), and the office hours;
- the official calendar (``bpmn/official_calendar.json``): the solar and lunar holidays of each Jalali
  year as announced; a year it lists replaces what the library computes;
- the ``holidays`` library (``holidays.Iran``) for the years the official file does not list;
- closures declared by headquarters (any office, or the whole country) or by a province (itself or its
  counties): each a signed record of the admin log (``declare_closure``), read back from what it signed.

A deadline of N working days ends when the office's hours end on the N-th working day after the day
the wait began (the day itself does not count). The engine asks the calendar the case's county office
keeps (``calendar_for``) through ``engine.working_calendar``; ``Calendar.version`` names the sources it
used and is signed with the step that set the deadline. A closure declared later moves the deadlines of
the cases of its offices (``move_deadlines``), each move a signed record of the case.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

import holidays
import jdatetime
from sqlalchemy import select
from sqlalchemy.orm import Session

import forms
from forms.persian import TEHRAN
from signing import canonical_bytes
from workflows import access, admin, chain, procedures
from workflows.errors import Forbidden, InvalidInput
from workflows.models import Office, User

__all__ = ["Calendar", "Closure", "DayOff", "WEEKDAYS", "calendar_for", "calendars_for", "closures", "declare_closure",
           "library_differences", "check_tables", "read_day"]

#: weekday names as the data files spell them, by Python's weekday number (Monday 0)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: where a day off comes from
SOURCES = ("weekly", "official", "estimated", "library", "closure")
#: the admin-log action of a declared closure
CLOSURE_ACTION = "declare_closure"
#: the longest closure one declaration may cover
MAX_CLOSURE_DAYS = 31


@dataclass(frozen=True)
class DayOff:
    day: date
    name: str
    #: one of SOURCES
    source: str
    #: for a closure: the admin record that declared it
    record_seq: int | None = None


@dataclass(frozen=True)
class Closure:
    """A declared closure, as its signed record says."""

    seq: int
    first_day: date
    last_day: date
    reason: str
    #: office codes (a province covers its counties); empty: every office in the country
    offices: tuple[str, ...]
    declared_by: int
    declared_at: datetime
    hash: str

    def covers(self, office: Office | None) -> bool:
        if not self.offices:
            return True
        if office is None:
            return False
        return office.code in self.offices or (office.parent is not None and office.parent.code in self.offices)


class Calendar:
    """The working days of one office (None: the country's, with no province's days and no local closure)."""

    def __init__(self, office: Office | None, tables: Mapping[str, Any], declared: Iterable[Closure]) -> None:
        self.office = office
        province = _province(office)
        self.closures = tuple(c for c in declared if c.covers(office))
        key = (id(tables), province.code if province is not None else None, tuple(c.hash for c in self.closures))
        known = _readings.get(key)
        if known is None or known[0] is not tables:  # an id is reused once its tables are gone
            known = _readings[key] = (tables, _Reading.of(tables, province, self.closures))
            while len(_readings) > _READINGS_SIZE:
                _readings.pop(next(iter(_readings)))
        reading = known[1]
        self.weekly_off, self.opens, self.closes = reading.weekly_off, reading.opens, reading.closes
        self.official, self.version, self._holidays = reading.official, reading.version, reading.holidays

    # --- days ------------------------------------------------------------------------------

    def days_off(self, day: date) -> list[DayOff]:
        """Why the office is closed on this day (empty: it works)."""
        found = list(self._year_holidays(jdatetime.date.fromgregorian(date=day).year).get(day, ()))
        found += [DayOff(day, closure.reason, "closure", closure.seq) for closure in self.closures
                  if closure.first_day <= day <= closure.last_day]
        if day.weekday() in self.weekly_off:
            found.append(DayOff(day, forms.t(f"calendar.weekday.{WEEKDAYS[day.weekday()]}"), "weekly"))
        return found

    def is_working(self, day: date) -> bool:
        """True when the office works on this day (what deadlines count, without naming the days off)."""
        if day.weekday() in self.weekly_off:
            return False
        if day in self._year_holidays(jdatetime.date.fromgregorian(date=day).year):
            return False
        return not any(closure.first_day <= day <= closure.last_day for closure in self.closures)

    def year(self, jalali_year: int) -> list[DayOff]:
        """Every day off of a Jalali year but the weekly ones, in order (for the calendar page)."""
        first = jdatetime.date(jalali_year, 1, 1).togregorian()
        last = jdatetime.date(jalali_year + 1, 1, 1).togregorian() - timedelta(days=1)
        days = [off for entries in self._year_holidays(jalali_year).values() for off in entries]
        days += [DayOff(day, closure.reason, "closure", closure.seq) for closure in self.closures
                 for day in _days(max(closure.first_day, first), min(closure.last_day, last))]
        return sorted(days, key=lambda off: (off.day, SOURCES.index(off.source)))

    def year_source(self, jalali_year: int) -> str:
        """Where a year's holidays come from: the official file's status, or "library"."""
        entry = self.official.get(str(jalali_year))
        return entry.get("status", "announced") if entry is not None else "library"

    # --- deadlines ---------------------------------------------------------------------------

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """When the office's hours end on the ``days``-th working day after the day of ``start``."""
        first = day = start.astimezone(TEHRAN).date()
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working(day):
                counted += 1
            elif (day - first).days > days * 7 + MAX_CLOSURE_DAYS * 12:  # a calendar with (almost) no working day
                raise ValueError(f"{days} working days do not fit before {day.isoformat()}: too few working days")
        return datetime.combine(day, self.closes, TEHRAN)

    def working_days_left(self, now: datetime, due: datetime) -> int:
        """Working days from ``now`` to ``due`` counting today while the office is open (0: due today or
        past; the inbox shows it beside the date)."""
        today, last = now.astimezone(TEHRAN).date(), due.astimezone(TEHRAN).date()
        if due <= now:
            return 0
        count = sum(1 for day in _days(today + timedelta(days=1), last) if self.is_working(day))
        return count + (1 if self.is_working(today) and now.astimezone(TEHRAN).time() < self.closes else 0)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days after the day of ``start`` up to the day of ``end`` (how monitoring counts a step)."""
        first, last = start.astimezone(TEHRAN).date() + timedelta(days=1), end.astimezone(TEHRAN).date()
        return sum(1 for day in _days(first, last) if self.is_working(day))

    def _year_holidays(self, jalali_year: int) -> dict[date, list[DayOff]]:
        found = self._holidays.get(jalali_year)
        if found is None:
            entry = self.official.get(str(jalali_year))
            found = _official_year(jalali_year, entry) if entry is not None else _library_year(jalali_year)
            self._holidays[jalali_year] = found
        return found


@dataclass(frozen=True)
class _Reading:
    """What a calendar reads from a version's tables for one province and its closures."""

    weekly_off: frozenset[int]
    opens: time
    closes: time
    official: Mapping[str, Any]
    version: str
    #: each Jalali year's holidays, filled as years are asked for
    holidays: dict[int, dict[date, list[DayOff]]]

    @classmethod
    def of(cls, tables: Mapping[str, Any], province: Office | None, closures: tuple[Closure, ...]) -> _Reading:
        week = tables.get("working_time", {})
        local = week.get("provinces", {}).get(province.code, {}) if province is not None else {}
        hours = week.get("hours", {"start": "07:30", "end": "14:30"})
        official = tables.get("official_calendar", {}).get("years", {})
        return cls(frozenset(WEEKDAYS.index(name) for name in local.get("days_off", week.get("days_off", ["friday"]))),
                   time.fromisoformat(hours["start"]), time.fromisoformat(hours["end"]), official,
                   _version(week, local, official, closures), {})


#: readings by (tables, province, closures), so that a version's tables are read and digested once and not
#: for every signed record; the tables themselves are kept beside, so a reused id is not taken for them
_readings: dict[tuple, tuple[Mapping[str, Any], _Reading]] = {}
_READINGS_SIZE = 256


def _province(office: Office | None) -> Office | None:
    if office is None:
        return None
    return office if office.kind == "province" else office.parent if office.kind == "county" else None


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _version(week: Mapping, local: Mapping, official: Mapping, declared: tuple[Closure, ...]) -> str:
    """A short digest of what the calendar read: the week, the province's days, the official file and
    the closures (by their records' hashes)."""
    text = canonical_bytes({"week": {k: v for k, v in week.items() if not k.startswith("_")}, "province": local,
                            "official": official, "closures": [c.hash for c in declared]})
    return hashlib.sha256(text).hexdigest()[:16]


def _official_year(jalali_year: int, entry: Mapping) -> dict[date, list[DayOff]]:
    source = "official" if entry.get("status", "announced") == "announced" else "estimated"
    days: dict[date, list[DayOff]] = {}
    for item in entry.get("days", []):
        month, day = (int(part) for part in item["day"].split("/"))
        gregorian = jdatetime.date(jalali_year, month, day).togregorian()
        days.setdefault(gregorian, []).append(
            DayOff(gregorian, item["name"], "estimated" if item.get("estimated") else source))
    return days


@lru_cache(maxsize=16)
def _library_year(jalali_year: int) -> dict[date, list[DayOff]]:
    """The library's holidays of a Jalali year (it spans two Gregorian years)."""
    first = jdatetime.date(jalali_year, 1, 1).togregorian()
    last = jdatetime.date(jalali_year + 1, 1, 1).togregorian() - timedelta(days=1)
    computed = holidays.Iran(years=(first.year, last.year), language="fa_IR")
    days: dict[date, list[DayOff]] = {}
    for day in sorted(computed):
        if first <= day <= last:
            days[day] = [DayOff(day, name, "library") for name in computed.get_list(day)]
    return days


def library_differences(tables: Mapping[str, Any], jalali_year: int) -> list[str]:
    """Where the library's lunar holidays of a year the official file lists differ from the file: each
    "name: library MM/DD, official MM/DD" (a day missing on one side shows as "-")."""
    entry = tables.get("official_calendar", {}).get("years", {}).get(str(jalali_year))
    if entry is None:
        return []
    official: dict[str, set[str]] = {}
    for item in entry.get("days", []):
        if item.get("kind") == "lunar":
            official.setdefault(_name_key(item["name"]), set()).add(item["day"])
    library: dict[str, set[str]] = {}
    for day, entries in _library_year(jalali_year).items():
        for off in entries:
            name = _name_key(off.name)
            if name in official:
                library.setdefault(name, set()).add(jdatetime.date.fromgregorian(date=day).strftime("%m/%d"))
    return [f"{name}: library {', '.join(sorted(library.get(name, ()))) or '-'}, official {', '.join(sorted(days))}"
            for name, days in sorted(official.items()) if library.get(name, set()) != days]


def _name_key(name: str) -> str:
    """A holiday's name without the library's "(estimated)", spaces and digit forms, to match names."""
    return forms.normalize_digits(name.replace("(تخمینی)", "")).replace(" ", "").replace("\u200c", "")


# --- closures ---------------------------------------------------------------------------------

def closures(session: Session) -> list[Closure]:
    """Every declared closure, as its signed record says (the admin log's audit checks the signatures)."""
    return [Closure(seq=row.seq, first_day=date.fromisoformat(row.details["first_day"]),
                    last_day=date.fromisoformat(row.details["last_day"]), reason=row.details["reason"],
                    offices=tuple(row.details["offices"]), declared_by=row.actor_id, declared_at=row.created_at,
                    hash=row.hash)
            for row in chain.signed_details(session, CLOSURE_ACTION, "closure")]


def calendar_for(session: Session, office: Office | int | None) -> Calendar:
    """The calendar an office keeps now (an id or None: the country's)."""
    if isinstance(office, int):
        office = session.get(Office, office)
    return Calendar(office, procedures.newest_tables(session), closures(session))


def calendars_for(session: Session, offices: Iterable[Office | None]) -> dict[int | None, Calendar]:
    """The calendars of several offices by office id (None: the country's), reading the closures once."""
    tables, declared = procedures.newest_tables(session), closures(session)
    return {office.id if office else None: Calendar(office, tables, declared) for office in set(offices)}


def closure_scope(session: Session, user: User, codes: list[str]) -> list[Office]:
    """The offices a person may close: headquarters any (none named: the whole country), a province head
    their province and its counties. Forbidden otherwise."""
    if access.has_capability(user, "administer"):
        allowed = None
    elif user.role == "province_head" and user.office_id is not None:
        allowed = {user.office_id} | set(session.scalars(select(Office.id).where(Office.parent_id == user.office_id)))
    else:
        raise Forbidden("only headquarters and a province head declare closures")
    offices = list(session.scalars(select(Office).where(Office.code.in_(codes)))) if codes else []
    unknown = sorted(set(codes) - {office.code for office in offices})
    if unknown:
        raise InvalidInput({"offices": [forms.t("web.admin.office_unknown")]})
    if allowed is not None and (not offices or any(office.id not in allowed for office in offices)):
        raise InvalidInput({"offices": [forms.t("calendar.errors.outside_province")]})
    return offices


def declare_closure(session: Session, user: User, *, data: Mapping[str, Any], pin: str, now: datetime) -> Closure:
    """Sign a closure of some offices (or the country) for a range of days; the deadlines it reaches move
    when the caller calls ``move_deadlines``."""
    if not isinstance(data, Mapping):
        raise InvalidInput({"_schema": [forms.t("errors.not_an_object")]})
    errors: dict[str, list[str]] = {}
    first = read_day(data, "first_day", errors)
    last = read_day(data, "last_day", errors) if data.get("last_day") not in (None, "") else first
    reason = data.get("reason")
    if not isinstance(reason, str) or not forms.normalize_text(reason):
        errors["reason"] = [forms.t("errors.required")]
    elif len(forms.normalize_text(reason)) > 200:
        errors["reason"] = [forms.t("errors.text_too_long", max=forms.to_persian_digits("200"))]
    codes = data.get("offices", [])
    if isinstance(codes, str):
        codes = [code for code in codes.replace("،", ",").split(",") if code.strip()]
    if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
        errors["offices"] = [forms.t("errors.not_a_list")]
        codes = []
    codes = sorted({code.strip() for code in codes})
    if first is not None and last is not None:
        if last < first:
            errors["last_day"] = [forms.t("calendar.errors.ends_before_start")]
        elif (last - first).days + 1 > MAX_CLOSURE_DAYS:
            errors["last_day"] = [forms.t("calendar.errors.too_long")]
    if errors:
        raise InvalidInput(errors)
    offices = closure_scope(session, user, codes)
    signed = {"first_day": first.isoformat(), "last_day": last.isoformat(),
              "reason": forms.normalize_text(reason), "offices": [office.code for office in offices]}
    record = admin.append_record(session, user, pin, now, CLOSURE_ACTION, dict(signed),
                                 {"closure": signed})
    return Closure(seq=record.seq, first_day=first, last_day=last, reason=signed["reason"],
                   offices=tuple(signed["offices"]), declared_by=user.id, declared_at=now, hash=record.hash)


def read_day(data: Mapping[str, Any], name: str, errors: dict) -> date | None:
    """A day given as Jalali (``1405/09/22``, Persian digits too) or ISO (``2026-12-13``); None with the error."""
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        errors[name] = [forms.t("errors.required")]
        return None
    try:
        return forms.parse_jalali(value) if "/" in forms.normalize_digits(value) else date.fromisoformat(
            forms.normalize_digits(value).strip())
    except (ValueError, forms.InvalidValueError):
        errors[name] = [forms.t("errors.date_invalid")]
        return None


# --- deploy check -------------------------------------------------------------------------------

def check_tables(tables: Mapping[str, Any]) -> list[str]:
    """What is wrong with working_time.json and official_calendar.json (empty: nothing)."""
    problems = []
    week = tables.get("working_time", {})
    for where, entry in [("days_off", week), *((f"provinces.{code}", value)
                                               for code, value in week.get("provinces", {}).items())]:
        names = entry.get("days_off", []) if isinstance(entry, dict) else None
        if not isinstance(names, list) or any(name not in WEEKDAYS for name in names) or len(set(names)) >= 7:
            problems.append(f"working_time.json: {where}: days off must be a list of weekday names "
                            f"({', '.join(WEEKDAYS)}), not all seven")
    try:
        hours = week.get("hours", {"start": "07:30", "end": "14:30"})
        if time.fromisoformat(hours["start"]) >= time.fromisoformat(hours["end"]):
            problems.append("working_time.json: hours: start must come before end")
    except (KeyError, TypeError, ValueError):
        problems.append("working_time.json: hours: must be {\"start\": \"HH:MM\", \"end\": \"HH:MM\"}")
    reminders = week.get("reminder_working_days", [])
    if not isinstance(reminders, list) or any(type(n) is not int or not 1 <= n <= 30 for n in reminders):
        problems.append("working_time.json: reminder_working_days: must be a list of whole numbers from 1 to 30")
    for year, entry in tables.get("official_calendar", {}).get("years", {}).items():
        for item in entry.get("days", []) if isinstance(entry, dict) else [None]:
            try:
                month, day = (int(part) for part in item["day"].split("/"))
                jdatetime.date(int(year), month, day)
                if not item["name"] or item.get("kind") not in ("solar", "lunar", "closure"):
                    raise ValueError
            except (KeyError, TypeError, ValueError):
                problems.append(f"official_calendar.json: {year}: {item!r} is not a day with MM/DD, a name "
                                f"and a kind (solar, lunar or closure)")
    return problems
