"""Canonical bytes, keys, signers, signed record chains and PDF rendering.

Imports no other project package and nothing from Flask. The PDF names are
imported on first use: WeasyPrint loads Pango and takes about a second to import,
which code that only signs or verifies records should not pay.
"""

from typing import TYPE_CHECKING

from .canonical import canonical_bytes, digest, sha256_hex
from .errors import (
    BadSignatureError,
    CanonicalizationError,
    ChainError,
    KeyFormatError,
    PdfError,
    PinError,
    RecordError,
    ResourceRefusedError,
    SigningError,
    WrongPinError,
)
from .keys import (
    decrypt_private_key,
    encrypt_private_key,
    generate_key,
    key_id,
    load_public_key,
    public_key_pem,
)
from .records import (
    BODY_KEYS,
    DOMAIN,
    ChainProblem,
    ChainReport,
    SignedRecord,
    StoredRecord,
    format_time,
    record_hash,
    require_valid,
    sign_record,
    verify_chain,
)
from .signer import InMemorySigner, Signer, verify_signature

if TYPE_CHECKING:
    from .pdf import LocalURLFetcher, qr_data_uri, render_pdf

_PDF_NAMES = frozenset({"LocalURLFetcher", "qr_data_uri", "render_pdf"})

__all__ = [
    "BODY_KEYS",
    "DOMAIN",
    "BadSignatureError",
    "CanonicalizationError",
    "ChainError",
    "ChainProblem",
    "ChainReport",
    "InMemorySigner",
    "KeyFormatError",
    "LocalURLFetcher",
    "PdfError",
    "PinError",
    "RecordError",
    "ResourceRefusedError",
    "SignedRecord",
    "Signer",
    "SigningError",
    "StoredRecord",
    "WrongPinError",
    "canonical_bytes",
    "decrypt_private_key",
    "digest",
    "encrypt_private_key",
    "format_time",
    "generate_key",
    "key_id",
    "load_public_key",
    "public_key_pem",
    "qr_data_uri",
    "record_hash",
    "require_valid",
    "sign_record",
    "sha256_hex",
    "verify_chain",
    "verify_signature",
]


def __getattr__(name: str) -> object:
    if name in _PDF_NAMES:
        from . import pdf

        return getattr(pdf, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
