"""The web application: pages, JSON API and CLI over the licensing domain."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import event

from signing import SigningError
from signing.note import WitnessPolicy
from signing.witness import parse_endpoints
from web.config import CONFIGS, MIGRATIONS_DIR, PROJECT_ROOT
from web.extensions import csrf, db, login_manager, migrate

__all__ = ["create_app"]

#: secrets that must never sign sessions outside tests
_KNOWN_SECRETS = {"", "dev", "secret", "changeme", "test-only-secret"}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application; ``config`` overrides the environment's settings (tests)."""
    app = Flask(__name__, instance_path=os.environ.get("INSTANCE_PATH", str(PROJECT_ROOT / "instance")))
    env = (config or {}).get("APP_ENV") or os.environ.get("APP_ENV", "development")
    if env not in CONFIGS:
        raise RuntimeError(f"APP_ENV must be one of {sorted(CONFIGS)}, not {env!r}")
    app.config.from_object(CONFIGS[env])
    app.config.update(config or {})
    app.config["APP_ENV"] = env
    _finish_config(app, env)

    db.init_app(app)
    _embedded_database_settings(app)
    # render_as_batch: SQLite alters a table by copying it, which batch operations do for us
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    csrf.init_app(app)

    from web import api, auth, cli, errors, openapi, pages, public, registry, security, sessions, templating, tsa
    sessions.init_app(app)
    security.init_app(app)
    templating.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(registry.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(tsa.bp)
    _init_offices(app)
    return app


def _embedded_database_settings(app: Flask) -> None:
    """SQLite in write-ahead-log mode with ``synchronous=NORMAL`` on every connection to a file.

    In its default rollback-journal mode SQLite fsyncs on every commit while holding the database's
    write lock, and a reader waits for a writer: two workers take turns. With the log, readers go on
    while one writer writes, and a commit is an append without an fsync of its own. What it trades:
    a process killed at any point loses nothing committed, but a power cut or an operating-system
    crash may lose the last commits before the log's next checkpoint (the database stays consistent).
    Production runs on PostgreSQL; a database file must stay on a local disk (the log needs shared
    memory, which network file systems do not give)."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return

    @event.listens_for(engine, "connect")
    def _write_ahead(connection, _record) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def _init_offices(app: Flask) -> None:
    """Inboxes, notifications, monitoring, the headquarters audit and administration."""
    from web import admin, audit, calendar, dashboard, evaluations, inbox, notifications, office_cli, training
    notifications.init_app(app)
    audit.init_app(app)
    office_cli.init_app(app)
    for blueprint in (inbox.bp, inbox.api_bp, notifications.bp, notifications.api_bp, dashboard.bp, audit.bp,
                      admin.bp, admin.account_bp, calendar.bp, evaluations.bp, training.bp):
        app.register_blueprint(blueprint)


def _finish_config(app: Flask, env: str) -> None:
    """Derive defaults that depend on the instance folder; refuse unsafe secrets."""
    instance = Path(app.instance_path)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        instance.mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'app.db'}"
    app.config.setdefault("STORAGE_DIR", instance / "documents")
    app.config["STORAGE_DIR"] = Path(app.config["STORAGE_DIR"])
    if env == "development":
        for name, file in (("SECRET_KEY", "secret_key"), ("SYSTEM_SIGNING_PIN", "system_pin"),
                           ("CA_KEY_PASSPHRASE", "ca_passphrase")):
            if not app.config.get(name):
                app.config[name] = _instance_secret(instance, file)
    secret = app.config.get("SECRET_KEY") or ""
    if env == "production" and (secret in _KNOWN_SECRETS or len(secret) < 32):
        raise RuntimeError("SECRET_KEY must be set to a random value of at least 32 characters in production")
    for name in ("SYSTEM_SIGNING_PIN", "CA_KEY_PASSPHRASE"):
        if env == "production" and len(app.config.get(name) or "") < 16:
            raise RuntimeError(f"{name} must be set (16+ characters) in production")
    app.config["PUBLIC_BASE_URL"] = public_base_url(app.config.get("PUBLIC_BASE_URL") or "", env)
    try:
        app.config["WITNESS_ENDPOINTS"] = tuple(parse_endpoints(app.config.get("LOG_WITNESSES") or ""))
    except SigningError as error:
        raise RuntimeError(f"LOG_WITNESSES is malformed: {error}") from error
    app.config["WITNESS_POLICY"] = witness_policy(app.config["WITNESS_ENDPOINTS"],
                                                  str(app.config.get("LOG_WITNESS_QUORUM") or ""))


def public_base_url(value: str, env: str) -> str:
    """The configured public address certificates point to, checked: an http(s) URL with a host and
    nothing after its path; https and required in production."""
    value = value.strip().rstrip("/")
    if not value:
        if env == "production":
            raise RuntimeError("PUBLIC_BASE_URL must be set in production (the address printed in certificates)")
        return value
    parts = urlsplit(value)
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment
            or parts.username or parts.password or (env == "production" and parts.scheme != "https")):
        raise RuntimeError(f"PUBLIC_BASE_URL is not a usable {'https' if env == 'production' else 'http(s)'} "
                           f"address: {value!r}")
    return value


def witness_policy(endpoints, quorum: str) -> WitnessPolicy | None:
    """The policy the public page applies: the configured witnesses, a quorum of them (a majority
    unless LOG_WITNESS_QUORUM says otherwise); None when no witness is configured."""
    if not endpoints:
        return None
    count = len(endpoints) // 2 + 1 if not quorum.strip() else int(quorum) if quorum.strip().isdigit() else 0
    if not 1 <= count <= len(endpoints):
        raise RuntimeError(f"LOG_WITNESS_QUORUM must be a number from 1 to {len(endpoints)}")
    return WitnessPolicy(tuple(endpoint.key for endpoint in endpoints), count)


def _instance_secret(instance: Path, name: str) -> str:
    """A random secret kept in the instance folder, made on first use (development only)."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / name
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
