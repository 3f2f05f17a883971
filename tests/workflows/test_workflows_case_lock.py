"""Two workers complete the same task at the same moment: one transition is signed, never two.

On PostgreSQL complete_task locks the case row (SELECT ... FOR UPDATE), so the second waits
for the first to commit, reloads the case and finds the task gone: a clean Conflict (HTTP 409).
SQLite has no row locks; there the second fails on the version column or the (case, seq) key.
"""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from support import ACTORS, PIN, in_county_review, user
from web.extensions import db
from workflows.cases import complete_task
from workflows.errors import Conflict
from workflows.models import Case, Record


def test_simultaneous_completions_sign_once(app):
    case = in_county_review(app)
    case_id, task_id = case.id, case.tasks[0].task_id
    records_before = db.session.scalar(select(func.count()).select_from(Record).where(Record.case_id == case_id))
    both_loaded = threading.Barrier(2, timeout=30)
    outcomes: list[BaseException | None] = []

    def officer() -> None:
        with app.app_context():  # its own session and connection, as in another worker
            loaded = db.session.get(Case, case_id)
            assert [t.task_id for t in loaded.tasks] == [task_id]
            both_loaded.wait()
            try:
                complete_task(db.session, case=loaded, task_id=task_id, actor=user(ACTORS["county"]),
                              data={"decision": "approve"}, pin=PIN)
                db.session.commit()
                outcomes.append(None)
            except Exception as error:  # noqa: BLE001 - the outcome is what the test checks
                db.session.rollback()
                outcomes.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=officer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(outcomes) == 2 and outcomes.count(None) == 1, outcomes
    failure = next(o for o in outcomes if o is not None)
    if db.engine.dialect.name == "postgresql":
        assert isinstance(failure, Conflict), repr(failure)
    db.session.expire_all()
    records_after = db.session.scalar(select(func.count()).select_from(Record).where(Record.case_id == case_id))
    assert records_after == records_before + 1
    assert db.session.get(Case, case_id).status == "province_review"
