"""Command-line operations: ``flask --app web <command>``."""
from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import flask_migrate
from flask import Flask, current_app
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from web.auth import prune_api_tokens, prune_login_attempts
from web.sessions import prune_web_sessions
from web.extensions import db
from web.transaction import transaction
from workflows import backup, inquiries, log, pki, procedures, scenarios, terms, timers
from workflows.cases import deploy
from engine import MANIFEST_SUFFIX, SpecError
from workflows.errors import ProcessFailed, WorkflowError
from workflows.demo import DEMO_ACCOUNTS, seed_demo
from workflows.keys import active_key, issue_key, prune_signing_sessions, unlock_signer
from workflows.models import Office, ProcessDefinition, Record, User, utcnow
from workflows.people import add_token, system_user

def deploy_all(*, run_scenarios: bool = True) -> dict[str, str]:
    """Deploy the current files of every procedure of the bpmn folder (one per manifest); their versions by key.

    Every package is checked, and the problems of all of them refuse the deploy together. Then the
    scenarios of every procedure whose files make a new version run on a throwaway database
    (``workflows.scenarios``); one that does not hold refuses the deploy too. Nothing is committed here:
    the command's transaction stores all of it or none. The test suite's seeded database skips the
    scenarios (``run_scenarios=False``): its scenario tests run them."""
    bpmn_dir = current_app.config["BPMN_DIR"]
    keys = procedures.package_keys(bpmn_dir)
    if not keys:
        raise SpecError(f"{bpmn_dir}: no procedure (a procedure is <key>.bpmn with its <key>{MANIFEST_SUFFIX})")
    stored = set(db.session.scalars(select(ProcessDefinition.version)))
    versions, problems = {}, []
    for key in keys:
        try:
            versions[key] = deploy(db.session, bpmn_dir, key).version
        except SpecError as error:
            problems.append(str(error) if str(error).startswith(key) else f"{key}: {error}")
    new = [key for key, version in versions.items() if version not in stored]
    if problems:
        raise SpecError("; ".join(problems))
    failures = scenarios.check_packages(bpmn_dir, new) if run_scenarios else []
    if failures:
        raise SpecError("scenarios that do not hold: " + "; ".join(failures))
    return versions


def without_scenarios() -> list[str]:
    """The procedures of the bpmn folder that have no scenario file (deploy warns of each)."""
    bpmn_dir = current_app.config["BPMN_DIR"]
    return [key for key in procedures.package_keys(bpmn_dir) if not scenarios.scenario_files(bpmn_dir, key)]


def _deploy_or_refuse() -> dict[str, str]:
    """deploy_all, or a clear message naming the file and element when a source is refused (nothing stored)."""
    try:
        return deploy_all()
    except SpecError as error:
        db.session.rollback()
        raise click.ClickException(f"nothing deployed: {error}") from None


def _upgrade_schema() -> None:
    """Apply the migrations in migrations/ (an empty database gets the whole schema)."""
    tables = set(sa_inspect(db.engine).get_table_names())
    if tables and "alembic_version" not in tables:
        raise click.ClickException(
            f"{db.engine.url.render_as_string(hide_password=True)} has tables but no migration history: "
            "it was made before migrations existed. Move it away (demo data only) and run init again, "
            "or mark the revision its schema matches: flask --app web db stamp REVISION")
    flask_migrate.upgrade()


