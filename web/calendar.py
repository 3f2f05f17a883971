"""The working calendar page: an office's days off for a Jalali year with where each comes from, and the
form where headquarters or a province head declares a closure (signed with their PIN; the deadlines it
reaches move at once, each move a signed record of its case).

The leave page: a person records their leave; an office head (or the province head above a county office)
names a substitute for an absent colleague (``workflows.absences``), each signed with their PIN.

Every person of an office reads the calendar of their office (headquarters: of any office); others get 404.
"""
from __future__ import annotations

from itertools import groupby

import jdatetime
from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

import forms
from forms import t
from web.extensions import db
from web.listing import choice_arg, error_messages, int_arg
from web.transaction import commits, refusal
from workflows import absences, access, procedures, timers, working_time
from workflows.errors import Forbidden, InvalidInput, NotFound
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
    this_year = jdatetime.date.fromgregorian(date=tehran_today(utcnow())).year
    years = list(range(this_year - 1, this_year + YEARS_AROUND))
    address: list[str] = []  # a bad parameter: the person's own office and this year, with what was wrong said
    try:
        code = choice_arg(request.args, "office", tuple(by_code))
    except InvalidInput:
        code, status = None, 422
        address.append(t("web.calendar.office_invalid"))
    try:
        year = int_arg(request.args, "year", this_year, minimum=years[0], maximum=years[-1])
    except InvalidInput:
        year, status = this_year, 422
        address.append(t("web.calendar.year_invalid", years="، ".join(forms.to_persian_digits(str(y)) for y in years)))
    chosen = by_code.get(code) if code else (own if own in offices else None)
    calendar = working_time.calendar_for(db.session, chosen)
    days = [(day, list(offs)) for day, offs in groupby(calendar.year(year), key=lambda off: off.day)]
    weekly = sorted(calendar.weekly_off, key=lambda day: (day + 2) % 7)  # Saturday first
    return render_template(
        "calendar.html", offices=offices, chosen=chosen, years=years, year=year, days=days, calendar=calendar,
        weekly=[working_time.WEEKDAYS[day] for day in weekly], source=calendar.year_source(year),
        closures=[c for c in calendar.closures], may_declare=_may_declare(user),
        errors=errors or {}, values=values or {}, messages=error_messages(errors or {}), address_messages=address,
        weekdays=working_time.WEEKDAYS), status


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

    def declare_and_move():
        closure = working_time.declare_closure(db.session, user, data=data, pin=forms.normalize_digits(
            request.form.get("pin", "")), now=now)
        system = system_user(db.session)
        return closure, timers.move_deadlines(db.session, closure, now=now, system=system, signer=unlock_signer(
            db.session, system, current_app.config["SYSTEM_SIGNING_PIN"]))

    try:
        done, errors = refusal(declare_and_move)
    except Forbidden:
        raise NotFound("calendar") from None
    if errors:
        return _page(422, errors, values)
    closure, moved = done
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


# --- leave and substitutes -------------------------------------------------------------------------------

LEAVE_FIELDS = ("person", "first_day", "last_day")
SUBSTITUTE_FIELDS = ("absent", "substitute", "first_day", "last_day")


def _headed(user: User) -> list[User]:
    """The people whose substitute this person names: a county head their office's, a province head their
    office's and its counties'."""
    if user.role == "county_head":
        offices = [user.office_id]
    elif user.role == "province_head":
        offices = [user.office_id, *db.session.scalars(select(Office.id).where(Office.parent_id == user.office_id))]
    else:
        return []
    return list(db.session.scalars(select(User).where(User.office_id.in_(offices), User.active)
                                   .order_by(User.office_id, User.full_name)))


def _leave_page(status: int = 200, errors: dict | None = None, values: dict | None = None, form: str | None = None):
    user = current_user._get_current_object()
    if user.office_id is None or not access.is_office_role(user.role):
        raise NotFound("leave")
    headed = _headed(user)
    ids = {user.id} | {person.id for person in headed}
    today = tehran_today(utcnow())
    shown = [leave for leave in absences.leaves(db.session, user_ids=ids) if leave.last_day >= today]
    people = {person.id: person for person in db.session.scalars(select(User).where(User.id.in_(
        ids | {s.substitute_id for s in access.substitutions(db.session)})))}
    substitutions = [s for s in access.substitutions(db.session) if s.last_day >= today
                     and (s.absent_id in ids or s.substitute_id == user.id)]
    candidates = list(db.session.scalars(select(User).where(User.active, User.office_id.in_(
        {person.office_id for person in headed} | {person.office.parent_id for person in headed if person.office}))
        .order_by(User.office_id, User.full_name))) if headed else []
    return render_template(
        "leave.html", leaves=shown, substitutions=substitutions, people=people, headed=headed,
        candidates=[c for c in candidates if access.is_office_role(c.role)],
        procedures=procedures.catalogue(db.session).current, errors=errors or {}, values=values or {},
        form=form, messages=error_messages(errors or {}), today=today), status


@bp.route("/leave")
@login_required
def leave():
    return _leave_page()


def _sign(form_name: str, fields: tuple[str, ...], change, done_key: str):
    values = {name: request.form.get(name, "") for name in fields}
    try:
        result, errors = refusal(lambda: change(values, forms.normalize_digits(request.form.get("pin", ""))))
    except Forbidden:
        raise NotFound("leave") from None
    if errors:
        return _leave_page(422, errors, values, form_name)
    flash(t(done_key, seq=forms.to_persian_digits(str(result.seq))), "success")
    return redirect(url_for("calendar.leave"))


@bp.route("/leave", methods=["POST"])
@login_required
@commits
def record_leave():
    user = current_user._get_current_object()
    return _sign("leave", LEAVE_FIELDS, lambda values, pin: absences.record_leave(
        db.session, user, data=values, pin=pin, now=utcnow()), "web.leave.recorded")


@bp.route("/substitutes", methods=["POST"])
@login_required
@commits
def name_substitute():
    user = current_user._get_current_object()
    keys = [key for key in request.form.getlist("process_keys") if key]
    return _sign("substitute", SUBSTITUTE_FIELDS, lambda values, pin: absences.name_substitute(
        db.session, user, data={**values, "process_keys": keys}, pin=pin, now=utcnow()), "web.leave.named")
