"""The X.509 hierarchy that mirrors the organisation, its CRLs, and path validation at a time.

HQ root (P-384, path length 2) -> province CA (P-384, 1) -> county CA (P-256, 0) -> person.
Agencies, the system (timers), the HQ document seal, the HQ log key and HQ's time-stamping
authority get end-entity certificates too. What a certificate is for is its purpose, written as
a private extended key usage (id-kp-timeStamping for the TSA); who it names is its subject
(common name, office as OU, user id as UID).
"""

import enum
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from .errors import (
    CertificateConstraintError,
    CertificateError,
    CertificatePathError,
    CertificateRevokedError,
    CertificateValidityError,
    RevocationUnknownError,
    SigningError,
    UntrustedPathError,
)

__all__ = [
    "DOCUMENT_SIGNING",
    "PURPOSE_OIDS",
    "RECORD_PURPOSES",
    "CertificateOptions",
    "PathVerifier",
    "Purpose",
    "Subject",
    "certificate_pem",
    "chain_from_pool",
    "certificate_purpose",
    "certificate_user_id",
    "create_root_ca",
    "crl_pem",
    "decrypt_service_key",
    "encrypt_service_key",
    "generate_ca_key",
    "issue_ca",
    "issue_crl",
    "issue_end_entity",
    "load_certificate",
    "load_crl",
    "utc_time",
    "verify_chain_at",
]


class Purpose(enum.Enum):
    """What an end-entity certificate may sign."""

    #: A person (applicant, officer, auditor): transition records.
    PERSON = "person"
    #: An inquiry agency: its answers.
    AGENCY = "agency"
    #: The application itself: timer and escalation records.
    SYSTEM = "system"
    #: An office's document seal: PAdES signatures on PDF certificates.
    SEAL = "seal"
    #: HQ's log key: Merkle log checkpoints.
    LOG = "log"
    #: HQ's time-stamping authority: RFC 3161 time-stamp tokens.
    TSA = "tsa"


# A UUID-derived OID arc (ITU-T X.667, 2.25.<uuid>) needs no registration and clashes with nothing.
_ARC = "2.25.150200610082563395739167868402225337881"

#: The extended key usage naming each purpose: a private one, except for the time-stamping
#: authority, whose certificate RFC 3161 (2.3) requires to name id-kp-timeStamping alone.
PURPOSE_OIDS = {
    purpose: x509.ObjectIdentifier(f"{_ARC}.1.{number}")
    for number, purpose in enumerate(Purpose, start=1)
}
PURPOSE_OIDS[Purpose.TSA] = ExtendedKeyUsageOID.TIME_STAMPING

#: id-kp-documentSigning (RFC 9336), on seal certificates.
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
# NSS (poppler, Firefox) and Acrobat check PDF signers as e-mail signers: without
# emailProtection they reject a seal even under a trusted root.
_SEAL_USAGES = (DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION)

#: Purposes whose certificates may sign transition records.
RECORD_PURPOSES = frozenset({Purpose.PERSON, Purpose.AGENCY, Purpose.SYSTEM})

_HANDLED_CRITICAL = frozenset(
    {ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE}
)
_STRONG_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)


@dataclass(frozen=True)
class Subject:
    """Who an end-entity certificate names."""

    #: The person's or service's display name (CN).
    common_name: str
    #: Office code (OU), e.g. "county-arak"; None for services without an office.
    office: str | None = None
    #: Application user id (UID); record signers must have one.
    user_id: int | None = None


@dataclass(frozen=True)
class CertificateOptions:
    """How long each kind of certificate is valid (never past its issuer's end)."""

    #: HQ root CA.
    root_lifetime: timedelta = timedelta(days=20 * 365)
    #: Province and county CAs.
    ca_lifetime: timedelta = timedelta(days=10 * 365)
    #: People.
    person_lifetime: timedelta = timedelta(days=2 * 365)
    #: Agencies, the system, seals, the log key and the time-stamping authority.
    service_lifetime: timedelta = timedelta(days=3 * 365)


