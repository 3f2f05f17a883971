"""Local servers that speak the gateways' protocols, for the tests: Kavenegar's SMS web service over
HTTPS (its ``sms/send`` answer format, its ``localid`` deduplication) and an SMTP server with
STARTTLS and a login (aiosmtpd). Each keeps what it received, and can be told to fail."""
from __future__ import annotations

import json
import socket
import ssl
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from deploy.loopback import certificate


class KavenegarStandIn:
    """``POST /v1/<api key>/sms/send.json`` as Kavenegar answers it. ``fail(n, how)`` makes the next
    n sends fail: ``"error"`` answers a gateway error (nothing taken), ``"drop"`` takes the message
    and closes the connection without an answer (the answer lost on the way back)."""

    def __init__(self, folder: Path, api_key: str = "test-api-key") -> None:
        self.api_key = api_key
        self.received: list[dict] = []   # every message taken, once per localid
        self.requests = 0
        self._by_local_id: dict[str, dict] = {}
        self._failures: list[str] = []
        self._lock = threading.Lock()
        self.cert, key = certificate(folder)
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                stand_in.requests += 1
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
                params = {k: v[-1] for k, v in parse_qs(body).items()}
                parts = self.path.strip("/").split("/")
                if len(parts) != 4 or parts[0] != "v1" or parts[2:] != ["sms", "send.json"]:
                    return self.answer(404, {"return": {"status": 404, "message": "not found"}})
                if parts[1] != stand_in.api_key:
                    return self.answer(200, {"return": {"status": 403, "message": "کلید API معتبر نیست"}})
                if not params.get("receptor") or not params.get("message"):
                    return self.answer(200, {"return": {"status": 411, "message": "گیرنده یا متن خالی است"}})
                with stand_in._lock:
                    failure = stand_in._failures.pop(0) if stand_in._failures else None
                    if failure == "error":
                        return self.answer(200, {"return": {"status": 418, "message": "اعتبار کافی نیست"}})
                    local = params.get("localid")
                    entry = stand_in._by_local_id.get(local) if local else None
                    if entry is None:
                        entry = {"messageid": 100000 + len(stand_in.received), "message": params["message"],
                                 "status": 1, "statustext": "در صف ارسال", "sender": params.get("sender", "10004346"),
                                 "receptor": params["receptor"], "date": 1700000000, "cost": 120}
                        stand_in.received.append({**entry, "localid": local})
                        if local:
                            stand_in._by_local_id[local] = entry
                if failure == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                return self.answer(200, {"return": {"status": 200, "message": "تایید شد"}, "entries": [entry]})

            def answer(self, status: int, payload: dict) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.host = f"127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def fail(self, times: int, how: str = "error") -> None:
        self._failures.extend([how] * times)

    def __enter__(self) -> "KavenegarStandIn":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpStandIn:
    """An SMTP server on loopback (aiosmtpd) that requires STARTTLS and a login, keeping each
    message it accepted (parsed)."""

    def __init__(self, folder: Path, username: str = "notify", password: str = "secret") -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.received: list = []
        self.cert, key = certificate(folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        stand_in = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                stand_in.received.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.SMTP)))
                return "250 OK"

        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == username and auth_data.password.decode() == password
            return AuthResult(success=ok)

        with socket.socket() as probe:  # a free port (the controller checks it can connect to its own)
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, tls_context=context,
                                     require_starttls=True, authenticator=authenticate, auth_require_tls=True)

    def __enter__(self) -> "SmtpStandIn":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
