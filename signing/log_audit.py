"""Log auditor: proves the transparency log only grew since the checkpoint it saw last.

    python -m signing.log_audit --url https://licensing.example --log-key log-key.pem --state audit-state.json

It fetches the server's latest signed checkpoint, checks its signature with the log key, and,
when a previous checkpoint is stored in the state file, fetches and checks a consistency proof
between the two. Only then is the new checkpoint stored. Any failure exits non-zero with the
reason and leaves the state file as it was: a rewritten history is reported, loudly, every time.
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

__all__ = ["audit", "main"]

_OK, _FAILED, _UNUSABLE = 0, 1, 2


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (the auditor's own choice of server)
        return json.loads(response.read())


def audit(base_url: str, log_key_pem: str, state: dict[str, Any] | None) -> dict[str, Any]:
    """Return the new checkpoint (as a dict) once it is proven to extend ``state``; raise otherwise."""
    latest = _get(f"{base_url}/api/v1/log/checkpoint")["checkpoint"]
    if latest is None:
        raise SigningError("the log has no checkpoint yet")
    signed = SignedCheckpoint.from_dict(latest)
    verify_checkpoint(signed, log_key_pem)
    if state is not None:
        old = SignedCheckpoint.from_dict(state)
        verify_checkpoint(old, log_key_pem)
        new_size, old_size = signed.checkpoint.tree_size, old.checkpoint.tree_size
        if new_size < old_size:
            raise SigningError(f"the log shrank from {old_size} to {new_size} leaves")
        if new_size == old_size:
            if signed.checkpoint.root != old.checkpoint.root:
                raise SigningError(f"two different roots for {new_size} leaves: the log was rewritten")
        else:
            proof = _get(f"{base_url}/api/v1/log/consistency?first={old_size}&second={new_size}")["proof"]
            verify_consistency(old_size, new_size, bytes.fromhex(old.checkpoint.root),
                               bytes.fromhex(signed.checkpoint.root), [bytes.fromhex(node) for node in proof])
    return signed.as_dict()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the auditor; return the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m signing.log_audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the licensing server's base URL")
    parser.add_argument("--log-key", required=True, type=Path, help="HQ log key (public key PEM)")
    parser.add_argument("--state", required=True, type=Path, help="where the last proven checkpoint is kept")
    args = parser.parse_args(argv)
    try:
        log_key = args.log_key.read_text("ascii")
        state = json.loads(args.state.read_text("utf-8")) if args.state.exists() else None
    except (OSError, ValueError) as exc:
        print(f"FAIL input_unusable: {exc}")
        return _UNUSABLE
    try:
        new = audit(args.url.rstrip("/"), log_key, state)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"FAIL server_unreachable: {exc}")
        return _UNUSABLE
    except SigningError as exc:
        print(f"FAIL {exc.code}: {exc}")
        return _FAILED
    args.state.write_text(json.dumps(new, indent=1), "utf-8")
    grown = "" if state is None else f" (was {state['tree_size']}; consistency proven)"
    print(f"OK log at {new['tree_size']} leaves, root {new['root'][:16]}…{grown}")
    return _OK


if __name__ == "__main__":
    sys.exit(main())
