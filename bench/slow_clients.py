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
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, VENV_BIN, free_port, log, make_site
from deploy import loopback

#: the slow client: the headers of a sign-in announcing a 100,000-byte body, then 1,000 bytes of it
SLOW_HEAD = loopback.SLOW_HEAD + b"\r\n{\"username\": \"" + b"a" * 1000


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
    if not loopback.nginx_path() or not shutil.which("envsubst"):
        raise SystemExit("nginx and envsubst are needed: make system-deps (as root)")

    folder = Path(tempfile.mkdtemp(prefix="slow-clients-"))
    processes: list[subprocess.Popen] = []
    try:
        log("making the site (flask --app web init)")
        site = make_site(f"sqlite:///{folder / 'site.db'}", folder / "site")
        app_port = free_port()
        gunicorn_log = folder / "gunicorn.log"
        with gunicorn_log.open("w") as output:
            processes.append(subprocess.Popen(
                [str(VENV_BIN / "gunicorn"), "-w", "4", "-b", f"127.0.0.1:{app_port}", "web:create_app()"],
                cwd=ROOT, env={**site.env, "PROXY_COUNT": "1"}, stdout=output, stderr=subprocess.STDOUT))
        loopback.wait_listening(app_port, processes[-1], gunicorn_log, "gunicorn")
        nginx = loopback.start_nginx(folder, app_port)
        processes.append(nginx.process)
        https_port, tls = nginx.https_port, nginx.tls
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
