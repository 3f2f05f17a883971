"""In-app notifications: the list, marking them read, their count in the navigation."""
from __future__ import annotations

from flask import Blueprint, Flask, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError

from web.api import authenticated
from web.extensions import csrf, db
from web.listing import bool_arg, error_messages, page_args, query_without
from web.openapi import PAGE, PER_PAGE, flag, query, returns
from web.transaction import commits
from workflows import access, inbox, notifications
from workflows.errors import InvalidInput, NotFound
from workflows.keys import active_key
from workflows.models import utcnow

__all__ = ["bp", "api_bp", "init_app"]

bp = Blueprint("notifications", __name__)
api_bp = Blueprint("notifications_api", __name__, url_prefix="/api/v1")
csrf.exempt(api_bp)


@bp.route("/notifications")
@login_required
def index():
    try:
        page, per_page = page_args(request.args)
    except InvalidInput as error:
        return render_template("notifications.html", rows=[], total=0, page=1, pages=1, unread_only=False,
                               messages=error_messages(error.errors), args={}), 422
    unread_only = bool_arg(request.args, "unread")
    rows, total = notifications.user_notifications(db.session, current_user, page=page, per_page=per_page,
                                                   unread_only=unread_only)
    return render_template("notifications.html", rows=rows, total=total, page=page,
                           pages=max(1, -(-total // per_page)), unread_only=unread_only, messages=[],
                           render=notifications.render, args=query_without(request.args, "page"))


@bp.route("/notifications/read", methods=["POST"])
@login_required
@commits
def read_all():
    notifications.mark_read(db.session, current_user, utcnow())
    return redirect(url_for("notifications.index"))


@bp.route("/notifications/<int:notification_id>", methods=["POST"])
@login_required
@commits
def open_one(notification_id: int):
    """Mark one notification read and go to its case."""
    row = db.session.get(notifications.Notification, notification_id)
    if row is None or row.user_id != current_user.id:
        raise NotFound("notification")
    notifications.mark_read(db.session, current_user, utcnow(), notification_id)
    if row.case_id is not None:
        return redirect(url_for("pages.case", case_id=row.case_id))
    if row.center_id is not None:
        return redirect(url_for("registry.center", center_id=row.center_id))
    return redirect(url_for("notifications.index"))


@api_bp.get("/notifications")
@authenticated
@query(flag("unread", "only unread notifications"), PAGE, PER_PAGE)
@returns("NotificationPage")
def api_index():
    """The caller's notifications, newest first (?unread=1, page, per_page)."""
    page, per_page = page_args(request.args)
    rows, total = notifications.user_notifications(db.session, g.api_user, page=page, per_page=per_page,
                                                   unread_only=bool_arg(request.args, "unread"))
    return jsonify({"notifications": [{
        "id": row.id, "kind": row.kind, "case_id": row.case_id, "center_id": row.center_id, "text": notifications.render(row),
        "created_at": row.created_at.isoformat(), "read": row.read_at is not None} for row in rows],
        "total": total, "page": page, "per_page": per_page,
        "unread": notifications.unread_count(db.session, g.api_user)})


#: what the navigation shows when there is nothing (signed out, or the database failed mid-request)
_EMPTY_NAV = {"queues": None, "unread": 0, "needs_pin": False, "can": lambda capability: False}


def nav_counts() -> dict:
    """What the navigation shows a signed-in person: inbox queues, unread notifications, a missing key."""
    if not current_user.is_authenticated:
        return _EMPTY_NAV
    cached = g.get("nav_counts")
    if cached is None or cached[0] is not request._get_current_object():  # one count per request
        user = current_user._get_current_object()
        try:
            counts = inbox.queue_counts(db.session, user) if (
                user.role == "applicant" or access.is_office_role(user.role)) else None
            counts = {
                "queues": counts, "unread": notifications.unread_count(db.session, user),
                "needs_pin": user.role not in ("agency", "system") and active_key(db.session, user) is None,
                "can": lambda capability: access.has_capability(user, capability)}
        except SQLAlchemyError:  # an error page after a database failure still renders
            db.session.rollback()
            counts = _EMPTY_NAV
        g.nav_counts = cached = (request._get_current_object(), counts)
    return cached[1]


def init_app(app: Flask) -> None:
    app.context_processor(lambda: {"nav": nav_counts})
