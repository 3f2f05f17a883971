"""Pages anyone can open: the home page and the public verification of a certificate."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, send_from_directory, url_for
from flask_login import current_user
from sqlalchemy import select

from forms import normalize_text
from web.extensions import db
from workflows.models import License
from workflows.verification import resolve_token

bp = Blueprint("public", __name__)


@bp.route("/")
def home():
    if current_user.is_authenticated:
        return redirect(url_for("pages.cases"))
    return render_template("home.html")


@bp.route("/verify", methods=["GET"])
def verify_form():
    token = normalize_text(request.args.get("token", ""))[:100]
    if token:
        return redirect(url_for("public.verify", token=token))
    return render_template("verify.html", check=None, token="")


@bp.route("/verify/<token>")
def verify(token: str):
    check = resolve_token(db.session, token)
    license_ = None
    if check is not None:
        license_ = db.session.scalars(select(License).where(License.case_id == check.case.id)).first()
    return render_template("verify.html", check=check, token=token, license=license_), (200 if check else 404)


@bp.route("/fonts/<path:name>")
def font(name: str):
    """Vazirmatn web fonts from the npm package (never committed)."""
    directory = current_app.config["FONT_DIR"].parent / "webfonts"
    return send_from_directory(directory, name, max_age=86400)


@bp.route("/favicon.ico")
def favicon():
    return redirect(url_for("static", filename="favicon.svg"), code=301)
