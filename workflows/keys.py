"""People's signing keys: created under a PIN, unlocked only with it, for one signature or for a
while (a signing session: the PIN typed once, the key wrapped under a secret the client keeps)."""
from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, text, update
from sqlalchemy.orm import Session

from forms import t
from signing import (
    InMemorySigner, Signer, WrongPinError, decrypt_private_key, encrypt_private_key,
    generate_key, key_id, public_key_pem, unwrap_private_key, wrap_private_key,
)
from workflows.errors import Forbidden, InvalidInput, SigningLocked, SigningSessionEnded, WrongPin
from workflows.models import SigningKey, SigningSession, User, utcnow

__all__ = ["issue_key", "active_key", "unlock_signer", "public_keys", "MAX_WRONG_PINS",
           "signer_for", "open_signing_session", "session_signer", "open_session", "close_signing_session", "signing_session_id", "prune_signing_sessions",
           "SIGNING_SESSION_MINUTES"]

#: wrong PINs in a row after which the key stops signing until an administrator resets it
MAX_WRONG_PINS = 5
#: how long a key unlocked for a while stays open: the default, and the most one may ask
SIGNING_SESSION_MINUTES = (15, 60)


def issue_key(session: Session, user: User, pin: str, *, work_factor: int = 14) -> SigningKey:
    """Create a new key pair for the user, its private half encrypted under the PIN (``work_factor``:
    see ``signing.encrypt_private_key``; lowered only in a throwaway database)."""
    private_key = generate_key()
    for old in session.scalars(select(SigningKey).where(SigningKey.user_id == user.id, SigningKey.active)):
        old.active = False
    row = SigningKey(key_id=key_id(private_key.public_key()), user_id=user.id,
                     public_key_pem=public_key_pem(private_key),
                     encrypted_private_key=encrypt_private_key(private_key, pin, work_factor=work_factor))
    session.add(row)
    session.flush()
    return row


def active_key(session: Session, user: User) -> SigningKey | None:
    """The user's current signing key."""
    return session.scalars(select(SigningKey).where(
        SigningKey.user_id == user.id, SigningKey.active)).first()


def signer_for(session: Session, user: User, pin: str | None, signing_session: str | None = None) -> Signer:
    """The user's signer: unlocked by the PIN when one is given, else from the open signing session
    the handle names."""
    if signing_session is not None and not pin:
        return session_signer(session, user, signing_session)
    return unlock_signer(session, user, pin)


def unlock_signer(session: Session, user: User, pin: str) -> Signer:
    """A signer for the user's active key; WrongPin when the PIN does not open it."""
    return InMemorySigner(_unlock(session, user, pin)[1])


def _unlock(session: Session, user: User, pin: str):
    """The key row and its private key. Each PIN tried is counted before it is tried, in a commit of
    its own (a conditional UPDATE: at most MAX_WRONG_PINS attempts get past it however many arrive at
    once); a right PIN then takes back its own attempt and the ones before it."""
    row = _usable_key(session, user)
    if not isinstance(pin, str) or not pin:  # forgotten, not wrong: it does not count toward the lock
        raise InvalidInput({"pin": [t("errors.required")]})
    counter = SigningKey.failed_pins
    claimed = _write_now(session, update(SigningKey).where(
        SigningKey.key_id == row.key_id, counter < MAX_WRONG_PINS).values(failed_pins=counter + 1)
        .returning(counter))
    session.expire(row, ["failed_pins"])
    if claimed is None:
        raise SigningLocked("too many wrong PINs")
    try:
        private_key = decrypt_private_key(row.encrypted_private_key, pin)
    except WrongPinError:
        raise WrongPin("wrong PIN") from None  # stays counted
    # attempts claimed after this one (still being tried, or wrong) stay counted
    _write_now(session, update(SigningKey).where(SigningKey.key_id == row.key_id).values(
        failed_pins=case((counter > claimed, counter - claimed), else_=0)).returning(counter))
    return row, private_key


def _write_now(session: Session, statement) -> int | None:
    """Execute an UPDATE … RETURNING of the wrong-PIN counter so that it stands whatever becomes of the
    caller's transaction: committed at once on a connection of its own. In the caller's transaction
    instead when that connection sees no such row (a key this transaction has just made), or when the
    transaction has written on SQLite (it holds the whole database: a script signing several times
    before one commit)."""
    bind = session.get_bind()
    if not (bind.dialect.name == "sqlite" and _sqlite_writing(session)):
        with bind.begin() as connection:
            if bind.dialect.name == "postgresql":  # never wait for good on a row the caller holds
                connection.execute(text("SET LOCAL lock_timeout = '5s'"))
            value = connection.execute(statement).scalar()
        if value is not None:
            return value
    return session.execute(statement).scalar()


