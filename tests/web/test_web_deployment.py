"""The production deployment of README.md, run on loopback: gunicorn with the README's sync workers
(`-w 4`, PROXY_COUNT=1) behind nginx with deploy/nginx.conf.template, rendered by envsubst as the
README renders it, TLS with a certificate made for the test.

The probe: more clients than workers open a connection, send headers announcing a 100,000-byte body
and only part of it (or only part of the headers), and hold. Sent straight to gunicorn, nobody else
is answered until they give up (a worker waits for its client's headers or body); through nginx,
which reads requests whole before it passes them on, pages and the API answer at once. Sign-in throttling counts the address nginx saw, not
nginx's own address nor one the client wrote in X-Forwarded-For.

nginx is a system package (`make system-deps` installs it): without it these tests fail.
"""
from __future__ import annotations

import http.client
import os
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from deploy import loopback
from support import PASSWORD, ROOT, user
from web import create_app
from web.extensions import db
from workflows.models import LoginAttempt
from workflows.people import add_token

#: README: gunicorn -w 4
WORKERS = 4
SLOW_CLIENTS = WORKERS + 4
#: a normal request must be answered within this while the slow clients hold
PROMPT = 3.0
#: wrong passwords allowed per address in these tests (LOGIN_MAX_FAILURES_PER_ADDRESS)
ADDRESS_LIMIT = 3


@dataclass(frozen=True)
class Stack:
    #: gunicorn, straight
    app_port: int
    #: nginx
    https_port: int
    http_port: int
    tls: ssl.SSLContext
    #: a bearer token of applicant1
    token: str


@pytest.fixture(scope="module")
def stack(seeded_db, tmp_path_factory):
    folder = tmp_path_factory.mktemp("deployment")
    url = seeded_db.copy(folder)
    config = {"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": url, "STORAGE_DIR": str(folder / "documents")}
    app = create_app(config)
    processes = []
    try:
        with app.app_context():
            add_token(db.session, user("applicant1"), "deployment-token", label="deployment")
            db.session.commit()
            app_port = loopback.free_port()
            env = {**os.environ, "PYTHONPATH": str(ROOT), "APP_ENV": "test", "PROXY_COUNT": "1",
                   "LOGIN_MAX_FAILURES_PER_ADDRESS": str(ADDRESS_LIMIT)}
            log = folder / "gunicorn.log"
            with log.open("w") as output:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-b", f"127.0.0.1:{app_port}",
                     f"web:create_app({config!r})"], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT))
            loopback.wait_listening(app_port, processes[-1], log, "gunicorn")
            nginx = loopback.start_nginx(folder, app_port)
            processes.append(nginx.process)
            stack = Stack(app_port, nginx.https_port, nginx.http_port, nginx.tls, "deployment-token")
            # every worker booted: a request answered through nginx
            assert _get(stack, "/", timeout=60)[0] == 200
            yield stack
            db.session.remove()
            db.engine.dispose()
    except loopback.StartError as error:  # nginx missing or not starting is a failure, not a skip
        pytest.fail(str(error))
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(30)
        seeded_db.databases.drop(url)


def _connection(stack: Stack, *, direct: bool = False, source: str = "127.0.0.1",
                timeout: float = PROMPT) -> http.client.HTTPConnection:
    if direct:
        return http.client.HTTPConnection("127.0.0.1", stack.app_port, timeout=timeout, source_address=(source, 0))
    return http.client.HTTPSConnection("localhost", stack.https_port, timeout=timeout, context=stack.tls,
                                       source_address=(source, 0))


