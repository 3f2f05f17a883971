"""Concurrency against a running server: gunicorn with several worker processes on the test's
database, clients in threads released at the same moment, and two deadline ticks in separate
processes. Exactly one of the racing requests is signed; the others get a conflict (409); the
case gains exactly one record, its chain verifies, and the Merkle log neither forks nor skips.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from office_support import national_id
from support import ACTORS, PIN, ROOT, in_county_review, submitted_founding, user
from web.extensions import db
from workflows import log
from workflows.keys import MAX_WRONG_PINS, active_key, unlock_signer
from workflows.models import ApiToken, Case, Certificate, Inquiry, LogLeaf, Record, SigningSession, utcnow
from workflows.people import add_token
from workflows.verification import verify_case

WORKERS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _factory(app) -> str:
    config = {"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
              "STORAGE_DIR": str(app.config["STORAGE_DIR"])}
    return f"web:create_app({config!r})"


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "APP_ENV": "test"}


@pytest.fixture
def server(app, tmp_path):
    db.session.commit()
    port = _free_port()
    log_file = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--bind",
                                f"127.0.0.1:{port}", "--timeout", "120", _factory(app)],
                               cwd=ROOT, env=_env(), stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/v1/log/checkpoint", timeout=10).read()
                break
            except OSError:  # not listening yet, or no worker booted yet (URLError is an OSError)
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the server did not start:\n" + (tmp_path / "gunicorn.log").read_text()[-3000:])
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(30)
        log_file.close()
        db.session.remove()


def _bearer(username: str) -> dict:
    token = f"race-token-{username}"
    add_token(db.session, user(username), token, label="race")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def _race(url: str, bodies: list[dict], headers: dict) -> list[int]:
    """POST every body at once (one thread each, released together); the status codes."""
    start = threading.Barrier(len(bodies), timeout=60)
    statuses: list[int] = []

    def send(body: dict) -> None:
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                         headers={**headers, "Content-Type": "application/json"})
        start.wait()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                statuses.append(response.status)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)

    threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return sorted(statuses)


def _records(case_id: int) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Record).where(Record.case_id == case_id))


def _log_is_whole() -> None:
    db.session.expire_all()
    indexes = list(db.session.scalars(select(LogLeaf.index).order_by(LogLeaf.index)))
    assert indexes == list(range(len(indexes)))  # no gap, no index twice
    assert db.session.scalar(select(func.count()).select_from(Record).where(Record.log_index.is_(None))) == 0
    log_cert = db.session.scalars(select(Certificate).where(Certificate.purpose == "log")).one()
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from signing import pki as x
    public = x.load_certificate(log_cert.pem).public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    assert log.verify_log(db.session, public) == []


def test_officers_racing_on_one_task_sign_it_once(app, server):
    case = in_county_review(app)
    case_id, task_id = case.id, case.tasks[0].task_id
    before = _records(case_id)
    headers = _bearer(ACTORS["county"])
    url = f"{server}/api/v1/cases/{case_id}/tasks/{task_id}/complete"
    statuses = _race(url, [{"data": {"decision": "approve"}, "pin": PIN}] * 6, headers)
    assert statuses == [200] + [409] * 5, statuses
    assert _records(case_id) == before + 1
    case = db.session.get(Case, case_id)
    assert case.status == "province_review" and verify_case(db.session, case).ok
    _log_is_whole()


def test_agencies_racing_on_one_inquiry_answer_it_once(app, server):
    case = submitted_founding(app)
    inquiry = db.session.scalars(select(Inquiry).where(Inquiry.case_id == case.id, Inquiry.agency == "judiciary")).one()
    before = _records(case.id)
    url = f"{server}/api/v1/inquiries/{inquiry.id}/answer"
    bodies = [{"data": {"result": "clear", "reference": f"REF-{n}"}, "pin": PIN} for n in range(4)]
    statuses = _race(url, bodies, _bearer("judiciary_agency"))
    assert statuses == [200] + [409] * 3, statuses
    assert _records(case.id) == before + 1
    assert verify_case(db.session, db.session.get(Case, case.id)).ok


def test_transitions_of_many_cases_at_once_keep_one_unbroken_log(app, server):
    cases = [in_county_review(app, manager_national_id=national_id)
             for national_id in ("2234567815", "1234567891", "0013542419", "0067749828")]
    cases = [(case.id, case.tasks[0].task_id) for case in cases]
    headers = _bearer(ACTORS["county"])
    start = threading.Barrier(len(cases), timeout=60)
    statuses: list[int] = []

    def approve(case_id: int, task_id: str) -> None:
        request = urllib.request.Request(f"{server}/api/v1/cases/{case_id}/tasks/{task_id}/complete",
                                         data=json.dumps({"data": {"decision": "approve"}, "pin": PIN}).encode(),
                                         method="POST", headers={**headers, "Content-Type": "application/json"})
        start.wait()
        for _ in range(20):  # SQLite refuses a simultaneous writer (409): the client tries again
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    statuses.append(response.status)
                    return
            except urllib.error.HTTPError as error:
                if error.code != 409:
                    statuses.append(error.code)
                    return
                time.sleep(0.1)

    threads = [threading.Thread(target=approve, args=pair) for pair in cases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert statuses == [200] * len(cases), statuses
    for case_id, _ in cases:
        case = db.session.get(Case, case_id)
        assert case.status == "province_review" and verify_case(db.session, case).ok
    _log_is_whole()


def test_two_ticks_in_separate_processes_fire_a_deadline_once(app, server):
    case = in_county_review(app)
    assert case.wake_at is not None
    before = _records(case.id)
    later = (utcnow() + timedelta(days=30)).isoformat()
    command = [sys.executable, "-m", "flask", "--app", _factory(app), "tick", "--now", later]
    ticks = [subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(2)]
    outputs = [tick.communicate(timeout=180)[0] for tick in ticks]
    if [tick.returncode for tick in ticks] != [0, 0]:
        pytest.fail("a tick failed:\n" + "\n---\n".join(outputs))
    db.session.expire_all()
    fired = db.session.scalars(select(Record).where(Record.case_id == case.id, Record.seq > before)
                               .order_by(Record.seq)).all()
    assert [r.action for r in fired].count("deadline_passed") == 1, [r.action for r in fired]
    assert verify_case(db.session, db.session.get(Case, case.id)).ok
    _log_is_whole()


def _burst(url: str, wrong: dict, right: dict, headers: dict, *, count: int, refused_after: int,
           evaluated: int) -> tuple[list[int], int]:
    """POST `count` wrong bodies at once, and the right body as soon as `refused_after` of them have
    been answered `evaluated` (the limit is reached: some of the burst may still be on its way);
    the burst's status codes, and the right body's."""
    start = threading.Barrier(count, timeout=60)
    reached = threading.Semaphore(0)
    statuses: list[int] = []

    def post(body: dict) -> int:
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                         headers={**headers, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def send() -> None:
        start.wait()
        status = post(wrong)
        statuses.append(status)
        if status == evaluated:
            reached.release()

    threads = [threading.Thread(target=send) for _ in range(count)]
    for thread in threads:
        thread.start()
    for _ in range(refused_after):
        assert reached.acquire(timeout=120), sorted(statuses)
    right_status = post(right)
    for thread in threads:
        thread.join(180)
    return sorted(statuses), right_status


@pytest.mark.parametrize("endpoint", ["signing_session", "complete_task"])
def test_a_burst_of_wrong_pins_has_no_more_tried_than_the_lock_allows(app, server, endpoint):
    """60 wrong PINs at once: exactly MAX_WRONG_PINS are tried (422), the others refused as locked
    (403); the right PIN sent while the burst is answered opens nothing and signs nothing."""
    case = in_county_review(app)
    before = _records(case.id)
    headers = _bearer(ACTORS["county"])
    if endpoint == "signing_session":
        url, body = f"{server}/api/v1/signing-sessions", {}
    else:
        url = f"{server}/api/v1/cases/{case.id}/tasks/{case.tasks[0].task_id}/complete"
        body = {"data": {"decision": "approve"}}
    statuses, right = _burst(url, {**body, "pin": "0000"}, {**body, "pin": PIN}, headers,
                             count=60, refused_after=MAX_WRONG_PINS, evaluated=422)
    assert statuses == [403] * (60 - MAX_WRONG_PINS) + [422] * MAX_WRONG_PINS, statuses
    assert right == 403
    db.session.expire_all()
    assert active_key(db.session, user(ACTORS["county"])).failed_pins == MAX_WRONG_PINS
    assert db.session.scalar(select(func.count()).select_from(SigningSession)) == 0
    assert _records(case.id) == before and db.session.get(Case, case.id).status == "county_review"


def test_a_burst_of_wrong_passwords_has_no_more_tried_than_the_limit(app, server):
    """25 wrong passwords at once: LOGIN_MAX_FAILURES are checked (401), the others refused (429)
    before the password is looked at; the right password sent while the burst is answered gets no
    token."""
    limit = app.config["LOGIN_MAX_FAILURES"]
    tokens = db.session.scalar(select(func.count()).select_from(ApiToken))
    statuses, right = _burst(f"{server}/api/v1/auth/token", {"username": "applicant1", "password": "wrong-guess"},
                             {"username": "applicant1", "password": "demo1234"}, {},
                             count=25, refused_after=limit, evaluated=401)
    assert statuses == [401] * limit + [429] * (25 - limit), statuses
    assert right == 429
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == tokens


def test_on_sqlite_a_signature_is_committed_while_a_long_page_read_is_open(app):
    """The embedded database keeps a write-ahead log with synchronous=NORMAL: a writer commits while a
    reader's transaction is open, and the reader keeps its snapshot (in rollback-journal mode the
    commit would wait for the reader, then fail with "database is locked")."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's writers never wait for readers")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    reader = db.engine.connect()
    try:
        reader.exec_driver_sql("BEGIN")
        before = reader.exec_driver_sql("SELECT full_name FROM users WHERE username = 'arak_officer'").scalar()
        started = time.monotonic()
        with db.engine.connect() as writer:
            writer.exec_driver_sql("UPDATE users SET full_name = 'نام تازه' WHERE username = 'arak_officer'")
            writer.commit()
        assert time.monotonic() - started < 1.0
        assert reader.exec_driver_sql("SELECT full_name FROM users WHERE username = 'arak_officer'").scalar() == before
    finally:
        reader.rollback()
        reader.close()
    with db.engine.connect() as later:
        assert later.exec_driver_sql("SELECT full_name FROM users WHERE username = 'arak_officer'").scalar() == "نام تازه"


