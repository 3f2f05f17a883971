"""One verdict on evidence handed in from outside: a sealed PDF or an evidence bundle.

The boundary between untrusted bytes and the verifiers: the offline verifier (verify_cli) and
the public verification page both call check_pdf or check_bundle, which never raise for
anything the input holds. Whatever a damaged or hostile file makes a parser raise (pyHanko,
asn1crypto, zlib, json, cryptography) becomes a SigningError with a stable code, reported as a
Finding; anything not proved is a finding, so `ok` means every check ran and passed.
"""

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from pyhanko.pdf_utils.misc import PdfError as PyHankoPdfError

from .bundle import BundleReport, load_bundle, verify_bundle
from .errors import (
    AttachmentError,
    BundleError,
    PdfUnreadableError,
    SigningError,
    VerificationError,
)
from .note import WitnessPolicy
from .pades import PdfValidation, signed_attachment, validate_pdf
from .pki import load_certificate

__all__ = ["EVIDENCE_NAME", "Finding", "Verdict", "check_bundle", "check_pdf", "printable"]

#: Name of the evidence bundle attached to a certificate PDF.
EVIDENCE_NAME = "evidence.json"

#: What parsers raise on damaged input before any SigningError: malformed PDF objects, DER and
#: other encodings, wrong types where a structure was expected (pyHanko asserts some), streams
#: that do not inflate, unknown filters or algorithms, certificates of an unknown version or with
#: a repeated extension, nesting past the recursion limit, numbers that do not parse (decimal) or
#: are too large to convert (ArithmeticError covers both).
_DAMAGE: tuple[type[BaseException], ...] = (
    PyHankoPdfError, ValueError, TypeError, KeyError, IndexError, AttributeError, AssertionError,
    ArithmeticError, RecursionError, NotImplementedError, zlib.error, UnsupportedAlgorithm,
    x509.InvalidVersion, x509.DuplicateExtension, x509.UnsupportedGeneralNameType,
)

_T = TypeVar("_T")


@dataclass(frozen=True)
class Finding:
    """One reason the evidence is not proved."""

    #: Stable machine code: a SigningError's code, a seal check, or a bundle problem.
    code: str
    #: What it concerns, for the English line: None, "bundle", "record 3", "evidence.json: record 3".
    where: str | None
    #: English detail for logs and the offline verifier.
    detail: str

    def line(self) -> str:
        """The verifier's line, "FAIL <code> <where>: <detail>", on one printable line."""
        where = f" {self.where}" if self.where else ""
        return printable(f"FAIL {self.code}{where}: {self.detail}")


@dataclass(frozen=True)
class Verdict:
    """The outcome of check_pdf or check_bundle; only `ok` means the evidence holds."""

    #: Every reason the evidence is not proved; empty only when every check passed.
    findings: tuple[Finding, ...]
    #: English account of what was proved (meaningful when ok).
    summary: str
    #: The seal's validation, when the PDF could be read that far.
    seal: PdfValidation | None = None
    #: The bundle's report, when its JSON could be read.
    report: BundleReport | None = None

    @property
    def ok(self) -> bool:
        """True only when nothing is left unproved."""
        return not self.findings and (self.seal is None or self.seal.ok) and (self.report is None or self.report.ok)

    @property
    def codes(self) -> tuple[str, ...]:
        """The findings' codes, each once, in order."""
        return tuple(dict.fromkeys(finding.code for finding in self.findings))


