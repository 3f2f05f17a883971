"""The working calendar page: an office's days off for a Jalali year with where each comes from, and the
form where headquarters or a province head declares a closure (signed with their PIN; the deadlines it
reaches move at once, each move a signed record of its case).

Every person of an office reads the calendar of their office (headquarters: of any office); others get 404.
"""
from __future__ import annotations

import jdatetime
from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

import forms
from forms import t
from web.extensions import db
from web.listing import error_messages
from web.transaction import commits
from workflows import access, timers, working_time
from workflows.errors import Forbidden, InvalidInput, NotFound, WrongPin
from workflows.keys import unlock_signer
from workflows.models import Office, User, tehran_today, utcnow
from workflows.people import system_user

__all__ = ["bp"]

bp = Blueprint("calendar", __name__, url_prefix="/calendar")
CLOSURE_FIELDS = ("first_day", "last_day", "reason", "offices")
#: the years the page offers around today
YEARS_AROUND = 2


def _reader() -> User:
    user = current_user._get_current_object()
    if user.office_id is None and not access.has_capability(user, "read_all"):
        raise NotFound("calendar")
    return user


def _may_declare(user: User) -> bool:
    return access.has_capability(user, "administer") or (user.role == "province_head" and user.office_id is not None)


def _offices(user: User) -> list[Office]:
    """The offices whose calendar the person may read: headquarters all, a province its own and its counties,
    a county office itself."""
    query = select(Office).where(Office.kind != "hq").order_by(Office.kind.desc(), Office.number, Office.code)
    if not access.has_capability(user, "read_all"):
        office = db.session.get(Office, user.office_id)
        province = office if office.kind == "province" else office.parent
        query = query.where((Office.id == province.id) | (Office.parent_id == province.id)) \
            if office.kind == "province" else query.where(Office.id == office.id)
    return list(db.session.scalars(query))


def _page(status: int = 200, errors: dict | None = None, values: dict | None = None):
    user = _reader()
    offices = _offices(user)
    by_code = {office.code: office for office in offices}
    own = db.session.get(Office, user.office_id) if user.office_id else None
    chosen = by_code.get(request.args.get("office", "")) or (own if own in offices else None)
    this_year = jdatetime.date.fromgregorian(date=tehran_today(utcnow())).year
    years = list(range(this_year - 1, this_year + YEARS_AROUND))
    year = request.args.get("year", "")
    year = int(forms.normalize_digits(year)) if forms.normalize_digits(year).isdigit() and \
        int(forms.normalize_digits(year)) in years else this_year
    calendar = working_time.calendar_for(db.session, chosen)
    days = calendar.year(year)
    weekly = sorted(calendar.weekly_off, key=lambda day: (day + 2) % 7)  # Saturday first
    return render_template(
        "calendar.html", offices=offices, chosen=chosen, years=years, year=year, days=days, calendar=calendar,
        weekly=[working_time.WEEKDAYS[day] for day in weekly], source=calendar.year_source(year),
        closures=[c for c in calendar.closures], may_declare=_may_declare(user),
        errors=errors or {}, values=values or {}, messages=error_messages(errors or {}),
        jalali_day=lambda day: jdatetime.date.fromgregorian(date=day)), status


@bp.route("")
@login_required
def index():
    return _page()


@bp.route("/closures", methods=["POST"])
@login_required
@commits
def declare():
    """Declare a closure with the person's PIN; the deadlines of the cases it reaches move by the system's key."""
    user = _reader()
    if not _may_declare(user):
        raise NotFound("calendar")
    values = {name: request.form.get(name, "") for name in CLOSURE_FIELDS}
    data = {**values, "offices": [code for code in request.form.getlist("offices") if code]}
    now = utcnow()
    try:
        closure = working_time.declare_closure(db.session, user, data=data, pin=forms.normalize_digits(
            request.form.get("pin", "")), now=now)
        system = system_user(db.session)
        moved = timers.move_deadlines(db.session, closure, now=now, system=system,
                                      signer=unlock_signer(db.session, system, current_app.config["SYSTEM_SIGNING_PIN"]))
    except InvalidInput as error:
        db.session.rollback()
        return _page(422, error.errors, values)
    except WrongPin:
        db.session.rollback()
        return _page(422, {"pin": [t("web.error.wrong_pin")]}, values)
    except Forbidden:
        db.session.rollback()
        raise NotFound("calendar") from None
    flash(t("web.calendar.declared", seq=forms.to_persian_digits(str(closure.seq)),
            moved=forms.to_persian_digits(str(len(moved)))), "success")
    return redirect(url_for("calendar.index", office=closure.offices[0] if closure.offices else None,
                            year=jdatetime.date.fromgregorian(date=closure.first_day).year))


@bp.route("/days-off.json")
@login_required
def days_off():
    """The days off the date picker marks: of the person's office (everyone else: the country's), last year
    to the year after next; weekly days off by the picker's weekday numbers (Saturday 0 … Friday 6)."""
    user = current_user._get_current_object()
    calendar = working_time.calendar_for(db.session, user.office_id)
    this_year = jdatetime.date.fromgregorian(date=tehran_today(utcnow())).year
    days: dict[str, str] = {}
    for year in range(this_year - 1, this_year + YEARS_AROUND):
        for off in calendar.year(year):
            days.setdefault(off.day.isoformat(), off.name)
    response = jsonify({"weekly": sorted((day + 2) % 7 for day in calendar.weekly_off), "days": days,
                        "version": calendar.version})
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
