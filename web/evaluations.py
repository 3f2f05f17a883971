"""The yearly evaluation scores (ارزیابی سالانه کانون‌ها): each confirmed score of a year with its rank in
its county and province, the counties' averages, and the CSV of them.

A county's people see their county's centers (ranked within the whole province); a province's people
their province; headquarters the country, narrowed to a province or a county by the query. Scores are
what the evaluations' records signed (``workflows.evaluation``).
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select

from forms import t, to_persian_digits
from web.charts import bar_chart
from web.extensions import db
from web.listing import choice_arg, csv_response, error_messages, int_arg, query_without
from web.scope import by_name, level_label, score_text
from workflows import access, evaluation
from workflows.errors import Forbidden, InvalidInput
from workflows.models import Office, User, tehran_today, utcnow

__all__ = ["bp"]

bp = Blueprint("evaluations", __name__)


@dataclass(frozen=True)
class View:
    year: int
    #: the years with confirmed scores in view, newest first
    years: list[int]
    rows: list[evaluation.Evaluation]
    #: per county: name, province, centers scored, average and best total (tenths), rank by average
    counties: list[dict]
    county: Office | None
    counties_choice: list[Office]


def _view(user: User, args) -> View:
    """The scores of a year in the user's view; InvalidInput for a bad parameter, Forbidden for people
    without an office's or headquarters' view."""
    if user.role not in access.READ_ALL_ROLES and not (access.is_office_role(user.role) and user.office is not None):
        raise Forbidden("evaluations are for the offices and headquarters")
    office = user.office
    if user.role in access.READ_ALL_ROLES:
        within = None
    elif office.kind == "county":  # ranked within its province; shown for the county
        within = access.office_subtree_ids(db.session, office.parent_id)
    else:
        within = access.office_subtree_ids(db.session, office.id)
    counties = by_name(db.session.scalars(select(Office).where(Office.kind == "county", *(
        [Office.id.in_(within)] if within is not None else []))))
    shown = [c for c in counties if office is None or office.kind != "county" or c.id == office.id]
    errors: dict[str, list[str]] = {}
    try:
        code = choice_arg(args, "county", tuple(c.code for c in shown))
    except InvalidInput as error:
        errors.update(error.errors)
        code = None
    try:
        asked = int_arg(args, "year", None, minimum=1300, maximum=1600)
    except InvalidInput as error:
        errors.update(error.errors)
        asked = None
    if errors:
        raise InvalidInput(errors)
    county = next((c for c in shown if c.code == code), None)
    every = evaluation.confirmed_evaluations(db.session, [c.id for c in counties] if within is not None else None)
    visible = {c.id for c in ([county] if county else shown)}
    every = [e for e in every if e.county_id in visible]
    years = sorted({e.year for e in every}, reverse=True)
    year = asked or (years[0] if years else evaluation.year_of(tehran_today(utcnow())))
    rows = [e for e in every if e.year == year]
    summary = evaluation.county_averages(every, year)
    return View(year, years, rows, summary, county, shown)


COLUMNS = ("year", "province_name", "county_name", "center_id", "center", "total", "level", "county_rank",
           "province_rank", "confirmed_on")


def _csv_rows(view: View) -> list[dict]:
    return [{"year": e.year, "province_name": e.province_name, "county_name": e.county_name, "center_id": e.center_id,
             "center": e.center_name, "total": f"{e.total_tenths // 10}.{e.total_tenths % 10}", "level": level_label(e.level),
             "county_rank": e.county_rank, "province_rank": e.province_rank, "confirmed_on": e.confirmed_on}
            for e in view.rows]


@bp.route("/evaluations")
@login_required
def index():
    try:
        view = _view(current_user, request.args)
    except InvalidInput as error:
        return render_template("evaluations.html", view=None, messages=error_messages(error.errors),
                               args=request.args), 422
    chart = bar_chart([(c["county_name"], c["average"] / 10) for c in view.counties[:20]],
                      title=t("web.evaluation.average_chart"))
    return render_template("evaluations.html", view=view, messages=[], args=request.args, chart=chart,
                           score_text=score_text, level=level_label, export_args=query_without(request.args),
                           persian=lambda n: to_persian_digits(str(n)))


@bp.route("/evaluations.csv")
@login_required
def export():
    view = _view(current_user, request.args)
    columns = [(key, t(f"web.evaluation.csv.{key}")) for key in COLUMNS]
    return csv_response(columns, _csv_rows(view), f"evaluations-{view.year}.csv")
