"""Evidence bundles: one case's signed records with all it takes to verify them offline.

A bundle is plain JSON (write it with canonical_bytes): the records as stored, the
signers' certificates with their chains up to (not including) the HQ root, every CA's
CRL, each record's log index and inclusion proof, one log checkpoint that covers them all
(a C2SP signed note, with any witness cosignatures), and the case head: a statement signed
by the log key that the case's last record, as of sealing, is this sequence number and hash
in that checkpoint. verify_bundle needs nothing but the bundle and the root (and a witness
policy, when witnesses are required); with the head, a bundle with records dropped, added
or reordered fails.
"""

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec

from .canonical import canonical_bytes, sha256_hex
from .errors import (
    BadSignatureError,
    BundleError,
    CertificateError,
    CertificatePathError,
    CheckpointError,
    InclusionProofError,
    KeyFormatError,
    MerkleError,
    NoteError,
    RecordError,
)
from .keys import key_id, public_key_pem
from .merkle import record_leaf_hash, verify_inclusion
from .note import (
    CheckpointBody,
    WitnessPolicy,
    ecdsa_key_id,
    parse_checkpoint_text,
    split_note,
    verify_checkpoint_note,
    verify_cosignatures,
)
from .pki import (
    RECORD_PURPOSES,
    Purpose,
    certificate_pem,
    certificate_user_id,
    crl_pem,
    load_certificate,
    load_crl,
    verify_chain_at,
)
from .records import StoredRecord, parse_time, verify_chain
from .signer import Signer, verify_signature
from .timestamps import verify_timestamp

__all__ = [
    "BUNDLE_FORMAT",
    "CASE_HEAD_DOMAIN",
    "BundleProblem",
    "BundleRecord",
    "BundleReport",
    "CaseHead",
    "CertifiedKey",
    "SignedCaseHead",
    "build_bundle",
    "load_bundle",
    "sign_case_head",
    "verify_bundle",
    "verify_case_head",
]

#: Value of the bundle's "format" member.
BUNDLE_FORMAT = "mosque-centers:evidence-bundle:v2"
#: Prefix of every signed case-head statement, so the log key's signature means nothing elsewhere.
CASE_HEAD_DOMAIN = b"mosque-centers:case-head:v1\n"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TOP_KEYS = frozenset({"format", "case_id", "records", "signers", "log_signer", "crls", "checkpoint", "case_head",
                       "checkpoint_timestamp"})
_HEAD_KEYS = frozenset({"case_id", "seq", "head", "log_index", "tree_size", "root", "time"})
_RECORD_KEYS = frozenset(
    {"seq", "canonical", "signature", "key_id", "form_data", "log_index", "inclusion_proof"}
)
_CERT_KEYS = frozenset({"certificate", "chain"})


@dataclass(frozen=True)
class CertifiedKey:
    """An end-entity certificate with its issuers, from its own up to (not including) the root."""

    #: The end-entity certificate.
    certificate: x509.Certificate
    #: Issuer first, the CA just below the root last.
    chain: tuple[x509.Certificate, ...]


@dataclass(frozen=True)
class CaseHead:
    """What the log key states when a case is sealed: its last record and a checkpoint covering it."""

    #: The case's public id.
    case_id: str
    #: Sequence number of the case's last record (= how many records it has).
    seq: int
    #: Hash of that record (lowercase hex).
    head: str
    #: Its log index.
    log_index: int
    #: Size of the checkpoint that covers it.
    tree_size: int
    #: That checkpoint's root (lowercase hex).
    root: str
    #: When the statement was made (record time format).
    time: str

    def __post_init__(self) -> None:
        for name in ("seq", "log_index", "tree_size"):
            if type(getattr(self, name)) is not int or getattr(self, name) < 0:
                raise BundleError(f"case head: {name} must be a non-negative integer")
        if self.seq < 1 or self.log_index >= self.tree_size:
            raise BundleError("case head: a head is a record of the case inside the checkpoint")
        for name in ("head", "root"):
            if type(getattr(self, name)) is not str or _HEX64.fullmatch(getattr(self, name)) is None:
                raise BundleError(f"case head: {name} must be 64 lowercase hex digits")
        if type(self.case_id) is not str or not self.case_id:
            raise BundleError("case head: case_id must be a non-empty string")
        try:
            parse_time(self.time)
        except RecordError as exc:
            raise BundleError(f"case head: time: {exc}") from exc

    def as_dict(self) -> dict[str, Any]:
        """The statement's JSON members."""
        return {"case_id": self.case_id, "seq": self.seq, "head": self.head, "log_index": self.log_index,
                "tree_size": self.tree_size, "root": self.root, "time": self.time}

    def message(self) -> bytes:
        """What the log key signs: CASE_HEAD_DOMAIN + the canonical JSON of the statement."""
        return CASE_HEAD_DOMAIN + canonical_bytes(self.as_dict())