def check_pdf(
    data: bytes,
    root_pem: str,
    crls: Sequence[x509.CertificateRevocationList] = (),
    *,
    require_evidence: bool = False,
    policy: WitnessPolicy | None = None,
) -> Verdict:
    """Check a sealed PDF against the HQ root: its seal at the time of its signature time-stamp,
    then its attached evidence.json as a bundle (under the witness `policy`, if one is given).

    Never raises for anything in `data`; raises CertificateError only when `root_pem` is not a
    certificate. Without an attached bundle the seal alone is judged, unless `require_evidence`
    or a `policy` (nothing then carries a cosigned checkpoint).
    """
    root = load_certificate(root_pem)
    if not isinstance(data, bytes) or not data.startswith(b"%PDF-"):
        return _failed(Finding("not_a_pdf", None, "the file is not a PDF"))
    try:
        seal = _guard(lambda: validate_pdf(data, root=root, crls=crls), PdfUnreadableError)
    except SigningError as exc:
        return _failed(Finding(exc.code, None, str(exc)))
    seal_text = f"seal of {seal.signer_common_name!r}"
    if not seal.ok:
        judged = (f"judged at its time-stamp {seal.timestamp_time.isoformat()}" if seal.timestamp_time
                  else f"no trusted time (it claims {seal.signing_time.isoformat()})" if seal.signing_time
                  else "no trusted time")
        problems = seal.problems or ("timestamp_missing",)
        return _failed(*(Finding(code, None, f"{seal_text}, {judged}") for code in problems), seal=seal)
    stamped = seal.timestamp_time
    seal_text += f" time-stamped at {stamped.isoformat()}"
    if seal.archive_timestamps:
        seal_text += f", archived at {seal.archive_timestamps[-1].isoformat()}"
    if EVIDENCE_NAME not in seal.attachments:
        if policy is not None:
            return _failed(Finding("witness_quorum", None, f"{seal_text}; no evidence bundle attached, so no "
                                                           "cosigned checkpoint"), seal=seal)
        if require_evidence:
            return _failed(Finding("no_evidence", None, f"{seal_text}; no evidence bundle attached"), seal=seal)
        return Verdict((), f"pdf: {seal_text}; no evidence bundle attached", seal=seal)
    try:
        evidence = _guard(lambda: signed_attachment(data, EVIDENCE_NAME), AttachmentError)
    except SigningError as exc:
        return _failed(Finding(exc.code, EVIDENCE_NAME, str(exc)), seal=seal)
    bundle = _bundle_verdict(evidence, root_pem, crls, f"{EVIDENCE_NAME}: ", policy)
    findings = list(bundle.findings)
    report = bundle.report
    # The PDF is sealed after the case head its bundle carries; a seal time-stamped earlier cannot hold it.
    if report is not None and report.checkpoint_time is not None and stamped < report.checkpoint_time.replace(
            microsecond=0):
        findings.append(Finding("seal_before_checkpoint", None,
                                "the seal is time-stamped before the bundle's case head"))
    return Verdict(tuple(findings), f"pdf: {seal_text}; {bundle.summary}", seal=seal, report=report)


def check_bundle(data: bytes, root_pem: str, crls: Sequence[x509.CertificateRevocationList] = (), *,
                 policy: WitnessPolicy | None = None) -> Verdict:
    """Check evidence bundle JSON against the HQ root (under the witness `policy`, if one is given).

    Never raises for anything in `data`; raises CertificateError only when `root_pem` is not a
    certificate.
    """
    load_certificate(root_pem)
    return _bundle_verdict(data, root_pem, crls, "", policy)


def _bundle_verdict(
    data: bytes, root_pem: str, crls: Sequence[x509.CertificateRevocationList], prefix: str,
    policy: WitnessPolicy | None = None,
) -> Verdict:
    try:
        bundle = _guard(lambda: load_bundle(data), BundleError)
        report = _guard(lambda: verify_bundle(bundle, root_pem, crls=crls, witnesses=policy), BundleError)
    except SigningError as exc:
        return _failed(Finding(exc.code, prefix.rstrip(": ") or None, str(exc)))
    findings = [
        Finding(problem.code, prefix + (f"record {problem.seq}" if problem.seq is not None else "bundle"),
                problem.detail)
        for problem in report.problems
    ]
    if not report.ok and not findings:
        findings.append(Finding("bundle_invalid", prefix + "bundle", "the bundle is not proved"))
    if report.quorum is None:
        witnesses = "no witness required (no witness policy given)"
    else:
        witnesses = (f"cosigned by {len(report.cosigned_by)} witnesses ({', '.join(report.cosigned_by)}), "
                     f"{report.quorum} required")
    stamped = (f", time-stamped at {report.checkpoint_timestamp_time.isoformat()}"
               if report.checkpoint_timestamp_time else "")
    summary = (
        f"evidence for case {report.case_id}: {report.count} signed records, head {report.head}, "
        f"in log tree of size {report.tree_size}{stamped}; {witnesses}"
    )
    return Verdict(tuple(findings), summary, report=report)


def printable(text: str) -> str:
    """The text on one line: line breaks, other control characters and lone surrogates escaped
    (a file's own text ends up in details, and must not forge a line or break the output)."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def _guard(check: Callable[[], _T], damaged: type[SigningError]) -> _T:
    """Run one check; what a damaged input makes a parser raise becomes `damaged`, anything else
    not already a SigningError a VerificationError: either way nothing is proved."""
    try:
        return check()
    except SigningError:
        raise
    except _DAMAGE as exc:
        raise damaged(f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # fail closed on what no parser is known to raise
        raise VerificationError(f"the check could not be completed: {type(exc).__name__}: {exc}") from exc


def _failed(*findings: Finding, seal: PdfValidation | None = None) -> Verdict:
    return Verdict(tuple(findings), "", seal=seal)
