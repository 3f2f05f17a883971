"""The center registry: search, a center's history, exports for the national portal, starting procedures."""
from __future__ import annotations

import json
from datetime import date, datetime

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from forms import normalize_numeric, normalize_text, parse_jalali, t
from web.extensions import db
from web.listing import csv_response
from web import signboard
from web.scope import by_name, deployed, level_label, score_text
from web.transaction import commits
from signing import parse_time
from workflows import access, evaluation, facts, procedures, registry, terms, training
from workflows.cases import start_case
from workflows.errors import NotFound
from workflows.models import Case, Center, Office, User, tehran_today, utcnow

bp = Blueprint("registry", __name__)

#: the fields of a registry export, in order: the JSON export's keys
EXPORT_FIELDS = ("center_id", "center_name", "mosque_name", "province", "county", "address", "postal_code",
                 "license_number", "license_status", "license_status_since", "license_suspended_until",
                 "license_issued_at", "manager_national_id", "manager_name", "manager_since", "manager_interim", "proved")
#: the CSV export's columns: a code a machine reads sits beside its Persian label
CSV_COLUMNS = ("center_id", "center_name", "mosque_name", "province", "province_name", "county", "county_name",
               "address", "postal_code", "license_number", "license_status", "license_status_label",
               "license_status_since", "license_suspended_until", "license_issued_at", "manager_national_id", "manager_name", "manager_since", "manager_interim",
               "proved")


def _scope(user: User) -> list[int] | None:
    """County office ids the user may see centers of; None for everywhere; [] for none."""
    if user.role in access.READ_ALL_ROLES:
        return None
    if user.office_id is None:
        return []
    return access.office_subtree_ids(db.session, user.office_id)


def center_or_404(user: User, center_id: int) -> Center:
    """A center in the user's jurisdiction (an applicant's own); NotFound otherwise."""
    center = db.session.get(Center, center_id)
    if center is None:
        raise NotFound("center")
    scope = _scope(user)
    if user.role == "applicant":
        if center.applicant_id != user.id:
            raise NotFound("center")
    elif scope is not None and center.county_office_id not in scope:
        raise NotFound("center")
    return center


def search_visible_centers(user: User, args: MultiDict) -> list[Center]:
    """Registry search within the user's jurisdiction."""
    # normalized like the other filters: PostgreSQL refuses a NUL in a query parameter
    code = normalize_text(args.get("county", ""))[:32]
    county = db.session.scalars(select(Office).where(Office.code == code)).first()
    if user.role == "applicant":
        return list(db.session.scalars(select(Center).where(Center.applicant_id == user.id).order_by(Center.id)))
    return registry.search_centers(
        db.session, county_ids=_scope(user), text=normalize_text(args.get("q", ""))[:100],
        license_number=normalize_numeric(args.get("license_number", ""))[:32],
        manager_national_id=normalize_numeric(args.get("national_id", ""))[:10],
        county_id=county.id if county else None)


def checked(centers: list[Center]) -> dict[int, tuple[facts.ProvedCenter, list[facts.FactProblem]]]:
    """Each center's facts as its signed records wrote them, and where its stored rows differ."""
    return facts.check_centers(db.session, [c.id for c in centers])


def center_json(center: Center, check: tuple[facts.ProvedCenter, list[facts.FactProblem]], *,
                full: bool = False) -> dict:
    """A center as its signed records say (never the stored row's copy); ``proved`` is false and
    ``problems`` says why when the stored rows differ from the records."""
    proved, problems = check
    signed = proved.center or {}
    current = proved.current_term
    data = {"id": center.id, "name": signed.get("name"), "mosque_name": signed.get("mosque_name"),
            "county": signed.get("county"), "address": signed.get("address"), "postal_code": signed.get("postal_code"),
            "license": _license_json(proved.license) if proved.license else None,
            "manager": _term_json(current) if current else None,
            # the term in force ran past its planned end with no renewal and no successor
            "manager_term_expired": bool(current) and terms.expired(current["planned_end"], tehran_today(utcnow())),
            "next_manager": _term_json(proved.next_term) if proved.next_term else None,
            "proved": not problems, "problems": [f"{p.subject}.{p.field}: {p.code}" for p in problems]}
    if full:
        data["terms"] = [_term_json(term) for term in proved.terms]
        data["cases"] = [{"id": c.id, "process_key": c.process_key, "status": c.status}
                         for c in db.session.scalars(select(Case).where(Case.center_id == center.id))]
    return data


