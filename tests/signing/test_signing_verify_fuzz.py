"""Damaged and hostile input to the offline verifier: always a verdict, never a traceback, never a false OK.

Over a thousand deterministic mutations (fixed seeds) of one sealed certificate PDF and its
evidence bundle go through verify_cli.main() in-process. Every run prints only OK and FAIL
lines and exits 0, 1 or 2; a mutation that still says OK must say exactly what the original
says and leave every signed byte, the signature and the bundle's meaning as they were.
"""

import collections
import json
import os
import random
import re
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from conftest import Case, Pki
from mutations import bundle_mutations, cms_meaning, layout, pdf_mutations
from test_signing_verify_cli import PAGE, ROOT, sealed_pdf

from signing import canonical_bytes, certificate_pem, load_certificate, load_crl, render_pdf, sign_pdf
from signing.verdict import check_bundle, check_pdf, printable
from signing.verify_cli import main

# pytest makes warnings errors; in use, a certificate cryptography parses with a deprecation
# warning (a serial number that is not positive) is loaded and judged like any other
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

#: a longer soak: VERIFY_FUZZ_SCALE=10 tries ten times as many, VERIFY_FUZZ_SEED other mutations
SCALE = int(os.environ.get("VERIFY_FUZZ_SCALE", "1"))
SEED = int(os.environ.get("VERIFY_FUZZ_SEED", "0"))
PDF_MUTATIONS = 600 * SCALE
BUNDLE_MUTATIONS = 600 * SCALE
#: set to print the verdict counts (for the record of a run)
REPORT = os.environ.get("VERIFY_FUZZ_REPORT") == "1"


@dataclass
class Tally:
    """Verdicts by code, for the failure message and the report."""

    tried: int = 0
    codes: collections.Counter = field(default_factory=collections.Counter)

    def add(self, status: int, lines: list[str]) -> None:
        self.tried += 1
        self.codes["OK" if status == 0 else lines[0].split()[1].rstrip(":")] += 1


@pytest.fixture(scope="module")
def base(pki: Pki, case: Case, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "root.pem").write_text(certificate_pem(pki.root))
    pdf = sealed_pdf(pki, case.bundle)
    bundle = canonical_bytes(case.bundle)
    return {"folder": folder, "root": folder / "root.pem", "pdf": pdf, "bundle": bundle}


def run(capsys: pytest.CaptureFixture[str], root: Path, path: Path, data: bytes) -> tuple[int, list[str]]:
    path.write_bytes(data)
    status = main(["--root", str(root), str(path)])
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert status in (0, 1, 2), (status, out)
    assert lines and all(line.startswith(("OK ", "FAIL ")) for line in lines), out
    assert "Traceback" not in out + err, out + err
    assert (status == 0) == (lines[0].startswith("OK ")) and (status != 0 or len(lines) == 1), out
    # every exception met is named: the catch-all of signing.verdict stays unused
    assert not any(line.startswith("FAIL verification_error") for line in lines), out
    return status, lines


