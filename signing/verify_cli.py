"""Offline verifier for evidence bundles and sealed PDF certificates; no database, no network.

    python -m signing.verify_cli --root hq-root.pem [--crl newer.crl ...] [--witness-policy FILE] FILE

FILE is a bundle (JSON) or a sealed PDF. A PDF's seal is validated against the root at the
time of its signature time-stamp (a seal without a valid one from HQ's TSA fails, whatever
signing time it states), then its attached evidence.json, if any, is verified as a bundle. Prints one "OK ..." line and
exits 0, or prints one "FAIL <code> ..." line per problem and exits 1; exits 2 when the
input cannot be read at all.

A witness policy lists the witnesses the reader trusts and how many of them must have
cosigned the bundle's checkpoint (see signing.note.parse_policy):

    witness witness.esfahan.example/w1+1a2b3c4d+BK...=
    witness witness.fars.example/w1+5e6f7a8b+BP...=
    witness witness.khorasan.example/w1+9c0d1e2f+BM...=
    quorum 2

Without one, no cosignature is required, and the OK line says so.
"""

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

from .bundle import BundleReport, load_bundle, verify_bundle
from .errors import SigningError
from .note import WitnessPolicy, parse_policy
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
    parser.add_argument("--witness-policy", type=Path, help="witnesses trusted and the quorum required")
    parser.add_argument("file", type=Path, help="bundle JSON or sealed PDF")
    args = parser.parse_args(argv)
    # pyHanko logs every failed check with a traceback; the verdict below says it once.
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)
    try:
        root_pem = args.root.read_text("ascii")
        load_certificate(root_pem)
        crls = [load_crl(path.read_bytes()) for path in args.crl]
        policy = parse_policy(args.witness_policy.read_text("utf-8")) if args.witness_policy else None
        data = args.file.read_bytes()
    except (OSError, UnicodeError, SigningError) as exc:
        print(f"FAIL input_unusable: {exc}")
        return _UNUSABLE
    try:
        if data.startswith(b"%PDF-"):
            return _check_pdf(data, root_pem, crls, policy)
        return _check_bundle(data, root_pem, crls, policy)
    except SigningError as exc:
        print(f"FAIL {exc.code}: {exc}")
        return _INVALID


def _check_pdf(data: bytes, root_pem: str, crls: list[x509.CertificateRevocationList],
               policy: WitnessPolicy | None) -> int:
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
        if policy is not None:  # nothing carries a cosignature: the policy cannot be met
            print(f"FAIL witness_quorum: {seal}; no evidence bundle attached, so no cosigned checkpoint")
            return _INVALID
        print(f"OK pdf: {seal}; no evidence bundle attached")
        return _OK
    report = verify_bundle(load_bundle(signed_attachment(data, EVIDENCE_NAME)), root_pem, crls=crls,
                           witnesses=policy)
    if not _print_problems(report, f"{EVIDENCE_NAME}: "):
        return _INVALID
    # The PDF is sealed after the case head its bundle carries; a seal time-stamped earlier
    # cannot hold it.
    if report.checkpoint_time is not None and stamped < report.checkpoint_time.replace(microsecond=0):
        print("FAIL seal_before_checkpoint: the seal is time-stamped before the bundle's case head")
        return _INVALID
    print(f"OK pdf: {seal}; {_summary(report)}")
    return _OK


def _check_bundle(data: bytes, root_pem: str, crls: list[x509.CertificateRevocationList],
                  policy: WitnessPolicy | None) -> int:
    report = verify_bundle(load_bundle(data), root_pem, crls=crls, witnesses=policy)
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
    if report.quorum is None:
        witnesses = "no witness required (no witness policy given)"
    else:
        witnesses = f"cosigned by {len(report.cosigned_by)} witnesses ({', '.join(report.cosigned_by)}), " \
                    f"{report.quorum} required"
    return (
        f"evidence for case {report.case_id}: {report.count} signed records, head {report.head}, "
        f"in log tree of size {report.tree_size}; {witnesses}"
    )


if __name__ == "__main__":
    sys.exit(main())
