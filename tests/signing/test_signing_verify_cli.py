"""The standalone verifier, run as `python -m signing.verify_cli` on bundles and sealed PDFs."""

import copy
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import START, Case, Pki, founding_steps, signed_case
from cryptography.hazmat.primitives.asymmetric import ed25519

from signing import canonical_bytes, certificate_pem, create_root_ca, crl_pem, generate_ca_key, render_pdf, sign_pdf
from signing.note import witness_key
from signing.verify_cli import main

ROOT = Path(__file__).resolve().parents[2]
PAGE = "<!doctype html><html><body><h1>Certificate</h1></body></html>"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "signing.verify_cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


def sealed_pdf(pki: Pki, bundle: dict[str, Any] | None) -> bytes:
    attachments = [("evidence.json", canonical_bytes(bundle))] if bundle is not None else []
    pdf = render_pdf(PAGE, base_url=ROOT.as_uri() + "/", allowed_roots=[str(ROOT)], attachments=attachments)
    who = pki.office_seal
    return sign_pdf(pdf, signer=who.signer, cert=who.cert, chain=who.chain, root=pki.root, crls=pki.crls(),
                    timestamper=pki.timestamp_authority)


@pytest.fixture(scope="module")
def files(pki: Pki, case: Case, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("verify")
    paths = {name: folder / name for name in ("root.pem", "bundle.json", "certificate.pdf", "bad-bundle.json")}
    paths["root.pem"].write_text(certificate_pem(pki.root))
    paths["bundle.json"].write_bytes(canonical_bytes(case.bundle))
    paths["certificate.pdf"].write_bytes(sealed_pdf(pki, case.bundle))
    bad = copy.deepcopy(case.bundle)
    bad["records"][3]["canonical"] = bad["records"][3]["canonical"].replace('"approve"', '"reject"')
    paths["bad-bundle.json"].write_bytes(canonical_bytes(bad))
    return paths


def test_good_bundle(files: dict[str, Path], case: Case) -> None:
    result = run("--root", files["root.pem"], files["bundle.json"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == (
        f"OK evidence for case case-0001: 4 signed records, head {case.records[-1].hash}, "
        f"in log tree of size {len(case.leaf_hashes)}; no witness required (no witness policy given)\n"
    )


def test_good_certificate_pdf(files: dict[str, Path], case: Case) -> None:
    result = run("--root", files["root.pem"], files["certificate.pdf"])
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("OK pdf: seal of 'Markazi Seal' time-stamped at ")
    assert ", archived at " in lines[0]
    assert f"head {case.records[-1].hash}" in lines[0]
    assert result.stderr == ""


def test_tampered_bundle(files: dict[str, Path]) -> None:
    result = run("--root", files["root.pem"], files["bad-bundle.json"])
    assert result.returncode == 1
    assert "FAIL bad_signature record 4: signature does not verify" in result.stdout


def test_tampered_pdf(files: dict[str, Path], tmp_path: Path) -> None:
    pdf = files["certificate.pdf"].read_bytes()
    start = pdf.index(b'x:xmptk="pyHanko')
    path = tmp_path / "tampered.pdf"
    path.write_bytes(pdf[:start + 12] + b"X" + pdf[start + 13:])
    result = run("--root", files["root.pem"], path)
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL pdf_digest_mismatch: seal of 'Markazi Seal'")


# In-process runs of the same entry point, cheaper than a new interpreter each.


def verdict(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, list[str]]:
    status = main([str(arg) for arg in args])
    return status, capsys.readouterr().out.splitlines()


def test_wrong_root(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.pem"
    other.write_text(certificate_pem(create_root_ca("HQ Root CA", generate_ca_key())))
    status, lines = verdict(capsys, "--root", other, files["certificate.pdf"])
    assert status == 1
    assert [line.split(":")[0] for line in lines] == [
        "FAIL timestamp_cert_untrusted", "FAIL cert_untrusted", "FAIL archive_timestamp_cert_untrusted"]
    assert lines[1].startswith("FAIL cert_untrusted: seal of 'Markazi Seal', no trusted time (it claims ")
    status, lines = verdict(capsys, "--root", other, files["bundle.json"])
    assert status == 1 and lines[0].startswith("FAIL checkpoint_cert_untrusted bundle:")


def test_unusable_input(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (("--root", tmp_path / "missing.pem", files["bundle.json"]),
                 ("--root", files["bundle.json"], files["bundle.json"]),
                 ("--root", files["root.pem"], tmp_path / "missing.json")):
        status, lines = verdict(capsys, *args)
        assert status == 2 and lines[0].startswith("FAIL input_unusable:")


def test_pdf_with_a_bad_evidence_bundle(pki: Pki, files: dict[str, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad-evidence.pdf"
    path.write_bytes(sealed_pdf(pki, json.loads(files["bad-bundle.json"].read_bytes())))
    status, lines = verdict(capsys, "--root", files["root.pem"], path)
    assert status == 1
    # the changed last record is no longer the signed head either
    assert lines[0] == "FAIL head_mismatch evidence.json: bundle: the last record is not the signed head"
    assert lines[1].startswith("FAIL bad_signature evidence.json: record 4: signature does not verify")


def test_pdf_without_evidence(pki: Pki, files: dict[str, Path], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str], no_network: list[object]) -> None:
    path = tmp_path / "plain.pdf"
    path.write_bytes(sealed_pdf(pki, None))
    status, lines = verdict(capsys, "--root", files["root.pem"], path)
    assert status == 0 and lines[0].endswith("; no evidence bundle attached")
    assert no_network == []
    policy = tmp_path / "policy.txt"
    witness = witness_key("witness.example/w1", ed25519.Ed25519PrivateKey.generate())
    policy.write_text(f"witness {witness.vkey()}\nquorum 1\n")
    status, lines = verdict(capsys, "--root", files["root.pem"], "--witness-policy", policy, path)
    assert status == 1 and lines[0].startswith("FAIL witness_quorum: seal of ")


def test_seal_dated_before_its_checkpoint(pki: Pki, files: dict[str, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    path = tmp_path / "back-dated.pdf"
    path.write_bytes(sealed_pdf(pki, signed_case(pki, founding_steps(pki), checkpoint_time=future).bundle))
    status, lines = verdict(capsys, "--root", files["root.pem"], path)
    assert (status, lines[0].split(":")[0]) == (1, "FAIL seal_before_checkpoint")


def test_newer_crl_from_the_command_line(pki: Pki, files: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    revoked = pki.crls({"county": [(pki.officer.cert.serial_number, START + timedelta(days=3), None)]})
    paths = []
    for number, crl in enumerate(revoked):
        paths.append(tmp_path / f"{number}.crl")
        paths[-1].write_text(crl_pem(crl))
    status, lines = verdict(capsys, "--root", files["root.pem"], "--crl", paths[2], files["bundle.json"])
    assert status == 1 and lines[0].startswith("FAIL cert_revoked record 4:")


def test_garbage_file(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "garbage.json"
    path.write_bytes(b'{"format": 1.5}')
    status, lines = verdict(capsys, "--root", files["root.pem"], path)
    assert status == 1 and lines[0].startswith("FAIL bundle_invalid: not bundle JSON")
    path.write_bytes(b"%PDF-1.7 broken")
    status, lines = verdict(capsys, "--root", files["root.pem"], path)
    assert status == 1 and lines[0].startswith("FAIL pdf_unreadable: unreadable PDF")
