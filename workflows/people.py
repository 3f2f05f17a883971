"""Offices and people: creating accounts with their signing keys."""
from __future__ import annotations

from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from workflows.keys import issue_key
from workflows.models import Office, User

__all__ = ["create_office", "create_user"]


def create_office(session: Session, *, code: str, name: str, kind: str,
                  parent: Office | None = None, number: int | None = None) -> Office:
    """Add an office to the tree."""
    office = Office(code=code, name=name, kind=kind, parent=parent, number=number)
    session.add(office)
    session.flush()
    return office


def create_user(session: Session, *, username: str, password: str, full_name: str, role: str,
                office: Office | None, pin: str) -> User:
    """Add a person with a password and a signing key under their PIN."""
    user = User(username=username, password_hash=generate_password_hash(password), full_name=full_name,
                role=role, office=office)
    session.add(user)
    session.flush()
    issue_key(session, user, pin)
    return user
