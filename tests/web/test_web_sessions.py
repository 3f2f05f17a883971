"""Browser sessions: signing out ends a session wherever its cookie was copied, the cookie tells
nothing to whoever reads it and opens nothing once changed, and a session ends on time."""
from __future__ import annotations

import base64
import json
import zlib
from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select, update

from support import PIN, in_county_review, login, user
from web.cli import run_tick
from web.extensions import db
from workflows.models import Case, WebSession, utcnow


def _sessions() -> int:
    return db.session.scalar(select(func.count()).select_from(WebSession))


def _with_cookie(app, value: str):
    """Another browser that holds this session cookie."""
    other = app.test_client()
    other.set_cookie("session", value)
    return other


def _signed_in(client) -> bool:
    response = client.get("/cases")
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def _open_key_on_page(app, client) -> str:
    """The officer approves with the key kept open: the session holds a signing-session handle."""
    case = in_county_review(app)
    task_id = db.session.get(Case, case.id).tasks[0].task_id
    response = client.post(f"/cases/{case.id}/tasks/{task_id}",
                           data={"decision": "approve", "_action": "submit", "pin": PIN, "keep_unlocked": "1"})
    assert response.status_code == 302
    with client.session_transaction() as session:
        return session["signing_session"]


def test_a_cookie_copied_before_signing_out_opens_nothing_after(app, client):
    login(client, "arak_officer")
    _open_key_on_page(app, client)
    copied = client.get_cookie("session").value
    assert _sessions() == 1 and _signed_in(_with_cookie(app, copied))
    assert client.post("/logout").status_code == 302
    assert _sessions() == 0
    thief = _with_cookie(app, copied)
    response = thief.get("/cases")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert thief.get("/api/v1/tasks").status_code == 401
    assert thief.get_cookie("session") is None  # the dead cookie is removed
    assert not _signed_in(client)


def test_signing_in_again_is_a_new_session_and_the_old_one_stays_ended(app, client):
    login(client, "arak_officer")
    first = client.get_cookie("session").value
    client.post("/logout")
    login(client, "arak_officer")
    assert _sessions() == 1 and _signed_in(client)
    assert not _signed_in(_with_cookie(app, first))
    # two browsers signed in at once are two sessions; ending one leaves the other
    other = app.test_client()
    login(other, "arak_officer")
    assert _sessions() == 2
    other.post("/logout")
    assert _signed_in(client) and not _signed_in(other)


def test_the_cookie_shows_no_handle_user_or_csrf_token(app, client):
    login(client, "arak_officer")
    handle = _open_key_on_page(app, client)
    client.get("/cases")  # a page with forms: its CSRF token is in the session
    with client.session_transaction() as session:
        csrf_token, user_id = session["csrf_token"], session["_user_id"]
    value = client.get_cookie("session").value
    secret = handle.split(".")[1]
    readings = [value.encode()]
    for text in (value, value.lstrip(".")):  # itsdangerous: payload.timestamp.signature, "." when zlib'd
        for part in text.split("."):
            try:
                raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
            except ValueError:
                continue
            readings.append(raw)
            try:
                readings.append(zlib.decompress(raw))
            except zlib.error:
                pass
    for reading in readings:
        for needle in (handle.encode(), secret.encode(), csrf_token.encode(), b"_user_id",
                       json.dumps(user_id).encode() + b"}", b"signing_session"):
            assert needle not in reading, needle
    with pytest.raises(Exception):
        URLSafeTimedSerializer(app.secret_key, salt="cookie-session").loads(value)


@pytest.mark.parametrize("change", ["flip", "truncate", "append", "garbage", "empty_payload", "flask_signed",
                                    "long", "non_ascii"])
def test_a_changed_or_foreign_cookie_is_an_empty_session(app, client, change):
    login(client, "arak_officer")
    value = client.get_cookie("session").value
    forged = {
        "flip": value[:20] + ("A" if value[20] != "A" else "B") + value[21:],
        "truncate": value[:-4],
        "append": value + "AAAA",
        "garbage": "not-a-session",
        "empty_payload": base64.urlsafe_b64encode(b"\0" * 12).decode(),
        # what Flask's own signed cookie would have held, signed with the real secret
        "flask_signed": URLSafeTimedSerializer(app.secret_key, salt="cookie-session", signer_kwargs={
            "key_derivation": "hmac", "digest_method": __import__("hashlib").sha1}).dumps(
            {"_user_id": str(user("admin").id), "_fresh": True}),
        "long": "A" * 4000,
        "non_ascii": "سلام",
    }[change]
    other = app.test_client()
    other.set_cookie("session", forged)
    response = other.get("/cases")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert other.get("/api/v1/tasks").status_code == 401
    assert other.get("/login").status_code == 200
    assert _signed_in(client)  # the real session is untouched


def test_a_session_ends_when_its_time_is_up_and_the_tick_forgets_it(app, client):
    login(client, "arak_officer")
    cookie = client.get_cookie("session")
    lifetime = app.permanent_session_lifetime
    record = db.session.scalars(select(WebSession)).one()
    assert abs(record.expires_at.replace(tzinfo=None) - (utcnow() + lifetime).replace(tzinfo=None)) < timedelta(minutes=1)
    assert cookie.expires is not None and cookie.http_only and cookie.same_site == "Lax"
    db.session.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert not _signed_in(client)
    run_tick(utcnow())
    db.session.commit()
    assert _sessions() == 0


def test_deactivating_a_person_ends_their_sessions(app, client):
    officer = app.test_client()
    login(officer, "arak_officer")
    assert _signed_in(officer) and _sessions() == 1
    login(client, "admin")
    response = client.post(f"/admin/users/{user('arak_officer').id}/deactivate",
                           data={"reason": "پایان همکاری با اداره", "pin": PIN})
    assert response.status_code == 302
    assert not _signed_in(officer)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(WebSession).where(
        WebSession.user_id == user("arak_officer").id)) == 0
