"""Offices and people: creating accounts with their signing keys."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from workflows.keys import issue_key
from workflows.models import ApiToken, Office, User

__all__ = ["create_office", "create_user", "create_system_user", "system_user", "add_token", "SYSTEM_USERNAME"]

#: the account that signs what no person does: timers firing, deadlines passing
SYSTEM_USERNAME = "system"


def create_office(session: Session, *, code: str, name: str, kind: str,
                  parent: Office | None = None, number: int | None = None) -> Office:
    """Add an office to the tree."""
    office = Office(code=code, name=name, kind=kind, parent=parent, number=number)
    session.add(office)
    session.flush()
    return office


def create_user(session: Session, *, username: str, password: str, full_name: str, role: str,
                office: Office | None, pin: str | None, agency: str | None = None, mobile: str | None = None,
                email: str | None = None, work_factor: int = 14) -> User:
    """Add a person (or agency account) with a password and a signing key under their PIN.

    Without a PIN the account has no key yet: its owner chooses a PIN (and so makes the key)
    on first sign-in, so nobody else ever knows it.
    """
    user = User(username=username, password_hash=generate_password_hash(password), full_name=full_name,
                role=role, office=office, agency=agency, mobile=mobile, email=email)
    session.add(user)
    session.flush()
    if pin is not None:
        issue_key(session, user, pin, work_factor=work_factor)
    return user


def create_system_user(session: Session, pin: str, work_factor: int = 14) -> User:
    """The system account; it cannot sign in (no usable password) and signs under the server's PIN."""
    return create_user(session, username=SYSTEM_USERNAME, password=secrets.token_urlsafe(32),
                       full_name="سامانه (اقدام خودکار)", role="system", office=None, pin=pin, work_factor=work_factor)


def system_user(session: Session) -> User:
    """The system account."""
    return session.scalars(select(User).where(User.username == SYSTEM_USERNAME, User.role == "system")).one()


def add_token(session: Session, user: User, token: str, label: str = "",
              expires_at: datetime | None = None) -> ApiToken:
    """Register an API bearer token for a user (only its SHA-256 is stored), valid until `expires_at`."""
    row = ApiToken(user_id=user.id, token_hash=hashlib.sha256(token.encode()).hexdigest(), label=label[:80],
                   expires_at=expires_at)
    session.add(row)
    session.flush()
    return row
