"""A fixed-shape test PKI (HQ root, province, county, people, seal, log key, TSA) and a signed case."""

import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from signing import (
    BundleRecord,
    CertifiedKey,
    InMemorySigner,
    Purpose,
    StoredRecord,
    Subject,
    build_bundle,
    canonical_bytes,
    create_root_ca,
    digest,
    format_time,
    generate_ca_key,
    generate_key,
    issue_ca,
    issue_crl,
    issue_end_entity,
    leaf_hash,
    record_leaf_hash,
    sign_record,
)
from signing.bundle import CaseHead, SignedCaseHead, sign_case_head
from signing.merkle import inclusion_proofs, root as merkle_root
from signing.note import sign_checkpoint_note
from signing.timestamps import TimestampAuthority

#: the test log's origin line
LOG_ORIGIN = "mosque-centers/hq-log/v1"

#: Everything is issued a month ago (whole seconds), so "now" falls inside every validity.
START = (datetime.now(timezone.utc) - timedelta(days=30)).replace(microsecond=0)
CASE_ID = "case-0001"
APPLICANT = {"user_id": 7, "username": "applicant7", "role": "applicant", "office": None}
OFFICER = {"user_id": 12, "username": "arak12", "role": "county_officer", "office": "county-arak"}


@dataclass(frozen=True)
class Party:
    """An end entity: its key, certificate and issuers below the root."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    @property
    def signer(self) -> InMemorySigner:
        return InMemorySigner(self.key)

    @property
    def certified(self) -> CertifiedKey:
        return CertifiedKey(self.cert, self.chain)


@dataclass(frozen=True)
class Pki:
    """HQ root -> Markazi province CA -> Arak county CA -> people; HQ seal and log key under the root."""

    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    province_key: ec.EllipticCurvePrivateKey
    province: x509.Certificate
    county_key: ec.EllipticCurvePrivateKey
    county: x509.Certificate
    applicant: Party
    officer: Party
    seal: Party
    office_seal: Party
    log: Party
    tsa: Party

    @property
    def timestamp_authority(self) -> TimestampAuthority:
        """HQ's time-stamping authority (directly under the root here)."""
        return TimestampAuthority(self.tsa.signer, self.tsa.cert, self.tsa.chain)

    def crls(self, revoked: dict[str, list[tuple[int, datetime, x509.ReasonFlags | None]]] | None = None,
             this_update: datetime | None = None) -> list[x509.CertificateRevocationList]:
        """One current CRL per CA; `revoked` maps "root"/"province"/"county" to entries."""
        revoked = revoked or {}
        this_update = this_update or datetime.now(timezone.utc) - timedelta(minutes=1)
        next_update = this_update + timedelta(days=7)
        return [
            issue_crl(cert, key, revoked.get(name, []), this_update, next_update)
            for name, cert, key in (
                ("root", self.root, self.root_key),
                ("province", self.province, self.province_key),
                ("county", self.county, self.county_key),
            )
        ]


def party(issuer: x509.Certificate, issuer_key: ec.EllipticCurvePrivateKey, chain: tuple[x509.Certificate, ...],
          subject: Subject, purpose: Purpose, not_before: datetime = START) -> Party:
    key = generate_key()
    cert = issue_end_entity(issuer, issuer_key, subject, key.public_key(), purpose, not_before=not_before)
    return Party(key, cert, chain)


@pytest.fixture(scope="session")
def pki() -> Pki:
    root_key = generate_ca_key()
    root = create_root_ca("HQ Root CA", root_key, not_before=START - timedelta(days=1))
    province_key = generate_ca_key()
    province = issue_ca(root, root_key, "Markazi Province CA", province_key.public_key(), 1,
                        not_before=START - timedelta(hours=2))
    county_key = generate_key()
    county = issue_ca(province, province_key, "Arak County CA", county_key.public_key(), 0,
                      not_before=START - timedelta(hours=1))
    people = (county, province)
    return Pki(
        root_key=root_key,
        root=root,
        province_key=province_key,
        province=province,
        county_key=county_key,
        county=county,
        applicant=party(county, county_key, people, Subject("Applicant Seven", None, 7), Purpose.PERSON),
        officer=party(county, county_key, people, Subject("Officer Twelve", "county-arak", 12), Purpose.PERSON),
        seal=party(root, root_key, (), Subject("HQ Document Seal", "hq"), Purpose.SEAL),
        office_seal=party(province, province_key, (province,), Subject("Markazi Seal", "province-markazi"),
                          Purpose.SEAL),
        log=party(root, root_key, (), Subject("HQ Log", "hq"), Purpose.LOG),
        tsa=party(root, root_key, (), Subject("HQ Time-Stamping Authority", "hq"), Purpose.TSA),
    )