def encrypt_service_key(key: ec.EllipticCurvePrivateKey, passphrase: str) -> bytes:
    """A CA, seal or log key as encrypted PKCS#8 PEM under the deployment's key passphrase."""
    if not isinstance(passphrase, str) or len(passphrase) < 16:
        raise CertificateError("the key passphrase must be at least 16 characters")
    _ec_key(key.public_key(), (ec.SECP256R1, ec.SECP384R1))
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(passphrase.encode("utf-8")))


def decrypt_service_key(pem: bytes, passphrase: str) -> ec.EllipticCurvePrivateKey:
    """Load a key written by encrypt_service_key; CertificateError on a wrong passphrase."""
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase.encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise CertificateError(f"cannot open the service key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError("the service key is not an EC key")
    return key


def generate_ca_key() -> ec.EllipticCurvePrivateKey:
    """Generate a P-384 private key for the root or a province CA."""
    return ec.generate_private_key(ec.SECP384R1())


def create_root_ca(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    not_before: datetime | None = None,
    options: CertificateOptions = CertificateOptions(),
) -> x509.Certificate:
    """Create the self-signed HQ root: P-384, path length 2, CA key usages."""
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP384R1):
        raise CertificateError("the root key must be ECDSA P-384")
    start = _start(not_before)
    subject = _name(name)
    builder = _ca_builder(subject, subject, key.public_key(), key.public_key(), 2)
    builder = builder.not_valid_before(start).not_valid_after(start + options.root_lifetime)
    return _sign(builder, key)


def issue_ca(
    parent_cert: x509.Certificate,
    parent_key: ec.EllipticCurvePrivateKey,
    subject_name: str,
    public_key: ec.EllipticCurvePublicKey,
    path_length: int,
    *,
    not_before: datetime | None = None,
    options: CertificateOptions = CertificateOptions(),
) -> x509.Certificate:
    """Issue a subordinate CA: province (P-384, path length 1) or county (P-256, path length 0)."""
    _check_issuer(parent_cert, parent_key)
    _ec_key(public_key, (ec.SECP256R1, ec.SECP384R1))
    parent_length = _basic_constraints(parent_cert).path_length
    if type(path_length) is not int or path_length < 0:
        raise CertificateError("path_length must be a non-negative integer")
    if parent_length is not None and path_length >= parent_length:
        raise CertificateError(f"a CA under path length {parent_length} needs a smaller path length")
    builder = _ca_builder(
        _name(subject_name), parent_cert.subject, public_key, _ec_public_key(parent_cert), path_length
    )
    return _sign(_validity(builder, parent_cert, not_before, options.ca_lifetime), parent_key)


def issue_end_entity(
    issuer_cert: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    subject: Subject,
    public_key: ec.EllipticCurvePublicKey,
    purpose: Purpose,
    *,
    not_before: datetime | None = None,
    options: CertificateOptions = CertificateOptions(),
) -> x509.Certificate:
    """Issue a P-256 end-entity certificate for one purpose."""
    _check_issuer(issuer_cert, issuer_key)
    _ec_key(public_key, (ec.SECP256R1,))
    if not isinstance(purpose, Purpose):
        raise CertificateError(f"unknown purpose: {purpose!r}")
    if purpose in RECORD_PURPOSES and subject.user_id is None:
        raise CertificateError(f"a {purpose.value} certificate needs the signer's user id")
    signs_documents = purpose not in (Purpose.LOG, Purpose.TSA)
    usages = [PURPOSE_OIDS[purpose]]
    if purpose is Purpose.SEAL:
        usages.extend(_SEAL_USAGES)
    # RFC 3161 2.3: a TSA's extended key usage is critical and names time-stamping only
    usage_critical = purpose is Purpose.TSA
    builder = (
        x509.CertificateBuilder()
        .subject_name(_subject_name(subject))
        .issuer_name(issuer_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage(digital_signature=True, content_commitment=signs_documents), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=usage_critical)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(_authority_key_id(_ec_public_key(issuer_cert)), critical=False)
    )
    lifetime = options.person_lifetime if purpose is Purpose.PERSON else options.service_lifetime
    return _sign(_validity(builder, issuer_cert, not_before, lifetime), issuer_key)