@dataclass(frozen=True)
class SignedCaseHead:
    """A case head with the log key's signature."""

    #: The statement.
    head: CaseHead
    #: Base64 of the DER ECDSA-SHA256 signature over head.message().
    signature: str


def sign_case_head(head: CaseHead, signer: Signer) -> SignedCaseHead:
    """Sign a case head with the log key. The caller states only a head it has verified."""
    signature = signer.sign(head.message())
    verify_signature(signer.public_key_pem, head.message(), signature)
    return SignedCaseHead(head, base64.b64encode(signature).decode("ascii"))


def verify_case_head(signed: SignedCaseHead, public_key_pem: str) -> None:
    """Verify a case head's signature by the log key; raise BadSignatureError if it fails."""
    try:
        signature = base64.b64decode(signed.signature, validate=True)
    except ValueError as exc:
        raise BadSignatureError("the case head's signature is not base64") from exc
    verify_signature(public_key_pem, signed.head.message(), signature)


@dataclass(frozen=True)
class BundleRecord:
    """A stored record with its position in the global log."""

    #: The record row, as verify_chain takes it.
    record: StoredRecord
    #: Index of the record's leaf (record_leaf_hash(record.hash)) in the log.
    log_index: int


@dataclass(frozen=True)
class BundleProblem:
    """One reason a bundle does not verify."""

    #: 1-based position of the record concerned, or None for the bundle or its checkpoint.
    seq: int | None
    #: Machine code, e.g. "cert_revoked" or "checkpoint_bad_signature".
    code: str
    #: English detail for logs.
    detail: str


@dataclass(frozen=True)
class BundleReport:
    """The outcome of verify_bundle."""

    #: True only when no problem was found.
    ok: bool
    #: The case the bundle claims to be about.
    case_id: str | None
    #: Hash of the last record when ok, else None: compare it with the case head you trust.
    head: str | None
    #: Number of records in the bundle.
    count: int
    #: Size of the log tree the checkpoint signs, when it could be read.
    tree_size: int | None
    #: Time of the signed case head (when the bundle was sealed, UTC), when it could be read.
    checkpoint_time: datetime | None
    #: Every problem found.
    problems: tuple[BundleProblem, ...]
    #: Names of the policy's witnesses whose cosignatures on the checkpoint verify.
    cosigned_by: tuple[str, ...] = ()
    #: How many witnesses the policy required (None: no policy was given).
    quorum: int | None = None
    #: When HQ's TSA time-stamped the checkpoint (UTC): every record existed by then (None: no
    #: valid time-stamp).
    checkpoint_timestamp_time: datetime | None = None


