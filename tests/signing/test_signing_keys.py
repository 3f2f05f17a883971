"""Keys encrypted under a PIN, key ids, and the Signer round trip."""

import base64
import hashlib
import os
import shutil
import subprocess

import pytest
import signing.keys as keys_module
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from signing import (
    BadSignatureError,
    InMemorySigner,
    KeyFormatError,
    PinError,
    Signer,
    WrongPinError,
    decrypt_private_key,
    encrypt_private_key,
    generate_key,
    key_id,
    load_public_key,
    public_key_pem,
    unwrap_private_key,
    verify_signature,
    wrap_private_key,
)

PIN = "4826-سیمرغ"


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return generate_key()


@pytest.fixture(scope="module")
def encrypted(key: ec.EllipticCurvePrivateKey) -> bytes:
    return encrypt_private_key(key, PIN)


def test_generate_key_is_p256(key: ec.EllipticCurvePrivateKey) -> None:
    assert isinstance(key.curve, ec.SECP256R1)


def test_encryption_round_trip(key: ec.EllipticCurvePrivateKey, encrypted: bytes) -> None:
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    restored = decrypt_private_key(encrypted, PIN)
    assert restored.private_numbers() == key.private_numbers()


def test_encryption_uses_pbes2_scrypt_aes256(encrypted: bytes) -> None:
    info = base64.b64decode(b"".join(encrypted.splitlines()[1:-1]))
    assert bytes.fromhex("06092a864886f70d01050d") in info  # PBES2
    assert bytes.fromhex("06092b06010401da47040b") in info  # scrypt
    assert bytes.fromhex("060960864801650304012a") in info  # AES-256-CBC
    assert bytes.fromhex("02024000") in info  # N = 16384


def test_salt_and_iv_are_fresh(key: ec.EllipticCurvePrivateKey, encrypted: bytes) -> None:
    assert encrypt_private_key(key, PIN) != encrypted


@pytest.mark.parametrize("pin", ["4826-سیمرغ ", "4827-سیمرغ", "x"])
def test_wrong_pin(encrypted: bytes, pin: str) -> None:
    with pytest.raises(WrongPinError) as info:
        decrypt_private_key(encrypted, pin)
    assert info.value.code == "wrong_pin"


def test_a_wrong_pin_whose_noise_unpads_is_still_a_wrong_pin(monkeypatch) -> None:
    """What a wrong PIN decrypts is noise; once in about 256 PINs it ends in valid padding and then
    fails as DER (the API's 500 of old, found by schemathesis): an envelope whose content is such
    noise under the right PIN stands for it."""

    class Noise:
        def private_bytes(self, *args: object) -> bytes:
            return bytes(range(7, 107))  # not DER

    monkeypatch.setattr(keys_module, "_p256", lambda key, kind: key)
    pem = encrypt_private_key(Noise(), "1234")  # type: ignore[arg-type]
    with pytest.raises(WrongPinError):
        decrypt_private_key(pem, "1234")


def test_persian_and_arabic_digits_are_the_same_pin(key: ec.EllipticCurvePrivateKey) -> None:
    pem = encrypt_private_key(key, "۱۲۳۴۵۶")
    assert decrypt_private_key(pem, "123456").private_numbers() == key.private_numbers()
    assert decrypt_private_key(pem, "١٢٣٤٥٦").private_numbers() == key.private_numbers()


def test_empty_pin_is_refused(key: ec.EllipticCurvePrivateKey, encrypted: bytes) -> None:
    with pytest.raises(PinError):
        encrypt_private_key(key, "")
    with pytest.raises(PinError):
        decrypt_private_key(encrypted, "")


