"""The certificate hierarchy, CRLs, and path validation at a point in time (hard fail)."""

from datetime import datetime, timedelta, timezone

import pytest
from conftest import START, Party, Pki, party
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing import (
    DOCUMENT_SIGNING,
    PURPOSE_OIDS,
    RECORD_PURPOSES,
    CertificateConstraintError,
    CertificateError,
    CertificateOptions,
    CertificateRevokedError,
    CertificateValidityError,
    Purpose,
    RevocationUnknownError,
    Subject,
    UntrustedPathError,
    certificate_pem,
    certificate_purpose,
    certificate_user_id,
    create_root_ca,
    crl_pem,
    generate_ca_key,
    generate_key,
    issue_ca,
    issue_crl,
    issue_end_entity,
    load_certificate,
    load_crl,
    verify_chain_at,
)

NOW = datetime.now(timezone.utc)
AT = START + timedelta(days=3)


def ext(cert: x509.Certificate, kind: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(kind)


def verify(pki: Pki, who: Party, at: datetime = AT, **kwargs: object) -> None:
    crls = kwargs.pop("crls", None)
    verify_chain_at(who.cert, who.chain, pki.root, pki.crls() if crls is None else crls, at, **kwargs)


def test_hierarchy_shape(pki: Pki) -> None:
    expected = [
        (pki.root, ec.SECP384R1, 2, hashes.SHA384),
        (pki.province, ec.SECP384R1, 1, hashes.SHA384),
        (pki.county, ec.SECP256R1, 0, hashes.SHA384),  # signed by the P-384 province key
    ]
    for cert, curve, path_length, digest in expected:
        constraints = ext(cert, x509.BasicConstraints)
        assert constraints.critical and constraints.value.ca and constraints.value.path_length == path_length
        usage = ext(cert, x509.KeyUsage)
        assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
        assert not usage.value.digital_signature
        assert isinstance(cert.public_key().curve, curve)
        assert isinstance(cert.signature_hash_algorithm, digest)
    assert pki.root.issuer == pki.root.subject
    assert pki.root.not_valid_after_utc - pki.root.not_valid_before_utc == CertificateOptions().root_lifetime
    assert ext(pki.county, x509.AuthorityKeyIdentifier).value.key_identifier == \
        ext(pki.province, x509.SubjectKeyIdentifier).value.digest


def test_person_certificate(pki: Pki) -> None:
    cert = pki.officer.cert
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Officer Twelve"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "county-arak"
    assert certificate_user_id(cert) == 12
    assert certificate_purpose(cert) is Purpose.PERSON
    usage = ext(cert, x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    constraints = ext(cert, x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    assert isinstance(cert.public_key().curve, ec.SECP256R1)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)  # the county key is P-256
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == CertificateOptions().person_lifetime


def test_service_certificates(pki: Pki) -> None:
    seal_usages = list(ext(pki.seal.cert, x509.ExtendedKeyUsage).value)
    assert seal_usages == [PURPOSE_OIDS[Purpose.SEAL], DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]
    assert ext(pki.seal.cert, x509.KeyUsage).value.content_commitment
    assert certificate_purpose(pki.log.cert) is Purpose.LOG
    assert not ext(pki.log.cert, x509.KeyUsage).value.content_commitment
    assert certificate_user_id(pki.seal.cert) is None
    assert len(set(PURPOSE_OIDS.values())) == len(Purpose)


def test_whole_hierarchy_verifies(pki: Pki) -> None:
    verify(pki, pki.applicant, purposes=RECORD_PURPOSES)
    verify(pki, pki.officer, at=NOW, purposes={Purpose.PERSON})
    verify(pki, pki.seal, at=NOW, purposes={Purpose.SEAL})
    verify(pki, pki.office_seal, at=NOW, purposes={Purpose.SEAL})
    verify(pki, pki.log, at=NOW, purposes={Purpose.LOG})
    verify(pki, pki.log)  # any purpose when none is asked for


@pytest.mark.parametrize("purpose", [Purpose.AGENCY, Purpose.SYSTEM])
def test_agency_and_system_sign_records(pki: Pki, purpose: Purpose) -> None:
    who = party(pki.county, pki.county_key, (pki.county, pki.province), Subject(purpose.value, None, 99), purpose)
    verify(pki, who, purposes=RECORD_PURPOSES)


def test_wrong_root(pki: Pki) -> None:
    other = create_root_ca("HQ Root CA", generate_ca_key(), not_before=START - timedelta(days=1))
    with pytest.raises(UntrustedPathError):
        verify_chain_at(pki.officer.cert, pki.officer.chain, other, pki.crls(), AT)


def test_broken_or_padded_chains(pki: Pki) -> None:
    crls = pki.crls()
    cert = pki.officer.cert
    for chain in ([pki.county], [pki.province], [], [pki.province, pki.county],
                  [pki.county, pki.province, pki.root]):
        with pytest.raises(UntrustedPathError):
            verify_chain_at(cert, chain, pki.root, crls, AT)


def test_expired_and_not_yet_valid(pki: Pki) -> None:
    cert = pki.officer.cert
    with pytest.raises(CertificateValidityError):
        verify(pki, pki.officer, at=cert.not_valid_after_utc + timedelta(seconds=1),
               crls=pki.crls(this_update=cert.not_valid_after_utc))
    with pytest.raises(CertificateValidityError):
        verify(pki, pki.officer, at=cert.not_valid_before_utc - timedelta(seconds=1))
    verify(pki, pki.officer, at=cert.not_valid_before_utc)  # both ends are inclusive


def test_expired_intermediate(pki: Pki) -> None:
    short = CertificateOptions(ca_lifetime=timedelta(days=1))
    county_key = generate_key()
    county = issue_ca(pki.province, pki.province_key, "Short County CA", county_key.public_key(), 0,
                      not_before=START, options=short)
    person = party(county, county_key, (county, pki.province), Subject("P", None, 1), Purpose.PERSON)
    assert person.cert.not_valid_after_utc == county.not_valid_after_utc  # clamped to the issuer
    crls = [*pki.crls(), issue_crl(county, county_key, [], START, NOW + timedelta(days=1))]
    verify_chain_at(person.cert, person.chain, pki.root, crls, START + timedelta(hours=1))
    with pytest.raises(CertificateValidityError):
        verify_chain_at(person.cert, person.chain, pki.root, crls, START + timedelta(days=2))


def test_revoked_before_and_after_the_signing_time(pki: Pki) -> None:
    revoked_at = START + timedelta(days=10)
    crls = pki.crls({"county": [(pki.officer.cert.serial_number, revoked_at, x509.ReasonFlags.key_compromise)]})
    verify(pki, pki.officer, at=revoked_at - timedelta(seconds=1), crls=crls)  # signed before: still valid
    with pytest.raises(CertificateRevokedError):
        verify(pki, pki.officer, at=revoked_at, crls=crls)
    with pytest.raises(CertificateRevokedError):
        verify(pki, pki.officer, at=revoked_at + timedelta(days=1), crls=crls)
    verify(pki, pki.applicant, at=revoked_at + timedelta(days=1), crls=crls)  # only that one


def test_revoked_intermediate(pki: Pki) -> None:
    crls = pki.crls({"province": [(pki.county.serial_number, START + timedelta(days=5), None)]})
    verify(pki, pki.applicant, at=START + timedelta(days=4), crls=crls)
    with pytest.raises(CertificateRevokedError):
        verify(pki, pki.applicant, at=START + timedelta(days=6), crls=crls)


def test_every_ca_needs_its_crl(pki: Pki) -> None:
    crls = pki.crls()
    for missing in range(3):
        with pytest.raises(RevocationUnknownError):
            verify(pki, pki.officer, crls=[crl for i, crl in enumerate(crls) if i != missing])
    with pytest.raises(RevocationUnknownError):
        verify(pki, pki.officer, crls=[])


def test_forged_and_stale_crls_do_not_count(pki: Pki) -> None:
    root_crl, province_crl, _ = pki.crls()
    impostor = generate_key()
    forged = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.county.subject)
        .last_update(NOW - timedelta(minutes=1))
        .next_update(NOW + timedelta(days=1))
        .sign(impostor, hashes.SHA256())
    )
    with pytest.raises(RevocationUnknownError):
        verify(pki, pki.officer, crls=[root_crl, province_crl, forged])
    stale = issue_crl(pki.county, pki.county_key, [], START, START + timedelta(days=1))
    with pytest.raises(RevocationUnknownError):
        verify(pki, pki.officer, at=START + timedelta(days=2), crls=[root_crl, province_crl, stale])
    # A CRL issued after the signing time speaks for it.
    verify(pki, pki.officer, at=START + timedelta(days=2), crls=pki.crls())