def build_bundle(
    case_id: str,
    records: Sequence[BundleRecord],
    signers: Sequence[CertifiedKey],
    crls: Sequence[x509.CertificateRevocationList],
    checkpoint: str,
    log_signer: CertifiedKey,
    proofs: Sequence[Sequence[bytes]],
    case_head: SignedCaseHead,
    checkpoint_timestamp: bytes | None = None,
) -> dict[str, Any]:
    """Assemble a case's evidence bundle as a JSON-ready dict; raise BundleError on inconsistent data.

    `records` are all the case's records in seq order; `checkpoint` a checkpoint note (signed
    by the log key, with any cosignatures); `proofs` the inclusion proof of each record in the
    tree the checkpoint signs; `case_head` the log key's statement of the last record in that
    checkpoint; `checkpoint_timestamp` an RFC 3161 token over the checkpoint's note text (the
    records existed by its time, which no log key states). Each proof and the head are checked
    before the bundle is returned.
    """
    if not records:
        raise BundleError("a bundle needs at least one record")
    try:
        body = parse_checkpoint_text(split_note(checkpoint)[0])
    except NoteError as exc:
        raise BundleError(f"the checkpoint is not a checkpoint note: {exc}") from exc
    tree_size = body.tree_size
    if len(proofs) != len(records):
        raise BundleError(f"{len(records)} records need as many inclusion proofs, {len(proofs)} given")
    head, last = case_head.head, records[-1]
    if (head.case_id, head.seq, head.head, head.log_index, head.tree_size, head.root) != (
            case_id, last.record.seq, last.record.hash, last.log_index, tree_size, body.root.hex()):
        raise BundleError("the case head is not the last record in the checkpoint")
    try:
        checkpoint_root = body.root
        for entry, proof in zip(records, proofs):
            verify_inclusion(
                record_leaf_hash(entry.record.hash), entry.log_index, tree_size, proof, checkpoint_root
            )
    except MerkleError as exc:
        raise BundleError(f"the records are not in the checkpoint's tree: {exc}") from exc
    return {
        "format": BUNDLE_FORMAT,
        "case_id": case_id,
        "records": [
            {
                "seq": entry.record.seq,
                "canonical": entry.record.canonical,
                "signature": entry.record.signature,
                "key_id": entry.record.key_id,
                "form_data": entry.record.form_data,
                "log_index": entry.log_index,
                "inclusion_proof": [node.hex() for node in proof],
            }
            for entry, proof in zip(records, proofs)
        ],
        "signers": [_certified_json(signer) for signer in signers],
        "log_signer": _certified_json(log_signer),
        "crls": [crl_pem(crl) for crl in crls],
        "checkpoint": checkpoint,
        "case_head": {**case_head.head.as_dict(), "signature": case_head.signature},
        "checkpoint_timestamp": base64.b64encode(checkpoint_timestamp).decode("ascii")
        if checkpoint_timestamp is not None else None,
    }


def load_bundle(data: bytes) -> dict[str, Any]:
    """Parse bundle JSON strictly (UTF-8, no duplicate keys, no floats); raise BundleError."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(items)
        if len(result) != len(items):
            raise ValueError("duplicate object key")
        return result

    def refuse(token: str) -> Any:
        raise ValueError(f"number not allowed: {token}")

    try:
        bundle = json.loads(
            data.decode("utf-8"), object_pairs_hook=pairs, parse_float=refuse, parse_constant=refuse
        )
    except (UnicodeError, ValueError, RecursionError) as exc:
        raise BundleError(f"not bundle JSON: {exc}") from exc
    if type(bundle) is not dict:
        raise BundleError("a bundle is a JSON object")
    return bundle


def verify_bundle(
    bundle: dict[str, Any],
    root_pem: str,
    *,
    crls: Sequence[x509.CertificateRevocationList] = (),
    witnesses: WitnessPolicy | None = None,
) -> BundleReport:
    """Verify a bundle with nothing but the HQ root; every failure is a BundleProblem.

    Checks the log certificate, the checkpoint note's and the case head's signatures by it,
    that the records are exactly the case's up to that head (none dropped, added or
    reordered), each record's certificate chain at the record's time (hard-fail revocation),
    signature, key ownership and case chain, and each record's inclusion in the checkpoint's
    tree. With `witnesses`, at least quorum of its witnesses must have cosigned the
    checkpoint. `crls` adds CRLs newer than the bundle's. Raises CertificateError only when
    `root_pem` itself is not a certificate.
    """
    root = load_certificate(root_pem)
    try:
        parsed = _Parsed(bundle, crls)
    except _Malformed as exc:
        quorum = witnesses.quorum if witnesses else None
        return _report(None, [], None, None, [BundleProblem(None, "bundle_malformed", str(exc))], quorum=quorum)
    problems = _checkpoint_problems(parsed, root)
    stamped, stamp_problems = _timestamp_problems(parsed, root)
    problems.extend(stamp_problems)
    problems.extend(_head_problems(parsed))
    cosigned_by, witness_problems = _witness_problems(parsed, witnesses)
    problems.extend(witness_problems)
    problems.extend(_record_problems(parsed, root))
    chain = verify_chain(
        parsed.case_id, parsed.stored, parsed.public_keys, key_owners=parsed.key_owners
    )
    problems.extend(BundleProblem(item.seq, item.code, item.detail) for item in chain.problems)
    problems.sort(key=lambda item: (item.seq or 0, item.code))
    head = chain.head if not problems else None
    return _report(parsed.case_id, parsed.stored, head, parsed, problems, cosigned_by,
                   witnesses.quorum if witnesses else None, stamped)


class _Malformed(Exception):
    """The bundle does not have the shape of a bundle."""


class _Parsed:
    """A bundle's members, type-checked and loaded; raises _Malformed."""

    def __init__(self, bundle: object, extra_crls: Sequence[x509.CertificateRevocationList]) -> None:
        if type(bundle) is dict and bundle.get("format") != BUNDLE_FORMAT:
            raise _Malformed(f"format is not {BUNDLE_FORMAT} (a v1 bundle commits to no case head)")
        top = _object(bundle, _TOP_KEYS, "bundle")
        self.case_id = _string(top["case_id"], "case_id")
        entries = _list(top["records"], "records")
        if not entries:
            raise _Malformed("a bundle holds at least one record")
        self.entries = [_object(entry, _RECORD_KEYS, "record") for entry in entries]
        self.stored = [_stored(entry) for entry in self.entries]
        self.proofs = [_proof(entry["inclusion_proof"]) for entry in self.entries]
        self.log_indexes = [_index(entry["log_index"]) for entry in self.entries]
        self.signers = [_certified(item) for item in _list(top["signers"], "signers")]
        self.log_signer = _certified(top["log_signer"])
        try:
            self.crls = [load_crl(_string(item, "crl")) for item in _list(top["crls"], "crls")]
            self.crls.extend(extra_crls)
            self.note = _string(top["checkpoint"], "checkpoint")
            self.checkpoint: CheckpointBody = parse_checkpoint_text(split_note(self.note)[0])
            head = dict(_object(top["case_head"], _HEAD_KEYS | {"signature"}, "case_head"))
            signature = _string(head.pop("signature"), "case_head signature")
            self.case_head = SignedCaseHead(CaseHead(**head), signature)
            token = top["checkpoint_timestamp"]
            self.checkpoint_timestamp = None if token is None else base64.b64decode(
                _string(token, "checkpoint_timestamp"), validate=True)
        except (CertificateError, CheckpointError, BundleError, TypeError, ValueError) as exc:
            raise _Malformed(str(exc)) from exc
        self.public_keys: dict[str, str] = {}
        self.key_owners: dict[str, int] = {}
        self.certified: dict[str, list[CertifiedKey]] = {}
        for signer in self.signers:
            kid, owner = _identity(signer.certificate)
            if self.key_owners.setdefault(kid, owner) != owner:
                raise _Malformed(f"key {kid} is certified for two different users")
            self.public_keys[kid] = public_key_pem(_p256(signer.certificate))
            self.certified.setdefault(kid, []).append(signer)


