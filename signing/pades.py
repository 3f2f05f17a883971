"""PAdES seals on PDFs with pyHanko, and their offline validation from the HQ root alone.

A seal is one invisible signature (PAdES, SHA-256, ECDSA P-256) whose CMS carries the
seal's chain and whose document security store carries the CRL of every CA on its path, so the PDF
validates with nothing but the root certificate and no network (B-LT without a time
stamp). There is no time-stamp authority, so the seal is judged at the signing time it
states: a seal key revoked later leaves earlier seals valid, as with records.
"""

import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from asn1crypto import algos as asn1_algos
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

from .errors import AttachmentError, CertificatePathError, PdfSignatureError, PdfUnreadableError
from .keys import key_id
from .pki import PURPOSE_OIDS, Purpose, verify_chain_at
from .signer import Signer

__all__ = ["PdfValidation", "SealOptions", "sign_pdf", "signed_attachment", "validate_pdf"]

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
    #: The signer is a seal certificate chained to the root, unrevoked at signing time.
    trusted: bool
    #: Nothing but validation data was added after signing.
    unmodified: bool
    #: Common name of the signer certificate.
    signer_common_name: str
    #: Signing time stated in the signature (UTC).
    signing_time: datetime
    #: Names of the files embedded in the signed revision.
    attachments: tuple[str, ...]
    #: Machine codes, one per failed check; empty when ok.
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True only when the PDF is intact, validly signed, trusted and unmodified."""
        return self.intact and self.valid and self.trusted and self.unmodified and not self.problems


#: bytes of a seal's CMS besides its certificates: signed attributes (signing time, digest, the
#: signing certificate's hash), the ECDSA signature, structure; a few hundred in practice
_CMS_MARGIN = 2048


def sign_pdf(
    pdf: bytes,
    *,
    signer: Signer,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    root: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    options: SealOptions = SealOptions(),
) -> bytes:
    """Seal PDF bytes (PAdES, invisible field) with a seal key, embedding its chain and CRLs.

    `chain` runs from the seal's issuer up to, not including, `root`; `crls` holds a current
    CRL of every CA on the path (others are ignored and not embedded). The seal's path is checked before signing and the signature
    with the seal's public key after; a full validation of the result (validate_pdf, several
    times the cost of the signature) is left to whoever receives the PDF.
    """
    now = datetime.now(timezone.utc)
    # only the CRLs of the CAs on the seal's path matter (and are embedded): not every CA's
    path_names = {root.subject, *(item.subject for item in chain)}
    crls = [crl for crl in crls if crl.issuer in path_names]
    verify_chain_at(cert, chain, root, crls, now, purposes={Purpose.SEAL})
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
    output = io.BytesIO()
    # Room for the CMS (hex): its certificates and a margin for the attributes and the signature.
    # Without it pyHanko signs a dummy CMS first to measure one, which doubles the signing work.
    certificates = sum(len(item.public_bytes(serialization.Encoding.DER)) for item in (cert, *chain, root))
    reserved = 2 * (certificates + _CMS_MARGIN)
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=True)
        signers.sign_pdf(writer, metadata, signer=_SealSigner(signer, cert, [*chain, root]), output=output,
                         bytes_reserved=reserved)
        # The path and its CRLs, as the DSS of a revision after the signature (PAdES B-LT), written
        # from what was checked above: pyHanko's own embedding would validate the path again.
        DocumentSecurityStore.add_dss(output, sig_contents=None,
                                      certs=[_asn1_cert(item) for item in (cert, *chain, root)],
                                      crls=[_asn1_crl(item) for item in crls], force_write=True)
    except _READ_ERRORS as exc:
        raise PdfSignatureError(f"cannot seal the PDF: {exc}") from exc
    return output.getvalue()


def validate_pdf(
    pdf: bytes, *, root: x509.Certificate, crls: Sequence[x509.CertificateRevocationList] = ()
) -> PdfValidation:
    """Validate the one seal of a PDF offline against `root`, with its embedded CRLs plus `crls`.

    Raises PdfSignatureError when the PDF is unreadable or does not hold exactly one signature.
    """
    reader, seal = _read(pdf)
    signing_time = seal.self_reported_timestamp
    if signing_time is None:
        raise PdfSignatureError("the signature states no signing time")
    signing_time = signing_time.astimezone(timezone.utc)
    try:
        store = DocumentSecurityStore.read_dss(reader)
        stored_certs = list(store.load_certs())
    except NoDSSFoundError:
        store, stored_certs = None, []
    settings: dict[str, Any] = {
        "trust_roots": [_asn1_cert(root)],
        "crls": [_asn1_crl(item) for item in crls],
        "allow_fetching": False,
        "revinfo_policy": _REVOCATION,
        "moment": signing_time,
    }
    try:
        context = store.as_validation_context(settings) if store else ValidationContext(**settings)
        status = validate_pdf_signature(seal, context, key_usage_settings=_USAGE_CONSTRAINTS)
        attachments = tuple(_attachments(reader, seal))
        signer_cert = _crypto_cert(seal.signer_cert)
        # pyHanko's verdict and ours on the same path must both trust the seal; ours names
        # the reason.
        pool = [*seal.other_embedded_certs, *stored_certs]
        own_problem = _own_trust_problem(signer_cert, pool, root, _context_crls(context), signing_time)
    except _READ_ERRORS as exc:
        raise PdfSignatureError(f"cannot evaluate the signature: {exc}") from exc
    problems = []
    if not status.intact:
        problems.append("pdf_digest_mismatch")
    if not status.valid:
        problems.append("pdf_bad_signature")
    trusted = own_problem is None and bool(status.trusted)
    if own_problem:
        problems.append(own_problem)
    elif not trusted and status.intact and status.valid:
        # pyHanko judges no trust for a broken signature, which is reported above.
        problems.append("cert_untrusted")
    unmodified = status.coverage == SignatureCoverageLevel.ENTIRE_FILE or (
        status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
        and status.modification_level in _UNMODIFIED
    )
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
    )


def signed_attachment(pdf: bytes, name: str) -> bytes:
    """Return an embedded file of the PDF's signed revision (validate_pdf it first); raise PdfSignatureError."""
    reader, seal = _read(pdf)
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


