"""The one chain writer: a case's records and the admin log's are signed, checked and logged alike."""
from __future__ import annotations

import json
import pytest
from sqlalchemy import func, select

from signing import canonical_bytes, digest
from signing import pki as x
from support import PIN, in_county_review, user
from web.extensions import db
from workflows import admin, log, pki
from workflows.admin import AdminRecord
from workflows.cases import complete_task
from workflows.errors import Forbidden
from workflows.keys import active_key, unlock_signer
from workflows.models import Case, LogLeaf, Record, utcnow

PASSPHRASE = "test-only-ca-passphrase"
NEW_COUNTY = {"code": "markazi-test9", "name": "دهستان آزمایشی", "kind": "county", "parent": "markazi"}


def _written() -> tuple[int, int, int]:
    """Case records, admin records and log leaves stored."""
    return (db.session.scalar(select(func.count()).select_from(Record)),
            db.session.scalar(select(func.count()).select_from(AdminRecord)),
            log.size(db.session))


def test_an_admin_record_keeps_its_signed_body_and_is_a_log_leaf(app):
    """The admin log's records are signed in the format they always had (records signed before the
    one writer existed still verify), and each is the log's leaf at its index."""
    now = utcnow().replace(microsecond=0)
    administrator = user("admin")
    change = admin.add_office(db.session, administrator, data=dict(NEW_COUNTY), pin=PIN, now=now)
    record = change.record
    data = {**NEW_COUNTY, "number": None}
    assert json.loads(record.canonical) == {
        "v": 1, "case_id": "admin-log", "seq": 1, "process_key": "admin", "spec_version": "1",
        "task_id": None, "task_name": None, "action": "add_office",
        "actor": {"user_id": administrator.id, "username": "admin", "role": "admin", "office": "hq"},
        "key_id": record.key_id, "form_key": "admin_add_office", "form_digest": digest(data),
        "attachments": [], "rule_results": None, "details": {"office": "markazi-test9"},
        "time": now.strftime("%Y-%m-%dT%H:%M:%S.000000Z"), "prev_hash": None,
    }
    assert record.form_data == canonical_bytes(data).decode("utf-8")
    leaf = db.session.scalars(select(LogLeaf).where(LogLeaf.index == record.log_index)).one()
    assert leaf.admin_record_id == record.id and leaf.record_id is None
    assert admin.verify_admin_log(db.session).ok


def _revoke_certificate_only(username: str) -> None:
    """Revoke the person's certificate but leave their key row active (a half-applied or tampered
    revocation): only the certificate check can refuse the key now."""
    row = active_key(db.session, user(username))
    issued = x.load_certificate(row.certificate.pem).not_valid_before_utc
    pki.revoke(db.session, row.certificate, reason="key_compromise", passphrase=PASSPHRASE, now=issued)
    row.active = True
    db.session.commit()  # a PIN is counted on a connection of its own: it must see the row unlocked


def _write_case(case: Case, **signing) -> None:
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user("arak_officer"),
                  data={"decision": "approve"}, **signing)


def _write_admin(**signing) -> None:
    admin.add_office(db.session, user("admin"), data=dict(NEW_COUNTY), **signing)


@pytest.mark.parametrize("chain", ["case", "admin"])
def test_a_revoked_certificate_writes_no_record_of_either_chain(app, chain):
    case = in_county_review(app)
    before = _written()
    _revoke_certificate_only("arak_officer" if chain == "case" else "admin")
    with pytest.raises(Forbidden, match="certificate not valid"):
        _write_case(case, pin=PIN) if chain == "case" else _write_admin(pin=PIN)
    db.session.rollback()
    assert _written() == before


@pytest.mark.parametrize("chain", ["case", "admin"])
def test_a_deactivated_key_writes_no_record_of_either_chain(app, monkeypatch, chain):
    """A key unlocked, then deactivated before it signs (its person's key rotated meanwhile)."""
    case = in_county_review(app)
    before = _written()
    username = "arak_officer" if chain == "case" else "admin"
    signer = unlock_signer(db.session, user(username), PIN)
    active_key(db.session, user(username)).active = False
    db.session.flush()
    with pytest.raises(Forbidden, match="not the actor's active key"):
        if chain == "case":
            _write_case(case, signer=signer)
        else:
            monkeypatch.setattr(admin, "unlock_signer", lambda session, person, pin: signer)
            _write_admin(pin=PIN)
    db.session.rollback()
    assert _written() == before
