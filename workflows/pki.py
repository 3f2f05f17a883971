"""The deployment's PKI: the CA hierarchy in the database, enrolment, revocation and CRLs.

HQ root (P-384) → province CAs (P-384) → county CAs (P-256) → people of that office. HQ's
issuing CA (P-256, under the root) certifies applicants, agencies, the system account, office
seals, the log key and the time-stamping authority (RFC 3161). CA and service keys are stored encrypted under the deployment's key
passphrase; people's keys stay encrypted under their own PIN and never reach a CA.
"""
from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from signing import InMemorySigner, Signer, load_public_key, sha256_hex
from signing import pki as x
from signing.timestamps import TimestampAuthority
from signing.bundle import CertifiedKey
from workflows.errors import Forbidden, NotFound
from workflows.models import (
    Certificate, CertificateAuthority, Crl, LogState, Office, ServiceKey, SigningKey, User, utcnow,
)

__all__ = ["ensure", "enroll_pending", "root_certificate", "chain_of", "current_crls", "revoke", "refresh_crls",
           "check_signer", "service_signer", "audit", "log_public_key_pem", "certified_key", "CRL_LIFETIME", "Trust",
           "trust", "TrustMaterial", "trust_material", "forget_trust_material", "timestamp_authority",
           "renew_timestamp_authority"]

#: how long a CRL is current; refreshed when less than half remains
CRL_LIFETIME = timedelta(days=30)
#: the purpose a role's certificate carries
ROLE_PURPOSES = {"agency": x.Purpose.AGENCY, "system": x.Purpose.SYSTEM}



def _cn(name: str) -> str:
    """A certificate common name: at most 64 bytes of UTF-8, and (RFC 4518 string preparation)
    a right-to-left name holds letters and spaces only, starting and ending with a letter."""
    text = "".join(c if (c.isalpha() or c == "\u200c") else " " for c in name)
    if any(unicodedata.bidirectional(c) in ("R", "AL") for c in text):
        text = "".join(c if unicodedata.bidirectional(c) in ("R", "AL", "WS", "BN") or c == " " else " " for c in text)
    words = text.split()
    while words and len(" ".join(words).encode("utf-8")) > 64:
        words.pop()
    text = " ".join(words).strip("\u200c ")
    return text or "signer"


