"""Offline verifier for evidence bundles and sealed PDF certificates; no database, no network.

    python -m signing.verify_cli --root hq-root.pem [--crl newer.crl ...] [--witness-policy FILE] FILE

FILE is a bundle (JSON) or a sealed PDF. A PDF's seal is validated against the root at the
time of its signature time-stamp (a seal without a valid one from HQ's TSA fails, whatever
signing time it states), then its attached evidence.json, if any, is verified as a bundle. Prints one "OK ..." line and
exits 0, or prints one "FAIL <code> ..." line per problem and exits 1; exits 2 when the
input cannot be read at all. A damaged file is a FAIL, never a traceback.

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

from .errors import SigningError
from .note import parse_policy
from .pki import load_certificate, load_crl
from .verdict import EVIDENCE_NAME, check_bundle, check_pdf, printable

__all__ = ["EVIDENCE_NAME", "main"]

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
        print(printable(f"FAIL input_unusable: {exc}"))
        return _UNUSABLE
    check = check_pdf if data.startswith(b"%PDF-") else check_bundle
    verdict = check(data, root_pem, crls, policy=policy)
    if not verdict.ok:
        for finding in verdict.findings:
            print(finding.line())
        return _INVALID
    print(printable(f"OK {verdict.summary}"))
    return _OK


if __name__ == "__main__":
    sys.exit(main())