def _approve_in_a_process(engine, case_ids: list[int], start, out) -> None:
    """A worker process: approve these cases at the county office, each in its own transaction, as two
    server processes would; waiting for the database is fine, a refused write is reported."""
    from sqlalchemy.exc import IntegrityError, OperationalError
    from sqlalchemy.orm import Session

    from workflows.cases import complete_task
    from workflows.errors import Conflict
    from workflows.models import User
    engine.dispose(close=False)  # the parent's pooled connections stay the parent's
    refused = []
    with Session(engine) as session:
        officer = session.scalars(select(User).where(User.username == ACTORS["county"])).one()
        signer = unlock_signer(session, officer, PIN)
        session.commit()
        start.wait()
        for case_id in case_ids:
            for _ in range(50):
                try:
                    case = session.get(Case, case_id)
                    complete_task(session, case=case, task_id=case.tasks[0].task_id, actor=officer,
                                  data={"decision": "approve"}, signer=signer)
                    session.commit()
                    break
                except (OperationalError, Conflict):  # the other process holds the database or the case: again
                    session.rollback()
                    time.sleep(0.05)
                except IntegrityError as error:
                    session.rollback()
                    refused.append(f"case {case_id}: {error.orig}")
                    break
    out.put(refused)


def test_two_processes_signing_at_once_never_take_the_same_log_leaf(app):
    """Two writer processes on one database: every transition lands, the log whole (on SQLite, where
    FOR UPDATE does nothing, a transition must write before it reads the log's size)."""
    import multiprocessing
    cases = [in_county_review(app, manager_national_id=national_id(700 + number)).id for number in range(6)]
    db.session.commit()
    db.session.remove()
    context = multiprocessing.get_context("fork")
    start, out = context.Barrier(2, timeout=60), context.Queue()
    workers = [context.Process(target=_approve_in_a_process, args=(db.engine, cases[number::2], start, out))
               for number in range(2)]
    for worker in workers:
        worker.start()
    refused = [message for _ in workers for message in out.get(timeout=300)]
    for worker in workers:
        worker.join(60)
    assert refused == []
    for case_id in cases:
        case = db.session.get(Case, case_id)
        assert case.status == "province_review" and verify_case(db.session, case).ok
    _log_is_whole()
