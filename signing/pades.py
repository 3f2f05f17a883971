"""PAdES seals on PDFs with pyHanko, and their offline validation from the HQ root alone.

A seal is one invisible signature (PAdES, SHA-256, ECDSA P-256) whose CMS carries the seal's
chain and a signature time-stamp from HQ's time-stamping authority (RFC 3161). The revision
after it holds the document security store (the certificates and the CRL of every CA on the
paths of the seal and of the TSA) and a document time-stamp over it all (PAdES B-LTA);
add_archive_timestamp adds a newer one, with current CRLs, before the TSA's certificate expires.
The PDF validates with nothing but the root certificate and no network.

The time a seal is judged at is the time-stamp's, never the time the signer states: a seal
made with a key after its revocation is rejected whatever signing time it claims, and a seal
key revoked later leaves earlier seals valid, as with records.
"""

import asyncio
import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from asn1crypto import algos as asn1_algos
from asn1crypto import cms as asn1_cms
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils.generic import ArrayObject, DictionaryObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError as PyHankoPdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    EmbeddedPdfSignature,
    SignatureCoverageLevel,
    validate_pdf_signature,
)
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleCertificateStore

from .errors import (
    AttachmentError,
    CertificatePathError,
    PdfSignatureError,
    PdfUnreadableError,
    SigningError,
    TimestampError,
)
from .keys import key_id
from .pki import PURPOSE_OIDS, PathVerifier, Purpose, chain_from_pool, verify_chain_at
from .signer import Signer
from .timestamps import TimestampAuthority, TimestampInfo, read_token, verify_timestamp, verify_timestamp_digest

__all__ = ["LocalTimeStamper", "PdfValidation", "SealOptions", "add_archive_timestamp", "sign_pdf",
           "signed_attachment", "validate_pdf"]

# Every certificate on the path needs its issuer's CRL ("require", not pyHanko's
# "hard-fail", which skips certificates that name no distribution point). A CRL issued
# after the signing time still speaks for it, since it lists every earlier revocation.
_REVOCATION = CertRevTrustPolicy(
    RevocationCheckingPolicy(RevocationCheckingRule.CRL_REQUIRED, RevocationCheckingRule.CRL_REQUIRED),
    retroactive_revinfo=True,
)
_KEY_USAGE = {"digital_signature", "non_repudiation"}
_USAGE_CONSTRAINTS = KeyUsageConstraints(
    key_usage=_KEY_USAGE,
    match_all_key_usages=True,
    extd_key_usage={PURPOSE_OIDS[Purpose.SEAL].dotted_string},
)
_UNMODIFIED = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES)
# What pyHanko, asn1crypto and zlib raise on a damaged file: broken objects, numbers that do not
# parse (decimal), streams that do not inflate, unknown filters, structures nested past Python's
# recursion limit, objects of the wrong type (pyHanko asserts the type of the document catalog).
_READ_ERRORS = (PyHankoPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, ArithmeticError,
                zlib.error, NotImplementedError, RecursionError, AssertionError)
_MAX_TREE_NODES = 10_000


@dataclass(frozen=True)
class SealOptions:
    """What a seal says about itself besides the certificate."""

    #: Name of the invisible signature field.
    field_name: str = "seal"
    #: /Reason of the signature, e.g. "License certificate".
    reason: str | None = None
    #: /Location, e.g. the office's city.
    location: str | None = None
    #: /Name, when it should differ from the certificate's common name.
    signer_name: str | None = None


@dataclass(frozen=True)
class PdfValidation:
    """The outcome of validate_pdf; only `ok` means the seal holds."""

    #: The signed byte ranges hash to the digest the signature covers.
    intact: bool
    #: The signature verifies with the signer certificate's key.
    valid: bool
    #: The signer is a seal certificate chained to the root, unrevoked at the time-stamp's time,
    #: and the time-stamp is from a TSA chained to the root.
    trusted: bool
    #: Nothing but validation data and document time-stamps were added after signing.
    unmodified: bool
    #: Common name of the signer certificate.
    signer_common_name: str
    #: Signing time the signer states (UTC): a claim, not evidence; see `timestamp_time`.
    signing_time: datetime
    #: Names of the files embedded in the signed revision.
    attachments: tuple[str, ...]
    #: Machine codes, one per failed check; empty when ok.
    problems: tuple[str, ...]
    #: Time of the signature time-stamp (UTC), the time the seal is judged at; None without one.
    timestamp_time: datetime | None = None
    #: Times of the document time-stamps after the seal (PAdES B-LTA), oldest first.
    archive_timestamps: tuple[datetime, ...] = ()

    @property
    def ok(self) -> bool:
        """True only when the PDF is intact, validly signed, time-stamped, trusted and unmodified."""
        return (self.intact and self.valid and self.trusted and self.unmodified and not self.problems
                and self.timestamp_time is not None)


