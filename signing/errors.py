"""Errors raised by the signing package; each carries a machine code for the UI."""

__all__ = [
    "BadSignatureError",
    "CanonicalizationError",
    "ChainError",
    "KeyFormatError",
    "PdfError",
    "PinError",
    "RecordError",
    "ResourceRefusedError",
    "SigningError",
    "WrongPinError",
]


class SigningError(Exception):
    """Base of every error raised by the signing package."""

    code = "signing_error"


class CanonicalizationError(SigningError):
    """A value cannot be turned into canonical JSON (float, non-str key, not JSON)."""

    code = "not_canonical_json"


class KeyFormatError(SigningError):
    """Key material is malformed, unencrypted where it must be, or not ECDSA P-256."""

    code = "bad_key"


class PinError(SigningError):
    """A signing PIN is unusable (for example empty)."""

    code = "bad_pin"


class WrongPinError(PinError):
    """The PIN does not decrypt the private key."""

    code = "wrong_pin"


class BadSignatureError(SigningError):
    """A signature does not verify."""

    code = "bad_signature"


class RecordError(SigningError):
    """A transition record body is not valid."""

    code = "bad_record"


class ChainError(SigningError):
    """A case's record chain failed verification; `report` holds the problems."""

    code = "chain_invalid"

    def __init__(self, detail: str, report: object) -> None:
        super().__init__(detail)
        self.report = report


class PdfError(SigningError):
    """A PDF could not be rendered."""

    code = "pdf_failed"


class ResourceRefusedError(PdfError):
    """A URL met while rendering a PDF was refused or could not be read."""

    code = "pdf_resource_refused"
