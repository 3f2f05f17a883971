"""Errors raised by the signing package; each carries a machine code for the UI."""

__all__ = [
    "AttachmentError",
    "BadSignatureError",
    "BundleError",
    "CanonicalizationError",
    "CertificateConstraintError",
    "CertificateError",
    "CertificatePathError",
    "CertificateRevokedError",
    "CertificateValidityError",
    "ChainError",
    "CheckpointError",
    "ConsistencyProofError",
    "InclusionProofError",
    "KeyFormatError",
    "MerkleError",
    "NoteError",
    "PdfError",
    "PdfSignatureError",
    "PdfUnreadableError",
    "PinError",
    "RecordError",
    "ResourceRefusedError",
    "RevocationUnknownError",
    "SigningError",
    "TimestampError",
    "UntrustedPathError",
    "WitnessPolicyError",
    "VerificationError",
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


class PdfSignatureError(PdfError):
    """A PDF cannot be signed, or holds no single signature that can be evaluated."""

    code = "pdf_signature_invalid"


class PdfUnreadableError(PdfSignatureError):
    """A file that claims to be a PDF cannot be parsed: broken cross-references, objects or streams."""

    code = "pdf_unreadable"


class AttachmentError(PdfSignatureError):
    """An embedded file of the signed revision is missing, or its stream cannot be decoded."""

    code = "pdf_attachment_unreadable"


class VerificationError(SigningError):
    """A check could not be completed for a reason no other error names: nothing is proved."""

    code = "verification_error"


class MerkleError(SigningError):
    """A Merkle log argument is out of range or malformed."""

    code = "merkle_invalid"


class InclusionProofError(MerkleError):
    """An inclusion proof does not prove the leaf at that index under that root."""

    code = "not_in_log"


class ConsistencyProofError(MerkleError):
    """A consistency proof does not prove the newer tree extends the older one."""

    code = "log_inconsistent"


class CheckpointError(SigningError):
    """A log checkpoint is malformed, unsigned, or its signature does not verify."""

    code = "checkpoint_invalid"


class NoteError(CheckpointError):
    """A signed note (checkpoint or cosignature) is malformed or its signature does not verify."""

    code = "note_invalid"


class WitnessPolicyError(SigningError):
    """A witness policy file is malformed or asks for more witnesses than it lists."""

    code = "witness_policy_invalid"


class CertificateError(SigningError):
    """A certificate, key or CRL cannot be issued or loaded as asked."""

    code = "bad_certificate"


class CertificatePathError(SigningError):
    """A certificate does not chain to the root, valid and unrevoked, at the time asked."""

    code = "cert_path_invalid"


class UntrustedPathError(CertificatePathError):
    """A signature link is broken or the path does not end at the given root."""

    code = "cert_untrusted"


class CertificateValidityError(CertificatePathError):
    """A certificate on the path is not yet valid or has expired at the time asked."""

    code = "cert_not_valid_at_time"


class CertificateConstraintError(CertificatePathError):
    """Basic constraints, path length, key usage or purpose forbid this use."""

    code = "cert_constraints_violated"


class RevocationUnknownError(CertificatePathError):
    """No usable CRL of an issuer on the path covers the time asked (hard fail)."""

    code = "revocation_unknown"


class CertificateRevokedError(CertificatePathError):
    """A certificate on the path was revoked at or before the time asked."""

    code = "cert_revoked"


class TimestampError(SigningError):
    """An RFC 3161 time-stamp token is malformed, does not cover the data, or is badly signed."""

    code = "timestamp_invalid"


class BundleError(SigningError):
    """An evidence bundle cannot be built from the data given."""

    code = "bundle_invalid"
