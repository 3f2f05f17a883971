"""Shared fixtures: an application on a real database seeded with the demo offices and people.

Seeding (demo users with scrypt-encrypted keys) takes most of a second, so it happens once per
session; every test then gets its own copy of the seeded database: a file copy on SQLite (the
default), ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL when ``TEST_DATABASE_URL`` names a
server (see tests/databases.py). Each copy is dropped after its test.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from databases import Databases, make_databases
from flask import g
from flask.testing import FlaskClient
from web import create_app
from web.cli import deploy_all
from web.extensions import db
from workflows.demo import seed_demo


def _config(url: str, storage: Path) -> dict:
    return {"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": url, "STORAGE_DIR": storage}


@dataclass(frozen=True)
class SeededDatabase:
    """The session's seeded database and the factory that copies it for each test."""

    databases: Databases
    #: URL of the seeded database (never used by a test directly: tests get copies)
    url: str

    def copy(self, folder: Path) -> str:
        return self.databases.create(folder, template=self.url)


@pytest.fixture(scope="session")
def test_databases():
    """Creates and drops the tests' databases on the backend of this run."""
    databases = make_databases()
    yield databases
    databases.close()


@pytest.fixture(scope="session")
def seeded_db(test_databases, tmp_path_factory) -> SeededDatabase:
    """A database with tables, the deployed processes and the demo data (made once)."""
    folder = tmp_path_factory.mktemp("seed")
    url = test_databases.create(folder)
    app = create_app(_config(url, folder / "documents"))
    with app.app_context():
        db.create_all()
        deploy_all(run_scenarios=False)  # tests/workflows/test_workflows_scenarios.py runs them
        seed_demo(db.session, app.config["SYSTEM_SIGNING_PIN"], app.config["CA_KEY_PASSPHRASE"])
        db.session.commit()
        db.session.remove()
        db.engine.dispose()  # a PostgreSQL template must have no open connections
    yield SeededDatabase(test_databases, url)
    test_databases.drop(url)


class Client(FlaskClient):
    """A test client whose every request starts as a server's does: with an empty ``g``.

    The tests hold one application context open (to share its database session), and Flask keeps
    ``g`` per application context, so without this the user Flask-Login cached for one client's
    request would answer ``current_user`` in the next request of another client (or of no one), and
    what a request read once (the deployed procedures) would outlive it."""

    def open(self, *args, **kwargs):
        for name in list(g):
            g.pop(name)
        return super().open(*args, **kwargs)


@pytest.fixture
def app(seeded_db, tmp_path):
    url = seeded_db.copy(tmp_path)
    app = create_app(_config(url, tmp_path / "documents"))
    app.test_client_class = Client
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    seeded_db.databases.drop(url)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
