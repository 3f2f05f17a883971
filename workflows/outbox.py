"""Sending the outbox: the pluggable sender interface and the steps of one delivery.

A sender is any object with ``send(message: OutgoingMessage) -> str | None``: it delivers one
message on its channel and returns the gateway's message id (or None), or raises ``SendError``.
``ConsoleSender`` (the default) prints messages; a real SMS or email gateway is a small class
with the same method, named in the ``OUTBOX_SENDER`` setting as ``"package.module:ClassName"``
and built with no arguments (read its own settings from the environment).

Delivery is at most once per message: ``take`` moves one message from ``pending`` to ``sending``
with a compare-and-set update, and the caller commits that before calling the gateway, so two
sender processes never take the same message. ``mark_sent`` or ``mark_failed`` record the result
(a failure goes back to ``pending`` until ``MAX_ATTEMPTS``). A message left in ``sending`` by a
crash is never sent again on its own; ``requeue_stuck`` puts it back deliberately.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TextIO, runtime_checkable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from workflows.notifications import OutboxMessage

__all__ = ["OutgoingMessage", "Sender", "SendError", "ConsoleSender", "load_sender", "take", "mark_sent",
           "mark_failed", "as_outgoing", "pending_count", "requeue_stuck", "MAX_ATTEMPTS", "DEFAULT_SENDER"]

#: failures before a message is left as failed
MAX_ATTEMPTS = 5
DEFAULT_SENDER = "workflows.outbox:ConsoleSender"


class SendError(Exception):
    """The gateway did not take the message (the text is kept as the message's last error)."""


@dataclass(frozen=True)
class OutgoingMessage:
    """What a sender gets: plain values, no database row."""

    #: "sms" or "email"
    channel: str
    #: a mobile number (09xxxxxxxxx) or an email address
    address: str
    subject: str
    body: str
    #: unique per message; give it to a gateway that deduplicates (idempotency key)
    key: str


@runtime_checkable
class Sender(Protocol):
    def send(self, message: OutgoingMessage) -> str | None:
        """Deliver one message; return the gateway's id for it, or raise SendError."""


class ConsoleSender:
    """Writes each message to standard output (development, demos and tests)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, message: OutgoingMessage) -> str | None:
        stream = self.stream or sys.stdout
        stream.write(f"[{message.channel} → {message.address}] {message.subject}\n{message.body}\n")
        return None


def load_sender(spec: str) -> Sender:
    """Build the sender named ``"module:Class"`` (called with no arguments)."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise ValueError(f"OUTBOX_SENDER must look like 'package.module:ClassName', not {spec!r}")
    sender = getattr(importlib.import_module(module_name), name)()
    if not isinstance(sender, Sender):
        raise TypeError(f"{spec} has no send(message) method")
    return sender


def take(session: Session, after_id: int = 0) -> OutboxMessage | None:
    """Take the oldest pending message (with an id above ``after_id``) for sending: pending → sending;
    None when there is none. The caller commits before sending, so no other sender takes it too.
    A run passes the last id it took, so a message that failed waits for the next run.
    """
    while True:
        message_id = session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.status == "pending", OutboxMessage.id > after_id).order_by(OutboxMessage.id).limit(1))
        if message_id is None:
            return None
        taken = session.execute(update(OutboxMessage).where(
            OutboxMessage.id == message_id, OutboxMessage.status == "pending")
            .values(status="sending", attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False))
        if taken.rowcount == 1:
            message = session.get(OutboxMessage, message_id)
            session.refresh(message)
            return message
        after_id = message_id  # another sender took it between the two statements: look further


def as_outgoing(message: OutboxMessage) -> OutgoingMessage:
    return OutgoingMessage(message.channel, message.address, message.subject, message.body, message.key)


def mark_sent(session: Session, message: OutboxMessage, provider_id: str | None, now: datetime) -> None:
    message.status, message.sent_at, message.provider_id, message.last_error = "sent", now, provider_id, None
    session.flush()


def mark_failed(session: Session, message: OutboxMessage, error: str) -> None:
    """Record a failed attempt: back to pending for the next run, or failed after MAX_ATTEMPTS."""
    message.last_error = error[:1000]
    message.status = "failed" if message.attempts >= MAX_ATTEMPTS else "pending"
    session.flush()


def pending_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")) or 0


def requeue_stuck(session: Session) -> int:
    """Put messages left in ``sending`` (a sender crashed mid-way) back to pending; they may then
    reach their recipient twice, which is why this is never automatic."""
    result = session.execute(update(OutboxMessage).where(OutboxMessage.status == "sending")
                             .values(status="pending").execution_options(synchronize_session=False))
    return result.rowcount