#: bytes of a seal's CMS besides its certificates and time-stamp token: signed attributes (signing
#: time, digest, the signing certificate's hash), the ECDSA signature, structure; a few hundred in practice
_CMS_MARGIN = 2048
#: slack over a measured time-stamp token: serial, nonce, time and signature vary by a few bytes
_TOKEN_MARGIN = 256
#: the name of the n-th document time-stamp's field
_ARCHIVE_FIELD = "archive-{}"


class LocalTimeStamper(TimeStamper):
    """pyHanko's TimeStamper over a TimestampAuthority in this process: the same RFC 3161
    request and response as POST /tsa, without the HTTP round trip."""

    def __init__(self, authority: TimestampAuthority) -> None:
        super().__init__(include_nonce=True)
        self.authority = authority

    async def async_request_tsa_response(self, req: Any) -> Any:
        """Answer the request with the authority (pyHanko checks status and nonce)."""
        from asn1crypto import tsp

        return tsp.TimeStampResp.load(self.authority.respond(req.dump()))


class _Recorder(TimeStamper):
    """Passes requests to another TimeStamper and keeps the tokens it returns."""

    def __init__(self, inner: TimeStamper) -> None:
        super().__init__()
        self.inner = inner
        self.tokens: list[asn1_cms.ContentInfo] = []

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> asn1_cms.ContentInfo:
        token = await self.inner.async_timestamp(message_digest, md_algorithm)
        self.tokens.append(token)
        return token

    async def async_dummy_response(self, md_algorithm: str) -> asn1_cms.ContentInfo:
        return await self.inner.async_dummy_response(md_algorithm)


#: one LocalTimeStamper per authority: it keeps the size of a token, measured once
_LOCAL: dict[int, LocalTimeStamper] = {}


def _stamper(timestamper: TimeStamper | TimestampAuthority) -> TimeStamper:
    if isinstance(timestamper, TimestampAuthority):
        local = _LOCAL.get(id(timestamper))
        if local is None or local.authority is not timestamper:
            if len(_LOCAL) > 64:
                _LOCAL.clear()
            local = _LOCAL[id(timestamper)] = LocalTimeStamper(timestamper)
        return local
    if isinstance(timestamper, TimeStamper):
        return timestamper
    raise PdfSignatureError("a seal needs a time-stamping authority")


def sign_pdf(
    pdf: bytes,
    *,
    signer: Signer,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    root: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    timestamper: TimeStamper | TimestampAuthority,
    options: SealOptions = SealOptions(),
) -> bytes:
    """Seal PDF bytes (PAdES B-LTA, invisible field) with a seal key, time-stamped, with its validation data.

    `chain` runs from the seal's issuer up to, not including, `root`; `crls` holds a current
    CRL of every CA on the paths of the seal and of the TSA (others are ignored and not
    embedded). `timestamper` is HQ's TimestampAuthority (in process) or any pyHanko TimeStamper
    (e.g. an HTTP client of POST /tsa). The seal's path is checked before signing, the signature
    with the seal's public key after, the time-stamp's signature and its TSA's path once it
    arrives; a full validation of the result (validate_pdf) is left to whoever receives the PDF.
    """
    now = datetime.now(timezone.utc)
    verifier = PathVerifier(root, crls)  # the seal's path and the TSA's share the root's and CRLs' checks
    verifier.verify(cert, chain, now, purposes={Purpose.SEAL})
    public_key = cert.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or signer.key_id != key_id(public_key):
        raise PdfSignatureError("the signer's key is not the seal certificate's key")
    metadata = signers.PdfSignatureMetadata(
        field_name=options.field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=options.reason,
        location=options.location,
        name=options.signer_name,
        signer_key_usage=set(_KEY_USAGE),
    )
    stamper = _Recorder(_stamper(timestamper))
    output = io.BytesIO()
    try:
        # Room for the CMS (hex): its certificates, the time-stamp token as the TSA makes them, and a
        # margin. Without it pyHanko signs a dummy CMS first to measure one, doubling the signing work.
        token_size = len(asyncio.run(stamper.async_dummy_response("sha256")).dump()) + _TOKEN_MARGIN
        certificates = sum(len(item.public_bytes(serialization.Encoding.DER)) for item in (cert, *chain, root))
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=True)
        signers.sign_pdf(writer, metadata, signer=_SealSigner(signer, cert, [*chain, root]), output=output,
                         timestamper=stamper, bytes_reserved=2 * (certificates + token_size + _CMS_MARGIN))
        (token,) = stamper.tokens
        tsa_cert, tsa_chain = _check_tsa(token, root, crls, verifier, stamper.inner)
        # The paths and their CRLs, as the DSS of the revision after the signature (PAdES B-LT), written
        # from what was checked above: pyHanko's own embedding would validate the paths again.
        path = {item.public_bytes(serialization.Encoding.DER): item for item in (cert, *chain, tsa_cert, *tsa_chain, root)}
        names = _names(root, [*chain, *tsa_chain])
        return _document_timestamp(output, stamper, root, crls, token_size, 1, list(path.values()),
                                   [item for item in crls if item.issuer in names], verifier)
    except TimestampError as exc:
        raise PdfSignatureError(f"cannot time-stamp the seal: {exc}") from exc
    except (*_READ_ERRORS, OSError) as exc:
        raise PdfSignatureError(f"cannot seal the PDF: {exc}") from exc