@dataclass(frozen=True)
class Case:
    """A signed four-step case in a log with other cases' leaves around it."""

    records: list[StoredRecord]
    bodies: list[dict[str, Any]]
    log_indexes: list[int]
    leaf_hashes: list[bytes]
    checkpoint: str
    bundle: dict[str, Any]
    head: SignedCaseHead


def record_body(seq: int, prev_hash: str | None, actor: dict[str, Any], key_id: str, action: str,
                form: dict[str, Any] | None, time: datetime) -> dict[str, Any]:
    """A valid record body of the test case."""
    return {
        "v": 1, "case_id": CASE_ID, "seq": seq, "process_key": "center_founding",
        "spec_version": "sha256:" + "ab" * 32,
        "task_id": None if seq == 1 else f"task-{seq}",
        "task_name": None if seq == 1 else "county_review",
        "action": action, "actor": dict(actor), "key_id": key_id,
        "form_key": "founding_application" if form is not None else None,
        "form_digest": digest(form) if form is not None else None,
        "attachments": [], "rule_results": None, "details": {},
        "time": format_time(time), "prev_hash": prev_hash,
    }


def signed_case(pki: Pki, steps: list[tuple[Party, dict[str, Any], str, dict[str, Any] | None, datetime]],
                crls: list[x509.CertificateRevocationList] | None = None,
                checkpoint_time: datetime | None = None) -> Case:
    """Sign the steps as a chain, log them among other leaves, checkpoint and bundle them."""
    records, bodies, indexes = [], [], []
    leaves = [leaf_hash(b"other case %d" % i) for i in range(5)]
    prev = None
    for seq, (who, actor, action, form, time) in enumerate(steps, start=1):
        body = record_body(seq, prev, actor, who.signer.key_id, action, form, time)
        signed = sign_record(body, who.signer)
        records.append(StoredRecord(
            seq=seq, canonical=signed.canonical, hash=signed.hash, signature=signed.signature,
            key_id=signed.key_id,
            form_data=canonical_bytes(form).decode("utf-8") if form is not None else None,
            action=action, actor_user_id=actor["user_id"], case_id=CASE_ID,
        ))
        bodies.append(body)
        indexes.append(len(leaves))
        leaves.append(record_leaf_hash(signed.hash))
        leaves.extend(leaf_hash(b"between %d" % seq) for _ in range(seq))
        prev = signed.hash
    when = checkpoint_time or datetime.now(timezone.utc)
    tree_root = merkle_root(leaves)
    checkpoint = sign_checkpoint_note(LOG_ORIGIN, len(leaves), tree_root, pki.log.signer)
    head = sign_case_head(CaseHead(CASE_ID, len(records), records[-1].hash, indexes[-1], len(leaves),
                                   tree_root.hex(), format_time(when)), pki.log.signer)
    signers = {id(who): who.certified for who, *_ in steps}
    bundle = build_bundle(
        CASE_ID,
        [BundleRecord(record, index) for record, index in zip(records, indexes)],
        list(signers.values()),
        crls if crls is not None else pki.crls(),
        checkpoint,
        pki.log.certified,
        inclusion_proofs(indexes, leaves),
        head,
    )
    return Case(records, bodies, indexes, leaves, checkpoint, bundle, head)


def founding_steps(pki: Pki) -> list[tuple[Party, dict[str, Any], str, dict[str, Any] | None, datetime]]:
    """submit -> return -> resubmit -> approve, a day apart."""
    form = {"center_name": "کانون فرهنگی هنری مسجد امام\u200cرضا", "founders": 5}
    return [
        (pki.applicant, APPLICANT, "submit", form, START + timedelta(days=1)),
        (pki.officer, OFFICER, "return", {"reason": "incomplete"}, START + timedelta(days=2)),
        (pki.applicant, APPLICANT, "resubmit", {**form, "founders": 6}, START + timedelta(days=3)),
        (pki.officer, OFFICER, "approve", None, START + timedelta(days=4)),
    ]


@pytest.fixture(scope="session")
def case(pki: Pki) -> Case:
    return signed_case(pki, founding_steps(pki))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record and refuse any attempt to open a network connection."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts
