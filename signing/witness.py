"""A log witness (c2sp.org/tlog-witness) and the client that asks one for a cosignature.

    python -m signing.witness --state DIR --name witness.esfahan.example/w1 \\
        --log-key hq-log-key.pem --origin mosque-centers/transition-log/v1 --port 8701
    python -m signing.witness --state DIR --name witness.esfahan.example/w1 --vkey

The witness is its own process with its own Ed25519 key and its own state, a folder: the
key (created on first start) and, per log origin, the latest checkpoint it cosigned. It
cosigns a checkpoint only when the log's signature verifies and a consistency proof leads
from the checkpoint it cosigned last, so it never signs two views of one log that disagree,
across restarts too. It imports nothing of the application.

HTTP: POST /add-checkpoint, body "old <size>\\n", proof lines (base64), a blank line, the
checkpoint note. 200 with cosignature lines; 400 malformed or old size beyond the new one;
403 no valid log signature; 404 unknown origin; 409 (text/x.tlog.size, body "<size>\\n")
when the old size is not the last size cosigned, or the same size has another root; 422 when
the consistency proof does not verify.
"""

import argparse
import base64
import fcntl
import hashlib
import http.server
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from .errors import MerkleError, NoteError, SigningError
from .merkle import verify_consistency
from .note import (
    NoteSignature,
    WitnessKey,
    cosign,
    join_note,
    parse_checkpoint_text,
    parse_vkey,
    split_note,
    verify_checkpoint_note,
    verify_cosignatures,
    witness_key,
)

__all__ = ["SIZE_CONTENT_TYPE", "Witness", "WitnessEndpoint", "WitnessRefusal", "add_checkpoint", "main",
           "parse_endpoints", "serve"]

#: content type of a 409 answer, whose body is the witness's latest cosigned size
SIZE_CONTENT_TYPE = "text/x.tlog.size"
#: the specification caps a request at 63 proof lines
_MAX_PROOF = 63
_MAX_BODY = 64 * 1024


