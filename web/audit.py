"""The headquarters audit: signed decisions across the country, any case read-only with its
verification, whole-database verification, and the log of what headquarters read or exported.

Every page here is for roles with the ``audit`` capability; anyone else gets 404 (the audit's
addresses name cases, and a case outside one's jurisdiction is not found). Reads by
headquarters anywhere in the application (case pages, documents, certificates, exports, the
API) are recorded by ``record_hq_reads``, never signed.
"""
from __future__ import annotations

import json

from flask import Blueprint, Flask, current_app, g, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import Session

from forms import t, to_persian_digits
from forms.messages import FA
from web.extensions import db
from web.listing import choice_arg, collect, date_range, error_messages, page_args, query_without, text_arg
from web.scope import deployed, diagram_state, timeline, verification_summary
from web.transaction import commits
from workflows import access, audit, inquiries
from workflows.errors import InvalidInput, NotFound
from workflows.models import Case, CaseDocument, Office, User, utcnow
from workflows.monitoring import MonitorFilters

__all__ = ["bp", "init_app", "record_hq_reads", "EXPORT_ENDPOINTS"]

bp = Blueprint("audit", __name__, url_prefix="/audit")

#: views that hand out data in bulk: every use by headquarters is logged as an export
EXPORT_ENDPOINTS = {"registry.export", "monitoring.export"}
#: view arguments that name one thing headquarters reads
READ_ARGS = ("case_id", "center_id", "inquiry_id")
#: addresses naming a case that show nothing of it: the process diagram its page draws
NOT_READS = {"pages.case_diagram"}


def _auditor() -> User:
    if not access.has_capability(current_user, "audit"):
        raise NotFound("audit")
    return current_user._get_current_object()