def _license_json(license_: dict) -> dict:
    """A license as proved, its status the one it has today (a suspension past its last day is over)."""
    return {"number": license_["number"], "issued_at": parse_time(license_["issued_at"]).isoformat(),
            **facts.license_today(license_, tehran_today(utcnow()))}


def _term_json(term: dict) -> dict:
    return {**{name: term[name] for name in ("national_id", "full_name", "start_date", "planned_end", "end_date",
                                             "end_reason", "interim")},
            "renewals": len(term.get("renewed_by", []))}


def export_rows(centers: list[Center]) -> list[dict]:
    """One flat row per center, the fields of EXPORT_FIELDS, from the signed records."""
    rows = []
    checks = checked(centers)
    offices = {o.code: o for o in db.session.scalars(select(Office))}
    for center in centers:
        data = center_json(center, checks[center.id])
        license_, manager = data["license"] or {}, data["manager"] or {}
        county = offices.get(data["county"])
        rows.append({
            "center_id": center.id, "center_name": data["name"], "mosque_name": data["mosque_name"],
            "province": county.parent.code if county else None, "county": data["county"],
            "address": data["address"], "postal_code": data["postal_code"],
            "license_number": license_.get("number"), "license_status": license_.get("status"),
            "license_status_since": license_.get("status_since"), "license_suspended_until": license_.get("suspended_until"),
            "license_issued_at": license_.get("issued_at"), "manager_national_id": manager.get("national_id"),
            "manager_name": manager.get("full_name"), "manager_since": manager.get("start_date"),
            "manager_interim": manager.get("interim"), "proved": data["proved"]})
    return rows


@bp.route("/centers")
@login_required
def centers():
    found = search_visible_centers(current_user, request.args)
    counties = [] if current_user.role == "applicant" else by_name(db.session.scalars(
        select(Office).where(Office.kind == "county")))
    checks = checked(found)
    offices = {o.code: o for o in db.session.scalars(select(Office).where(Office.kind == "county"))}
    rows = [{**center_json(c, checks[c.id]), "county_name": getattr(offices.get(checks[c.id][0].center["county"]
                                                                                  if checks[c.id][0].center else None),
                                                                     "name", "")} for c in found]
    return render_template("centers.html", centers=rows, args=request.args, counties=counties)


@bp.route("/centers/export.<fmt>")
@login_required
def export(fmt: str):
    rows = export_rows(search_visible_centers(current_user, request.args))
    if fmt == "json":
        return Response(json.dumps({"fields": EXPORT_FIELDS, "centers": rows}, ensure_ascii=False, indent=1),
                        mimetype="application/json",
                        headers={"Content-Disposition": 'attachment; filename="centers.json"'})
    if fmt != "csv":
        raise NotFound("format")
    names = dict(db.session.execute(select(Office.code, Office.name)).all())
    return csv_response([(key, t(f"web.registry.csv.{key}")) for key in CSV_COLUMNS],
                        [csv_row(row, names) for row in rows], "centers.csv")


def csv_row(row: dict, offices: dict[str, str]) -> dict:
    """An export row as the CSV shows it: office and status labels beside their codes, Jalali dates."""
    status = row["license_status"]
    return {**row, "province_name": offices.get(row["province"]), "county_name": offices.get(row["county"]),
            "license_status_label": t(f"web.license_status.{status}") if status else None,
            "license_issued_at": datetime.fromisoformat(row["license_issued_at"]) if row["license_issued_at"] else None,
            **{key: date.fromisoformat(row[key]) if row[key] else None
               for key in ("license_status_since", "license_suspended_until")},
            "manager_since": date.fromisoformat(row["manager_since"]) if row["manager_since"] else None}


