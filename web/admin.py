"""Administration pages: offices, people, roles, deactivation, the signed admin log; and the page
where a person made by an administrator chooses their signing PIN.

Every administrative change is signed with the administrator's PIN into the admin log.
Pages here answer 404 to anyone without the ``administer`` capability.
"""
from __future__ import annotations

import json
import re

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, or_, select

import forms
from forms import t
from web.extensions import db
from web.listing import error_messages, page_args, query_without, text_arg
from web.scope import deployed
from web.transaction import commits, refusal
from workflows import access, admin, moves, pki, procedures
from workflows.errors import Conflict, InvalidInput, NotFound, StalePlan
from workflows.keys import active_key, issue_key
from workflows.models import Case, Office, ProcessDefinition, User, utcnow

__all__ = ["bp", "account_bp", "refresh_pki"]

bp = Blueprint("admin", __name__, url_prefix="/admin")
account_bp = Blueprint("account", __name__)

#: the fields of each change form (a password never enters the signed log)
OFFICE_FIELDS = ("code", "name", "kind", "parent", "number")
USER_FIELDS = ("username", "full_name", "role", "office", "password", "mobile", "email", "agency")
MIN_PIN = 4
#: a procedure version: the hex SHA-256 of its sources
_VERSION = re.compile(r"[0-9a-f]{64}")


def refresh_pki() -> None:
    """Give new offices their CAs and new keys their certificates (the PKI adds only what is missing)."""
    pki.ensure(db.session, current_app.config["CA_KEY_PASSPHRASE"])


def _admin() -> User:
    if not access.has_capability(current_user, "administer"):
        raise NotFound("admin")
    return current_user._get_current_object()


def _form(fields: tuple[str, ...]) -> dict:
    return {name: request.form.get(name, "") for name in fields}


def _page(status: int = 200, errors: dict | None = None, values: dict | None = None, form: str | None = None):
    """The admin page: offices, people (search, pages), the forms; errors next to the form that had them."""
    try:
        page, per_page = page_args(request.args)
    except InvalidInput as error:
        page, per_page, errors, status = 1, 25, {**(errors or {}), **error.errors}, 422
    q = text_arg(request.args, "q")
    query = select(User).where(User.role != "system")
    if q:
        query = query.where(or_(User.username.contains(q, autoescape=True), User.full_name.contains(q, autoescape=True)))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    users = db.session.scalars(query.order_by(User.id).limit(per_page).offset((page - 1) * per_page)).all()
    offices = db.session.scalars(select(Office).order_by(Office.kind.desc(), Office.number, Office.code)).all()
    return render_template(
        "admin.html", users=users, offices=offices, total=total, page=page, pages=max(1, -(-total // per_page)),
        q=q, errors=errors or {}, values=values or {}, form=form, roles=admin.ASSIGNABLE_ROLES,
        messages=error_messages(errors or {}), args=query_without(request.args, "page"),
        parents=[o for o in offices if o.kind in ("hq", "province")],
    ), status


@bp.route("")
@login_required
def index():
    _admin()
    return _page()


def _apply(form_name: str, fields: tuple[str, ...], change):
    """Run one signed change from a posted form (the view commits it); the page again with errors if it fails."""
    user = _admin()
    values = _form(fields)
    result, errors = refusal(lambda: change(user, values, forms.normalize_digits(request.form.get("pin", ""))))
    if errors:
        return _page(422, errors, values, form_name)
    refresh_pki()
    flash(t(f"web.admin.done.{form_name.split('_')[0]}", seq=forms.to_persian_digits(str(result.record.seq))),
          "success")
    return redirect(url_for("admin.index"))


@bp.route("/offices", methods=["POST"])
@login_required
@commits
def add_office():
    return _apply("office", OFFICE_FIELDS,
                  lambda user, values, pin: admin.add_office(db.session, user, data=values, pin=pin))


@bp.route("/users", methods=["POST"])
@login_required
@commits
def add_user():
    return _apply("user", USER_FIELDS,
                  lambda user, values, pin: admin.add_user(db.session, user, data=values, pin=pin))


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@login_required
@commits
def assign_role(user_id: int):
    _admin()
    if db.session.get(User, user_id) is None:
        raise NotFound("user")
    return _apply(f"role_{user_id}", ("role", "office"),
                  lambda user, values, pin: admin.assign_role(db.session, user, user_id=user_id, data=values, pin=pin))


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@login_required
@commits
def deactivate(user_id: int):
    _admin()
    if db.session.get(User, user_id) is None:
        raise NotFound("user")
    try:
        return _apply(f"deactivate_{user_id}", ("reason",), lambda user, values, pin: admin.deactivate_user(
            db.session, user, user_id=user_id, data=values, pin=pin))
    except Conflict:
        db.session.rollback()
        flash(t("web.admin.already_inactive"), "error")
        return redirect(url_for("admin.index"))


def _versions() -> dict[str, list[dict]]:
    """Every deployed procedure's versions, newest first, each with its deployment time and running cases."""
    running = dict(db.session.execute(select(Case.spec_version, func.count()).where(Case.outcome.is_(None))
                                      .group_by(Case.spec_version)).all())
    rows = db.session.execute(select(ProcessDefinition.process_key, ProcessDefinition.version,
                                     ProcessDefinition.deployed_at)
                              .order_by(ProcessDefinition.process_key, ProcessDefinition.deployed_at.desc())).all()
    versions: dict[str, list[dict]] = {}
    for key, version, deployed_at in rows:
        versions.setdefault(key, []).append({"version": version, "deployed_at": deployed_at,
                                             "running": running.get(version, 0)})
    return versions


def _versions_page(status: int = 200, message: str | None = None):
    return render_template("admin_procedures.html", versions=_versions(),
                           messages=[message] if message else []), status


@bp.route("/procedures")
@login_required
def procedure_versions():
    """Every deployed procedure with its versions, newest first, and the running cases on each."""
    _admin()
    return _versions_page()


def _not_deployed(process_key: str, to_version: str | None) -> str | None:
    """The catalogue key saying what an address names that is not deployed (the procedure, or the
    version of it), None when both are; the version's shape is checked before the database sees it
    (PostgreSQL refuses a NUL in a query)."""
    if process_key not in deployed().current:
        return "web.moves.unknown_procedure"
    if to_version is not None:
        if not _VERSION.fullmatch(to_version):
            return "web.moves.unknown_version"
        try:
            moves.target_version(db.session, process_key, to_version)
        except NotFound:
            return "web.moves.unknown_version"
    return None


def _moves_page(process_key: str, report: moves.MoveReport, status: int = 200, errors: dict | None = None,
                chosen: set[int] | None = None):
    procedure = procedures.of_version(db.session, report.to_version)
    titles = procedures.task_titles(db.session, report.to_version)
    ids = [m.case_id for m in report.moves]
    by_id = {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(ids)))} if ids else {}
    # where a case is now, in the words of the version it is on
    now = {c.id: procedures.of_version(db.session, c.spec_version).status_label(c.status) for c in by_id.values()}
    return render_template("admin_moves.html", process_key=process_key, report=report, procedure=procedure,
                           titles=titles, cases=by_id, now=now, errors=errors or {},
                           messages=error_messages(errors or {}), chosen=chosen,
                           versions=_versions().get(process_key, [])), status


