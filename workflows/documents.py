"""Uploaded documents: checked by content, stored by SHA-256, linked to a case."""
from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

import forms
from workflows.errors import InvalidInput
from workflows.models import Case, CaseDocument, Document, User

__all__ = ["MAX_DOCUMENT_BYTES", "store_document", "case_document_digests", "document_path", "sniff_type",
           "is_sha256"]

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
