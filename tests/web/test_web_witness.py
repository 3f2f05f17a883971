"""Witnesses with the application: three witness servers on loopback (real HTTP) cosign the log's
checkpoints as it grows; sealed certificates carry the cosignatures and verify offline under a
2-of-3 policy; a truncated or rewritten log, re-signed with the real HQ log key, collects none."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from signing import merkle
from signing.bundle import load_bundle
from signing.pades import signed_attachment
from signing.verify_cli import main as verify_main
from signing.witness import Witness, WitnessEndpoint, serve
from support import ACTORS, OTHER_MANAGER, found_center, login
from web.extensions import db
from workflows import log
from workflows.models import (Case, LogCheckpoint, LogCosignature, LogLeaf, LogNode, LogState, Record,
                              RecordTiming)

PASSPHRASE = "test-only-ca-passphrase"


@pytest.fixture
def witnesses(app, client, tmp_path):
    log_key = client.get("/pki/log-key.pem").get_data(as_text=True)
    running = []
    for number in range(3):
        witness = Witness(tmp_path / f"witness{number}", f"witness.province{number}.example/w1", {log.LOG_ID: log_key})
        server = serve(witness)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running.append((witness, server))
    app.config["WITNESS_ENDPOINTS"] = tuple(
        WitnessEndpoint(f"http://127.0.0.1:{server.server_address[1]}", witness.public) for witness, server in running)
    yield [witness for witness, _ in running]
    app.config["WITNESS_ENDPOINTS"] = ()
    for _, server in running:
        server.shutdown()
        server.server_close()


@pytest.fixture
def files(client, witnesses, tmp_path) -> dict[str, Path]:
    paths = {"root": tmp_path / "root.pem", "policy": tmp_path / "policy.txt"}
    paths["root"].write_text(client.get("/pki/root.pem").get_data(as_text=True))
    paths["policy"].write_text("".join(f"witness {w.public.vkey()}\n" for w in witnesses) + "quorum 2\n")
    return paths


def licensed_case(app, applicant: str, manager: str | None = None) -> Case:
    center = found_center(app, applicant, manager_national_id=manager)
    return db.session.scalars(select(Case).where(Case.center_id == center.id)).one()


def certificate(client, case: Case, username: str) -> bytes:
    login(client, username)
    response = client.get(f"/cases/{case.id}/certificate.pdf")
    assert response.status_code == 200
    client.post("/logout")
    return response.data


def cosigners(tree_size: int) -> set[str]:
    return set(db.session.scalars(select(LogCosignature.witness).where(LogCosignature.tree_size == tree_size)))


def test_certificates_carry_a_quorum_of_cosignatures(app, client, witnesses, files, tmp_path, capsys):
    case = licensed_case(app, ACTORS["applicant"])
    pdf = certificate(client, case, "applicant1")
    bundle = load_bundle(signed_attachment(pdf, "evidence.json"))
    assert bundle["checkpoint"].count("\n\u2014 witness.province") == 3
    (tmp_path / "certificate.pdf").write_bytes(pdf)
    assert verify_main(["--root", str(files["root"]), "--witness-policy", str(files["policy"]),
                        str(tmp_path / "certificate.pdf")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK pdf:") and "cosigned by 3 witnesses" in out

    # every checkpoint is kept and served by size, as JSON and as a signed note with its cosignatures
    size = log.latest_checkpoint(db.session).tree_size
    assert cosigners(size) == {w.name for w in witnesses}
    note = client.get(f"/api/v1/log/checkpoints/{size}/note")
    assert note.status_code == 200 and note.mimetype == "text/plain"
    assert note.get_data(as_text=True) == client.get("/api/v1/log/checkpoint").json["note"]
    assert note.get_data(as_text=True).startswith(f"{log.LOG_ID}\n{size}\n")
    assert client.get(f"/api/v1/log/checkpoints/{size}").json["checkpoint"]["tree_size"] == size
    assert client.get(f"/api/v1/log/checkpoints/{size + 1000}").status_code == 404
    assert client.get(f"/api/v1/log/checkpoints/{size + 1000}/note").status_code == 404

    # the witnesses follow the log as it grows (the tick and sealing ask them)
    licensed_case(app, "applicant2", OTHER_MANAGER)
    grown = log.checkpoint(db.session, PASSPHRASE, witnesses=app.config["WITNESS_ENDPOINTS"])
    db.session.commit()
    assert grown.tree_size > size and cosigners(grown.tree_size) == {w.name for w in witnesses}


def rebuild_log_state() -> None:
    """What an insider does after editing leaves: recompute every stored subtree and the frontier."""
    leaves = [bytes(h) for h in db.session.scalars(select(LogLeaf.leaf_hash).order_by(LogLeaf.index))]
    levels = merkle.complete_subtrees(leaves)
    db.session.execute(delete(LogNode))
    db.session.add_all([LogNode(level=level, index=index, hash=value)
                        for level, values in enumerate(levels) if level > 0 for index, value in enumerate(values)])
    state = db.session.get(LogState, 1)
    state.size = len(leaves)
    state.frontier = b"".join(levels[level][index] for level, index in merkle.subtrees_of(0, len(leaves)))


def forget_checkpoints(from_size: int = 0) -> None:
    db.session.execute(delete(LogCosignature).where(LogCosignature.tree_size >= from_size))
    db.session.execute(delete(LogCheckpoint).where(LogCheckpoint.tree_size >= from_size))


def refuses_quorum(client, files, tmp_path, capsys, case: Case, username: str) -> None:
    """The re-signed log collects no cosignature, and the case's new certificate fails 2 of 3."""
    row = log.checkpoint(db.session, PASSPHRASE, witnesses=client.application.config["WITNESS_ENDPOINTS"])
    db.session.commit()
    assert row.note is not None and cosigners(row.tree_size) == set()
    pdf = certificate(client, case, username)
    (tmp_path / "forged.pdf").write_bytes(pdf)
    assert verify_main(["--root", str(files["root"]), "--witness-policy", str(files["policy"]),
                        str(tmp_path / "forged.pdf")]) == 1
    assert "FAIL witness_quorum evidence.json: bundle: 0 of the policy's 3 witnesses" in capsys.readouterr().out
    # without a policy the same file verifies, and says that no witness was required
    assert verify_main(["--root", str(files["root"]), str(tmp_path / "forged.pdf")]) == 0
    assert "no witness required" in capsys.readouterr().out