def test_unencrypted_or_corrupt_pem_is_refused(key: ec.EllipticCurvePrivateKey, encrypted: bytes) -> None:
    plain = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(KeyFormatError):
        decrypt_private_key(plain, PIN)
    corrupt = encrypted.replace(encrypted.splitlines()[2], b"A" * 64)
    with pytest.raises((KeyFormatError, WrongPinError)):
        decrypt_private_key(corrupt, PIN)
    with pytest.raises(KeyFormatError):
        decrypt_private_key(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", PIN)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_reads_the_encrypted_key(key: ec.EllipticCurvePrivateKey, encrypted: bytes, tmp_path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(encrypt_private_key(key, "123456"))
    result = subprocess.run(
        ["openssl", "pkey", "-in", str(path), "-passin", "pass:123456", "-pubout"],
        capture_output=True, check=True,
    )
    assert result.stdout.decode() == public_key_pem(key)


def test_key_id_is_sha256_of_spki_der(key: ec.EllipticCurvePrivateKey, encrypted: bytes) -> None:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = hashlib.sha256(der).hexdigest()
    assert key_id(key.public_key()) == expected
    assert key_id(load_public_key(public_key_pem(key))) == expected
    assert key_id(decrypt_private_key(encrypted, PIN).public_key()) == expected
    assert key_id(generate_key().public_key()) != expected


def test_public_key_pem_round_trip(key: ec.EllipticCurvePrivateKey) -> None:
    pem = public_key_pem(key)
    assert pem == public_key_pem(key.public_key())
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert load_public_key(pem) == key.public_key()
    assert load_public_key(pem.encode()) == key.public_key()


def test_other_key_types_are_refused() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    edwards = ed25519.Ed25519PrivateKey.generate()
    for bad in (p384, edwards):
        with pytest.raises(KeyFormatError):
            public_key_pem(bad)  # type: ignore[arg-type]
        with pytest.raises(KeyFormatError):
            encrypt_private_key(bad, PIN)  # type: ignore[arg-type]
        with pytest.raises(KeyFormatError):
            InMemorySigner(bad)  # type: ignore[arg-type]
        pem = bad.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        with pytest.raises(KeyFormatError):
            load_public_key(pem)
    with pytest.raises(KeyFormatError):
        load_public_key("not a key")


def test_sign_verify_round_trip(key: ec.EllipticCurvePrivateKey) -> None:
    signer = InMemorySigner(key)
    assert signer.key_id == key_id(key.public_key())
    assert signer.public_key_pem == public_key_pem(key)
    message = "مسجد\u200cها".encode()
    signature = signer.sign(message)
    assert signature[0] == 0x30  # DER SEQUENCE
    verify_signature(signer.public_key_pem, message, signature)


def test_verify_fails_closed(key: ec.EllipticCurvePrivateKey) -> None:
    signer = InMemorySigner(key)
    other = InMemorySigner(generate_key())
    signature = signer.sign(b"message")
    flipped = signature[:-1] + bytes([signature[-1] ^ 1])
    cases = [
        (signer.public_key_pem, b"messagE", signature),
        (other.public_key_pem, b"message", signature),
        (signer.public_key_pem, b"message", flipped),
        (signer.public_key_pem, b"message", b""),
        (signer.public_key_pem, b"message", b"\x30\x00"),
    ]
    for pem, message, sig in cases:
        with pytest.raises(BadSignatureError):
            verify_signature(pem, message, sig)


def test_signer_is_abstract() -> None:
    with pytest.raises(TypeError):
        Signer()  # type: ignore[abstract]


def test_a_wrapped_key_opens_only_with_its_secret_and_context(key: ec.EllipticCurvePrivateKey) -> None:
    secret = os.urandom(32)
    blob = wrap_private_key(key, secret, b"session:1")
    opened = unwrap_private_key(blob, secret, b"session:1")
    assert key_id(opened.public_key()) == key_id(key.public_key())
    assert wrap_private_key(key, secret, b"session:1") != blob  # a fresh nonce each time
    flipped = bytes([blob[20] ^ 1])
    for args in [(blob, os.urandom(32), b"session:1"), (blob, secret, b"session:2"),
                 (blob[:20] + flipped + blob[21:], secret, b"session:1"), (blob[:27], secret, b"session:1"),
                 (blob, secret[:31], b"session:1")]:
        with pytest.raises(WrongPinError):
            unwrap_private_key(*args)
    with pytest.raises(KeyFormatError):
        wrap_private_key(key, b"short", b"session:1")


def test_a_lower_work_factor_is_written_into_the_key_and_read_back_without_being_asked(
        key: ec.EllipticCurvePrivateKey, encrypted: bytes) -> None:
    cheap = encrypt_private_key(key, PIN, work_factor=1)  # a throwaway database's keys only
    assert decrypt_private_key(cheap, PIN).private_numbers() == key.private_numbers()
    with pytest.raises(WrongPinError):
        decrypt_private_key(cheap, "0000")
    assert (2**14).to_bytes(2, "big") in base64.b64decode(b"".join(encrypted.splitlines()[1:-1]))
    for bad in (0, 21, 14.0, True):
        with pytest.raises(ValueError):
            encrypt_private_key(key, PIN, work_factor=bad)  # type: ignore[arg-type]
