"""Signing in and out, and who the current user is (session or API token)."""
from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from forms import normalize_text, t, to_persian_digits
from web.extensions import db, login_manager
from web.security import local_target
from web.transaction import commits
from workflows import keys
from workflows.models import ApiToken, LoginAttempt, User, utcnow

#: checked against when the username does not exist, so a miss costs as much as a wrong password
_DUMMY_HASH = generate_password_hash("not-a-password")

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id), options=[joinedload(User.office)]) if user_id.isdigit() else None
    return user if user is not None and user.active else None


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/"):
        from web.errors import error_body
        return error_body("unauthorized", t("web.error.http_401")), 401
    return redirect(url_for("auth.login", next=request.path))


def user_for_token(header: str | None) -> User | None:
    """The active user an ``Authorization: Bearer`` header names, if any."""
    row = token_row(header)
    if row is None or (row.expires_at is not None and row.expires_at <= utcnow()):
        return None
    return row.user if row.user.active else None


def token_row(header: str | None) -> ApiToken | None:
    """The stored token an ``Authorization: Bearer`` header names (expired or not)."""
    if not header or not header.startswith("Bearer "):
        return None
    token_hash = hashlib.sha256(header[7:].strip().encode()).hexdigest()
    return db.session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash)
                              .options(joinedload(ApiToken.user).joinedload(User.office))).first()


def prune_api_tokens(now: datetime | None = None) -> int:
    """Forget the tokens that have expired."""
    return db.session.execute(delete(ApiToken).where(ApiToken.expires_at <= (now or utcnow()))).rowcount


class LoginThrottled(Exception):
    """Too many wrong passwords lately, for this account or from this address."""

    def __init__(self, retry_after: timedelta):
        super().__init__("too many failed sign-in attempts")
        self.seconds = max(1, math.ceil(retry_after.total_seconds()))

    @property
    def minutes(self) -> int:
        return math.ceil(self.seconds / 60)


def check_credentials(username: str, password: str, now: datetime | None = None) -> User | None:
    """The active user with this username and password; every attempt is counted.

    Raises LoginThrottled, without looking at the password, once an account has had
    ``LOGIN_MAX_FAILURES`` wrong passwords since its last sign-in within ``LOGIN_WINDOW``, or an
    address ``LOGIN_MAX_FAILURES_PER_ADDRESS`` (several accounts guessed from one place). The
    attempt is recorded, as a failure until the password proves right, and committed before the
    password is checked; attempts on one account or from one address are recorded one at a time,
    so however many arrive at once, no more than the limit are checked. A right password marks the
    attempt a success in the caller's transaction (the view commits it).
    """
    now = now or utcnow()
    username = normalize_text(username or "")[:64]
    address = (request.remote_addr or "unknown")[:45]
    attempt = _claim_attempt(username, address, now)
    user = db.session.scalars(select(User).where(User.username == username)).first()
    matches = check_password_hash(user.password_hash if user else _DUMMY_HASH, password or "")
    ok = user is not None and user.active and matches
    if ok:
        db.session.execute(update(LoginAttempt).where(LoginAttempt.id == attempt).values(succeeded=True))
    return user if ok else None


def _claim_attempt(username: str, address: str, now: datetime) -> int:
    """Record the attempt (a failure until proved otherwise) unless a limit is reached; its id.

    Committed here, before the password is tried, on purpose: the count stands whatever becomes of
    the request (one of the exceptions to one commit per request that web.transaction names)."""
    if db.session.get_bind().dialect.name == "postgresql":
        # READ COMMITTED would let two transactions miss each other's insert: wait for the other
        # attempts on this account or from this address (in one order: no deadlock)
        for key in sorted({_lock_key("account", username), _lock_key("address", address)}):
            db.session.execute(select(func.pg_advisory_xact_lock(key)))
    # on SQLite the insert takes the database's write lock, which the next attempt waits for
    attempt = LoginAttempt(username=username, address=address, succeeded=False, at=now)
    db.session.add(attempt)
    db.session.flush()
    try:
        _refuse_if_throttled(username, address, now, attempt.id)
    except LoginThrottled:
        db.session.rollback()  # a refused attempt is not counted: the lock ends when the window passes
        raise
    db.session.commit()
    return attempt.id


def counted_guess(subject: str, now: datetime | None = None) -> int:
    """Count an attempt at a secret other than a password (a tracking code): limited like sign-ins,
    per ``subject`` and per address (LoginThrottled), committed before the secret is checked. The
    caller marks it right with ``guessed_right``."""
    now = now or utcnow()
    return _claim_attempt(subject[:64], (request.remote_addr or "unknown")[:45], now)