def _checkpoint_problems(parsed: _Parsed, root: x509.Certificate) -> list[BundleProblem]:
    """The log certificate was fit to sign logs when the head was stated, and it signed both
    the checkpoint note and the case head."""
    at = parse_time(parsed.case_head.head.time)
    log_cert = parsed.log_signer.certificate
    try:
        verify_chain_at(
            log_cert, parsed.log_signer.chain, root, parsed.crls, at, purposes={Purpose.LOG}
        )
        log_key = public_key_pem(_p256(log_cert))
    except CertificatePathError as exc:
        return [BundleProblem(None, f"checkpoint_{exc.code}", f"log certificate: {exc}")]
    except KeyFormatError as exc:
        return [BundleProblem(None, "checkpoint_bad_signature", str(exc))]
    problems = []
    kid = ecdsa_key_id(log_key)
    if not any(s.name == parsed.checkpoint.origin and s.key_id == kid for s in split_note(parsed.note)[1]):
        problems.append(BundleProblem(None, "checkpoint_unsigned", "the checkpoint carries no signature of the log key"))
    else:
        try:
            verify_checkpoint_note(parsed.note, log_key)
        except NoteError as exc:
            problems.append(BundleProblem(None, "checkpoint_bad_signature", str(exc)))
    try:
        verify_case_head(parsed.case_head, log_key)
    except BadSignatureError as exc:
        problems.append(BundleProblem(None, "head_bad_signature", f"case head: {exc}"))
    return problems


