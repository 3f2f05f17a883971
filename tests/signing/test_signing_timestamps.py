"""HQ's time-stamping authority (RFC 3161): tokens, replies, rejections, and their verification."""

import hashlib
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from asn1crypto import cms, tsp
from conftest import START, Pki, party
from cryptography import x509

from signing import (
    CertificateConstraintError,
    CertificateRevokedError,
    Purpose,
    Subject,
    TimestampError,
    UntrustedPathError,
    certificate_pem,
    create_root_ca,
    generate_ca_key,
)
from signing.timestamps import (
    TSA_POLICY,
    TimeStampResponse,
    TimestampAuthority,
    build_request,
    read_response,
    timestamp_bytes,
    verify_timestamp,
    verify_timestamp_digest,
)

CHECKPOINT = "hq-log\n42\nq83vEjRWeJA=\n".encode()


def _reply(tsa: TimestampAuthority, request: bytes) -> TimeStampResponse:
    return TimeStampResponse.load(tsa.respond(request), strict=True)


def _info(token: bytes) -> tsp.TSTInfo:
    content = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"]
    return tsp.TSTInfo.load(content.contents)


def test_a_checkpoint_is_time_stamped_and_verified(pki: Pki) -> None:
    before = datetime.now(timezone.utc)
    token = timestamp_bytes(CHECKPOINT, pki.timestamp_authority)
    when = verify_timestamp(token, CHECKPOINT, pki.root, pki.crls())
    assert before <= when <= datetime.now(timezone.utc) and when.tzinfo == timezone.utc
    with pytest.raises(TimestampError):
        verify_timestamp(token, CHECKPOINT + b"!", pki.root, pki.crls())


def test_a_changed_token_fails(pki: Pki) -> None:
    token = bytearray(timestamp_bytes(CHECKPOINT, pki.timestamp_authority))
    digest = hashlib.sha256(CHECKPOINT).digest()
    position = bytes(token).index(digest)
    token[position + 3] ^= 0x01  # the imprint inside the signed TSTInfo
    with pytest.raises(TimestampError):
        verify_timestamp_digest(bytes(token), bytes(token[position:position + 32]), pki.root, pki.crls())
    for bad in (b"", b"\x30\x00", b"not a token" * 10):
        with pytest.raises(TimestampError):
            verify_timestamp(bad, CHECKPOINT, pki.root, pki.crls())


def test_the_tsa_path_is_checked_at_the_tokens_time(pki: Pki) -> None:
    token = timestamp_bytes(CHECKPOINT, pki.timestamp_authority)
    when = _info(token)["gen_time"].native
    later = datetime.now(timezone.utc) + timedelta(seconds=2)
    serial = pki.tsa.cert.serial_number
    revoked_before = pki.crls({"root": [(serial, when - timedelta(minutes=1), None)]}, this_update=later)
    with pytest.raises(CertificateRevokedError):
        verify_timestamp(token, CHECKPOINT, pki.root, revoked_before)
    revoked_after = pki.crls({"root": [(serial, when + timedelta(minutes=1), None)]}, this_update=later)
    assert verify_timestamp(token, CHECKPOINT, pki.root, revoked_after) == when  # stamped before: holds
    with pytest.raises(UntrustedPathError):
        verify_timestamp(token, CHECKPOINT, create_root_ca("HQ Root CA", generate_ca_key()), pki.crls())


def test_only_a_tsa_certificate_may_stamp(pki: Pki) -> None:
    with pytest.raises(CertificateConstraintError):  # a seal certificate names no time-stamping
        TimestampAuthority(pki.seal.signer, pki.seal.cert)
    with pytest.raises(TimestampError):  # the key is not the certificate's
        TimestampAuthority(pki.seal.signer, pki.tsa.cert)
    usage = pki.tsa.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert usage.critical and list(usage.value) == [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]


def test_a_granted_reply(pki: Pki) -> None:
    fixed = datetime(2026, 11, 20, 8, 30, 15, 250000, tzinfo=timezone.utc)
    tsa = TimestampAuthority(pki.tsa.signer, pki.tsa.cert, clock=lambda: fixed)
    digest = hashlib.sha256(b"document").digest()
    reply = _reply(tsa, build_request(digest, nonce=987654321, cert_req=True))
    assert reply["status"]["status"].native == "granted"
    token = reply["time_stamp_token"]
    info = _info(token.dump())
    assert info["nonce"].native == 987654321
    assert info["policy"].dotted == TSA_POLICY
    assert info["gen_time"].native == fixed
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"
    certs = [c.chosen for c in token["content"]["certificates"]]
    assert [c.subject.native["common_name"] for c in certs] == ["HQ Time-Stamping Authority"]
    assert read_response(tsa.respond(build_request(digest, nonce=5)), nonce=5)
    with pytest.raises(TimestampError):  # an answer to another request
        read_response(tsa.respond(build_request(digest, nonce=5)), nonce=6)
    without = _reply(tsa, build_request(digest, cert_req=False))["time_stamp_token"]
    assert not without["content"]["certificates"]  # certReq false: no certificate sent
    assert verify_timestamp_digest(without.dump(), digest, pki.root, pki.crls(),
                                   certificates=[pki.tsa.cert]).time == fixed


