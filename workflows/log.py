"""The global append-only Merkle log of every signed record, its checkpoints and proofs."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from signing import format_time
from signing import merkle
from workflows.models import Office, LogCheckpoint, LogLeaf, LogState, Record, utcnow
from workflows.pki import service_signer

__all__ = ["LOG_ID", "append", "leaf_hashes", "latest_checkpoint", "checkpoint", "signed", "LogProblem",
           "verify_log"]

#: the log's name in its checkpoints
LOG_ID = "mosque-centers/transition-log/v1"


def append(session: Session, record: Record) -> int:
    """Give the record the next leaf of the log (the log-state row is locked: no fork, no gap)."""
    state = session.scalars(select(LogState).where(LogState.id == 1).with_for_update()).first()
    if state is None:
        state = LogState(id=1, size=0)
        session.add(state)
        session.flush()
    index = state.size
    session.add(LogLeaf(index=index, leaf_hash=merkle.record_leaf_hash(record.hash), record_id=record.id))
    record.log_index = index
    state.size = index + 1
    session.flush()
    return index


def leaf_hashes(session: Session, size: int | None = None) -> list[bytes]:
    """The leaf hashes in index order (the first ``size`` of them)."""
    query = select(LogLeaf.leaf_hash).order_by(LogLeaf.index)
    if size is not None:
        query = query.limit(size)
    return [bytes(h) for h in session.scalars(query)]


def latest_checkpoint(session: Session) -> LogCheckpoint | None:
    """The newest signed tree head."""
    return session.scalars(select(LogCheckpoint).order_by(LogCheckpoint.tree_size.desc()).limit(1)).first()


def signed(row: LogCheckpoint) -> merkle.SignedCheckpoint:
    """A stored checkpoint as the signing package's type."""
    return merkle.SignedCheckpoint(merkle.Checkpoint(row.tree_size, row.root, row.time, row.log_id),
                                   row.signature, row.key_id)


def checkpoint(session: Session, passphrase: str, now: datetime | None = None) -> LogCheckpoint | None:
    """Sign a checkpoint of the log as it is, unless the newest one already covers it."""
    now = now or utcnow()
    latest = latest_checkpoint(session)
    leaves = leaf_hashes(session)
    if not leaves or (latest is not None and latest.tree_size == len(leaves)):
        return latest
    root = merkle.root(leaves)
    if latest is not None:  # the log only grew: prove it before signing the new head
        merkle.verify_consistency(latest.tree_size, len(leaves), bytes.fromhex(latest.root), root,
                                  merkle.consistency_proof(latest.tree_size, leaves))
    hq = session.scalars(select(Office).where(Office.kind == "hq")).one()
    signer, _ = service_signer(session, "log", hq, passphrase)
    head = merkle.sign_checkpoint(merkle.Checkpoint(len(leaves), root.hex(), format_time(now), LOG_ID), signer)
    row = LogCheckpoint(tree_size=len(leaves), root=root.hex(), time=head.checkpoint.time, log_id=LOG_ID,
                        signature=head.signature, key_id=head.key_id)
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class LogProblem:
    index: int | None
    code: str
    detail: str


def verify_log(session: Session, log_key_pem: str) -> list[LogProblem]:
    """Recompute the log: leaves match their records, indexes are contiguous, every checkpoint
    is signed by the log key, matches the leaves and is consistent with the one before it."""
    problems: list[LogProblem] = []
    rows = session.execute(select(LogLeaf.index, LogLeaf.leaf_hash, Record.hash, Record.log_index)
                           .join(Record, Record.id == LogLeaf.record_id).order_by(LogLeaf.index)).all()
    leaves = []
    for position, (index, leaf, record_hash, record_index) in enumerate(rows):
        if index != position:
            problems.append(LogProblem(index, "log_gap", f"leaf {index} where {position} was expected"))
        if bytes(leaf) != merkle.record_leaf_hash(record_hash) or record_index != index:
            problems.append(LogProblem(index, "not_in_log", "the leaf does not match its record"))
        leaves.append(bytes(leaf))
    unlogged = session.scalar(select(Record.id).where(Record.log_index.is_(None)).limit(1))
    if unlogged is not None:
        problems.append(LogProblem(None, "not_in_log", f"record {unlogged} has no leaf"))
    previous = None
    for row in session.scalars(select(LogCheckpoint).order_by(LogCheckpoint.tree_size)):
        try:
            merkle.verify_checkpoint(signed(row), log_key_pem)
        except Exception as error:
            problems.append(LogProblem(row.tree_size, "checkpoint_bad_signature", str(error)))
        if row.tree_size > len(leaves) or merkle.root(leaves[:row.tree_size]).hex() != row.root:
            problems.append(LogProblem(row.tree_size, "log_inconsistent", "checkpoint root does not match the leaves"))
        elif previous is not None:
            try:
                merkle.verify_consistency(previous.tree_size, row.tree_size, bytes.fromhex(previous.root),
                                          bytes.fromhex(row.root),
                                          merkle.consistency_proof(previous.tree_size, leaves[:row.tree_size]))
            except Exception as error:
                problems.append(LogProblem(row.tree_size, "log_inconsistent", str(error)))
        previous = row
    return problems