def _chosen_cases() -> dict[int, int]:
    """The ticked cases, each with the lock version the plan showed it at (-1 when the form lacks it:
    a plan nobody read is stale)."""
    chosen = {}
    for value in request.form.getlist("case"):
        if value.isascii() and value.isdigit() and len(value) <= 12:
            seen = request.form.get(f"seen-{value}", "")
            chosen[int(value)] = int(seen) if seen.isascii() and seen.isdigit() and len(seen) <= 12 else -1
    return chosen


@bp.route("/procedures/<process_key>/moves", methods=["GET"])
@login_required
def plan_moves(process_key: str):
    """The dry run: where each running case would land on the version (the newest by default), or why not."""
    _admin()
    to_version = request.args.get("to") or None
    if unknown := _not_deployed(process_key, to_version):
        return _versions_page(404, t(unknown))
    return _moves_page(process_key, moves.plan_moves(db.session, process_key, to_version))


@bp.route("/procedures/<process_key>/moves", methods=["POST"])
@login_required
@commits
def move_cases(process_key: str):
    """Move the ticked cases, each with a record signed by the administrator; the outcome, case by case.
    A wrong PIN, nothing ticked or a plan a case changed since moves nothing."""
    user = _admin()
    to_version = request.form.get("to") or None
    if unknown := _not_deployed(process_key, to_version):
        return _versions_page(404, t(unknown))
    chosen = _chosen_cases()

    def again(status: int, errors: dict):
        db.session.rollback()
        return _moves_page(process_key, moves.plan_moves(db.session, process_key, to_version), status, errors,
                           set(chosen))

    if not chosen:
        return again(422, {"case": [t("web.moves.none_chosen")]})
    try:
        report, errors = refusal(lambda: moves.move_cases(
            db.session, user, forms.normalize_digits(request.form.get("pin", "")), process_key, to_version,
            list(chosen), now=utcnow(), seen=chosen))
    except StalePlan as stale:
        cases = "، ".join(f"#{forms.to_persian_digits(str(i))}" for i in stale.case_ids)
        return again(409, {"plan": [t("web.moves.stale", cases=cases)]})
    if errors:
        return again(422, errors)
    flash(t("web.moves.done", moved=forms.to_persian_digits(str(len(report.moved))),
            stuck=forms.to_persian_digits(str(len(report.stuck)))), "success" if not report.stuck else "error")
    return _moves_page(process_key, report)


@bp.route("/log")
@login_required
def log():
    """The signed admin log, newest first, with its chain verified now."""
    _admin()
    try:
        page, per_page = page_args(request.args)
    except InvalidInput as error:
        return render_template("admin_log.html", rows=[], total=0, page=1, pages=1, report=None,
                               messages=error_messages(error.errors), args={}), 422
    rows, total = admin.admin_records(db.session, page=page, per_page=per_page)
    return render_template("admin_log.html", rows=rows, total=total, page=page, pages=max(1, -(-total // per_page)),
                           report=admin.verify_admin_log(db.session), messages=[],
                           args=query_without(request.args, "page"), loads=json.loads)


@account_bp.route("/account/pin", methods=["GET", "POST"])
@login_required
@commits
def choose_pin():
    """A person without a signing key (made by an administrator) chooses their PIN: the key is made now."""
    user = current_user._get_current_object()
    if active_key(db.session, user) is not None or user.role in ("agency", "system"):
        flash(t("web.account.has_key"), "success")
        return redirect(url_for("pages.cases"))
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        pin = forms.normalize_digits(request.form.get("pin", ""))
        if len(pin) < MIN_PIN or not pin.isdigit():
            errors["pin"] = [t("web.account.pin_short", min=forms.to_persian_digits(str(MIN_PIN)))]
        elif pin != forms.normalize_digits(request.form.get("pin_again", "")):
            errors["pin_again"] = [t("web.account.pin_mismatch")]
        else:
            issue_key(db.session, user, pin)
            refresh_pki()
            flash(t("web.account.key_made"), "success")
            return redirect(url_for("pages.cases"))
    return render_template("account_pin.html", errors=errors), (422 if errors else 200)
