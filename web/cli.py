"""Command-line operations: ``flask --app web <command>``."""
from __future__ import annotations

import hashlib
import secrets

import click
from flask import Flask, current_app
from sqlalchemy import select

from web.extensions import db
from workflows.cases import deploy
from workflows.demo import DEMO_ACCOUNTS, seed_demo
from workflows.models import ApiToken, Office, User

#: processes deployed from bpmn/ by ``init`` and ``deploy``
PROCESSES = ("center_founding",)


def deploy_all() -> list[str]:
    """Deploy the current BPMN/DMN files of every process; returns their versions."""
    return [deploy(db.session, current_app.config["BPMN_DIR"], key).version for key in PROCESSES]


def init_app(app: Flask) -> None:
    @app.cli.command("init")
    @click.option("--demo/--no-demo", default=True, help="Create demo offices and accounts if empty.")
    def init(demo: bool) -> None:
        """Create tables, deploy processes, and (by default) demo data; print the demo accounts."""
        db.create_all()
        versions = deploy_all()
        created = seed_demo(db.session) if demo else False
        db.session.commit()
        click.echo(f"Database: {db.engine.url.render_as_string(hide_password=True)}")
        click.echo("Deployed: " + ", ".join(f"{k} {v[:12]}" for k, v in zip(PROCESSES, versions)))
        if demo:
            click.echo("Demo data created." if created else "Demo data kept as it was.")
            _print_accounts()

    @app.cli.command("deploy")
    def deploy_command() -> None:
        """Deploy changed BPMN/DMN files as new versions (running cases keep theirs)."""
        versions = deploy_all()
        db.session.commit()
        for key, version in zip(PROCESSES, versions):
            click.echo(f"{key}: {version}")

    @app.cli.command("create-token")
    @click.argument("username")
    def create_token(username: str) -> None:
        """Print a new API bearer token for a user."""
        user = db.session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        token = secrets.token_urlsafe(32)
        db.session.add(ApiToken(user_id=user.id, token_hash=hashlib.sha256(token.encode()).hexdigest(), label="cli"))
        db.session.commit()
        click.echo(token)


def _print_accounts() -> None:
    offices = {o.code: o.name for o in db.session.scalars(select(Office))}
    click.echo("Demo accounts (password / signing PIN):")
    for a in DEMO_ACCOUNTS:
        office = offices.get(a.office, "-") if a.office else "-"
        click.echo(f"  {a.role:<17} {a.username:<21} {a.password} / PIN {a.pin}   {office}")