def _timestamp_problems(parsed: _Parsed, root: x509.Certificate) -> tuple[datetime | None, list[BundleProblem]]:
    """The checkpoint's time-stamp, if the bundle carries one: by a TSA under the root, over the
    checkpoint's note text, and no record claims a time after it."""
    if parsed.checkpoint_timestamp is None:
        return None, []
    pool = [cert for item in (*parsed.signers, parsed.log_signer) for cert in item.chain]
    try:
        stamped = verify_timestamp(parsed.checkpoint_timestamp, split_note(parsed.note)[0].encode("utf-8"), root,
                                   parsed.crls, certificates=pool)
    except Exception as exc:  # fail closed: any token that does not prove its time is invalid
        return None, [BundleProblem(None, "checkpoint_timestamp_invalid", f"checkpoint time-stamp: {exc}")]
    late = [BundleProblem(seq, "record_after_checkpoint", "the record claims a time after the checkpoint's time-stamp")
            for seq, row in enumerate(parsed.stored, start=1)
            if (body := _body(row.canonical)) is not None and body["time"] > stamped]
    return stamped, late


def _head_problems(parsed: _Parsed) -> list[BundleProblem]:
    """The records are exactly the case's, up to the signed head, in that checkpoint."""
    head = parsed.case_head.head
    problems = []
    if head.case_id != parsed.case_id:
        problems.append(BundleProblem(None, "head_mismatch", "the signed head is of another case"))
    if (head.tree_size, head.root) != (parsed.checkpoint.tree_size, parsed.checkpoint.root.hex()):
        problems.append(BundleProblem(None, "head_mismatch", "the signed head names another checkpoint"))
    last, count = parsed.stored[-1], len(parsed.stored)
    if head.seq != count or last.seq != head.seq:
        problems.append(BundleProblem(None, "head_mismatch", (
            f"the case had {head.seq} records when sealed; the bundle holds {count}, the last numbered {last.seq}")))
    elif last.hash != head.head or parsed.log_indexes[-1] != head.log_index:
        problems.append(BundleProblem(None, "head_mismatch", "the last record is not the signed head"))
    return problems


def _witness_problems(parsed: _Parsed, policy: WitnessPolicy | None) -> tuple[tuple[str, ...], list[BundleProblem]]:
    """Which of the policy's witnesses cosigned the checkpoint, and whether they make a quorum."""
    if policy is None:
        return (), []
    valid, bad = verify_cosignatures(parsed.note, policy.witnesses)
    names = tuple(sorted(cosignature.witness for cosignature in valid))
    problems = [BundleProblem(None, "cosignature_invalid", reason) for reason in bad]
    if len(names) < policy.quorum:
        problems.append(BundleProblem(None, "witness_quorum", (
            f"{len(names)} of the policy's {len(policy.witnesses)} witnesses cosigned the checkpoint; "
            f"{policy.quorum} are required")))
    return names, problems


def _record_problems(parsed: _Parsed, root: x509.Certificate) -> list[BundleProblem]:
    problems = []
    tree_size = parsed.checkpoint.tree_size
    tree_root = parsed.checkpoint.root
    checkpoint_time = parse_time(parsed.case_head.head.time)
    previous_index = -1
    for seq, (row, proof, index) in enumerate(
        zip(parsed.stored, parsed.proofs, parsed.log_indexes), start=1
    ):
        try:
            verify_inclusion(record_leaf_hash(row.hash), index, tree_size, proof, tree_root)
        except InclusionProofError as exc:
            problems.append(BundleProblem(seq, "not_in_log", str(exc)))
        if index <= previous_index:
            problems.append(BundleProblem(seq, "log_order", "log index does not follow the previous record's"))
        previous_index = index
        body = _body(row.canonical)
        if body is None:
            continue  # verify_chain reports why
        if body["time"] > checkpoint_time:
            problems.append(BundleProblem(seq, "record_after_checkpoint", "record is newer than the case head"))
        problem = _signer_problem(parsed, root, body)
        if problem:
            problems.append(BundleProblem(seq, *problem))
    return problems


def _signer_problem(parsed: _Parsed, root: x509.Certificate, body: dict[str, Any]) -> tuple[str, str] | None:
    """The first reason no certificate of the record's key was fit to sign it at its time."""
    candidates = parsed.certified.get(body["key_id"], [])
    if not candidates or parsed.key_owners[body["key_id"]] != body["actor"]["user_id"]:
        return None  # verify_chain reports unknown_key or key_mismatch
    first: CertificatePathError | None = None
    for signer in candidates:
        try:
            verify_chain_at(
                signer.certificate, signer.chain, root, parsed.crls, body["time"], purposes=RECORD_PURPOSES
            )
            return None
        except CertificatePathError as exc:
            first = first or exc
    assert first is not None
    return first.code, str(first)


