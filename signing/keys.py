"""ECDSA P-256 key pairs, their identifiers, and private keys encrypted under a PIN (at rest) or
wrapped under a random secret (a key unlocked for a while, see wrap_private_key)."""

import base64
import os
import unicodedata
from typing import TypeVar

from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .canonical import sha256_hex
from .errors import KeyFormatError, PinError, WrongPinError

__all__ = [
    "decrypt_private_key",
    "encrypt_private_key",
    "generate_key",
    "key_id",
    "load_public_key",
    "public_key_pem",
    "unwrap_private_key",
    "wrap_private_key",
]

_Key = TypeVar("_Key", ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)

# scrypt N=2^14, r=8, p=1 (16 MiB): RFC 7914's interactive setting, ~45-80 ms per
# unlock here. cryptography only writes PKCS#8 with PBKDF2 at 2048 iterations
# (~1 ms), so the PBES2/scrypt structure is written below; cryptography reads it.
#: the powers of two scrypt's N may be: 14 for every key a person holds; lower only for keys that
#: never leave a throwaway database (the one a deploy runs the procedures' scenarios on)
WORK_FACTORS = range(1, 21)
_SCRYPT_R = 8
_SCRYPT_P = 1
_SALT_BYTES = 16
_AES_KEY_BYTES = 32

_OID_PBES2 = bytes.fromhex("06092a864886f70d01050d")  # 1.2.840.113549.1.5.13
_OID_SCRYPT = bytes.fromhex("06092b06010401da47040b")  # 1.3.6.1.4.1.11591.4.11
_OID_AES256_CBC = bytes.fromhex("060960864801650304012a")  # 2.16.840.1.101.3.4.1.42

# Persian and Arabic-Indic digits, so a PIN typed on any keyboard layout unlocks.
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")


def generate_key() -> ec.EllipticCurvePrivateKey:
    """Generate a new ECDSA P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def encrypt_private_key(key: ec.EllipticCurvePrivateKey, pin: str, *, work_factor: int = 14) -> bytes:
    """Return `key` as PKCS#8 PEM encrypted under `pin` (PBES2: scrypt with N = 2**work_factor, AES-256-CBC).

    Keep the default for every real key; the file records N, so decrypting needs no argument."""
    _p256(key, ec.EllipticCurvePrivateKey)
    if type(work_factor) is not int or work_factor not in WORK_FACTORS:
        raise ValueError(f"work_factor must be a whole number from {WORK_FACTORS[0]} to {WORK_FACTORS[-1]}")
    scrypt_n = 2**work_factor
    salt = os.urandom(_SALT_BYTES)
    iv = os.urandom(16)
    kdf = Scrypt(salt=salt, length=_AES_KEY_BYTES, n=scrypt_n, r=_SCRYPT_R, p=_SCRYPT_P)
    secret = kdf.derive(_pin_bytes(pin))
    plain = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padded) + encryptor.finalize()
    scrypt_params = _seq(
        _der(0x04, salt),
        _int(scrypt_n),
        _int(_SCRYPT_R),
        _int(_SCRYPT_P),
        _int(_AES_KEY_BYTES),
    )
    pbes2_params = _seq(
        _seq(_OID_SCRYPT, scrypt_params),
        _seq(_OID_AES256_CBC, _der(0x04, iv)),
    )
    info = _seq(_seq(_OID_PBES2, pbes2_params), _der(0x04, encrypted))
    text = base64.b64encode(info).decode("ascii")
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    pem = "\n".join(
        ["-----BEGIN ENCRYPTED PRIVATE KEY-----", *lines, "-----END ENCRYPTED PRIVATE KEY-----", ""]
    )
    return pem.encode("ascii")


def decrypt_private_key(pem: bytes, pin: str) -> ec.EllipticCurvePrivateKey:
    """Decrypt a PIN-encrypted PKCS#8 PEM private key; raise WrongPinError on a bad PIN."""
    try:
        key = serialization.load_pem_private_key(pem, password=_pin_bytes(pin))
    except TypeError as exc:  # the PEM is not encrypted
        raise KeyFormatError("private key is not encrypted") from exc
    except ValueError as exc:
        # A wrong PIN decrypts to noise: mostly with bad padding ("incorrect password"), but about
        # once in 256 the noise unpads and then fails as DER. Either way the envelope is sound and
        # what the PIN opened is not a key.
        if "incorrect password" in str(exc).lower() or _sound_envelope(pem):
            raise WrongPinError("the PIN does not decrypt this key") from exc
        raise KeyFormatError(str(exc)) from exc
    return _p256(key, ec.EllipticCurvePrivateKey)


