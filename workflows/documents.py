"""Uploaded documents: checked by content, stored by SHA-256, linked to a case; an office's review
of each document of an application, and what a return for correction asks the applicant to replace.

A decision form that declares a ``document_review`` list signs, for each document of the
application it decides on, ``{"document": <the application's field path>, "verdict": "accepted" |
"rejected", "reason": …}``. A decision that approves accepts every document it reviewed. After a
return for correction, the applicant's next application keeps each accepted document as it was and
replaces each rejected one; the older file stays linked to the case and in the signed history.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

import forms
from workflows.errors import InvalidInput
from workflows.models import Case, CaseDocument, Document, Record, User

__all__ = ["MAX_DOCUMENT_BYTES", "store_document", "case_document_digests", "document_path", "sniff_type",
           "is_sha256", "REVIEW_FIELD", "APPLICATION_ACTIONS", "check_review", "check_replacements", "open_review",
           "rejected_labels", "application_record", "signed_form"]

#: the decision form's field that reviews the application's documents one by one
REVIEW_FIELD = "document_review"
#: the actions that sign an application (its first submission and each one after a return)
APPLICATION_ACTIONS = ("submit", "resubmit")

#: the largest upload accepted
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
#: accepted types, recognised by their first bytes (never by the file name)
_MAGIC = {b"%PDF-": "application/pdf", b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


def sniff_type(content: bytes) -> str | None:
    """The content type of a PDF, JPEG or PNG file, or None for anything else."""
    for magic, content_type in _MAGIC.items():
        if content.startswith(magic):
            break
    else:
        return None
    if content_type == "application/pdf":
        return content_type if b"%%EOF" in content[-2048:] else None
    try:
        with warnings.catch_warnings():
            # an image whose header claims more pixels than Pillow will decode is refused, not opened
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        return None
    return content_type


def is_sha256(text: object) -> bool:
    """True for a document's name: 64 lowercase hex digits."""
    return isinstance(text, str) and len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def document_path(storage_dir: Path, sha256: str) -> Path:
    """Where a document's bytes live; the name is the digest, never the uploader's name."""
    return storage_dir / sha256[:2] / sha256


def store_document(session: Session, storage_dir: Path, *, case: Case, user: User,
                   field: str, filename: str, content: bytes) -> CaseDocument:
    """Check and store an upload and link it to the case; InvalidInput keyed by the field."""
    if not content:
        raise InvalidInput({field: [forms.t("errors.file_empty")]})
    if len(content) > MAX_DOCUMENT_BYTES:
        raise InvalidInput({field: [forms.t("errors.file_too_large",
                                            mb=forms.to_persian_digits(str(MAX_DOCUMENT_BYTES // (1024 * 1024))))]})
    content_type = sniff_type(content)
    if content_type is None:
        raise InvalidInput({field: [forms.t("errors.file_type")]})
    sha256 = hashlib.sha256(content).hexdigest()
    path = document_path(storage_dir, sha256)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(content)
        os.replace(tmp, path)
    if session.get(Document, sha256) is None:
        session.add(Document(sha256=sha256, size=len(content), content_type=content_type))
    link = session.scalars(select(CaseDocument).where(
        CaseDocument.case_id == case.id, CaseDocument.sha256 == sha256)).first()
    if link is None:
        link = CaseDocument(case_id=case.id, sha256=sha256, uploaded_by=user.id,
                            original_name=forms.normalize_text(filename or "")[:200])
        session.add(link)
    session.flush()
    return link


def case_document_digests(session: Session, case: Case) -> set[str]:
    """Digests of the documents uploaded to this case."""
    return set(session.scalars(select(CaseDocument.sha256).where(CaseDocument.case_id == case.id)))


def _value(data: dict, path: str) -> object:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def application_record(session: Session, case: Case, before_seq: int | None = None) -> Record | None:
    """The case's latest signed application (its submission, or one after a return), or the latest
    before the record at ``before_seq``; None when there is none."""
    query = select(Record).where(Record.case_id == case.id, Record.action.in_(APPLICATION_ACTIONS),
                                 Record.form_data.is_not(None))
    if before_seq is not None:
        query = query.where(Record.seq < before_seq)
    return session.scalars(query.order_by(Record.seq.desc()).limit(1)).first()


def signed_form(record: Record, form_set: forms.FormSet) -> tuple[forms.FormSpec, dict]:
    """The form a signed record was made with (from the version's ``form_set``) and its data."""
    return form_set.get(json.loads(record.canonical)["form_key"]), json.loads(record.form_data)


def _application_before(session: Session, case: Case, seq: int | None = None) -> dict | None:
    record = application_record(session, case, seq)
    return json.loads(record.form_data) if record is not None else None


def check_review(session: Session, case: Case, cleaned: dict, document_paths: list[str], approves: bool
                 ) -> dict[str, list[str]]:
    """The problems of a decision's document review (field-keyed): each item names a document of the
    application decided on, and an approval rejects none."""
    review = cleaned.get(REVIEW_FIELD) or []
    if not review:
        return {}
    application = _application_before(session, case) or {}
    errors: dict[str, list[str]] = {}
    for number, item in enumerate(review):
        if item["document"] not in document_paths or not _value(application, item["document"]):
            errors[f"{REVIEW_FIELD}.{number}.document"] = [forms.t("errors.review_unknown_document")]
    if approves and any(item["verdict"] == "rejected" for item in review):
        errors["decision"] = [forms.t("errors.review_rejected_approve")]
    return errors


def open_review(session: Session, case: Case) -> dict[str, dict]:
    """What the latest return for correction that the applicant has not yet answered said of each
    document: path → {"verdict", "reason", "sha256" (the file it reviewed), "seq" (its record)};
    empty when there is none."""
    for seq, action, form_data in session.execute(
            select(Record.seq, Record.action, Record.form_data).where(
                Record.case_id == case.id, Record.form_data.is_not(None)).order_by(Record.seq.desc())):
        if action in APPLICATION_ACTIONS:
            return {}
        data = json.loads(form_data)
        if REVIEW_FIELD in data:
            if action != "return":
                return {}
            application = _application_before(session, case, seq) or {}
            return {item["document"]: {"verdict": item["verdict"], "reason": item.get("reason"), "seq": seq,
                                       "sha256": _value(application, item["document"])}
                    for item in data[REVIEW_FIELD]}
    return {}


def check_replacements(session: Session, case: Case, cleaned: dict, document_paths: list[str]
                       ) -> dict[str, list[str]]:
    """The problems of an application sent after a return that reviewed its documents (field-keyed):
    an accepted document is kept as it was, a rejected one is replaced by another file."""
    review = open_review(session, case)
    errors: dict[str, list[str]] = {}
    for path in document_paths:
        verdict = review.get(path)
        if verdict is None or verdict["sha256"] is None:
            continue
        now = _value(cleaned, path)
        if verdict["verdict"] == "accepted" and now != verdict["sha256"]:
            errors[path] = [forms.t("errors.review_keep_accepted")]
        elif verdict["verdict"] == "rejected" and now == verdict["sha256"]:
            errors[path] = [forms.t("errors.review_replace_rejected")]
    return errors


def rejected_labels(review: list[dict] | None, form: forms.FormSpec | None) -> list[str]:
    """The Persian names of the documents a review rejected, as the application's form labels them."""
    return [form.label(item["document"]) if form else item["document"]
            for item in review or [] if item.get("verdict") == "rejected"]