def _spki_digest(cert: x509.Certificate) -> str:
    """The key id of any certificate's key (CAs hold P-384 keys, which signing.key_id refuses)."""
    return sha256_hex(cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def _store(session: Session, cert: x509.Certificate, purpose: str, subject: str, *, issuer: CertificateAuthority | None,
           user: User | None = None, office: Office | None = None) -> Certificate:
    row = Certificate(serial=format(cert.serial_number, "x"), purpose=purpose, subject=subject,
                      user_id=user.id if user else None, office_id=office.id if office else None,
                      key_id=_spki_digest(cert), issuer_ca_id=issuer.id if issuer else None,
                      pem=x.certificate_pem(cert), not_before=cert.not_valid_before_utc,
                      not_after=cert.not_valid_after_utc)
    session.add(row)
    session.flush()
    return row


def _ca(session: Session, kind: str, office: Office) -> CertificateAuthority | None:
    return session.scalars(select(CertificateAuthority).where(
        CertificateAuthority.kind == kind, CertificateAuthority.office_id == office.id)).first()


def _open(ca: CertificateAuthority, passphrase: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    return x.load_certificate(ca.certificate.pem), x.decrypt_service_key(ca.encrypted_key, passphrase)


def _new_ca(session: Session, kind: str, office: Office, parent: CertificateAuthority | None, passphrase: str,
            now: datetime) -> CertificateAuthority:
    key = x.generate_ca_key() if kind in ("root", "province") else ec.generate_private_key(ec.SECP256R1())
    name = _cn({"root": "ریشه", "hq": "صدور ستاد", "province": "مرجع", "county": "مرجع"}[kind] + f" {office.name}")
    start = now - timedelta(minutes=5)
    if parent is None:
        cert = x.create_root_ca(name, key, not_before=start)
    else:
        parent_cert, parent_key = _open(parent, passphrase)
        cert = x.issue_ca(parent_cert, parent_key, name, key.public_key(),
                          {"hq": 0, "province": 1, "county": 0}[kind], not_before=start)
    ca = CertificateAuthority(kind=kind, office_id=office.id, encrypted_key=x.encrypt_service_key(key, passphrase),
                              certificate_id=_store(session, cert, "ca", name, issuer=parent, office=office).id)
    session.add(ca)
    session.flush()
    return ca


def ensure(session: Session, passphrase: str, now: datetime | None = None) -> None:
    """Create what is missing (CAs for every office, seals, the log key, the TSA key, CRLs) and certify every key.

    Run again on an existing database (``flask --app web init``), it adds what a newer version
    needs, such as the TSA key, and changes nothing else."""
    now = now or utcnow()
    hq = session.scalars(select(Office).where(Office.kind == "hq")).first()
    if hq is None:
        return
    root = _ca(session, "root", hq) or _new_ca(session, "root", hq, None, passphrase, now)
    issuing = _ca(session, "hq", hq) or _new_ca(session, "hq", hq, root, passphrase, now)
    for province in session.scalars(select(Office).where(Office.kind == "province").order_by(Office.id)):
        province_ca = _ca(session, "province", province) or _new_ca(session, "province", province, root, passphrase, now)
        for county in session.scalars(select(Office).where(Office.parent_id == province.id, Office.kind == "county")
                                      .order_by(Office.id)):
            if _ca(session, "county", county) is None:
                _new_ca(session, "county", county, province_ca, passphrase, now)
        _service_key(session, "seal", province, province_ca, passphrase, now)
    _service_key(session, "seal", hq, issuing, passphrase, now)
    _service_key(session, "log", hq, issuing, passphrase, now)
    _service_key(session, "tsa", hq, issuing, passphrase, now)
    if session.get(LogState, 1) is None:
        session.add(LogState(id=1, size=0))
    refresh_crls(session, passphrase, now)
    enroll_pending(session, passphrase, now)
    session.flush()


def _service_key(session: Session, purpose: str, office: Office, ca: CertificateAuthority, passphrase: str,
                 now: datetime) -> ServiceKey:
    row = session.scalars(select(ServiceKey).where(ServiceKey.purpose == purpose,
                                                   ServiceKey.office_id == office.id)).first()
    if row is not None:
        return row
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_cert, issuer_key = _open(ca, passphrase)
    name = _cn({"seal": "مهر اسناد", "log": "کلید دفتر ثبت", "tsa": "مهر زمان"}[purpose] + f" {office.name}")
    cert = x.issue_end_entity(issuer_cert, issuer_key, x.Subject(name, office.code),
                              key.public_key(), x.Purpose(purpose), not_before=now - timedelta(minutes=5))
    row = ServiceKey(purpose=purpose, office_id=office.id, encrypted_key=x.encrypt_service_key(key, passphrase),
                     certificate_id=_store(session, cert, purpose, name, issuer=ca, office=office).id)
    session.add(row)
    session.flush()
    return row


def renew_timestamp_authority(session: Session, passphrase: str, now: datetime | None = None) -> ServiceKey:
    """Give HQ's TSA a new key and certificate (before the current one expires, or after a compromise:
    revoke the old certificate too). Tokens already issued keep verifying: they carry their certificate."""
    now = now or utcnow()
    hq = session.scalars(select(Office).where(Office.kind == "hq")).one()
    row = session.scalars(select(ServiceKey).where(ServiceKey.purpose == "tsa", ServiceKey.office_id == hq.id)).first()
    if row is None:
        return _service_key(session, "tsa", hq, _ca(session, "hq", hq), passphrase, now)
    issuing = _ca(session, "hq", hq)
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_cert, issuer_key = _open(issuing, passphrase)
    name = _cn(f"مهر زمان {hq.name}")
    cert = x.issue_end_entity(issuer_cert, issuer_key, x.Subject(name, hq.code), key.public_key(), x.Purpose.TSA,
                              not_before=now - timedelta(minutes=5))
    row.encrypted_key = x.encrypt_service_key(key, passphrase)
    row.certificate_id = _store(session, cert, "tsa", name, issuer=issuing, office=hq).id
    session.flush()
    session.expire(row, ["certificate"])
    return row


def _issuer_for(session: Session, user: User) -> CertificateAuthority:
    """People of a county or province office are certified by its CA; everyone else by HQ's issuing CA."""
    if user.office is not None and user.office.kind in ("county", "province"):
        ca = _ca(session, user.office.kind, user.office)
        if ca is not None:
            return ca
    hq = session.scalars(select(Office).where(Office.kind == "hq")).one()
    return _ca(session, "hq", hq)


def enroll_pending(session: Session, passphrase: str, now: datetime | None = None) -> int:
    """Certify every active signing key that has no certificate yet; returns how many."""
    now = now or utcnow()
    count = 0
    for row in session.scalars(select(SigningKey).where(SigningKey.active, SigningKey.certificate_id.is_(None))).all():
        user = session.get(User, row.user_id)
        ca = _issuer_for(session, user)
        if ca is None:
            continue
        issuer_cert, issuer_key = _open(ca, passphrase)
        purpose = ROLE_PURPOSES.get(user.role, x.Purpose.PERSON)
        cert = x.issue_end_entity(issuer_cert, issuer_key,
                                  x.Subject(_cn(user.full_name), user.office.code if user.office else None, user.id),
                                  load_public_key(row.public_key_pem), purpose, not_before=now - timedelta(minutes=5))
        row.certificate_id = _store(session, cert, purpose.value, user.full_name, issuer=ca, user=user,
                                    office=user.office).id
        count += 1
    session.flush()
    return count


def root_certificate(session: Session) -> Certificate:
    """The HQ root certificate (the trust anchor)."""
    row = session.scalars(select(Certificate).where(Certificate.purpose == "ca", Certificate.issuer_ca_id.is_(None))).first()
    if row is None:
        raise NotFound("no PKI yet: run flask --app web init")
    return row


def chain_of(session: Session, cert: Certificate) -> list[Certificate]:
    """The CA certificates above a certificate, issuer first, up to (not including) the root."""
    chain = []
    issuer_id = cert.issuer_ca_id
    while issuer_id is not None:
        ca = session.get(CertificateAuthority, issuer_id)
        if ca.certificate.issuer_ca_id is None:
            break
        chain.append(ca.certificate)
        issuer_id = ca.certificate.issuer_ca_id
    return chain


def current_crls(session: Session) -> list[Crl]:
    """The newest CRL of every CA."""
    newest: dict[int, Crl] = {}
    for crl in session.scalars(select(Crl).order_by(Crl.this_update)):
        newest[crl.ca_id] = crl
    return list(newest.values())


def refresh_crls(session: Session, passphrase: str, now: datetime | None = None, *, force_ca_ids: set[int] = frozenset()) -> int:
    """Issue a new CRL for every CA whose newest one is missing, half expired, or out of date."""
    now = now or utcnow()
    newest = {crl.ca_id: crl for crl in current_crls(session)}
    issued = 0
    for ca in session.scalars(select(CertificateAuthority)):
        crl = newest.get(ca.id)
        if crl is not None and ca.id not in force_ca_ids and crl.next_update - now > CRL_LIFETIME / 2:
            continue
        revoked = [(int(c.serial, 16), c.revoked_at, None) for c in session.scalars(
            select(Certificate).where(Certificate.issuer_ca_id == ca.id, Certificate.revoked_at.is_not(None)))]
        cert, key = _open(ca, passphrase)
        this_update = max(now, crl.this_update + timedelta(seconds=1)) if crl else now
        made = x.issue_crl(cert, key, revoked, this_update, this_update + CRL_LIFETIME)
        session.add(Crl(ca_id=ca.id, this_update=this_update, next_update=this_update + CRL_LIFETIME,
                        pem=x.crl_pem(made)))
        issued += 1
    session.flush()
    return issued


def revoke(session: Session, cert: Certificate, *, reason: str, passphrase: str, now: datetime | None = None) -> None:
    """Revoke a certificate from now on and publish its CA's new CRL; its key stops signing."""
    now = now or utcnow()
    if cert.revoked_at is not None:
        return
    # A CRL states revocation times in whole seconds: round up, so that a record signed
    # earlier within the same second is not read as signed after the revocation.
    if now.microsecond:
        now = now.replace(microsecond=0) + timedelta(seconds=1)
    cert.revoked_at, cert.revocation_reason = now, reason[:32]
    for key in session.scalars(select(SigningKey).where(SigningKey.certificate_id == cert.id)):
        key.active = False
    session.flush()
    refresh_crls(session, passphrase, now, force_ca_ids={cert.issuer_ca_id})


@dataclass(frozen=True)
class Trust:
    """What verifying against this deployment's PKI needs, loaded once."""

    root: x509.Certificate
    crls: list[x509.CertificateRevocationList]
    #: key id → (certificate, chain up to the root)
    certified: dict[str, tuple[x509.Certificate, list[x509.Certificate]]]
    #: key ids whose certificate row does not agree with its own PEM (a changed column)
    inconsistent: frozenset[str] = frozenset()
    #: proves paths against `root` and `crls`, each path once (see signing.pki.PathVerifier)
    verifier: x.PathVerifier | None = None
    #: per (key id, purposes): the proof of its path, and per key id: the user its certificate names
    _proofs: dict = field(default_factory=dict, repr=False, compare=False)
    _users: dict = field(default_factory=dict, repr=False, compare=False)

    def verify(self, key: str, at: datetime, purposes: frozenset[x.Purpose] = x.RECORD_PURPOSES) -> None:
        """Check the certificate of `key` at `at` (an aware time); raise signing's path errors."""
        proof = self._proofs.get((key, purposes))
        if proof is None:
            cert, chain = self.certified[key]
            verifier = self.verifier or x.PathVerifier(self.root, self.crls)
            proof = self._proofs[(key, purposes)] = verifier.prove(cert, chain, purposes=purposes)
        proof.check(x.utc_time(at))

    def user_id(self, key: str) -> int | None:
        """The user id the certificate of `key` names; raise CertificateError if malformed."""
        if key not in self._users:
            self._users[key] = x.certificate_user_id(self.certified[key][0])
        return self._users[key]


@dataclass
class TrustMaterial:
    """The parsed root, the current CRLs and the CA chains, shared by every session of a process.

    Certificates are never rewritten and CRLs only gain newer rows, so the material stays right
    until `version` changes: the number and newest id of the CRL rows, the newest CRL's text (which
    no other CRL shares: ECDSA signatures are randomized, so a row id reused after a rollback, or
    another database in the same process, shows as a new version) and the newest CA id.
    """

    version: tuple
    root: x509.Certificate
    #: the newest CRL of every CA, parsed
    crls: list[x509.CertificateRevocationList]
    verifier: x.PathVerifier
    #: issuer CA id → the CA certificates from that CA up to (not including) the root
    chains: dict[int, tuple[x509.Certificate, ...]] = field(default_factory=dict)

    def chain(self, session: Session, issuer_ca_id: int | None) -> tuple[x509.Certificate, ...]:
        """The parsed CA certificates above a certificate issued by this CA (as chain_of)."""
        found = self.chains.get(issuer_ca_id)
        if found is None:
            chain, current = [], issuer_ca_id
            while current is not None:
                ca = session.get(CertificateAuthority, current)
                if ca.certificate.issuer_ca_id is None:
                    break
                chain.append(_parsed(ca.certificate.pem))
                current = ca.certificate.issuer_ca_id
            found = self.chains[issuer_ca_id] = tuple(chain)
        return found


_material: TrustMaterial | None = None
_material_lock = threading.Lock()
#: parsed certificates by PEM text (content-keyed: never stale), bounded
_PARSED: dict[str, x509.Certificate] = {}
#: _row_matches by the row's values and PEM (content-keyed), bounded
_MATCHES: dict[tuple, bool] = {}
_CACHE_LIMIT = 20_000


_CRLS, _CAS, _CERTS = Crl.__table__, CertificateAuthority.__table__, Certificate.__table__
#: what tells this process's trust material is still current: one cheap Core statement, built once
#: (a new CA gets its first CRL in the transaction that makes it; its id is there all the same)
_VERSION = select(
    select(func.count(_CRLS.c.id)).scalar_subquery(),
    select(func.max(_CRLS.c.id)).scalar_subquery(),
    select(_CRLS.c.pem).order_by(_CRLS.c.id.desc()).limit(1).scalar_subquery(),
    select(func.max(_CAS.c.id)).scalar_subquery(),
)


def _read(session: Session, statement, parameters=None):
    """Run a Core statement on the session's connection, flushing first as an ORM query would."""
    if session.autoflush:
        session.flush()
    return session.connection().execute(statement, parameters)


def trust_material(session: Session) -> TrustMaterial:
    """This process's trust material, reloaded when a CRL or CA row was added (one cheap query)."""
    global _material
    version = tuple(_read(session, _VERSION).one())
    material = _material
    if material is not None and material.version == version:
        return material
    root = _parsed(root_certificate(session).pem)
    crls = [x.load_crl(c.pem) for c in current_crls(session)]
    material = TrustMaterial(version=version, root=root, crls=crls, verifier=x.PathVerifier(root, crls))
    with _material_lock:
        _material = material
    return material


def forget_trust_material() -> None:
    """Drop this process's cached trust material (the next use reloads it)."""
    global _material
    with _material_lock:
        _material = None


def _parsed(pem: str) -> x509.Certificate:
    cert = _PARSED.get(pem)
    if cert is None:
        cert = x.load_certificate(pem)
        if len(_PARSED) >= _CACHE_LIMIT:
            _PARSED.clear()
        _PARSED[pem] = cert
    return cert


#: the certificate rows of some keys, every column that mirrors the PEM
_CERTIFICATES = select(_CERTS.c.key_id, _CERTS.c.serial, _CERTS.c.purpose, _CERTS.c.user_id, _CERTS.c.issuer_ca_id,
                       _CERTS.c.pem, _CERTS.c.not_before, _CERTS.c.not_after
                       ).where(_CERTS.c.key_id.in_(bindparam("key_ids", expanding=True))).order_by(_CERTS.c.id)


def trust(session: Session, key_ids: set[str]) -> Trust:
    """The root, the current CRLs and the certificates of these keys, each row checked against its PEM.

    The certificate rows of the keys are read on every call (a changed column must show at once);
    the root, CRLs and CA chains come from the process's trust material.
    """
    material = trust_material(session)
    certified, inconsistent = {}, set()
    rows = _read(session, _CERTIFICATES, {"key_ids": list(key_ids)}).all() if key_ids else []
    for row in rows:
        try:
            cert = _parsed(row.pem)
            chain = list(material.chain(session, row.issuer_ca_id))
        except Exception:  # an unreadable PEM is a changed row
            inconsistent.add(row.key_id)
            continue
        certified[row.key_id] = (cert, chain)
        if not _row_matches_cached(row, cert):
            inconsistent.add(row.key_id)
    return Trust(root=material.root, crls=material.crls, certified=certified, inconsistent=frozenset(inconsistent),
                 verifier=material.verifier)


def _row_matches_cached(row, cert: x509.Certificate) -> bool:
    key = tuple(row)
    found = _MATCHES.get(key)
    if found is None:
        found = _row_matches(row, cert)
        if len(_MATCHES) >= _CACHE_LIMIT:
            _MATCHES.clear()
        _MATCHES[key] = found
    return found


def _row_matches(row: Certificate, cert: x509.Certificate) -> bool:
    """The columns that mirror a certificate say what its PEM says."""
    return (row.serial == format(cert.serial_number, "x") and row.key_id == _spki_digest(cert)
            and row.not_before == cert.not_valid_before_utc and row.not_after == cert.not_valid_after_utc
            and (row.purpose == "ca" or (row.purpose == x.certificate_purpose(cert).value
                                         and row.user_id == x.certificate_user_id(cert))))


def check_signer(session: Session, signing_key: SigningKey, now: datetime) -> None:
    """Refuse to sign with a key whose certificate is missing, expired or revoked."""
    if signing_key.certificate_id is None:
        raise Forbidden("the signing key has no certificate")
    known = trust(session, {signing_key.key_id})
    try:
        known.verify(signing_key.key_id, now)
    except Exception as error:  # every path error means: this key may not sign now
        raise Forbidden(f"certificate not valid: {error}") from None


def service_signer(session: Session, purpose: str, office: Office, passphrase: str) -> tuple[Signer, ServiceKey]:
    """The signer of an office's seal, or of HQ's log key."""
    row = session.scalars(select(ServiceKey).where(ServiceKey.purpose == purpose,
                                                   ServiceKey.office_id == office.id)).first()
    if row is None:
        raise NotFound(f"no {purpose} key for {office.code}")
    return InMemorySigner(x.decrypt_service_key(row.encrypted_key, passphrase)), row


def audit(session: Session, root_pem: str | None = None) -> list[str]:
    """Every certificate, CA, CRL and signing key row checked from its own text, for the whole
    database (nothing cached): each certificate's columns say what its PEM says and it was issued
    by its CA's certificate (the root by itself, and equal to ``root_pem`` when one is pinned), each
    CA's certificate is a CA's, each CRL is its CA's and signed by it, and a certificate's
    revocation is what its CA's newest CRL says. One English line per problem."""
    problems: list[str] = []
    certs: dict[int, x509.Certificate] = {}
    for row in session.scalars(select(Certificate).order_by(Certificate.id)):
        try:
            cert = x.load_certificate(row.pem)
        except Exception:
            problems.append(f"certificate {row.id}: the PEM is not a certificate")
            continue
        certs[row.id] = cert
        try:
            matches = _row_matches(row, cert)
        except Exception:  # a purpose the certificate does not carry at all
            matches = False
        if not matches:
            problems.append(f"certificate {row.id}: its columns are not what its PEM says")
    cas = {ca.id: ca for ca in session.scalars(select(CertificateAuthority))}
    for row in session.scalars(select(Certificate).order_by(Certificate.id)):
        cert = certs.get(row.id)
        if cert is None:
            continue
        if row.issuer_ca_id is None:
            issuer = cert if row.purpose == "ca" else None
            if root_pem is not None and cert != x.load_certificate(root_pem):
                problems.append(f"certificate {row.id}: a root that is not the pinned HQ root")
        else:
            ca = cas.get(row.issuer_ca_id)
            issuer = certs.get(ca.certificate_id) if ca is not None else None
        try:
            if issuer is None:
                raise ValueError("no issuer")
            cert.verify_directly_issued_by(issuer)
        except Exception:
            problems.append(f"certificate {row.id}: not issued by its CA's certificate")
    for ca in cas.values():
        cert = certs.get(ca.certificate_id)
        try:
            is_ca = cert is not None and cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            problems.append(f"certificate authority {ca.id}: its certificate is not a CA's")
    newest = {crl.ca_id: crl for crl in current_crls(session)}
    revocations: dict[int, dict[int, datetime]] = {}
    for crl_row in session.scalars(select(Crl).order_by(Crl.id)):
        ca = cas.get(crl_row.ca_id)
        issuer = certs.get(ca.certificate_id) if ca is not None else None
        try:
            crl = x.load_crl(crl_row.pem)
            if issuer is None or crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):
                raise ValueError("not its CA's")
        except Exception:
            problems.append(f"CRL {crl_row.id}: not a CRL signed by its CA")
            continue
        if newest.get(crl_row.ca_id) is crl_row:
            revocations[crl_row.ca_id] = {entry.serial_number: entry.revocation_date_utc for entry in crl}
    for row in session.scalars(select(Certificate).order_by(Certificate.id)):
        listed = revocations.get(row.issuer_ca_id, {}).get(int(row.serial, 16)) if _hex(row.serial) else None
        stored = row.revoked_at
        if listed != stored:
            problems.append(f"certificate {row.id}: its revocation is not what its CA's CRL says")
    for key in session.scalars(select(SigningKey)):
        try:
            public = load_public_key(key.public_key_pem)
            cert = certs.get(key.certificate_id) if key.certificate_id is not None else None
            if _spki_digest_of(public) != key.key_id or (cert is not None and (
                    cert.public_key() != public or x.certificate_user_id(cert) != key.user_id)):
                raise ValueError("mismatch")
        except Exception:
            problems.append(f"signing key {key.key_id[:12]}: its id or certificate is not its public key's")
    return problems


def _hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdef" for c in text)


def _spki_digest_of(public_key) -> str:
    return sha256_hex(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def log_public_key_pem(session: Session) -> str:
    """The public key (PEM) of HQ's log key, which signs the log's checkpoints."""
    hq = session.scalars(select(Office).where(Office.kind == "hq")).one()
    row = session.scalars(select(ServiceKey).where(ServiceKey.purpose == "log", ServiceKey.office_id == hq.id)).one()
    return _parsed(row.certificate.pem).public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()

#: the TSA of this process, by its service key row's encrypted key, certificate and the passphrase
_tsa: dict[tuple[bytes, str, str], TimestampAuthority] = {}


def timestamp_authority(session: Session, passphrase: str, now: datetime | None = None) -> TimestampAuthority:
    """HQ's RFC 3161 time-stamping authority, its key opened once per process.

    Refuses (Forbidden) while the TSA's certificate is expired or revoked: it must not issue tokens
    no verifier would accept."""
    hq = session.scalars(select(Office).where(Office.kind == "hq")).one()
    row = session.scalars(select(ServiceKey).where(ServiceKey.purpose == "tsa", ServiceKey.office_id == hq.id)).first()
    if row is None:
        raise NotFound("no time-stamping key: run flask --app web init")
    cache_key = (row.encrypted_key, row.certificate.pem, passphrase)
    found = _tsa.get(cache_key)
    if found is None:
        chain = trust_material(session).chain(session, row.certificate.issuer_ca_id)
        found = TimestampAuthority(InMemorySigner(x.decrypt_service_key(row.encrypted_key, passphrase)),
                                   _parsed(row.certificate.pem), tuple(chain))
        if len(_tsa) > 8:
            _tsa.clear()
        _tsa[cache_key] = found
    try:
        trust_material(session).verifier.verify(found.cert, found.chain, now or utcnow(), purposes={x.Purpose.TSA})
    except Exception as error:  # every path error means: this TSA may not stamp now
        raise Forbidden(f"the time-stamping certificate is not valid: {error}") from None
    return found


def certified_key(session: Session, cert: Certificate) -> CertifiedKey:
    """The certificate and its chain as the bundle format wants them."""
    return CertifiedKey(_parsed(cert.pem), trust_material(session).chain(session, cert.issuer_ca_id))