def issue_crl(
    issuer_cert: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    revoked: Sequence[tuple[int, datetime, x509.ReasonFlags | None]],
    this_update: datetime,
    next_update: datetime,
) -> x509.CertificateRevocationList:
    """Issue a CA's full CRL; its CRL number is this_update in seconds since the epoch."""
    _check_issuer(issuer_cert, issuer_key)
    this_update, next_update = utc_time(this_update), utc_time(next_update)
    if next_update <= this_update:
        raise CertificateError("next_update must come after this_update")
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(int(this_update.timestamp())), critical=False)
        .add_extension(_authority_key_id(_ec_public_key(issuer_cert)), critical=False)
    )
    for serial, when, reason in revoked:
        if type(serial) is not int or serial <= 0:
            raise CertificateError(f"not a certificate serial number: {serial!r}")
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(utc_time(when))
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(x509.ReasonFlags(reason)), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(issuer_key, _hash_for(issuer_key))


def verify_chain_at(
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    root: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    at: datetime,
    *,
    purposes: Collection[Purpose] | None = None,
) -> None:
    """Check that `cert` was a valid, unrevoked end entity under `root` at `at`; raise otherwise.

    `chain` lists the issuers from the leaf's up to, not including, the root. Every CA on
    the path must have a CRL in `crls` that covers `at` (hard fail). A certificate revoked
    at or before `at` fails; one revoked later passes, so earlier signatures stay valid.
    `purposes`, when given, lists the purposes the leaf may have. To check many paths or
    times against the same root and CRLs, use one PathVerifier.
    """
    PathVerifier(root, crls).verify(cert, chain, at, purposes=purposes)


