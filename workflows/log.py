"""The global append-only Merkle log of every signed record, its checkpoints and proofs.

Each append stores the leaf, the subtree hashes it completes (``log_nodes``) and the new
frontier (``log_state``), so a root or a proof reads O(log² n) rows, never the whole log.
Only the full audit (``verify_log``) reads every leaf, and it checks the stored hashes too.
"""
from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from http.client import HTTPException

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from signing import format_time
from signing import merkle, note
from signing.timestamps import timestamp_bytes, verify_timestamp
from signing.witness import WitnessEndpoint, WitnessRefusal, add_checkpoint
from workflows.models import (
    AdminRecord, LogCheckpoint, LogCosignature, LogLeaf, LogNode, LogState, Office, Record, utcnow,
)
from workflows.errors import WorkflowError
from workflows.pki import service_signer, timestamp_authority, trust_material

__all__ = ["LOG_ID", "append", "size", "inclusion_proofs", "consistency_proof", "latest_checkpoint", "checkpoint",
           "checkpoint_at", "collect_cosignatures", "cosigned_note", "signed", "LogProblem", "verify_log"]

logger = logging.getLogger(__name__)

#: the log's name in its checkpoints
LOG_ID = "mosque-centers/transition-log/v1"


def append(session: Session, record) -> int:
    """Give the record (a case's ``Record`` or an ``AdminRecord``) the next leaf of the log (the
    log-state row is locked: no fork, no gap). A record not yet stored is stored first: on SQLite,
    whose FOR UPDATE is a no-op, that write is what takes the database's write lock before the log's
    size is read (two processes reading it first would both take the same index)."""
    if record.id is None:
        session.add(record)
        session.flush()
    state = session.scalars(select(LogState).where(LogState.id == 1).with_for_update()).first()
    if state is None:
        state = LogState(id=1, size=0, frontier=b"")
        session.add(state)
        session.flush()
    index = state.size
    record.log_index = index
    leaf = merkle.record_leaf_hash(record.hash)
    frontier, completed = merkle.frontier_append(_split_hashes(state.frontier), index, leaf)
    owner = {"record_id": record.id} if isinstance(record, Record) else {"admin_record_id": record.id}
    session.add(LogLeaf(index=index, leaf_hash=leaf, **owner))
    session.add_all([LogNode(level=level, index=at, hash=value) for level, at, value in completed])
    state.size = index + 1
    state.frontier = b"".join(frontier)
    session.flush()
    return index


def size(session: Session) -> int:
    """How many leaves the log has."""
    return session.scalar(select(LogState.size).where(LogState.id == 1)) or 0


def inclusion_proofs(session: Session, indexes: list[int], tree_size: int) -> list[list[bytes]]:
    """The audit path of each leaf in the tree of the first ``tree_size`` leaves."""
    paths = [merkle.inclusion_ranges(index, tree_size) for index in indexes]
    hashes = iter(_range_hashes(session, [span for path in paths for span in path]))
    return [[next(hashes) for _ in path] for path in paths]


def consistency_proof(session: Session, old_size: int, tree_size: int) -> list[bytes]:
    """The proof that the tree of ``old_size`` leaves is a prefix of that of ``tree_size``."""
    return _range_hashes(session, merkle.consistency_ranges(old_size, tree_size))


def _range_hashes(session: Session, ranges: list[tuple[int, int]]) -> list[bytes]:
    """The tree hash of each leaf range, from the stored complete subtrees (one query per table)."""
    wanted: dict[int, set[int]] = {}
    for start, end in ranges:
        for level, index in merkle.subtrees_of(start, end):
            wanted.setdefault(level, set()).add(index)
    nodes: dict[tuple[int, int], bytes] = {}
    if 0 in wanted:
        nodes.update(((0, index), bytes(value)) for index, value in session.execute(
            select(LogLeaf.index, LogLeaf.leaf_hash).where(LogLeaf.index.in_(wanted.pop(0)))))
    if wanted:
        nodes.update(((level, index), bytes(value)) for level, index, value in session.execute(
            select(LogNode.level, LogNode.index, LogNode.hash).where(
                or_(*(and_(LogNode.level == level, LogNode.index.in_(indexes)) for level, indexes in wanted.items())))))
    return merkle.range_hashes(ranges, nodes)


def _split_hashes(blob: bytes | None) -> list[bytes]:
    blob = bytes(blob or b"")
    return [blob[i:i + 32] for i in range(0, len(blob), 32)]


