"""PathVerifier proves each path once and checks only the time-dependent parts per call; its
answers (error class and message) must be exactly those of a path validation done from scratch."""

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta, timezone

import pytest
from conftest import START, Pki, party
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from signing import (
    RECORD_PURPOSES,
    CertificateOptions,
    CertificatePathError,
    CertificateRevokedError,
    Purpose,
    RevocationUnknownError,
    SigningError,
    Subject,
    UntrustedPathError,
    generate_key,
    issue_ca,
    issue_crl,
    verify_chain_at,
)
from signing import pki as x

NOW = datetime.now(timezone.utc)


def reference(cert: x509.Certificate, chain: Sequence[x509.Certificate], root: x509.Certificate,
              crls: Sequence[x509.CertificateRevocationList], at: datetime,
              purposes: Collection[Purpose] | None = None) -> None:
    """Path validation as it was before PathVerifier: every check on every call."""
    at = x.utc_time(at)
    issuers = [*chain, root]
    path = [cert, *chain]
    x._check_anchor(root)
    for child, issuer in zip(path, issuers):
        if child is not cert and x._self_issued(child):
            raise UntrustedPathError("the chain must stop below the root")
        try:
            child.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as exc:
            reason = str(exc) or "the signature does not verify"
            raise UntrustedPathError(f"{x._cn(child)} is not issued by {x._cn(issuer)}: {reason}") from exc
    for member in [*path, root]:
        x._check_validity(member, at)
        x._check_extensions(member)
    for below, issuer in enumerate(issuers):
        x._check_ca(issuer, below)
    x._check_leaf(cert, purposes)
    for child, issuer in zip(path, issuers):
        named = [crl for crl in crls if crl.issuer == issuer.subject]
        if not named:
            raise RevocationUnknownError(f"no CRL of {x._cn(issuer)}")
        issuer_key = x._ec_public_key(issuer)
        signed = [crl for crl in named if crl.is_signature_valid(issuer_key)]
        if not signed:
            raise RevocationUnknownError(f"no CRL of {x._cn(issuer)} has a valid signature")
        covering = [crl for crl in signed if x._crl_usable(crl) and at <= crl.next_update_utc]
        if not covering:
            raise RevocationUnknownError(f"no CRL of {x._cn(issuer)} covers {at.isoformat()}")
        for crl in covering:
            entry = crl.get_revoked_certificate_by_serial_number(child.serial_number)
            if entry is not None and entry.revocation_date_utc <= at:
                raise CertificateRevokedError(f"{x._cn(child)} was revoked at {entry.revocation_date_utc.isoformat()}")


def outcome(check, *args, **kwargs) -> tuple[type, str] | None:
    try:
        check(*args, **kwargs)
    except SigningError as exc:
        return type(exc), str(exc)
    return None


@pytest.fixture(scope="module")
def paths(pki: Pki) -> list[tuple[str, x509.Certificate, tuple[x509.Certificate, ...]]]:
    short_key = generate_key()
    short = issue_ca(pki.province, pki.province_key, "Short County CA", short_key.public_key(), 0,
                     not_before=START, options=CertificateOptions(ca_lifetime=timedelta(days=2)))
    short_person = party(short, short_key, (short, pki.province), Subject("P", None, 1), Purpose.PERSON)
    rotated = party(pki.county, pki.county_key, pki.officer.chain, Subject("Officer Twelve", "county-arak", 12),
                    Purpose.PERSON, not_before=START + timedelta(days=10))
    return [
        ("applicant", pki.applicant.cert, pki.applicant.chain),
        ("officer", pki.officer.cert, pki.officer.chain),
        ("rotated", rotated.cert, rotated.chain),
        ("seal", pki.seal.cert, pki.seal.chain),
        ("office_seal", pki.office_seal.cert, pki.office_seal.chain),
        ("log", pki.log.cert, pki.log.chain),
        ("ca_as_leaf", pki.county, (pki.province,)),
        ("short_intermediate", short_person.cert, short_person.chain),
        ("wrong_chain", pki.officer.cert, (pki.province,)),
        ("padded_chain", pki.officer.cert, (pki.county, pki.province, pki.root)),
        ("no_chain", pki.officer.cert, ()),
    ]


