"""Verifying a case's signed records, and the public verification token."""
from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from signing import ChainProblem, ChainReport, SigningError, StoredRecord, merkle, parse_time, verify_chain
from signing import pki as x
from workflows import pki
from workflows.models import Case, LogLeaf, Record, SigningKey

__all__ = ["verify_case", "verify_cases_in_processes", "verification_token", "resolve_token", "TokenCheck"]

#: how many hex digits of a record hash a token carries
TOKEN_HASH_DIGITS = 20


_RECORD, _LEAF, _KEY = Record.__table__, LogLeaf.__table__, SigningKey.__table__
#: a case's records in order, each with the log leaf at its index (Core statements, built once)
_RECORDS = (select(_RECORD.c.seq, _RECORD.c.canonical, _RECORD.c.hash, _RECORD.c.signature, _RECORD.c.key_id,
                   _RECORD.c.form_data, _RECORD.c.action, _RECORD.c.actor_user_id, _RECORD.c.log_index,
                   _LEAF.c.leaf_hash)
            .select_from(_RECORD.outerjoin(_LEAF, _LEAF.c.index == _RECORD.c.log_index))
            .where(_RECORD.c.case_id == bindparam("case_id")).order_by(_RECORD.c.seq))
_PUBLIC_KEYS = select(_KEY.c.key_id, _KEY.c.public_key_pem, _KEY.c.user_id).where(
    _KEY.c.key_id.in_(bindparam("key_ids", expanding=True)))


def verify_case(session: Session, case: Case) -> ChainReport:
    """Recompute the case's chain from its stored records (never from a stored flag): the chain,
    each signer's certificate at the record's time (revocation included), and each record's leaf."""
    if session.autoflush:
        session.flush()  # as an ORM query would: the statements below run on the connection
    connection = session.connection()
    rows = connection.execute(_RECORDS, {"case_id": case.id}).all()
    stored = [StoredRecord(seq=r.seq, canonical=r.canonical, hash=r.hash, signature=r.signature,
                           key_id=r.key_id, form_data=r.form_data, action=r.action,
                           actor_user_id=r.actor_user_id, case_id=case.public_id) for r in rows]
    key_ids = {r.key_id for r in rows}
    keys = connection.execute(_PUBLIC_KEYS, {"key_ids": list(key_ids)}).all() if key_ids else []
    report = verify_chain(case.public_id, stored, {k.key_id: k.public_key_pem for k in keys},
                          key_owners={k.key_id: k.user_id for k in keys})
    problems = list(report.problems) + _certificate_problems(session, rows) + _log_problems(rows)
    if len(problems) == len(report.problems):
        return report
    problems.sort(key=lambda p: p.seq)
    first_bad = problems[0].seq
    valid = [r for r in rows if r.seq < first_bad]
    return ChainReport(ok=False, head=valid[-1].hash if valid else None, count=len(valid), problems=tuple(problems))


def _certificate_problems(session: Session, rows) -> list[ChainProblem]:
    """Each record's signer held a valid, unrevoked certificate for its user at the record's time.

    Each certificate path is proved once (signatures, extensions, constraints, CRL signatures);
    per record only its validity windows and revocation dates are compared with the record's time.
    """
    if not rows:
        return []
    known = pki.trust(session, {r.key_id for r in rows})
    users: dict[str, int | None] = {}
    problems = []
    for row in rows:
        if row.key_id in known.inconsistent:
            problems.append(ChainProblem(row.seq, "cert_column_mismatch", "the certificate row disagrees with its PEM"))
            continue
        try:
            body = json.loads(row.canonical)
            at = parse_time(body["time"])
            cert, _ = known.certified[row.key_id]
        except (ValueError, KeyError, TypeError):
            problems.append(ChainProblem(row.seq, "cert_missing", "no certificate for the signing key"))
            continue
        try:
            known.verify(row.key_id, at)
        except SigningError as error:
            problems.append(ChainProblem(row.seq, error.code, str(error)))
            continue
        if row.key_id not in users:
            users[row.key_id] = x.certificate_user_id(cert)
        if users[row.key_id] != body.get("actor", {}).get("user_id"):
            problems.append(ChainProblem(row.seq, "key_mismatch", "the certificate names another user"))
    return problems


def _log_problems(rows) -> list[ChainProblem]:
    """Each record is the leaf of the global log at its index."""
    return [ChainProblem(r.seq, "not_in_log", "the record is not the log's leaf at its index")
            for r in rows if r.log_index is None or r.leaf_hash is None
            or bytes(r.leaf_hash) != merkle.record_leaf_hash(r.hash)]


def verify_cases_in_processes(session: Session, processes: int, chunk: int = 200
                              ) -> Iterator[tuple[int, str, str, ChainReport]]:
    """(case id, public id, process key, report) for every case, in id order, verified by
    `processes` worker processes forked from this one, each with its own database connections
    and its own trust material. The cases are handed out `chunk` ids at a time."""
    ids = list(session.scalars(select(Case.id).order_by(Case.id)))
    session.rollback()  # no open read transaction (nor SQLite lock) carried into the workers
    chunks = [ids[i:i + chunk] for i in range(0, len(ids), chunk)]
    if not chunks:
        return
    global _worker_engine
    _worker_engine = session.get_bind()
    context = multiprocessing.get_context("fork")
    with context.Pool(max(1, processes), initializer=_start_worker) as pool:
        for results in pool.imap(_verify_chunk, chunks):
            yield from results


_worker_engine = None
_worker_session: Session | None = None


def _start_worker() -> None:
    global _worker_session
    # the parent's pooled connections stay the parent's: this process opens its own
    _worker_engine.dispose(close=False)
    _worker_session = Session(bind=_worker_engine)


def _verify_chunk(ids: list[int]) -> list[tuple[int, str, str, ChainReport]]:
    session = _worker_session
    try:
        cases = session.scalars(select(Case).where(Case.id.in_(ids)).order_by(Case.id)).all()
        return [(case.id, case.public_id, case.process_key, verify_case(session, case)) for case in cases]
    finally:
        session.rollback()
        session.expunge_all()


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
    case = session.scalars(select(Case).where(Case.public_id == public_id)).first()
    if case is None:
        return None
    report = verify_case(session, case)
    hashes = list(session.scalars(select(Record.hash).where(Record.case_id == case.id).order_by(Record.seq)))
    found = any(h.startswith(prefix) for h in hashes)
    return TokenCheck(case, report, found, bool(hashes) and hashes[-1].startswith(prefix))
