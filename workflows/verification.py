"""Verifying a case's signed records, and the public verification token."""
from __future__ import annotations

import json
import multiprocessing
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from signing import ChainProblem, ChainReport, SigningError, StoredRecord, merkle, parse_time, verify_chain
from workflows import pki
from workflows.models import Case, LogLeaf, Record, SigningKey

__all__ = ["verify_case", "verify_cases", "verify_cases_in_processes", "verification_token", "resolve_token", "TokenCheck"]

#: how many hex digits of a record hash a token carries
TOKEN_HASH_DIGITS = 20
#: a case's public id as a token may carry it (the column holds at most 32 characters)
_PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


_RECORD, _LEAF, _KEY, _CASE = Record.__table__, LogLeaf.__table__, SigningKey.__table__, Case.__table__
_RECORD_COLUMNS = (_RECORD.c.seq, _RECORD.c.canonical, _RECORD.c.hash, _RECORD.c.signature, _RECORD.c.key_id,
                   _RECORD.c.form_data, _RECORD.c.action, _RECORD.c.actor_user_id, _RECORD.c.log_index,
                   _RECORD.c.task_name, _LEAF.c.leaf_hash)
_WITH_LEAF = _LEAF.c.index == _RECORD.c.log_index
#: a case's records in order, each with the log leaf at its index (Core statements, built once)
_RECORDS = (select(*_RECORD_COLUMNS).select_from(_RECORD.outerjoin(_LEAF, _WITH_LEAF))
            .where(_RECORD.c.case_id == bindparam("case_id")).order_by(_RECORD.c.seq))
#: every case of an id range with its records in order (a case without records has one row of nulls)
_CASES_RECORDS = (select(_CASE.c.id.label("case_row"), _CASE.c.public_id, _CASE.c.process_key, *_RECORD_COLUMNS)
                  .select_from(_CASE.outerjoin(_RECORD, _RECORD.c.case_id == _CASE.c.id).outerjoin(_LEAF, _WITH_LEAF))
                  .where(_CASE.c.id.between(bindparam("first"), bindparam("last")))
                  .order_by(_CASE.c.id, _RECORD.c.seq))
_PUBLIC_KEYS = select(_KEY.c.key_id, _KEY.c.public_key_pem, _KEY.c.user_id).where(
    _KEY.c.key_id.in_(bindparam("key_ids", expanding=True)))
_ALL_PUBLIC_KEYS = select(_KEY.c.key_id, _KEY.c.public_key_pem, _KEY.c.user_id)


def verify_case(session: Session, case: Case) -> ChainReport:
    """Recompute the case's chain from its stored records (never from a stored flag): the chain,
    each signer's certificate at the record's time (revocation included), and each record's leaf."""
    connection = _connection(session)
    rows = connection.execute(_RECORDS, {"case_id": case.id}).all()
    key_ids = {r.key_id for r in rows}
    keys = connection.execute(_PUBLIC_KEYS, {"key_ids": list(key_ids)}).all() if key_ids else []
    return _check(case.public_id, rows, _KeySet(keys), pki.trust(session, key_ids) if rows else None)


def verify_cases(session: Session, first: int = 1, last: int = 2**31 - 1
                 ) -> Iterator[tuple[int, str, str, ChainReport]]:
    """(case id, public id, process key, report) for every case with an id in [first, last], in id
    order: exactly verify_case's report for each, from one streamed statement, with the signing keys
    and their certificates read once for the whole run instead of once per case."""
    connection = _connection(session)
    keys = _KeySet(connection.execute(_ALL_PUBLIC_KEYS).all())
    known = pki.trust(session, set(keys.pems))
    # per statement: Connection.execution_options would stream every later statement of the
    # transaction too (on PostgreSQL a server-side cursor cannot run an INSERT)
    result = connection.execute(_CASES_RECORDS, {"first": first, "last": last}, execution_options={"yield_per": 2000})
    for (case_row, public_id, process_key), group in groupby(result, key=lambda r: (r.case_row, r.public_id,
                                                                                    r.process_key)):
        rows = [r for r in group if r.seq is not None]
        yield case_row, public_id, process_key, _check(public_id, rows, keys, known)


def _connection(session: Session):
    if session.autoflush:
        session.flush()  # as an ORM query would: the statements run on the connection
    return session.connection()


class _KeySet:
    """Signing keys' public PEMs and owners by key id."""

    def __init__(self, rows) -> None:
        self.pems = {k.key_id: k.public_key_pem for k in rows}
        self.owners = {k.key_id: k.user_id for k in rows}


def _check(public_id: str, rows, keys: _KeySet, known: pki.Trust | None) -> ChainReport:
    stored = [StoredRecord(seq=r.seq, canonical=r.canonical, hash=r.hash, signature=r.signature,
                           key_id=r.key_id, form_data=r.form_data, action=r.action,
                           actor_user_id=r.actor_user_id, case_id=public_id) for r in rows]
    report = verify_chain(public_id, stored, keys.pems, key_owners=keys.owners)
    problems = (list(report.problems) + _certificate_problems(known, rows, report.bodies) + _log_problems(rows)
                + _task_name_problems(rows, report.bodies))
    if len(problems) == len(report.problems):
        return report
    problems.sort(key=lambda p: p.seq)
    first_bad = problems[0].seq
    valid = [r for r in rows if r.seq < first_bad]
    return ChainReport(ok=False, head=valid[-1].hash if valid else None, count=len(valid), problems=tuple(problems))


