"""The process's trust material (root, CRLs, CA chains) is reused between verifications, and never
serves revocation data older than the database's."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from signing import parse_time
from signing import pki as x
from support import ACTORS, PIN, application_fixture, found_center, upload_documents, user
from web.extensions import db
from workflows import pki
from workflows.cases import complete_task, start_case
from workflows.errors import Forbidden
from workflows.keys import active_key
from workflows.models import Case, Certificate, Crl, Record, as_utc, utcnow
from workflows.verification import verify_case

PASSPHRASE = "test-only-ca-passphrase"


@pytest.fixture
def licensed(app):
    center = found_center(app, ACTORS["applicant"])
    return db.session.scalars(select(Case).where(Case.center_id == center.id)).one()


def _officer_certificate(case: Case) -> tuple[Record, Certificate]:
    record = db.session.scalars(select(Record).where(Record.case_id == case.id, Record.action == "approve")
                                .order_by(Record.seq)).first()
    return record, db.session.scalars(select(Certificate).where(Certificate.key_id == record.key_id)).one()


def test_the_material_is_reused_while_nothing_changes(app, licensed):
    assert verify_case(db.session, licensed).ok
    first = pki.trust_material(db.session)
    assert verify_case(db.session, licensed).ok
    assert pki.trust_material(db.session) is first
    assert len(first.crls) == len(pki.current_crls(db.session))


def test_a_revocation_after_a_verification_is_seen_by_the_next_one(app, licensed):
    record, cert = _officer_certificate(licensed)
    assert verify_case(db.session, licensed).ok
    before = pki.trust_material(db.session)
    pki.revoke(db.session, cert, reason="key_compromise", passphrase=PASSPHRASE,
               now=x.load_certificate(cert.pem).not_valid_before_utc + timedelta(minutes=1))
    # not even committed: the same transaction sees its own revocation at once
    report = verify_case(db.session, licensed)
    assert not report.ok and {p.code for p in report.problems} == {"cert_revoked"}
    assert pki.trust_material(db.session) is not before
    db.session.commit()
    report = verify_case(db.session, licensed)
    assert not report.ok and {p.code for p in report.problems} == {"cert_revoked"}


def test_a_rolled_back_revocation_is_not_served_and_a_reused_crl_id_is_noticed(app, licensed):
    record, cert = _officer_certificate(licensed)
    signed = parse_time(json.loads(record.canonical)["time"])
    assert verify_case(db.session, licensed).ok
    pki.revoke(db.session, cert, reason="key_compromise", passphrase=PASSPHRASE, now=signed - timedelta(seconds=30))
    revoked_crl_id = db.session.scalar(select(Crl.id).order_by(Crl.id.desc()).limit(1))
    assert not verify_case(db.session, licensed).ok  # the material now holds the revoking CRL
    db.session.rollback()
    assert verify_case(db.session, licensed).ok  # the revocation never happened
    pki.revoke(db.session, cert, reason="key_compromise", passphrase=PASSPHRASE, now=signed - timedelta(seconds=30))
    assert not verify_case(db.session, licensed).ok
    db.session.rollback()
    # a new CRL of the same CA that lists nothing takes the rolled-back row's id (SQLite reuses
    # it) and count: the material made with the rolled-back CRL must not be served
    pki.refresh_crls(db.session, PASSPHRASE, force_ca_ids={cert.issuer_ca_id})
    if db.engine.dialect.name == "sqlite":
        assert db.session.scalar(select(Crl.id).order_by(Crl.id.desc()).limit(1)) == revoked_crl_id
    assert verify_case(db.session, licensed).ok


def test_check_signer_sees_a_revocation_made_after_it_ran(app):
    case = start_case(db.session, process_key="center_founding", starter=user("applicant2"))
    data = application_fixture()
    data["manager"]["national_id"] = "1234567891"
    data["documents"] = upload_documents(app, case)
    signing_key = db.session.scalars(select(Certificate).where(Certificate.user_id == user("applicant2").id)).one()
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user("applicant2"), data=data, pin=PIN)
    db.session.commit()
    key = active_key(db.session, user("applicant2"))
    pki.check_signer(db.session, key, utcnow())
    pki.revoke(db.session, signing_key, reason="key_compromise", passphrase=PASSPHRASE)
    db.session.commit()
    with pytest.raises(Forbidden):
        pki.check_signer(db.session, key, as_utc(signing_key.revoked_at) + timedelta(seconds=1))


def test_forgetting_the_material_reloads_it(app, licensed):
    first = pki.trust_material(db.session)
    pki.forget_trust_material()
    second = pki.trust_material(db.session)
    assert second is not first and second.version == first.version
    assert verify_case(db.session, licensed).ok
