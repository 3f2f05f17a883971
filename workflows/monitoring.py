"""Monitoring and evaluation (نظارت و ارزیابی): how cases actually move, computed in the database.

Every figure is one aggregate query over indexed columns; nothing loads cases into Python, and
nothing reads the whole history to answer for a date range:

- case counts come from the counters ``transitions.Transition`` keeps per county office, procedure and
  status (``case_counts``; ``case_day_counts`` per day of creation when a date range is asked);
- step times and decisions from ``record_timings``, one narrow row per signed record written with
  it (``Transition.sign``) with the step's duration, read by an index range on its time.

Times come from the signed records: a step's time is from the case's previous signed record
(or the case's creation, for its first) to the record that completed the step; a case's end to
end time is from its first signed record to its last, for finished cases. Medians and 90th
percentiles are ``percentile_cont`` on PostgreSQL; on SQLite the same interpolation over rows
numbered by a window function (an ordered-offset query per group). Percentiles are exact, so they
read every duration in the range: the dashboard asks for a bounded range by default
(``web.dashboard``), and its cost follows the work done in that range, not the history.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

import jdatetime
from sqlalchemy import ColumnElement, Float, Integer, Select, case, cast, false, func, literal, select, text
from sqlalchemy.orm import Session, aliased

from forms import TEHRAN
from workflows.models import Case, CaseCount, CaseDayCount, CaseTask, Center, ManagerTerm, Office, RecordTiming
from workflows.procedures import DECISION_ACTIONS

__all__ = ["MonitorFilters", "cases_by_status", "step_times", "end_to_end_times", "backlog", "decision_rates",
           "youth_profile", "youth_trend", "YOUNG_BELOW", "check_tables", "AGE_BANDS", "percentiles", "day_bounds"]

#: age bands of new managers, in full years on the start date (the rule table allows 20 to 41)
AGE_BANDS = ((None, 25), (26, 30), (31, 35), (36, 41), (42, None))
PERCENTILES = (0.5, 0.9)


@dataclass(frozen=True)
class MonitorFilters:
    #: Tehran calendar days, both inclusive
    date_from: date | None = None
    date_to: date | None = None
    process_key: str | None = None
    #: county offices in scope (None: every county)
    county_ids: tuple[int, ...] | None = None
    #: offices whose backlog is shown (None: every office)
    office_ids: tuple[int, ...] | None = None


def day_bounds(filters: MonitorFilters) -> tuple[datetime | None, datetime | None]:
    """The UTC instants the date range covers: [from 00:00 Tehran, day after ``to`` 00:00 Tehran)."""
    start = datetime.combine(filters.date_from, time(), TEHRAN) if filters.date_from else None
    end = datetime.combine(filters.date_to + timedelta(days=1), time(), TEHRAN) if filters.date_to else None
    return start, end


def _in_range(column: Any, filters: MonitorFilters) -> list[ColumnElement]:
    start, end = day_bounds(filters)
    conditions = []
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column < end)
    return conditions


def _scoped(query: Select, county_column: Any, filters: MonitorFilters, process_column: Any = Case.process_key) -> Select:
    if filters.county_ids is not None:
        query = query.where(county_column.in_(filters.county_ids) if filters.county_ids else false())
    if filters.process_key:
        query = query.where(process_column == filters.process_key)
    return query


def _seconds(session: Session, later: Any, earlier: Any) -> ColumnElement:
    """Seconds between two timestamp expressions, on this database."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", later - earlier), Float)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def percentiles(session: Session, source: Any, groups: list[str], value: str = "d",
                fractions: tuple[float, ...] = PERCENTILES) -> list[dict]:
    """Count and continuous percentiles of ``source.c[value]`` per group, computed by the database.

    ``source`` is a subquery with the group columns and the value column; the answer has one dict
    per group: the group columns, ``n`` and ``p50``/``p90``… (None for an empty group).
    """
    keys = [source.c[name] for name in groups]
    column = source.c[value]
    names = [f"p{round(f * 100)}" for f in fractions]
    if session.get_bind().dialect.name == "postgresql":
        # PostgreSQL's JIT compiler judges these plans (many look-ups by key) costly and spent 1.9 s
        # compiling a 70 ms statement at a million cases; for the rest of this transaction, without it
        session.execute(text("SET LOCAL jit = off"))
        query = select(*keys, func.count(column).label("n"),
                       *[func.percentile_cont(f).within_group(column).label(name) for f, name in zip(fractions, names)])
    else:
        # number the values within each group (0-based) and interpolate between the two rows
        # around (n - 1) × p, as percentile_cont does
        ranked = select(*keys, column.label("v"),
                        (func.row_number().over(partition_by=keys or None, order_by=column) - 1).label("i"),
                        func.count().over(partition_by=keys or None).label("n")).where(column.is_not(None)).subquery()
        rkeys = [ranked.c[name] for name in groups]
        n = ranked.c.n
        parts = []
        for f, name in zip(fractions, names):
            position = (n - 1) * f
            low = cast(position, Integer)
            parts += [func.max(case((ranked.c.i == low, ranked.c.v))).label(f"{name}_lo"),
                      func.max(case((ranked.c.i == low + 1, ranked.c.v))).label(f"{name}_hi"),
                      func.max(cast(position, Float) - low).label(f"{name}_frac")]
        inner = select(*rkeys, func.max(n).label("n"), *parts).group_by(*rkeys).subquery()
        outer_keys = [inner.c[name] for name in groups]
        query = select(*outer_keys, inner.c.n, *[
            (inner.c[f"{name}_lo"] + (func.coalesce(inner.c[f"{name}_hi"], inner.c[f"{name}_lo"])
                                      - inner.c[f"{name}_lo"]) * inner.c[f"{name}_frac"]).label(name)
            for name in names])
    if groups:
        query = query.group_by(*keys) if session.get_bind().dialect.name == "postgresql" else query
        query = query.order_by(*[query.selected_columns[name] for name in groups])
    rows = [dict(row._mapping) for row in session.execute(query)]
    for row in rows:
        for name in names:
            row[name] = float(row[name]) if row[name] is not None else None
        row["n"] = int(row["n"] or 0)
    return [row for row in rows if row["n"]]


