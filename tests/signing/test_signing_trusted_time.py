"""Trusted time on seals: a seal is judged at its signature time-stamp, never at the time it claims.

The issue's case: a province seal key is revoked; a seal is then made with it, claiming a signing
time five minutes before the revocation. The offline verifier and pyHanko (HQ root as the only
trust anchor, revocation hard-fail) both reject it, while an honest seal passes pyHanko's
PAdES-LTA validation from the root alone.
"""

import asyncio
import io
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import Pki, party
from cryptography import x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.signers import pdf_signer
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.policy_decl import (
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer
from test_signing_pades import PAGE, FONTS, EVIDENCE

from signing import (
    Purpose,
    SigningError,
    Subject,
    UntrustedPathError,
    certificate_pem,
    create_root_ca,
    crl_pem,
    generate_ca_key,
    render_pdf,
    sign_pdf,
    validate_pdf,
)
from signing.pades import (
    _KEY_USAGE,
    _REVOCATION,
    _USAGE_CONSTRAINTS,
    LocalTimeStamper,
    _asn1_cert,
    _asn1_crl,
    _SealSigner,
    add_archive_timestamp,
)
from signing.timestamps import TimestampAuthority

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    return render_pdf(PAGE, base_url=FONTS.as_uri() + "/", allowed_roots=[str(FONTS)],
                      attachments=[("evidence.json", EVIDENCE)])


@pytest.fixture(scope="module")
def honest(pki: Pki, unsigned: bytes) -> bytes:
    who = pki.office_seal
    return sign_pdf(unsigned, signer=who.signer, cert=who.cert, chain=who.chain, root=pki.root, crls=pki.crls(),
                    timestamper=pki.timestamp_authority)


class _Revocation:
    """The province seal revoked a minute ago; the CRLs from before and after it."""

    def __init__(self, pki: Pki) -> None:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        self.revoked_at = now - timedelta(minutes=1)
        self.claimed = self.revoked_at - timedelta(minutes=5)
        self.before = pki.crls(this_update=self.revoked_at - timedelta(minutes=10))
        serial = pki.office_seal.cert.serial_number
        self.after = pki.crls({"province": [(serial, self.revoked_at, x509.ReasonFlags.key_compromise)]},
                              this_update=now)


def _seal_claiming(pki: Pki, pdf: bytes, claimed: datetime, crls: list[x509.CertificateRevocationList],
                   monkeypatch: pytest.MonkeyPatch, *, timestamped: bool) -> bytes:
    """What a holder of the revoked key can do: seal with pyHanko, the clock set back to `claimed`."""

    class _Claimed(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return claimed.astimezone(tz) if tz else claimed.replace(tzinfo=None)

    if timestamped:  # our own sign_pdf, given the CRLs of before the revocation, asks HQ's TSA
        with monkeypatch.context() as patch:
            patch.setattr(pdf_signer, "datetime", _Claimed)
            who = pki.office_seal
            return sign_pdf(pdf, signer=who.signer, cert=who.cert, chain=who.chain, root=pki.root, crls=crls,
                            timestamper=pki.timestamp_authority)
    with monkeypatch.context() as patch:  # or skip the TSA, and write a B-B signature by hand
        patch.setattr(pdf_signer, "datetime", _Claimed)
        output = io.BytesIO()
        metadata = signers.PdfSignatureMetadata(field_name="seal", md_algorithm="sha256",
                                                subfilter=fields.SigSeedSubFilter.PADES,
                                                signer_key_usage=set(_KEY_USAGE))
        signer = _SealSigner(pki.office_seal.signer, pki.office_seal.cert, [*pki.office_seal.chain, pki.root])
        signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), metadata, signer=signer, output=output)
        return output.getvalue()


def _pyhanko_lta(pki: Pki, pdf: bytes, crls: list[x509.CertificateRevocationList] = ()):  # type: ignore[assignment]
    """pyHanko's PAdES-LTA validation (ETSI EN 319 102-1 5.6.3), the HQ root its only trust anchor,
    every certificate needing its issuer's CRL, nothing fetched."""
    signature = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    policy = CertValidationPolicySpec(trust_manager=SimpleTrustManager.build(trust_roots=[_asn1_cert(pki.root)]),
                                      revinfo_policy=_REVOCATION)
    spec = PdfSignatureValidationSpec(SignatureValidationSpec(
        cert_validation_policy=policy,
        revinfo_gathering_policy=RevocationInfoGatheringSpec(online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY),
        key_usage_settings=_USAGE_CONSTRAINTS,
        local_knowledge=LocalKnowledge(known_crls=[CRLContainer(_asn1_crl(item)) for item in crls])))
    return asyncio.run(ades_lta_validation(signature, spec))


