"""The log auditor against a running server: it proves growth, and catches a rewritten history."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from signing import log_audit, merkle
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
