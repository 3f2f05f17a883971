"""C2SP signed notes: log checkpoints (c2sp.org/tlog-checkpoint) and witness cosignatures
(c2sp.org/tlog-cosignature), with the verifier keys ("vkeys") and the k-of-n witness policy
that clients check them against.

A checkpoint note is three lines, origin, tree size and base64 root, then a blank line and
signature lines "— <key name> base64(key ID || signature)". The log signs with its ECDSA
P-256 key as signed-note signature type 0x02 (the ECDSA type of transparency-dev/witness:
key ID = SHA-256(DER SubjectPublicKeyInfo)[:4], ASN.1 DER ECDSA-SHA256 over the note text).
That keeps the one HQ log key, certified under the root for the LOG purpose, for both the
JSON checkpoints of old and these notes, so an offline verifier trusts a note exactly as it
trusted a checkpoint: by the log certificate's path to the root. Witnesses sign with Ed25519
as cosignature/v1 (type 0x04), the only cosignature type the specification defines for
classic keys.
"""

import base64
import hashlib
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from .errors import BadSignatureError, KeyFormatError, NoteError, WitnessPolicyError
from .keys import load_public_key
from .signer import Signer, verify_signature

__all__ = [
    "COSIGNATURE_TYPE",
    "ECDSA_TYPE",
    "CheckpointBody",
    "Cosignature",
    "NoteSignature",
    "WitnessKey",
    "WitnessPolicy",
    "checkpoint_text",
    "cosign",
    "ecdsa_key_id",
    "encode_vkey",
    "join_note",
    "parse_checkpoint_text",
    "parse_policy",
    "parse_vkey",
    "sign_checkpoint_note",
    "split_note",
    "verify_checkpoint_note",
    "verify_cosignatures",
    "witness_key",
]

#: signed-note signature type of ECDSA signatures (the log's)
ECDSA_TYPE = 0x02
#: signed-note signature type of timestamped Ed25519 cosignatures (the witnesses')
COSIGNATURE_TYPE = 0x04
#: the signed-note specification asks verifiers to accept at least 16; more is refused
MAX_SIGNATURES = 64

_DASH = "\u2014 "
_NAME = re.compile(r"[^\s+]+")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note."""

    #: key name
    name: str
    #: the 4-byte key ID
    key_id: bytes
    #: the signature bytes after the key ID
    signature: bytes

    def line(self) -> str:
        """The line as written in a note, newline included."""
        return f"{_DASH}{self.name} {base64.b64encode(self.key_id + self.signature).decode('ascii')}\n"


@dataclass(frozen=True)
class CheckpointBody:
    """The three lines of a checkpoint."""

    #: the log's identity
    origin: str
    #: number of leaves
    tree_size: int
    #: the 32-byte RFC 6962 root
    root: bytes


@dataclass(frozen=True)
class WitnessKey:
    """A witness's cosigning key, as a client is configured with it."""

    #: the witness's key name, e.g. "witness.esfahan.example/w1"
    name: str
    #: the 32-byte Ed25519 public key
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        """SHA-256(name || 0x0A || 0x04 || key)[:4], per tlog-cosignature."""
        return _key_id(self.name, COSIGNATURE_TYPE, self.public_key)

    def vkey(self) -> str:
        """The key as a signed-note verifier key: <name>+<hex key ID>+<base64(0x04 || key)>."""
        return encode_vkey(self.name, COSIGNATURE_TYPE, self.public_key)


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature."""

    #: the witness that signed
    witness: str
    #: when, as POSIX seconds, by the witness's clock
    timestamp: int


@dataclass(frozen=True)
class WitnessPolicy:
    """Which witnesses a verifier knows and how many of them must have cosigned."""

    #: the known witnesses
    witnesses: tuple[WitnessKey, ...]
    #: how many distinct known witnesses must have cosigned
    quorum: int


def checkpoint_text(origin: str, tree_size: int, root: bytes) -> str:
    """The note text of a checkpoint (no extension lines)."""
    if not _NAME.fullmatch(origin or ""):
        raise NoteError("the origin must be non-empty, without spaces or '+'")
    if type(tree_size) is not int or tree_size < 0:
        raise NoteError("the tree size must be a non-negative integer")
    if type(root) is not bytes or len(root) != 32:
        raise NoteError("the root must be 32 bytes")
    return f"{origin}\n{tree_size}\n{base64.b64encode(root).decode('ascii')}\n"


def parse_checkpoint_text(text: str) -> CheckpointBody:
    """Read a checkpoint's note text; raise NoteError if it is not one."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise NoteError("a checkpoint is at least three non-empty lines, each ending in a newline")
    origin, size, root = lines[0], lines[1], lines[2]
    if _DECIMAL.fullmatch(size) is None:
        raise NoteError("the tree size is not a decimal without leading zeroes")
    try:
        root_bytes = base64.b64decode(root, validate=True)
    except ValueError as exc:
        raise NoteError(f"the root is not base64: {exc}") from exc
    if len(root_bytes) != 32 or base64.b64encode(root_bytes).decode("ascii") != root:
        raise NoteError("the root is not the base64 of 32 bytes")
    return CheckpointBody(origin, int(size), root_bytes)