def init_app(app: Flask) -> None:
    init_trust_commands(app)
    @app.cli.command("init")
    @click.option("--demo/--no-demo", default=True, help="Create demo offices and accounts if empty.")
    def init(demo: bool) -> None:
        """Migrate the database schema, deploy processes, and (by default) demo data; print the demo accounts."""
        _upgrade_schema()
        with transaction():
            versions = _deploy_or_refuse()
            created = seed_demo(db.session, current_app.config["SYSTEM_SIGNING_PIN"],
                                current_app.config["CA_KEY_PASSPHRASE"]) if demo else False
            pki.ensure(db.session, current_app.config["CA_KEY_PASSPHRASE"])
            played = _play_demo_cases() if created else []
        click.echo(f"Database: {db.engine.url.render_as_string(hide_password=True)}")
        click.echo("Deployed: " + ", ".join(f"{k} {v[:12]}" for k, v in versions.items()))
        if demo:
            click.echo("Demo data created." if created else "Demo data kept as it was.")
            if played:
                click.echo("Demo cases signed: " + ", ".join(played))
            _print_accounts()

    @app.cli.command("backup")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    def backup_command(file: Path) -> None:
        """Write the whole database and the stored documents to FILE (a ZIP archive)."""
        manifest = backup.create(db.session, current_app.config["STORAGE_DIR"], file)
        db.session.rollback()
        click.echo(f"{file}: {sum(manifest['tables'].values())} rows of {len(manifest['tables'])} tables, "
                   f"{len(manifest['documents'])} documents, schema {manifest['schema_revision']}")

    @app.cli.command("restore")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def restore_command(file: Path) -> None:
        """Fill an empty database from a backup FILE (migrating it to the backup's schema first)."""
        try:
            manifest = backup.read_manifest(file)
            if not sa_inspect(db.engine).get_table_names():
                flask_migrate.upgrade(revision=manifest["schema_revision"] or "head")
            with transaction():
                backup.restore(db.session, current_app.config["STORAGE_DIR"], file)
        except backup.BackupError as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"restored {sum(manifest['tables'].values())} rows and {len(manifest['documents'])} documents; "
                   "check them with: flask --app web verify-all")

    @app.cli.command("deploy")
    def deploy_command() -> None:
        """Deploy changed BPMN/DMN files as new versions (running cases keep theirs); all or none."""
        with transaction():
            versions = _deploy_or_refuse()
        for key, version in versions.items():
            click.echo(f"{key}: {version}")
        for key in without_scenarios():
            click.echo(f"warning: {key} has no scenario (bpmn/scenarios/{key}/*.json): deploy could not try it", err=True)

    @app.cli.command("create-token")
    @click.argument("username")
    @click.option("--days", type=click.IntRange(0, 3650), default=90, show_default=True,
                  help="Days the token is valid (0: until revoked, for an integration).")
    def create_token(username: str, days: int) -> None:
        """Print a new API bearer token for a user (an agency's integration, a script)."""
        user = db.session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        token = secrets.token_urlsafe(32)
        with transaction():
            add_token(db.session, user, token, label="cli", expires_at=utcnow() + timedelta(days=days) if days else None)
        click.echo(token)

    @app.cli.command("tick")
    @click.option("--now", "now_text", default=None, help="Pretend it is this ISO time (UTC); for tests and drills.")
    def tick(now_text: str | None) -> None:
        """Fire every due timer (deadlines, escalations); safe to run from several processes at once."""
        now = _parse_now(now_text)
        fired = run_tick(now)
        click.echo(f"{now.isoformat()}: {len(fired)} case(s) moved by deadlines" +
                   (": " + ", ".join(f"#{case_id} {', '.join(names)}" for case_id, names in fired) if fired else ""))

    @app.cli.command("answer-inquiries")
    @click.option("--result", type=click.Choice(["clear", "not_clear"]), default="clear")
    @click.option("--case", "case_id", type=int, default=None, help="Only this case's inquiries.")
    def answer_inquiries(result: str, case_id: int | None) -> None:
        """Answer pending inquiries as the demo agencies would (demo only), each a signed record
        committed on its own (a transition of its case, as when an agency answers through the API)."""
        answered = 0
        for account in (a for a in DEMO_ACCOUNTS if a.agency):
            agency = db.session.scalars(select(User).where(User.username == account.username)).one()
            for inquiry in inquiries.agency_inquiries(db.session, agency):
                if case_id is not None and inquiry.case_id != case_id:
                    continue
                with transaction():
                    inquiries.answer_inquiry(db.session, inquiry_id=inquiry.id, agency_user=agency, pin=account.pin,
                                             data={"result": result, "reference": f"DEMO-{inquiry.id}"}, now=utcnow())
                answered += 1
        click.echo(f"{answered} inquiry answer(s) signed ({result}).")


