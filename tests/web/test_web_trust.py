"""Trust that stands on its own: sealed PDFs, evidence bundles, the log, revocation, PIN lockout,
and tampering with any stored record, certificate or log row."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import delete, func, select

from signing import BundleError, MerkleError, merkle
from signing import pki as x
from signing.bundle import load_bundle, verify_bundle
from signing.records import parse_time
from signing.pades import signed_attachment, validate_pdf
from support import (ACTORS, PASSWORD, PIN, ROOT, answer_all, application_fixture, found_center, in_county_review, login,
                     upload_documents, user)
from web.extensions import db
from workflows import evidence, log, notes, pki
from workflows.cases import complete_task, start_case
from workflows.errors import Forbidden, SigningLocked, WrongPin
from workflows.keys import MAX_WRONG_PINS, active_key, issue_key, unlock_signer
from workflows.models import Case, Certificate, LogCheckpoint, LogLeaf, LogNode, LogState, Record, RecordTiming, utcnow
from workflows.verification import verify_case, verify_cases

PASSPHRASE = "test-only-ca-passphrase"


@pytest.fixture
def licensed(app):
    center = found_center(app, ACTORS["applicant"])
    return db.session.scalars(select(Case).where(Case.center_id == center.id)).one()


def certificate_pdf(client, case) -> bytes:
    login(client, "applicant1")
    response = client.get(f"/cases/{case.id}/certificate.pdf")
    assert response.status_code == 200
    return response.data


def test_sealed_certificate_verifies_offline_from_the_root_alone(app, client, licensed, tmp_path):
    pdf = certificate_pdf(client, licensed)
    root_pem = client.get("/pki/root.pem").get_data(as_text=True)
    assert root_pem.startswith("-----BEGIN CERTIFICATE-----")
    seal = validate_pdf(pdf, root=x.load_certificate(root_pem))
    assert seal.ok and "evidence.json" in seal.attachments
    report = verify_bundle(load_bundle(signed_attachment(pdf, "evidence.json")), root_pem)
    assert report.ok and report.case_id == licensed.public_id
    assert report.count == db.session.query(Record).filter_by(case_id=licensed.id).count()

    (tmp_path / "root.pem").write_text(root_pem)
    (tmp_path / "ok.pdf").write_bytes(pdf)
    verify = [sys.executable, "-m", "signing.verify_cli", "--root", str(tmp_path / "root.pem")]
    result = subprocess.run([*verify, str(tmp_path / "ok.pdf")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.startswith("OK"), result.stdout + result.stderr

    tampered = bytearray(pdf)
    position = pdf.index(b"/Type /Page") + 2 if b"/Type /Page" in pdf else len(pdf) // 3
    tampered[position] ^= 0x01
    (tmp_path / "bad.pdf").write_bytes(bytes(tampered))
    result = subprocess.run([*verify, str(tmp_path / "bad.pdf")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode != 0 and "FAIL" in result.stdout

    other_root = x.create_root_ca("ریشه دیگر", x.generate_ca_key())
    (tmp_path / "other.pem").write_text(x.certificate_pem(other_root))
    result = subprocess.run([sys.executable, "-m", "signing.verify_cli", "--root", str(tmp_path / "other.pem"),
                             str(tmp_path / "ok.pdf")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode != 0

    if shutil.which("pdfsig"):
        out = subprocess.run(["pdfsig", str(tmp_path / "ok.pdf")], capture_output=True, text=True).stdout
        assert "Signature #1" in out and "Signature is Valid" in out
        out = subprocess.run(["pdfsig", str(tmp_path / "bad.pdf")], capture_output=True, text=True).stdout
        assert "Signature is Valid" not in out


def test_public_page_checks_an_uploaded_pdf(client, licensed):
    pdf = certificate_pdf(client, licensed)
    client.post("/logout")
    page = client.post("/verify", data={"pdf": (io.BytesIO(pdf), "c.pdf")}, content_type="multipart/form-data")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "مهر سند معتبر است" in text and "مجوز صادر شد" in text
    broken = pdf.replace(b"/Reason", b"/Reasom", 1)
    page = client.post("/verify", data={"pdf": (io.BytesIO(broken), "c.pdf")}, content_type="multipart/form-data")
    assert "این سند معتبر نیست" in page.get_data(as_text=True)
    page = client.post("/verify", data={"pdf": (io.BytesIO(b"not a pdf"), "c.pdf")}, content_type="multipart/form-data")
    assert "این سند معتبر نیست" in page.get_data(as_text=True)


def test_log_proofs_through_the_api(app, client, licensed):
    first = log.checkpoint(db.session, PASSPHRASE)
    db.session.commit()
    found_center(app, "applicant2", manager_national_id="1234567891")
    second = log.checkpoint(db.session, PASSPHRASE)
    db.session.commit()
    assert second.tree_size > first.tree_size
    latest = client.get("/api/v1/log/checkpoint").json["checkpoint"]
    assert latest["tree_size"] == second.tree_size and latest["root"] == second.root
    record = db.session.scalars(select(Record).where(Record.case_id == licensed.id)).first()
    proof = client.get(f"/api/v1/log/inclusion?index={record.log_index}&tree_size={second.tree_size}").json
    merkle.verify_inclusion(merkle.record_leaf_hash(record.hash), record.log_index, second.tree_size,
                            [bytes.fromhex(p) for p in proof["proof"]], bytes.fromhex(second.root))
    consistency = client.get(f"/api/v1/log/consistency?first={first.tree_size}&second={second.tree_size}").json
    merkle.verify_consistency(first.tree_size, second.tree_size, bytes.fromhex(first.root), bytes.fromhex(second.root),
                              [bytes.fromhex(p) for p in consistency["proof"]])
    assert client.get("/api/v1/log/inclusion?index=x&tree_size=1").status_code == 422
    beyond = client.get(f"/api/v1/log/inclusion?index=0&tree_size={10**9}")  # no such tree yet
    assert beyond.status_code == 404 and set(beyond.json["errors"]) == {"tree_size"}
    assert client.get(f"/api/v1/log/inclusion?index={second.tree_size}&tree_size={second.tree_size}").json[
        "errors"].keys() == {"index"}
    assert client.get(f"/api/v1/log/consistency?first=2&second=1").status_code == 404
    assert client.get("/api/v1/log/consistency?first=0&second=1").json["errors"].keys() == {"first"}
    log_cert = db.session.scalars(select(Certificate).where(Certificate.purpose == "log")).one()
    assert log.verify_log(db.session, _public_pem(log_cert)) == []


def test_proofs_read_the_stored_subtrees_and_agree_with_the_leaves(app, licensed):
    found_center(app, "applicant2", manager_national_id="1234567891")
    in_county_review(app, "applicant1", manager_national_id="0013542419")
    leaves = [bytes(h) for h in db.session.scalars(select(LogLeaf.leaf_hash).order_by(LogLeaf.index))]
    size = log.size(db.session)
    assert size == len(leaves) > 16 and size & (size - 1)  # not a power of two: a ragged right edge
    head = log.checkpoint(db.session, PASSPHRASE)
    assert head.root == merkle.root(leaves).hex()
    assert log.inclusion_proofs(db.session, list(range(size)), size) == merkle.inclusion_proofs(list(range(size)), leaves)
    for old in range(1, size + 1):
        assert log.consistency_proof(db.session, old, size) == merkle.consistency_proof(old, leaves)
    stored = {(level, index): bytes(value) for level, index, value in
              db.session.execute(select(LogNode.level, LogNode.index, LogNode.hash))}
    levels = merkle.complete_subtrees(leaves)
    assert stored == {(level, index): value for level, values in enumerate(levels) if level
                      for index, value in enumerate(values)}


def test_the_migration_stores_the_subtrees_appends_would_have_stored(app, licensed):
    """A log that existed before subtrees were stored gets the very rows and frontier appends keep."""
    import importlib.util

    in_county_review(app, "applicant2", manager_national_id="1234567891")
    kept = (sorted(db.session.execute(select(LogNode.level, LogNode.index, LogNode.hash)).all()),
            bytes(db.session.get(LogState, 1).frontier))
    assert kept[0] and kept[1]
    db.session.execute(delete(LogNode))
    db.session.get(LogState, 1).frontier = b""
    db.session.commit()
    path = next((ROOT / "migrations" / "versions").glob("*_88760b54ab00_*.py"))
    spec = importlib.util.spec_from_file_location("log_subtrees_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    migration.backfill(db.session.connection())
    db.session.commit()
    db.session.expire_all()
    assert (sorted(db.session.execute(select(LogNode.level, LogNode.index, LogNode.hash)).all()),
            bytes(db.session.get(LogState, 1).frontier)) == kept


def test_forged_subtrees_are_refused_before_a_checkpoint_or_a_bundle_is_signed(app, licensed):
    first = log.checkpoint(db.session, PASSPHRASE)
    db.session.commit()
    found_center(app, "applicant2", manager_national_id="1234567891")
    size = log.size(db.session)

    def forge(ranges):
        level, index = next(key for start, end in ranges for key in merkle.subtrees_of(start, end) if key[0])
        db.session.get(LogNode, (level, index)).hash = bytes(32)

    forge(merkle.consistency_ranges(first.tree_size, size))
    forge(merkle.inclusion_ranges(0, first.tree_size))
    db.session.commit()
    with pytest.raises(MerkleError):  # a forged subtree is in the proof that the log only grew
        log.checkpoint(db.session, PASSPHRASE)
    db.session.rollback()
    assert log.latest_checkpoint(db.session).tree_size == first.tree_size
    with pytest.raises(BundleError):  # and another in the records' inclusion proofs
        evidence.bundle(db.session, licensed, PASSPHRASE)
    log_cert = db.session.scalars(select(Certificate).where(Certificate.purpose == "log")).one()
    assert {p.code for p in log.verify_log(db.session, _public_pem(log_cert))} == {"log_subtree_mismatch"}


def _row_counts() -> dict[str, int]:
    db.session.expire_all()
    return {table.name: db.session.scalar(select(func.count()).select_from(table))
            for table in db.metadata.sorted_tables}


def test_the_evidence_bundle_is_a_read_that_writes_nothing(app, client, licensed, tmp_path):
    """GET …/evidence.json signs no checkpoint: it carries the newest, and until one covers the
    case's last record it answers 409 with nothing written."""
    headers = {"Authorization": "Bearer " + client.post("/api/v1/auth/token", json={
        "username": "applicant1", "password": PASSWORD}).json["token"]}
    url = f"/api/v1/cases/{licensed.id}/evidence.json"
    before = _row_counts()
    uncovered = client.get(url, headers=headers)
    assert uncovered.status_code == 409 and uncovered.json["error"] == "notcheckpointed"
    assert _row_counts() == before

    head = log.checkpoint(db.session, PASSPHRASE)
    db.session.commit()
    before = _row_counts()
    first, again = client.get(url, headers=headers), client.get(url, headers=headers)
    assert first.status_code == again.status_code == 200
    assert _row_counts() == before  # no checkpoint, cosignature, token or anything else
    assert log.latest_checkpoint(db.session).tree_size == head.tree_size
    root_pem = client.get("/pki/root.pem").get_data(as_text=True)
    report = verify_bundle(load_bundle(first.data), root_pem)
    assert report.ok and report.case_id == licensed.public_id
    assert json.loads(first.data)["case_head"]["tree_size"] == head.tree_size


