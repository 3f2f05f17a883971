"""The whole-database audit keeps the log honest from inside: every leaf has its record and every
record its leaf (the admin log's records included), no gap, the stored subtrees, frontier and
checkpoints are those of the leaves. Each of the issue's rewrites is tried against verify-all."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, text, update

from support import ACTORS, add_counties_signed, found_center, in_county_review
from web.extensions import db
from workflows import log
from workflows.admin import AdminRecord
from workflows.models import Case, LogCheckpoint, LogLeaf, LogNode, LogState, Record, RecordTiming

PASSPHRASE = "test-only-ca-passphrase"


@pytest.fixture
def populated(app, runner):
    """Two licensed centers, a case under review, admin changes, and a checkpoint over all of it."""
    found_center(app, ACTORS["applicant"])
    waiting = in_county_review(app, "applicant2", manager_national_id="0067749828")
    add_counties_signed(runner)
    log.checkpoint(db.session, PASSPHRASE)
    db.session.commit()
    result = runner.invoke(args=["verify-all", "--quiet"])
    assert result.exit_code == 0 and "log: 0 problem(s); admin log ok (2 record(s))" in result.output, result.output
    return waiting


def test_admin_records_are_leaves_of_the_one_log(app, populated):
    records = db.session.scalars(select(AdminRecord).order_by(AdminRecord.seq)).all()
    assert [r.log_index for r in records] == sorted(r.log_index for r in records)
    for record in records:
        leaf = db.session.get(LogLeaf, record.log_index)
        assert leaf.admin_record_id == record.id and leaf.record_id is None
    size = db.session.get(LogState, 1).size
    assert size == db.session.scalar(select(func.count()).select_from(Record)) + len(records)


def _delete_newest_record(waiting):
    newest = db.session.scalars(select(Record).where(Record.case_id == waiting.id).order_by(Record.seq.desc())).first()
    db.session.execute(delete(RecordTiming).where(RecordTiming.record_id == newest.id))
    db.session.execute(delete(LogLeaf).where(LogLeaf.record_id == newest.id))
    db.session.delete(newest)


def _rebuild_log_state():
    """What an insider does after removing leaves: recompute subtrees and frontier from what is left."""
    from signing import merkle
    leaves = [bytes(h) for h in db.session.scalars(select(LogLeaf.leaf_hash).order_by(LogLeaf.index))]
    db.session.execute(delete(LogNode))
    frontier: list[bytes] = []
    for index, leaf in enumerate(leaves):
        frontier, completed = merkle.frontier_append(frontier, index, leaf)
        db.session.add_all([LogNode(level=level, index=at, hash=value) for level, at, value in completed])
    state = db.session.get(LogState, 1)
    state.size, state.frontier = len(leaves), b"".join(frontier)


def _last_leaf_and_its_record():
    last = db.session.scalars(select(LogLeaf).order_by(LogLeaf.index.desc())).first()
    if last.record_id is not None:
        db.session.execute(delete(RecordTiming).where(RecordTiming.record_id == last.record_id))
        record = db.session.get(Record, last.record_id)
        db.session.delete(last)
        db.session.flush()
        db.session.delete(record)
    else:
        record = db.session.get(AdminRecord, last.admin_record_id)
        db.session.delete(last)
        db.session.flush()
        db.session.delete(record)
    db.session.flush()
    _rebuild_log_state()


def _whole_case(waiting):
    ids = list(db.session.scalars(select(Record.id).where(Record.case_id == waiting.id)))
    db.session.execute(delete(RecordTiming).where(RecordTiming.record_id.in_(ids)))
    db.session.execute(delete(LogLeaf).where(LogLeaf.record_id.in_(ids)))
    db.session.execute(text("DELETE FROM outbox_messages WHERE notification_id IN "
                            "(SELECT id FROM notifications WHERE case_id = :id)"), {"id": waiting.id})
    for table in ("inquiries", "case_tasks", "case_documents", "drafts", "notifications"):
        db.session.execute(text(f"DELETE FROM {table} WHERE case_id = :id"), {"id": waiting.id})
    db.session.execute(delete(Record).where(Record.id.in_(ids)))
    db.session.execute(text("DELETE FROM case_counts"))
    db.session.execute(text("DELETE FROM case_day_counts"))
    db.session.execute(delete(Case).where(Case.id == waiting.id))


REWRITES = {
    "newest record of a case and its leaf deleted": _delete_newest_record,
    "whole case deleted with its leaves": _whole_case,
    "checkpoint root changed": lambda w: db.session.execute(update(LogCheckpoint).values(root="00" * 32)),
    "a stored subtree hash changed": lambda w: db.session.execute(
        update(LogNode).where(LogNode.level == 1, LogNode.index == 0).values(hash=b"\x00" * 32)),
    "newest leaf and record deleted, log state rebuilt": lambda w: _last_leaf_and_its_record(),
    "admin record deleted": lambda w: _delete_admin_record(),
    "admin record's text edited": lambda w: db.session.execute(
        update(AdminRecord).where(AdminRecord.seq == 1).values(
            canonical=AdminRecord.canonical + " ")),
    "admin record's leaf index changed": lambda w: db.session.execute(
        update(AdminRecord).where(AdminRecord.seq == 2).values(log_index=None)),
}


def _delete_admin_record():
    record = db.session.scalars(select(AdminRecord).where(AdminRecord.seq == 2)).one()
    db.session.execute(delete(LogLeaf).where(LogLeaf.admin_record_id == record.id))
    db.session.delete(record)


@pytest.mark.parametrize("rewrite", list(REWRITES))
def test_each_rewrite_of_the_log_fails_verify_all(app, runner, populated, rewrite):
    REWRITES[rewrite](populated)
    db.session.commit()
    result = runner.invoke(args=["verify-all", "--quiet"])
    assert result.exit_code == 1, result.output
    summary = result.output.strip().splitlines()[-1]
    assert "log: 0 problem(s)" not in summary or "admin log FAILED" in summary, result.output