def guessed_right(attempt: int) -> None:
    db.session.execute(update(LoginAttempt).where(LoginAttempt.id == attempt).values(succeeded=True))


def _lock_key(kind: str, value: str) -> int:
    return int.from_bytes(hashlib.sha256(f"login:{kind}:{value}".encode()).digest()[:8], "big", signed=True)


def _refuse_if_throttled(username: str, address: str, now: datetime, attempt: int) -> None:
    config = current_app.config
    window = timedelta(seconds=config["LOGIN_WINDOW_SECONDS"])
    since = now - window
    last_success = db.session.scalar(select(func.max(LoginAttempt.id)).where(
        LoginAttempt.username == username, LoginAttempt.succeeded.is_(True), LoginAttempt.at >= since))
    for column, value, after, limit in ((LoginAttempt.username, username, last_success, config["LOGIN_MAX_FAILURES"]),
                                        (LoginAttempt.address, address, None, config["LOGIN_MAX_FAILURES_PER_ADDRESS"])):
        failures = db.session.scalars(select(LoginAttempt.at).where(
            column == value, LoginAttempt.succeeded.is_(False), LoginAttempt.at > since,
            LoginAttempt.id != attempt, LoginAttempt.id > (after or 0))
            .order_by(LoginAttempt.at.desc()).limit(limit)).all()
        if len(failures) >= limit:
            # open again when the oldest of the last `limit` failures leaves the window
            raise LoginThrottled(failures[-1] + window - now)


def prune_login_attempts(now: datetime | None = None) -> int:
    """Forget attempts older than a day (run by the tick)."""
    result = db.session.execute(delete(LoginAttempt).where(LoginAttempt.at < (now or utcnow()) - timedelta(days=1)))
    return result.rowcount or 0


@bp.route("/login", methods=["GET", "POST"])
@commits
def login():
    if current_user.is_authenticated:
        return redirect(url_for("pages.cases"))
    if request.method == "POST":
        try:
            user = check_credentials(request.form.get("username", ""), request.form.get("password", ""))
        except LoginThrottled as throttled:
            flash(t("web.auth.throttled", minutes=to_persian_digits(str(throttled.minutes))), "error")
            return (render_template("login.html", username=request.form.get("username", "")), 429,
                    {"Retry-After": str(throttled.seconds)})
        if user is not None:
            session.clear()  # a fresh session on sign-in: nothing planted before it survives
            g.pop("csrf_token", None)  # Flask-WTF's cached token belonged to the cleared session
            session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME
            login_user(user)
            return redirect(local_target(request.args.get("next", ""), url_for("pages.cases")))
        flash(t("web.auth.bad_credentials"), "error")
        return render_template("login.html", username=request.form.get("username", "")), 401
    return render_template("login.html", username="")


@bp.route("/logout", methods=["POST"])
@login_required
@commits
def logout():
    forget_signing_session()
    logout_user()
    return redirect(url_for("public.home"))


# --- the signing key kept open for a while (workflows.keys signing sessions) -------------------

#: the session's key holding the handle of the signed-in person's open signing session
SIGNING_SESSION = "signing_session"


def signing_credentials(form) -> dict[str, str | None]:
    """How a page's signed form unlocks the key: the PIN typed (kept open for a while when the person
    ticked ``keep_unlocked``: the handle goes into their session cookie), or their open session."""
    pin = form.get("pin", "")
    if pin and form.get("keep_unlocked"):
        handle, _ = keys.open_signing_session(db.session, current_user, pin)
        session[SIGNING_SESSION] = handle
        return {"pin": None, "signing_session": handle}
    return {"pin": pin, "signing_session": None if pin else session.get(SIGNING_SESSION)}


def signing_open_until() -> datetime | None:
    """Until when the signed-in person's key is open, or None (a stale handle is dropped)."""
    handle = session.get(SIGNING_SESSION)
    if handle is None:
        return None
    opened = keys.open_session(db.session, current_user, handle)
    if opened is None:
        session.pop(SIGNING_SESSION, None)
        return None
    return opened.expires_at


def forget_signing_session() -> None:
    """Lock the signed-in person's key again, now (the view commits)."""
    handle = session.pop(SIGNING_SESSION, None)
    keys.close_signing_session(db.session, current_user, keys.signing_session_id(handle))


@bp.route("/signing/lock", methods=["POST"])
@login_required
@commits
def lock_signing():
    forget_signing_session()
    flash(t("web.form.locked_now"), "success")
    return redirect(local_target(request.form.get("next", ""), url_for("pages.cases")))
