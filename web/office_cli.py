"""Commands for running the offices: ``flask --app web <command>``.

send-outbox     deliver pending SMS and email notifications through the configured sender
verify-all      recompute every case's signature chain, the registry and case rows against the signed records, the log and the admin log
load-offices    add the offices of workflows/data/offices.json the database lacks
admin ...       add-office, add-user, assign-role, deactivate-user: signed changes of the admin log
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import func, select

from web.extensions import db
from web.transaction import transaction
from workflows import access, admin, audit, moves, outbox, pki, procedures
from workflows.errors import Conflict, Forbidden, InvalidInput, NotFound, WrongPin
from workflows.models import Case, Office, User, utcnow
from workflows.offices import OFFICES_FILE, OfficeTreeError, load_offices, read_office_tree

__all__ = ["init_app", "deliver_outbox"]


def deliver_outbox(sender: outbox.Sender, limit: int) -> tuple[int, int]:
    """Send up to ``limit`` pending messages, each taken and committed before it is sent; (sent, failed).

    Two commits a message, on purpose: a message is taken in a transaction of its own before it is
    sent (it is ours then: no other sender takes it, and a message sent cannot be rolled back), and
    what became of it is stored in another."""
    sent = failed = last = 0
    for _ in range(limit):
        with transaction():
            message = outbox.take(db.session, after_id=last)
        if message is None:
            break
        last = message.id
        with transaction():
            try:
                provider_id = sender.send(outbox.as_outgoing(message))
            except Exception as error:  # a gateway's failure of any kind is recorded, never fatal
                outbox.mark_failed(db.session, message, f"{type(error).__name__}: {error}")
                failed += 1
            else:
                outbox.mark_sent(db.session, message, provider_id, utcnow())
                sent += 1
    return sent, failed


def _user(username: str) -> User:
    user = db.session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    return user


def _run_change(change, done: str) -> None:
    """Run a signed admin change and commit it, or print why it was refused."""
    try:
        with transaction():
            result = change()
            pki.ensure(db.session, current_app.config["CA_KEY_PASSPHRASE"])
    except InvalidInput as error:
        raise click.ClickException("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.errors.items()))
    except (WrongPin, Forbidden, NotFound, Conflict) as error:
        raise click.ClickException(f"refused: {type(error).__name__} {error.detail}")
    click.echo(f"{done} (admin log record #{result.record.seq})")


def init_app(app: Flask) -> None:
    @app.cli.command("send-outbox")
    @click.option("--limit", default=1000, show_default=True, help="At most this many messages in this run.")
    @click.option("--sender", "sender_spec", default=None,
                  help="module:Class of the sender (default: the OUTBOX_SENDER setting).")
    @click.option("--requeue-stuck", is_flag=True,
                  help="First put messages a crashed run left 'sending' back in the queue (they may arrive twice).")
    def send_outbox(limit: int, sender_spec: str | None, requeue_stuck: bool) -> None:
        """Deliver pending notifications (SMS, email); each message is sent at most once."""
        sender = outbox.load_sender(sender_spec or current_app.config.get("OUTBOX_SENDER") or outbox.DEFAULT_SENDER)
        if requeue_stuck:
            with transaction():
                requeued = outbox.requeue_stuck(db.session)
            click.echo(f"{requeued} stuck message(s) back in the queue.")
        sent, failed = deliver_outbox(sender, limit)
        click.echo(f"{sent} sent, {failed} failed, {outbox.pending_count(db.session)} pending.")

    @app.cli.command("verify-all")
    @click.option("--quiet", is_flag=True, help="No progress line.")
    @click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True,
                  help="Worker processes verifying cases side by side (one per core).")
    @click.option("--root", "root_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                  help="The HQ root certificate (PEM) you keep: the database's root must be this one.")
    def verify_all(quiet: bool, processes: int, root_file: Path | None) -> None:
        """Recompute every case's chain, check the registry and case rows against the records, the log and the admin log; list failures, exit 1 if any."""
        total = db.session.scalar(select(func.count()).select_from(Case)) or 0
        checked, failures = 0, []
        if processes > 1:
            from workflows.verification import verify_cases_in_processes
            results = (audit.VerifyResult(*found) for found in verify_cases_in_processes(db.session, processes))
        else:
            results = audit.verify_all(db.session)
        for result in results:
            checked += 1
            if not result.report.ok:
                failures.append((result.case_id, result.public_id,
                                 ", ".join(f"#{p.seq} {p.code}" for p in result.report.problems)))
            if not quiet and (checked % 50 == 0 or checked == total):
                click.echo(f"\rverified {checked}/{total} case(s), {len(failures)} failed", nl=False, err=True)
        if not quiet and total:
            click.echo("", err=True)
        store = audit.audit_store(db.session, root_file.read_text("ascii") if root_file else None,
                                  [endpoint.key for endpoint in current_app.config.get("WITNESS_ENDPOINTS", ())])
        for case_id, public_id, problems in failures:
            click.echo(f"case {case_id} ({public_id}): {problems}")
        for line in store.lines():
            click.echo(line)
        click.echo(f"{checked} case(s) verified, {len(failures)} failed; registry and case facts: "
                   f"{len(store.facts)} problem(s); log: {len(store.log)} problem(s); admin log "
                   f"{'ok' if store.admin.ok else 'FAILED'} ({store.admin.count} record(s)); "
                   f"PKI: {len(store.pki)} problem(s).")
        if failures or not store.ok:
            sys.exit(1)

    @app.cli.command("load-offices")
    @click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                  help=f"The office tree (default {OFFICES_FILE.name} shipped with the project).")
    def load_offices_command(path: Path | None) -> None:
        """Add the offices of the office tree file that the database lacks (never removes or renames)."""
        try:
            specs = read_office_tree(path or OFFICES_FILE)
        except OfficeTreeError as error:
            raise click.ClickException(str(error))
        before = db.session.scalar(select(func.count()).select_from(Office)) or 0
        with transaction():
            load_offices(db.session, specs)
            pki.ensure(db.session, current_app.config["CA_KEY_PASSPHRASE"])
        after = db.session.scalar(select(func.count()).select_from(Office)) or 0
        click.echo(f"{after - before} office(s) added; {after} in all.")

    @app.cli.command("move-cases")
    @click.argument("process_key")
    @click.option("--to", "to_version", default=None, help="The version to move to (default: the newest deployed).")
    @click.option("--case", "case_ids", type=int, multiple=True, help="Move only this case (repeatable).")
    @click.option("--dry-run", is_flag=True, help="Only say where each case would land or why it cannot move.")
    @click.option("--admin", "admin_username", required=True, help="The administrator who signs the moves.")
    @click.option("--pin", default=None, envvar="ADMIN_SIGNING_PIN",
                  help="The administrator's signing PIN (or ADMIN_SIGNING_PIN; asked for when missing).")
    def move_cases_command(process_key: str, to_version: str | None, case_ids: tuple[int, ...], dry_run: bool,
                           admin_username: str, pin: str | None) -> None:
        """Move the running cases of a procedure to a newer version, each with a signed record."""
        admin_user = _user(admin_username)
        if not access.has_capability(admin_user, "administer"):
            raise click.ClickException("refused: Forbidden administrators only")
        if not dry_run and pin is None:
            pin = click.prompt("Signing PIN", hide_input=True)
        try:
            with transaction():
                if dry_run:
                    report = moves.plan_moves(db.session, process_key, to_version, case_ids or None)
                else:
                    report = moves.move_cases(db.session, admin_user, pin, process_key, to_version,
                                              case_ids or None, now=utcnow())
                procedure = procedures.of_version(db.session, report.to_version)
        except (WrongPin, Forbidden, NotFound, Conflict) as error:
            raise click.ClickException(f"refused: {type(error).__name__} {error.detail}")
        for move in report.moves:
            head = f"case {move.case_id}: {move.from_version[:12]} -> {move.to_version[:12]}"
            if move.movable:
                verb = "moved" if report.done else "would move"
                click.echo(f"{head} {verb}: status {move.status} ({procedure.status_label(move.status)}), "
                           f"waiting {', '.join(move.waiting) or 'for an event'}")
            else:
                click.echo(f"{head} cannot move [{move.code}]: {move.reason}")
        verb = "moved" if report.done else "would move"
        click.echo(f"{len(report.moved)} case(s) {verb}, {len(report.stuck)} cannot move "
                   f"({process_key} -> {report.to_version[:12]}).")

    @app.cli.group("admin")
    def admin_group() -> None:
        """Signed administrative changes (the administrator's signing PIN is asked for)."""

    pin_option = click.option("--pin", prompt="Signing PIN", hide_input=True, envvar="ADMIN_SIGNING_PIN",
                              help="The administrator's signing PIN (or ADMIN_SIGNING_PIN).")
    as_option = click.option("--as", "admin_username", required=True, help="The administrator who signs.")

    @admin_group.command("add-office")
    @as_option
    @click.option("--code", required=True)
    @click.option("--name", required=True)
    @click.option("--kind", type=click.Choice(["province", "county"]), required=True)
    @click.option("--parent", required=True, help="Parent office code (hq for a province).")
    @click.option("--number", type=int, default=None, help="A province's number in license numbers.")
    @pin_option
    def add_office(admin_username: str, code: str, name: str, kind: str, parent: str, number: int | None,
                   pin: str) -> None:
        """Add a province or a county."""
        data = {"code": code, "name": name, "kind": kind, "parent": parent, "number": number}
        _run_change(lambda: admin.add_office(db.session, _user(admin_username), data=data, pin=pin),
                    f"office {code} added")

    @admin_group.command("add-user")
    @as_option
    @click.option("--username", required=True)
    @click.option("--full-name", required=True)
    @click.option("--role", type=click.Choice(list(admin.ASSIGNABLE_ROLES)), required=True)
    @click.option("--office", default="", help="Office code (none for applicants and agencies).")
    @click.option("--mobile", default="")
    @click.option("--email", default="")
    @click.option("--agency", default="", help="Agency code, for agency accounts.")
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, envvar="NEW_USER_PASSWORD")
    @pin_option
    def add_user(admin_username: str, username: str, full_name: str, role: str, office: str, mobile: str,
                 email: str, agency: str, password: str, pin: str) -> None:
        """Add a person; they choose their signing PIN when they first sign in."""
        data = {"username": username, "full_name": full_name, "role": role, "office": office, "mobile": mobile,
                "email": email, "agency": agency, "password": password}
        _run_change(lambda: admin.add_user(db.session, _user(admin_username), data=data, pin=pin),
                    f"user {username} added")

    @admin_group.command("assign-role")
    @as_option
    @click.argument("username")
    @click.option("--role", type=click.Choice(list(admin.ASSIGNABLE_ROLES)), required=True)
    @click.option("--office", default="")
    @pin_option
    def assign_role(admin_username: str, username: str, role: str, office: str, pin: str) -> None:
        """Give a person another role and office."""
        target = _user(username)
        _run_change(lambda: admin.assign_role(db.session, _user(admin_username), user_id=target.id,
                                              data={"role": role, "office": office}, pin=pin),
                    f"{username} is now {role}")

    @admin_group.command("deactivate-user")
    @as_option
    @click.argument("username")
    @click.option("--reason", required=True)
    @pin_option
    def deactivate_user(admin_username: str, username: str, reason: str, pin: str) -> None:
        """Stop a person from signing in and acting."""
        target = _user(username)
        _run_change(lambda: admin.deactivate_user(db.session, _user(admin_username), user_id=target.id,
                                                  data={"reason": reason}, pin=pin),
                    f"{username} deactivated")
