"""Configuration, read from the environment in one place.

``APP_ENV`` picks the class: ``development`` (the default of ``make run``), ``production``
or ``test``. Production refuses to start without a ``SECRET_KEY`` of its own.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Alembic migrations (Flask-Migrate): the schema history of every database
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


class Config:
    #: the procedure packages `flask deploy` reads (diagrams, manifests, tables, forms, scenarios)
    BPMN_DIR = Path(os.environ.get("BPMN_DIR") or PROJECT_ROOT / "bpmn")
    #: Vazirmatn TTF files, installed from the npm registry by the setup
    FONT_DIR = PROJECT_ROOT / "node_modules" / "vazirmatn" / "fonts" / "ttf"
    #: the largest request body (uploads included)
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None
    #: the public address the verification URL and QR code of every certificate point to (never the
    #: request's Host header, which a client chooses); required in production
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "")
    SECRET_KEY: str | None = os.environ.get("SECRET_KEY")
    #: unlocks the system account's signing key (timers, deadlines)
    SYSTEM_SIGNING_PIN: str | None = os.environ.get("SYSTEM_SIGNING_PIN")
    #: unlocks the CA, seal and log keys kept in the database
    CA_KEY_PASSPHRASE: str | None = os.environ.get("CA_KEY_PASSPHRASE")
    #: witnesses asked to cosign each new checkpoint, "<url> <vkey>" per line or ';'-separated
    #: (vkey: `python -m signing.witness --state DIR --name NAME --vkey`); empty: no witness
    LOG_WITNESSES = os.environ.get("LOG_WITNESSES", "")
    #: how many of those witnesses must have cosigned a certificate's checkpoint for the public page
    #: to accept it (empty: a majority of them)
    LOG_WITNESS_QUORUM = os.environ.get("LOG_WITNESS_QUORUM", "")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")
    #: "package.module:Class" that sends SMS and email notifications (see workflows/outbox.py)
    OUTBOX_SENDER = os.environ.get("OUTBOX_SENDER", "workflows.outbox:ConsoleSender")
    #: sign-in throttling: wrong passwords allowed per account (since its last sign-in) and per
    #: client address within the window, before sign-in is refused until the window has passed
    LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", "5"))
    LOGIN_MAX_FAILURES_PER_ADDRESS = int(os.environ.get("LOGIN_MAX_FAILURES_PER_ADDRESS", "30"))
    LOGIN_WINDOW_SECONDS = int(os.environ.get("LOGIN_WINDOW_SECONDS", "900"))
    #: how many reverse proxies in front of the app set X-Forwarded-For/-Proto (0: none trusted)
    PROXY_COUNT = int(os.environ.get("PROXY_COUNT", "0"))
    #: a signed-in session ends after this much time
    PERMANENT_SESSION_LIFETIME = int(os.environ.get("SESSION_LIFETIME_SECONDS", str(8 * 3600)))
    #: a token from POST /api/v1/auth/token opens nothing after this much time
    API_TOKEN_LIFETIME_SECONDS = int(os.environ.get("API_TOKEN_LIFETIME_SECONDS", str(8 * 3600)))
    TESTING = False


class DevelopmentConfig(Config):
    """Embedded default: SQLite in the instance folder, a secret generated on first start."""

    #: `make run` serves on 127.0.0.1:$PORT
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL") or f"http://127.0.0.1:{os.environ.get('PORT') or '5000'}"


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-only-secret"
    SYSTEM_SIGNING_PIN = "test-only-system-pin"
    CA_KEY_PASSPHRASE = "test-only-ca-passphrase"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    WTF_CSRF_ENABLED = False
    PUBLIC_BASE_URL = "http://verify.test"


CONFIGS = {"development": DevelopmentConfig, "production": ProductionConfig, "test": TestConfig}
