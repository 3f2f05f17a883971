"""Evidence bundles: one case's signed records with all it takes to verify them offline.

A bundle is plain JSON (write it with canonical_bytes): the records as stored, the
signers' certificates with their chains up to (not including) the HQ root, every CA's
CRL, each record's log index and inclusion proof, and one signed log checkpoint that
covers them all. verify_bundle needs nothing but the bundle and the root.
"""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec

from .canonical import sha256_hex
from .errors import (
    BundleError,
    CertificateError,
    CertificatePathError,
    CheckpointError,
    InclusionProofError,
    KeyFormatError,
    MerkleError,
    RecordError,
)
from .keys import key_id, public_key_pem
from .merkle import SignedCheckpoint, record_leaf_hash, verify_checkpoint, verify_inclusion
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

__all__ = [
    "BUNDLE_FORMAT",
    "BundleProblem",
    "BundleRecord",
    "BundleReport",
    "CertifiedKey",
    "build_bundle",
    "load_bundle",
    "verify_bundle",
]

#: Value of the bundle's "format" member.
BUNDLE_FORMAT = "mosque-centers:evidence-bundle:v1"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TOP_KEYS = frozenset({"format", "case_id", "records", "signers", "log_signer", "crls", "checkpoint"})
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
    #: Time of that checkpoint (UTC), when it could be read.
    checkpoint_time: datetime | None
    #: Every problem found.
    problems: tuple[BundleProblem, ...]


def build_bundle(
    case_id: str,
    records: Sequence[BundleRecord],
    signers: Sequence[CertifiedKey],
    crls: Sequence[x509.CertificateRevocationList],
    checkpoint: SignedCheckpoint,
    log_signer: CertifiedKey,
    proofs: Sequence[Sequence[bytes]],
) -> dict[str, Any]:
    """Assemble a case's evidence bundle as a JSON-ready dict; raise BundleError on inconsistent data.

    `records` are the case's records in seq order; `proofs` the inclusion proof of each in the
    tree the checkpoint signs. Each proof is checked before the bundle is returned.
    """
    if not records:
        raise BundleError("a bundle needs at least one record")
    tree_size = checkpoint.checkpoint.tree_size
    if len(proofs) != len(records):
        raise BundleError(f"{len(records)} records need as many inclusion proofs, {len(proofs)} given")
    try:
        checkpoint_root = bytes.fromhex(checkpoint.checkpoint.root)
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
        "checkpoint": checkpoint.as_dict(),
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
) -> BundleReport:
    """Verify a bundle with nothing but the HQ root; every failure is a BundleProblem.

    Checks the log certificate and checkpoint signature, each record's certificate chain
    at the record's time (hard-fail revocation), signature, key ownership and case chain,
    and each record's inclusion in the checkpoint's tree. `crls` adds CRLs newer than the
    bundle's. Raises CertificateError only when `root_pem` itself is not a certificate.
    """
    root = load_certificate(root_pem)
    try:
        parsed = _Parsed(bundle, crls)
    except _Malformed as exc:
        return _report(None, [], None, None, [BundleProblem(None, "bundle_malformed", str(exc))])
    problems = _checkpoint_problems(parsed, root)
    problems.extend(_record_problems(parsed, root))
    chain = verify_chain(
        parsed.case_id, parsed.stored, parsed.public_keys, key_owners=parsed.key_owners
    )
    problems.extend(BundleProblem(item.seq, item.code, item.detail) for item in chain.problems)
    problems.sort(key=lambda item: (item.seq or 0, item.code))
    head = chain.head if not problems else None
    return _report(parsed.case_id, parsed.stored, head, parsed.checkpoint, problems)


class _Malformed(Exception):
    """The bundle does not have the shape of a bundle."""


class _Parsed:
    """A bundle's members, type-checked and loaded; raises _Malformed."""

    def __init__(self, bundle: object, extra_crls: Sequence[x509.CertificateRevocationList]) -> None:
        top = _object(bundle, _TOP_KEYS, "bundle")
        if top["format"] != BUNDLE_FORMAT:
            raise _Malformed(f"format is not {BUNDLE_FORMAT}")
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
            self.checkpoint = SignedCheckpoint.from_dict(_object(top["checkpoint"], None, "checkpoint"))
        except (CertificateError, CheckpointError) as exc:
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
    signed = parsed.checkpoint
    at = parse_time(signed.checkpoint.time)
    log_cert = parsed.log_signer.certificate
    try:
        verify_chain_at(
            log_cert, parsed.log_signer.chain, root, parsed.crls, at, purposes={Purpose.LOG}
        )
    except CertificatePathError as exc:
        return [BundleProblem(None, f"checkpoint_{exc.code}", f"log certificate: {exc}")]
    if not signed.signature:
        return [BundleProblem(None, "checkpoint_unsigned", "the checkpoint carries no signature")]
    try:
        verify_checkpoint(signed, public_key_pem(_p256(log_cert)))
    except (CheckpointError, KeyFormatError) as exc:
        return [BundleProblem(None, "checkpoint_bad_signature", str(exc))]
    return []


def _record_problems(parsed: _Parsed, root: x509.Certificate) -> list[BundleProblem]:
    problems = []
    tree_size = parsed.checkpoint.checkpoint.tree_size
    tree_root = bytes.fromhex(parsed.checkpoint.checkpoint.root)
    checkpoint_time = parse_time(parsed.checkpoint.checkpoint.time)
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
            problems.append(BundleProblem(seq, "record_after_checkpoint", "record is newer than the checkpoint"))
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
    checkpoint: SignedCheckpoint | None,
    problems: list[BundleProblem],
) -> BundleReport:
    return BundleReport(
        ok=not problems,
        case_id=case_id,
        head=head,
        count=len(stored),
        tree_size=checkpoint.checkpoint.tree_size if checkpoint else None,
        checkpoint_time=parse_time(checkpoint.checkpoint.time) if checkpoint else None,
        problems=tuple(problems),
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
