"""Turn errors into answers: JSON under /api, Persian pages elsewhere. Never a bare 500."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from forms import t
from forms.messages import FA
from web.extensions import db
from workflows.errors import (
    Conflict, Forbidden, InvalidInput, NotFound, ProcessFailed, SigningSessionEnded, WorkflowError, WrongPin,
)

#: HTTP status of each domain error
STATUS = {NotFound: 404, Forbidden: 403, Conflict: 409, InvalidInput: 422, WrongPin: 422, SigningSessionEnded: 422}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_body(code: str, message: str, errors: dict | None = None) -> dict:
    body = {"error": code, "message": message}
    if errors:
        body["errors"] = errors
    return body


def domain_error_response(error: WorkflowError):
    """The JSON answer for a domain error (pages handle InvalidInput themselves)."""
    status = next((s for cls, s in STATUS.items() if isinstance(error, cls)), 400)
    errors = getattr(error, "errors", None)
    if isinstance(error, WrongPin):
        errors = {"pin": [t("web.error.wrong_pin")]}
    elif isinstance(error, SigningSessionEnded):
        errors = {"signing_session": [t(error.message_key)]}
    return jsonify(error_body(type(error).__name__.lower(), t(error.message_key), errors)), status


def domain_error_answer(error: WorkflowError):
    """The answer for a domain error, JSON or page; what the request wrote is the caller's to keep
    or roll back (the error handler rolls it back)."""
    if wants_json():
        return domain_error_response(error)
    status = next((s for cls, s in STATUS.items() if isinstance(error, cls)), 400)
    return render_template("error.html", status=status, message=t(error.message_key)), status


def init_app(app: Flask) -> None:
    @app.errorhandler(WorkflowError)
    def _domain(error: WorkflowError):
        db.session.rollback()  # a wrong PIN stays counted: workflows.keys counted it in its own commit
        if isinstance(error, ProcessFailed):
            app.logger.error("process definition failed at run time on %s: %s", request.path, error.detail)
        return domain_error_answer(error)

    @app.errorhandler(StaleDataError)
    @app.errorhandler(IntegrityError)
    def _stale(error: Exception):
        # a concurrent transition won the race (version check or a unique sequence/number)
        return _domain(Conflict("concurrent change"))

    @app.errorhandler(OperationalError)
    def _busy(error: OperationalError):
        # SQLite (no row locks) refuses the second of two simultaneous writers instead of making it
        # wait; the writer that lost is told, like on PostgreSQL, that the case changed meanwhile
        if "database is locked" in str(error.orig):
            return _domain(Conflict("concurrent change"))
        return _unexpected(error)

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        if wants_json():
            return jsonify(error_body("csrf", t("web.error.csrf"))), 400
        return render_template("error.html", status=400, message=t("web.error.csrf")), 400

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        key = f"web.error.http_{error.code}"
        message = t(key) if key in _known_keys() else t("web.error.generic")
        # what the exception says besides its page: 405's Allow, 401's WWW-Authenticate …
        headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
        if wants_json():
            return jsonify(error_body(f"http_{error.code}", message)), error.code, headers
        return render_template("error.html", status=error.code, message=message), error.code, headers

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        app.logger.exception("unhandled error")
        db.session.rollback()
        if wants_json():
            return jsonify(error_body("internal", t("web.error.internal"))), 500
        return render_template("error.html", status=500, message=t("web.error.internal")), 500


def _known_keys() -> set[str]:
    return set(FA)