def test_a_truncated_log_cannot_collect_a_quorum(app, client, witnesses, files, tmp_path, capsys):
    licensed_case(app, ACTORS["applicant"])
    honest = log.checkpoint(db.session, PASSPHRASE, witnesses=app.config["WITNESS_ENDPOINTS"])
    db.session.commit()
    assert len(cosigners(honest.tree_size)) == 3

    # delete the newest leaf and its record, rebuild the log, forget what was signed of it
    newest = db.session.scalars(select(LogLeaf).order_by(LogLeaf.index.desc()).limit(1)).one()
    record_id = newest.record_id
    db.session.execute(delete(LogLeaf).where(LogLeaf.index == newest.index))
    db.session.execute(delete(RecordTiming).where(RecordTiming.record_id == record_id))
    db.session.execute(delete(Record).where(Record.id == record_id))
    rebuild_log_state()
    forget_checkpoints()
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(LogLeaf)) == honest.tree_size - 1

    # the log grows again and HQ signs the new heads with its real key: no witness cosigns
    case = licensed_case(app, "applicant2", OTHER_MANAGER)
    refuses_quorum(client, files, tmp_path, capsys, case, "applicant2")


def test_a_rewritten_leaf_cannot_collect_a_quorum(app, client, witnesses, files, tmp_path, capsys):
    licensed_case(app, ACTORS["applicant"])
    honest = log.checkpoint(db.session, PASSPHRASE, witnesses=app.config["WITNESS_ENDPOINTS"])
    db.session.commit()
    assert len(cosigners(honest.tree_size)) == 3

    db.session.get(LogLeaf, 0).leaf_hash = bytes(32)
    rebuild_log_state()
    forget_checkpoints()
    db.session.commit()
    case = licensed_case(app, "applicant2", OTHER_MANAGER)
    refuses_quorum(client, files, tmp_path, capsys, case, "applicant2")