def latest_checkpoint(session: Session) -> LogCheckpoint | None:
    """The newest signed tree head."""
    return session.scalars(select(LogCheckpoint).order_by(LogCheckpoint.tree_size.desc()).limit(1)).first()


def checkpoint_at(session: Session, tree_size: int) -> LogCheckpoint | None:
    """The checkpoint of exactly ``tree_size`` leaves, if one was signed."""
    return session.get(LogCheckpoint, tree_size)


def cosigned_note(session: Session, row: LogCheckpoint) -> str | None:
    """The checkpoint's signed note with every stored witness cosignature appended (None before notes)."""
    if row.note is None:
        return None
    lines = session.scalars(select(LogCosignature.line).where(LogCosignature.tree_size == row.tree_size)
                            .order_by(LogCosignature.witness)).all()
    return row.note + "".join(lines)


def signed(row: LogCheckpoint) -> merkle.SignedCheckpoint:
    """A stored checkpoint as the signing package's type."""
    return merkle.SignedCheckpoint(merkle.Checkpoint(row.tree_size, row.root, row.time, row.log_id),
                                   row.signature, row.key_id)


def checkpoint(session: Session, passphrase: str, now: datetime | None = None,
               witnesses: Sequence[WitnessEndpoint] = ()) -> LogCheckpoint | None:
    """Sign a checkpoint of the log as it is, unless the newest one already covers it, then ask
    the witnesses (if any) that have not cosigned it yet.

    Before a new head is signed, the stored subtrees must prove it extends the last one. A
    checkpoint signed before notes existed is given a note of the same head when it is the
    newest; its JSON signature stays as it was."""
    now = now or utcnow()
    latest = latest_checkpoint(session)
    state = session.get(LogState, 1)
    if state is None or state.size == 0:
        return latest
    root = merkle.frontier_root(_split_hashes(state.frontier))
    if latest is not None and latest.tree_size == state.size:
        if latest.note is None:
            if latest.root != root.hex():
                raise merkle.ConsistencyProofError("the newest checkpoint is not the root of the log's leaves")
            signer, _ = service_signer(session, "log", _hq(session), passphrase)
            latest.note = note.sign_checkpoint_note(latest.log_id, latest.tree_size, root, signer)
            latest.timestamp = _timestamp(session, latest.note, passphrase, now)
            session.flush()
        if witnesses:
            collect_cosignatures(session, latest, witnesses)
        return latest
    if latest is not None:  # the log only grew: prove it before signing the new head
        merkle.verify_consistency(latest.tree_size, state.size, bytes.fromhex(latest.root), root,
                                  consistency_proof(session, latest.tree_size, state.size))
    signer, _ = service_signer(session, "log", _hq(session), passphrase)
    head = merkle.sign_checkpoint(merkle.Checkpoint(state.size, root.hex(), format_time(now), LOG_ID), signer)
    signed_note = note.sign_checkpoint_note(LOG_ID, state.size, root, signer)
    row = LogCheckpoint(tree_size=state.size, root=root.hex(), time=head.checkpoint.time, log_id=LOG_ID,
                        signature=head.signature, key_id=head.key_id, note=signed_note,
                        timestamp=_timestamp(session, signed_note, passphrase, now))
    session.add(row)
    session.flush()
    if witnesses:
        collect_cosignatures(session, row, witnesses)
    return row


def _timestamp(session: Session, signed_note: str, passphrase: str, now: datetime) -> bytes | None:
    """HQ's TSA's token over the note's text (its three checkpoint lines); None, and a warning, when
    the TSA may not stamp (no key yet, or its certificate expired or revoked: renew-tsa): the log
    must go on growing, and the next checkpoint is stamped once the TSA is back."""
    try:
        authority = timestamp_authority(session, passphrase, now)
    except WorkflowError as error:
        logger.warning("checkpoint not time-stamped: %s", error)
        return None
    return timestamp_bytes(note.split_note(signed_note)[0].encode("utf-8"), authority)


def _hq(session: Session) -> Office:
    return session.scalars(select(Office).where(Office.kind == "hq")).one()