def split_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and its signature lines; raise NoteError if malformed."""
    if not isinstance(note, str) or any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("a note is text without control characters other than newline")
    at = note.rfind("\n\n")
    if at < 0 or not note.endswith("\n"):
        raise NoteError("a note is text, a blank line and signature lines")
    text, lines = note[: at + 1], note[at + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a note with more than {MAX_SIGNATURES} signatures is refused")
    signatures = []
    for line in lines:
        if not line.startswith(_DASH):
            raise NoteError("a signature line starts with an em dash and a space")
        name, _, encoded = line[len(_DASH):].partition(" ")
        if not _NAME.fullmatch(name):
            raise NoteError("a key name is non-empty, without spaces or '+'")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise NoteError(f"a signature is not base64: {exc}") from exc
        if len(raw) < 5:
            raise NoteError("a signature is a 4-byte key ID and at least one byte")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return text, signatures


def join_note(text: str, signatures: Sequence[NoteSignature]) -> str:
    """A note of the text and the signature lines, duplicates removed, order kept."""
    seen: list[str] = []
    for signature in signatures:
        line = signature.line()
        if line not in seen:
            seen.append(line)
    return text + "\n" + "".join(seen)


def ecdsa_key_id(public_key_pem: str) -> bytes:
    """Key ID of an ECDSA note key: SHA-256 of its DER SubjectPublicKeyInfo, first four bytes."""
    der = load_public_key(public_key_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()[:4]


def sign_checkpoint_note(origin: str, tree_size: int, root: bytes, signer: Signer) -> str:
    """A checkpoint note signed by the log key (type 0x02), key name = origin."""
    text = checkpoint_text(origin, tree_size, root)
    signature = signer.sign(text.encode("utf-8"))
    # a faulty or remote signer must not get an unverifiable checkpoint published
    verify_signature(signer.public_key_pem, text.encode("utf-8"), signature)
    return join_note(text, [NoteSignature(origin, ecdsa_key_id(signer.public_key_pem), signature)])


def verify_checkpoint_note(note: str, public_key_pem: str, origin: str | None = None) -> CheckpointBody:
    """Check a checkpoint note's log signature (key name = origin, ECDSA key ID of the key given);
    signatures of other keys are ignored. Return its body; raise NoteError if it does not verify."""
    text, signatures = split_note(note)
    body = parse_checkpoint_text(text)
    if origin is not None and body.origin != origin:
        raise NoteError(f"the checkpoint is of log {body.origin!r}, not {origin!r}")
    try:
        kid = ecdsa_key_id(public_key_pem)
    except KeyFormatError as exc:
        raise NoteError(f"the log key is unusable: {exc}") from exc
    mine = [s for s in signatures if s.name == body.origin and s.key_id == kid]
    if not mine:
        raise NoteError("the checkpoint carries no signature of the log key")
    for signature in mine:
        try:
            verify_signature(public_key_pem, text.encode("utf-8"), signature.signature)
        except BadSignatureError as exc:
            raise NoteError("the log's signature on the checkpoint does not verify") from exc
    return body


def cosign(text: str, name: str, private_key: ed25519.Ed25519PrivateKey, timestamp: int) -> NoteSignature:
    """A cosignature/v1 line on a checkpoint's note text, at POSIX time `timestamp`."""
    public = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if not 0 <= timestamp < 2**63:
        raise NoteError("the cosignature time is out of range")
    signature = private_key.sign(_cosigned_message(text, timestamp))
    return NoteSignature(name, _key_id(name, COSIGNATURE_TYPE, public), struct.pack(">Q", timestamp) + signature)


