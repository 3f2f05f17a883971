"""Witnesses (c2sp.org/tlog-witness) over real HTTP on loopback: they cosign only consistent
growth of the log, so a truncated or rewritten log, even re-signed with the real log key,
cannot collect a quorum; and the offline verifier enforces k of n."""

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import CASE_ID, LOG_ORIGIN, Case, Pki

from signing import canonical_bytes, certificate_pem, format_time, leaf_hash
from signing.bundle import CaseHead, sign_case_head
from signing.merkle import consistency_proof, root
from signing.note import WitnessKey, join_note, sign_checkpoint_note, split_note, verify_cosignatures
from signing.verify_cli import main as verify_main
from signing.witness import SIZE_CONTENT_TYPE, Witness, WitnessRefusal, add_checkpoint, parse_endpoints, serve

ROOT = Path(__file__).resolve().parents[2]


class Running:
    """A witness served on a loopback port from its own thread."""

    def __init__(self, state: Path, name: str, log_key_pem: str) -> None:
        self.witness = Witness(state, name, {LOG_ORIGIN: log_key_pem})
        self.server = serve(self.witness)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def key(self) -> WitnessKey:
        return self.witness.public

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def witnesses(pki: Pki, tmp_path: Path) -> Iterator[list[Running]]:
    running = [Running(tmp_path / f"w{i}", f"witness.province{i}.example/w1", pki.log.signer.public_key_pem)
               for i in range(3)]
    yield running
    for item in running:
        item.stop()


