"""A crash in the middle of a transition leaves nothing behind, and the case goes on.

Each point of a county approval is made to raise once: after the engine step, after the record
is signed and appended to the log, after the case is saved (just before the commit), and inside
the notifications. Afterwards nothing of the failed attempt is visible — no record, no log leaf,
no notification, the same state and lock version — and the same approval then succeeds with a
chain and log that verify.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

import engine
from support import ACTORS, PIN, in_county_review, login, user
from web.extensions import db
from workflows import log, notifications, transitions
from workflows.cases import complete_task
from workflows.models import Case, CaseTask, LogLeaf, LogState, Record
from workflows.notifications import Notification, OutboxMessage
from workflows.verification import verify_case


class Crash(RuntimeError):
    """The injected failure."""


def _after(original):
    def crash_after(*args, **kwargs):
        original(*args, **kwargs)
        raise Crash("injected")
    return crash_after


POINTS = {
    "after the engine step": (engine.Instance, "complete"),
    "after the record is signed and logged": (transitions.Transition, "sign"),
    "after the case is saved, before commit": (transitions.Transition, "_save"),
    "inside the notifications": (notifications, "after_transition"),
}


def _visible(case_id: int) -> dict:
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    count = lambda model, *where: db.session.scalar(select(func.count()).select_from(model).where(*where))  # noqa: E731
    return {"status": case.status, "lock_version": case.lock_version, "state": case.state,
            "tasks": sorted(t.task_id for t in db.session.scalars(select(CaseTask).where(CaseTask.case_id == case_id))),
            "records": count(Record, Record.case_id == case_id), "leaves": count(LogLeaf),
            "log_size": db.session.scalar(select(LogState.size)),
            "notifications": count(Notification), "outbox": count(OutboxMessage)}


def _log_is_whole() -> None:
    indexes = list(db.session.scalars(select(LogLeaf.index).order_by(LogLeaf.index)))
    assert indexes == list(range(len(indexes))) == list(range(db.session.scalar(select(LogState.size))))


@pytest.mark.parametrize("point", POINTS)
def test_a_crash_mid_transition_leaves_nothing_and_the_case_continues(app, monkeypatch, point):
    case = in_county_review(app)
    case_id, task_id = case.id, case.tasks[0].task_id
    before = _visible(case_id)
    target, name = POINTS[point]
    monkeypatch.setattr(target, name, _after(getattr(target, name)))
    with pytest.raises(Crash):
        complete_task(db.session, case=db.session.get(Case, case_id), task_id=task_id, actor=user(ACTORS["county"]),
                      data={"decision": "approve"}, pin=PIN)
    db.session.rollback()  # what the request's teardown does
    monkeypatch.undo()
    assert _visible(case_id) == before

    complete_task(db.session, case=db.session.get(Case, case_id), task_id=task_id, actor=user(ACTORS["county"]),
                  data={"decision": "approve"}, pin=PIN)
    db.session.commit()
    case = db.session.get(Case, case_id)
    assert case.status == "province_review" and verify_case(db.session, case).ok
    after = _visible(case_id)
    assert after["records"] == before["records"] + 1 and after["lock_version"] > before["lock_version"]
    _log_is_whole()


def test_a_crash_inside_a_request_answers_500_and_writes_nothing(app, client, monkeypatch):
    case = in_county_review(app)
    case_id, task_id = case.id, case.tasks[0].task_id
    before = _visible(case_id)
    monkeypatch.setattr(log, "append", _after(log.append))
    login(client, ACTORS["county"])
    form = {"decision": "approve", "pin": PIN, "_action": "submit", "lock_version": before["lock_version"]}
    response = client.post(f"/cases/{case_id}/tasks/{task_id}", data=form)
    assert response.status_code == 500 and "خطا" in response.get_data(as_text=True)
    monkeypatch.undo()
    assert _visible(case_id) == before
    response = client.post(f"/cases/{case_id}/tasks/{task_id}", data=form)
    assert response.status_code == 302
    assert _visible(case_id)["status"] == "province_review"
    _log_is_whole()
