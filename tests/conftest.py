"""Shared fixtures: an application on a real database seeded with the demo offices and people."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from web import create_app
from web.cli import deploy_all
from web.extensions import db
from workflows.demo import seed_demo


def _config(db_path: Path, storage: Path) -> dict:
    return {"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}", "STORAGE_DIR": storage}


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory) -> Path:
    """A database file with tables, the deployed processes and the demo data (made once)."""
    folder = tmp_path_factory.mktemp("seed")
    path = folder / "seed.db"
    app = create_app(_config(path, folder / "documents"))
    with app.app_context():
        db.create_all()
        deploy_all()
        seed_demo(db.session)
        db.session.commit()
        db.engine.dispose()
    return path


@pytest.fixture
def app(seeded_db, tmp_path):
    path = tmp_path / "app.db"
    shutil.copy(seeded_db, path)
    app = create_app(_config(path, tmp_path / "documents"))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