def _body(canonical: str) -> dict[str, Any] | None:
    """The body fields the certificate checks need, or None when the text is malformed."""
    try:
        body = json.loads(canonical)
        return {
            "key_id": _string(body["key_id"], "key_id"),
            "actor": {"user_id": body["actor"]["user_id"]},
            "time": parse_time(body["time"]),
        }
    except (ValueError, KeyError, TypeError, RecursionError, _Malformed, RecordError):
        return None


def _report(
    case_id: str | None,
    stored: Sequence[StoredRecord],
    head: str | None,
    parsed: "_Parsed | None",
    problems: list[BundleProblem],
    cosigned_by: tuple[str, ...] = (),
    quorum: int | None = None,
    stamped: datetime | None = None,
) -> BundleReport:
    return BundleReport(
        ok=not problems,
        case_id=case_id,
        head=head,
        count=len(stored),
        tree_size=parsed.checkpoint.tree_size if parsed else None,
        checkpoint_time=parse_time(parsed.case_head.head.time) if parsed else None,
        problems=tuple(problems),
        cosigned_by=cosigned_by,
        quorum=quorum,
        checkpoint_timestamp_time=stamped,
    )


def _stored(entry: Mapping[str, Any]) -> StoredRecord:
    """A StoredRecord whose derived columns come from the text itself, so only the text counts."""
    canonical = _string(entry["canonical"], "canonical")
    form_data = entry["form_data"]
    if form_data is not None:
        form_data = _string(form_data, "form_data")
    try:
        body = json.loads(canonical)
        action, user_id, case_id = body["action"], body["actor"]["user_id"], body["case_id"]
    except (ValueError, KeyError, TypeError, RecursionError):
        action, user_id, case_id = "", -1, ""  # verify_chain reports the text as malformed
    seq = entry["seq"]
    if type(seq) is not int:
        raise _Malformed("seq must be an integer")
    return StoredRecord(
        seq=seq,
        canonical=canonical,
        hash=sha256_hex(canonical.encode("utf-8", "surrogatepass")),
        signature=_string(entry["signature"], "signature"),
        key_id=_string(entry["key_id"], "key_id"),
        form_data=form_data,
        action=action,
        actor_user_id=user_id,
        case_id=case_id,
    )


def _p256(cert: x509.Certificate) -> ec.EllipticCurvePublicKey:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:  # a damaged or unknown key in a parsed certificate
        raise KeyFormatError(f"the certificate's key cannot be loaded: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise KeyFormatError("the certificate does not hold an ECDSA key")
    return key


def _identity(cert: x509.Certificate) -> tuple[str, int]:
    try:
        kid = key_id(_p256(cert))
        owner = certificate_user_id(cert)
    except (KeyFormatError, CertificateError) as exc:
        raise _Malformed(f"signer certificate: {exc}") from exc
    if owner is None:
        raise _Malformed("a signer certificate names no user id")
    return kid, owner


def _certified_json(certified: CertifiedKey) -> dict[str, Any]:
    return {
        "certificate": certificate_pem(certified.certificate),
        "chain": [certificate_pem(item) for item in certified.chain],
    }


def _certified(value: object) -> CertifiedKey:
    item = _object(value, _CERT_KEYS, "certificate entry")
    try:
        return CertifiedKey(
            load_certificate(_string(item["certificate"], "certificate")),
            tuple(load_certificate(_string(pem, "chain")) for pem in _list(item["chain"], "chain")),
        )
    except CertificateError as exc:
        raise _Malformed(str(exc)) from exc


def _object(value: object, keys: frozenset[str] | None, name: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise _Malformed(f"{name} must be a JSON object")
    if keys is not None and set(value) != keys:
        raise _Malformed(f"{name} must have exactly the members {sorted(keys)}")
    return value


def _list(value: object, name: str) -> list[Any]:
    if type(value) is not list:
        raise _Malformed(f"{name} must be a JSON array")
    return value


def _string(value: object, name: str) -> str:
    if type(value) is not str:
        raise _Malformed(f"{name} must be a string")
    return value


def _index(value: object) -> int:
    if type(value) is not int or value < 0:
        raise _Malformed("log_index must be a non-negative integer")
    return value


def _proof(value: object) -> list[bytes]:
    nodes = _list(value, "inclusion_proof")
    if not all(type(node) is str and _HEX64.fullmatch(node) for node in nodes):
        raise _Malformed("inclusion proof nodes must be 64 lowercase hex digits")
    return [bytes.fromhex(node) for node in nodes]
