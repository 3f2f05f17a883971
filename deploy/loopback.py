"""The production recipe of README.md run on loopback: nginx with nginx.conf.template, rendered by
envsubst as the README renders it, in front of gunicorn, with a certificate made for the run.

Shared by tests/web/test_web_deployment.py and bench/slow_clients.py; nothing of the application
imports it. Every path nginx writes is in the folder given (pid, logs, request bodies), so neither
root nor /etc is needed beyond nginx itself (`make system-deps` installs it).
"""
from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from ipaddress import IPv4Address
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
#: the variables the README hands envsubst (nginx's own $variables stay as they are)
VARIABLES = "$SERVER_NAME $HTTP_PORT $HTTPS_PORT $TLS_CERTIFICATE $TLS_CERTIFICATE_KEY $APP_UPSTREAM"
#: the slow client of the probe: the headers of a sign-in announcing a 100,000-byte body
SLOW_HEAD = (b"POST /api/v1/auth/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
             b"Content-Length: 100000\r\n")


class StartError(RuntimeError):
    """nginx or gunicorn did not start (the message ends with its log)."""


def nginx_path() -> str | None:
    return shutil.which("nginx", path=os.pathsep.join((os.environ.get("PATH", ""), "/usr/sbin", "/sbin")))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, log: Path, what: str) -> None:
    """Return once ``port`` accepts connections; StartError if ``process`` ends or a minute passes."""
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise StartError(f"{what} did not start:\n" + log.read_text()[-3000:]) from None
            time.sleep(0.1)


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (the operator's own goes in its place): its two files."""
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
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "tls.crt", folder / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass(frozen=True)
class Nginx:
    process: subprocess.Popen
    https_port: int
    http_port: int
    #: trusts the run's certificate
    tls: ssl.SSLContext


def start_nginx(folder: Path, app_port: int) -> Nginx:
    """nginx serving the rendered template on two free loopback ports, proxying to ``app_port``.
    The caller terminates its process."""
    nginx = nginx_path()
    if nginx is None:
        raise StartError("nginx is not installed: `make system-deps` (as root) or `sudo apt-get install nginx`")
    https_port, http_port = free_port(), free_port()
    cert, key = certificate(folder)
    site = folder / "mosques.conf"
    site.write_text(subprocess.run(
        ["envsubst", VARIABLES], input=TEMPLATE.read_text(), capture_output=True, text=True, check=True,
        env={**os.environ, "SERVER_NAME": "localhost", "HTTP_PORT": f"127.0.0.1:{http_port}",
             "HTTPS_PORT": f"127.0.0.1:{https_port}", "TLS_CERTIFICATE": str(cert),
             "TLS_CERTIFICATE_KEY": str(key), "APP_UPSTREAM": f"127.0.0.1:{app_port}"}).stdout)
    log = folder / "nginx.log"
    with log.open("w") as output:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen([nginx, "-p", str(folder), "-e", str(folder / "error.log"),
                                    "-c", str(_main_config(folder, site)), "-g", "daemon off;"],
                                   stdout=output, stderr=subprocess.STDOUT)
    wait_listening(https_port, process, log, "nginx")
    return Nginx(process, https_port, http_port, ssl.create_default_context(cafile=str(cert)))


def _main_config(folder: Path, site: Path) -> Path:
    """What Debian's /etc/nginx/nginx.conf is to the site file, with every path in ``folder``."""
    temp = "\n".join(f"    {name}_temp_path {folder / name};" for name in ("client_body", "proxy", "fastcgi",
                                                                             "uwsgi", "scgi"))
    # a master started by root hands connections to workers running as `nobody`, who could not
    # write request bodies into a private folder
    worker_user = "user root;\n" if os.geteuid() == 0 else ""
    path = folder / "nginx.conf"
    path.write_text(f"{worker_user}worker_processes 1;\npid {folder / 'nginx.pid'};\n"
                    f"error_log {folder / 'error.log'};\nevents {{ worker_connections 1024; }}\n"
                    f"http {{\n    access_log off;\n{temp}\n    include {site};\n}}\n")
    return path
