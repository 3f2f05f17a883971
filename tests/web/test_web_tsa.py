"""HQ's time-stamping authority served by the application (POST /tsa), real RFC 3161 clients
against it on loopback, time-stamped certificates, and re-time-stamping them from the CLI."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
from datetime import datetime, timedelta, timezone

import urllib.request

import pytest
from sqlalchemy import delete, select
from werkzeug.serving import make_server

from signing import pki as x
from signing.pades import sign_pdf, validate_pdf
from signing.timestamps import TSA_POLICY, TimeStampResponse, build_request, read_response, verify_timestamp_digest
from support import ACTORS, found_center, login
from web.extensions import db
from workflows import pki
from workflows.models import Case, Office, ServiceKey

QUERY = {"Content-Type": "application/timestamp-query"}


def _trust(client):
    root = x.load_certificate(client.get("/pki/root.pem").get_data(as_text=True))
    text = client.get("/pki/crls.pem").get_data(as_text=True)
    crls = [x.load_crl(part + "-----END X509 CRL-----\n") for part in text.split("-----END X509 CRL-----")[:-1]]
    return root, crls


def test_a_query_gets_a_granted_token(client):
    digest = hashlib.sha256(b"checkpoint text").digest()
    before = datetime.now(timezone.utc)
    response = client.post("/tsa", data=build_request(digest, nonce=424242), headers=QUERY)
    assert response.status_code == 200 and response.mimetype == "application/timestamp-reply"
    token = read_response(response.data, nonce=424242)
    root, crls = _trust(client)
    stamped = verify_timestamp_digest(token, digest, root, crls)  # the issuing CA travels in the token
    assert before - timedelta(seconds=1) <= stamped.time <= datetime.now(timezone.utc)
    assert stamped.policy == TSA_POLICY
    assert x.certificate_purpose(stamped.tsa_cert) is x.Purpose.TSA
    pem = client.get("/tsa/certificate.pem").get_data(as_text=True)
    assert pem.count("BEGIN CERTIFICATE") == 2 and x.certificate_pem(stamped.tsa_cert) in pem


@pytest.mark.parametrize("body", [b"", b"\x00" * 50, b"\x30\x05\x02\x01\x01\x30\x00", build_request(b"\x01" * 20)])
def test_a_malformed_query_gets_a_rejection_never_an_error(client, body):
    response = client.post("/tsa", data=body, headers=QUERY)
    assert response.status_code == 200 and response.mimetype == "application/timestamp-reply"
    reply = TimeStampResponse.load(response.data, strict=True)
    assert reply["status"]["status"].native == "rejection"
    assert reply["status"]["fail_info"].native == {"bad_data_format"}


def test_other_content_is_refused_with_a_reply(client):
    response = client.post("/tsa", data=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 415 and response.mimetype == "application/timestamp-reply"
    assert TimeStampResponse.load(response.data)["status"]["status"].native == "rejection"
    assert client.get("/tsa").status_code == 405
    big = client.post("/tsa", data=b"\x30" * 10_000, headers=QUERY)
    assert big.status_code == 413 and big.mimetype == "application/timestamp-reply"


def _pyhanko_lta_passes(pdf: bytes, root) -> bool:
    """pyHanko's PAdES-LTA validation, the HQ root the only trust anchor, CRLs required, nothing fetched."""
    import asyncio
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.ades import ades_lta_validation
    from pyhanko.sign.validation.policy_decl import (
        PdfSignatureValidationSpec, RevinfoOnlineFetchingRule, RevocationInfoGatheringSpec, SignatureValidationSpec,
    )
    from pyhanko_certvalidator.context import CertValidationPolicySpec
    from pyhanko_certvalidator.registry import SimpleTrustManager

    from signing.pades import _REVOCATION, _USAGE_CONSTRAINTS, _asn1_cert

    policy = CertValidationPolicySpec(trust_manager=SimpleTrustManager.build(trust_roots=[_asn1_cert(root)]),
                                      revinfo_policy=_REVOCATION)
    spec = PdfSignatureValidationSpec(SignatureValidationSpec(
        cert_validation_policy=policy, key_usage_settings=_USAGE_CONSTRAINTS,
        revinfo_gathering_policy=RevocationInfoGatheringSpec(online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY)))
    signature = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    result = asyncio.run(ades_lta_validation(signature, spec))
    return result.ades_subindic.status.name == "PASSED" and bool(result.api_status.bottom_line)


