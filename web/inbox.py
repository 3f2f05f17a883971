"""Inboxes: an office's queues with claims, filters, search and pages; the JSON equivalents.

GET /api/v1/tasks itself lives in web/api.py and reads its filters with ``task_filters``.
"""
from __future__ import annotations

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from forms import t
from web.api import authenticated, task_json
from web.openapi import ReassignRequest, accepts, refuses, request_body, returns
from web.extensions import csrf, db
from web.listing import error_messages, query_without
from web.security import local_target
from web.scope import (case_or_404, county_filter_choices, deployed, missed_reports_for, period_label, task_filters,
                       training_behind_for)
from web.transaction import commits
from workflows import access, inbox, working_time
from workflows.cases import open_task
from workflows.errors import InvalidInput
from workflows.models import Case, CaseTask, Office, User, utcnow

__all__ = ["bp", "api_bp"]

bp = Blueprint("inbox", __name__)
api_bp = Blueprint("inbox_api", __name__, url_prefix="/api/v1")
csrf.exempt(api_bp)  # the API authenticates each request (bearer token, or session plus X-CSRFToken)

@bp.route("/inbox")
@login_required
def index():
    """The user's inbox: office queues (open, mine, unclaimed, whole office) or an applicant's tasks."""
    errors: dict[str, list[str]] = {}
    try:
        filters = task_filters(request.args, current_user)
    except InvalidInput as error:
        errors, filters = error.errors, inbox.TaskFilters()
    page = inbox.search_tasks(db.session, current_user, filters, utcnow())
    if errors:
        page = inbox.Page([], 0, 1, filters.per_page, page.counts)
    offices = {office.id: office for office in db.session.scalars(
        select(Office).where(Office.id.in_({task.case.county_office_id for task in page.items} - {None})))}
    now = utcnow()
    calendars = working_time.calendars_for(db.session, [offices.get(task.case.county_office_id)
                                                        for task in page.items if task.due_at])
    left = {task.id: calendars[task.case.county_office_id].working_days_left(now, task.due_at)
            for task in page.items if task.due_at}
    return render_template(
        "inbox.html", page=page, filters=filters, errors=errors, messages=error_messages(errors),
        counties=county_filter_choices(current_user), steps=deployed().task_names(),
        queues=inbox.QUEUES, sorts=inbox.SORTS, offices=offices, now=now, left=left,
        colleagues={task.id: inbox.colleagues(db.session, task) for task in page.items
                    if _may_hand_over(current_user, task)},
        args=query_without(request.args, "page"), missed=missed_reports_for(current_user), period_label=period_label,
        behind=training_behind_for(current_user),
    ), (422 if errors else 200)


def _may_hand_over(user: User, task: CaseTask) -> bool:
    return task.assignee_id is None and (task.claimed_by_id == user.id or (
        access.has_capability(user, "reassign") and task.office_id == user.office_id))


def _task(case: Case, task_id: str) -> CaseTask:
    """The waiting task (409 when it is no longer waiting, as for completing it)."""
    return open_task(db.session, case, task_id)


def _back(case: Case):
    return redirect(local_target(request.form.get("next", ""), url_for("inbox.index")))


@bp.route("/cases/<int:case_id>/tasks/<task_id>/claim", methods=["POST"])
@login_required
@commits
def claim(case_id: int, task_id: str):
    case = case_or_404(current_user, case_id)
    inbox.claim(db.session, _task(case, task_id), current_user, utcnow())
    flash(t("web.inbox.claimed"), "success")
    return _back(case)


@bp.route("/cases/<int:case_id>/tasks/<task_id>/release", methods=["POST"])
@login_required
@commits
def release(case_id: int, task_id: str):
    case = case_or_404(current_user, case_id)
    inbox.release(db.session, _task(case, task_id), current_user)
    flash(t("web.inbox.released"), "success")
    return _back(case)


@bp.route("/cases/<int:case_id>/tasks/<task_id>/reassign", methods=["POST"])
@login_required
@commits
def reassign(case_id: int, task_id: str):
    case = case_or_404(current_user, case_id)
    raw = request.form.get("user_id", "")
    try:
        inbox.reassign(db.session, _task(case, task_id), current_user, int(raw) if raw.isdigit() else None, utcnow())
    except InvalidInput as error:
        db.session.rollback()
        flash(" ".join(error_messages(error.errors)), "error")
        return _back(case)
    flash(t("web.inbox.reassigned"), "success")
    return _back(case)


# --- JSON API -----------------------------------------------------------------------------

@api_bp.post("/cases/<int:case_id>/tasks/<task_id>/claim")
@authenticated
@returns("ClaimedTask")
@commits
def api_claim(case_id: int, task_id: str):
    case = case_or_404(g.api_user, case_id)
    task = inbox.claim(db.session, _task(case, task_id), g.api_user, utcnow())
    return jsonify({"task": task_json(task)})


@api_bp.post("/cases/<int:case_id>/tasks/<task_id>/release")
@authenticated
@returns("ClaimedTask")
@commits
def api_release(case_id: int, task_id: str):
    case = case_or_404(g.api_user, case_id)
    task = inbox.release(db.session, _task(case, task_id), g.api_user)
    return jsonify({"task": task_json(task)})


@api_bp.post("/cases/<int:case_id>/tasks/<task_id>/reassign")
@authenticated
@accepts(ReassignRequest)
@refuses("user_id is no colleague of the same office who may take the task")
@returns("ClaimedTask")
@commits
def api_reassign(case_id: int, task_id: str):
    """Give the waiting task to another person of the same office."""
    case = case_or_404(g.api_user, case_id)
    task = inbox.reassign(db.session, _task(case, task_id), g.api_user, request_body()["user_id"], utcnow())
    return jsonify({"task": task_json(task)})