def _certificate_problems(known: pki.Trust | None, rows, bodies) -> list[ChainProblem]:
    """Each record's signer held a valid, unrevoked certificate for its user at the record's time.

    Each certificate path is proved once (signatures, extensions, constraints, CRL signatures);
    per record only its validity windows and revocation dates are compared with the record's time.
    """
    if not rows:
        return []
    problems = []
    for row, body in zip(rows, bodies):
        if row.key_id in known.inconsistent:
            problems.append(ChainProblem(row.seq, "cert_column_mismatch", "the certificate row disagrees with its PEM"))
            continue
        try:
            if type(body) is not dict:  # the chain's problems name it; its certificate is still checked
                body = json.loads(row.canonical)
            at = parse_time(body["time"])
        except (ValueError, KeyError, TypeError):
            at = None
        if at is None or row.key_id not in known.certified:
            problems.append(ChainProblem(row.seq, "cert_missing", "no certificate for the signing key"))
            continue
        try:
            known.verify(row.key_id, at)
        except SigningError as error:
            problems.append(ChainProblem(row.seq, error.code, str(error)))
            continue
        if known.user_id(row.key_id) != body.get("actor", {}).get("user_id"):
            problems.append(ChainProblem(row.seq, "key_mismatch", "the certificate names another user"))
    return problems


def _task_name_problems(rows, bodies) -> list[ChainProblem]:
    """The task name column (monitoring and the timeline read it) is the signed one."""
    return [ChainProblem(r.seq, "column_mismatch", "the task name column is not the signed one")
            for r, body in zip(rows, bodies) if type(body) is dict and body.get("task_name") != r.task_name]


def _log_problems(rows) -> list[ChainProblem]:
    """Each record is the leaf of the global log at its index."""
    return [ChainProblem(r.seq, "not_in_log", "the record is not the log's leaf at its index")
            for r in rows if r.log_index is None or r.leaf_hash is None
            or bytes(r.leaf_hash) != merkle.record_leaf_hash(r.hash)]


#: the most and fewest cases one range of ``verify_cases_in_processes`` holds, and how many ranges each
#: worker should get at least (so that no worker waits long for the last one)
MAX_RANGE, MIN_RANGE, RANGES_PER_WORKER = 2000, 20, 16


def verify_cases_in_processes(session: Session, processes: int, chunk: int | None = None
                              ) -> Iterator[tuple[int, str, str, ChainReport]]:
    """verify_cases over the whole database by `processes` worker processes forked from this one,
    each with its own database connections and trust material, in id order. The cases are handed
    out as id ranges of `chunk` cases (by default small enough that every worker takes
    ``RANGES_PER_WORKER`` of them or more: a few large ranges leave one worker with most of the work)."""
    ids = list(session.scalars(select(Case.id).order_by(Case.id)))
    session.rollback()  # no open read transaction (nor SQLite lock) carried into the workers
    ranges = id_ranges(ids, processes, chunk)
    if not ranges:
        return
    global _worker_engine
    _worker_engine = session.get_bind()
    context = multiprocessing.get_context("fork")
    with context.Pool(max(1, processes), initializer=_start_worker) as pool:
        for results in pool.imap(_verify_range, ranges):
            yield from results


def id_ranges(ids: list[int], processes: int, chunk: int | None = None) -> list[tuple[int, int]]:
    """The (first, last) case ids of the ranges handed out, ``chunk`` cases each (by default as many
    as gives every worker ``RANGES_PER_WORKER`` ranges, between MIN_RANGE and MAX_RANGE cases)."""
    if chunk is None:
        chunk = max(MIN_RANGE, min(MAX_RANGE, -(-len(ids) // (max(1, processes) * RANGES_PER_WORKER))))
    return [(ids[i], ids[min(i + chunk, len(ids)) - 1]) for i in range(0, len(ids), chunk)]


_worker_engine = None
_worker_session: Session | None = None


def _start_worker() -> None:
    global _worker_session
    # the parent's pooled connections stay the parent's: this process opens its own
    _worker_engine.dispose(close=False)
    _worker_session = Session(bind=_worker_engine)


def _verify_range(bounds: tuple[int, int]) -> list[tuple[int, str, str, ChainReport]]:
    session = _worker_session
    try:
        return list(verify_cases(session, *bounds))
    finally:
        session.rollback()


def verification_token(case: Case, record_hash: str) -> str:
    """A short token naming a case and one of its records; no personal data."""
    return f"{case.public_id}.{record_hash[:TOKEN_HASH_DIGITS]}"


@dataclass(frozen=True)
class TokenCheck:
    case: Case
    report: ChainReport
    #: the record the token names is in the verified chain
    record_found: bool
    #: the token names the latest record (nothing happened since)
    is_head: bool


def resolve_token(session: Session, token: str) -> TokenCheck | None:
    """Look up the case a token names and check its chain; None for an unknown token."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 80:
        return None
    public_id, prefix = token.split(".")
    if len(prefix) != TOKEN_HASH_DIGITS or any(c not in "0123456789abcdef" for c in prefix):
        return None
    # public ids are URL-safe base64 (secrets.token_urlsafe); anything else (NUL, which PostgreSQL
    # refuses in a query, other scripts, punctuation) names no case and never reaches the database
    if _PUBLIC_ID.fullmatch(public_id) is None:
        return None
    case = session.scalars(select(Case).where(Case.public_id == public_id)).first()
    if case is None:
        return None
    report = verify_case(session, case)
    hashes = list(session.scalars(select(Record.hash).where(Record.case_id == case.id).order_by(Record.seq)))
    found = any(h.startswith(prefix) for h in hashes)
    return TokenCheck(case, report, found, bool(hashes) and hashes[-1].startswith(prefix))