def run_tick(now: datetime) -> list[tuple[int, list[str]]]:
    """Keep CRLs current, fire due timers case by case (one transaction each; a case another tick
    holds is skipped), remind of terms near their planned end and tell of terms that ran out
    (``workflows.terms``), remind of deadlines a few working days away (``timers.remind``), then sign a log checkpoint if the log grew, and ask the configured
    witnesses that have not cosigned the newest checkpoint yet.

    Each step commits on its own, on purpose: a case or step that another tick won is skipped,
    never the whole run, and what the steps before it did stands."""
    passphrase = current_app.config["CA_KEY_PASSPHRASE"]
    try:
        with transaction():
            pki.refresh_crls(db.session, passphrase, now)
    except (IntegrityError, OperationalError):
        pass  # another tick is issuing them (SQLite lets one writer through)
    system = system_user(db.session)
    signer = unlock_signer(db.session, system, current_app.config["SYSTEM_SIGNING_PIN"])
    fired = []
    for case_id in timers.due_cases(db.session, now):
        try:
            with transaction():
                records = timers.fire_case(db.session, case_id, now=now, system=system, signer=signer)
        except (StaleDataError, IntegrityError, OperationalError):
            continue  # another tick moved this case first
        except ProcessFailed as error:  # the case keeps its state; the next tick tries again
            current_app.logger.error("case %s: a timer failed in the process definition: %s", case_id, error.detail)
            continue
        if records:
            fired.append((case_id, _timer_names(records[0])))
    try:
        with transaction():
            terms.watch(db.session, now)  # reminders before a term's planned end; terms that ran out
    except (IntegrityError, OperationalError):
        pass  # another tick told them first
    try:
        with transaction():
            timers.remind(db.session, now)  # deadlines a few working days away
    except (IntegrityError, OperationalError):
        pass  # another tick reminded them first
    with transaction():
        prune_login_attempts(now)
        prune_api_tokens(now)
        prune_signing_sessions(db.session, now)
        prune_web_sessions(now)
    try:
        with transaction():
            log.checkpoint(db.session, passphrase, now, current_app.config["WITNESS_ENDPOINTS"])
    except (IntegrityError, OperationalError):
        pass  # another tick signed a checkpoint of this very tree size first
    return fired


def _timer_names(record: Record) -> list[str]:
    return json.loads(record.canonical)["details"].get("timers", [])


def _parse_now(text: str | None) -> datetime:
    if not text:
        return utcnow()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("use an ISO time such as 2026-12-01T08:00:00Z", param_hint="--now") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _print_accounts() -> None:
    offices = {o.code: o.name for o in db.session.scalars(select(Office))}
    click.echo("Demo accounts (password / signing PIN):")
    for a in DEMO_ACCOUNTS:
        office = offices.get(a.office, "-") if a.office else "-"
        token = f"   API token {a.token}" if a.token else ""
        click.echo(f"  {a.role:<17} {a.username:<21} {a.password} / PIN {a.pin}   {office}{token}")


def _play_demo_cases() -> list[str]:
    """Play the scenarios ``bpmn/scenarios/demo.json`` lists on the new demo database (a new machine's
    demo then shows licensed centers and their reports); the names of those played."""
    folder = Path(current_app.config["BPMN_DIR"]) / scenarios.SCENARIOS
    listed = folder / "demo.json"
    if not listed.exists():
        return []
    names = json.loads(listed.read_text("utf-8"))["scenarios"]
    for name in names:
        scenarios.run_file(db.session, current_app.config["BPMN_DIR"], folder / f"{name}.json",
                           current_app.config["STORAGE_DIR"], current_app.config["SYSTEM_SIGNING_PIN"],
                           current_app.config["CA_KEY_PASSPHRASE"])
    return names