def _read(pdf: bytes) -> tuple[PdfFileReader, EmbeddedPdfSignature]:
    if not isinstance(pdf, bytes) or not pdf.startswith(b"%PDF-"):
        raise PdfSignatureError("not a PDF")
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=True)
        found = reader.embedded_signatures
    except _READ_ERRORS as exc:
        raise PdfUnreadableError(f"unreadable PDF: {exc}") from exc
    if len(found) != 1 or found[0].sig_object_type != "/Sig":
        raise PdfSignatureError(f"expected exactly one seal, found {len(found)} signatures")
    return reader, found[0]


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


def _context_crls(context: ValidationContext) -> list[x509.CertificateRevocationList]:
    """The CRLs given plus those stored in the PDF, as pyHanko saw them."""
    return [x509.load_der_x509_crl(item.dump()) for item in context.revinfo_manager.crls]


def _own_trust_problem(
    signer_cert: x509.Certificate,
    pool: Sequence[asn1_x509.Certificate],
    root: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    at: datetime,
) -> str | None:
    """Rebuild the path from the embedded certificates and run our own check on it."""
    issuers: dict[x509.Name, x509.Certificate] = {}
    for item in pool:
        cert = _crypto_cert(item)
        if cert.subject != cert.issuer:
            issuers.setdefault(cert.subject, cert)
    chain: list[x509.Certificate] = []
    current = signer_cert
    while current.issuer != root.subject:
        issuer = issuers.get(current.issuer)
        if issuer is None or issuer in chain:
            return "cert_untrusted"
        chain.append(issuer)
        current = issuer
    try:
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
