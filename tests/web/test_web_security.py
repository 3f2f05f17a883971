"""Hardening a user meets without noticing: response headers, pages that satisfy their own
Content-Security-Policy, password guessing slowed down, session cookies, refused unsafe secrets."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from support import PASSWORD, assert_nothing_inline, found_center, login
from web import create_app
from web.extensions import db
from web.security import CONTENT_SECURITY_POLICY
from workflows.models import Case, LoginAttempt

PAGES = ["/", "/login", "/verify", "/cases", "/inbox", "/notifications", "/centers", "/monitoring"]


def _fail_login(client, username="applicant1", times=1, password="wrong-password"):
    return [client.post("/login", data={"username": username, "password": password}) for _ in range(times)]


def test_every_answer_carries_the_security_headers(app, client):
    for path in ("/", "/login", "/api/v1/tasks", "/no-such-page"):
        headers = client.get(path).headers
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in client.get("/").headers  # plain HTTP in development
    for asset in ("/static/app.css", "/static/app.js"):  # files anyone may cache
        with client.get(asset) as response:
            assert response.status_code == 200 and "no-store" not in response.headers.get("Cache-Control", "")


@pytest.mark.parametrize("username", ["applicant1", "arak_officer", "markazi_officer", "hq_auditor", "admin"])
def test_pages_need_nothing_inline_that_the_policy_forbids(app, client, username):
    login(client, username)
    center = found_center(app, "applicant1") if username == "applicant1" else None
    paths = list(PAGES)
    if center is not None:
        case = db.session.scalars(select(Case).where(Case.center_id == center.id)).one()
        paths += [f"/cases/{case.id}", f"/centers/{center.id}"]
    for path in paths:
        response = client.get(path)
        if response.status_code != 200:
            continue
        assert_nothing_inline(response.get_data(as_text=True), path)


def test_wrong_passwords_lock_the_account_for_a_while(app, client):
    limit = app.config["LOGIN_MAX_FAILURES"]
    assert [r.status_code for r in _fail_login(client, times=limit)] == [401] * limit
    locked = client.post("/login", data={"username": "applicant1", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    page = locked.get_data(as_text=True)
    assert "ورودهای ناموفق بسیار بوده است" in page and "۱۵ دقیقهٔ دیگر" in page
    assert client.get("/cases").status_code == 302  # not signed in
    # another account from elsewhere is not affected
    other = app.test_client()
    assert other.post("/login", data={"username": "applicant2", "password": PASSWORD},
                      environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 302
    # the window passes: the right password works again, and the count starts afresh
    db.session.execute(update(LoginAttempt).values(at=LoginAttempt.at - timedelta(minutes=16)))
    db.session.commit()
    login(client, "applicant1")


def test_a_successful_sign_in_resets_the_account_count(app, client):
    limit = app.config["LOGIN_MAX_FAILURES"]
    _fail_login(client, times=limit - 1)
    login(client, "applicant1")
    client.post("/logout")
    assert [r.status_code for r in _fail_login(client, times=limit - 1)] == [401] * (limit - 1)
    login(client, "applicant1")


def test_guessing_across_accounts_from_one_address_is_throttled(app, client):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 6
    for name in ("u1", "u2", "u3", "u4", "u5", "u6"):  # unknown names count like known ones
        assert _fail_login(client, username=name)[0].status_code == 401
    assert client.post("/login", data={"username": "applicant2", "password": PASSWORD}).status_code == 429
    elsewhere = app.test_client()
    assert elsewhere.post("/login", data={"username": "applicant2", "password": PASSWORD},
                          environ_base={"REMOTE_ADDR": "10.0.0.7"}).status_code == 302


def test_the_api_token_endpoint_shares_the_throttle(app, client):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        response = client.post("/api/v1/auth/token", json={"username": "arak_officer", "password": "x"})
        assert response.status_code == 401
    response = client.post("/api/v1/auth/token", json={"username": "arak_officer", "password": PASSWORD})
    assert response.status_code == 429 and response.json["error"] == "too_many_attempts"
    assert int(response.headers["Retry-After"]) > 0
    assert client.post("/login", data={"username": "arak_officer", "password": PASSWORD}).status_code == 429


def test_the_tick_forgets_old_attempts(app, client):
    from support import tick
    from workflows.models import utcnow
    _fail_login(client, times=2)
    db.session.execute(update(LoginAttempt).values(at=LoginAttempt.at - timedelta(days=2)))
    db.session.commit()
    _fail_login(client, times=1)
    tick(app, utcnow())
    assert db.session.query(LoginAttempt).count() == 1


def test_signing_in_starts_a_fresh_session_that_expires(app, client):
    with client.session_transaction() as planted:
        planted["planted"] = "by someone else"
    login(client, "applicant1")
    with client.session_transaction() as session:
        assert "planted" not in session and session.permanent
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.expires is not None


def test_production_cookies_are_secure_and_unsafe_secrets_refused(tmp_path, monkeypatch):
    base = {"APP_ENV": "production", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}",
            "SYSTEM_SIGNING_PIN": "p" * 20, "CA_KEY_PASSPHRASE": "c" * 20,
            "PUBLIC_BASE_URL": "https://verify.mosques.example"}
    for secret in (None, "dev", "short-secret"):
        with pytest.raises(RuntimeError, match="SECRET_KEY"):
            create_app({**base, "SECRET_KEY": secret})
    with pytest.raises(RuntimeError, match="SYSTEM_SIGNING_PIN"):
        create_app({**base, "SECRET_KEY": "s" * 40, "SYSTEM_SIGNING_PIN": "1405"})
    for address in ("", "http://verify.mosques.example", "https://", "javascript:alert(1)",
                    "https://verify.mosques.example/?next=x", "https://user:pw@verify.mosques.example"):
        with pytest.raises(RuntimeError, match="PUBLIC_BASE_URL"):
            create_app({**base, "SECRET_KEY": "s" * 40, "PUBLIC_BASE_URL": address})
    app = create_app({**base, "SECRET_KEY": "s" * 40})
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax" and app.config["REMEMBER_COOKIE_SECURE"]
    response = app.test_client().get("/login", base_url="https://licensing.example")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("target", ["/%09/evil.example/phish", "/\t/evil.example", "//evil.example", "/\\evil.example",
                                    "https://evil.example/", "/ /evil.example", "/\x00/evil.example",
                                    "javascript:alert(1)", "/no-such-page", "%2F%2Fevil.example"])
def test_sign_in_never_sends_anyone_off_the_site(client, target):
    response = client.post("/login", query_string={"next": target}, data={"username": "applicant1",
                                                                          "password": "demo1234"})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//") and "evil" not in location, location


def test_sign_in_goes_back_to_the_page_of_this_site_that_asked(client):
    response = client.post("/login", query_string={"next": "/centers?q=x"}, data={"username": "arak_officer",
                                                                                  "password": "demo1234"})
    assert response.headers["Location"] == "/centers?q=x"
