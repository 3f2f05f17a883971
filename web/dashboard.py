"""The monitoring and evaluation dashboard (نظارت و ارزیابی) for province and headquarters users.

A province's people see their province; headquarters sees the country and may narrow it to a
province or a county. Every table exports as CSV with the same filters.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select

from forms import jalali_iso, t, to_persian_digits
from web.charts import bar_chart, stacked_chart
from web.extensions import db
from web.listing import choice_arg, collect, csv_response, date_range, error_messages, query_without
from web.scope import by_name, deployed, period_label, score_text
from workflows import absences, access, evaluation, monitoring, procedures, reporting, training
from workflows.errors import Forbidden, InvalidInput, NotFound
from workflows.models import Office, User, tehran_today, utcnow
from workflows.procedures import DECISION_ACTIONS

__all__ = ["bp", "TABLES"]

bp = Blueprint("monitoring", __name__)

#: the tables of the dashboard, each exported as /monitoring/<name>.csv
TABLES = ("cases", "steps", "end_to_end", "backlog", "decisions", "ages", "education", "reports", "activity", "reach",
          "compliance", "youth_trend", "evaluations", "training")
#: with neither "from" nor "to" in the query, the dashboard covers the last this many Tehran days
#: (today included, and anything later): its percentiles read every step of the range, so the
#: default stays bounded as history grows; an empty "from" asks for every day
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Scope:
    filters: monitoring.MonitorFilters
    #: group the case counts by county (a province in view) rather than by province
    by_county: bool
    province: Office | None
    county: Office | None


def _require_monitor(user: User) -> None:
    if not access.has_capability(user, "monitor"):
        raise Forbidden("monitoring is for province and headquarters users")


def _offices(kind: str, within: list[int] | None) -> dict[str, Office]:
    query = select(Office).where(Office.kind == kind).order_by(Office.number, Office.code)
    if within is not None:
        query = query.where(Office.id.in_(within))
    found = db.session.scalars(query)
    return {office.code: office for office in (by_name(found) if kind == "county" else found)}


def read_scope(user: User, args) -> Scope:
    """The filters of the query within the user's jurisdiction; InvalidInput for a bad parameter."""
    _require_monitor(user)
    within = None if user.role in access.READ_ALL_ROLES else access.office_subtree_ids(db.session, user.office_id)
    provinces = _offices("province", within)
    dates, process_key, province_code = collect(
        lambda: date_range(args), lambda: choice_arg(args, "process_key", tuple(deployed().current)),
        lambda: choice_arg(args, "province", tuple(provinces)))
    if "from" not in args and "to" not in args:
        dates = (tehran_today(utcnow()) - timedelta(days=DEFAULT_DAYS - 1), None)
    province = provinces.get(province_code) if province_code else (
        next(iter(provinces.values())) if within is not None and len(provinces) == 1 else None)
    county_within = access.office_subtree_ids(db.session, province.id) if province else within
    counties = _offices("county", county_within)
    county_code = choice_arg(args, "county", tuple(counties))
    county = counties.get(county_code) if county_code else None
    if county is not None:
        county_ids: tuple[int, ...] | None = (county.id,)
        office_ids: tuple[int, ...] | None = (county.id,)
    elif province is not None:
        county_ids = tuple(office.id for office in counties.values())
        office_ids = (province.id, *county_ids)
    else:
        county_ids = office_ids = None
    filters = monitoring.MonitorFilters(date_from=dates[0], date_to=dates[1], process_key=process_key,
                                        county_ids=county_ids, office_ids=office_ids)
    return Scope(filters, by_county=province is not None, province=province, county=county)