def cases_by_status(session: Session, filters: MonitorFilters, *, by_county: bool) -> list[dict]:
    """How many cases (created in the range) each province, or county, has per procedure and status.

    Read from the counters, not the cases: without a date range the totals (a row per county,
    procedure and status), with one the rows of the days in the range.
    """
    county, province = aliased(Office), aliased(Office)
    ranged = filters.date_from is not None or filters.date_to is not None
    table = CaseDayCount if ranged else CaseCount
    conditions = []
    if filters.date_from is not None:
        conditions.append(CaseDayCount.created_on >= filters.date_from)
    if filters.date_to is not None:
        conditions.append(CaseDayCount.created_on <= filters.date_to)
    area = [province.code, province.name] + ([county.code, county.name] if by_county else [])
    labels = ["province", "province_name"] + (["county", "county_name"] if by_county else [])
    group = [*area, table.process_key, table.status]
    total = func.sum(table.cases)
    query = (select(*[column.label(name) for column, name in zip(group, [*labels, "process_key", "status"])],
                    total.label("cases"))
             .select_from(table).join(county, table.county_office_id == county.id)
             .join(province, county.parent_id == province.id).where(*conditions))
    query = _scoped(query, table.county_office_id, filters, table.process_key).group_by(*group).having(
        total > 0).order_by(*group)
    return [{**row._mapping, "cases": int(row.cases)} for row in session.execute(query)]


def step_times(session: Session, filters: MonitorFilters) -> list[dict]:
    """Median and 90th percentile of each step's time, per procedure and step: in seconds (``p50``, ``p90``)
    and in working days of the case's county office (``working_p50``, ``working_p90``)."""
    durations = (select(RecordTiming.process_key.label("process_key"), RecordTiming.task_name.label("step"),
                        RecordTiming.seconds.label("d"), RecordTiming.working_days.label("w"))
                 .where(RecordTiming.task_name.is_not(None), *_in_range(RecordTiming.created_at, filters)))
    durations = _scoped(durations, RecordTiming.county_office_id, filters, RecordTiming.process_key).subquery()
    working = {(row["process_key"], row["step"]): row
               for row in percentiles(session, durations, ["process_key", "step"], value="w")}
    return [{**row, "working_p50": working.get((row["process_key"], row["step"]), {}).get("p50"),
             "working_p90": working.get((row["process_key"], row["step"]), {}).get("p90")}
            for row in percentiles(session, durations, ["process_key", "step"])]


