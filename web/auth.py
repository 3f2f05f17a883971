"""Signing in and out, and who the current user is (session or API token)."""
from __future__ import annotations

import hashlib

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash

from forms import normalize_text, t
from web.extensions import db, login_manager
from workflows.models import ApiToken, User

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.active else None


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/"):
        from web.errors import error_body
        return error_body("unauthorized", t("web.error.http_401")), 401
    return redirect(url_for("auth.login", next=request.path))


def user_for_token(header: str | None) -> User | None:
    """The active user an ``Authorization: Bearer`` header names, if any."""
    if not header or not header.startswith("Bearer "):
        return None
    token_hash = hashlib.sha256(header[7:].strip().encode()).hexdigest()
    row = db.session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash)).first()
    return row.user if row is not None and row.user.active else None


def check_credentials(username: str, password: str) -> User | None:
    """The active user with this username and password."""
    user = db.session.scalars(select(User).where(User.username == normalize_text(username or ""))).first()
    if user is None or not user.active or not check_password_hash(user.password_hash, password or ""):
        return None
    return user


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("pages.cases"))
    if request.method == "POST":
        user = check_credentials(request.form.get("username", ""), request.form.get("password", ""))
        if user is not None:
            login_user(user)
            target = request.args.get("next", "")
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("pages.cases")
            return redirect(target)
        flash(t("web.auth.bad_credentials"), "error")
        return render_template("login.html", username=request.form.get("username", "")), 401
    return render_template("login.html", username="")


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    return redirect(url_for("public.home"))
