"""Offline verifier for evidence bundles and sealed PDF certificates; no database, no network.

    python -m signing.verify_cli --root hq-root.pem [--crl newer.crl ...] FILE

FILE is a bundle (JSON) or a sealed PDF. A PDF's seal is validated against the root at the
time of its signature time-stamp (a seal without a valid one from HQ's TSA fails, whatever
signing time it states), then its attached evidence.json, if any, is verified as a bundle. Prints one "OK ..." line and
exits 0, or prints one "FAIL <code> ..." line per problem and exits 1; exits 2 when the
input cannot be read at all.
"""

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

from .bundle import BundleReport, load_bundle, verify_bundle
from .errors import SigningError
from .pades import signed_attachment, validate_pdf
from .pki import load_certificate, load_crl

__all__ = ["EVIDENCE_NAME", "main"]

#: Name of the evidence bundle attached to a certificate PDF.
EVIDENCE_NAME = "evidence.json"

_OK, _INVALID, _UNUSABLE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the verifier; return the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m signing.verify_cli",
        description="Verify an evidence bundle or a sealed PDF offline against the HQ root.",
    )
    parser.add_argument("--root", required=True, type=Path, help="HQ root certificate (PEM)")
    parser.add_argument("--crl", action="append", default=[], type=Path, help="a newer CRL (PEM)")
    parser.add_argument("file", type=Path, help="bundle JSON or sealed PDF")
    args = parser.parse_args(argv)
    # pyHanko logs every failed check with a traceback; the verdict below says it once.
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)
    try:
        root_pem = args.root.read_text("ascii")
        load_certificate(root_pem)
        crls = [load_crl(path.read_bytes()) for path in args.crl]
        data = args.file.read_bytes()
    except (OSError, UnicodeError, SigningError) as exc:
        print(f"FAIL input_unusable: {exc}")
        return _UNUSABLE
    try:
        if data.startswith(b"%PDF-"):
            return _check_pdf(data, root_pem, crls)
        return _check_bundle(data, root_pem, crls)
    except SigningError as exc:
        print(f"FAIL {exc.code}: {exc}")
        return _INVALID


def _check_pdf(data: bytes, root_pem: str, crls: list[x509.CertificateRevocationList]) -> int:
    result = validate_pdf(data, root=load_certificate(root_pem), crls=crls)
    if not result.ok:
        judged = (f"judged at its time-stamp {result.timestamp_time.isoformat()}" if result.timestamp_time
                  else f"no trusted time (it claims {result.signing_time.isoformat()})")
        for code in result.problems or ("timestamp_missing",):
            print(f"FAIL {code}: seal of {result.signer_common_name!r}, {judged}")
        return _INVALID
    stamped = result.timestamp_time
    assert stamped is not None  # result.ok requires it
    seal = f"seal of {result.signer_common_name!r} time-stamped at {stamped.isoformat()}"
    if result.archive_timestamps:
        seal += f", archived at {result.archive_timestamps[-1].isoformat()}"
    if EVIDENCE_NAME not in result.attachments:
        print(f"OK pdf: {seal}; no evidence bundle attached")
        return _OK
    report = verify_bundle(load_bundle(signed_attachment(data, EVIDENCE_NAME)), root_pem, crls=crls)
    if not _print_problems(report, f"{EVIDENCE_NAME}: "):
        return _INVALID
    # The PDF is sealed after the checkpoint its bundle carries; a seal time-stamped earlier
    # cannot hold it.
    if report.checkpoint_time is not None and stamped < report.checkpoint_time.replace(microsecond=0):
        print("FAIL seal_before_checkpoint: the seal is time-stamped before the bundle's checkpoint")
        return _INVALID
    print(f"OK pdf: {seal}; {_summary(report)}")
    return _OK


def _check_bundle(data: bytes, root_pem: str, crls: list[x509.CertificateRevocationList]) -> int:
    report = verify_bundle(load_bundle(data), root_pem, crls=crls)
    if not _print_problems(report, ""):
        return _INVALID
    print(f"OK {_summary(report)}")
    return _OK


def _print_problems(report: BundleReport, prefix: str) -> bool:
    for problem in report.problems:
        where = f"record {problem.seq}" if problem.seq is not None else "bundle"
        print(f"FAIL {problem.code} {prefix}{where}: {problem.detail}")
    return report.ok


def _summary(report: BundleReport) -> str:
    return (
        f"evidence for case {report.case_id}: {report.count} signed records, head {report.head}, "
        f"in log tree of size {report.tree_size}"
    )


if __name__ == "__main__":
    sys.exit(main())
