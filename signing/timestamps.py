"""Trusted time: HQ's RFC 3161 time-stamping authority, and the check of the tokens it issues.

A time-stamp token (RFC 3161 2.4.2) is a CMS SignedData over a TSTInfo: the digest of what it
stamps, the TSA's clock (genTime), a serial number, the policy and the client's nonce. The
TSA signs it with an ECDSA P-256 key whose certificate, issued under the HQ root, names
id-kp-timeStamping alone in a critical extended key usage (RFC 3161 2.3). A token proves that
the stamped bytes existed at genTime: a seal stamped after its key's revocation is caught
whatever time the seal itself claims.

    token = tsa.issue(digest, "sha256")            # what the application does in-process
    reply = tsa.respond(request_der)              # what POST /tsa does: never raises
    when = verify_timestamp(token, data, root, crls)

Imports asn1crypto and cryptography only (no pyHanko: checkpoints are stamped without it).
"""

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from .errors import CertificateConstraintError, SigningError, TimestampError, UntrustedPathError
from .keys import key_id
from .pki import PathVerifier, Purpose, chain_from_pool, verify_chain_at
from .signer import Signer

__all__ = [
    "MAX_REQUEST",
    "TSA_POLICY",
    "TimestampInfo",
    "TimeStampResponse",
    "TimestampAuthority",
    "build_request",
    "read_response",
    "read_token",
    "rejection",
    "timestamp_bytes",
    "verify_timestamp",
    "verify_timestamp_digest",
]

#: HQ's time-stamp policy (RFC 3161 2.4.2 TSAPolicyId), under the project's UUID-derived arc
TSA_POLICY = "2.25.150200610082563395739167868402225337881.2.1"

#: message imprint algorithms accepted, with their digest sizes
_DIGESTS = {"sha256": 32, "sha384": 48, "sha512": 64}
#: largest request read, in bytes (a real one is under 200)
MAX_REQUEST = 4096


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class TimestampInfo:
    """What a verified token says."""

    #: when the TSA stamped (UTC, from its clock)
    time: datetime
    #: the token's serial number
    serial: int
    #: the policy the TSA stamped under (dotted OID)
    policy: str
    #: the TSA certificate that signed it
    tsa_cert: x509.Certificate
    #: the CA certificates from its issuer up to (not including) the root
    chain: tuple[x509.Certificate, ...] = ()