def test_serial_numbers_are_unique(pki: Pki) -> None:
    digest = hashlib.sha256(b"x").digest()
    serials = {_info(pki.timestamp_authority.issue(digest))["serial_number"].native for _ in range(200)}
    assert len(serials) == 200


@pytest.mark.parametrize(("request_der", "fail_info"), [
    (b"", "bad_data_format"),
    (b"garbage that is no DER at all", "bad_data_format"),
    (b"\x30\x03\x02\x01\x01", "bad_data_format"),  # a SEQUENCE with a version and nothing else
    (build_request(b"\x00" * 31), "bad_data_format"),  # not a SHA-256 digest
    (build_request(b"\x00" * 16, "md5"), "bad_alg"),
    (b"\x30" + b"\x82\x20\x00" + b"\x00" * 0x2000, "bad_data_format"),  # over the size limit
])
def test_a_malformed_request_is_rejected_not_raised(pki: Pki, request_der: bytes, fail_info: str) -> None:
    reply = _reply(pki.timestamp_authority, request_der)
    assert reply["status"]["status"].native == "rejection"
    assert reply["status"]["fail_info"].native == {fail_info}
    assert reply["time_stamp_token"].native is None
    with pytest.raises(TimestampError):
        read_response(pki.timestamp_authority.respond(request_der))


def test_another_policy_is_refused(pki: Pki) -> None:
    request = tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\x01" * 32}, "req_policy": "1.2.3.4"})
    reply = _reply(pki.timestamp_authority, request.dump())
    assert reply["status"]["fail_info"].native == {"unaccepted_policy"}


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_verifies_a_reply(pki: Pki, tmp_path: Path) -> None:
    """OpenSSL's RFC 3161 client makes the query and checks the reply (ESS, EKU, chain, nonce)."""
    (tmp_path / "data.txt").write_bytes(CHECKPOINT)
    (tmp_path / "root.pem").write_text(certificate_pem(pki.root))
    query = tmp_path / "query.tsq"
    subprocess.run(["openssl", "ts", "-query", "-data", str(tmp_path / "data.txt"), "-sha256", "-cert",
                    "-out", str(query)], check=True, capture_output=True)
    (tmp_path / "reply.tsr").write_bytes(pki.timestamp_authority.respond(query.read_bytes()))
    result = subprocess.run(["openssl", "ts", "-verify", "-queryfile", str(query), "-in", str(tmp_path / "reply.tsr"),
                             "-CAfile", str(tmp_path / "root.pem")], capture_output=True, text=True)
    assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stdout + result.stderr
    text = subprocess.run(["openssl", "ts", "-reply", "-in", str(tmp_path / "reply.tsr"), "-text"],
                          capture_output=True, text=True).stdout
    assert "Status: Granted." in text and f"Policy OID: {TSA_POLICY}" in text


def test_a_tsa_certificate_under_an_issuing_ca(pki: Pki) -> None:
    """As in the application: the TSA certified by HQ's issuing CA, which the token carries."""
    from signing import InMemorySigner, generate_key, issue_ca, issue_crl

    key = generate_key()
    issuing = issue_ca(pki.root, pki.root_key, "HQ Issuing CA", key.public_key(), 0, not_before=START)
    tsa_party = party(issuing, key, (issuing,), Subject("HQ TSA", "hq"), Purpose.TSA)
    tsa = TimestampAuthority(InMemorySigner(tsa_party.key), tsa_party.cert, (issuing,))
    now = datetime.now(timezone.utc)
    crls = [*pki.crls(), issue_crl(issuing, key, [], now - timedelta(minutes=1), now + timedelta(days=1))]
    token = timestamp_bytes(CHECKPOINT, tsa)
    assert verify_timestamp(token, CHECKPOINT, pki.root, crls) <= datetime.now(timezone.utc)
    with pytest.raises(Exception) as missing:  # no CRL of the issuing CA: revocation unknown
        verify_timestamp(token, CHECKPOINT, pki.root, pki.crls())
    assert getattr(missing.value, "code", "") == "revocation_unknown"