def test_ca_certificate_used_as_a_leaf(pki: Pki) -> None:
    with pytest.raises(CertificateConstraintError):
        verify_chain_at(pki.county, [pki.province], pki.root, pki.crls(), AT)


def test_wrong_purpose(pki: Pki) -> None:
    with pytest.raises(CertificateConstraintError):
        verify(pki, pki.seal, purposes=RECORD_PURPOSES)
    with pytest.raises(CertificateConstraintError):
        verify(pki, pki.officer, purposes={Purpose.LOG})


def _raw_ca(issuer: x509.Certificate, issuer_key: ec.EllipticCurvePrivateKey, name: str,
            key: ec.EllipticCurvePrivateKey, path_length: int | None,
            extra: x509.ExtensionType | None = None) -> x509.Certificate:
    """A CA certificate made without issue_ca's guards, as a careless or hostile CA would."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(START + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    )
    if extra is not None:
        builder = builder.add_extension(extra, critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def test_path_length_violation(pki: Pki) -> None:
    with pytest.raises(CertificateError):  # issue_ca refuses outright
        issue_ca(pki.county, pki.county_key, "Village CA", generate_key().public_key(), 0, not_before=START)
    village_key = generate_key()
    village = _raw_ca(pki.county, pki.county_key, "Village CA", village_key, None)
    person = party(village, village_key, (village, pki.county, pki.province), Subject("P", None, 5), Purpose.PERSON)
    crls = [*pki.crls(), issue_crl(village, village_key, [], START, NOW + timedelta(days=1))]
    with pytest.raises(CertificateConstraintError):
        verify_chain_at(person.cert, person.chain, pki.root, crls, AT)


def test_unknown_critical_extension(pki: Pki) -> None:
    key = generate_key()
    odd = _raw_ca(pki.province, pki.province_key, "Odd CA", key, 0,
                  x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"))
    person = party(odd, key, (odd, pki.province), Subject("P", None, 5), Purpose.PERSON)
    crls = [*pki.crls(), issue_crl(odd, key, [], START, NOW + timedelta(days=1))]
    with pytest.raises(CertificateConstraintError):
        verify_chain_at(person.cert, person.chain, pki.root, crls, AT)


def test_key_rotation(pki: Pki) -> None:
    """A new key from the rotation day on; the old one is superseded then and keeps its past."""
    rotation = START + timedelta(days=10)
    new = party(pki.county, pki.county_key, pki.officer.chain, Subject("Officer Twelve", "county-arak", 12),
                Purpose.PERSON, not_before=rotation)
    crls = pki.crls({"county": [(pki.officer.cert.serial_number, rotation, x509.ReasonFlags.superseded)]})
    verify(pki, pki.officer, at=rotation - timedelta(days=1), crls=crls)  # old signature at its time
    verify(pki, new, at=rotation + timedelta(days=1), crls=crls)
    with pytest.raises(CertificateRevokedError):
        verify(pki, pki.officer, at=rotation + timedelta(days=1), crls=crls)
    with pytest.raises(CertificateValidityError):
        verify(pki, new, at=rotation - timedelta(days=1), crls=crls)
    assert certificate_user_id(new.cert) == certificate_user_id(pki.officer.cert)


def test_issuance_guards(pki: Pki) -> None:
    person_key = generate_key()
    with pytest.raises(CertificateError):  # the root is P-384
        create_root_ca("Root", generate_key())
    with pytest.raises(CertificateError):  # issuer key does not match the issuer certificate
        issue_end_entity(pki.county, pki.province_key, Subject("P", None, 1), person_key.public_key(),
                         Purpose.PERSON, not_before=START)
    with pytest.raises(CertificateError):  # end entities are P-256
        issue_end_entity(pki.county, pki.county_key, Subject("P", None, 1), generate_ca_key().public_key(),
                         Purpose.PERSON, not_before=START)
    with pytest.raises(CertificateError):  # record signers need a user id
        issue_end_entity(pki.county, pki.county_key, Subject("P"), person_key.public_key(), Purpose.PERSON,
                         not_before=START)
    with pytest.raises(CertificateError):  # an end entity cannot issue
        issue_end_entity(pki.officer.cert, pki.officer.key, Subject("P", None, 1), person_key.public_key(),
                         Purpose.PERSON, not_before=START)
    with pytest.raises(CertificateError):  # not before the issuer is valid
        issue_end_entity(pki.county, pki.county_key, Subject("P", None, 1), person_key.public_key(),
                         Purpose.PERSON, not_before=START - timedelta(days=5))
    with pytest.raises(CertificateError):  # naive times
        issue_end_entity(pki.county, pki.county_key, Subject("P", None, 1), person_key.public_key(),
                         Purpose.PERSON, not_before=datetime(2025, 1, 1))
    with pytest.raises(CertificateError):
        issue_end_entity(pki.county, pki.county_key, Subject(""), person_key.public_key(), Purpose.SEAL)
    with pytest.raises(CertificateError):
        issue_crl(pki.county, pki.county_key, [], NOW, NOW)
    with pytest.raises(CertificateError):
        issue_crl(pki.county, pki.county_key, [(0, NOW, None)], NOW, NOW + timedelta(days=1))
    with pytest.raises(CertificateError):
        verify_chain_at(pki.officer.cert, pki.officer.chain, pki.root, pki.crls(), datetime(2025, 1, 1))


def test_crl_contents(pki: Pki) -> None:
    this_update = NOW.replace(microsecond=0)
    crl = issue_crl(pki.county, pki.county_key, [(pki.officer.cert.serial_number, START, x509.ReasonFlags.superseded)],
                    this_update, this_update + timedelta(days=7))
    assert crl.is_signature_valid(pki.county.public_key())
    assert crl.issuer == pki.county.subject
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == int(this_update.timestamp())
    entry = crl.get_revoked_certificate_by_serial_number(pki.officer.cert.serial_number)
    assert entry is not None and entry.revocation_date_utc == START
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.superseded


def test_pem_round_trips(pki: Pki) -> None:
    assert load_certificate(certificate_pem(pki.officer.cert)) == pki.officer.cert
    assert load_certificate(certificate_pem(pki.root).encode()) == pki.root
    crl = pki.crls()[2]
    assert load_crl(crl_pem(crl)) == crl
    for bad in ("", "garbage", certificate_pem(pki.root) + certificate_pem(pki.county), crl_pem(crl)):
        with pytest.raises(CertificateError):
            load_certificate(bad)
    with pytest.raises(CertificateError):
        load_crl(certificate_pem(pki.root))