class PathVerifier:
    """verify_chain_at against one root and one set of CRLs, proving each path only once.

    What does not depend on the time asked is proved the first time a path is seen and
    remembered: the root's self-signature, every signature along the path, extensions, CA
    constraints, the leaf's purpose, which CRLs each issuer signed (CRLs are indexed by
    issuer name, each signature checked once per issuer). Every call still checks what does
    depend on the time: each certificate's validity window and, in every issuer CRL that
    covers that time, the revocation date of the certificate below it. Errors are the ones
    verify_chain_at raises, in the same order. A verifier never sees newer CRLs: make a new
    one whenever the root or the CRLs change.
    """

    #: proven paths kept before the memory is cleared (one per certificate and purpose set)
    MAX_PATHS = 50_000

    def __init__(self, root: x509.Certificate, crls: Sequence[x509.CertificateRevocationList]) -> None:
        self.root = root
        self.crls = tuple(crls)
        self._by_issuer: dict[x509.Name, list[x509.CertificateRevocationList]] = {}
        for crl in self.crls:
            self._by_issuer.setdefault(crl.issuer, []).append(crl)
        self._anchor: _Failure | None | bool = False  # False: not checked yet
        self._links: dict[tuple[x509.Certificate, x509.Certificate], _Failure | None] = {}
        self._issuer_crls: dict[x509.Certificate, _Failure | list[_CrlView]] = {}
        self._paths: dict[tuple[object, ...], _Proof] = {}

    def verify(
        self,
        cert: x509.Certificate,
        chain: Sequence[x509.Certificate],
        at: datetime,
        *,
        purposes: Collection[Purpose] | None = None,
    ) -> None:
        """As verify_chain_at(cert, chain, self.root, self.crls, at, purposes=purposes)."""
        self.prove(cert, chain, purposes=purposes).check(utc_time(at))

    def prove(
        self, cert: x509.Certificate, chain: Sequence[x509.Certificate], *, purposes: Collection[Purpose] | None = None
    ) -> "_Proof":
        """What holds of the path at any time: its ``check(at)`` (an aware UTC time) raises exactly
        what verify would. Keep it to check many times against one path."""
        chain = tuple(chain)
        key = (cert, chain, None if purposes is None else frozenset(purposes))
        proof = self._paths.get(key)
        if proof is None:
            proof = self._prove(cert, chain, purposes)
            if len(self._paths) >= self.MAX_PATHS:
                self._paths.clear()
            self._paths[key] = proof
        return proof

    def _prove(
        self, cert: x509.Certificate, chain: tuple[x509.Certificate, ...], purposes: Collection[Purpose] | None
    ) -> "_Proof":
        root = self.root
        issuers = [*chain, root]
        path = [cert, *chain]
        early = self._anchor_failure()
        if early is None:
            for position, (child, issuer) in enumerate(zip(path, issuers)):
                if position and child is not cert and _self_issued(child):
                    early = _Failure(UntrustedPathError, "the chain must stop below the root")
                    break
                early = self._link(child, issuer)
                if early is not None:
                    break
        if early is not None:
            return _Proof(early, (), None, ())
        windows = tuple((member, _failure(_check_extensions, member)) for member in [*path, root])
        late = None
        for below, issuer in enumerate(issuers):
            late = _failure(_check_ca, issuer, below)
            if late is not None:
                break
        if late is None:
            late = _failure(_check_leaf, cert, purposes)
        revocation = tuple(self._revocation(child, issuer) for child, issuer in zip(path, issuers))
        return _Proof(None, windows, late, revocation)

    def _anchor_failure(self) -> "_Failure | None":
        if self._anchor is False:
            self._anchor = _failure(_check_anchor, self.root)
        return self._anchor  # type: ignore[return-value]

    def _link(self, child: x509.Certificate, issuer: x509.Certificate) -> "_Failure | None":
        key = (child, issuer)
        if key not in self._links:
            try:
                child.verify_directly_issued_by(issuer)
                self._links[key] = None
            except (ValueError, TypeError, InvalidSignature) as exc:
                reason = str(exc) or "the signature does not verify"
                self._links[key] = _Failure(UntrustedPathError, f"{_cn(child)} is not issued by {_cn(issuer)}: {reason}")
        return self._links[key]

    def _signed_crls(self, issuer: x509.Certificate) -> "_Failure | list[_CrlView]":
        """The CRLs this issuer signed that could cover some time, or why there are none."""
        found = self._issuer_crls.get(issuer)
        if found is None:
            named = self._by_issuer.get(issuer.subject, [])
            if not named:
                found = _Failure(RevocationUnknownError, f"no CRL of {_cn(issuer)}")
            else:
                try:
                    issuer_key = _ec_public_key(issuer)
                except CertificatePathError as exc:
                    found = _Failure(type(exc), str(exc))
                else:
                    signed = [crl for crl in named if crl.is_signature_valid(issuer_key)]
                    if not signed:
                        found = _Failure(RevocationUnknownError, f"no CRL of {_cn(issuer)} has a valid signature")
                    else:
                        found = [_CrlView(crl, crl.next_update_utc) for crl in signed if _crl_usable(crl)]
            self._issuer_crls[issuer] = found
        return found

    def _revocation(self, child: x509.Certificate, issuer: x509.Certificate) -> "_Revocation":
        found = self._signed_crls(issuer)
        if isinstance(found, _Failure):
            return _Revocation(found, _cn(issuer), _cn(child), ())
        entries = []
        for view in found:
            entry = view.crl.get_revoked_certificate_by_serial_number(child.serial_number)
            entries.append((view.next_update, None if entry is None else entry.revocation_date_utc))
        return _Revocation(None, _cn(issuer), _cn(child), tuple(entries))


@dataclass(frozen=True)
class _Failure:
    """An error proved once and raised anew at every check it applies to."""

    kind: type[SigningError]
    message: str

    def error(self) -> SigningError:
        return self.kind(self.message)


def _failure(check: "Callable[..., object]", *args: object) -> _Failure | None:
    try:
        check(*args)
    except CertificatePathError as exc:
        return _Failure(type(exc), str(exc))
    return None


@dataclass(frozen=True)
class _CrlView:
    crl: x509.CertificateRevocationList
    next_update: datetime


