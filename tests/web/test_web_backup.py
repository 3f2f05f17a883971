"""Backup and restore round-trip: after `flask restore` into an empty database, every record,
certificate and log checkpoint verifies, the documents are back, and a running case continues."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, inspect, select

from signing import pki as x
from support import ACTORS, PIN, answer_all, application_fixture, found_center, tick, upload_documents, user
from web import create_app
from web.extensions import db
from workflows import audit, log
from workflows.cases import complete_task, start_case
from workflows.documents import document_path
from workflows.models import Case, Certificate, Document, LogCheckpoint, LogLeaf, Record, utcnow
from workflows.verification import verify_case


@pytest.fixture
def backed_up(app, runner, tmp_path) -> dict:
    """A licensed center, a case waiting for the county, a signed checkpoint; then `flask backup`."""
    found_center(app, ACTORS["applicant"])
    case = start_case(db.session, process_key="center_founding", starter=user("applicant2"))
    data = application_fixture()
    data["manager"]["national_id"] = "1234567891"
    data["documents"] = upload_documents(app, case)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user("applicant2"), data=data, pin=PIN)
    db.session.commit()
    answer_all(case, "clear", utcnow())
    tick(app, utcnow())
    assert runner.invoke(args=["db", "stamp", "head"]).exit_code == 0  # the test database was made from the models
    file = tmp_path / "backup.zip"
    result = runner.invoke(args=["backup", str(file)])
    assert result.exit_code == 0, result.output
    assert "documents" in result.output
    return {"file": file, "running": case.id, "task": case.tasks[0].task_id,
            "records": db.session.scalar(select(func.count()).select_from(Record)),
            "leaves": db.session.scalar(select(func.count()).select_from(LogLeaf)),
            "checkpoints": db.session.scalar(select(func.count()).select_from(LogCheckpoint)),
            "documents": list(db.session.scalars(select(Document.sha256)))}


@pytest.fixture
def empty_app(test_databases, tmp_path):
    folder = tmp_path / "restored"
    folder.mkdir()
    url = test_databases.create(folder)
    restored = create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": url, "STORAGE_DIR": folder / "documents"})
    yield restored
    with restored.app_context():
        db.session.remove()
        db.engine.dispose()
    test_databases.drop(url)


def _log_public_key() -> str:
    row = db.session.scalars(select(Certificate).where(Certificate.purpose == "log")).one()
    return x.load_certificate(row.pem).public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def _restore(app, file: Path):
    """`flask restore` on ``app`` (the CLI runner uses the application context already pushed)."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=["restore", str(file)])


def test_a_restored_database_verifies_and_its_cases_continue(backed_up, empty_app):
    result = _restore(empty_app, backed_up["file"])
    assert result.exit_code == 0, result.output
    with empty_app.app_context():
        count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
        assert (count(Record), count(LogLeaf), count(LogCheckpoint)) == (
            backed_up["records"], backed_up["leaves"], backed_up["checkpoints"])
        assert all(result.report.ok for result in audit.verify_all(db.session))
        assert log.verify_log(db.session, _log_public_key()) == []
        storage = Path(empty_app.config["STORAGE_DIR"])
        assert all(document_path(storage, sha).exists() for sha in backed_up["documents"])

        # the waiting case goes on: the county signs (its key restored, still under its PIN)
        case = db.session.get(Case, backed_up["running"])
        complete_task(db.session, case=case, task_id=backed_up["task"], actor=user(ACTORS["county"]),
                      data={"decision": "approve"}, pin=PIN)
        db.session.commit()
        assert case.status == "province_review" and verify_case(db.session, case).ok
        # new rows take new ids (PostgreSQL's sequences were moved past the restored ones)
        fresh = start_case(db.session, process_key="center_founding", starter=user("applicant1"))
        db.session.commit()
        assert fresh.id > backed_up["running"]
        assert log.verify_log(db.session, _log_public_key()) == []
        runner = empty_app.test_cli_runner()
        assert runner.invoke(args=["verify-all", "--quiet"]).exit_code == 0


def test_restore_refuses_a_damaged_backup_and_leaves_the_database_empty(backed_up, empty_app, tmp_path):
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(backed_up["file"]) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "tables/records.jsonl":
                data = data.replace(b'"approve"', b'"reject"', 1)
            target.writestr(item, data)
    result = _restore(empty_app, damaged)
    assert result.exit_code != 0 and "records.jsonl does not match its digest" in result.output
    with empty_app.app_context():  # checked before anything is written: not even the schema
        assert inspect(db.engine).get_table_names() == []


def test_restore_refuses_a_database_that_is_not_empty(app, backed_up):
    result = _restore(app, backed_up["file"])
    assert result.exit_code != 0 and "not empty" in result.output


def test_restore_refuses_what_is_not_a_backup(empty_app, tmp_path):
    bogus = tmp_path / "notes.zip"
    bogus.write_bytes(b"not a zip at all")
    result = _restore(empty_app, bogus)
    assert result.exit_code != 0 and "is not a backup archive" in result.output