def add_archive_timestamp(
    pdf: bytes,
    *,
    root: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    timestamper: TimeStamper | TimestampAuthority,
) -> bytes:
    """Extend a sealed PDF that validates with a fresh document time-stamp (PAdES B-LTA renewal).

    One revision adds to the DSS the certificates of every time-stamp and the seal, and the CRLs in
    `crls` (current ones) of the CAs on their paths, and the new time-stamp covering the whole file,
    so the older time-stamps can be proved after their TSA certificate expires. Raises
    PdfSignatureError when the PDF does not validate against `root` and `crls` first.
    """
    result = validate_pdf(pdf, root=root, crls=crls)
    if not result.ok:
        raise PdfSignatureError(f"the PDF does not validate: {', '.join(result.problems) or 'no time-stamp'}")
    reader, seal, stamps = _read(pdf)
    pool: dict[bytes, x509.Certificate] = {}
    for signature in (seal, *stamps):
        for item in (signature.signer_cert, *signature.other_embedded_certs):
            pool[item.dump()] = _crypto_cert(item)
    for token in _signature_tokens(seal):
        for item in token["content"]["certificates"] or ():
            if item.name == "certificate":
                pool[item.chosen.dump()] = _crypto_cert(item.chosen)
    pool[root.public_bytes(serialization.Encoding.DER)] = root
    names = {item.subject for item in pool.values() if item.subject != item.issuer} | {root.subject}
    stamper = _Recorder(_stamper(timestamper))
    output = io.BytesIO(pdf)
    output.seek(0, io.SEEK_END)
    try:
        token_size = len(asyncio.run(stamper.async_dummy_response("sha256")).dump()) + _TOKEN_MARGIN
        return _document_timestamp(output, stamper, root, crls, token_size, len(stamps) + 1, list(pool.values()),
                                   [item for item in crls if item.issuer in names])
    except TimestampError as exc:
        raise PdfSignatureError(f"cannot time-stamp the PDF: {exc}") from exc
    except (*_READ_ERRORS, OSError) as exc:
        raise PdfSignatureError(f"cannot extend the PDF: {exc}") from exc


def _document_timestamp(output: io.BytesIO, stamper: "_Recorder", root: x509.Certificate,
                        crls: Sequence[x509.CertificateRevocationList], token_size: int, number: int,
                        dss_certs: Sequence[x509.Certificate], dss_crls: Sequence[x509.CertificateRevocationList],
                        verifier: PathVerifier | None = None) -> bytes:
    """Add, in one revision, the validation data to the DSS and a document time-stamp (ISO 32000-2
    /DocTimeStamp) over everything before it and that DSS, as pyHanko's own LTA update does."""
    before = len(stamper.tokens)
    writer = IncrementalPdfFileWriter(output, strict=True)
    DocumentSecurityStore.supply_dss_in_writer(writer, None, certs=[_asn1_cert(item) for item in dss_certs],
                                               crls=[_asn1_crl(item) for item in dss_crls])
    stamped = io.BytesIO()
    signers.PdfTimeStamper(stamper, field_name=_ARCHIVE_FIELD.format(number)).timestamp_pdf(
        writer, "sha256", bytes_reserved=2 * token_size, output=stamped)
    for token in stamper.tokens[before:]:
        _check_tsa(token, root, crls, verifier, stamper.inner)
    return stamped.getvalue()