def collect_cosignatures(session: Session, row: LogCheckpoint, witnesses: Sequence[WitnessEndpoint],
                         timeout: float = 5.0) -> list[str]:
    """Ask each witness that has not cosigned the checkpoint yet, all at once, with a consistency
    proof from the size it cosigned last (as far as the log knows; a 409 names the witness's own
    size, and is tried once more). Store each verified cosignature; return the names of the
    witnesses that cosigned now. A witness that refuses or cannot be reached is logged and
    skipped: the checkpoint stands, with fewer cosignatures, and a later call asks again."""
    if row.note is None:
        return []
    have = set(session.scalars(select(LogCosignature.witness).where(LogCosignature.tree_size == row.tree_size)))
    pending: dict[str, tuple[WitnessEndpoint, int]] = {}
    for endpoint in witnesses:
        if endpoint.key.name not in have:
            old = session.scalar(select(func.max(LogCosignature.tree_size)).where(
                LogCosignature.witness == endpoint.key.name, LogCosignature.tree_size <= row.tree_size)) or 0
            pending[endpoint.key.name] = (endpoint, old)
    added = []
    for attempt in range(2):
        if not pending:
            break
        # proofs come from the database here, in this thread; only the HTTP requests run in parallel
        requests = {name: (endpoint, old, consistency_proof(session, old, row.tree_size) if old else [])
                    for name, (endpoint, old) in pending.items()}
        with ThreadPoolExecutor(max_workers=min(8, len(requests))) as pool:
            answers = dict(zip(requests, pool.map(
                lambda item: _ask(item, row.note, timeout), requests.values())))
        pending = {}
        for name, answer in answers.items():
            endpoint, old, _ = requests[name]
            if isinstance(answer, note.NoteSignature):
                timestamp = struct.unpack(">Q", answer.signature[:8])[0]
                session.add(LogCosignature(tree_size=row.tree_size, witness=name, line=answer.line(),
                                           timestamp=timestamp))
                added.append(name)
            elif (attempt == 0 and isinstance(answer, WitnessRefusal) and answer.status == 409
                  and answer.known_size is not None and answer.known_size != old
                  and answer.known_size <= row.tree_size):
                pending[name] = (endpoint, answer.known_size)
            else:
                logger.warning("witness %s did not cosign checkpoint %d: %s", name, row.tree_size, answer)
    session.flush()
    return added


def _ask(request: tuple[WitnessEndpoint, int, list[bytes]], checkpoint_note: str,
         timeout: float) -> note.NoteSignature | Exception:
    endpoint, old, proof = request
    try:
        return add_checkpoint(endpoint.url, old, proof, checkpoint_note, endpoint.key, timeout)
    except (WitnessRefusal, OSError, ValueError, HTTPException, note.NoteError) as error:
        return error  # a witness that misbehaves or is away costs its cosignature, nothing else


@dataclass(frozen=True)
class LogProblem:
    index: int | None
    code: str
    detail: str


def verify_log(session: Session, log_key_pem: str, witnesses: Sequence[note.WitnessKey] = ()) -> list[LogProblem]:
    """Recompute the log: leaves match their records, indexes are contiguous, the stored subtree
    hashes and frontier are those of the leaves, every checkpoint (its JSON form and its note) is
    signed by the log key, matches the leaves and is consistent with the one before it; and each
    stored cosignature of a witness in ``witnesses`` verifies on its checkpoint's note."""
    problems: list[LogProblem] = []
    rows = session.execute(select(LogLeaf.index, LogLeaf.leaf_hash,
                                  func.coalesce(Record.hash, AdminRecord.hash),
                                  func.coalesce(Record.log_index, AdminRecord.log_index))
                           .outerjoin(Record, Record.id == LogLeaf.record_id)
                           .outerjoin(AdminRecord, AdminRecord.id == LogLeaf.admin_record_id)
                           .order_by(LogLeaf.index)).all()
    leaves = []
    for position, (index, leaf, record_hash, record_index) in enumerate(rows):
        if index != position:
            problems.append(LogProblem(index, "log_gap", f"leaf {index} where {position} was expected"))
        if record_hash is None:
            problems.append(LogProblem(index, "log_orphan_leaf", "the leaf's record is gone"))
        elif bytes(leaf) != merkle.record_leaf_hash(record_hash) or record_index != index:
            problems.append(LogProblem(index, "not_in_log", "the leaf does not match its record"))
        leaves.append(bytes(leaf))
    unlogged = session.scalar(select(Record.id).where(Record.log_index.is_(None)).limit(1))
    if unlogged is not None:
        problems.append(LogProblem(None, "not_in_log", f"record {unlogged} has no leaf"))
    unlogged = session.scalar(select(AdminRecord.seq).where(AdminRecord.log_index.is_(None)).limit(1))
    if unlogged is not None:
        problems.append(LogProblem(None, "not_in_log", f"admin record #{unlogged} has no leaf"))
    levels = merkle.complete_subtrees(leaves)
    nodes = {(level, index): value for level, values in enumerate(levels) for index, value in enumerate(values)}
    problems += _stored_subtree_problems(session, nodes, leaves)
    previous = None
    for row in session.scalars(select(LogCheckpoint).order_by(LogCheckpoint.tree_size)):
        try:
            merkle.verify_checkpoint(signed(row), log_key_pem)
            if row.note is not None:
                body = note.verify_checkpoint_note(row.note, log_key_pem, row.log_id)
                if (body.tree_size, body.root.hex()) != (row.tree_size, row.root):
                    raise note.NoteError("the note is not of the checkpoint's size and root")
        except Exception as error:
            problems.append(LogProblem(row.tree_size, "checkpoint_bad_signature", str(error)))
        if row.timestamp is not None:
            problems += _timestamp_problems(session, row)
        if row.tree_size > len(leaves) or merkle.range_hashes([(0, row.tree_size)], nodes)[0].hex() != row.root:
            problems.append(LogProblem(row.tree_size, "log_inconsistent", "checkpoint root does not match the leaves"))
        elif previous is not None:
            try:
                merkle.verify_consistency(previous.tree_size, row.tree_size, bytes.fromhex(previous.root),
                                          bytes.fromhex(row.root), merkle.range_hashes(
                                              merkle.consistency_ranges(previous.tree_size, row.tree_size), nodes))
            except Exception as error:
                problems.append(LogProblem(row.tree_size, "log_inconsistent", str(error)))
        previous = row
    problems += _cosignature_problems(session, witnesses)
    return problems


