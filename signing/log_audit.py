"""Log auditor: proves the transparency log only grew since the checkpoint it saw last.

    python -m signing.log_audit --url https://licensing.example --log-key log-key.pem \
        --state audit-state.txt [--witness-policy witnesses.txt]

It fetches the server's latest checkpoint as a C2SP signed note (c2sp.org/tlog-checkpoint),
checks the log key's signature on it and, when a previous checkpoint is stored in the state
file, fetches and checks a consistency proof between the two, and that the server still
serves the old checkpoint with the same root. With a witness policy, the latest checkpoint
must also carry cosignatures of a quorum of its witnesses. Only then is the new checkpoint
stored (as its signed note). Any failure exits non-zero with the reason and leaves the state
file as it was: a rewritten history is reported, loudly, every time.

A state file written before notes (JSON) is still read; a server without notes is audited
on its JSON checkpoints.
"""

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import SigningError
from .merkle import SignedCheckpoint, verify_checkpoint, verify_consistency
from .note import WitnessPolicy, parse_policy, verify_checkpoint_note, verify_cosignatures

__all__ = ["audit", "main"]

_OK, _FAILED, _UNUSABLE = 0, 1, 2


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (the auditor's own choice of server)
        return json.loads(response.read())


def _head(data: dict[str, Any] | str, log_key_pem: str) -> tuple[int, str, str]:
    """(tree size, root hex, what to keep) of a verified checkpoint: a note, or a JSON one."""
    if isinstance(data, str):
        body = verify_checkpoint_note(data, log_key_pem)
        return body.tree_size, body.root.hex(), data
    signed = SignedCheckpoint.from_dict(data)
    verify_checkpoint(signed, log_key_pem)
    return signed.checkpoint.tree_size, signed.checkpoint.root, json.dumps(signed.as_dict(), indent=1)


def _served(answer: dict[str, Any]) -> dict[str, Any] | str | None:
    """A checkpoint answer's note if it has one, else its JSON checkpoint."""
    return answer.get("note") or answer.get("checkpoint")


def audit(base_url: str, log_key_pem: str, state: dict[str, Any] | str | None,
          policy: WitnessPolicy | None = None) -> str:
    """Return the new checkpoint (the text to keep) once it is proven to extend ``state``; raise otherwise."""
    latest = _served(_get(f"{base_url}/api/v1/log/checkpoint"))
    if latest is None:
        raise SigningError("the log has no checkpoint yet")
    new_size, new_root, keep = _head(latest, log_key_pem)
    if policy is not None:
        if not isinstance(latest, str):
            raise SigningError("the server serves no signed note, so no cosignature")
        valid, bad = verify_cosignatures(latest, policy.witnesses)
        if bad or len(valid) < policy.quorum:
            raise SigningError(f"{len(valid)} of the policy's witnesses cosigned, {policy.quorum} required"
                               + (f"; {'; '.join(bad)}" if bad else ""))
    if state is not None:
        old_size, old_root, _ = _head(state, log_key_pem)
        if new_size < old_size:
            raise SigningError(f"the log shrank from {old_size} to {new_size} leaves")
        if new_size == old_size:
            if new_root != old_root:
                raise SigningError(f"two different roots for {new_size} leaves: the log was rewritten")
        else:
            proof = _get(f"{base_url}/api/v1/log/consistency?first={old_size}&second={new_size}")["proof"]
            verify_consistency(old_size, new_size, bytes.fromhex(old_root), bytes.fromhex(new_root),
                               [bytes.fromhex(node) for node in proof])
        try:
            kept = _served(_get(f"{base_url}/api/v1/log/checkpoints/{old_size}"))
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
            kept = None  # a server from before checkpoints were served by size
        if kept is not None and _head(kept, log_key_pem)[1] != old_root:
            raise SigningError(f"the server now serves another checkpoint of {old_size} leaves")
    return keep


def _read_state(path: Path) -> dict[str, Any] | str | None:
    if not path.exists():
        return None
    text = path.read_text("utf-8")
    return json.loads(text) if text.lstrip().startswith("{") else text


def main(argv: Sequence[str] | None = None) -> int:
    """Run the auditor; return the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m signing.log_audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the licensing server's base URL")
    parser.add_argument("--log-key", required=True, type=Path, help="HQ log key (public key PEM)")
    parser.add_argument("--state", required=True, type=Path, help="where the last proven checkpoint is kept")
    parser.add_argument("--witness-policy", type=Path, help="witnesses whose quorum must cosign (see verify_cli)")
    args = parser.parse_args(argv)
    try:
        log_key = args.log_key.read_text("ascii")
        state = _read_state(args.state)
        policy = parse_policy(args.witness_policy.read_text("utf-8")) if args.witness_policy else None
    except (OSError, ValueError, SigningError) as exc:
        print(f"FAIL input_unusable: {exc}")
        return _UNUSABLE
    try:
        new = audit(args.url.rstrip("/"), log_key, state, policy)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"FAIL server_unreachable: {exc}")
        return _UNUSABLE
    except SigningError as exc:
        print(f"FAIL {exc.code}: {exc}")
        return _FAILED
    args.state.write_text(new, "utf-8")
    size, root, _ = _head(new if not new.lstrip().startswith("{") else json.loads(new), log_key)
    grown = "" if state is None else f" (was {_head(state, log_key)[0]}; consistency proven)"
    print(f"OK log at {size} leaves, root {root[:16]}…{grown}")
    return _OK


if __name__ == "__main__":
    sys.exit(main())