def _public_pem(cert_row: Certificate) -> str:
    return x.load_certificate(cert_row.pem).public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def test_revocation_stops_signing_and_old_records_still_verify(app, licensed, runner):
    case = start_case(db.session, process_key="center_founding", starter=user("applicant2"))
    data = application_fixture()
    data["manager"]["national_id"] = "1234567891"
    data["documents"] = upload_documents(app, case)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user("applicant2"), data=data, pin=PIN)
    answer_all(case, "clear", utcnow())
    assert case.status == "county_review"

    result = runner.invoke(args=["revoke-key", "arak_officer", "--reason", "key_compromise"])
    assert result.exit_code == 0, result.output
    assert verify_case(db.session, licensed).ok  # everything it signed before the revocation stands
    with pytest.raises(Forbidden):
        complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user("arak_officer"),
                      data={"decision": "approve"}, pin=PIN)
    db.session.rollback()
    # a new key and certificate: the officer signs again, and old records still verify
    assert runner.invoke(args=["rotate-key", "arak_officer", "--pin", "2468"]).exit_code == 0
    assert active_key(db.session, user("arak_officer")).certificate is not None
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user("arak_officer"),
                  data={"decision": "approve"}, pin="2468")
    db.session.commit()
    assert verify_case(db.session, licensed).ok and verify_case(db.session, case).ok