def _timestamp_problems(session: Session, row: LogCheckpoint) -> list[LogProblem]:
    """The checkpoint's time-stamp is HQ's TSA's, over its note's text (the JSON form's time is the
    server's claim, and a drill's `tick --now` may set it anywhere: only the token dates the note)."""
    material = trust_material(session)
    try:
        if row.note is None:
            raise ValueError("a time-stamp without a note")
        verify_timestamp(bytes(row.timestamp), note.split_note(row.note)[0].encode("utf-8"), material.root,
                         material.crls)
    except Exception as error:
        return [LogProblem(row.tree_size, "checkpoint_timestamp_invalid", str(error))]
    return []


def _cosignature_problems(session: Session, witnesses: Sequence[note.WitnessKey]) -> list[LogProblem]:
    known = {witness.name: witness for witness in witnesses}
    problems = []
    rows = session.execute(select(LogCosignature.tree_size, LogCosignature.witness, LogCosignature.line,
                                  LogCheckpoint.note).join(LogCheckpoint,
                                                           LogCheckpoint.tree_size == LogCosignature.tree_size))
    for tree_size, name, line, checkpoint_note in rows:
        if name not in known:
            continue  # a witness no longer configured: nothing to check it with
        try:
            valid, bad = note.verify_cosignatures((checkpoint_note or "") + line, [known[name]])
        except note.NoteError as error:
            valid, bad = [], [str(error)]
        if not valid:
            problems.append(LogProblem(tree_size, "cosignature_invalid", "; ".join(bad) or f"{name}: no cosignature"))
    return problems


def _stored_subtree_problems(session: Session, nodes: dict[tuple[int, int], bytes],
                             leaves: list[bytes]) -> list[LogProblem]:
    """The subtree hashes and the frontier that proofs are built from are those of the leaves."""
    problems = []
    stored = {(level, index): bytes(value) for level, index, value in
              session.execute(select(LogNode.level, LogNode.index, LogNode.hash))}
    expected = {key: value for key, value in nodes.items() if key[0] > 0}
    for key in sorted(stored.keys() ^ expected.keys()):
        problems.append(LogProblem(key[1] << key[0], "log_subtree_mismatch",
                                   f"subtree {key} is {'missing' if key in expected else 'not of the log'}"))
    for key in sorted(key for key in stored.keys() & expected.keys() if stored[key] != expected[key]):
        problems.append(LogProblem(key[1] << key[0], "log_subtree_mismatch", f"subtree {key} is not the hash of its leaves"))
    state = session.get(LogState, 1)
    frontier = [nodes[key] for key in merkle.subtrees_of(0, len(leaves))] if leaves else []
    if state is not None and (state.size != len(leaves) or _split_hashes(state.frontier) != frontier):
        problems.append(LogProblem(None, "log_subtree_mismatch", "the log's size or frontier is not that of its leaves"))
    return problems

