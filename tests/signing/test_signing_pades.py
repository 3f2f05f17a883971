"""PAdES seals: offline validation from the root alone, tampering, trust, revocation, pdfsig, qpdf."""

import io
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import Party, Pki
from cryptography import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from signing import (
    CertificateConstraintError,
    CertificateRevokedError,
    InMemorySigner,
    PdfSignatureError,
    RevocationUnknownError,
    SealOptions,
    canonical_bytes,
    certificate_pem,
    create_root_ca,
    generate_ca_key,
    generate_key,
    render_pdf,
    sign_pdf,
    signed_attachment,
    validate_pdf,
)

ROOT = Path(__file__).resolve().parents[2]
FONTS = ROOT / "node_modules" / "vazirmatn" / "fonts" / "ttf"
EVIDENCE = canonical_bytes({"case_id": "case-0001", "records": []})
PAGE = f"""<!doctype html><html lang="fa" dir="rtl"><head><meta charset="utf-8"><style>
@font-face {{ font-family: V; src: url("{(FONTS / "Vazirmatn-Regular.ttf").as_uri()}"); }}
body {{ font-family: V; }}</style></head>
<body><h1>مجوز کانون فرهنگی هنری مسجد</h1><p>شماره ۰۰-۱۴۰۵-۰۰۰۰۱</p></body></html>"""


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    return render_pdf(PAGE, base_url=FONTS.as_uri() + "/", allowed_roots=[str(FONTS)],
                      attachments=[("evidence.json", EVIDENCE)])


def seal(pki: Pki, pdf: bytes, who: Party | None = None, **kwargs: object) -> bytes:
    who = who or pki.office_seal
    arguments = {"signer": who.signer, "cert": who.cert, "chain": who.chain, "root": pki.root,
                 "crls": pki.crls(), "timestamper": pki.timestamp_authority, **kwargs}
    return sign_pdf(pdf, **arguments)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sealed(pki: Pki, unsigned: bytes) -> bytes:
    options = SealOptions(reason="صدور مجوز", location="Arak", signer_name="Markazi office")
    return seal(pki, unsigned, options=options)


def test_validates_offline_from_the_root_alone(pki: Pki, sealed: bytes, no_network: list[object]) -> None:
    before = datetime.now(timezone.utc)
    result = validate_pdf(sealed, root=pki.root)
    assert result.ok, result.problems
    assert (result.intact, result.valid, result.trusted, result.unmodified) == (True, True, True, True)
    assert result.signer_common_name == "Markazi Seal"
    assert before - timedelta(minutes=5) < result.signing_time <= before
    assert result.attachments == ("evidence.json",)
    assert signed_attachment(sealed, "evidence.json") == EVIDENCE
    assert no_network == []


def test_seal_carries_chain_and_crls(pki: Pki, sealed: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(sealed))
    crls = reader.root["/DSS"]["/CRLs"]
    issuers = {x509.load_der_x509_crl(crls[i].data).issuer for i in range(len(crls))}
    assert {pki.root.subject, pki.province.subject} <= issuers  # every CA on the seal's path
    signature, stamp = reader.embedded_signatures  # the seal, then the document time-stamp (B-LTA)
    assert stamp.sig_object_type == "/DocTimeStamp" and stamp.field_name == "archive-1"
    assert signature.field_name == "seal"
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert signature.sig_object["/Reason"] == "صدور مجوز"
    assert signature.sig_object["/Location"] == "Arak"
    embedded = {cert.subject.human_friendly for cert in signature.other_embedded_certs}
    assert any("Markazi Province CA" in name for name in embedded)


def test_hq_seal_under_the_root(pki: Pki, unsigned: bytes) -> None:
    result = validate_pdf(seal(pki, unsigned, pki.seal), root=pki.root)
    assert result.ok and result.signer_common_name == "HQ Document Seal"


def test_one_changed_byte_is_caught(pki: Pki, sealed: bytes) -> None:
    start = sealed.index(b'x:xmptk="pyHanko')  # XMP metadata written inside the signed range
    tampered = sealed[:start + 12] + b"X" + sealed[start + 13:]
    result = validate_pdf(tampered, root=pki.root)
    assert not result.ok and not result.intact
    assert "pdf_digest_mismatch" in result.problems


def _update(pdf: bytes, change) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_later_content_change_is_caught(pki: Pki, sealed: bytes) -> None:
    def overwrite_page(writer: IncrementalPdfFileWriter) -> None:
        page = writer.root["/Pages"]["/Kids"][0]
        page["/Contents"] = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 24 Tf 50 50 Td (forged) Tj ET"))
        writer.update_container(page)

    result = validate_pdf(_update(sealed, overwrite_page), root=pki.root)
    assert result.intact and result.valid and result.trusted
    assert not result.unmodified and not result.ok
    assert result.problems == ("pdf_modified",)


def test_later_evidence_swap_is_caught_and_not_read(pki: Pki, sealed: bytes) -> None:
    def swap(writer: IncrementalPdfFileWriter) -> None:
        spec = writer.root["/Names"]["/EmbeddedFiles"]["/Names"][1]
        spec["/EF"]["/F"] = writer.add_object(
            generic.StreamObject({generic.pdf_name("/Type"): generic.pdf_name("/EmbeddedFile")},
                                 stream_data=b'{"forged":true}'))
        writer.update_container(spec)

    swapped = _update(sealed, swap)
    assert validate_pdf(swapped, root=pki.root).problems == ("pdf_modified",)
    assert signed_attachment(swapped, "evidence.json") == EVIDENCE  # the signed revision's file


