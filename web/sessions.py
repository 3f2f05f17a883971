"""The browser session: an encrypted cookie, and for a signed-in person a record on the server.

The cookie is AES-GCM encrypted and authenticated under a key derived from SECRET_KEY, so the
browser holds what Flask keeps in ``session`` (Flask-Login's user id, the CSRF token, the handle of
an open signing session, whose secret the database alone must not have) without anyone reading or
changing it. A signed-in session also names a ``web_sessions`` row by a random token (only its
hash is stored): signing out, the end of the session's lifetime or the person's deactivation
deletes the row, and from then on the cookie opens an empty session, wherever it was copied to.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import secrets
import time
from datetime import datetime, timedelta, timezone

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SessionInterface, session_json_serializer
from sqlalchemy import delete, insert, select

from web.extensions import db
from workflows.models import WebSession, utcnow

__all__ = ["ServerSession", "ServerSessionInterface", "prune_web_sessions", "init_app"]

#: a cookie longer than this is not one we wrote (browsers keep 4 KiB per cookie)
_MAX_COOKIE = 4096
_NONCE = 12


class ServerSession(SecureCookieSession):
    """Flask's session dict, with the server record it belongs to (signed-in sessions only)."""

    #: the cookie's token naming its web_sessions row, and whose row it is
    token: str | None = None
    owner: str | None = None
    #: when the session ends (Unix time)
    expires: float | None = None


class ServerSessionInterface(SessionInterface):
    session_class = ServerSession

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return ServerSession()
        payload = _open(app.secret_key, value)
        if payload is None or not _fresh(payload.get("e")) or not isinstance(payload.get("d"), dict):
            return _stale()
        data, token = payload["d"], payload.get("t")
        if token is None:
            # only a session with a record may be signed in
            return _stale() if "_user_id" in data else ServerSession(data)
        if not isinstance(token, str):
            return _stale()
        # read in the request's own transaction (only sign-in and sign-out write, on their own)
        record = db.session.execute(select(WebSession.user_id, WebSession.expires_at).where(
            WebSession.token_hash == _hash(token))).first()
        if record is None or str(record.user_id) != str(data.get("_user_id")):
            return _stale()
        expires = record.expires_at.timestamp()
        return _session(data, token, expires) if _fresh(expires) else _stale()

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:
        name, domain, path = self.get_cookie_name(app), self.get_cookie_domain(app), self.get_cookie_path(app)
        flags = {"domain": domain, "path": path, "secure": self.get_cookie_secure(app),
                 "samesite": self.get_cookie_samesite(app), "httponly": self.get_cookie_httponly(app),
                 "partitioned": self.get_cookie_partitioned(app)}
        if session.accessed:
            response.vary.add("Cookie")
        user_id = session.get("_user_id")
        if session.token is not None and (user_id is None or str(user_id) != session.owner):
            _end(session.token)  # signed out, or another person signed in on this browser
            session.token = session.owner = session.expires = None
            session.modified = True
        if not session:
            if session.modified:
                response.delete_cookie(name, **flags)
                response.vary.add("Cookie")
            return
        lifetime = app.permanent_session_lifetime
        if user_id is not None and session.token is None:
            session.token, session.expires = _begin(int(user_id), lifetime)
            session.owner = str(user_id)
            session.modified = True
        if not self.should_set_cookie(app, session):
            return
        expires = session.expires or time.time() + lifetime.total_seconds()
        payload = {"d": dict(session), "t": session.token, "e": expires}
        cookie_expires = datetime.fromtimestamp(expires, timezone.utc) if session.permanent or session.token else None
        response.set_cookie(name, _seal(app.secret_key, payload), expires=cookie_expires, **flags)
        response.vary.add("Cookie")


def prune_web_sessions(now: datetime | None = None) -> int:
    """Forget the sessions that have ended (run by the tick)."""
    return db.session.execute(delete(WebSession).where(WebSession.expires_at <= (now or utcnow()))).rowcount or 0


def init_app(app: Flask) -> None:
    app.session_interface = ServerSessionInterface()


def _session(data: dict, token: str, expires: float) -> ServerSession:
    session = ServerSession(data)
    session.token, session.owner, session.expires = token, str(data["_user_id"]), expires
    return session


def _stale() -> ServerSession:
    """An empty session that removes the cookie it was opened from."""
    session = ServerSession()
    session.modified = True
    return session


def _fresh(expires) -> bool:
    return isinstance(expires, (int, float)) and expires > time.time()


def _begin(user_id: int, lifetime: timedelta) -> tuple[str, float]:
    """A new record for a person who just signed in: its token and when it ends. Written on a
    connection of its own: the request's transaction has ended when the response is saved."""
    token, now = secrets.token_urlsafe(32), utcnow()
    with db.engine.begin() as connection:
        connection.execute(insert(WebSession).values(token_hash=_hash(token), user_id=user_id, created_at=now,
                                                     expires_at=now + lifetime))
    return token, (now + lifetime).timestamp()


def _end(token: str) -> None:
    with db.engine.begin() as connection:
        connection.execute(delete(WebSession).where(WebSession.token_hash == _hash(token)))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@functools.lru_cache(maxsize=4)
def _key(secret: str | bytes) -> AESGCM:
    material = secret.encode() if isinstance(secret, str) else secret
    return AESGCM(HKDF(hashes.SHA256(), 32, salt=None, info=b"web session cookie").derive(material))


def _seal(secret: str | bytes, payload: dict) -> str:
    nonce = secrets.token_bytes(_NONCE)
    sealed = _key(secret).encrypt(nonce, session_json_serializer.dumps(payload).encode(), b"session")
    return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def _open(secret: str | bytes, value: str) -> dict | None:
    """The payload of a cookie this application sealed; None for anything else."""
    if len(value) > _MAX_COOKIE or not value.isascii():
        return None
    try:
        sealed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        if len(sealed) <= _NONCE:
            return None
        payload = session_json_serializer.loads(
            _key(secret).decrypt(sealed[:_NONCE], sealed[_NONCE:], b"session").decode())
    except (InvalidTag, ValueError, TypeError, KeyError):
        return None
    return payload if isinstance(payload, dict) else None