def test_mutated_pdfs_get_a_verdict_and_never_a_false_ok(base: dict[str, Any], capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    pdf, root = base["pdf"], base["root"]
    where = layout(pdf)
    original_cms = cms_meaning(pdf, where)
    assert original_cms is not None
    status, (ok_line,) = run(capsys, root, base["folder"] / "original.pdf", pdf)
    assert status == 0
    tally, started = Tally(), time.perf_counter()
    for name, mutated in pdf_mutations(pdf, random.Random(20261204 + SEED), PDF_MUTATIONS):
        status, lines = run(capsys, root, base["folder"] / "mutated.pdf", mutated)
        tally.add(status, lines)
        if status == 0:
            # only an unsigned, ignored part changed: the validation data after the seal, the
            # padding after the CMS, or a certificate the CMS carries besides the signer's
            assert lines == [ok_line], name
            assert len(mutated) >= where.signed_end and where.covered_bytes(mutated) == where.covered_bytes(pdf), name
            assert cms_meaning(mutated, where) == original_cms, name
    _report(capsys, "pdf", tally, started)
    assert tally.tried >= PDF_MUTATIONS * 0.95 and tally.codes["OK"] < tally.tried / 2


def bundle_meaning(value: Any) -> Any:
    """A bundle's content with each PEM certificate or CRL as the DER it decodes to."""
    if isinstance(value, dict):
        return {key: bundle_meaning(item) for key, item in value.items()}
    if isinstance(value, list):
        return [bundle_meaning(item) for item in value]
    if isinstance(value, str) and "-----BEGIN" in value:
        for load in (load_certificate, load_crl):
            try:
                return ("der", load(value).public_bytes(Encoding.DER))
            except Exception:
                continue
    return value


def test_mutated_bundles_get_a_verdict_and_never_a_false_ok(base: dict[str, Any], case: Case,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    data, root = base["bundle"], base["root"]
    original = bundle_meaning(json.loads(data))
    status, (ok_line,) = run(capsys, root, base["folder"] / "original.json", data)
    assert status == 0
    tally, started = Tally(), time.perf_counter()
    for name, mutated in bundle_mutations(case.bundle, data, random.Random(1405 + SEED), BUNDLE_MUTATIONS):
        status, lines = run(capsys, root, base["folder"] / "mutated.json", mutated)
        tally.add(status, lines)
        if status != 0:
            continue
        # the bundle commits to the case head: an OK is only ever the same content (records cut
        # off its end are head_mismatch)
        assert lines == [ok_line] and bundle_meaning(json.loads(mutated)) == original, name
    _report(capsys, "bundle", tally, started, "")
    assert tally.tried >= BUNDLE_MUTATIONS * 0.95 and tally.codes["OK"] < tally.tried / 10


def test_a_valid_seal_over_damaged_evidence_is_a_fail(pki: Pki, case: Case, base: dict[str, Any],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The seal holds, but the evidence.json it covers is damaged: the stream does not inflate,
    inflates to something else, or holds no bundle."""
    attachments = [("evidence.json", canonical_bytes(case.bundle))]
    unsigned = render_pdf(PAGE, base_url=ROOT.as_uri() + "/", allowed_roots=[str(ROOT)], attachments=attachments)
    start = unsigned.index(b"stream", unsigned.index(b"/Type /EmbeddedFile")) + len(b"stream\n")
    end = unsigned.index(b"endstream", start)
    stream = unsigned[start:end]
    damaged = {
        "bit flip": stream[:40] + bytes([stream[40] ^ 0x10]) + stream[41:],
        "zeroed tail": stream[:len(stream) // 2] + bytes(len(stream) - len(stream) // 2),
        "cut short": (zlib.compress(b"{" * 30)[:-3] + bytes(len(stream)))[:len(stream)],
        "not a bundle": (zlib.compress(b'["format"]') + b"\n" * len(stream))[:len(stream)],
    }
    expected = {"bit flip": "pdf_attachment_unreadable", "zeroed tail": "pdf_attachment_unreadable",
                "cut short": "pdf_attachment_unreadable", "not a bundle": "bundle_invalid"}
    who = pki.office_seal
    for name, new_stream in damaged.items():
        assert len(new_stream) == len(stream)
        pdf = sign_pdf(unsigned[:start] + new_stream + unsigned[end:], signer=who.signer, cert=who.cert,
                       chain=who.chain, root=pki.root, crls=pki.crls(),
                       timestamper=pki.timestamp_authority)
        status, lines = run(capsys, base["root"], base["folder"] / "resealed.pdf", pdf)
        assert status == 1 and lines[0].split()[1].rstrip(":") == expected[name], (name, lines)


def _update(pdf: bytes, value: bytes) -> bytes:
    """An incremental update that makes object 99, holding `value`, the document catalog."""
    previous = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    body = b"\n99 0 obj\n%s\nendobj\n" % value
    return pdf + body + (b"xref\n0 1\n0000000000 65535 f \n99 1\n%010d 00000 n \ntrailer\n<< /Size 100 /Prev %d "
                         b"/Root 99 0 R >>\nstartxref\n%d\n%%%%EOF\n") % (len(pdf) + 1, previous, len(pdf) + len(body))


# One example of each exception met while fuzzing, independent of the random base file: what
# the parsers raised, and the code it is reported as now.
DAMAGE = {
    # pyhanko PdfReadError: the xref points at another object than the one found there
    "object id mismatch": (lambda pdf: pdf.replace(b"\n2 0 obj", b"\n3 0 obj"), "pdf_unreadable"),
    # NotImplementedError: an unknown stream filter in the last cross-reference stream
    "unknown filter": (lambda pdf: pdf[:-600] + pdf[-600:].replace(b"/FlateDecode", b"/FdateDecode"),
                       "pdf_unreadable"),
    # AssertionError inside pyHanko: the document catalog is an array
    "catalog of the wrong type": (lambda pdf: _update(pdf, b"[1 2 3]"), "pdf_unreadable"),
    # RecursionError: a catalog nested far past the recursion limit
    "deep nesting": (lambda pdf: _update(pdf, b"[" * 50_000 + b"]" * 50_000), "pdf_unreadable"),
    # zlib.error: the attached evidence.json does not inflate
    "evidence stream": (lambda pdf: pdf.replace(pdf[layout(pdf).evidence_stream[0]:][:64], bytes(64), 1),
                        "pdf_attachment_unreadable"),
    # asn1crypto ValueError while the DSS is read: a certificate stream cut short
    "truncated file": (lambda pdf: pdf[:-10], "pdf_unreadable"),
}


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_each_kind_of_damage_has_its_code(base: dict[str, Any], name: str) -> None:
    change, code = DAMAGE[name]
    verdict = check_pdf(change(base["pdf"]), base["root"].read_text())
    assert not verdict.ok and verdict.codes[0] == code, verdict.findings


def test_the_verdict_functions_take_any_bytes(base: dict[str, Any]) -> None:
    """The boundary itself, as the web page calls it: never raises, whatever the bytes."""
    root = base["root"].read_text()
    for data in (b"", b"%PDF-", b"%PDF-1.7\n" + b"[" * 100_000, b"\xff\xfe", b"[" * 100_000, b"{}", b"null",
                 b'{"records": ' + b"9" * 5000 + b"}", "\"\ud800\"".encode("utf-8", "surrogatepass")):
        verdict = (check_pdf if data.startswith(b"%PDF-") else check_bundle)(data, root)
        assert not verdict.ok and verdict.findings and "verification_error" not in verdict.codes, data[:20]
    verdict = check_pdf(base["pdf"], root, require_evidence=True)
    assert verdict.ok and verdict.report is not None and verdict.report.count == 4


def test_printable_keeps_one_line_per_finding() -> None:
    assert printable("a\nOK forged\r\x00\ud800 ب") == "a\\nOK forged\\r\\x00\\ud800 ب"


def _report(capsys: pytest.CaptureFixture[str], kind: str, tally: Tally, started: float, extra: str = "") -> None:
    if REPORT:
        seconds = time.perf_counter() - started
        with capsys.disabled():
            print(f"\n{kind}: {tally.tried} mutations in {seconds:.1f} s: {dict(tally.codes.most_common())} {extra}")