def test_another_root_does_not_trust_it(pki: Pki, sealed: bytes) -> None:
    other = create_root_ca("HQ Root CA", generate_ca_key())
    result = validate_pdf(sealed, root=other)
    assert result.intact and result.valid and not result.trusted and not result.ok
    assert result.problems == ("timestamp_cert_untrusted", "cert_untrusted", "archive_timestamp_cert_untrusted")


def test_revoked_seal_is_not_trusted(pki: Pki, sealed: bytes) -> None:
    signed_at = validate_pdf(sealed, root=pki.root).signing_time
    serial = pki.office_seal.cert.serial_number
    later = datetime.now(timezone.utc) + timedelta(seconds=2)
    before = pki.crls({"province": [(serial, signed_at - timedelta(minutes=1), None)]}, this_update=later)
    result = validate_pdf(sealed, root=pki.root, crls=before)
    assert not result.trusted and result.problems == ("cert_revoked",)
    after = pki.crls({"province": [(serial, signed_at + timedelta(minutes=1), None)]}, this_update=later)
    assert validate_pdf(sealed, root=pki.root, crls=after).ok  # revoked after sealing: still valid


def test_signing_fails_closed(pki: Pki, unsigned: bytes) -> None:
    with pytest.raises(PdfSignatureError):  # the key is not the certificate's
        seal(pki, unsigned, signer=InMemorySigner(generate_key()))
    with pytest.raises(CertificateConstraintError):  # a person cannot seal
        seal(pki, unsigned, pki.officer)
    serial = pki.office_seal.cert.serial_number
    revoked = pki.crls({"province": [(serial, datetime.now(timezone.utc) - timedelta(minutes=2), None)]})
    with pytest.raises(CertificateRevokedError):
        seal(pki, unsigned, crls=revoked)
    with pytest.raises(RevocationUnknownError):
        seal(pki, unsigned, crls=pki.crls()[:1])
    with pytest.raises(PdfSignatureError):
        seal(pki, b"%PDF-1.7 not really")


def test_unsealed_or_foreign_input_is_refused(pki: Pki, unsigned: bytes, sealed: bytes) -> None:
    for pdf in (unsigned, b"not a pdf", b"%PDF-1.7\n%%EOF"):
        with pytest.raises(PdfSignatureError):
            validate_pdf(pdf, root=pki.root)
    with pytest.raises(PdfSignatureError):
        signed_attachment(sealed, "other.json")


def _pdfsig(pdf: Path, *options: str) -> str:
    result = subprocess.run(["pdfsig", *options, str(pdf)], capture_output=True, text=True, timeout=60)
    return result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils not installed")
def test_pdfsig_agrees(pki: Pki, sealed: bytes, tmp_path: Path) -> None:
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed)
    out = _pdfsig(path)
    # the seal, then the document time-stamp over the DSS (PAdES B-LTA), signed by HQ's TSA
    assert re.findall(r"^Signature #\d+:", out, re.MULTILINE) == ["Signature #1:", "Signature #2:"]
    seal_part, stamp_part = out.split("Signature #2:")
    assert "Signature Field Name: archive-1" in stamp_part
    assert "Signer Certificate Common Name: HQ Time-Stamping Authority" in stamp_part
    assert "Total document signed" in stamp_part
    out = seal_part
    assert "Signature Field Name: seal" in out
    assert "Signer Certificate Common Name: Markazi Seal" in out
    assert "Signature Validation: Signature is Valid." in out
    # Its NSS store does not know our root: the certificate check says so and nothing worse.
    assert "Certificate Validation: Certificate issuer isn't Trusted." in out
    tampered = tmp_path / "tampered.pdf"
    start = sealed.index(b'x:xmptk="pyHanko')
    tampered.write_bytes(sealed[:start + 12] + b"X" + sealed[start + 13:])
    assert "Signature Validation: Digest Mismatch." in _pdfsig(tampered)


@pytest.mark.skipif(shutil.which("pdfsig") is None or shutil.which("certutil") is None,
                    reason="poppler-utils or libnss3-tools not installed")
def test_pdfsig_trusts_it_under_our_root(pki: Pki, sealed: bytes, tmp_path: Path) -> None:
    nss = tmp_path / "nss"
    nss.mkdir()
    (tmp_path / "root.pem").write_text(certificate_pem(pki.root))
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-n", "hq-root", "-t", "C,C,C", "-i", str(tmp_path / "root.pem"),
                    "-d", f"sql:{nss}"], check=True, capture_output=True)
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed)
    out = _pdfsig(path, "-nssdir", f"sql:{nss}")
    assert "Signature Validation: Signature is Valid." in out
    assert "Certificate Validation: Certificate is Trusted." in out


@pytest.mark.skipif(shutil.which("qpdf") is None, reason="qpdf not installed")
def test_qpdf_finds_the_file_sound(sealed: bytes, tmp_path: Path) -> None:
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed)
    result = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No syntax or stream encoding errors found" in result.stdout


class _WrongDataSigner(InMemorySigner):
    """The right key signing the wrong bytes, as a faulty signer (HSM, remote service) might."""

    def sign(self, message: bytes) -> bytes:
        return super().sign(message + b"!")


def test_a_signer_that_signs_the_wrong_bytes_gets_no_seal_out(pki: Pki, unsigned: bytes) -> None:
    with pytest.raises(PdfSignatureError):
        seal(pki, unsigned, signer=_WrongDataSigner(pki.office_seal.key))


def test_every_seal_made_validates_in_full(pki: Pki, unsigned: bytes) -> None:
    """sign_pdf no longer validates its own result; the full validation must still hold."""
    for who in (pki.office_seal, pki.seal):
        result = validate_pdf(seal(pki, unsigned, who), root=pki.root)
        assert result.ok, result.problems