@bp.route("/centers/<int:center_id>")
@login_required
def center(center_id: int):
    center = center_or_404(current_user, center_id)
    proved, problems = facts.prove_center(db.session, center.id)
    on = request.args.get("on", "")
    manager_on = None
    if on:
        try:
            manager_on = proved.term_on(parse_jalali(on))
        except ValueError:
            manager_on = None
    open_cases = {c.process_key: c for c in db.session.scalars(select(Case).where(
        Case.center_id == center.id, Case.outcome.is_(None)))}
    license_status = facts.license_status(proved.license, tehran_today(utcnow()))
    in_office = proved.current_term
    startable = [proc for proc in deployed().startable(with_center=True)
                 if access.may_start(current_user, proc.starters) and proc.key not in open_cases
                 and proc.license_allows(license_status) and proc.manager_allows(None if in_office is None else in_office["interim"])]
    # a procedure that names a successor is linked to the open cases that wait (or will wait) for one
    awaiting_successor = [c for c in open_cases.values() if any(
        m.sent_by == "successor" for m in procedures.of_version(db.session, c.spec_version).messages.values())
        and c.status != procedures.DRAFT]
    county = db.session.scalars(select(Office).where(Office.code == (proved.center or {}).get("county"))).first()
    installed = None
    if proved.signboard is not None and not problems:  # the approved photo, from the case that signed it
        case_id = db.session.scalar(select(Case.id).where(Case.public_id == proved.signboard["case"]))
        installed = {**proved.signboard,
                     "url": url_for("pages.document", case_id=case_id, sha256=proved.signboard["photo"])}
    return render_template("center.html", center=center, data=center_json(center, (proved, problems), full=True),
                           county=county, on=on, manager_on=manager_on, startable=startable, open_cases=open_cases,
                           awaiting_successor=awaiting_successor, boards=signboard.sizes() if not problems else [],
                           installed=installed, evaluations=_evaluations(center, county) if not problems else None,
                           trainings=training.enrollments(db.session, None, tehran_today(utcnow()), [center.id])
                           if not problems else [], today=tehran_today(utcnow()))


def _evaluations(center: Center, county: Office | None) -> list[dict] | None:
    """The center's confirmed yearly scores, newest first, ranked within its county and province (None:
    no procedure evaluates centers)."""
    rubric = next(iter(evaluation.rubrics(procedures.newest_tables(db.session))), None)
    if rubric is None or county is None:
        return None
    province = access.office_subtree_ids(db.session, county.parent_id) if county.parent_id else [county.id]
    return [{"year": e.year, "total": score_text(e.total_tenths), "case_id": e.case_id, "county_rank": e.county_rank,
             "province_rank": e.province_rank, "level": level_label(e.level, rubric)}
            for e in evaluation.confirmed_evaluations(db.session, province) if e.center_id == center.id]


@bp.route("/centers/<int:center_id>/signboard/<size>.<fmt>")
@login_required
def signboard_file(center_id: int, size: str, fmt: str):
    """A standard signboard or banner of the center, drawn from its proved facts (``web.signboard``)."""
    center = center_or_404(current_user, center_id)
    if fmt == "svg":
        body, mimetype = signboard.svg(center, size), "image/svg+xml"
    elif fmt == "pdf":
        body, mimetype = signboard.pdf(center, size), "application/pdf"
    else:
        raise NotFound("format")
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="signboard-{center.id}-{size}.{fmt}"'})


@bp.route("/centers/<int:center_id>/cases", methods=["POST"])
@login_required
@commits
def start(center_id: int):
    center = center_or_404(current_user, center_id)
    linked = None
    if request.form.get("linked_case_id", "").isdigit():
        linked = db.session.get(Case, int(request.form["linked_case_id"]))
        if linked is None or linked.center_id != center.id:
            raise NotFound("case")
    case = start_case(db.session, process_key=request.form.get("process_key", ""), starter=current_user,
                      center=center, linked_case=linked)
    if case.tasks and access.may_act(current_user, case.tasks[0]):
        return redirect(url_for("pages.task", case_id=case.id, task_id=case.tasks[0].task_id))
    return redirect(url_for("pages.case", case_id=case.id))

