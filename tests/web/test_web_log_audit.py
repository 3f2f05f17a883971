"""The log auditor against a running server: it proves growth, and catches a rewritten history."""
from __future__ import annotations

import json
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import select
from werkzeug.serving import make_server

from signing import log_audit, merkle
from signing.note import verify_checkpoint_note, witness_key
from support import ACTORS, OTHER_MANAGER, found_center
from web.extensions import db
from workflows import log
from workflows.models import LogCheckpoint, LogLeaf, LogNode, LogState

PASSPHRASE = "test-only-ca-passphrase"


@pytest.fixture
def server(app):
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_auditor_proves_growth_and_catches_a_rewrite(app, client, server, tmp_path, capsys):
    found_center(app, ACTORS["applicant"])
    log.checkpoint(db.session, PASSPHRASE)
    db.session.commit()
    key = tmp_path / "log-key.pem"
    key.write_bytes(client.get("/pki/log-key.pem").data)
    state = tmp_path / "state.json"
    args = ["--url", server, "--log-key", str(key), "--state", str(state)]

    assert log_audit.main(args) == 0 and state.exists()
    found_center(app, "applicant2", manager_national_id=OTHER_MANAGER)
    log.checkpoint(db.session, PASSPHRASE)
    db.session.commit()
    assert log_audit.main(args) == 0
    assert "consistency proven" in capsys.readouterr().out
    saved = state.read_text()

    # an insider with the log key rewrites an old leaf, and every stored hash above it, and signs
    # a fresh head over the forged history
    db.session.get(LogLeaf, 0).leaf_hash = bytes(32)
    leaves = [bytes(h) for h in db.session.scalars(select(LogLeaf.leaf_hash).order_by(LogLeaf.index))]
    levels = merkle.complete_subtrees(leaves)
    for node in db.session.scalars(select(LogNode)):
        node.hash = levels[node.level][node.index]
    db.session.get(LogState, 1).frontier = b"".join(
        levels[level][index] for level, index in merkle.subtrees_of(0, len(leaves)))
    for row in db.session.scalars(select(LogCheckpoint)):
        db.session.delete(row)
    db.session.commit()
    found_center(app, "applicant1", manager_national_id="0013542419")
    log.checkpoint(db.session, PASSPHRASE)
    db.session.commit()
    assert log_audit.main(args) == 1
    assert "FAIL" in capsys.readouterr().out
    assert state.read_text() == saved  # the last proven checkpoint is kept


def test_auditor_keeps_the_signed_note_and_reads_a_state_from_before_notes(app, client, server, tmp_path, capsys):
    found_center(app, ACTORS["applicant"])
    first = log.checkpoint(db.session, PASSPHRASE)
    db.session.commit()
    key = tmp_path / "log-key.pem"
    key.write_bytes(client.get("/pki/log-key.pem").data)
    state = tmp_path / "state"
    # a state file written by the auditor before notes: the JSON checkpoint
    state.write_text(json.dumps(log.signed(first).as_dict()))
    found_center(app, "applicant2", manager_national_id=OTHER_MANAGER)
    second = log.checkpoint(db.session, PASSPHRASE)
    db.session.commit()
    args = ["--url", server, "--log-key", str(key), "--state", str(state)]
    assert log_audit.main(args) == 0, capsys.readouterr().out
    assert f"(was {first.tree_size}; consistency proven)" in capsys.readouterr().out
    assert state.read_text() == second.note  # a C2SP checkpoint, as signed by the log key

    # the server must still serve the checkpoint the auditor proved, with the same root
    db.session.get(LogCheckpoint, second.tree_size).note = second.note.replace(
        second.note.split("\n")[2], "A" * 43 + "=")
    db.session.commit()
    assert log_audit.main(args) == 1


def test_a_policy_makes_the_auditor_require_cosignatures(app, client, server, tmp_path, capsys):
    found_center(app, ACTORS["applicant"])
    log.checkpoint(db.session, PASSPHRASE)
    db.session.commit()
    key = tmp_path / "log-key.pem"
    key.write_bytes(client.get("/pki/log-key.pem").data)
    witness = witness_key("witness.example/w1", ed25519.Ed25519PrivateKey.generate())
    policy = tmp_path / "policy.txt"
    policy.write_text(f"witness {witness.vkey()}\nquorum 1\n")
    args = ["--url", server, "--log-key", str(key), "--state", str(tmp_path / "state"),
            "--witness-policy", str(policy)]
    assert log_audit.main(args) == 1
    assert "0 of the policy's witnesses cosigned, 1 required" in capsys.readouterr().out
    assert not (tmp_path / "state").exists()


def test_checkpoints_from_before_notes_stay_verifiable_and_the_newest_gets_a_note(app):
    """The migration path: old rows keep their JSON signature; the newest is given a note of the
    same head when it is needed, and the next checkpoint is signed with one."""
    found_center(app, ACTORS["applicant"])
    row = log.checkpoint(db.session, PASSPHRASE)
    for old in db.session.scalars(select(LogCheckpoint)):
        old.note, old.timestamp = None, None  # as the migrations leave every existing row
    db.session.commit()
    log_key = client_log_key(app)
    assert log.verify_log(db.session, log_key) == []
    again = log.checkpoint(db.session, PASSPHRASE)
    db.session.commit()
    assert again.tree_size == row.tree_size and again.note is not None
    body = verify_checkpoint_note(again.note, log_key, log.LOG_ID)
    assert (body.tree_size, body.root.hex()) == (row.tree_size, row.root)
    assert log.verify_log(db.session, log_key) == []
    # a note that does not match its row is a problem of the log
    again.note = log.checkpoint_at(db.session, row.tree_size).note.replace(f"\n{row.tree_size}\n", "\n1\n")
    db.session.commit()
    # (its time-stamp, over the note's text, no longer fits either)
    assert sorted(p.code for p in log.verify_log(db.session, log_key)) == ["checkpoint_bad_signature",
                                                                           "checkpoint_timestamp_invalid"]


def client_log_key(app) -> str:
    return app.test_client().get("/pki/log-key.pem").get_data(as_text=True)


def test_the_log_goes_on_when_the_tsa_may_not_stamp(app):
    """A revoked TSA certificate stops time-stamps, not the log: the checkpoint is signed without a
    token, and the audit still passes (a missing token is no forgery; the next stamps again)."""
    from datetime import timedelta

    from workflows import pki
    from workflows.models import Certificate, ServiceKey, utcnow

    found_center(app, ACTORS["applicant"])
    tsa = db.session.scalars(select(ServiceKey).where(ServiceKey.purpose == "tsa")).one()
    pki.revoke(db.session, db.session.get(Certificate, tsa.certificate_id), reason="keyCompromise",
               passphrase=PASSPHRASE)
    db.session.commit()
    row = log.checkpoint(db.session, PASSPHRASE, utcnow() + timedelta(seconds=5))  # revoked from the next second
    db.session.commit()
    assert row.note is not None and row.timestamp is None
    assert log.verify_log(db.session, client_log_key(app)) == []