@bp.route("")
@login_required
def decisions():
    """Signed decisions across the country, with filters."""
    _auditor()
    offices = {office.code: office for office in db.session.scalars(
        select(Office).where(Office.kind != "hq").order_by(Office.kind.desc(), Office.code))}
    actions = tuple(sorted({*audit.AUDITED_ACTIONS, "submit", "resubmit", "request", "inquiry_answer",
                            "deadline_passed", "resend_inquiry", "successor_confirmed"}))
    try:
        (page, per_page), office, process_key, action, dates = collect(
            lambda: page_args(request.args), lambda: choice_arg(request.args, "office", tuple(offices)),
            lambda: choice_arg(request.args, "process_key", tuple(deployed().current)),
            lambda: choice_arg(request.args, "action", actions), lambda: date_range(request.args))
    except InvalidInput as error:
        return render_template("audit.html", rows=[], total=0, page=1, pages=1, messages=error_messages(error.errors),
                               offices=offices.values(), actions=actions, args=request.args, link_args={}), 422
    filters = audit.DecisionFilters(office_id=offices[office].id if office else None,
                                    person=text_arg(request.args, "person"), process_key=process_key, action=action,
                                    dates=MonitorFilters(date_from=dates[0], date_to=dates[1]))
    rows, total = audit.signed_decisions(db.session, filters, page=page, per_page=per_page)
    return render_template("audit.html", rows=rows, total=total, page=page, pages=max(1, -(-total // per_page)),
                           messages=[], offices=offices.values(), actions=actions, args=request.args,
                           link_args=query_without(request.args, "page"))


@bp.route("/cases/<int:case_id>")
@login_required
def case(case_id: int):
    """Any case, read-only: its facts, full signed timeline and the verification recomputed now."""
    _auditor()
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound("case")
    return render_template("audit_case.html", case=case, entries=timeline(case), diagram=diagram_state(case),
                           verification=verification_summary(case),
                           inquiries=inquiries.case_inquiries(db.session, case),
                           documents=db.session.scalars(select(CaseDocument).where(
                               CaseDocument.case_id == case.id)).all())


@bp.route("/verify", methods=["GET", "POST"])
@login_required
@commits
def verify():
    """Verify every case's chain now (POST), and list the ones that fail."""
    user = _auditor()
    if request.method == "GET":
        return render_template("audit_verify.html", ran=False)
    checked, failures = 0, []
    for result in audit.verify_all(db.session):
        checked += 1
        if not result.report.ok:
            failures.append(result)
    store = audit.audit_store(db.session, witnesses=[
        endpoint.key for endpoint in current_app.config.get("WITNESS_ENDPOINTS", ())])
    audit.record_read(db.session, user, "verify_all", "cases", {"checked": checked, "failed": len(failures),
                                                                "store_problems": len(store.lines())})
    return render_template("audit_verify.html", ran=True, checked=checked, failures=failures, store=store)


@bp.route("/log")
@login_required
def log():
    """Who at headquarters read or exported what."""
    _auditor()
    try:
        page, per_page = page_args(request.args)
    except InvalidInput as error:
        return render_template("audit_log.html", rows=[], total=0, page=1, pages=1,
                               messages=error_messages(error.errors), args={}), 422
    rows, total = audit.audit_events(db.session, page=page, per_page=per_page)
    return render_template("audit_log.html", rows=rows, total=total, page=page, pages=max(1, -(-total // per_page)),
                           messages=[], args=query_without(request.args, "page"), loads=json.loads,
                           subjects=read_subjects, page_label=page_label)


#: what each kind of thing a read names is called, and the page that shows it to an auditor
_SUBJECTS = {"case": ("web.audit.subject.case", "audit.case", "case_id"),
             "center": ("web.audit.subject.center", "registry.center", "center_id"),
             "inquiry": ("web.audit.subject.inquiry", None, None),
             "document": ("web.audit.subject.document", None, None)}


def read_subjects(target: str) -> list[dict]:
    """The things a logged read names, in Persian ("case:2,center:5" is «پرونده #۲»، «کانون #۵»), each
    with the address an auditor opens it at; "cases" is every case; an export names nothing."""
    if target == "cases":
        return [{"label": t("web.audit.subject.all_cases"), "url": None}]
    found = []
    for part in target.split(","):
        kind, _, value = part.partition(":")
        if kind not in _SUBJECTS:
            continue
        label, endpoint, arg = _SUBJECTS[kind]
        number = value if value.isdigit() else ""
        found.append({"label": t(label, id=to_persian_digits(number)),
                      "url": url_for(endpoint, **{arg: int(number)}) if endpoint and number else None})
    return found


def page_label(endpoint: str) -> str:
    """The Persian name of the page (or API call) a read went through."""
    key = f"web.audit.page.{endpoint}"
    return t(key) if key in FA else t("web.audit.page.other")


def record_hq_reads(response):
    """After a successful read by headquarters of one case, center or document, or of an export: log it."""
    if request.method != "GET" or response.status_code != 200 or request.endpoint is None:
        return response
    if request.path.startswith("/api/"):
        user = g.get("api_user")
    else:
        user = current_user._get_current_object() if current_user.is_authenticated else None
    if user is None or user.role not in access.READ_ALL_ROLES:
        return response
    args = request.view_args or {}
    if request.endpoint in NOT_READS:
        return response
    if request.endpoint in EXPORT_ENDPOINTS:
        action, target = "export", f"export:{request.endpoint}"
    elif any(name in args for name in READ_ARGS):
        action = "view"
        target = ",".join(f"{name.removesuffix('_id')}:{args[name]}" for name in READ_ARGS if name in args)
        if "sha256" in args:
            target += f",document:{str(args['sha256'])[:16]}"
    else:
        return response
    # once the answer is known, after the request's own transaction: in a short one of its own, so
    # that it commits nothing the request left (one of the exceptions web.transaction names)
    with Session(db.engine) as own, own.begin():
        audit.record_read(own, user, action, target,
                          {"endpoint": request.endpoint, "query": request.query_string.decode("utf-8", "replace")[:500]},
                          utcnow())
    return response


def init_app(app: Flask) -> None:
    app.after_request(record_hq_reads)
