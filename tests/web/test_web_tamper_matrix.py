"""Every column of every table that holds or derives trust, edited one at a time as an insider with
database access would, must be found by the whole-database audit (``verify-all``): the chains,
the registry and case rows against the signed records, the log and the admin log.

Each edit puts in a value another row of the same column holds (a realistic forgery: a valid
status, another person's key, another case's id), or a plausible value of the column's type, then
the row is put back and the audit must be clean again. A column left out says why in EXEMPT.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Boolean, Date, Integer, LargeBinary, SmallInteger, String, Text, select, update
from sqlalchemy.exc import DBAPIError

from support import ACTORS, PIN, add_counties_signed, found_center, in_county_review, user
from web.extensions import db
from workflows import audit, log
from workflows.admin import AdminRecord
from workflows.cases import complete_task, start_case
from workflows.models import (
    Base, Case, Center, Certificate, CertificateAuthority, Crl, License, LogCheckpoint, LogLeaf, LogNode, LogState,
    ManagerTerm, Record, ServiceKey, SigningKey, UtcDateTime, tehran_today, utcnow,
)

PASSPHRASE = "test-only-ca-passphrase"

#: the tables that hold or derive trust
TABLES = [Record, LogLeaf, LogNode, LogState, LogCheckpoint, Case, Center, License, ManagerTerm, AdminRecord,
          SigningKey, Certificate, CertificateAuthority, Crl, ServiceKey]

#: columns that state no fact and prove nothing, each with the reason it is not checked
EXEMPT = {
    "records.id": "the row's surrogate key; records are found by case and seq, leaves by log index",
    "records.created_at": "a copy of the signed time kept for indexes; pages show the signed time",
    "records.form_data": "checked against the signed form digest",
    "cases.id": "surrogate key",
    "cases.state": "the engine's working state: what it says is proved by the records it led to",
    "cases.lock_version": "optimistic locking counter",
    "cases.wake_at": "when the tick next looks at the case; a timer that fires signs a record",
    "cases.notified_seq": "which records notifications were sent for",
    "cases.created_at": "when the row was made; the first record's signed time is the case's start",
    "cases.updated_at": "when the row last changed",
    "cases.serializer_version": "the engine's serializer, read to load the state",
    "cases.spec_version": "signed in every record (spec_version) and checked there",
    "cases.process_key": "signed in every record (process_key) and checked there",
    "cases.applicant_id": "who may act on the applicant's tasks; every act is signed by its actor",
    "cases.linked_case_id": "the link is signed in the successor_confirmed record",
    "cases.public_id": "signed in every record (case_id)",
    "centers.created_at": "when the row was made",
    "log_state.id": "the single row's key",
    "certificate_authorities.encrypted_key": "a CA's private key (encrypted): it signs, it proves nothing",
    "service_keys.encrypted_key": "a service's private key (encrypted): it signs, it proves nothing",
    "service_keys.id": "surrogate key",
    "service_keys.purpose": "which key signs what: a wrong one signs with a certificate that does not fit",
    "service_keys.office_id": "which office's key is used to sign: its certificate names its office",
    "service_keys.certificate_id": "which certificate a new signature carries: checked when verified",
    "signing_keys.encrypted_private_key": "a person's private key (encrypted under the PIN): it signs",
    "signing_keys.failed_pins": "the wrong-PIN counter",
    "signing_keys.created_at": "when the row was made",
    "signing_keys.active": "whether the key may sign new records; old records verify either way",
    "signing_keys.certificate_id": "the certificate is found by key id and checked for the record's time",
    "certificates.id": "surrogate key",
    "certificates.subject": "the display copy of the certificate's subject; the PEM is what is checked",
    "certificates.office_id": "the display copy of the office; the PEM's OU is what is checked",
    "certificates.revocation_reason": "why a certificate was revoked (the CRL is what is checked)",
    "crls.id": "surrogate key",
    "crls.this_update": "a copy of the CRL's own field; the PEM is what is checked",
    "crls.next_update": "a copy of the CRL's own field; the PEM is what is checked",
    "crls.ca_id": "CRLs are matched to CAs by their signed issuer name",
    "certificate_authorities.id": "surrogate key",
    "certificate_authorities.kind": "which kind of CA: the certificate's constraints are what is checked",
    "certificate_authorities.office_id": "the display copy of the office",
    "admin_records.id": "surrogate key",
    "admin_records.created_at": "a copy of the signed time",
    "manager_terms.id": "surrogate key, signed as each term's id",
    "licenses.id": "surrogate key, signed as the license's id",
    "centers.id": "surrogate key, signed as the center's id",
}


@pytest.fixture
def world(app, runner):
    """A licensed center whose manager retired (an interim took over), a case in review, admin
    changes, revocations (a CRL with an entry), and a checkpoint over all of it."""
    center = found_center(app, ACTORS["applicant"])
    officer = user("arak_officer")
    case = start_case(db.session, process_key="manager_retirement", starter=officer, center=center)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=officer,
                  data={"effective_date": tehran_today(utcnow()).isoformat(), "reason": "رسیدن به سن بازنشستگی."},
                  pin=PIN)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=officer,
                  data={"continuity": "interim", "interim": {"full_name": "رضا قاسمی", "national_id": "0067749828",
                                                             "mobile": "09350001122"}}, pin=PIN)
    db.session.commit()
    in_county_review(app, "applicant2", manager_national_id="1234567891")
    found_center(app, "applicant2", manager_national_id="0013542419")  # so that a reference can point elsewhere
    start_case(db.session, process_key="center_founding", starter=user("applicant2"))  # a case with no record yet
    add_counties_signed(runner)
    log.checkpoint(db.session, PASSPHRASE)
    db.session.commit()
    assert _problems() == [], _problems()


def _problems() -> list[str]:
    db.session.expire_all()
    found = [f"case {r.case_id}: {p.code}" for r in audit.verify_all(db.session) if not r.report.ok
             for p in r.report.problems]
    found += audit.audit_store(db.session).lines()
    db.session.rollback()
    return found


#: a valid value of a column a CHECK constraint limits, for the edit the database lets through
VALID = {"licenses.status": "suspended", "manager_terms.end_reason": "resigned", "cases.status": "licensed",
         "certificates.purpose": "agency"}


def _unique(table, column) -> bool:
    return column.unique or column.primary_key or any(
        column.name in {c.name for c in constraint.columns} for constraint in table.constraints
        if constraint.__class__.__name__ == "UniqueConstraint") or any(
        index.unique and column.name in {c.name for c in index.columns} for index in table.indexes)


def _alternative(table, column, value):
    """Another value for the column: a valid one its CHECK allows, one another row holds (for a
    column whose values are not unique), else one of the same type."""
    name = f"{table.name}.{column.name}"
    if name in VALID and VALID[name] != value:
        return VALID[name]
    if not _unique(table, column):
        other = db.session.scalars(select(column).where(column.is_not(None), column != value).limit(1)).first() \
            if value is not None else db.session.scalars(select(column).where(column.is_not(None)).limit(1)).first()
        if other is not None:
            return other
    kind = column.type
    if value is None:
        return {Date: date(2030, 1, 1), UtcDateTime: utcnow(), Boolean: True}.get(
            type(kind), 1 if isinstance(kind, Integer) else "x")
    if isinstance(kind, Boolean):
        return not value
    if isinstance(kind, (Integer, SmallInteger)):
        return value + 1000
    if isinstance(kind, (UtcDateTime, Date)):
        return value - timedelta(days=3)
    if isinstance(kind, LargeBinary):
        data = bytearray(value)
        data[0] ^= 0x01
        return bytes(data)
    if isinstance(kind, (String, Text)):
        text = str(value)
        if len(text) >= 2 and all(c in "0123456789abcdef" for c in text):
            return text[:-1] + ("0" if text[-1] != "0" else "1")
        return text[:-1] + ("X" if not text.endswith("X") else "Y") if text else "X"
    raise AssertionError(f"no alternative for {name} of type {kind!r}")


def _candidates(table, column, value) -> list:
    """Values to put in, the first the database accepts is used: for a reference, other rows that
    exist (a forgery that points somewhere real), else `_alternative`."""
    found = []
    for key in column.foreign_keys:
        target = key.column
        found += list(db.session.scalars(select(target).where(target != value).order_by(target).limit(6)))
    return [*found, _alternative(table, column, value)]


def _columns():
    for model in TABLES:
        table = model.__table__
        for column in table.columns:
            yield table, column


def test_every_trust_column_edited_is_found_by_the_audit(world, capsys):
    tried, found, refused, missed = 0, 0, [], []
    for table, column in _columns():
        name = f"{table.name}.{column.name}"
        if name in EXEMPT:
            continue
        pk = list(table.primary_key.columns)
        row = db.session.execute(select(*pk, column).where(column.is_not(None)).order_by(*pk).limit(1)).first() \
            or db.session.execute(select(*pk, column).order_by(*pk).limit(1)).first()
        if row is None:
            continue
        keys, value = row[:-1], row[-1]
        where = [c == k for c, k in zip(pk, keys)]
        tried += 1
        for new in _candidates(table, column, value):
            try:
                db.session.execute(update(table).where(*where).values({column.name: new}))
                db.session.commit()
                break
            except DBAPIError:  # a foreign key or a unique constraint refuses this one: try another
                db.session.rollback()
        else:
            refused.append(name)
            continue
        problems = _problems()
        if problems:
            found += 1
        else:
            missed.append(name)
        restored_where = [c == (new if c is column else k) for c, k in zip(pk, keys)] if column.primary_key else where
        db.session.execute(update(table).where(*restored_where).values({column.name: value}))
        db.session.commit()
        assert _problems() == [], f"{name} put back, the audit should be clean again"
    with capsys.disabled():
        print(f"\ntamper matrix: {tried} column edits tried, {found} found by the audit, "
              f"{len(refused)} refused by the database ({', '.join(refused) or 'none'}), "
              f"{len(missed)} missed ({', '.join(missed) or 'none'})")
    assert missed == [], f"edits the audit does not find: {missed}"