class WitnessRefusal(SigningError):
    """A witness did not cosign: its HTTP status, and the size it knows when it answered 409."""

    code = "witness_refused"

    def __init__(self, status: int, detail: str, known_size: int | None = None) -> None:
        super().__init__(f"witness answered {status}: {detail}")
        self.status = status
        self.known_size = known_size


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness a log asks for cosignatures: its submission prefix and its key."""

    #: the submission prefix, e.g. "https://witness.esfahan.example" (add-checkpoint is appended)
    url: str
    #: its cosigning key
    key: WitnessKey


def parse_endpoints(text: str) -> list[WitnessEndpoint]:
    """Witnesses from configuration text: one "<url> <vkey>" per line or ';'-separated item;
    '#' starts a comment. Raise NoteError on a malformed entry."""
    endpoints = []
    for item in text.replace(";", "\n").splitlines():
        item = item.split("#", 1)[0].strip()
        if not item:
            continue
        url, _, vkey = item.partition(" ")
        if not url.startswith(("http://", "https://")) or not vkey.strip():
            raise NoteError(f"a witness is '<url> <vkey>': {item!r}")
        endpoints.append(WitnessEndpoint(url, parse_vkey(vkey.strip())))
    if len({e.key.name for e in endpoints}) != len(endpoints):
        raise NoteError("a witness is configured twice")
    return endpoints


@dataclass(frozen=True)
class _Answer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class Witness:
    """A witness's key, the logs it follows and its state folder."""

    def __init__(self, state_dir: Path, name: str, logs: dict[str, str],
                 clock: Callable[[], float] = time.time) -> None:
        """`logs` maps each followed log's origin to its public key (PEM)."""
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.logs = dict(logs)
        self._clock = clock
        self._lock = threading.Lock()
        self._key = _load_or_create_key(self.state_dir / "witness-key.pem")

    @property
    def public(self) -> WitnessKey:
        """This witness's public key, as clients are configured with it."""
        return witness_key(self.name, self._key)

    def latest(self, origin: str) -> str | None:
        """The latest checkpoint note cosigned for the origin, or None."""
        path = self._checkpoint_path(origin)
        return path.read_text("utf-8") if path.exists() else None

    def add_checkpoint(self, request: bytes) -> _Answer:
        """Handle one add-checkpoint request body."""
        try:
            old_size, proof, note = _parse_request(request)
            text, _ = split_note(note)
            body = parse_checkpoint_text(text)
        except (NoteError, ValueError, UnicodeError) as exc:
            return _Answer(400, f"malformed request: {exc}\n")
        log_key = self.logs.get(body.origin)
        if log_key is None:
            return _Answer(404, "unknown log\n")
        try:
            verify_checkpoint_note(note, log_key, body.origin)
        except NoteError as exc:
            return _Answer(403, f"{exc}\n")
        if old_size > body.tree_size:
            return _Answer(400, "old size is larger than the checkpoint's\n")
        if old_size == 0 and proof:
            return _Answer(400, "the proof from size 0 is empty\n")
        # check and update atomically, between threads and between processes on one folder
        with self._lock, open(self.state_dir / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            previous = self.latest(body.origin)
            known = parse_checkpoint_text(split_note(previous)[0]) if previous else None
            known_size = known.tree_size if known else 0
            if old_size != known_size:
                return _Answer(409, f"{known_size}\n", SIZE_CONTENT_TYPE)
            if known is not None:
                if known.tree_size == body.tree_size and known.root != body.root:
                    return _Answer(409, f"{known_size}\n", SIZE_CONTENT_TYPE)
                try:
                    verify_consistency(known.tree_size, body.tree_size, known.root, body.root, proof)
                except MerkleError as exc:
                    self._keep_evidence(request)
                    return _Answer(422, f"consistency proof does not verify: {exc}\n")
            signature = cosign(text, self.name, self._key, int(self._clock()))
            _write_atomically(self._checkpoint_path(body.origin), join_note(text, [signature]))
        return _Answer(200, signature.line())

    def _checkpoint_path(self, origin: str) -> Path:
        return self.state_dir / f"checkpoint-{hashlib.sha256(origin.encode('utf-8')).hexdigest()[:16]}"

    def _keep_evidence(self, request: bytes) -> None:
        """A log-signed checkpoint with a failing proof may prove the log misbehaved: keep it."""
        folder = self.state_dir / "refused"
        folder.mkdir(exist_ok=True)
        (folder / f"{hashlib.sha256(request).hexdigest()[:16]}.txt").write_bytes(request)


def serve(witness: Witness, host: str = "127.0.0.1", port: int = 0) -> http.server.ThreadingHTTPServer:
    """An HTTP server for the witness, bound but not yet serving (call serve_forever)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = self.headers.get("Content-Length", "")
            if self.path.rstrip("/").rsplit("/", 1)[-1] != "add-checkpoint":
                answer = _Answer(404, "not found\n")
                self.close_connection = True  # the body was not read
            elif not length.isdigit() or int(length) > _MAX_BODY:
                answer = _Answer(400, "a body of known, bounded length is required\n")
                self.close_connection = True
            else:
                answer = witness.add_checkpoint(self.rfile.read(int(length)))
            self._send(answer)

        def _send(self, answer: _Answer) -> None:
            data = answer.body.encode("utf-8")
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # the witness's state folder is its record, not stderr

    return http.server.ThreadingHTTPServer((host, port), Handler)


def add_checkpoint(url: str, old_size: int, proof: Sequence[bytes], note: str, witness: WitnessKey,
                   timeout: float = 5.0) -> NoteSignature:
    """Ask the witness at `url` (its submission prefix) to cosign `note`; return its verified
    cosignature. Raise WitnessRefusal with the status (and the size it knows, on 409), or
    OSError when it cannot be reached."""
    lines = [f"old {old_size}\n", *(base64.b64encode(node).decode("ascii") + "\n" for node in proof), "\n", note]
    request = urllib.request.Request(url.rstrip("/") + "/add-checkpoint", data="".join(lines).encode("utf-8"),
                                     method="POST", headers={"Content-Type": "text/plain; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (configured URL)
            answer = response.read(_MAX_BODY).decode("utf-8")
    except urllib.error.HTTPError as exc:
        body = exc.read(_MAX_BODY).decode("utf-8", "replace")
        known = None
        if exc.code == 409 and exc.headers.get("Content-Type", "").startswith(SIZE_CONTENT_TYPE):
            value = body.strip()
            known = int(value) if value.isdigit() else None
        raise WitnessRefusal(exc.code, body.strip()[:200], known) from exc
    text, _ = split_note(note)
    try:
        _, signatures = split_note(text + "\n" + answer)
    except NoteError as exc:
        raise WitnessRefusal(200, f"the answer is not cosignature lines: {exc}") from exc
    for signature in signatures:
        valid, _ = verify_cosignatures(join_note(text, [signature]), [witness])
        if valid:
            return signature
    raise WitnessRefusal(200, "no valid cosignature of the configured key in the answer")


def _parse_request(request: bytes) -> tuple[int, list[bytes], str]:
    data = request.decode("utf-8")
    head, separator, note = data.partition("\n\n")
    if not separator:
        raise ValueError("no blank line after the proof")
    lines = head.split("\n")
    if not lines[0].startswith("old "):
        raise ValueError("the first line is 'old <size>'")
    size = lines[0][4:]
    if not size.isdigit() or (size != "0" and size.startswith("0")) or len(size) > 19:
        raise ValueError("the old size is a decimal without leading zeroes")
    if len(lines) - 1 > _MAX_PROOF:
        raise ValueError("too many proof lines")
    proof = []
    for line in lines[1:]:
        node = base64.b64decode(line, validate=True)
        if len(node) != 32:
            raise ValueError("a proof line is the base64 of 32 bytes")
        proof.append(node)
    return int(size), proof, note


def _load_or_create_key(path: Path) -> ed25519.Ed25519PrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise SigningError(f"{path} does not hold an Ed25519 key")
        return key
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    return key


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a witness; return the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m signing.witness", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", required=True, type=Path, help="the witness's own folder (key and state)")
    parser.add_argument("--name", required=True, help="the witness's key name, e.g. witness.esfahan.example/w1")
    parser.add_argument("--log-key", type=Path, help="the followed log's public key (PEM)")
    parser.add_argument("--origin", default="mosque-centers/transition-log/v1", help="the followed log's origin")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8701)
    parser.add_argument("--vkey", action="store_true", help="print the witness's verifier key and exit")
    args = parser.parse_args(argv)
    logs = {args.origin: args.log_key.read_text("ascii")} if args.log_key else {}
    witness = Witness(args.state, args.name, logs)
    if args.vkey:
        print(witness.public.vkey())
        return 0
    if not logs:
        parser.error("--log-key is required to serve")
    server = serve(witness, args.host, args.port)
    print(f"witness {args.name} on http://{args.host}:{server.server_address[1]}/ vkey {witness.public.vkey()}",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