def duration_text(seconds: float | None) -> str:
    """A duration as Persian text: days and hours, or hours and minutes under a day."""
    if seconds is None:
        return "—"
    minutes = int(round(seconds / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return t("web.monitor.days_hours", days=to_persian_digits(str(days)), hours=to_persian_digits(str(hours)))
    return t("web.monitor.hours_minutes", hours=to_persian_digits(str(hours)), minutes=to_persian_digits(str(minutes)))


def _step_label(process_key: str | None, step: str | None) -> str:
    if process_key is None:
        return t("web.monitor.all_steps")
    known = deployed()
    return f"{known.title(process_key)} · {known.task_title(step) if step else ''}"


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def _days(days: float | None) -> float | None:
    return None if days is None else round(days, 1)


def _rate(rate: float | None) -> float | None:
    return None if rate is None else round(rate, 4)


#: each column of the dashboard's CSV tables, with the catalogue key of its Persian header
COLUMN_HEADERS = {
    "province": "web.monitor.csv.province", "province_name": "web.monitor.province",
    "county": "web.monitor.csv.county", "county_name": "web.case.county",
    "process_key": "web.monitor.csv.process_key", "process_title": "web.cases.procedure",
    "status": "web.monitor.csv.status", "status_label": "web.cases.status", "cases": "web.monitor.count",
    "step": "web.monitor.csv.step", "step_title": "web.cases.step", "n": "web.monitor.count",
    "median_hours": "web.monitor.csv.median_hours", "p90_hours": "web.monitor.csv.p90_hours",
    "median_working_days": "web.monitor.csv.median_working_days", "p90_working_days": "web.monitor.csv.p90_working_days",
    "office": "web.monitor.csv.office", "office_name": "web.monitor.office", "kind": "web.monitor.csv.kind",
    "kind_label": "web.admin.kind", "open": "web.monitor.open", "overdue": "web.monitor.overdue",
    "oldest": "web.monitor.oldest", "decisions": "web.monitor.count",
    **{a: f"web.action.{a}" for a in DECISION_ACTIONS},
    **{f"{a}_rate": f"web.monitor.csv.{a}_rate" for a in DECISION_ACTIONS},
    "band": "web.monitor.csv.band", "band_label": "web.monitor.age",
    "education": "web.monitor.csv.education", "education_label": "web.monitor.education",
    "center_id": "web.reports.csv.center_id", "center": "web.reports.center", "missed": "web.reports.missed_count",
    "missed_periods": "web.reports.missed", "flagged": "web.reports.csv.flagged",
    "centers": "web.monitor.csv.centers", "due": "web.monitor.csv.due", "filed": "web.monitor.csv.filed",
    "compliance_rate": "web.monitor.csv.compliance_rate", "programmes": "web.evaluation.programmes",
    "participants": "web.evaluation.participants", "members": "web.evaluation.members",
    "population": "web.monitor.csv.population", "members_per_1000": "web.monitor.csv.members_per_1000",
    "participants_per_1000": "web.monitor.csv.participants_per_1000", "year": "web.evaluation.csv.year",
    "in_office": "web.monitor.csv.in_office", "young": "web.monitor.csv.young", "young_share": "web.monitor.csv.young_share",
    "appointed": "web.monitor.csv.appointed", "appointed_young": "web.monitor.csv.appointed_young",
    "appointed_young_share": "web.monitor.csv.appointed_young_share", "evaluated": "web.evaluation.centers",
    "average": "web.evaluation.average", "best": "web.evaluation.best",
    "enrolled": "web.monitor.csv.enrolled", "passed": "web.monitor.csv.passed", "behind": "web.monitor.csv.behind",
    "passed_rate": "web.monitor.csv.passed_rate",
}


def table_rows(name: str, scope: Scope) -> tuple[list[tuple[str, str]], list[dict]]:
    """The CSV columns ((key, Persian header) pairs) and rows of one dashboard table: each code
    beside its Persian label, durations in hours, rates as fractions, times in the Jalali calendar."""
    columns, rows = _table(name, scope)
    levels = dict(_level_labels())
    return [(key, levels[key[len("level_"):]] if key.startswith("level_") else t(COLUMN_HEADERS[key]))
            for key in columns], rows


def _table(name: str, scope: Scope) -> tuple[list[str], list[dict]]:
    filters, now, known = scope.filters, utcnow(), deployed()

    def labelled(row: dict) -> dict:
        extra = {}
        if "process_key" in row:
            extra["process_title"] = known.title(row["process_key"])
        if row.get("step"):
            extra["step_title"] = known.task_title(row["step"])
        return {**row, **extra}
    if name == "cases":
        rows = monitoring.cases_by_status(db.session, filters, by_county=scope.by_county)
        columns = ["province", "province_name"] + (["county", "county_name"] if scope.by_county else []) + [
            "process_key", "process_title", "status", "status_label", "cases"]
        return columns, [{**labelled(row), "status_label": known.status_label(row["status"])} for row in rows]
    if name in ("steps", "end_to_end"):
        rows = monitoring.step_times(db.session, filters) if name == "steps" else \
            monitoring.end_to_end_times(db.session, filters)
        columns = (["process_key", "process_title", "step", "step_title"] if name == "steps" else
                   ["process_key", "process_title"]) + ["n", "median_hours", "p90_hours"] + (
                       ["median_working_days", "p90_working_days"] if name == "steps" else [])
        return columns, [{**labelled(row), "median_hours": _hours(row["p50"]), "p90_hours": _hours(row["p90"]),
                          **({"median_working_days": _days(row["working_p50"]),
                              "p90_working_days": _days(row["working_p90"])} if name == "steps" else {})}
                         for row in rows]
    if name == "backlog":
        rows = monitoring.backlog(db.session, filters, now)
        return ["office", "office_name", "kind", "kind_label", "open", "overdue", "oldest"], [
            {**row, "kind_label": t(f"web.office_kind.{row['kind']}")} for row in rows]
    if name == "decisions":
        rows = monitoring.decision_rates(db.session, filters)
        columns = ["process_key", "process_title", "step", "step_title", *DECISION_ACTIONS, "decisions",
                   *[f"{a}_rate" for a in DECISION_ACTIONS]]
        return columns, [{**labelled(row), **{f"{a}_rate": _rate(row[f"{a}_rate"]) for a in DECISION_ACTIONS}}
                         for row in rows]
    if name == "reports":
        return ["province_name", "county_name", "center_id", "center", "missed", "missed_periods", "flagged"], [
            {"province_name": m.province_name, "county_name": m.county_name, "center_id": m.center_id,
             "center": m.center_name, "missed": len(m.missed), "missed_periods": "، ".join(map(period_label, m.missed)),
             "flagged": t("web.reports.yes") if m.flagged else t("web.reports.no")}
            for m in _missed(scope)]
    if name in ("activity", "reach", "compliance"):
        columns = {"activity": ["centers", *(f"level_{code}" for code, _ in _level_labels()), "programmes"],
                   "reach": ["centers", "members", "participants", "population", "members_per_1000",
                             "participants_per_1000"],
                   "compliance": ["centers", "due", "filed", "compliance_rate"]}[name]
        return ["province_name", "county_name", *columns], [{k: row[k] for k in ["province_name", "county_name", *columns]}
                                                            for row in _activity(scope)]
    if name == "training":
        return ["province_name", "county_name", "enrolled", "passed", "behind", "passed_rate"], _training(scope)
    if name == "youth_trend":
        return ["year", "in_office", "young", "young_share", "appointed", "appointed_young", "appointed_young_share"], \
            _youth_trend(scope)
    if name == "evaluations":
        year, rows = _evaluation_averages(scope)
        return ["year", "province_name", "county_name", "evaluated", "average", "best"], [
            {"year": year, "province_name": r["province_name"], "county_name": r["county_name"], "evaluated": r["centers"],
             "average": r["average"] / 10, "best": r["best"] / 10} for r in rows]
    profile = monitoring.youth_profile(db.session, filters)
    if name == "ages":
        return ["band", "band_label", "n"], [{**b, "band_label": _band_label(b["band"])} for b in profile["bands"]]
    if name == "education":
        return ["education", "education_label", "n"], [
            {**e, "education_label": known.forms.choice_label("education", e["education"]) if e["education"]
             else t("web.monitor.band_unknown")} for e in profile["education"]]
    raise NotFound("table")


def _level_labels() -> list[tuple[str, str]]:
    """The activity levels of the report procedure, highest first, with their Persian labels."""
    tables = procedures.newest_tables(db.session)
    for rule in reporting.rules(tables):
        return [(code, deployed().forms.choice_label(rule.activity_levels_choices, code) if rule.activity_levels_choices
                 else code) for code, _ in reporting.activity_levels(tables, rule.process_key)]
    return []


def _per_1000(count: int, population: int | None) -> float | None:
    return None if not population else round(count * 1000 / population, 2)


def _activity(scope: Scope) -> list[dict]:
    """Per county in view: its licensed centers by activity level, their reports' reach per 1,000 of the
    county's inhabitants (``bpmn/population.json``) and the share of due reports signed
    (``workflows.reporting.county_activity``)."""
    population = (procedures.newest_tables(db.session).get("population") or {}).get("counties") or {}
    rows = []
    for c in reporting.county_activity(db.session, scope.filters.county_ids, tehran_today(utcnow())):
        people = population.get(c.county_code)
        people = people if type(people) is int and people > 0 else None
        rows.append({"province_name": c.province_name, "county_name": c.county_name, "centers": c.centers,
                     **{f"level_{code}": n for code, n in c.levels.items()}, "programmes": c.programmes,
                     "participants": c.participants, "members": c.members, "population": people,
                     "members_per_1000": _per_1000(c.members, people),
                     "participants_per_1000": _per_1000(c.participants, people), "due": c.due, "filed": c.filed,
                     "compliance_rate": _rate(c.filed / c.due) if c.due else None, "levels": c.levels})
    return rows


def _training(scope: Scope) -> list[dict]:
    """Per county in view: the managers enrolled in a training package, how many passed it (a signed
    completion names them) and how many are past its due day without."""
    today = tehran_today(utcnow())
    counties: dict[int, dict] = {}
    for e in training.enrollments(db.session, scope.filters.county_ids, today):
        row = counties.setdefault(e.county_id, {"province_name": e.province_name, "county_name": e.county_name,
                                                "enrolled": 0, "passed": 0, "behind": 0})
        row["enrolled"] += 1
        row["passed"] += e.passed_case is not None
        row["behind"] += e.behind(today)
    return [{**row, "passed_rate": _rate(row["passed"] / row["enrolled"])}
            for row in sorted(counties.values(), key=lambda r: (r["province_name"], r["county_name"]))]


def _youth_trend(scope: Scope) -> list[dict]:
    return monitoring.youth_trend(db.session, scope.filters, tehran_today(utcnow()))


def _evaluation_averages(scope: Scope) -> tuple[int | None, list[dict]]:
    """The newest year with confirmed evaluations in view, and each county's centers evaluated, average and
    best total (tenths) in it, best average first."""
    found = evaluation.confirmed_evaluations(db.session, scope.filters.county_ids)
    if not found:
        return None, []
    year = max(e.year for e in found)
    return year, evaluation.county_averages(found, year)


def _missed(scope: Scope) -> list:
    """The centers in view that missed a report, flagged first (``workflows.reporting``)."""
    return reporting.missed_reports(db.session, scope.filters.county_ids, tehran_today(utcnow()))


@bp.route("/monitoring")
@login_required
def index():
    try:
        scope = read_scope(current_user, request.args)
    except InvalidInput as error:
        _require_monitor(current_user)
        return render_template("monitoring.html", messages=error_messages(error.errors), scope=None,
                               args=request.args, **_choices(current_user, None)), 422
    filters, now = scope.filters, utcnow()
    args = request.args.copy()
    if "from" not in args and "to" not in args:  # the default range, shown in the form and kept by the CSV links
        args["from"] = to_persian_digits(jalali_iso(filters.date_from))
    export_args = query_without(args)
    if filters.date_from is None and filters.date_to is None:
        export_args["from"] = ""  # every day, asked for explicitly
    cases = monitoring.cases_by_status(db.session, filters, by_county=scope.by_county)
    area_key = "county_name" if scope.by_county else "province_name"
    per_area: dict[str, int] = {}
    for row in cases:
        per_area[row[area_key]] = per_area.get(row[area_key], 0) + row["cases"]
    steps = monitoring.step_times(db.session, filters)
    end_to_end = monitoring.end_to_end_times(db.session, filters)
    backlog = monitoring.backlog(db.session, filters, now)
    office_ids = filters.office_ids if filters.office_ids is not None else db.session.scalars(
        select(Office.id).where(Office.kind != "hq")).all()
    unstaffed = absences.unstaffed_offices(db.session, tehran_today(now), office_ids)
    decisions = monitoring.decision_rates(db.session, filters)
    youth = monitoring.youth_profile(db.session, filters)
    missed = _missed(scope)
    activity, levels, trend, trained = _activity(scope), _level_labels(), _youth_trend(scope), _training(scope)
    evaluation_year, evaluations = _evaluation_averages(scope)
    charts = {
        "cases": bar_chart(sorted(per_area.items(), key=lambda item: -item[1])[:20], title=t("web.monitor.cases")),
        "steps": bar_chart([(_step_label(r["process_key"], r["step"]), r["p50"] / 86400) for r in steps],
                           title=t("web.monitor.steps")),
        "backlog": bar_chart([(r["office_name"], r["overdue"]) for r in backlog[:15]], title=t("web.monitor.overdue")),
        "decisions": stacked_chart([(_step_label(r["process_key"], r["step"]), [r[a] for a in DECISION_ACTIONS])
                                    for r in decisions], title=t("web.monitor.decisions"),
                                   series=[t(f"web.action.{a}") for a in DECISION_ACTIONS]),
        "ages": bar_chart([(_band_label(b["band"]), b["n"]) for b in youth["bands"]], title=t("web.monitor.ages")),
        "activity": stacked_chart([(r["county_name"], [r["levels"].get(code, 0) for code, _ in levels]) for r in activity],
                                  title=t("web.monitor.activity"), series=[label for _, label in levels]),
        "reach": bar_chart([(r["county_name"], r["participants_per_1000"]) for r in activity
                            if r["participants_per_1000"] is not None], title=t("web.monitor.reach_chart")),
        "compliance": bar_chart([(r["county_name"], round(r["compliance_rate"] * 100, 1)) for r in activity
                                 if r["compliance_rate"] is not None], title=t("web.monitor.compliance_chart"),
                                fmt=lambda v: to_persian_digits(f"{v:g}") + "٪"),
        "youth_trend": bar_chart([(to_persian_digits(str(r["year"])), round(r["young_share"] * 100, 1))
                                  for r in trend if r["young_share"] is not None],
                                 title=t("web.monitor.youth_trend_chart"), fmt=lambda v: to_persian_digits(f"{v:g}") + "٪"),
        "evaluations": bar_chart([(r["county_name"], r["average"] / 10) for r in evaluations[:20]],
                                 title=t("web.evaluation.average_chart")),
        "training": stacked_chart([(r["county_name"], [r["passed"], r["enrolled"] - r["passed"] - r["behind"], r["behind"]])
                                   for r in trained], title=t("web.monitor.training"),
                                  series=[t("web.monitor.csv.passed"), t("web.monitor.training_open"),
                                          t("web.monitor.csv.behind")]),
    }
    return render_template(
        "monitoring.html", scope=scope, messages=[], cases=cases, steps=steps, end_to_end=end_to_end,
        backlog=backlog, unstaffed=unstaffed, decisions=decisions, youth=youth, charts=charts, duration=duration_text,
        missed=missed, period_label=period_label, activity=activity, levels=levels, trend=trend,
        evaluation_year=evaluation_year, evaluations=evaluations, score_text=score_text, trained=trained,
        population_source=(procedures.newest_tables(db.session).get("population") or {}).get("source", ""),
        step_label=_step_label, band_label=_band_label, area_key=area_key, args=args,
        export_args=export_args, now=now, **_choices(current_user, scope))


def _band_label(band: str) -> str:
    if band == "unknown":
        return t("web.monitor.band_unknown")
    low, high = band.split("-")
    if not low:
        return t("web.monitor.band_upto", high=to_persian_digits(high))
    if not high:
        return t("web.monitor.band_from", low=to_persian_digits(low))
    return t("web.monitor.band", low=to_persian_digits(low), high=to_persian_digits(high))


def _choices(user: User, scope: Scope | None) -> dict:
    within = None if user.role in access.READ_ALL_ROLES else access.office_subtree_ids(db.session, user.office_id)
    province = scope.province if scope else None
    return {"provinces": list(_offices("province", within).values()),
            "counties": list(_offices("county", access.office_subtree_ids(db.session, province.id)
                                      if province else within).values()),
            "tables": TABLES}


@bp.route("/monitoring/<table>.csv")
@login_required
def export(table: str):
    if table not in TABLES:
        raise NotFound("table")
    scope = read_scope(current_user, request.args)
    columns, rows = table_rows(table, scope)
    return csv_response(columns, rows, f"monitoring-{table}.csv")