def test_a_record_signed_after_revocation_or_backdated_fails(app, licensed):
    record = db.session.scalars(select(Record).where(Record.case_id == licensed.id, Record.action == "approve")
                                .order_by(Record.seq)).first()
    cert = db.session.scalars(select(Certificate).where(Certificate.key_id == record.key_id)).one()
    body = json.loads(record.canonical)
    pki.revoke(db.session, cert, reason="key_compromise", passphrase=PASSPHRASE,
               now=x.load_certificate(cert.pem).not_valid_before_utc + timedelta(minutes=1))
    db.session.commit()
    report = verify_case(db.session, licensed)
    assert not report.ok and {p.code for p in report.problems} == {"cert_revoked"}
    assert body["time"]  # the record's own time is what the revocation is compared with


def test_a_revocation_within_the_second_of_a_record_keeps_that_record_valid(app, licensed):
    """CRLs carry whole seconds: a record signed a moment before the revocation still verifies."""
    record = db.session.scalars(select(Record).where(Record.case_id == licensed.id, Record.action == "approve")
                                .order_by(Record.seq.desc())).first()
    cert = db.session.scalars(select(Certificate).where(Certificate.key_id == record.key_id)).one()
    signed = parse_time(json.loads(record.canonical)["time"])
    pki.revoke(db.session, cert, reason="key_compromise", passphrase=PASSPHRASE,
               now=signed.replace(microsecond=999_000))
    db.session.commit()
    assert cert.revoked_at.replace(tzinfo=None) > signed.replace(tzinfo=None)
    assert verify_case(db.session, licensed).ok