def post(url: str, body: str) -> tuple[int, str, str]:
    request = urllib.request.Request(url + "/add-checkpoint", data=body.encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def note_of(pki: Pki, leaves: list[bytes], signer=None) -> str:
    return sign_checkpoint_note(LOG_ORIGIN, len(leaves), root(leaves), signer or pki.log.signer)


def cosign_all(witnesses: list[Running], note: str, old: int, leaves: list[bytes]) -> list[str]:
    """Ask every witness; return the names of those that cosigned."""
    signed = []
    for item in witnesses:
        proof = consistency_proof(old, leaves) if 0 < old <= len(leaves) else []
        try:
            line = add_checkpoint(item.url, old, proof, note, item.key)
        except WitnessRefusal:
            continue
        signed.append(line.name)
    return signed


LEAVES = [leaf_hash(b"record %d" % i) for i in range(10)]


def test_witnesses_cosign_consistent_growth(pki: Pki, witnesses: list[Running]) -> None:
    first = note_of(pki, LEAVES[:6])
    assert len(cosign_all(witnesses, first, 0, LEAVES[:6])) == 3
    second = note_of(pki, LEAVES)
    lines = [add_checkpoint(w.url, 6, consistency_proof(6, LEAVES), second, w.key) for w in witnesses]
    cosigned = join_note(split_note(second)[0], [*split_note(second)[1], *lines])
    valid, bad = verify_cosignatures(cosigned, [w.key for w in witnesses])
    assert sorted(c.witness for c in valid) == sorted(w.key.name for w in witnesses) and bad == []
    # each witness keeps the latest checkpoint it cosigned in its own folder, and only that
    assert split_note(witnesses[0].witness.latest(LOG_ORIGIN))[0] == split_note(second)[0]
    # the same checkpoint again (old = its size, same root) is cosigned again
    assert add_checkpoint(witnesses[0].url, 10, [], second, witnesses[0].key).name == witnesses[0].key.name


def test_http_answers_follow_the_specification(pki: Pki, witnesses: list[Running]) -> None:
    url = witnesses[0].url
    note = note_of(pki, LEAVES[:4])
    status, content_type, body = post(url, f"old 0\n\n{note}")
    assert status == 200 and body.startswith("\u2014 witness.province0.example/w1 ") and body.endswith("\n")
    # a stale old size: 409 with the size the witness knows
    status, content_type, body = post(url, f"old 0\n\n{note_of(pki, LEAVES[:5])}")
    assert (status, content_type, body) == (409, SIZE_CONTENT_TYPE, "4\n")
    # old size beyond the checkpoint's, malformed bodies: 400
    assert post(url, f"old 9\n\n{note}")[0] == 400
    assert post(url, f"old 04\n\n{note}")[0] == 400
    assert post(url, "old 0\n\nnot a note\n")[0] == 400
    # a checkpoint not signed by the log key: 403; another log: 404
    assert post(url, f"old 4\n\n{note_of(pki, LEAVES[:5], pki.seal.signer)}")[0] == 403
    other = sign_checkpoint_note("other.example/log", 5, root(LEAVES[:5]), pki.log.signer)
    assert post(url, f"old 4\n\n{other}")[0] == 404
    # a proof that does not verify: 422
    assert post(url, f"old 4\n{'A' * 43}=\n\n{note_of(pki, LEAVES[:5])}")[0] == 422
    # and the witness still stands at 4
    assert post(url, f"old 0\n\n{note}")[2] == "4\n"


def test_a_truncated_log_cannot_collect_a_quorum(pki: Pki, witnesses: list[Running]) -> None:
    """HQ drops the newest leaf (and its record), rebuilds the log, appends another leaf and signs
    the new heads with the real log key: no witness cosigns any of it."""
    honest = LEAVES[:8]
    assert len(cosign_all(witnesses, note_of(pki, honest), 0, honest)) == 3
    truncated = honest[:7]
    assert cosign_all(witnesses, note_of(pki, truncated), 8, truncated) == []  # shrinking: 400
    assert cosign_all(witnesses, note_of(pki, truncated), 0, truncated) == []  # pretending: 409
    forged = [*truncated, leaf_hash(b"another record")]
    assert cosign_all(witnesses, note_of(pki, forged), 8, forged) == []  # same size, another root: 409
    grown = [*forged, leaf_hash(b"later")]
    assert cosign_all(witnesses, note_of(pki, grown), 8, grown) == []  # proof from the forged tree: 422
    # the honest log still grows with all three
    assert len(cosign_all(witnesses, note_of(pki, LEAVES), 8, LEAVES)) == 3


def test_a_rewritten_leaf_cannot_collect_a_quorum(pki: Pki, witnesses: list[Running]) -> None:
    assert len(cosign_all(witnesses, note_of(pki, LEAVES[:6]), 0, LEAVES[:6])) == 3
    rewritten = list(LEAVES)
    rewritten[2] = leaf_hash(b"record 2, changed")
    assert cosign_all(witnesses, note_of(pki, rewritten), 6, rewritten) == []


def test_a_witness_remembers_across_restarts(pki: Pki, tmp_path: Path) -> None:
    first = Running(tmp_path / "w", "witness.example/w1", pki.log.signer.public_key_pem)
    try:
        assert cosign_all([first], note_of(pki, LEAVES[:5]), 0, LEAVES[:5])
        key = first.key
    finally:
        first.stop()
    again = Running(tmp_path / "w", "witness.example/w1", pki.log.signer.public_key_pem)
    try:
        assert again.key == key  # its own key, kept in its folder
        assert post(again.url, f"old 0\n\n{note_of(pki, LEAVES[:3])}")[:3:2] == (409, "5\n")
    finally:
        again.stop()


def test_the_witness_command(pki: Pki, tmp_path: Path) -> None:
    """`python -m signing.witness` runs as its own process, on its own folder."""
    (tmp_path / "log.pem").write_text(pki.log.signer.public_key_pem)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base = [sys.executable, "-m", "signing.witness", "--state", str(tmp_path / "state"), "--name", "witness.example/p"]
    vkey = subprocess.run([*base, "--vkey"], capture_output=True, text=True, cwd=ROOT, env=env, check=True).stdout
    key = parse_endpoints(f"http://127.0.0.1:1 {vkey.strip()}")[0].key
    process = subprocess.Popen([*base, "--log-key", str(tmp_path / "log.pem"), "--origin", LOG_ORIGIN, "--port", "0"],
                               stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        banner = process.stdout.readline()
        url = banner.split(" on ", 1)[1].split("/ ", 1)[0]
        assert vkey.strip() in banner
        line = add_checkpoint(url, 0, [], note_of(pki, LEAVES[:3]), key)
        assert line.name == "witness.example/p"
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
    assert not (tmp_path / "state" / "witness-key.pem").stat().st_mode & 0o077


def bundle_cosigned_by(pki: Pki, case: Case, witnesses: list[Running], count: int) -> dict:
    """The case's bundle, its checkpoint cosigned by the first `count` witnesses."""
    leaves = case.leaf_hashes
    note = note_of(pki, leaves)
    lines = [add_checkpoint(w.url, 0, [], note, w.key) for w in witnesses[:count]]
    bundle = json.loads(canonical_bytes(case.bundle))
    head = sign_case_head(CaseHead(CASE_ID, 4, case.records[-1].hash, case.log_indexes[-1], len(leaves),
                                   root(leaves).hex(), format_time(datetime.now(timezone.utc))), pki.log.signer)
    bundle["checkpoint"] = note + "".join(line.line() for line in lines)
    bundle["case_head"] = {**head.head.as_dict(), "signature": head.signature}
    return bundle


def test_the_offline_verifier_enforces_k_of_n(pki: Pki, case: Case, witnesses: list[Running], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "root.pem").write_text(certificate_pem(pki.root))
    policy = tmp_path / "policy.txt"
    policy.write_text("".join(f"witness {w.key.vkey()}\n" for w in witnesses) + "quorum 2\n")
    one = tmp_path / "one.json"
    one.write_bytes(canonical_bytes(bundle_cosigned_by(pki, case, witnesses, 1)))
    args = ["--root", str(tmp_path / "root.pem")]

    assert verify_main([*args, "--witness-policy", str(policy), str(one)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL witness_quorum bundle: 1 of the policy's 3 witnesses cosigned the checkpoint; "
                          "2 are required"), out
    assert verify_main([*args, str(one)]) == 0
    assert "no witness required (no witness policy given)" in capsys.readouterr().out

    for stopped in witnesses:  # fresh witnesses for the second bundle: they have seen size 0 only
        stopped.stop()
    fresh = [Running(tmp_path / f"fresh{i}", w.key.name, pki.log.signer.public_key_pem) for i, w in enumerate(witnesses)]
    try:
        policy.write_text("".join(f"witness {w.key.vkey()}\n" for w in fresh) + "quorum 2\n")
        two = tmp_path / "two.json"
        two.write_bytes(canonical_bytes(bundle_cosigned_by(pki, case, fresh, 2)))
        assert verify_main([*args, "--witness-policy", str(policy), str(two)]) == 0
        out = capsys.readouterr().out
        assert out.startswith("OK ") and "cosigned by 2 witnesses" in out and "2 required" in out
        # a cosignature line made for another checkpoint does not count
        bundle = json.loads(two.read_bytes())
        bundle["checkpoint"] = bundle["checkpoint"].replace(
            bundle["checkpoint"].split("\n")[-2], bundle["checkpoint"].split("\n")[-2][:-8] + "AAAAAAA=")
        two.write_bytes(canonical_bytes(bundle))
        assert verify_main([*args, "--witness-policy", str(policy), str(two)]) == 1
        assert "FAIL cosignature_invalid" in capsys.readouterr().out
    finally:
        for item in fresh:
            item.stop()