def verify_cosignatures(note: str, witnesses: Sequence[WitnessKey]) -> tuple[list[Cosignature], list[str]]:
    """The known witnesses' valid cosignatures on a note, one per witness, and a reason for
    each cosignature of a known witness that does not verify. Unknown keys are ignored."""
    text, signatures = split_note(note)
    valid: dict[str, Cosignature] = {}
    bad: list[str] = []
    for witness in witnesses:
        for signature in signatures:
            if signature.name != witness.name or signature.key_id != witness.key_id:
                continue
            if len(signature.signature) != 8 + 64:
                bad.append(f"cosignature of {witness.name} has the wrong length")
                continue
            timestamp = struct.unpack(">Q", signature.signature[:8])[0]
            try:
                ed25519.Ed25519PublicKey.from_public_bytes(witness.public_key).verify(
                    signature.signature[8:], _cosigned_message(text, timestamp))
            except (InvalidSignature, ValueError):
                bad.append(f"cosignature of {witness.name} does not verify")
                continue
            valid.setdefault(witness.name, Cosignature(witness.name, timestamp))
    return list(valid.values()), bad


def witness_key(name: str, private_key: ed25519.Ed25519PrivateKey) -> WitnessKey:
    """The public WitnessKey of a witness's private key."""
    return WitnessKey(name, private_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                                  serialization.PublicFormat.Raw))


def encode_vkey(name: str, signature_type: int, public_key: bytes) -> str:
    """A signed-note verifier key: <name>+<hex key ID>+<base64(type || key)>."""
    if not _NAME.fullmatch(name or ""):
        raise NoteError("a key name is non-empty, without spaces or '+'")
    material = bytes([signature_type]) + public_key
    return f"{name}+{_key_id(name, signature_type, public_key).hex()}+{base64.b64encode(material).decode('ascii')}"


def parse_vkey(vkey: str) -> WitnessKey:
    """A witness's verifier key (type 0x04, Ed25519); raise NoteError for anything else."""
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3 or not _NAME.fullmatch(parts[0]):
        raise NoteError(f"not a verifier key: {vkey!r}")
    try:
        material = base64.b64decode(parts[2], validate=True)
    except ValueError as exc:
        raise NoteError(f"verifier key material is not base64: {exc}") from exc
    if len(material) != 33 or material[0] != COSIGNATURE_TYPE:
        raise NoteError("a witness verifier key is type 0x04 and a 32-byte Ed25519 key")
    key = WitnessKey(parts[0], material[1:])
    if key.key_id.hex() != parts[1].lower():
        raise NoteError("the verifier key's ID does not match its name and key")
    return key


def parse_policy(text: str) -> WitnessPolicy:
    """A witness policy file: lines "witness <vkey>" and one line "quorum <k>"; '#' starts a
    comment. Raise WitnessPolicyError if it is malformed or asks for more than it lists."""
    witnesses: list[WitnessKey] = []
    quorum = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        word, _, rest = line.partition(" ")
        try:
            if word == "witness":
                witnesses.append(parse_vkey(rest))
            elif word == "quorum" and quorum is None and _DECIMAL.fullmatch(rest.strip()):
                quorum = int(rest)
            else:
                raise WitnessPolicyError(f"line {number}: expected 'witness <vkey>' or one 'quorum <k>'")
        except NoteError as exc:
            raise WitnessPolicyError(f"line {number}: {exc}") from exc
    if len({w.name for w in witnesses}) != len(witnesses):
        raise WitnessPolicyError("a witness is listed twice")
    if quorum is None or not 1 <= quorum <= len(witnesses):
        raise WitnessPolicyError("the policy needs 'quorum <k>' with 1 <= k <= the witnesses listed")
    return WitnessPolicy(tuple(witnesses), quorum)


def _cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode("utf-8")


def _key_id(name: str, signature_type: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([signature_type]) + public_key).digest()[:4]