def test_wrong_pins_lock_signing(app):
    for _ in range(MAX_WRONG_PINS):
        with pytest.raises(WrongPin):
            unlock_signer(db.session, user("applicant1"), "0000")
        db.session.rollback()  # the wrong PIN was counted in a commit of its own
    with pytest.raises(SigningLocked):
        unlock_signer(db.session, user("applicant1"), PIN)


def test_a_key_made_in_a_transaction_is_tried_and_counted_in_it(app):
    """A script that gives a person a new key and signs with it before one commit: nothing else sees
    the key yet, so its PINs are counted in that transaction, and a right one clears the count."""
    row = issue_key(db.session, user("applicant1"), "2468")
    with pytest.raises(WrongPin):
        unlock_signer(db.session, user("applicant1"), "0000")
    assert db.session.get(type(row), row.key_id).failed_pins == 1
    assert unlock_signer(db.session, user("applicant1"), "2468").key_id == row.key_id
    db.session.commit()
    db.session.expire_all()
    assert active_key(db.session, user("applicant1")).failed_pins == 0


def test_wrong_pins_through_the_api_lock_signing(app, client):
    token = client.post("/api/v1/auth/token", json={"username": "applicant1", "password": "demo1234"}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    case = client.post("/api/v1/cases", json={"process_key": "center_founding"}, headers=headers).json
    data = application_fixture()
    data["documents"] = upload_documents(app, db.session.get(Case, case["id"]))
    db.session.commit()
    url = f"/api/v1/cases/{case['id']}/tasks/{case['tasks'][0]['id']}/complete"
    for _ in range(MAX_WRONG_PINS):
        response = client.post(url, json={"data": data, "pin": "0000"}, headers=headers)
        assert response.status_code == 422 and set(response.json["errors"]) == {"pin"}
    db.session.expire_all()
    assert active_key(db.session, user("applicant1")).failed_pins == MAX_WRONG_PINS
    locked = client.post(url, json={"data": data, "pin": PIN}, headers=headers)
    assert locked.status_code == 403
    assert db.session.query(Record).filter_by(case_id=case["id"]).count() == 0


@pytest.mark.parametrize("change", ["leaf_hash", "delete_leaf", "checkpoint_root", "certificate_pem",
                                    "certificate_key_id", "delete_record", "swap_records", "subtree_hash",
                                    "delete_subtree", "frontier"])
def test_tampering_with_certificates_and_the_log_is_detected(app, licensed, change):
    log.checkpoint(db.session, PASSPHRASE)
    db.session.commit()
    records = db.session.scalars(select(Record).where(Record.case_id == licensed.id).order_by(Record.seq)).all()
    approve = next(r for r in records if r.action == "approve")
    cert = db.session.scalars(select(Certificate).where(Certificate.key_id == approve.key_id)).one()
    other = db.session.scalars(select(Certificate).where(Certificate.user_id == user("saveh_officer").id)).one()
    leaf = db.session.get(LogLeaf, approve.log_index)
    if change == "leaf_hash":
        leaf.leaf_hash = bytes(32)
    elif change == "delete_leaf":
        db.session.delete(leaf)
    elif change == "checkpoint_root":
        db.session.scalars(select(LogCheckpoint)).first().root = "0" * 64
    elif change == "certificate_pem":
        cert.pem = other.pem
    elif change == "certificate_key_id":
        cert.key_id = other.key_id
    elif change == "delete_record":  # with everything that refers to it, as a thorough intruder would
        db.session.delete(db.session.get(LogLeaf, approve.log_index))
        db.session.execute(delete(RecordTiming).where(RecordTiming.record_id == approve.id))
        db.session.flush()
        db.session.delete(approve)
    elif change == "subtree_hash":
        db.session.scalars(select(LogNode).order_by(LogNode.level.desc())).first().hash = bytes(32)
    elif change == "delete_subtree":
        db.session.delete(db.session.scalars(select(LogNode).order_by(LogNode.level.desc())).first())
    elif change == "frontier":
        db.session.get(LogState, 1).frontier = bytes(32) + bytes(db.session.get(LogState, 1).frontier)[32:]
    elif change == "swap_records":
        first, second = records[1], records[2]
        first_seq, second_seq = first.seq, second.seq
        first.seq = -1
        db.session.flush()
        second.seq = first_seq
        db.session.flush()
        first.seq = second_seq
    db.session.commit()
    log_cert = db.session.scalars(select(Certificate).where(Certificate.purpose == "log")).one()
    report = verify_case(db.session, licensed)
    log_ok = log.verify_log(db.session, _public_pem(log_cert)) == []
    assert not (report.ok and log_ok), change
    # the whole-database audit streams every case with keys read once: the very same report
    assert {case_id: found for case_id, _, _, found in verify_cases(db.session)}[licensed.id] == report


CERTIFICATE_COLUMNS = ["serial", "purpose", "user_id", "key_id", "issuer_ca_id", "pem", "not_before", "not_after"]


@pytest.mark.parametrize("column", CERTIFICATE_COLUMNS)
def test_every_certificate_column_is_checked(app, licensed, column):
    record = db.session.scalars(select(Record).where(Record.case_id == licensed.id, Record.action == "approve")).first()
    cert = db.session.scalars(select(Certificate).where(Certificate.key_id == record.key_id)).one()
    other = db.session.scalars(select(Certificate).where(Certificate.user_id == user("saveh_officer").id)).one()
    changed = {"serial": "1234abcd", "purpose": "agency", "user_id": other.user_id, "key_id": other.key_id,
               "issuer_ca_id": other.issuer_ca_id, "pem": other.pem,
               "not_before": cert.not_before - timedelta(days=1), "not_after": cert.not_after + timedelta(days=1)}
    setattr(cert, column, changed[column])
    db.session.commit()
    report = verify_case(db.session, licensed)
    assert not report.ok, column
    assert any(p.seq == record.seq for p in report.problems), column
    assert {case_id: found for case_id, _, _, found in verify_cases(db.session)}[licensed.id] == report


@pytest.mark.parametrize("column", ["index", "leaf_hash", "record_id"])
def test_every_log_leaf_column_is_checked(app, licensed, column):
    found_center(app, "applicant2", manager_national_id="1234567891")
    record = db.session.scalars(select(Record).where(Record.case_id == licensed.id, Record.action == "approve")).first()
    leaf = db.session.get(LogLeaf, record.log_index)
    last = db.session.scalars(select(LogLeaf).order_by(LogLeaf.index.desc())).first()
    if column == "index":
        leaf.index = last.index + 100
    elif column == "leaf_hash":
        leaf.leaf_hash = merkle.leaf_hash(b"forged")
    else:
        last_record_id = last.record_id
        db.session.delete(last)
        db.session.flush()
        leaf.record_id = last_record_id
    db.session.commit()
    log_cert = db.session.scalars(select(Certificate).where(Certificate.purpose == "log")).one()
    assert not verify_case(db.session, licensed).ok or log.verify_log(db.session, _public_pem(log_cert))


@pytest.mark.parametrize("column", ["tree_size", "root", "time", "log_id", "signature", "key_id"])
def test_every_checkpoint_column_is_checked(app, licensed, column):
    row = log.checkpoint(db.session, PASSPHRASE)
    db.session.commit()
    changed = {"tree_size": row.tree_size - 1, "root": "ab" * 32, "time": "2020-01-01T00:00:00.000000Z",
               "log_id": "another-log", "signature": row.signature[:-8] + "AAAAAAA=", "key_id": "0" * 64}[column]
    setattr(row, column, changed)
    db.session.commit()
    log_cert = db.session.scalars(select(Certificate).where(Certificate.purpose == "log")).one()
    assert log.verify_log(db.session, _public_pem(log_cert)), column


def test_a_repeated_download_is_the_kept_certificate_until_the_chain_grows_and_never_unproved(app, client, licensed):
    first = certificate_pdf(client, licensed)
    kept = list((app.config["STORAGE_DIR"] / "certificates").glob(f"case{licensed.id}-*.pdf"))
    assert len(kept) == 1 and kept[0].read_bytes() == first
    assert certificate_pdf(client, licensed) == first  # not rendered and sealed again (a new seal has a new time)

    kept[0].write_bytes(first.replace(b"%PDF", b"%PDX", 1))  # changed on disk: made again, and valid
    again = certificate_pdf(client, licensed)
    root = x.load_certificate(client.get("/pki/root.pem").get_data(as_text=True))
    assert again != first and validate_pdf(again, root=root).ok
    assert [p.read_bytes() for p in (app.config["STORAGE_DIR"] / "certificates").glob(f"case{licensed.id}-*.pdf")] == [again]

    # a new record (an office's note) is a new head: a new certificate
    notes.add_note(db.session, case=licensed, author=user(ACTORS["county"]), action="office_note", text="یادداشت",
                   now=utcnow(), pin=PIN)
    db.session.commit()
    assert db.session.scalars(select(Record).where(Record.case_id == licensed.id)
                              .order_by(Record.seq.desc())).first().action == "office_note"
    grown = certificate_pdf(client, licensed)
    assert grown != again and validate_pdf(grown, root=root).ok
    assert len(list((app.config["STORAGE_DIR"] / "certificates").glob(f"case{licensed.id}-*.pdf"))) == 1

    db.session.execute(Case.__table__.update().where(Case.id == licensed.id).values(status="rejected"))
    db.session.commit()  # a stored fact edited: the kept certificate is not served
    login(client, "applicant1")
    assert client.get(f"/cases/{licensed.id}/certificate.pdf").status_code == 409