def crl_sets(pki: Pki) -> dict[str, list[x509.CertificateRevocationList]]:
    current = pki.crls()
    impostor = generate_key()
    forged = (x509.CertificateRevocationListBuilder().issuer_name(pki.county.subject)
              .last_update(NOW - timedelta(minutes=1)).next_update(NOW + timedelta(days=1))
              .sign(impostor, hashes.SHA256()))
    stale = issue_crl(pki.county, pki.county_key, [], START, START + timedelta(days=1))
    return {
        "current": current,
        "officer_revoked": pki.crls({"county": [(pki.officer.cert.serial_number, START + timedelta(days=10),
                                                 x509.ReasonFlags.key_compromise)]}),
        "county_revoked": pki.crls({"province": [(pki.county.serial_number, START + timedelta(days=5), None)]}),
        "no_county_crl": current[:2],
        "no_root_crl": current[1:],
        "forged_county_crl": [*current[:2], forged],
        "stale_county_crl": [*current[:2], stale],
        "stale_and_current": [*current, stale],
        "none": [],
    }


TIMES = [START - timedelta(days=2), START + timedelta(days=1), START + timedelta(days=3),
         START + timedelta(days=10) - timedelta(seconds=1), START + timedelta(days=10), NOW, NOW + timedelta(days=3650)]
PURPOSES = [None, RECORD_PURPOSES, {Purpose.SEAL}]


def test_a_shared_verifier_answers_exactly_like_a_full_validation(pki: Pki, paths) -> None:
    checked = failures = 0
    for name, crls in crl_sets(pki).items():
        shared = x.PathVerifier(pki.root, crls)
        # times interleaved across paths, and each path asked again later, so answers are served
        # from what the verifier proved before
        for at in [*TIMES, *TIMES[::-3]]:
            for label, cert, chain in paths:
                for purposes in PURPOSES:
                    expected = outcome(reference, cert, chain, pki.root, crls, at, purposes)
                    got = outcome(shared.verify, cert, chain, at, purposes=purposes)
                    assert got == expected, (name, label, at, purposes)
                    if purposes is None:
                        assert outcome(verify_chain_at, cert, chain, pki.root, crls, at) == expected
                    checked += 1
                    failures += expected is not None
    assert checked > 1000 and 0 < failures < checked  # both answers were exercised


def test_a_wrong_root_fails_on_every_call(pki: Pki) -> None:
    other_key = x.generate_ca_key()
    other = x.create_root_ca("HQ Root CA", other_key, not_before=START - timedelta(days=1))
    verifier = x.PathVerifier(other, pki.crls())
    for _ in range(3):
        with pytest.raises(UntrustedPathError):
            verifier.verify(pki.officer.cert, pki.officer.chain, NOW)


def test_naive_times_are_refused(pki: Pki) -> None:
    verifier = x.PathVerifier(pki.root, pki.crls())
    with pytest.raises(x.CertificateError):
        verifier.verify(pki.officer.cert, pki.officer.chain, datetime(2025, 1, 1))


def test_errors_are_new_objects_with_their_codes(pki: Pki) -> None:
    verifier = x.PathVerifier(pki.root, pki.crls()[1:])
    first = second = None
    try:
        verifier.verify(pki.officer.cert, pki.officer.chain, NOW)
    except CertificatePathError as exc:
        first = exc
    try:
        verifier.verify(pki.officer.cert, pki.officer.chain, NOW)
    except CertificatePathError as exc:
        second = exc
    assert first is not None and second is not None and first is not second
    assert first.code == second.code == "revocation_unknown"


def test_crls_are_found_by_issuer_name(pki: Pki) -> None:
    """A CRL whose issuer name differs from the CA's subject in any attribute speaks for nothing."""
    county_crl = pki.crls()[2]
    other_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Arak County CA "),])
    renamed = (x509.CertificateRevocationListBuilder().issuer_name(other_name)
               .last_update(county_crl.last_update_utc).next_update(county_crl.next_update_utc)
               .sign(pki.county_key, hashes.SHA256()))
    with pytest.raises(RevocationUnknownError):
        x.PathVerifier(pki.root, [*pki.crls()[:2], renamed]).verify(pki.officer.cert, pki.officer.chain, NOW)