def test_no_witness_configured_means_no_network(app, client, monkeypatch):
    """The demo default: no LOG_WITNESSES, checkpoints and certificates as before, no cosignature."""
    assert app.config["WITNESS_ENDPOINTS"] == ()
    import signing.witness
    monkeypatch.setattr(signing.witness.urllib.request, "urlopen",
                        lambda *a, **k: pytest.fail("a witness was asked without one configured"))
    case = licensed_case(app, ACTORS["applicant"])
    pdf = certificate(client, case, "applicant1")
    bundle = load_bundle(signed_attachment(pdf, "evidence.json"))
    assert "\n\u2014 " + log.LOG_ID in bundle["checkpoint"] and "witness" not in bundle["checkpoint"]
    assert db.session.scalar(select(func.count()).select_from(LogCosignature)) == 0


def test_the_tick_asks_the_witnesses_again(app, runner, witnesses):
    """A witness that was away when a checkpoint was signed is asked again by the next tick."""
    licensed_case(app, ACTORS["applicant"])
    endpoints = app.config["WITNESS_ENDPOINTS"]
    app.config["WITNESS_ENDPOINTS"] = (*endpoints[:2], WitnessEndpoint("http://127.0.0.1:9", endpoints[2].key))
    row = log.checkpoint(db.session, PASSPHRASE, witnesses=app.config["WITNESS_ENDPOINTS"])
    db.session.commit()
    assert cosigners(row.tree_size) == {witnesses[0].name, witnesses[1].name}
    app.config["WITNESS_ENDPOINTS"] = endpoints
    result = runner.invoke(args=["tick"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    latest = log.latest_checkpoint(db.session)
    assert cosigners(latest.tree_size) == {w.name for w in witnesses}


def test_the_log_audit_checks_stored_cosignatures(app, client, witnesses):
    licensed_case(app, ACTORS["applicant"])
    row = log.checkpoint(db.session, PASSPHRASE, witnesses=app.config["WITNESS_ENDPOINTS"])
    db.session.commit()
    log_key = client.get("/pki/log-key.pem").get_data(as_text=True)
    keys = [w.public for w in witnesses]
    assert log.verify_log(db.session, log_key, keys) == []
    stored = db.session.get(LogCosignature, (row.tree_size, witnesses[1].name))
    other = db.session.get(LogCosignature, (row.tree_size, witnesses[2].name))
    stored.line = other.line.replace(witnesses[2].name, witnesses[1].name)  # a line moved to another witness
    db.session.commit()
    assert [(p.index, p.code) for p in log.verify_log(db.session, log_key, keys)] == [
        (row.tree_size, "cosignature_invalid")]


def test_a_decision_re_signed_with_a_real_pin_over_a_rewritten_tail_cannot_collect_a_quorum(
        app, client, witnesses, files, tmp_path, capsys):
    """The insider's full rewrite: the county's signed rejection and its leaf are removed, the case
    is put back where it was, and the same officer, with the real PIN, signs an approval in its
    place. Every record and chain is then genuine; only the witnesses remember the other head."""
    from support import PIN, in_county_review, user
    from workflows import transitions
    from workflows.cases import complete_task

    case = in_county_review(app)
    before = case.state
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(ACTORS["county"]),
                  data={"decision": "reject", "reason": "فضای آموزشی کافی نیست."}, pin=PIN)
    db.session.commit()
    rejected = log.checkpoint(db.session, PASSPHRASE, witnesses=app.config["WITNESS_ENDPOINTS"])
    db.session.commit()
    assert case.status == "rejected" and len(cosigners(rejected.tree_size)) == 3

    rejection = db.session.scalars(select(Record).where(Record.case_id == case.id).order_by(Record.seq.desc())).first()
    db.session.execute(delete(LogLeaf).where(LogLeaf.record_id == rejection.id))
    db.session.execute(delete(RecordTiming).where(RecordTiming.record_id == rejection.id))
    db.session.execute(delete(Record).where(Record.id == rejection.id))
    case.state, case.outcome = before, None
    db.session.flush()
    transitions.Transition.begin(db.session, case, case.updated_at).finish()
    rebuild_log_state()
    forget_checkpoints()
    db.session.commit()

    for actor in ("county", "province"):
        complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(ACTORS[actor]),
                      data={"decision": "approve"}, pin=PIN)
    db.session.commit()
    assert case.status == "licensed"
    refuses_quorum(client, files, tmp_path, capsys, case, "applicant1")