def init_trust_commands(app: Flask) -> None:
    """PKI operations for administrators: revoke, rotate, unlock, export the root, re-time-stamp PDFs."""

    def _user(username: str) -> User:
        user = db.session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        return user

    @app.cli.command("revoke-key")
    @click.argument("username")
    @click.option("--reason", default="key_compromise", help="Why (recorded with the revocation).")
    def revoke_key(username: str, reason: str) -> None:
        """Revoke a person's current certificate from now on; records signed before stay valid."""
        row = active_key(db.session, _user(username))
        if row is None or row.certificate is None:
            raise click.ClickException("the user has no certified key")
        with transaction():
            pki.revoke(db.session, row.certificate, reason=reason, passphrase=current_app.config["CA_KEY_PASSPHRASE"])
        click.echo(f"revoked certificate {row.certificate.serial} of {username}")

    @app.cli.command("rotate-key")
    @click.argument("username")
    @click.option("--pin", prompt=True, hide_input=True, confirmation_prompt=True, help="The new key's signing PIN.")
    def rotate_key(username: str, pin: str) -> None:
        """Give a person a new key and certificate; old records still verify against the old one."""
        user = _user(username)
        with transaction():
            issue_key(db.session, user, pin)
            pki.enroll_pending(db.session, current_app.config["CA_KEY_PASSPHRASE"])
        click.echo(f"new key {active_key(db.session, user).key_id[:16]} for {username}")

    @app.cli.command("unlock-signing")
    @click.argument("username")
    def unlock_signing(username: str) -> None:
        """Reset the wrong-PIN count of a person whose signing was locked."""
        with transaction():
            row = active_key(db.session, _user(username))
            if row is not None:
                row.failed_pins = 0
        click.echo(f"signing unlocked for {username}")

    @app.cli.command("export-root")
    @click.argument("path", type=click.Path(dir_okay=False, writable=True))
    def export_root(path: str) -> None:
        """Write the HQ root certificate (PEM) for offline verification."""
        with open(path, "w", encoding="ascii") as handle:
            handle.write(pki.root_certificate(db.session).pem)
        click.echo(path)

    @app.cli.command("renew-tsa")
    def renew_tsa() -> None:
        """Give HQ's time-stamping authority a new key and certificate (run before its certificate expires)."""
        with transaction():
            row = pki.renew_timestamp_authority(db.session, current_app.config["CA_KEY_PASSPHRASE"])
        click.echo(f"TSA certificate {row.certificate.serial}, valid until {row.certificate.not_after.isoformat()}")

    @app.cli.command("retimestamp")
    @click.argument("files", nargs=-1, required=True,
                    type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Write the extended PDFs here under their own names (default: replace each FILE).")
    def retimestamp(files: tuple[Path, ...], output_dir: Path | None) -> None:
        """Add a fresh document time-stamp and current CRLs to sealed certificate PDFs (PAdES B-LTA).

        Certificates are made on demand and not stored: run this on the PDFs kept elsewhere (by
        applicants, archives) before the TSA certificate that stamped them last expires. Each FILE
        must validate first; it is replaced atomically, or written to --output-dir.
        """
        from signing import SigningError
        from signing.pades import add_archive_timestamp, validate_pdf

        passphrase = current_app.config["CA_KEY_PASSPHRASE"]
        with transaction():
            pki.refresh_crls(db.session, passphrase)  # the CRLs written into the files must be current
        try:
            authority = pki.timestamp_authority(db.session, passphrase)
        except WorkflowError as error:
            raise click.ClickException(str(error)) from None
        material = pki.trust_material(db.session)
        db.session.rollback()
        click.echo(f"TSA certificate valid until {authority.cert.not_valid_after_utc.isoformat()}: "
                   "renew it (renew-tsa) and re-time-stamp again before then")
        if output_dir is not None:
            output_dir.mkdir(parents=True, exist_ok=True)
        failed = 0
        for path in files:
            try:
                extended = add_archive_timestamp(path.read_bytes(), root=material.root, crls=material.crls,
                                                 timestamper=authority)
                stamped = validate_pdf(extended, root=material.root, crls=material.crls).archive_timestamps[-1]
            except (OSError, SigningError) as error:
                click.echo(f"FAIL {getattr(error, 'code', 'unreadable')}: {path}: {error}")
                failed += 1
                continue
            target = output_dir / path.name if output_dir is not None else path
            temporary = target.with_name(f".{target.name}.tmp")
            temporary.write_bytes(extended)
            temporary.replace(target)
            click.echo(f"OK {target}: time-stamped at {stamped.isoformat()}")
        if failed:
            raise click.ClickException(f"{failed} of {len(files)} file(s) not time-stamped")