def _sqlite_writing(session: Session) -> bool:
    return bool(session.connection().connection.dbapi_connection.in_transaction)


def _usable_key(session: Session, user: User) -> SigningKey:
    row = active_key(session, user)
    if row is None:
        raise Forbidden("user has no signing key")
    if row.failed_pins >= MAX_WRONG_PINS:
        raise SigningLocked("too many wrong PINs")
    return row


def open_signing_session(session: Session, user: User, pin: str, *, minutes: int | None = None,
                         now: datetime | None = None) -> tuple[str, SigningSession]:
    """Unlock the user's key with the PIN and keep it open for `minutes`: the handle to present
    instead of the PIN (``<id>.<secret>``; only the client keeps it) and the stored row."""
    default, longest = SIGNING_SESSION_MINUTES
    minutes = default if minutes is None else minutes
    if not 1 <= minutes <= longest:
        raise ValueError(f"a signing session lasts 1 to {longest} minutes")
    now = now or utcnow()
    row, private_key = _unlock(session, user, pin)
    secret = secrets.token_bytes(32)
    opened = SigningSession(user_id=user.id, key_id=row.key_id, wrapped_key=b"", created_at=now,
                            expires_at=now + timedelta(minutes=minutes))
    session.add(opened)
    session.flush()
    opened.wrapped_key = wrap_private_key(private_key, secret, _context(opened))
    session.flush()
    return f"{opened.id}.{base64.urlsafe_b64encode(secret).decode().rstrip('=')}", opened


def session_signer(session: Session, user: User, handle: str, now: datetime | None = None) -> Signer:
    """The signer of an open signing session of this user; SigningSessionEnded when the handle is
    not one, has expired, or the user's key has changed since."""
    opened, secret = _find(session, handle)
    if not _live(opened, user, now):
        raise SigningSessionEnded("the signing session has ended")
    if _usable_key(session, user).key_id != opened.key_id:
        raise SigningSessionEnded("the key was replaced")
    try:
        return InMemorySigner(unwrap_private_key(opened.wrapped_key, secret, _context(opened)))
    except WrongPinError:
        raise SigningSessionEnded("not this session's secret") from None


def open_session(session: Session, user: User, handle: str | None, now: datetime | None = None
                 ) -> SigningSession | None:
    """The user's signing session the handle names, if it has not ended (its secret unchecked)."""
    opened, _ = _find(session, handle)
    return opened if _live(opened, user, now) else None


def _live(opened: SigningSession | None, user: User, now: datetime | None) -> bool:
    return opened is not None and opened.user_id == user.id and opened.expires_at > (now or utcnow())


def close_signing_session(session: Session, user: User, session_id: int | None) -> bool:
    """Lock the key of one of the user's signing sessions again (sign-out, or the client is done);
    False if the user has no such session."""
    opened = session.get(SigningSession, session_id) if session_id is not None else None
    if opened is None or opened.user_id != user.id:
        return False
    session.delete(opened)
    session.flush()
    return True


def signing_session_id(handle: str | None) -> int | None:
    """The id a handle names (not proof that it is valid)."""
    if not isinstance(handle, str) or "." not in handle:
        return None
    number = handle.split(".", 1)[0]
    return int(number) if number.isascii() and number.isdigit() and len(number) <= 9 else None


def prune_signing_sessions(session: Session, now: datetime | None = None) -> int:
    """Forget the signing sessions that have ended."""
    return session.execute(delete(SigningSession).where(SigningSession.expires_at <= (now or utcnow()))).rowcount


def _find(session: Session, handle: str | None) -> tuple[SigningSession | None, bytes]:
    number = signing_session_id(handle)
    if number is None or handle.count(".") != 1 or len(handle) > 80:
        return None, b""
    encoded = handle.split(".")[1]
    try:
        secret = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        return None, b""
    return session.get(SigningSession, number), secret


def _context(opened: SigningSession) -> bytes:
    return f"signing-session:{opened.id}:{opened.user_id}:{opened.key_id}".encode()


def public_keys(session: Session, key_ids: set[str]) -> dict[str, tuple[str, int]]:
    """(PEM public key, owner's user id) by key id, for verification."""
    if not key_ids:
        return {}
    rows = session.scalars(select(SigningKey).where(SigningKey.key_id.in_(key_ids)))
    return {row.key_id: (row.public_key_pem, row.user_id) for row in rows}
