"""The migrations in migrations/ build exactly the schema of the models, on every database we run.

When a test here fails after a model change, create a migration and read it over:

    .venv/bin/flask --app web db migrate -m "what changed"
"""
from __future__ import annotations

import warnings

import pytest
from alembic import command
from alembic.config import Config
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from databases import SqliteDatabases, postgres_url
from sqlalchemy import CheckConstraint, inspect, select, text
from sqlalchemy.exc import SAWarning

from web import create_app
from web.config import MIGRATIONS_DIR
from web.extensions import db
from workflows.models import Base, User

#: SQLite always; PostgreSQL too when TEST_DATABASE_URL names a server
BACKENDS = ["sqlite"] + (["postgresql"] if postgres_url() is not None else [])
#: PostgreSQL truncates longer identifiers, and then names differ between the two databases
MAX_NAME = 63
REGENERATE = 'create a migration: .venv/bin/flask --app web db migrate -m "what changed", then read it over'


@pytest.fixture(params=BACKENDS)
def empty_app(request, test_databases, tmp_path):
    """An application on an empty database of each backend."""
    databases = test_databases if test_databases.name == request.param else SqliteDatabases()
    url = databases.create(tmp_path)
    app = create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": url, "STORAGE_DIR": tmp_path / "documents"})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    databases.drop(url)


def alembic_config(app):
    return app.extensions["migrate"].migrate.get_config()


def describe(diff) -> list[str]:
    """One readable line per difference reported by alembic's compare_metadata."""
    if isinstance(diff, list):  # column modifications come grouped
        return [line for item in diff for line in describe(item)]
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        return [f"{kind}: {diff[1].name}"]
    if kind in ("add_column", "remove_column"):
        _, _, table, column = diff
        return [f"{kind}: {table}.{column.name} {column.type}{'' if column.nullable else ' NOT NULL'}"]
    if kind.startswith("modify_"):
        _, _, table, column, _, database, models = diff
        return [f"{kind}: {table}.{column}: migrated database {database!r}, models {models!r}"]
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        item = diff[1]
        columns = ", ".join(c.name for c in item.columns) if hasattr(item, "columns") else ""
        return [f"{kind}: {item.name} on {item.table.name}({columns})"]
    return [f"{kind}: {diff[1:]!r}"]


def check_constraint_differences(connection) -> list[str]:
    """compare_metadata leaves CHECK constraints out: compare their names at least."""
    inspector = inspect(connection)
    lines = []
    for table in Base.metadata.tables.values():
        if not inspector.has_table(table.name):
            continue
        models = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        database = {c["name"] for c in inspector.get_check_constraints(table.name)}
        lines += [f"add_check_constraint: {name} on {table.name}" for name in sorted(models - database)]
        lines += [f"remove_check_constraint: {name} on {table.name}" for name in sorted(database - models)]
    return lines


def test_migrations_build_the_schema_of_the_models(empty_app):
    command.upgrade(alembic_config(empty_app), "head")
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        with warnings.catch_warnings():
            # a foreign-key cycle between new tables must not hide the readable diff below
            warnings.filterwarnings("ignore", "Cannot correctly sort tables", SAWarning)
            diffs = compare_metadata(context, Base.metadata)
        lines = [line for diff in diffs for line in describe(diff)]
        lines += check_constraint_differences(connection)
    assert not lines, (
        f"The migrations in migrations/ do not build the schema of workflows/models.py on {db.engine.name} "
        "(add_* = in the models but not in the migrated database, remove_* = the other way round):\n  "
        + "\n  ".join(lines) + f"\nTo fix it, {REGENERATE}.")


def test_migrations_go_down_to_an_empty_database_and_up_again(empty_app):
    config = alembic_config(empty_app)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert set(Base.metadata.tables) <= set(inspect(db.engine).get_table_names())


def test_migrations_have_one_head():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, (
        f"migrations/ has {len(heads)} heads {heads}: two migrations were made from the same parent; "
        'join them with .venv/bin/flask --app web db merge heads -m "merge"')


def test_constraint_and_index_names_are_explicit_and_fit_postgresql():
    names = [(table.name, item.name) for table in Base.metadata.tables.values()
             for item in [*table.constraints, *table.indexes]]
    assert all(name for _, name in names), "every constraint and index needs a name (see NAMING_CONVENTION)"
    too_long = [f"{table}: {name}" for table, name in names if len(name) > MAX_NAME]
    assert not too_long, f"names longer than {MAX_NAME} characters (give them a shorter explicit name): {too_long}"


def test_init_migrates_an_empty_database_and_keeps_data_on_a_second_run(empty_app):
    runner = empty_app.test_cli_runner()
    first = runner.invoke(args=["init"])
    assert first.exit_code == 0, first.output or repr(first.exception)
    assert "Demo data created." in first.output
    head = ScriptDirectory.from_config(alembic_config(empty_app)).get_current_head()
    assert db.session.scalar(text("SELECT version_num FROM alembic_version")) == head

    admin = db.session.scalars(select(User).where(User.username == "admin")).one()
    admin.full_name = "changed between the runs"
    db.session.commit()
    second = runner.invoke(args=["init"])
    assert second.exit_code == 0, second.output or repr(second.exception)
    assert "Demo data kept as it was." in second.output
    db.session.expire_all()
    assert db.session.scalars(select(User.full_name).where(User.username == "admin")).one() == \
        "changed between the runs"


def test_init_refuses_a_database_made_without_migrations(empty_app):
    db.create_all()
    result = empty_app.test_cli_runner().invoke(args=["init"])
    assert result.exit_code != 0
    assert "no migration history" in result.output