@dataclass(frozen=True)
class _Revocation:
    """One (certificate, issuer) link's revocation data: (next update, revocation date) per CRL."""

    failure: _Failure | None
    issuer_name: str
    child_name: str
    entries: tuple[tuple[datetime, datetime | None], ...]

    def check(self, at: datetime) -> None:
        if self.failure is not None:
            raise self.failure.error()
        covering = [revoked for next_update, revoked in self.entries if at <= next_update]
        if not covering:
            raise RevocationUnknownError(f"no CRL of {self.issuer_name} covers {at.isoformat()}")
        for revoked in covering:
            if revoked is not None and revoked <= at:
                raise CertificateRevokedError(f"{self.child_name} was revoked at {revoked.isoformat()}")


@dataclass(frozen=True)
class _Proof:
    """What verify_chain_at finds about one path whatever the time, in the order it checks."""

    #: anchor and signature failures, raised before anything else
    early: _Failure | None
    #: every certificate of the path and the root, with its extension failure
    windows: tuple[tuple[x509.Certificate, _Failure | None], ...]
    #: CA constraint and leaf failures
    late: _Failure | None
    revocation: tuple[_Revocation, ...]
    #: (from, until, revoked from): a time inside [from, until] and before the first revocation
    #: passes every check below (None when some check fails at any time)
    clear: tuple[datetime, datetime, datetime | None] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.early is not None or self.late is not None or any(failure for _, failure in self.windows):
            return
        if any(link.failure is not None or not link.entries for link in self.revocation):
            return
        start = max(member.not_valid_before_utc for member, _ in self.windows)
        until = min([*(member.not_valid_after_utc for member, _ in self.windows),
                     *(max(next_update for next_update, _ in link.entries) for link in self.revocation)])
        revoked = [when for link in self.revocation for _, when in link.entries if when is not None]
        object.__setattr__(self, "clear", (start, until, min(revoked) if revoked else None))

    def check(self, at: datetime) -> None:
        clear = self.clear
        if clear is not None and clear[0] <= at <= clear[1] and (clear[2] is None or at < clear[2]):
            return  # inside every window, covered by a CRL, before any revocation: nothing can fail
        if self.early is not None:
            raise self.early.error()
        for member, extensions in self.windows:
            _check_validity(member, at)
            if extensions is not None:
                raise extensions.error()
        if self.late is not None:
            raise self.late.error()
        for link in self.revocation:
            link.check(at)


def certificate_purpose(cert: x509.Certificate) -> Purpose:
    """Return the one purpose named in an end-entity certificate; raise CertificateConstraintError."""
    try:
        usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except (x509.ExtensionNotFound, ValueError) as exc:
        raise CertificateConstraintError(f"{_cn(cert)} names no purpose") from exc
    found = [purpose for purpose, oid in PURPOSE_OIDS.items() if oid in usages]
    if len(found) != 1:
        raise CertificateConstraintError(f"{_cn(cert)} must name exactly one purpose")
    return found[0]


def certificate_user_id(cert: x509.Certificate) -> int | None:
    """Return the user id (UID) a certificate names, or None; raise CertificateError if malformed."""
    values = [attribute.value for attribute in cert.subject.get_attributes_for_oid(NameOID.USER_ID)]
    if not values:
        return None
    if len(values) != 1 or not isinstance(values[0], str) or not values[0].isascii() or not values[0].isdigit():
        raise CertificateError(f"{_cn(cert)} has a malformed user id")
    return int(values[0])


def certificate_pem(cert: x509.Certificate) -> str:
    """Return a certificate as PEM text."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_certificate(pem: str | bytes) -> x509.Certificate:
    """Load one PEM certificate; raise CertificateError if it is not one."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    if not isinstance(data, bytes) or data.count(b"-----BEGIN CERTIFICATE-----") != 1:
        raise CertificateError("expected exactly one PEM certificate")
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise CertificateError(f"not a certificate: {exc}") from exc


