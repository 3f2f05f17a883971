"""The Signer abstraction (ECDSA P-256 with SHA-256, DER signatures) and verification."""

import abc

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from .errors import BadSignatureError, KeyFormatError
from .keys import key_id, load_public_key, public_key_pem

__all__ = ["InMemorySigner", "Signer", "verify_signature"]


class Signer(abc.ABC):
    """Signs messages with one P-256 key, agnostic as to where the key operation happens."""

    @property
    @abc.abstractmethod
    def key_id(self) -> str:
        """Hex SHA-256 of the signing key's SubjectPublicKeyInfo DER."""

    @property
    @abc.abstractmethod
    def public_key_pem(self) -> str:
        """SubjectPublicKeyInfo PEM of the signing key."""

    @abc.abstractmethod
    def sign(self, message: bytes) -> bytes:
        """Return the DER ECDSA-SHA256 signature of `message`."""


class InMemorySigner(Signer):
    """A Signer holding a decrypted private key in process memory."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey):
            raise KeyFormatError("InMemorySigner needs an ECDSA P-256 private key")
        self._public_key_pem = public_key_pem(private_key)
        self._key_id = key_id(private_key.public_key())
        self._private_key = private_key

    @property
    def key_id(self) -> str:
        """Hex SHA-256 of the signing key's SubjectPublicKeyInfo DER."""
        return self._key_id

    @property
    def public_key_pem(self) -> str:
        """SubjectPublicKeyInfo PEM of the signing key."""
        return self._public_key_pem

    def sign(self, message: bytes) -> bytes:
        """Return the DER ECDSA-SHA256 signature of `message`."""
        return self._private_key.sign(message, ec.ECDSA(hashes.SHA256()))


def verify_signature(public_key_pem: str, message: bytes, signature: bytes) -> None:
    """Verify a DER ECDSA-SHA256 signature; raise BadSignatureError if it does not verify."""
    key = load_public_key(public_key_pem)
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise BadSignatureError("signature does not verify") from exc
