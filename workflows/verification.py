"""Verifying a case's signed records, and the public verification token."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from signing import ChainReport, StoredRecord, verify_chain
from workflows.keys import public_keys
from workflows.models import Case, Record

__all__ = ["verify_case", "verification_token", "resolve_token", "TokenCheck"]

#: how many hex digits of a record hash a token carries
TOKEN_HASH_DIGITS = 20


def verify_case(session: Session, case: Case) -> ChainReport:
    """Recompute the case's chain from its stored records (never from a stored flag)."""
    rows = list(session.scalars(select(Record).where(Record.case_id == case.id).order_by(Record.seq)))
    stored = [StoredRecord(seq=r.seq, canonical=r.canonical, hash=r.hash, signature=r.signature,
                           key_id=r.key_id, form_data=r.form_data, action=r.action,
                           actor_user_id=r.actor_user_id, case_id=case.public_id) for r in rows]
    keys = public_keys(session, {r.key_id for r in rows})
    return verify_chain(case.public_id, stored, {k: pem for k, (pem, _) in keys.items()},
                        key_owners={k: owner for k, (_, owner) in keys.items()})


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