def _passes(result) -> bool:  # type: ignore[no-untyped-def]
    status = result.api_status
    return (result.ades_subindic.status.name == "PASSED" and isinstance(status, PdfSignatureStatus)
            and status.bottom_line)


def _verify_cli(tmp_path: Path, pki: Pki, pdf: bytes, crls: list[x509.CertificateRevocationList] = ()):  # type: ignore[assignment]
    (tmp_path / "root.pem").write_text(certificate_pem(pki.root))
    (tmp_path / "seal.pdf").write_bytes(pdf)
    arguments = [sys.executable, "-m", "signing.verify_cli", "--root", str(tmp_path / "root.pem")]
    for number, crl in enumerate(crls):
        (tmp_path / f"newer-{number}.crl").write_text(crl_pem(crl))
        arguments += ["--crl", str(tmp_path / f"newer-{number}.crl")]
    return subprocess.run([*arguments, str(tmp_path / "seal.pdf")], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_a_seal_made_after_revocation_is_rejected_whatever_time_it_claims(
        pki: Pki, unsigned: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    revocation = _Revocation(pki)
    forged = _seal_claiming(pki, unsigned, revocation.claimed, revocation.before, monkeypatch, timestamped=True)

    result = validate_pdf(forged, root=pki.root, crls=revocation.after)
    assert result.signing_time == revocation.claimed  # what it claims ...
    assert result.timestamp_time is not None and result.timestamp_time > revocation.revoked_at  # ... and when it was
    assert not result.ok and not result.trusted
    assert "cert_revoked" in result.problems

    cli = _verify_cli(tmp_path, pki, forged, revocation.after)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert re.search(r"^FAIL cert_revoked: seal of 'Markazi Seal', judged at its time-stamp ", cli.stdout, re.M)

    lta = _pyhanko_lta(pki, forged, revocation.after)
    assert not _passes(lta)
    assert lta.ades_subindic.name == "REVOKED_NO_POE"  # its only proof of existence is after the revocation


def test_a_seal_without_a_time_stamp_is_rejected(pki: Pki, unsigned: bytes, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    revocation = _Revocation(pki)
    forged = _seal_claiming(pki, unsigned, revocation.claimed, revocation.before, monkeypatch, timestamped=False)
    result = validate_pdf(forged, root=pki.root, crls=revocation.after)
    assert result.timestamp_time is None and not result.ok
    assert result.problems[0] == "timestamp_missing"
    cli = _verify_cli(tmp_path, pki, forged, revocation.after)
    assert cli.returncode == 1
    assert cli.stdout.startswith("FAIL timestamp_missing: seal of 'Markazi Seal', no trusted time (it claims ")
    assert not _passes(_pyhanko_lta(pki, forged, revocation.after))
    # even given CRLs that list no revocation, a seal with no time-stamp proves no time: refused
    assert validate_pdf(forged, root=pki.root, crls=pki.crls()).problems == ("timestamp_missing",)


def test_an_honest_seal_passes_pyhankos_lta_validation_from_the_root_alone(
        pki: Pki, honest: bytes, no_network: list[object]) -> None:
    lta = _pyhanko_lta(pki, honest)
    assert _passes(lta), lta.failure_msg
    assert lta.signature_timestamp_status is not None and lta.oldest_evidence_record_timestamp is not None
    ours = validate_pdf(honest, root=pki.root)
    assert ours.ok and ours.timestamp_time == lta.best_signature_time
    assert ours.archive_timestamps == (lta.oldest_evidence_record_timestamp,)
    assert no_network == []


def test_an_honest_seal_stays_valid_after_its_key_is_revoked(pki: Pki, unsigned: bytes) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    stamped_at = now - timedelta(minutes=10)  # a seal made ten minutes ago (the TSA's clock says so) ...
    tsa = TimestampAuthority(pki.tsa.signer, pki.tsa.cert, clock=lambda: stamped_at)
    who = pki.office_seal
    sealed = sign_pdf(unsigned, signer=who.signer, cert=who.cert, chain=who.chain, root=pki.root,
                      crls=pki.crls(this_update=now - timedelta(minutes=20)), timestamper=tsa)
    serial = pki.office_seal.cert.serial_number  # ... and its key revoked five minutes ago
    after = pki.crls({"province": [(serial, now - timedelta(minutes=5), None)]}, this_update=now)
    result = validate_pdf(sealed, root=pki.root, crls=after)
    assert result.ok, result.problems
    assert result.timestamp_time == stamped_at
    assert _passes(_pyhanko_lta(pki, sealed, after))


def test_a_time_stamp_from_a_tsa_outside_the_root_is_refused(pki: Pki, unsigned: bytes) -> None:
    rogue_key = generate_ca_key()
    rogue_root = create_root_ca("HQ Root CA", rogue_key, not_before=datetime.now(timezone.utc) - timedelta(days=1))
    rogue = party(rogue_root, rogue_key, (), Subject("HQ Time-Stamping Authority", "hq"), Purpose.TSA,
                  not_before=datetime.now(timezone.utc) - timedelta(minutes=1))
    who = pki.office_seal
    with pytest.raises(UntrustedPathError):
        sign_pdf(unsigned, signer=who.signer, cert=who.cert, chain=who.chain, root=pki.root, crls=pki.crls(),
                 timestamper=TimestampAuthority(rogue.signer, rogue.cert))


def test_re_time_stamping_adds_a_newer_document_time_stamp(pki: Pki, tmp_path: Path) -> None:
    plain = render_pdf(PAGE, base_url=FONTS.as_uri() + "/", allowed_roots=[str(FONTS)])
    who = pki.office_seal
    honest = sign_pdf(plain, signer=who.signer, cert=who.cert, chain=who.chain, root=pki.root, crls=pki.crls(),
                      timestamper=pki.timestamp_authority)
    crls = pki.crls(this_update=datetime.now(timezone.utc))
    extended = add_archive_timestamp(honest, root=pki.root, crls=crls, timestamper=LocalTimeStamper(
        pki.timestamp_authority))
    assert extended.startswith(honest)  # incremental: the sealed bytes are untouched
    before, after = validate_pdf(honest, root=pki.root), validate_pdf(extended, root=pki.root)
    assert after.ok, after.problems
    assert len(after.archive_timestamps) == 2 and after.archive_timestamps[0] == before.archive_timestamps[0]
    assert after.archive_timestamps[1] >= after.archive_timestamps[0]
    assert _passes(_pyhanko_lta(pki, extended))
    cli = _verify_cli(tmp_path, pki, extended)
    assert cli.returncode == 0 and cli.stdout.startswith("OK pdf: seal of 'Markazi Seal' time-stamped at "), cli.stdout
    assert f"archived at {after.archive_timestamps[1].isoformat()}" in cli.stdout
    if shutil.which("pdfsig"):
        (tmp_path / "extended.pdf").write_bytes(extended)
        out = subprocess.run(["pdfsig", str(tmp_path / "extended.pdf")], capture_output=True, text=True).stdout
        assert "Signature Field Name: archive-2" in out and "Signature #3:" in out


def test_re_time_stamping_refuses_a_pdf_that_does_not_validate(pki: Pki, honest: bytes) -> None:
    from signing import PdfSignatureError

    other = create_root_ca("HQ Root CA", generate_ca_key())
    with pytest.raises(PdfSignatureError):
        add_archive_timestamp(honest, root=other, crls=pki.crls(), timestamper=pki.timestamp_authority)


def test_damage_after_the_seal_never_passes_as_a_file_without_its_archive_time_stamp(pki: Pki, honest: bytes) -> None:
    """A byte changed in the last revision (the document time-stamp's dictionary, its cross-reference
    section or trailer) either fails, or leaves a file that still carries its archive time-stamp:
    a revision after the seal that no check recognizes means the file changed after sealing."""
    original = validate_pdf(honest, root=pki.root, crls=pki.crls())
    assert original.ok and len(original.archive_timestamps) == 1
    start = honest.rindex(b"/DocTimeStamp") - 200
    for position in range(start, len(honest), max(1, (len(honest) - start) // 150)):
        damaged = bytearray(honest)
        damaged[position] ^= 0x08
        try:
            result = validate_pdf(bytes(damaged), root=pki.root, crls=pki.crls())
        except SigningError:
            continue  # refused outright
        assert not result.ok or result.archive_timestamps == original.archive_timestamps, position