@dataclass(frozen=True)
class TimestampAuthority:
    """An RFC 3161 TSA: a Signer for its key, its certificate and the CAs above it (not the root)."""

    #: the TSA key (ECDSA P-256, SHA-256), behind the one Signer interface
    signer: Signer
    #: its certificate: id-kp-timeStamping, critical, alone
    cert: x509.Certificate
    #: issuer first, up to (not including) the root; sent in tokens with the certificate
    chain: tuple[x509.Certificate, ...] = ()
    #: the policy every token names
    policy: str = TSA_POLICY
    #: the clock genTime is read from (the server's; replaced only in tests)
    clock: Callable[[], datetime] = field(default=_utcnow, repr=False, compare=False)

    def __post_init__(self) -> None:
        public_key = self.cert.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or self.signer.key_id != key_id(public_key):
            raise TimestampError("the TSA's key is not its certificate's key")
        _check_tsa_usage(self.cert)

    def issue(self, digest: bytes, algorithm: str = "sha256", *, nonce: int | None = None,
              cert_req: bool = True) -> bytes:
        """A token (DER ContentInfo) over `digest`, made with `algorithm`, at the TSA's clock."""
        if _DIGESTS.get(algorithm) != len(digest):
            raise TimestampError(f"not a {algorithm} digest")
        imprint = tsp.MessageImprint({"hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
                                      "hashed_message": digest})
        return self._token(imprint, nonce, cert_req)

    def respond(self, request: bytes) -> bytes:
        """Answer a DER TimeStampReq with a DER TimeStampResp: granted, or an RFC 3161 rejection.

        Never raises for what a client sends: a malformed request is answered with
        status rejection and failInfo badDataFormat (or badAlg, unacceptedPolicy, ...).
        """
        try:
            imprint, nonce, cert_req = self._read_request(request)
        except _Rejection as refused:
            return rejection(refused.fail_info, str(refused))
        # TimeStampResp { status PKIStatusInfo { granted }, timeStampToken }
        return _tlv(0x30, b"\x30\x03\x02\x01\x00" + self._token(imprint, nonce, cert_req))

    def _read_request(self, request: bytes) -> tuple[tsp.MessageImprint, int | None, bool]:
        if not isinstance(request, bytes) or not request or len(request) > MAX_REQUEST:
            raise _Rejection("bad_data_format", "not a time-stamp request")
        try:
            req = tsp.TimeStampReq.load(request, strict=True)
            version = req["version"].native
            imprint = req["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            parameters = imprint["hash_algorithm"]["parameters"].native
            digest = imprint["hashed_message"].native
            policy = req["req_policy"].native
            nonce = req["nonce"].native
            cert_req = bool(req["cert_req"].native)
            extensions = req["extensions"].native
        except Exception as exc:  # noqa: BLE001 - asn1crypto fails on hostile DER in many ways; all mean the same
            raise _Rejection("bad_data_format", f"malformed request: {type(exc).__name__}") from None
        if version != "v1":
            raise _Rejection("bad_request", "only version 1 requests are understood")
        if algorithm not in _DIGESTS or parameters not in (None, b""):
            raise _Rejection("bad_alg", f"unsupported hash algorithm {algorithm}")
        if not isinstance(digest, bytes) or len(digest) != _DIGESTS[algorithm]:
            raise _Rejection("bad_data_format", f"the message imprint is not a {algorithm} digest")
        if policy is not None and policy != self.policy:
            raise _Rejection("unaccepted_policy", f"this TSA stamps under policy {self.policy} only")
        if extensions:
            raise _Rejection("unaccepted_extensions", "no request extensions are supported")
        if nonce is not None and not 0 <= nonce < 1 << 256:
            raise _Rejection("bad_data_format", "the nonce is out of range")
        return tsp.MessageImprint({"hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
                                   "hashed_message": digest}), nonce, cert_req

    def _token(self, imprint: tsp.MessageImprint, nonce: int | None, cert_req: bool) -> bytes:
        """The DER token. The parts that never change (certificates, names, the ESS attribute) are
        encoded once per authority; the outer SignedData is written directly: building it with
        asn1crypto re-encodes every certificate on each token."""
        static = self._static
        gen_time = self.clock().astimezone(timezone.utc)
        info = {
            "version": "v1",
            "policy": self.policy,
            "message_imprint": imprint,
            # random 159 bits, as certificate serials: unique across workers with no shared counter
            "serial_number": x509.random_serial_number(),
            "gen_time": core.GeneralizedTime(gen_time),
            "accuracy": tsp.Accuracy({"seconds": 1}),
            "tsa": asn1_x509.GeneralName.load(static.tsa_name),
        }
        if nonce is not None:
            info["nonce"] = nonce
        content = tsp.TSTInfo(info).dump()
        signed_attrs = b"".join((
            _tlv(0x30, _OID_CONTENT_TYPE + _tlv(0x31, _OID_TST_INFO)),
            _tlv(0x30, _OID_MESSAGE_DIGEST + _tlv(0x31, _tlv(0x04, hashlib.sha256(content).digest()))),
            static.ess_attribute,
        ))
        signature = self.signer.sign(_tlv(0x31, signed_attrs))
        signer_info = _tlv(0x30, b"".join((
            b"\x02\x01\x01", static.sid, _SHA256, _tlv(0xA0, signed_attrs), _SHA256_ECDSA, _tlv(0x04, signature))))
        signed_data = b"".join((
            b"\x02\x01\x03",
            _tlv(0x31, _SHA256),
            _tlv(0x30, _OID_TST_INFO + _tlv(0xA0, _tlv(0x04, content))),
            _tlv(0xA0, static.certificates) if cert_req else b"",
            _tlv(0x31, signer_info),
        ))
        return _tlv(0x30, _OID_SIGNED_DATA + _tlv(0xA0, _tlv(0x30, signed_data)))

    @property
    def _static(self) -> "_StaticParts":
        found = _STATIC.get(id(self))
        if found is None or found.owner is not self:
            found = _STATIC[id(self)] = _StaticParts.of(self)
            if len(_STATIC) > 64:
                _STATIC.clear()
                _STATIC[id(self)] = found
        return found


def _tlv(tag: int, content: bytes) -> bytes:
    """One DER element: tag, definite length, content."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


_OID_SIGNED_DATA = cms.ContentType("signed_data").dump()
_OID_TST_INFO = cms.ContentType("tst_info").dump()
_OID_CONTENT_TYPE = cms.CMSAttributeType("content_type").dump()
_OID_MESSAGE_DIGEST = cms.CMSAttributeType("message_digest").dump()
_SHA256 = algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
_SHA256_ECDSA = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}).dump()


@dataclass(frozen=True)
class _StaticParts:
    """What every token of one authority repeats, DER-encoded once."""

    owner: TimestampAuthority
    #: the TSA's name as a GeneralName (TSTInfo tsa)
    tsa_name: bytes
    #: the signing-certificate-v2 attribute (RFC 5816) naming the TSA certificate
    ess_attribute: bytes
    #: the SignerIdentifier (issuer and serial number)
    sid: bytes
    #: the TSA certificate and its chain, concatenated
    certificates: bytes

    @classmethod
    def of(cls, authority: TimestampAuthority) -> "_StaticParts":
        cert = _asn1_cert(authority.cert)
        ess = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2({
            "certs": [tsp.ESSCertIDv2({
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "cert_hash": hashlib.sha256(cert.dump()).digest(),
                "issuer_serial": {"issuer": [asn1_x509.GeneralName(name="directory_name", value=cert.issuer)],
                                  "serial_number": cert.serial_number},
            })]})]})
        sid = cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
            {"issuer": cert.issuer, "serial_number": cert.serial_number})})
        return cls(
            owner=authority,
            tsa_name=asn1_x509.GeneralName(name="directory_name", value=cert.subject).dump(),
            ess_attribute=ess.dump(),
            sid=sid.dump(),
            certificates=b"".join(item.public_bytes(serialization.Encoding.DER)
                                  for item in (authority.cert, *authority.chain)),
        )


#: static parts by authority (id, checked against the owner: ids are reused after collection)
_STATIC: dict[int, _StaticParts] = {}


class _Rejection(Exception):
    def __init__(self, fail_info: str, text: str) -> None:
        super().__init__(text)
        self.fail_info = fail_info


def rejection(fail_info: str, text: str) -> bytes:
    """A DER TimeStampResp with status rejection and one failInfo bit (asn1crypto's name, e.g.
    "bad_data_format", "bad_alg", "system_failure")."""
    status = tsp.PKIStatusInfo({"status": "rejection", "status_string": [text[:200]],
                                "fail_info": tsp.PKIFailureInfo({fail_info})})
    return TimeStampResponse({"status": status}).dump()


class TimeStampResponse(core.Sequence):
    """TimeStampResp (RFC 3161 2.4.2) as the RFC has it: the token is optional, absent from a
    rejection (asn1crypto 1.5's TimeStampResp requires one, so it cannot read rejections)."""

    _fields = [("status", tsp.PKIStatusInfo), ("time_stamp_token", cms.ContentInfo, {"optional": True})]


def build_request(digest: bytes, algorithm: str = "sha256", *, nonce: int | None = None,
                  cert_req: bool = True) -> bytes:
    """A DER TimeStampReq over a digest (what a client sends to POST /tsa)."""
    request: dict = {"version": "v1", "cert_req": cert_req, "message_imprint": {
        "hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest}}
    if nonce is not None:
        request["nonce"] = nonce
    return tsp.TimeStampReq(request).dump()


def read_response(response: bytes, *, nonce: int | None = None) -> bytes:
    """The token of a granted DER TimeStampResp; TimestampError for a rejection or a wrong nonce."""
    try:
        parsed = TimeStampResponse.load(response, strict=True)
        status = parsed["status"]["status"].native
        text = "; ".join(parsed["status"]["status_string"].native or [])
        token = parsed["time_stamp_token"]
        answered = None if token.native is None else tsp.TSTInfo.load(
            token["content"]["encap_content_info"]["content"].contents)["nonce"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampError(f"not a time-stamp response: {exc}") from exc
    if status not in ("granted", "granted_with_mods") or token.native is None:
        raise TimestampError(f"the TSA refused: {status}: {text}")
    if nonce is not None and answered != nonce:
        raise TimestampError("the TSA answered another request (nonce differs)")
    return token.dump()


def timestamp_bytes(data: bytes, tsa: TimestampAuthority) -> bytes:
    """A token (DER) over the SHA-256 of `data`, e.g. a checkpoint's text; check it with verify_timestamp."""
    if not isinstance(data, bytes):
        raise TimestampError("only bytes can be time-stamped")
    return tsa.issue(hashlib.sha256(data).digest(), "sha256")


def verify_timestamp(
    token: bytes,
    data: bytes,
    root: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    *,
    certificates: Iterable[x509.Certificate] = (),
) -> datetime:
    """Check a token over `data` and return its time (UTC); raise otherwise (fail closed).

    The token must cover the digest of `data`, be signed by a TSA certificate (id-kp-timeStamping,
    critical) chained to `root`, valid and unrevoked at the token's time by `crls` (hard fail).
    `certificates` adds CAs the token does not carry. Raises TimestampError, or the path's
    CertificatePathError (cert_revoked, revocation_unknown, ...).
    """
    if not isinstance(data, bytes):
        raise TimestampError("only bytes can be checked against a time-stamp")
    algorithm = _imprint_algorithm(token)
    return verify_timestamp_digest(token, hashlib.new(algorithm, data).digest(), root, crls,
                                   certificates=certificates).time


def verify_timestamp_digest(
    token: bytes | cms.ContentInfo,
    digest: bytes,
    root: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    *,
    certificates: Iterable[x509.Certificate] = (),
    verifier: PathVerifier | None = None,
) -> TimestampInfo:
    """As verify_timestamp, for a token over a digest already computed (with the token's algorithm).

    `verifier`, a PathVerifier over the same `root` and `crls`, saves proving the TSA's path again
    when many tokens are checked."""
    certificates = list(certificates)
    signed_data, info, tsa_cert = read_token(token, certificates=certificates)
    if info["message_imprint"]["hashed_message"].native != digest:
        raise TimestampError("the time-stamp covers other data")
    gen_time = info["gen_time"].native.astimezone(timezone.utc)
    pool = [*(_crypto_cert(item.chosen) for item in signed_data["certificates"] or ()
              if item.name == "certificate"), *certificates]
    _check_tsa_usage(tsa_cert)
    chain = chain_from_pool(tsa_cert, pool, root)
    if verifier is None:
        verify_chain_at(tsa_cert, chain, root, crls, gen_time, purposes={Purpose.TSA})
    else:
        verifier.verify(tsa_cert, chain, gen_time, purposes={Purpose.TSA})
    return TimestampInfo(time=gen_time, serial=info["serial_number"].native, policy=info["policy"].dotted,
                         tsa_cert=tsa_cert, chain=tuple(chain))


def read_token(
    token: bytes | cms.ContentInfo, *, certificates: Iterable[x509.Certificate] = ()
) -> tuple[cms.SignedData, tsp.TSTInfo, x509.Certificate]:
    """Parse a token and check its CMS signature (not the TSA's path); raise TimestampError.

    Returns the SignedData, the TSTInfo and the TSA certificate (from the token or `certificates`).
    """
    try:
        content = cms.ContentInfo.load(token, strict=True) if isinstance(token, bytes) else token
        if content["content_type"].native != "signed_data":
            raise TimestampError("a time-stamp token is a CMS SignedData")
        signed_data = content["content"]
        encapsulated = signed_data["encap_content_info"]
        if encapsulated["content_type"].native != "tst_info":
            raise TimestampError("the token does not hold a TSTInfo")
        raw = encapsulated["content"].contents
        info = tsp.TSTInfo.load(raw, strict=True)
        info.native  # parse it all now: a malformed field fails here, not later
        if info["version"].native != "v1":
            raise TimestampError("unknown TSTInfo version")
        if info["gen_time"].native.tzinfo is None:
            raise TimestampError("the token's time names no time zone (RFC 3161 requires UTC)")
        if info["message_imprint"]["hash_algorithm"]["algorithm"].native not in _DIGESTS:
            raise TimestampError("the token's message imprint uses an unsupported hash")
        signer_infos = signed_data["signer_infos"]
        if len(signer_infos) != 1:
            raise TimestampError("a time-stamp token has exactly one signer")
        signer_info = signer_infos[0]
        candidates = [item.chosen for item in signed_data["certificates"] or () if item.name == "certificate"]
        candidates.extend(_asn1_cert(item) for item in certificates)
        cert = _signer_cert(signer_info, candidates)
        _check_signature(signer_info, raw, cert)
    except SigningError:
        raise
    except Exception as exc:  # noqa: BLE001 - asn1crypto fails on hostile DER in many ways; fail closed
        raise TimestampError(f"malformed time-stamp token: {type(exc).__name__}: {exc}") from exc
    return signed_data, info, _crypto_cert(cert)


def _imprint_algorithm(token: bytes) -> str:
    try:
        content = cms.ContentInfo.load(token, strict=True)
        raw = content["content"]["encap_content_info"]["content"].contents
        algorithm = tsp.TSTInfo.load(raw)["message_imprint"]["hash_algorithm"]["algorithm"].native
    except Exception as exc:  # noqa: BLE001 - as in read_token
        raise TimestampError(f"malformed time-stamp token: {type(exc).__name__}: {exc}") from exc
    if algorithm not in _DIGESTS:
        raise TimestampError("the token's message imprint uses an unsupported hash")
    return algorithm


def _signer_cert(signer_info: cms.SignerInfo, candidates: list[asn1_x509.Certificate]) -> asn1_x509.Certificate:
    sid = signer_info["sid"]
    for cert in candidates:
        if sid.name == "issuer_and_serial_number":
            if cert.issuer == sid.chosen["issuer"] and cert.serial_number == sid.chosen["serial_number"].native:
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    raise TimestampError("the token names a TSA certificate it does not carry")


def _check_signature(signer_info: cms.SignerInfo, content: bytes, cert: asn1_x509.Certificate) -> None:
    digest_algorithm = signer_info["digest_algorithm"]["algorithm"].native
    if digest_algorithm not in _DIGESTS:
        raise TimestampError(f"unsupported digest algorithm {digest_algorithm}")
    attributes = signer_info["signed_attrs"]
    if not attributes:
        raise TimestampError("the token has no signed attributes")
    # the bytes as received, taken before reading the values (asn1crypto re-encodes what was read)
    signed_bytes = _as_set(attributes.dump())
    found: dict[str, list] = {}
    for attribute in attributes:
        name = attribute["type"].native
        if name in found:
            raise TimestampError(f"the signed attribute {name} appears twice")
        found[name] = list(attribute["values"])
    if [value.native for value in found.get("content_type", [])] != ["tst_info"]:
        raise TimestampError("the signed content type is not TSTInfo")
    if [value.native for value in found.get("message_digest", [])] != [hashlib.new(digest_algorithm, content).digest()]:
        raise TimestampError("the token's TSTInfo does not match its signed digest")
    _check_ess(found, cert)
    signature_algorithm = signer_info["signature_algorithm"]
    crypto_cert = _crypto_cert(cert)
    public_key = crypto_cert.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise TimestampError("the TSA certificate does not hold an ECDSA key")
    hash_name = signature_algorithm.hash_algo if signature_algorithm.signature_algo == "ecdsa" else None
    if hash_name not in _DIGESTS:
        raise TimestampError(f"unsupported signature algorithm {signature_algorithm['algorithm'].native}")
    try:
        public_key.verify(signer_info["signature"].native, signed_bytes,
                          ec.ECDSA({"sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
                                    "sha512": hashes.SHA512()}[hash_name]))
    except InvalidSignature as exc:
        raise TimestampError("the token's signature does not verify with the TSA certificate") from exc


def _check_ess(found: dict[str, list], cert: asn1_x509.Certificate) -> None:
    """The signed ESS signing-certificate attribute names the certificate that signed (RFC 3161 2.4.1)."""
    if "signing_certificate_v2" in found:
        (value,) = found["signing_certificate_v2"]
        first = value["certs"][0]
        algorithm = first["hash_algorithm"]["algorithm"].native
        if algorithm not in _DIGESTS:
            raise TimestampError("unsupported ESS certificate hash")
        expected = hashlib.new(algorithm, cert.dump()).digest()
    elif "signing_certificate" in found:
        (value,) = found["signing_certificate"]
        first = value["certs"][0]
        expected = hashlib.sha1(cert.dump()).digest()  # noqa: S324 - ESS v1 names certificates by SHA-1
    else:
        raise TimestampError("the token does not name its signing certificate")
    if first["cert_hash"].native != expected:
        raise TimestampError("the token's signing certificate attribute names another certificate")


def _check_tsa_usage(cert: x509.Certificate) -> None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except (x509.ExtensionNotFound, ValueError) as exc:
        raise CertificateConstraintError("the TSA certificate names no extended key usage") from exc
    if not usage.critical or list(usage.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise CertificateConstraintError("a TSA certificate names id-kp-timeStamping alone, critical")


def _as_set(attributes: bytes) -> bytes:
    """Signed attributes are signed as a SET OF (RFC 5652 5.4), not with their [0] tag."""
    return b"\x31" + attributes[1:]


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _crypto_cert(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())
