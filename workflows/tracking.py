"""Following a case without signing in: its tracking code (کد رهگیری) and the national id of a person
its signed application names for it (``case.national_id`` of the application's form).

A case gets its ten-digit code when it starts; the applicant reads it on the case page and in what
they are told on submission. The lookup answers only where the case is (its step, who holds it,
what comes next), never what the application says.
"""
from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

import forms
from workflows import documents, procedures
from workflows.models import Case

__all__ = ["CODE_DIGITS", "new_code", "normalize_code", "find"]

CODE_DIGITS = 10


def new_code(session: Session) -> str:
    """A tracking code no case has yet."""
    while True:
        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        if session.scalar(select(Case.id).where(Case.tracking_code == code)) is None:
            return code


def normalize_code(text: object) -> str | None:
    """The code typed with any digits, spaces or dashes; None when it cannot be one."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    digits = forms.normalize_numeric(text)
    return digits if len(digits) == CODE_DIGITS and digits.isascii() and digits.isdigit() else None


def _national_ids(session: Session, case: Case) -> set[str]:
    """The national ids the case's latest signed application names for following it."""
    record = documents.application_record(session, case)
    if record is None:
        return set()
    form, data = documents.signed_form(record, procedures.of_version(session, case.spec_version).forms)
    return {value for path in form.case_fields.get("national_id", ()) if (value := form.value(data, path))}


def find(session: Session, code: object, national_id: object) -> Case | None:
    """The case with this tracking code whose signed application names this national id; None otherwise
    (whichever of the two is wrong: the answer does not say)."""
    code = normalize_code(code)
    if code is None or not isinstance(national_id, str) or len(national_id) > 40:
        return None
    try:
        person = forms.normalize_national_id(national_id)
    except forms.InvalidValueError:
        return None
    case = session.scalars(select(Case).where(Case.tracking_code == code)).first()
    if case is None or person not in _national_ids(session, case):
        return None
    return case
