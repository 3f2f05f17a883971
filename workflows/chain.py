"""The one writer of signed record chains: a case's records and the admin log's.

Every record of every chain is written the same way: the next sequence number after the chain's
last record, the body in the one record format (``signing.sign_record``), the key checked (the
actor's active key, its certificate valid now), the signature, the row stored and given the next
leaf of the global Merkle log. Callers add only what is their own: the case's facts and timing,
the admin record's columns.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

from signing import SignedRecord, Signer, digest, format_time, sign_record
from workflows import log, pki
from workflows.errors import Forbidden
from workflows.models import SigningKey, User

__all__ = ["ChainRow", "append", "check_key"]


class ChainRow(Protocol):
    """A stored record of a chain (``Record``, ``AdminRecord``)."""

    id: int
    seq: int
    hash: str
    log_index: int | None


Row = TypeVar("Row", bound=ChainRow)


def check_key(session: Session, signer: Signer, actor: User, now: datetime) -> SigningKey:
    """The key row the signer signs with, refused (Forbidden) unless it is the actor's active key
    and its certificate is valid now (not missing, expired or revoked)."""
    key_row = session.get(SigningKey, signer.key_id)
    if key_row is None or not key_row.active or key_row.user_id != actor.id:
        raise Forbidden("the signing key is not the actor's active key")
    pki.check_signer(session, key_row, now)
    return key_row


def append(session: Session, *, last: ChainRow | None, chain_id: str, process_key: str, spec_version: str,
           action: str, actor: User, signer: Signer, now: datetime, row: Callable[[SignedRecord], Row],
           task_id: str | None = None, task_name: str | None = None, form_key: str | None = None,
           form_data: dict | None = None, attachments: Iterable[str] = (), rule_results: dict | None = None,
           details: dict | None = None) -> Row:
    """Sign the record that follows ``last`` (None: the chain's first) and store it as a log leaf.

    ``row`` makes the stored row from the signed record (its sequence number is
    ``signed.body["seq"]``); it is added, flushed and appended to the log here. The body's fields
    are those every chain's records have signed so far: changing them changes what verifies.
    """
    check_key(session, signer, actor, now)
    body = {
        "v": 1, "case_id": chain_id, "seq": (last.seq + 1) if last else 1,
        "process_key": process_key, "spec_version": spec_version,
        "task_id": task_id, "task_name": task_name, "action": action,
        "actor": {"user_id": actor.id, "username": actor.username, "role": actor.role,
                  "office": actor.office.code if actor.office else None},
        "key_id": signer.key_id, "form_key": form_key,
        "form_digest": digest(form_data) if form_data is not None else None,
        "attachments": sorted(set(attachments)), "rule_results": rule_results,
        "details": details or {}, "time": format_time(now), "prev_hash": last.hash if last else None,
    }
    record = row(sign_record(body, signer))
    session.add(record)
    session.flush()
    log.append(session, record)
    return record
