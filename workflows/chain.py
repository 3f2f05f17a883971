"""The one writer of signed record chains: a case's records and the admin log's.

Every record of every chain is written the same way: the next sequence number after the chain's
last record, the body in the one record format (``signing.sign_record``), the key checked (the
actor's active key, its certificate valid now), the signature, the row stored and given the next
leaf of the global Merkle log. Callers add only what is their own: the case's facts and timing,
the admin record's columns. What admin-log records signed is read back here too (``signed_details``).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from signing import SignedRecord, Signer, digest, format_time, sign_record
from workflows import log, pki
from workflows.errors import Forbidden
from workflows.models import AdminRecord, SigningKey, User

__all__ = ["ChainRow", "SignedDetails", "append", "check_key", "signed_details"]


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
    if isinstance(record, AdminRecord):
        session.info.pop(_READ, None)  # what this transaction read of the admin log changes now
    log.append(session, record)  # stored with its leaf index
    return record


@dataclass(frozen=True)
class SignedDetails:
    """What one admin-log record signed under a key of its ``details`` (a closure, a leave, a
    substitution), with the record's number, signer, time and hash."""

    seq: int
    actor_id: int
    created_at: datetime
    hash: str
    details: Any


#: ``session.info`` key of the admin-log details read in the session's current transaction
_READ = "admin_signed_details"


def signed_details(session: Session, action: str, key: str) -> list[SignedDetails]:
    """``details[key]`` of every admin-log record of this action, in order, as the records signed it
    (the admin log's audit checks the signatures). Read once per transaction: the calendar, the inbox
    and every access check of a request ask again, and only a new admin record changes the answer."""
    read = session.info.setdefault(_READ, {})
    if action not in read:
        read[action] = [(row.seq, row.actor_user_id, row.created_at, row.hash, json.loads(row.canonical)["details"])
                        for row in session.execute(
                            select(AdminRecord.seq, AdminRecord.actor_user_id, AdminRecord.created_at,
                                   AdminRecord.hash, AdminRecord.canonical)
                            .where(AdminRecord.action == action).order_by(AdminRecord.seq))]
    return [SignedDetails(seq, actor, created_at, digest, details[key])
            for seq, actor, created_at, digest, details in read[action]]


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget_read_details(session: Session, *_: object) -> None:
    session.info.pop(_READ, None)