def crl_pem(crl: x509.CertificateRevocationList) -> str:
    """Return a CRL as PEM text."""
    return crl.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_crl(pem: str | bytes) -> x509.CertificateRevocationList:
    """Load one PEM CRL; raise CertificateError if it is not one."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    if not isinstance(data, bytes) or data.count(b"-----BEGIN X509 CRL-----") != 1:
        raise CertificateError("expected exactly one PEM CRL")
    try:
        return x509.load_pem_x509_crl(data)
    except ValueError as exc:
        raise CertificateError(f"not a CRL: {exc}") from exc


def utc_time(moment: datetime) -> datetime:
    """The moment in UTC; raise CertificateError for anything but an aware datetime."""
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise CertificateError("times must be timezone-aware datetimes")
    return moment.astimezone(timezone.utc)


def _start(not_before: datetime | None) -> datetime:
    # Whole seconds: certificates store no fractions, and comparisons must agree with them.
    start = datetime.now(timezone.utc) if not_before is None else utc_time(not_before)
    return start.replace(microsecond=0)


def _name(common_name: str) -> x509.Name:
    if not isinstance(common_name, str) or not common_name.strip():
        raise CertificateError("a certificate needs a non-empty common name")
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _subject_name(subject: Subject) -> x509.Name:
    if not isinstance(subject, Subject):
        raise CertificateError("subject must be a Subject")
    attributes = list(_name(subject.common_name))
    if subject.office is not None:
        if not isinstance(subject.office, str) or not subject.office:
            raise CertificateError("office must be a non-empty string")
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, subject.office))
    if subject.user_id is not None:
        if type(subject.user_id) is not int or subject.user_id < 0:
            raise CertificateError("user_id must be a non-negative integer")
        attributes.append(x509.NameAttribute(NameOID.USER_ID, str(subject.user_id)))
    return x509.Name(attributes)


def _ec_key(key: object, curves: tuple[type[ec.EllipticCurve], ...]) -> None:
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, curves):
        names = ", ".join(curve.__name__ for curve in curves)
        raise CertificateError(f"the subject key must be an ECDSA public key on {names}")


def _check_issuer(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError("the issuer key must be an ECDSA private key")
    if key.public_key() != cert.public_key():
        raise CertificateError("the issuer key does not belong to the issuer certificate")
    try:
        _check_ca(cert, 0)
    except CertificateConstraintError as exc:
        raise CertificateError(f"the issuer cannot issue: {exc}") from exc


def _ca_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer_public_key: ec.EllipticCurvePublicKey,
    path_length: int,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(_authority_key_id(issuer_public_key), critical=False)
    )


def _validity(
    builder: x509.CertificateBuilder,
    issuer: x509.Certificate,
    not_before: datetime | None,
    lifetime: timedelta,
) -> x509.CertificateBuilder:
    start = _start(not_before)
    if not issuer.not_valid_before_utc <= start < issuer.not_valid_after_utc:
        raise CertificateError("the issuer is not valid when the certificate would start")
    end = min(start + lifetime, issuer.not_valid_after_utc)
    return builder.not_valid_before(start).not_valid_after(end)


def _key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_id(public_key: ec.EllipticCurvePublicKey) -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key)


def _hash_for(key: ec.EllipticCurvePrivateKey) -> hashes.SHA256 | hashes.SHA384:
    return hashes.SHA384() if key.curve.key_size >= 384 else hashes.SHA256()


def _sign(builder: x509.CertificateBuilder, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    try:
        return builder.sign(key, _hash_for(key))
    except ValueError as exc:
        raise CertificateError(f"cannot issue: {exc}") from exc


def _cn(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return repr(names[0].value) if names else f"serial {cert.serial_number:x}"


def _self_issued(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer


def _check_anchor(root: x509.Certificate) -> None:
    if not _self_issued(root):
        raise UntrustedPathError("the root is not self-issued")
    try:
        root.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise UntrustedPathError(f"the root's self-signature does not verify: {exc}") from exc


def _check_validity(cert: x509.Certificate, at: datetime) -> None:
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise CertificateValidityError(
            f"{_cn(cert)} is valid from {cert.not_valid_before_utc.isoformat()} "
            f"to {cert.not_valid_after_utc.isoformat()}, not at {at.isoformat()}"
        )


def _check_extensions(cert: x509.Certificate) -> None:
    try:
        unhandled = [
            ext.oid.dotted_string
            for ext in cert.extensions
            if ext.critical and ext.oid not in _HANDLED_CRITICAL
        ]
    except ValueError as exc:
        raise CertificateConstraintError(f"{_cn(cert)} has malformed extensions: {exc}") from exc
    if unhandled:
        raise CertificateConstraintError(f"{_cn(cert)} has critical extensions not understood: {unhandled}")
    if not isinstance(cert.signature_hash_algorithm, _STRONG_HASHES):
        raise CertificateConstraintError(f"{_cn(cert)} is signed with a weak or unknown hash")


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except (x509.ExtensionNotFound, ValueError) as exc:
        raise CertificateConstraintError(f"{_cn(cert)} has no basic constraints") from exc


def _key_usage_of(cert: x509.Certificate) -> x509.KeyUsage:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except (x509.ExtensionNotFound, ValueError) as exc:
        raise CertificateConstraintError(f"{_cn(cert)} has no key usage") from exc


def _check_ca(cert: x509.Certificate, below: int) -> None:
    """`below` counts the CA certificates between this issuer and the end entity."""
    constraints = _basic_constraints(cert)
    if not constraints.ca:
        raise CertificateConstraintError(f"{_cn(cert)} is not a CA")
    _ec_public_key(cert)
    if constraints.path_length is not None and below > constraints.path_length:
        raise CertificateConstraintError(
            f"{_cn(cert)} allows {constraints.path_length} CAs below it, the path has {below}"
        )
    usage = _key_usage_of(cert)
    if not (usage.key_cert_sign and usage.crl_sign):
        raise CertificateConstraintError(f"{_cn(cert)} may not sign certificates and CRLs")


def _check_leaf(cert: x509.Certificate, purposes: Collection[Purpose] | None) -> None:
    if _basic_constraints(cert).ca:
        raise CertificateConstraintError(f"{_cn(cert)} is a CA and cannot sign as an end entity")
    if not _key_usage_of(cert).digital_signature:
        raise CertificateConstraintError(f"{_cn(cert)} may not make digital signatures")
    purpose = certificate_purpose(cert)
    if purposes is not None and purpose not in purposes:
        raise CertificateConstraintError(f"{_cn(cert)} is a {purpose.value} certificate")


def _crl_usable(crl: x509.CertificateRevocationList) -> bool:
    """Whether a CRL can speak for some time: well formed, nothing critical, a strong hash.

    A usable CRL speaks for every time up to its next update: if it was still current then, or
    issued later, it lists every revocation made up to that time.
    """
    try:
        critical = [ext for ext in crl.extensions if ext.critical]
    except ValueError:
        return False
    next_update = crl.next_update_utc
    return (
        next_update is not None
        and crl.last_update_utc < next_update
        and not critical
        and isinstance(crl.signature_hash_algorithm, _STRONG_HASHES)
    )


def _ec_public_key(cert: x509.Certificate) -> ec.EllipticCurvePublicKey:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, (ec.SECP256R1, ec.SECP384R1)):
        raise CertificateConstraintError(f"{_cn(cert)} does not hold an ECDSA P-256 or P-384 key")
    return key


def chain_from_pool(
    cert: x509.Certificate, pool: Iterable[x509.Certificate], root: x509.Certificate
) -> list[x509.Certificate]:
    """The CA certificates from `cert`'s issuer up to (not including) `root`, found by name in
    `pool` (e.g. the certificates a CMS signature carries); raise UntrustedPathError when the
    names do not lead to the root. Nothing is verified here: pass the chain to verify_chain_at."""
    issuers: dict[x509.Name, x509.Certificate] = {}
    for item in pool:
        if item.subject != item.issuer:
            issuers.setdefault(item.subject, item)
    chain: list[x509.Certificate] = []
    current = cert
    while current.issuer != root.subject:
        issuer = issuers.get(current.issuer)
        if issuer is None or issuer in chain or len(chain) > 8:
            raise UntrustedPathError("the certificate does not chain to the root")
        chain.append(issuer)
        current = issuer
    return chain