def _check_tsa(token: asn1_cms.ContentInfo, root: x509.Certificate,
               crls: Sequence[x509.CertificateRevocationList], verifier: PathVerifier | None = None,
               source: TimeStamper | None = None) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
    """The TSA certificate of a token just received and its chain: the token's signature checked,
    and the TSA's path at the token's time. A token this process's own authority made is not parsed
    back: its path is checked now, as the token's time is now."""
    if isinstance(source, LocalTimeStamper) and verifier is not None:
        authority = source.authority
        verifier.verify(authority.cert, authority.chain, datetime.now(timezone.utc), purposes={Purpose.TSA})
        return authority.cert, authority.chain
    imprint = read_token(token)[1]["message_imprint"]["hashed_message"].native
    stamped = verify_timestamp_digest(token, imprint, root, crls, verifier=verifier)
    return stamped.tsa_cert, stamped.chain


def _names(root: x509.Certificate, chain: Sequence[x509.Certificate]) -> set[x509.Name]:
    return {root.subject, *(item.subject for item in chain)}


def validate_pdf(
    pdf: bytes, *, root: x509.Certificate, crls: Sequence[x509.CertificateRevocationList] = ()
) -> PdfValidation:
    """Validate the one seal of a PDF offline against `root`, with its embedded CRLs plus `crls`.

    The seal must carry a signature time-stamp from a TSA chained to `root`; the seal's
    certificate is judged at the time-stamp's time (hard-fail revocation), whatever signing time
    the seal states. Document time-stamps after it are checked too. Raises PdfSignatureError
    when the PDF is unreadable or does not hold exactly one seal (and document time-stamps), or
    when some part cannot be evaluated at all (fail closed).
    """
    reader, seal, stamps = _read(pdf)
    try:
        return _validate(reader, seal, stamps, root, crls)
    except SigningError:
        raise
    except Exception as exc:  # noqa: BLE001 - a signature or token too malformed to judge is not valid
        raise PdfSignatureError(f"cannot evaluate the signature: {type(exc).__name__}: {exc}") from exc


def _validate(reader: PdfFileReader, seal: EmbeddedPdfSignature, stamps: Sequence[EmbeddedPdfSignature],
              root: x509.Certificate, crls: Sequence[x509.CertificateRevocationList]) -> PdfValidation:
    signing_time = seal.self_reported_timestamp
    if signing_time is None:
        raise PdfSignatureError("the signature states no signing time")
    signing_time = signing_time.astimezone(timezone.utc)
    try:
        store = DocumentSecurityStore.read_dss(reader)
        stored_certs = list(store.load_certs())
        stored_crls = [x509.load_der_x509_crl(ref.get_object().data) for ref in store.crls]
    except NoDSSFoundError:
        store, stored_certs, stored_crls = None, [], []
    except _READ_ERRORS as exc:
        raise PdfSignatureError(f"unreadable document security store: {exc}") from exc
    all_crls = [*crls, *stored_crls]
    pool = [*seal.other_embedded_certs, *stored_certs]
    problems = []
    timestamp_time = None
    try:
        tokens = _signature_tokens(seal)
    except _READ_ERRORS:
        tokens = None
    if not tokens:
        problems.append("timestamp_missing" if tokens == [] else "timestamp_invalid")
    elif len(tokens) > 1:
        problems.append("timestamp_invalid")
    else:
        timestamp_time, problem = _timestamp_time(tokens[0].dump(), seal.signer_info["signature"].native, root,
                                                  all_crls, pool)
        if problem:
            problems.append(problem)
    # judged at the time-stamp's time; without a valid one, at the time stated (and it fails anyway)
    moment = timestamp_time or signing_time
    settings: dict[str, Any] = {
        "trust_roots": [_asn1_cert(root)],
        "crls": [_asn1_crl(item) for item in crls],
        "allow_fetching": False,
        "revinfo_policy": _REVOCATION,
        "moment": moment,
    }
    try:
        context = store.as_validation_context(settings) if store else ValidationContext(**settings)
        status = validate_pdf_signature(seal, context, key_usage_settings=_USAGE_CONSTRAINTS)
        attachments = tuple(_attachments(reader, seal))
        signer_cert = _crypto_cert(seal.signer_cert)
        # pyHanko's verdict and ours on the same path must both trust the seal; ours names
        # the reason.
        own_problem = _own_trust_problem(signer_cert, pool, root, all_crls, moment)
        archive_times, archive_problems = _archive_times(stamps, root, all_crls, pool)
    except _READ_ERRORS as exc:
        raise PdfSignatureError(f"cannot evaluate the signature: {exc}") from exc
    problems = [*(["pdf_digest_mismatch"] if not status.intact else []),
                *(["pdf_bad_signature"] if not status.valid else []), *problems]
    trusted = own_problem is None and bool(status.trusted) and timestamp_time is not None
    if own_problem:
        problems.append(own_problem)
    elif not status.trusted and status.intact and status.valid:
        # pyHanko judges no trust for a broken signature, which is reported above.
        problems.append("cert_untrusted")
    problems.extend(archive_problems)
    unmodified = (status.coverage == SignatureCoverageLevel.ENTIRE_FILE or (
        status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
        and status.modification_level in _UNMODIFIED
    )) and _revisions_accounted_for(reader, seal, stamps)
    if not unmodified:
        problems.append("pdf_modified")
    return PdfValidation(
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=trusted,
        unmodified=unmodified,
        signer_common_name=_common_name(signer_cert),
        signing_time=signing_time,
        attachments=attachments,
        problems=tuple(problems),
        timestamp_time=timestamp_time,
        archive_timestamps=archive_times,
    )


