"""Notes on a case: an office's internal note (read by the offices only) and an office's message to
the applicant. Each is a signed record of the case's chain that changes nothing else of the case.

The record signs the digest of the words (``form_data = {"text_sha256": …}``), and the words are
kept beside it (``CaseNote``): the evidence a founder receives with a certificate carries every
record of the case, and so says that an internal note was written, by whom and when, but not what
it says. Shown words are checked against the signed digest.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

import forms
from workflows import access, transitions
from workflows.errors import Forbidden, InvalidInput, NotFound
from workflows.keys import signer_for
from workflows.models import Case, CaseNote, Record, User

__all__ = ["NOTE_ACTIONS", "add_note", "case_notes"]

#: the action of each kind of note, and who reads it: the offices only, or the applicant too
NOTE_ACTIONS = {"office_note": "offices", "applicant_message": "applicant"}
MIN_TEXT, MAX_TEXT = 5, 2000


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def add_note(session: Session, *, case: Case, author: User, action: str, text: object, now: datetime,
             pin: str | None = None, signing_session: str | None = None) -> Record:
    """Sign an office's note or message on the case (``action``: a key of NOTE_ACTIONS)."""
    if not access.can_view(session, author, case):
        raise NotFound("case")
    if not access.is_office_role(author.role):
        raise Forbidden("only offices write notes on a case")
    errors: dict[str, list[str]] = {}
    if action not in NOTE_ACTIONS:
        errors["kind"] = [forms.t("errors.choice_invalid")]
    words = forms.normalize_text(text, multiline=True) if isinstance(text, str) else ""
    if isinstance(text, str) and forms.has_forbidden_characters(text):
        errors["text"] = [forms.t("errors.forbidden_character")]
    elif len(words) < MIN_TEXT:
        errors["text"] = [forms.t("errors.text_too_short", min=forms.to_persian_digits(str(MIN_TEXT)))]
    elif len(words) > MAX_TEXT:
        errors["text"] = [forms.t("errors.text_too_long", max=forms.to_persian_digits(str(MAX_TEXT)))]
    if errors:
        raise InvalidInput(errors)
    signer = signer_for(session, author, pin, signing_session)
    change = transitions.Transition.begin(session, case, now)
    record = change.sign(signer, author, action=action, form_data={"text_sha256": _digest(words)})
    session.add(CaseNote(record_id=record.id, case_id=case.id, text=words))
    change.finish()
    return record


def case_notes(session: Session, case: Case, viewer: User) -> list[dict]:
    """The notes the viewer may read, oldest first: offices read both kinds, the applicant the
    messages only. ``proved`` is false when the kept words are not the ones the record signed."""
    actions = [a for a, audience in NOTE_ACTIONS.items() if access.is_office_role(viewer.role) or audience == "applicant"]
    rows = session.execute(select(Record, CaseNote.text).join(CaseNote, CaseNote.record_id == Record.id)
                           .where(Record.case_id == case.id, Record.action.in_(actions)).order_by(Record.seq)).all()
    return [{"seq": record.seq, "action": record.action, "author": record.actor, "time": record.created_at,
             "text": text, "proved": json.loads(record.form_data or "{}").get("text_sha256") == _digest(text)}
            for record, text in rows]
