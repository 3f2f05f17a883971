"""One commit per request: a view that writes commits once when it answers, and nothing when it raises."""
from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select

from office_support import tokens_for
from support import PIN, ROOT, in_county_review, login, user
from web.extensions import db
from workflows.keys import active_key
from workflows.models import Case, Draft, LogLeaf, Record, SigningSession

#: write methods of routes that write nothing (a PDF checked, a time-stamp signed and not stored)
READ_ONLY_WRITE_ROUTES = {"public.verify_form", "tsa.timestamp"}
#: the commits outside web/transaction.py, each a deliberate exception named where it is made
#: (workflows/scenarios.py: the seed of its own throwaway database, never the application's)
COMMITS_ELSEWHERE = {"web/auth.py": 1, "web/certificate.py": 1, "workflows/scenarios.py": 1}


@contextmanager
def counted_commits():
    """How many times the session committed (its outermost transaction: a savepoint released is no commit)."""
    session, commits = db.session(), []

    def count(committed) -> None:
        if not committed.in_nested_transaction():
            commits.append(1)

    event.listen(session, "after_commit", count)
    try:
        yield commits
    finally:
        event.remove(session, "after_commit", count)


def _state(case: Case) -> tuple:
    db.session.expire_all()
    return (db.session.get(Case, case.id).status,
            db.session.scalar(select(func.count()).select_from(Record).where(Record.case_id == case.id)),
            db.session.scalar(select(func.count()).select_from(LogLeaf)),
            db.session.scalar(select(func.count()).select_from(Draft)),
            db.session.scalar(select(func.count()).select_from(SigningSession)))


@pytest.mark.parametrize("keep_unlocked", ["", "1"])
def test_a_signed_page_submit_commits_once(app, client, keep_unlocked):
    """The draft, the signing session kept open and the signed transition: one commit."""
    case = in_county_review(app)
    login(client, "arak_officer")
    with counted_commits() as commits:
        response = client.post(f"/cases/{case.id}/tasks/{case.tasks[0].task_id}", data={
            "decision": "approve", "_action": "submit", "pin": PIN, "keep_unlocked": keep_unlocked})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert len(commits) == 1
    assert _state(case)[0] == "province_review"
    assert _state(case)[4] == (1 if keep_unlocked else 0)


def test_a_signed_api_completion_commits_once(app, client):
    case = in_county_review(app)
    headers = tokens_for("arak_officer")["arak_officer"]
    db.session.commit()
    with counted_commits() as commits:
        response = client.post(f"/api/v1/cases/{case.id}/tasks/{case.tasks[0].task_id}/complete",
                               json={"data": {"decision": "approve"}, "pin": PIN}, headers=headers)
    assert response.status_code == 200, response.json
    assert len(commits) == 1
    assert _state(case)[0] == "province_review"


def test_a_failed_page_submit_keeps_the_draft_and_counts_the_wrong_pin(app, client):
    """The transition is undone alone: the draft typed stays, and so does the wrong PIN's count."""
    case = in_county_review(app)
    before = _state(case)
    login(client, "arak_officer")
    with counted_commits() as commits:
        response = client.post(f"/cases/{case.id}/tasks/{case.tasks[0].task_id}", data={
            "decision": "approve", "reason": "همه استعلام‌ها پاک است", "_action": "submit", "pin": "0000"})
    assert response.status_code == 422
    assert len(commits) == 1
    assert _state(case) == (*before[:3], before[3] + 1, before[4])
    assert active_key(db.session, user("arak_officer")).failed_pins == 1


def test_a_page_handler_raising_after_its_writes_leaves_nothing_written(app, client, monkeypatch):
    case = in_county_review(app)
    login(client, "arak_officer")
    before = _state(case)

    def fail(*args, **kwargs):
        raise RuntimeError("the handler fails after the transition was written")

    monkeypatch.setattr("web.pages.flash", fail)
    response = client.post(f"/cases/{case.id}/tasks/{case.tasks[0].task_id}",
                           data={"decision": "approve", "_action": "submit", "pin": PIN, "keep_unlocked": "1"})
    assert response.status_code == 500
    assert _state(case) == before  # no transition, no draft, no signing session


def test_an_api_handler_raising_after_its_writes_leaves_nothing_written(app, client, monkeypatch):
    case = in_county_review(app)
    headers = tokens_for("arak_officer")["arak_officer"]
    db.session.commit()
    before = _state(case)

    def fail(*args, **kwargs):
        raise RuntimeError("the handler fails after the transition was written")

    monkeypatch.setattr("web.api.completion_json", fail)
    response = client.post(f"/api/v1/cases/{case.id}/tasks/{case.tasks[0].task_id}/complete",
                           json={"data": {"decision": "approve"}, "pin": PIN}, headers=headers)
    assert response.status_code == 500
    assert _state(case) == before


def test_every_route_that_writes_commits_through_the_one_boundary(app):
    unmarked = sorted(rule.endpoint for rule in app.url_map.iter_rules()
                      if rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
                      and not getattr(app.view_functions[rule.endpoint], "commits", False)
                      and rule.endpoint not in READ_ONLY_WRITE_ROUTES)
    assert unmarked == []


def test_nothing_else_commits():
    """workflows/ only flushes; in web/ the boundary commits, and the exceptions it names."""
    found = {}
    for package in ("workflows", "web", "engine", "forms", "signing"):
        for path in sorted((ROOT / package).rglob("*.py")):
            count = len(re.findall(r"\.commit\(\)", path.read_text(encoding="utf-8")))
            if count:
                found[path.relative_to(ROOT).as_posix()] = count
    assert found == {"web/transaction.py": 1, **COMMITS_ELSEWHERE}