def _signature_tokens(seal: EmbeddedPdfSignature) -> list[asn1_cms.ContentInfo]:
    """The signature time-stamp tokens in the seal's unsigned attributes."""
    attributes = seal.signer_info["unsigned_attrs"]
    found = []
    for attribute in attributes or ():
        if attribute["type"].native == "signature_time_stamp_token":
            found.extend(attribute["values"])
    return found


def _timestamp_time(token: bytes, stamped: bytes, root: x509.Certificate,
                    crls: Sequence[x509.CertificateRevocationList],
                    pool: Sequence[asn1_x509.Certificate]) -> tuple[datetime | None, str | None]:
    """The time of a token over `stamped`, or the problem found (its TSA's path codes prefixed)."""
    try:
        return verify_timestamp(token, stamped, root, crls, certificates=[_crypto_cert(item) for item in pool]), None
    except CertificatePathError as exc:
        return None, f"timestamp_{exc.code}"
    except SigningError:
        return None, "timestamp_invalid"


def _revisions_accounted_for(reader: PdfFileReader, seal: EmbeddedPdfSignature,
                             stamps: Sequence[EmbeddedPdfSignature]) -> bool:
    """Every revision after the seal is a recognized document time-stamp or the validation-data
    revision before one (sealing and re-time-stamping write a DSS revision, then a time-stamp), and
    the file ends with a time-stamp: a revision no check recognizes (a damaged time-stamp, anything
    appended) means the file changed after it was sealed."""
    after = reader.xrefs.total_revisions - 1 - seal.signed_revision
    if after == 0:
        return True
    return bool(stamps) and after <= 2 * len(stamps) and stamps[-1].signed_revision == reader.xrefs.total_revisions - 1


def _archive_times(stamps: Sequence[EmbeddedPdfSignature], root: x509.Certificate,
                   crls: Sequence[x509.CertificateRevocationList],
                   pool: Sequence[asn1_x509.Certificate]) -> tuple[tuple[datetime, ...], list[str]]:
    """Each document time-stamp covers the file up to it and comes from a TSA under the root at its time."""
    times: list[datetime] = []
    problems: list[str] = []
    certificates = [_crypto_cert(item) for item in pool]
    for stamp in stamps:
        try:
            digest = stamp.compute_digest(stamp.external_md_algorithm)
            # the /Contents string is zero-padded after the token
            token = asn1_cms.ContentInfo.load(stamp.pkcs7_content)
            info: TimestampInfo = verify_timestamp_digest(token, digest, root, crls,
                                                          certificates=certificates)
        except CertificatePathError as exc:
            problems.append(f"archive_timestamp_{exc.code}")
            continue
        except Exception:  # noqa: BLE001 - any other failure: the time-stamp proves nothing
            problems.append("archive_timestamp_invalid")
            continue
        if stamp.evaluate_signature_coverage() < SignatureCoverageLevel.ENTIRE_REVISION or (
                times and info.time < times[-1]):
            problems.append("archive_timestamp_invalid")
            continue
        times.append(info.time)
    return tuple(times), sorted(set(problems))


