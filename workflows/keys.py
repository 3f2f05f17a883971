"""People's signing keys: created under a PIN, unlocked only with it."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from signing import (
    InMemorySigner, Signer, WrongPinError, decrypt_private_key, encrypt_private_key,
    generate_key, key_id, public_key_pem,
)
from workflows.errors import Forbidden, SigningLocked, WrongPin
from workflows.models import SigningKey, User

__all__ = ["issue_key", "active_key", "unlock_signer", "public_keys", "note_wrong_pin", "MAX_WRONG_PINS"]

#: wrong PINs in a row after which the key stops signing until an administrator resets it
MAX_WRONG_PINS = 5


def issue_key(session: Session, user: User, pin: str) -> SigningKey:
    """Create a new key pair for the user, its private half encrypted under the PIN."""
    private_key = generate_key()
    for old in session.scalars(select(SigningKey).where(SigningKey.user_id == user.id, SigningKey.active)):
        old.active = False
    row = SigningKey(key_id=key_id(private_key.public_key()), user_id=user.id,
                     public_key_pem=public_key_pem(private_key),
                     encrypted_private_key=encrypt_private_key(private_key, pin))
    session.add(row)
    session.flush()
    return row


def active_key(session: Session, user: User) -> SigningKey | None:
    """The user's current signing key."""
    return session.scalars(select(SigningKey).where(
        SigningKey.user_id == user.id, SigningKey.active)).first()


def unlock_signer(session: Session, user: User, pin: str) -> Signer:
    """A signer for the user's active key; WrongPin when the PIN does not open it."""
    row = active_key(session, user)
    if row is None:
        raise Forbidden("user has no signing key")
    if row.failed_pins >= MAX_WRONG_PINS:
        raise SigningLocked("too many wrong PINs")
    if not isinstance(pin, str) or not pin:
        raise WrongPin("no PIN")
    try:
        signer = InMemorySigner(decrypt_private_key(row.encrypted_private_key, pin))
    except WrongPinError:
        raise WrongPin("wrong PIN") from None
    row.failed_pins = 0
    return signer


def note_wrong_pin(session: Session, user: User) -> int:
    """Count a wrong PIN (in its own transaction: the failed operation was rolled back)."""
    row = active_key(session, user)
    if row is None:
        return 0
    row.failed_pins += 1
    session.flush()
    return row.failed_pins


def public_keys(session: Session, key_ids: set[str]) -> dict[str, tuple[str, int]]:
    """(PEM public key, owner's user id) by key id, for verification."""
    if not key_ids:
        return {}
    rows = session.scalars(select(SigningKey).where(SigningKey.key_id.in_(key_ids)))
    return {row.key_id: (row.public_key_pem, row.user_id) for row in rows}