def _get(stack: Stack, path: str, *, direct: bool = False, timeout: float = PROMPT,
         headers: dict | None = None) -> tuple[int, float]:
    """The status of a GET and how long it took."""
    started = time.monotonic()
    connection = _connection(stack, direct=direct, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        connection.close()


def _slow_clients(stack: Stack, *, direct: bool) -> list[socket.socket]:
    """SLOW_CLIENTS connections, each holding a request whose body has only begun, or (every
    other one) whose headers have."""
    sockets = []
    for number in range(SLOW_CLIENTS):
        sock = socket.create_connection(("127.0.0.1", stack.app_port if direct else stack.https_port), timeout=5)
        if not direct:
            sock = stack.tls.wrap_socket(sock, server_hostname="localhost")
        sock.sendall(loopback.SLOW_HEAD + (b"X-Unfinished: " if number % 2 else b"\r\n{\"username\": \"" + b"a" * 1000))
        sockets.append(sock)
    return sockets


def _post_token(stack: Stack, body: bytes, *, source: str, direct: bool = False,
                forwarded_for: str | None = None) -> int:
    connection = _connection(stack, direct=direct, source=source, timeout=30)
    headers = {"Content-Type": "application/json"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    try:
        connection.request("POST", "/api/v1/auth/token", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_slow_clients_through_nginx_leave_pages_and_the_api_answering(stack):
    slow = _slow_clients(stack, direct=False)
    try:
        time.sleep(0.5)  # nginx holds them all, waiting for the rest of their bodies
        try:
            status, page_seconds = _get(stack, "/")
            assert status == 200 and page_seconds < PROMPT, page_seconds
            status, api_seconds = _get(stack, "/api/v1/cases", headers={"Authorization": f"Bearer {stack.token}"})
            assert status == 200 and api_seconds < PROMPT, api_seconds
        except TimeoutError:
            pytest.fail(f"no answer within {PROMPT} s while {SLOW_CLIENTS} slow clients hold their requests")
    finally:
        for sock in slow:
            sock.close()


def test_the_same_slow_clients_sent_straight_to_gunicorn_stall_it(stack):
    """The probe has teeth: without nginx in front, every sync worker waits for a body."""
    slow = _slow_clients(stack, direct=True)
    try:
        with pytest.raises(TimeoutError):
            _get(stack, "/", direct=True, timeout=2)
    finally:
        for sock in slow:
            sock.close()
    # the clients gone, the workers serve again
    assert _get(stack, "/", direct=True, timeout=30)[0] == 200


def test_nginx_refuses_a_body_over_the_application_limit_before_reading_it(stack):
    sock = stack.tls.wrap_socket(socket.create_connection(("127.0.0.1", stack.https_port), timeout=5),
                                 server_hostname="localhost")
    with sock:
        sock.sendall(b"POST /api/v1/auth/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (16 * 1024 * 1024 + 1))
        assert sock.recv(100).startswith(b"HTTP/1.1 413 ")


def test_plain_http_is_sent_to_https(stack):
    connection = http.client.HTTPConnection("127.0.0.1", stack.http_port, timeout=PROMPT)
    try:
        connection.request("GET", "/login", headers={"Host": "verify.example.ir"})
        response = connection.getresponse()
        assert response.status == 301 and response.getheader("Location") == "https://verify.example.ir/login"
    finally:
        connection.close()


def test_sign_in_throttling_counts_the_address_nginx_saw(stack):
    """One client guessing passwords (claiming a new address in X-Forwarded-For each time) is
    refused once it has used its allowance; another client is not: nginx's own address is not
    shared by everyone, and a written one is not believed."""
    for number in range(ADDRESS_LIMIT):
        body = b'{"username": "guess%d", "password": "wrong"}' % number
        assert _post_token(stack, body, source="127.0.0.2", forwarded_for=f"10.9.9.{number}") == 401
    guessed = b'{"username": "applicant1", "password": "%s"}' % PASSWORD.encode()
    assert _post_token(stack, guessed, source="127.0.0.2", forwarded_for="10.9.9.99") == 429
    assert _post_token(stack, guessed, source="127.0.0.3") == 201
    db.session.expire_all()
    addresses = sorted(db.session.scalars(select(LoginAttempt.address)))
    assert addresses == ["127.0.0.2"] * ADDRESS_LIMIT + ["127.0.0.3"]


def test_forwarded_addresses_are_ignored_unless_a_proxy_is_configured(app, client):
    """Straight to the application (PROXY_COUNT=0, the default), X-Forwarded-For is the client's
    own claim; with PROXY_COUNT=1 only its last entry counts, the one the proxy appended."""
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = ADDRESS_LIMIT
    for number in range(ADDRESS_LIMIT):
        response = client.post("/api/v1/auth/token", json={"username": f"guess{number}", "password": "wrong"},
                               headers={"X-Forwarded-For": f"10.9.9.{number}"},
                               environ_base={"REMOTE_ADDR": "192.0.2.7"})
        assert response.status_code == 401
    response = client.post("/api/v1/auth/token", json={"username": "applicant1", "password": PASSWORD},
                           headers={"X-Forwarded-For": "10.9.9.99"}, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert response.status_code == 429
    assert set(db.session.scalars(select(LoginAttempt.address))) == {"192.0.2.7"}

    proxied = create_app({**{key: app.config[key] for key in ("APP_ENV", "SQLALCHEMY_DATABASE_URI", "STORAGE_DIR")},
                          "PROXY_COUNT": 1}).test_client()
    response = proxied.post("/api/v1/auth/token", json={"username": "guess", "password": "wrong"},
                            headers={"X-Forwarded-For": "10.9.9.1, 198.51.100.4"},
                            environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 401
    db.session.expire_all()
    assert db.session.scalars(select(LoginAttempt.address).order_by(LoginAttempt.id.desc())).first() == "198.51.100.4"
    with proxied.application.app_context():
        db.engine.dispose()