@pytest.fixture
def served(app):
    """The application on a loopback port, as RFC 3161 clients reach it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def test_pyhanko_http_client_seals_through_the_endpoint(app, served):
    from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper

    from signing import render_pdf

    hq = db.session.scalars(select(Office).where(Office.kind == "hq")).one()
    province = db.session.scalars(select(Office).where(Office.kind == "province").order_by(Office.id)).first()
    signer, key = pki.service_signer(db.session, "seal", province, app.config["CA_KEY_PASSPHRASE"])
    material = pki.trust_material(db.session)
    db.session.rollback()
    assert hq is not None
    pdf = render_pdf("<p>time-stamped over HTTP</p>", base_url="file:///nonexistent/", allowed_roots=[])
    sealed = sign_pdf(pdf, signer=signer, cert=x.load_certificate(key.certificate.pem),
                      chain=list(material.chain(db.session, key.certificate.issuer_ca_id)), root=material.root,
                      crls=list(material.crls), timestamper=HTTPTimeStamper(f"{served}/tsa"))
    result = validate_pdf(sealed, root=material.root)
    assert result.ok, result.problems
    assert result.timestamp_time is not None and len(result.archive_timestamps) == 1


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_query_and_verify_through_the_endpoint(client, served, tmp_path):
    (tmp_path / "data.txt").write_text("checkpoint 42\n")
    subprocess.run(["openssl", "ts", "-query", "-data", str(tmp_path / "data.txt"), "-sha256", "-cert",
                    "-out", str(tmp_path / "query.tsq")], check=True, capture_output=True)
    posted = urllib.request.Request(f"{served}/tsa", data=(tmp_path / "query.tsq").read_bytes(), headers=QUERY)
    with urllib.request.urlopen(posted, timeout=30) as response:
        assert response.status == 200 and response.headers["Content-Type"] == "application/timestamp-reply"
        (tmp_path / "reply.tsr").write_bytes(response.read())
    (tmp_path / "root.pem").write_text(client.get("/pki/root.pem").get_data(as_text=True))
    (tmp_path / "tsa.pem").write_text(client.get("/tsa/certificate.pem").get_data(as_text=True))
    result = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "data.txt"), "-in",
                             str(tmp_path / "reply.tsr"), "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                             str(tmp_path / "tsa.pem")], capture_output=True, text=True)
    assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stdout + result.stderr


def test_an_existing_database_gets_the_tsa_key_when_the_pki_is_ensured_again(app, client):
    hq = db.session.scalars(select(Office).where(Office.kind == "hq")).one()
    db.session.execute(delete(ServiceKey).where(ServiceKey.purpose == "tsa"))
    db.session.commit()
    assert client.post("/tsa", data=build_request(b"\x00" * 32), headers=QUERY).status_code == 503
    pki.ensure(db.session, app.config["CA_KEY_PASSPHRASE"])  # what flask --app web init runs
    db.session.commit()
    row = db.session.scalars(select(ServiceKey).where(ServiceKey.purpose == "tsa")).one()
    assert row.office_id == hq.id and row.certificate.issuer_ca_id is not None
    assert read_response(client.post("/tsa", data=build_request(b"\x00" * 32), headers=QUERY).data)


def test_a_certificate_is_time_stamped_and_re_time_stamped_from_the_cli(app, client, runner, tmp_path):
    center = found_center(app, ACTORS["applicant"])
    case = db.session.scalars(select(Case).where(Case.center_id == center.id)).one()
    login(client, "applicant1")
    pdf = client.get(f"/cases/{case.id}/certificate.pdf").data
    root, crls = _trust(client)
    first = validate_pdf(pdf, root=root)
    assert first.ok and first.timestamp_time is not None and len(first.archive_timestamps) == 1
    assert _pyhanko_lta_passes(pdf, root)  # PAdES-LTA from the HQ root alone: the DSS holds every path's CRLs
    (tmp_path / "certificate.pdf").write_bytes(pdf)
    (tmp_path / "not-a-seal.pdf").write_bytes(b"%PDF-1.7\n%%EOF\n")
    result = runner.invoke(args=["retimestamp", "--output-dir", str(tmp_path / "out"),
                                 str(tmp_path / "certificate.pdf"), str(tmp_path / "not-a-seal.pdf")])
    assert result.exit_code == 1, result.output
    assert f"OK {tmp_path / 'out' / 'certificate.pdf'}: time-stamped at " in result.output
    assert "FAIL pdf_unreadable: " in result.output
    extended = (tmp_path / "out" / "certificate.pdf").read_bytes()
    again = validate_pdf(extended, root=root)
    assert again.ok and len(again.archive_timestamps) == 2 and extended.startswith(pdf)
    assert _pyhanko_lta_passes(extended, root)
    result = runner.invoke(args=["retimestamp", str(tmp_path / "certificate.pdf")])  # in place
    assert result.exit_code == 0, result.output
    assert len(validate_pdf((tmp_path / "certificate.pdf").read_bytes(), root=root).archive_timestamps) == 2


def test_the_tsa_is_renewed_and_earlier_seals_still_verify(app, client, runner):
    from signing import render_pdf

    province = db.session.scalars(select(Office).where(Office.kind == "province").order_by(Office.id)).first()
    passphrase = app.config["CA_KEY_PASSPHRASE"]

    def seal() -> bytes:
        signer, key = pki.service_signer(db.session, "seal", province, passphrase)
        material = pki.trust_material(db.session)
        pdf = render_pdf("<p>sealed</p>", base_url="file:///nonexistent/", allowed_roots=[])
        return sign_pdf(pdf, signer=signer, cert=x.load_certificate(key.certificate.pem),
                        chain=list(material.chain(db.session, key.certificate.issuer_ca_id)), root=material.root,
                        crls=list(material.crls), timestamper=pki.timestamp_authority(db.session, passphrase))

    before = seal()
    old_serial = pki.timestamp_authority(db.session, passphrase).cert.serial_number
    result = runner.invoke(args=["renew-tsa"])
    assert result.exit_code == 0 and result.output.startswith("TSA certificate "), result.output
    db.session.expire_all()
    assert pki.timestamp_authority(db.session, passphrase).cert.serial_number != old_serial
    after = seal()
    root, crls = _trust(client)
    assert validate_pdf(before, root=root, crls=crls).ok and validate_pdf(after, root=root, crls=crls).ok
    token = read_response(client.post("/tsa", data=build_request(b"\x00" * 32), headers=QUERY).data)
    assert verify_timestamp_digest(token, b"\x00" * 32, root, crls).tsa_cert.serial_number != old_serial
