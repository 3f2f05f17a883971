"""Signed transition records: one hash-linked chain of signed records per case."""

import base64
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from .canonical import canonical_bytes, is_canonical_text, loads_canonical, sha256_hex
from .errors import (
    CanonicalizationError,
    ChainError,
    KeyFormatError,
    RecordError,
)
from .keys import key_id, load_public_key
from .signer import Signer, verify_signature

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())

__all__ = [
    "BODY_KEYS",
    "DOMAIN",
    "ChainProblem",
    "ChainReport",
    "SignedRecord",
    "StoredRecord",
    "format_time",
    "parse_time",
    "record_hash",
    "require_valid",
    "sign_record",
    "verify_chain",
]

#: Prefix of every signed message, so a record signature means nothing elsewhere.
DOMAIN = b"mosque-centers:transition-record:v1\n"

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})Z")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ACTION = re.compile(r"[a-z][a-z0-9_]*")
_ACTOR_KEYS = frozenset({"user_id", "username", "role", "office"})


def _text(value: object) -> bool:
    return type(value) is str and value != ""


def _optional(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or check(value)


def _hex64(value: object) -> bool:
    return type(value) is str and _HEX64.fullmatch(value) is not None


def _form_digest(value: object) -> bool:
    return type(value) is str and value.startswith("sha256:") and _hex64(value[7:])


def _time(value: object) -> bool:
    return _time_value(value) is not None


def _time_value(value: object) -> datetime | None:
    """The UTC time a record time string names, or None. Accepts exactly what
    datetime.strptime(value, _TIME_FORMAT) accepts for a string of _TIME's shape."""
    if type(value) is not str:
        return None
    match = _TIME.fullmatch(value)
    if match is None:
        return None
    try:
        return datetime(*map(int, match.groups()), tzinfo=timezone.utc)
    except ValueError:
        return None


def _actor(value: object) -> bool:
    return (
        type(value) is dict
        and set(value) == _ACTOR_KEYS
        and type(value["user_id"]) is int
        and _text(value["username"])
        and _text(value["role"])
        and _optional(_text)(value["office"])
    )


def _attachments(value: object) -> bool:
    # A set of content digests: sorted and without duplicates, so equal sets sign equally.
    return (
        type(value) is list
        and all(_hex64(item) for item in value)
        and value == sorted(set(value))
    )


_CHECKS: dict[str, Callable[[object], bool]] = {
    "v": lambda value: type(value) is int and value == 1,
    "case_id": _text,
    "seq": lambda value: type(value) is int and value >= 1,
    "process_key": _text,
    "spec_version": _text,
    "task_id": _optional(_text),
    "task_name": _optional(_text),
    "action": lambda value: type(value) is str and _ACTION.fullmatch(value) is not None,
    "actor": _actor,
    "key_id": _hex64,
    "form_key": _optional(_text),
    "form_digest": _optional(_form_digest),
    "attachments": _attachments,
    "rule_results": _optional(lambda value: type(value) is dict),
    "details": lambda value: type(value) is dict,
    "time": _time,
    "prev_hash": _optional(_hex64),
}

#: The exact key set of a record body.
BODY_KEYS = frozenset(_CHECKS)


@dataclass(frozen=True)
class SignedRecord:
    """A freshly signed record, ready to be stored."""

    #: The body as parsed back from `canonical` (a private copy).
    body: dict[str, Any]
    #: The canonical JSON text of the body; the signature covers DOMAIN + its UTF-8 bytes.
    canonical: str
    #: record_hash(body): what the next record's prev_hash and the Merkle leaf take.
    hash: str
    #: Base64 of the DER ECDSA-SHA256 signature.
    signature: str
    #: Identifier of the signing key (equals body["key_id"]).
    key_id: str


@dataclass(frozen=True)
class StoredRecord:
    """What a database row gives back for one record; nothing in it is trusted."""

    #: Sequence number column.
    seq: int
    #: Canonical JSON text of the body, exactly as signed.
    canonical: str
    #: Stored record hash column.
    hash: str
    #: Base64 DER signature.
    signature: str
    #: Signing key identifier column.
    key_id: str
    #: Canonical JSON text of the submitted form data, or None.
    form_data: str | None
    #: Denormalised action column.
    action: str
    #: Denormalised actor user id column.
    actor_user_id: int
    #: Denormalised case id column.
    case_id: str


@dataclass(frozen=True)
class ChainProblem:
    """One reason a chain is not valid."""

    #: 1-based position in the chain of the offending record.
    seq: int
    #: Machine code, e.g. "bad_signature"; the UI maps it to text.
    code: str
    #: English detail for logs.
    detail: str


@dataclass(frozen=True)
class ChainReport:
    """The outcome of verify_chain."""

    #: True only when no problem was found.
    ok: bool
    #: Hash of the last record of the longest fully valid prefix, or None.
    head: str | None
    #: Number of records in that valid prefix.
    count: int
    #: Every problem found, in chain order.
    problems: tuple[ChainProblem, ...]
    #: Each record's parsed body, in order (None where the text does not parse), for checks that
    #: go beyond the chain without parsing it again.
    bodies: tuple[dict[str, Any] | None, ...] = field(default=(), repr=False, compare=False)


def format_time(moment: datetime) -> str:
    """Format an aware datetime as a record time: ISO-8601 UTC with microseconds and "Z"."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RecordError("record time must be timezone-aware")
    return moment.astimezone(timezone.utc).strftime(_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """Parse a record time written by format_time into an aware UTC datetime; raise RecordError."""
    moment = _time_value(text)
    if moment is None:
        raise RecordError(f"not a record time: {text!r}")
    return moment


def record_hash(body: Mapping[str, Any]) -> str:
    """Return the hex SHA-256 of the canonical bytes of `body` (no domain prefix)."""
    return sha256_hex(canonical_bytes(body))


def sign_record(body: dict[str, Any], signer: Signer) -> SignedRecord:
    """Validate `body` and sign DOMAIN + its canonical bytes with `signer`."""
    data = _canonical_body(body)
    if body["key_id"] != signer.key_id:
        raise RecordError("body key_id is not the signer's key")
    if key_id(load_public_key(signer.public_key_pem)) != signer.key_id:
        raise RecordError("signer key_id does not match its public key")
    signature = signer.sign(DOMAIN + data)
    # A faulty or remote signer must not get an unverifiable record stored.
    verify_signature(signer.public_key_pem, DOMAIN + data, signature)
    return SignedRecord(
        body=json.loads(data),
        canonical=data.decode("utf-8"),
        hash=sha256_hex(data),
        signature=base64.b64encode(signature).decode("ascii"),
        key_id=signer.key_id,
    )


def verify_chain(
    case_id: str,
    records: Sequence[StoredRecord],
    public_keys: Mapping[str, str],
    *,
    key_owners: Mapping[str, int] | None = None,
) -> ChainReport:
    """Verify a case's records, given in seq order, from their stored canonical text.

    `public_keys` maps key_id to public key PEM. `key_owners`, when given, maps
    key_id to the user id the key belongs to, and each record's key must then be
    its actor's. Dropping the newest records cannot be seen from the chain alone:
    compare `head` and `count` with an independently kept head (case row, log).
    """
    problems: list[ChainProblem] = []
    keys = _KeyRing(public_keys, key_owners)
    head: str | None = None
    count = 0
    prev_hash: str | None = None
    bodies = []
    for position, row in enumerate(records, start=1):
        found, body = _check_row(case_id, position, row, prev_hash, keys)
        bodies.append(body)
        problems.extend(ChainProblem(position, code, detail) for code, detail in found)
        prev_hash = sha256_hex(_utf8(row.canonical))
        if not problems:
            head, count = prev_hash, position
    return ChainReport(ok=not problems, head=head, count=count, problems=tuple(problems), bodies=tuple(bodies))


def require_valid(report: ChainReport) -> None:
    """Raise ChainError unless `report` is ok."""
    if not report.ok:
        codes = sorted({problem.code for problem in report.problems})
        raise ChainError(f"record chain is not valid: {', '.join(codes)}", report)


def _canonical_body(body: dict[str, Any]) -> bytes:
    _validate_body(body)
    try:
        return canonical_bytes(body)
    except CanonicalizationError as exc:
        raise RecordError(f"body is not canonical JSON: {exc}") from exc


def _validate_body(body: dict[str, Any]) -> None:
    if not isinstance(body, dict):
        raise RecordError("record body must be a dict")
    missing, extra = BODY_KEYS - set(body), set(body) - BODY_KEYS
    if missing or extra:
        raise RecordError(f"missing keys {sorted(missing)}, unexpected keys {sorted(map(str, extra))}")
    bad = [name for name, check in _CHECKS.items() if not check(body[name])]
    if bad:
        raise RecordError(f"invalid values for {bad}")
    if (body["seq"] == 1) != (body["prev_hash"] is None):
        raise RecordError("prev_hash must be null exactly when seq is 1")


class _KeyRing:
    """Public keys by key_id, each loaded and checked once against its id (and owner)."""

    def __init__(self, public_keys: Mapping[str, str], owners: Mapping[str, int] | None) -> None:
        self._public_keys = public_keys
        self._owners = owners
        self._checked: dict[str, str | None] = {}
        self._loaded: dict[str, ec.EllipticCurvePublicKey] = {}

    def problem(self, kid: str, user_id: int) -> tuple[str, str] | None:
        if kid not in self._public_keys:
            return ("unknown_key", f"no public key for key_id {kid}")
        if kid not in self._checked:
            self._checked[kid] = self._mismatch(kid)
        mismatch = self._checked[kid]
        if mismatch:
            return ("key_mismatch", mismatch)
        if self._owners is not None and not _same(self._owners.get(kid), user_id):
            return ("key_mismatch", f"key {kid} does not belong to actor {user_id}")
        return None

    def key(self, kid: str) -> ec.EllipticCurvePublicKey:
        """The loaded key of a kid that problem() found no fault with."""
        return self._loaded[kid]

    def _mismatch(self, kid: str) -> str | None:
        try:
            loaded, actual = _public_key(self._public_keys[kid])
        except KeyFormatError as exc:
            return f"public key for {kid} is unusable: {exc}"
        if actual != kid:
            return f"public key given for {kid} has key_id {actual}"
        self._loaded[kid] = loaded
        return None


#: loaded public keys and their key ids by PEM text (content-keyed, so never stale); bounded
_PUBLIC_KEYS: dict[object, tuple[ec.EllipticCurvePublicKey, str]] = {}


def _public_key(pem: str) -> tuple[ec.EllipticCurvePublicKey, str]:
    found = _PUBLIC_KEYS.get(pem) if isinstance(pem, (str, bytes)) else None
    if found is None:
        key = load_public_key(pem)
        found = (key, key_id(key))
        if len(_PUBLIC_KEYS) >= 10_000:
            _PUBLIC_KEYS.clear()
        _PUBLIC_KEYS[pem] = found
    return found


def _check_row(
    case_id: str, position: int, row: StoredRecord, prev_hash: str | None, keys: _KeyRing
) -> tuple[list[tuple[str, str]], dict[str, Any] | None]:
    """The row's problems, and its parsed body (None if the text does not parse)."""
    found: list[tuple[str, str]] = []
    if type(row.canonical) is not str:
        return [("malformed", "canonical text is not a string")], None
    data = _utf8(row.canonical)
    if not _same(row.hash, sha256_hex(data)):
        found.append(("hash_mismatch", "stored hash is not the hash of the stored text"))
    canonical, body = loads_canonical(row.canonical)
    if not canonical:
        try:
            body = _load_json(row.canonical)
        except ValueError as exc:
            return [*found, ("malformed", f"canonical text does not parse: {exc}")], None
    try:
        _validate_body(body)
        if not canonical and not is_canonical_text(body, row.canonical, parsed=True):
            found.append(("not_canonical", "stored text is not in canonical form"))
    except RecordError as exc:
        return [*found, ("malformed", str(exc))], body
    except CanonicalizationError as exc:
        return [*found, ("malformed", f"body is not canonical JSON: {exc}")], body

    if body["case_id"] != case_id:
        found.append(("case_mismatch", f"record belongs to case {body['case_id']!r}"))
    if body["seq"] != position or not _same(row.seq, position):
        found.append(("seq_gap", f"position {position}, body seq {body['seq']}, row seq {row.seq!r}"))
    if body["prev_hash"] != prev_hash:
        found.append(("prev_hash_mismatch", f"prev_hash should be {prev_hash}"))
    found.extend(_signature_problems(row, body, data, keys))
    found.extend(_form_problems(row, body))
    for column, expected in (
        ("action", body["action"]),
        ("actor_user_id", body["actor"]["user_id"]),
        ("case_id", body["case_id"]),
    ):
        if not _same(getattr(row, column), expected):
            found.append(("column_mismatch", f"column {column} differs from the signed body"))
    return found, body


def _signature_problems(
    row: StoredRecord, body: dict[str, Any], data: bytes, keys: _KeyRing
) -> list[tuple[str, str]]:
    kid = body["key_id"]
    found = []
    if not _same(row.key_id, kid):
        found.append(("key_mismatch", "key_id column differs from the signed body"))
    problem = keys.problem(kid, body["actor"]["user_id"])
    if problem:
        return [*found, problem]
    try:
        signature = base64.b64decode(row.signature, validate=True)
        keys.key(kid).verify(signature, DOMAIN + data, _ECDSA_SHA256)
    except InvalidSignature:
        found.append(("bad_signature", "signature does not verify: signature does not verify"))
    except (TypeError, ValueError) as exc:
        found.append(("bad_signature", f"signature does not verify: {exc}"))
    return found


def _form_problems(row: StoredRecord, body: dict[str, Any]) -> list[tuple[str, str]]:
    expected = body["form_digest"]
    if (row.form_data is None) != (expected is None):
        return [("form_digest_mismatch", "form data present without form_digest or vice versa")]
    if row.form_data is None:
        return []
    try:
        if type(row.form_data) is not str:
            raise ValueError("form data is not a string")
        canonical, form = loads_canonical(row.form_data)
        if not canonical and not is_canonical_text(_load_json(row.form_data), row.form_data, parsed=True):
            raise ValueError("form data is not in canonical form")
    except (ValueError, CanonicalizationError) as exc:
        return [("form_data_malformed", str(exc))]
    # the text is the form's canonical JSON, so its digest is the text's
    if "sha256:" + sha256_hex(_utf8(row.form_data)) != expected:
        return [("form_digest_mismatch", "form data does not match form_digest")]
    return []


def _load_json(text: str) -> Any:
    """Parse JSON strictly: no duplicate keys, no floats, no NaN or Infinity."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(items)
        if len(result) != len(items):
            raise ValueError("duplicate object key")
        return result

    def refuse(token: str) -> Any:
        raise ValueError(f"number not allowed: {token}")

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_float=refuse, parse_constant=refuse)
    except RecursionError as exc:
        raise ValueError("nesting too deep") from exc


def _utf8(text: str) -> bytes:
    # surrogatepass: a corrupt row must yield a problem report, not a crash.
    return text.encode("utf-8", "surrogatepass") if type(text) is str else b""


def _same(left: object, right: object) -> bool:
    # Type-strict equality: True must not pass for 1 in a stored column.
    return type(left) is type(right) and left == right