def end_to_end_times(session: Session, filters: MonitorFilters) -> list[dict]:
    """Median and 90th percentile, in seconds, from a finished case's first signed record to its last.

    The cases are those with a record in the range (the only ones whose last record can be there);
    each one's first and last record time are an index probe each (record_timings by case and
    time) and its status a look-up by key, so neither the cases nor the history are scanned.
    """
    timing, other = RecordTiming, aliased(RecordTiming)
    candidates = select(timing.case_id, timing.process_key).where(*_in_range(timing.created_at, filters)).distinct()
    candidates = _scoped(candidates, timing.county_office_id, filters, timing.process_key).subquery()
    first = select(func.min(other.created_at)).where(other.case_id == candidates.c.case_id).scalar_subquery()
    last = select(func.max(other.created_at)).where(other.case_id == candidates.c.case_id).scalar_subquery()
    outcome = select(Case.outcome).where(Case.id == candidates.c.case_id).scalar_subquery()
    # OFFSET 0 keeps the database from inlining this subquery, which would run each look-up once
    # for every place the outer queries name its columns
    per_case = select(candidates.c.process_key.label("process_key"), first.label("first"), last.label("last"),
                      outcome.label("outcome")).offset(0).subquery()
    finished = (select(per_case.c.process_key,
                       _seconds(session, per_case.c["last"], per_case.c["first"]).label("d"))
                .where(per_case.c.outcome.is_not(None), *_in_range(per_case.c["last"], filters))
                .subquery())
    return percentiles(session, finished, ["process_key"])


def backlog(session: Session, filters: MonitorFilters, now: datetime) -> list[dict]:
    """Open tasks and overdue tasks per office now, and since when the oldest waits."""
    query = (select(Office.code.label("office"), Office.name.label("office_name"), Office.kind.label("kind"),
                    func.count(CaseTask.id).label("open"),
                    func.count(CaseTask.id).filter(CaseTask.due_at < now).label("overdue"),
                    func.min(CaseTask.created_at).label("oldest"))
             .select_from(CaseTask).join(Office, Office.id == CaseTask.office_id))
    if filters.office_ids is not None:
        query = query.where(CaseTask.office_id.in_(filters.office_ids) if filters.office_ids else false())
    if filters.process_key:  # the case only for its procedure: the open tasks alone otherwise
        query = query.join(Case, Case.id == CaseTask.case_id).where(Case.process_key == filters.process_key)
    query = query.group_by(Office.code, Office.name, Office.kind).order_by(
        func.count(CaseTask.id).filter(CaseTask.due_at < now).desc(), func.count(CaseTask.id).desc(), Office.code)
    return [dict(row._mapping) for row in session.execute(query)]


def decision_rates(session: Session, filters: MonitorFilters) -> list[dict]:
    """How often each deciding step approved, returned or rejected (signed decisions in the range)."""
    counts = [func.count().filter(RecordTiming.action == action).label(action) for action in DECISION_ACTIONS]
    query = (select(RecordTiming.process_key.label("process_key"), RecordTiming.task_name.label("step"), *counts,
                    func.count().label("decisions"))
             .where(RecordTiming.action.in_(DECISION_ACTIONS), *_in_range(RecordTiming.created_at, filters)))
    query = _scoped(query, RecordTiming.county_office_id, filters, RecordTiming.process_key).group_by(
        RecordTiming.process_key, RecordTiming.task_name).order_by(RecordTiming.process_key, RecordTiming.task_name)
    rows = [dict(row._mapping) for row in session.execute(query)]
    totals = {action: sum(row[action] for row in rows) for action in (*DECISION_ACTIONS, "decisions")}
    if rows:
        rows.append({"process_key": None, "step": None, **totals})
    for row in rows:
        for action in DECISION_ACTIONS:
            row[f"{action}_rate"] = row[action] / row["decisions"] if row["decisions"] else None
    return rows


def _age_band() -> ColumnElement:
    whens = []
    for low, high in AGE_BANDS:
        name = f"{low or ''}-{high or ''}"
        if high is None:
            whens.append((ManagerTerm.age_at_start >= low, literal(name)))
        else:
            whens.append((ManagerTerm.age_at_start <= high, literal(name)))
    return case(*whens, else_=literal("unknown"))