def _sound_envelope(pem: bytes) -> bool:
    """Whether ``pem`` is a well-formed PKCS#8 EncryptedPrivateKeyInfo (whatever it encrypts)."""
    try:
        _type, _headers, der = asn1_pem.unarmor(pem)
        asn1_keys.EncryptedPrivateKeyInfo.load(der, strict=True).native
    except (ValueError, TypeError):
        return False
    return True


def wrap_private_key(key: ec.EllipticCurvePrivateKey, secret: bytes, context: bytes) -> bytes:
    """The key encrypted with AES-256-GCM under a 32-byte random `secret` (nonce ‖ ciphertext);
    `context` is authenticated with it, so the blob opens only where it was made for."""
    if type(secret) is not bytes or len(secret) != _AES_KEY_BYTES:
        raise KeyFormatError("the wrapping secret must be 32 bytes")
    der = _p256(key, ec.EllipticCurvePrivateKey).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    nonce = os.urandom(12)
    return nonce + AESGCM(secret).encrypt(nonce, der, context)


def unwrap_private_key(blob: bytes, secret: bytes, context: bytes) -> ec.EllipticCurvePrivateKey:
    """Open what wrap_private_key made; raise WrongPinError if the secret or context differ."""
    if type(secret) is not bytes or len(secret) != _AES_KEY_BYTES or len(blob) < 12 + 16:
        raise WrongPinError("not a wrapped key for this secret")
    try:
        der = AESGCM(secret).decrypt(bytes(blob[:12]), bytes(blob[12:]), context)
    except InvalidTag as exc:
        raise WrongPinError("not a wrapped key for this secret") from exc
    return _p256(serialization.load_der_private_key(der, password=None), ec.EllipticCurvePrivateKey)


def public_key_pem(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> str:
    """Return the SubjectPublicKeyInfo PEM of a P-256 key (private or public)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        key = key.public_key()
    return (
        _p256(key, ec.EllipticCurvePublicKey)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """Return the hex SHA-256 of the key's SubjectPublicKeyInfo DER."""
    der = _p256(public_key, ec.EllipticCurvePublicKey).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return sha256_hex(der)


def load_public_key(pem: str | bytes) -> ec.EllipticCurvePublicKey:
    """Load a P-256 public key from SubjectPublicKeyInfo PEM; raise KeyFormatError otherwise."""
    data = pem.encode("utf-8") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyFormatError(str(exc)) from exc
    return _p256(key, ec.EllipticCurvePublicKey)


def _p256(key: object, kind: type[_Key]) -> _Key:
    if not isinstance(key, kind) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyFormatError(f"not an ECDSA P-256 key: {type(key).__name__}")
    return key


def _pin_bytes(pin: str) -> bytes:
    if not isinstance(pin, str) or not pin:
        raise PinError("the PIN must be a non-empty string")
    return unicodedata.normalize("NFC", pin.translate(_DIGITS)).encode("utf-8")


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + content


def _seq(*parts: bytes) -> bytes:
    return _der(0x30, b"".join(parts))


def _int(value: int) -> bytes:
    # One extra byte whenever the top bit is set keeps the non-negative integer positive.
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))