def signed_attachment(pdf: bytes, name: str) -> bytes:
    """Return an embedded file of the PDF's signed revision (validate_pdf it first); raise PdfSignatureError."""
    reader, seal, _ = _read(pdf)
    try:
        files = _attachments(reader, seal)
    except _READ_ERRORS as exc:
        raise PdfSignatureError(f"cannot read the attachments: {exc}") from exc
    if name not in files:
        raise AttachmentError(f"the signed revision has no attachment {name!r}")
    return files[name]


class _SealSigner(signers.Signer):
    """pyHanko's signer interface over our Signer, so key custody stays behind one interface."""

    def __init__(self, signer: Signer, cert: x509.Certificate, chain: Sequence[x509.Certificate]) -> None:
        super().__init__(
            signing_cert=_asn1_cert(cert),
            cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
                [_asn1_cert(item) for item in chain]
            ),
            signature_mechanism=asn1_algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
        )
        self._signer = signer
        self._public_key = cert.public_key()

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        """Return the DER ECDSA-SHA256 signature of `data` from our Signer."""
        if digest_algorithm != "sha256":
            raise PdfSignatureError(f"seals use SHA-256, not {digest_algorithm}")
        signature = self._signer.sign(data)
        if not dry_run:
            # a faulty or remote signer must not get an unverifiable seal out
            try:
                self._public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature as exc:
                raise PdfSignatureError("the seal signature does not verify with the seal certificate") from exc
        return signature


def _read(pdf: bytes) -> tuple[PdfFileReader, EmbeddedPdfSignature, list[EmbeddedPdfSignature]]:
    """The reader, the one seal, and the document time-stamps after it (oldest first)."""
    if not isinstance(pdf, bytes) or not pdf.startswith(b"%PDF-"):
        raise PdfSignatureError("not a PDF")
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=True)
        found = sorted(reader.embedded_signatures, key=lambda item: item.signed_revision)
        kinds = [item.sig_object_type for item in found]
    except _READ_ERRORS as exc:
        raise PdfUnreadableError(f"unreadable PDF: {exc}") from exc
    if not found or kinds[0] != "/Sig" or any(kind != "/DocTimeStamp" for kind in kinds[1:]):
        raise PdfSignatureError(f"expected exactly one seal and document time-stamps after it, found {kinds}")
    return reader, found[0], found[1:]


def _attachments(reader: PdfFileReader, seal: EmbeddedPdfSignature) -> dict[str, bytes]:
    """Embedded files by name, as of the signed revision (later additions are not signed).

    Raises AttachmentError when the tree or a file's stream cannot be read or decoded.
    """
    try:
        return _embedded_files(reader, seal)
    except _READ_ERRORS as exc:
        raise AttachmentError(f"cannot read the embedded files: {exc}") from exc


def _embedded_files(reader: PdfFileReader, seal: EmbeddedPdfSignature) -> dict[str, bytes]:
    catalog = reader.get_historical_root(seal.signed_revision)
    try:
        pending = [catalog["/Names"]["/EmbeddedFiles"]]
    except KeyError:
        return {}
    files: dict[str, bytes] = {}
    visited = 0
    while pending:
        node = pending.pop()
        visited += 1
        if not isinstance(node, DictionaryObject) or visited > _MAX_TREE_NODES:
            raise AttachmentError("malformed embedded file tree")
        pending.extend(node["/Kids"] if "/Kids" in node else ())
        pairs = node["/Names"] if "/Names" in node else ArrayObject()
        for index in range(0, len(pairs) - 1, 2):
            name = str(pairs[index])
            if name in files:
                raise AttachmentError(f"attachment {name!r} appears twice")
            files[name] = pairs[index + 1]["/EF"]["/F"].data
    return files


def _own_trust_problem(
    signer_cert: x509.Certificate,
    pool: Sequence[asn1_x509.Certificate],
    root: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    at: datetime,
) -> str | None:
    """Rebuild the path from the embedded certificates and run our own check on it."""
    try:
        chain = chain_from_pool(signer_cert, [_crypto_cert(item) for item in pool], root)
        verify_chain_at(signer_cert, chain, root, crls, at, purposes={Purpose.SEAL})
    except CertificatePathError as exc:
        return exc.code
    return None


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _asn1_crl(crl: x509.CertificateRevocationList) -> asn1_crl.CertificateList:
    return asn1_crl.CertificateList.load(crl.public_bytes(serialization.Encoding.DER))


def _crypto_cert(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())