def youth_profile(session: Session, filters: MonitorFilters) -> dict:
    """New appointments (first managers and changes, not interims) started in the range: how many
    in each age band and education, and their median and 90th-percentile age."""
    conditions = [ManagerTerm.interim.is_(False)]
    if filters.date_from:
        conditions.append(ManagerTerm.start_date >= filters.date_from)
    if filters.date_to:
        conditions.append(ManagerTerm.start_date <= filters.date_to)

    def scoped(query: Select) -> Select:
        query = query.select_from(ManagerTerm).join(Center, Center.id == ManagerTerm.center_id).join(
            Case, Case.id == ManagerTerm.case_id).where(*conditions)
        return _scoped(query, Center.county_office_id, filters)

    band = _age_band().label("band")
    bands = {row.band: row.n for row in session.execute(
        scoped(select(band, func.count(ManagerTerm.id).label("n"))).group_by(band))}
    education = [dict(row._mapping) for row in session.execute(
        scoped(select(ManagerTerm.education.label("education"), func.count(ManagerTerm.id).label("n")))
        .group_by(ManagerTerm.education).order_by(func.count(ManagerTerm.id).desc(), ManagerTerm.education))]
    ages = scoped(select(cast(ManagerTerm.age_at_start, Float).label("d"))).where(
        ManagerTerm.age_at_start.is_not(None)).subquery()
    summary = percentiles(session, ages, [])
    ordered = [f"{low or ''}-{high or ''}" for low, high in AGE_BANDS] + ["unknown"]
    return {"bands": [{"band": name, "n": bands.get(name, 0)} for name in ordered],
            "education": education,
            "total": sum(bands.values()),
            "median_age": summary[0]["p50"] if summary else None,
            "p90_age": summary[0]["p90"] if summary else None}


#: the youth policy's measure: managers younger than this
YOUNG_BELOW = 35


def youth_trend(session: Session, filters: MonitorFilters, today: date, years: int = 5) -> list[dict]:
    """For each of the last ``years`` Jalali years (this one up to today): the managers in office on its
    last day (not interims) and how many of them were younger than ``YOUNG_BELOW`` then, and the managers
    appointed in it and how many were younger at their start; managers of unknown age are left out of
    both. It reads three narrow columns of every non-interim term in view (the date range does not
    apply: the years are the range), counted here rather than in five date-arithmetic queries that
    SQLite and PostgreSQL would each need in their own dialect."""
    query = _scoped(select(ManagerTerm.start_date, ManagerTerm.end_date, ManagerTerm.age_at_start)
                    .select_from(ManagerTerm).join(Center, Center.id == ManagerTerm.center_id)
                    .join(Case, Case.id == ManagerTerm.case_id)
                    .where(ManagerTerm.interim.is_(False), ManagerTerm.age_at_start.is_not(None)),
                    Center.county_office_id, replace(filters, date_from=None, date_to=None, process_key=None))
    terms = session.execute(query).all()
    this_year = jdatetime.date.fromgregorian(date=today).year
    found = []
    for year in range(this_year - years + 1, this_year + 1):
        first = jdatetime.date(year, 1, 1).togregorian()
        last = min(jdatetime.date(year + 1, 1, 1).togregorian() - timedelta(days=1), today)
        in_office = [age + (last - start).days * 4 // 1461 for start, end, age in terms
                     if start <= last and (end is None or end > last)]
        appointed = [age for start, _end, age in terms if first <= start <= last]
        found.append({"year": year, "in_office": len(in_office),
                      "young": sum(1 for age in in_office if age < YOUNG_BELOW),
                      "young_share": _share(sum(1 for age in in_office if age < YOUNG_BELOW), len(in_office)),
                      "appointed": len(appointed),
                      "appointed_young": sum(1 for age in appointed if age < YOUNG_BELOW),
                      "appointed_young_share": _share(sum(1 for age in appointed if age < YOUNG_BELOW), len(appointed))})
    return found


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def check_tables(tables: Any) -> list[str]:
    """What is wrong with a version's ``population.json`` (empty: nothing, or no such table): counties by
    office code, each a whole number of inhabitants above 0."""
    table = tables.get("population")
    if table is None:
        return []
    counties = table.get("counties") if isinstance(table, dict) else None
    if not isinstance(counties, dict):
        return ["population.json: counties must be an object of office codes to inhabitants"]
    if not isinstance(table.get("source", ""), str):
        return ["population.json: source: the figures' source, as text"]
    return [f"population.json: counties.{code}: a whole number of inhabitants above 0"
            for code, people in counties.items() if type(people) is not int or people < 1]
