"""Throwaway databases for the tests: SQLite files, or PostgreSQL databases on a test server.

``TEST_DATABASE_URL=postgresql+psycopg://user:password@host:port/dbname`` runs the suite on
PostgreSQL: ``dbname`` is only where the tests connect to create and drop their own databases
(named ``t<pid>_<random>_<n>``), so the role needs ``CREATEDB``. Unset (or a SQLite URL), the
tests use SQLite files in pytest's temporary folders.
"""
from __future__ import annotations

import itertools
import os
import secrets
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

__all__ = ["Databases", "PostgresDatabases", "SqliteDatabases", "postgres_url", "make_databases"]


def postgres_url() -> URL | None:
    """The PostgreSQL server the tests should use, if ``TEST_DATABASE_URL`` names one."""
    value = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not value:
        return None
    url = make_url(value)
    if url.get_backend_name() == "sqlite":
        return None
    if url.get_backend_name() != "postgresql":
        raise pytest.UsageError(f"TEST_DATABASE_URL must be a PostgreSQL or SQLite URL, not {url.drivername}")
    return url


class Databases(Protocol):
    #: "sqlite" or "postgresql"
    name: str

    def create(self, folder: Path, template: str | None = None) -> str:
        """A new database (empty, or a copy of ``template``); returns its URL."""

    def drop(self, url: str) -> None:
        """Remove a database made by ``create``."""

    def close(self) -> None:
        """Release what the factory holds."""


class SqliteDatabases:
    """Each database is a file; a copy of a seeded file is a file copy (a few milliseconds)."""

    name = "sqlite"

    def __init__(self) -> None:
        self._numbers = itertools.count()

    def create(self, folder: Path, template: str | None = None) -> str:
        path = folder / f"db{next(self._numbers)}.sqlite"
        if template is not None:  # SQLite's own copy: what a write-ahead log still holds comes along
            with closing(sqlite3.connect(make_url(template).database)) as source, closing(sqlite3.connect(path)) as copy:
                source.backup(copy)
        return f"sqlite:///{path}"

    def drop(self, url: str) -> None:
        Path(make_url(url).database).unlink(missing_ok=True)

    def close(self) -> None:
        pass


class PostgresDatabases:
    """Databases on one server, copied from a template with ``CREATE DATABASE ... TEMPLATE``.

    PostgreSQL copies the template's files, so a seeded copy costs tens of milliseconds however
    many rows (and scrypt-encrypted keys) the template holds.
    """

    name = "postgresql"

    def __init__(self, url: URL) -> None:
        self.url = url
        self._engine = create_engine(url, isolation_level="AUTOCOMMIT")
        self._connection = self._engine.connect()
        encoding = self._connection.scalar(text(
            "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'template1'"))
        if encoding != "UTF8":
            raise pytest.UsageError(f"the test server's new databases must be UTF8 (template1 is {encoding})")
        self._prefix = f"t{os.getpid()}_{secrets.token_hex(3)}"
        self._numbers = itertools.count()

    def create(self, folder: Path, template: str | None = None) -> str:
        name = f"{self._prefix}_{next(self._numbers)}"
        sql = f'CREATE DATABASE "{name}"'
        if template is not None:
            sql += f' TEMPLATE "{make_url(template).database}"'
        self._connection.execute(text(sql))
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        # FORCE ends connections a test left open (a live-server thread, a leaked session). A server
        # process this role may not end (autovacuum at work on the copy) holds it for a moment: wait.
        statement = text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
        for attempt in range(40):
            try:
                self._connection.execute(statement)
                return
            except DBAPIError as error:
                if "pg_signal_backend" not in str(error.orig) or attempt == 39:
                    raise
                time.sleep(0.25)

    def close(self) -> None:
        self._connection.close()
        self._engine.dispose()


def make_databases() -> Databases:
    """The factory for this run: PostgreSQL when ``TEST_DATABASE_URL`` names a server, else SQLite."""
    url = postgres_url()
    return PostgresDatabases(url) if url is not None else SqliteDatabases()
