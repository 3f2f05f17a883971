"""Slow clients against the production recipe of README.md: gunicorn alone, then nginx in front.

    .venv/bin/python -m bench.slow_clients [--clients 4,64] [--give-up 90]

Not part of bench/run.py (it measures availability, not speed). Run as root from the repository
root with nginx and envsubst installed (`make system-deps`). A SQLite site is made with
``flask --app web init`` in a temporary folder; gunicorn runs as the README runs it
(``-w 4 -b 127.0.0.1:<port> 'web:create_app()'``, APP_ENV=production, PROXY_COUNT=1) and nginx
runs deploy/nginx.conf.template rendered by envsubst, with a certificate made for the run.

For each number of clients, and for each way in (straight to gunicorn, then through nginx): that
many connections send the headers of ``POST /api/v1/auth/token`` announcing a 100,000-byte body,
then 1,000 bytes of it, and hold; half a second later one ``GET /`` is timed, up to ``--give-up``
seconds. The slow clients then close and the server is given time to serve again.
"""
from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from ipaddress import IPv4Address
from pathlib import Path

from bench.common import ROOT, VENV_BIN, free_port, log, make_site

TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
VARIABLES = "$SERVER_NAME $HTTP_PORT $HTTPS_PORT $TLS_CERTIFICATE $TLS_CERTIFICATE_KEY $APP_UPSTREAM"
SLOW_HEAD = (b"POST /api/v1/auth/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
             b"Content-Length: 100000\r\n\r\n{\"username\": \"" + b"a" * 1000)


def certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "tls.crt", folder / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def nginx_config(folder: Path, site: Path) -> Path:
    """Debian's /etc/nginx/nginx.conf in miniature, every path in ``folder``."""
    temp = "\n".join(f"    {name}_temp_path {folder / name};" for name in ("client_body", "proxy", "fastcgi",
                                                                             "uwsgi", "scgi"))
    path = folder / "nginx.conf"
    path.write_text(f"{'user root;' if os.geteuid() == 0 else ''}\nworker_processes 1;\n"
                    f"pid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'};\n"
                    f"events {{ worker_connections 1024; }}\n"
                    f"http {{\n    access_log off;\n{temp}\n    include {site};\n}}\n")
    return path


def wait_listening(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{process.args[0]} did not start") from None
            time.sleep(0.1)


def connection(port: int, tls: ssl.SSLContext | None, timeout: float) -> http.client.HTTPConnection:
    if tls is None:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    return http.client.HTTPSConnection("localhost", port, timeout=timeout, context=tls)


def get_seconds(port: int, tls: ssl.SSLContext | None, timeout: float) -> float | None:
    """How long ``GET /`` took to be answered 200, or None if it was not within ``timeout``."""
    started = time.monotonic()
    conn = connection(port, tls, timeout)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return time.monotonic() - started if response.status == 200 else None
    except (TimeoutError, OSError):
        return None
    finally:
        conn.close()


def probe(port: int, tls: ssl.SSLContext | None, clients: int, give_up: float) -> float | None:
    sockets = []
    try:
        for _ in range(clients):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname="localhost")
            sock.sendall(SLOW_HEAD)
            sockets.append(sock)
        time.sleep(0.5)
        return get_seconds(port, tls, give_up)
    finally:
        for sock in sockets:
            sock.close()
        # gone, the clients free their workers; wait until the server answers again
        for _ in range(12):
            if get_seconds(port, tls, 10) is not None:
                break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="4,64", help="comma-separated numbers of slow clients")
    parser.add_argument("--give-up", type=float, default=90.0, help="seconds a GET may take before it counts as unanswered")
    args = parser.parse_args()
    nginx = shutil.which("nginx", path=os.pathsep.join((os.environ.get("PATH", ""), "/usr/sbin")))
    if not nginx or not shutil.which("envsubst"):
        raise SystemExit("nginx and envsubst are needed: make system-deps (as root)")

    folder = Path(tempfile.mkdtemp(prefix="slow-clients-"))
    processes: list[subprocess.Popen] = []
    try:
        log("making the site (flask --app web init)")
        site = make_site(f"sqlite:///{folder / 'site.db'}", folder / "site")
        app_port, https_port, http_port = free_port(), free_port(), free_port()
        gunicorn_log = open(folder / "gunicorn.log", "w")  # noqa: SIM115 - lives as long as the process
        processes.append(subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-w", "4", "-b", f"127.0.0.1:{app_port}", "web:create_app()"],
            cwd=ROOT, env={**site.env, "PROXY_COUNT": "1"}, stdout=gunicorn_log, stderr=subprocess.STDOUT))
        wait_listening(app_port, processes[-1])

        cert, key = certificate(folder)
        rendered = folder / "mosques.conf"
        rendered.write_text(subprocess.run(
            ["envsubst", VARIABLES], input=TEMPLATE.read_text(), capture_output=True, text=True, check=True,
            env={**os.environ, "SERVER_NAME": "localhost", "HTTP_PORT": f"127.0.0.1:{http_port}",
                 "HTTPS_PORT": f"127.0.0.1:{https_port}", "TLS_CERTIFICATE": str(cert),
                 "TLS_CERTIFICATE_KEY": str(key), "APP_UPSTREAM": f"127.0.0.1:{app_port}"}).stdout)
        processes.append(subprocess.Popen([nginx, "-p", str(folder), "-e", str(folder / "error.log"),
                                           "-c", str(nginx_config(folder, rendered)), "-g", "daemon off;"]))
        wait_listening(https_port, processes[-1])
        tls = ssl.create_default_context(cafile=str(cert))
        for port, context in ((app_port, None), (https_port, tls)):
            if get_seconds(port, context, 60) is None:  # every worker warm before the clock starts
                raise RuntimeError("the site does not answer GET /")

        rows = []
        for clients in (int(n) for n in args.clients.split(",")):
            for way, port, context in (("gunicorn alone", app_port, None), ("behind nginx", https_port, tls)):
                log(f"{clients} slow clients, {way}")
                seconds = probe(port, context, clients, args.give_up)
                rows.append((clients, way, "unanswered" if seconds is None else f"{seconds:.3f} s"))
        print(f"\n{'slow clients':>12}  {'way in':<15}  GET / answered after (give up at {args.give_up:g} s)")
        for clients, way, answer in rows:
            print(f"{clients:>12}  {way:<15}  {answer}")
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
