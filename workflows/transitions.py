"""The machinery every transition shares: lock, load, sign a record, settle the engine, save.

A transition is one database transaction: the caller commits after the operation returns,
or rolls everything back. Nothing here commits.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import engine
from signing import Signer, canonical_bytes
from workflows import access, chain, facts, inquiries, notifications, procedures, registry
from workflows.errors import NotFound, ProcessFailed
from workflows.models import (
    Case, CaseCount, CaseDayCount, CaseTask, ProcessDefinition, Record, RecordTiming, User,
    tehran_today,
)
from workflows.procedures import spec_of

__all__ = ["lock", "load", "status_after", "append_record", "settle", "save", "latest_application",
           "engine_step"]

#: engine errors that say the caller asked for something the case cannot do now (handled where raised)
_CALLER_ERRORS = (engine.TaskNotFound, engine.TaskNotReady, engine.LaneMismatch, engine.MessageNotAwaited)


@contextmanager
def engine_step() -> Iterator[None]:
    """Run one engine step; the process definition failing (an expression, a bound) is ProcessFailed.

    The instance that failed is unusable and the caller rolls back: the case keeps its last state.
    """
    try:
        yield
    except _CALLER_ERRORS:
        raise
    except engine.EngineError as error:
        raise ProcessFailed(str(error)) from error


def lock(session: Session, case: Case) -> Case:
    """Re-read the case row under a row lock (SELECT … FOR UPDATE; a no-op on SQLite)."""
    case = session.scalars(select(Case).where(Case.id == case.id).with_for_update()
                           .execution_options(populate_existing=True)).one()
    setattr(case, _COUNTED, _count_key(case))  # what the case counts under in case_counts, as stored
    return case


def load(session: Session, case: Case) -> tuple[engine.ProcessSpec, engine.Instance]:
    """The case's spec (the version it started on) and its running instance."""
    spec = spec_of(session.get(ProcessDefinition, case.spec_version))
    return spec, engine.Instance.load(spec, case.state)


def status_after(session: Session, case: Case, instance: engine.Instance) -> tuple[str, str | None]:
    """The status the case has, and the end event it reached, once the engine is where ``instance`` is
    (the meanings are the manifest's of the case's version: ``workflows.procedures``)."""
    procedure = procedures.of_version(session, case.spec_version)
    if instance.is_completed():
        outcome = instance.end_event()
        return procedure.ends[outcome].status, outcome
    awaited = [procedure.messages[m].status for m in instance.awaited_messages() if m in procedure.messages]
    if awaited:
        return awaited[0], None
    waiting = instance.ready_user_tasks()
    return (procedure.tasks[waiting[0].name].status if waiting else case.status), None


def append_record(session: Session, case: Case, signer: Signer, actor: User, now: datetime, *,
                  instance: engine.Instance, action: str, task_id: str | None = None,
                  task_name: str | None = None, form_key: str | None = None, form_data: dict | None = None,
                  rule_results: dict | None = None, details: dict | None = None) -> Record:
    """Sign the next record of the case's chain (``chain.append``: the key checked, the record a log
    leaf) and add it and its timing row to the session.

    ``instance`` is the engine after the transition moved it: the record signs the case facts it
    leaves behind (``facts.case_facts``: status, end event, center, county), so that what pages and
    certificates show of the case is checked against the chain's head.
    """
    last = session.scalars(select(Record).where(Record.case_id == case.id)
                           .order_by(Record.seq.desc()).limit(1)).first()
    documents = (form_data or {}).get("documents") or {}
    status, outcome = status_after(session, case, instance)
    details = {**(details or {}), "case": facts.case_facts(case, status, outcome)}
    record = chain.append(
        session, last=last, chain_id=case.public_id, process_key=case.process_key, spec_version=case.spec_version,
        action=action, actor=actor, signer=signer, now=now, task_id=task_id, task_name=task_name,
        form_key=form_key, form_data=form_data, attachments=documents.values(), rule_results=rule_results,
        details=details,
        row=lambda signed: Record(
            case_id=case.id, seq=signed.body["seq"], action=action, task_name=task_name, actor_user_id=actor.id,
            created_at=now, canonical=signed.canonical, hash=signed.hash, signature=signed.signature,
            key_id=signed.key_id,
            form_data=canonical_bytes(form_data).decode("utf-8") if form_data is not None else None))
    since = last.created_at if last else case.created_at
    session.add(RecordTiming(record_id=record.id, case_id=case.id, process_key=case.process_key,
                             county_office_id=case.county_office_id, task_name=task_name, action=action,
                             created_at=now, seconds=(now - since).total_seconds()))
    return record


def latest_application(session: Session, case: Case) -> dict:
    """The most recent signed application form (founding or manager change) of a case."""
    rows = session.scalars(select(Record).where(Record.case_id == case.id, Record.action.in_(("submit", "resubmit")))
                           .order_by(Record.seq.desc()).limit(1)).first()
    if rows is None or rows.form_data is None:
        raise NotFound("the case has no application")
    return json.loads(rows.form_data)


def settle(session: Session, case: Case, spec: engine.ProcessSpec, instance: engine.Instance,
           signer: Signer, actor: User, now: datetime) -> list[Record]:
    """After the engine moved: send the inquiries it now waits for, apply an outcome it reached."""
    records: list[Record] = []
    procedure = procedures.of_version(session, case.spec_version)
    if instance.is_completed():
        records += _apply_outcome(session, case, procedure, instance, signer, actor, now)
        return records
    for message in instance.awaited_messages():
        meaning = procedure.messages.get(message)
        if meaning and meaning.sent_by == "inquiries" and not inquiries.has_open_round(session, case):
            inquiries.open_round(session, case, spec, instance, message, latest_application(session, case), now)
    return records


def save(session: Session, case: Case, instance: engine.Instance, now: datetime, *, started: bool = False) -> None:
    """Store the state and rewrite what is derived from it: status, task rows, next wake-up, the
    dashboard's case counts.

    The case is either new (``cases.start_case``) or was re-read by ``lock`` in this transaction:
    that is how the counts know what the case counted under before. A case just ``started`` has
    no signed record yet and is a draft (``procedures.DRAFT``) whatever task it waits on.
    """
    case.state = instance.serialize()
    case.updated_at = now
    timers = instance.timers()
    case.wake_at = min((t.fire_at for t in timers), default=None)
    case.status, outcome = status_after(session, case, instance)
    if started:
        case.status = procedures.DRAFT
    if outcome is not None:
        case.outcome = outcome
    waiting = instance.ready_user_tasks()
    due = {t.attached_to: t.fire_at for t in timers if t.attached_to}
    previous = notifications.snapshot(case.tasks)
    case.tasks.clear()
    for user_task in waiting:
        office_id, assignee_id = access.task_holder(case, user_task.lane)
        kept = previous.get(user_task.id)  # a task still waiting keeps its arrival time and its claim
        case.tasks.append(CaseTask(task_id=user_task.id, name=user_task.name, title=user_task.title,
                                   lane=user_task.lane, form_key=user_task.form_key, office_id=office_id,
                                   assignee_id=assignee_id, due_at=due.get(user_task.name),
                                   created_at=kept.created_at if kept else now,
                                   claimed_by_id=kept.claimed_by_id if kept else None,
                                   claimed_at=kept.claimed_at if kept else None))
    session.flush()
    _recount(session, case)
    notifications.after_transition(session, case, previous, now)


#: the instance attribute holding the key a case is counted under (set by ``lock`` and ``save``)
_COUNTED = "_counted_as"


def _count_key(case: Case) -> tuple | None:
    """(county office, procedure, status, Tehran day of creation); None: not counted (no county yet)."""
    if case.county_office_id is None:
        return None
    return case.county_office_id, case.process_key, case.status, tehran_today(case.created_at)


def _recount(session: Session, case: Case) -> None:
    """Move the case from the count it was in to the one it is in now, in this transaction.

    One upsert per counter table (``INSERT … ON CONFLICT DO UPDATE SET cases = cases + excluded``),
    rows in key order so that two transactions lock counter rows in the same order.
    """
    before, after = getattr(case, _COUNTED, None), _count_key(case)
    if before == after:
        return
    deltas = sorted([(key, step) for key, step in ((before, -1), (after, 1)) if key is not None])
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for table, width in ((CaseCount.__table__, 3), (CaseDayCount.__table__, 4)):
        names = ["county_office_id", "process_key", "status", "created_on"][:width]
        rows = [{**dict(zip(names, key[:width])), "cases": step} for key, step in deltas]
        statement = insert(table).values(rows)
        session.execute(statement.on_conflict_do_update(
            index_elements=[table.c[name] for name in names],
            set_={"cases": table.c.cases + statement.excluded.cases}))
    setattr(case, _COUNTED, after)


def _apply_outcome(session: Session, case: Case, procedure: procedures.Procedure, instance: engine.Instance,
                   signer: Signer, actor: User, now: datetime) -> list[Record]:
    """What the end event reached writes to the registry (its manifest's ``effect``), each effect a signed
    record of the facts it wrote."""
    effect = procedure.ends[instance.end_event()].effect
    today = tehran_today(now)
    terms = instance.spec.tables["terms"]
    if effect == "issue_license":
        license_ = registry.issue_license(session, case, latest_application(session, case), now, terms)
        term = registry.current_manager(session, license_.center_id)
        return [append_record(session, case, signer, actor, now, instance=instance, action="issue_license",
                              details={"license_number": license_.number, "center_id": license_.center_id,
                                       **facts.founding_facts(license_.center, license_, term)})]
    if effect == "appoint_manager":
        linked = session.get(Case, case.linked_case_id) if case.linked_case_id else None
        reason = (procedures.of_version(session, linked.spec_version) if linked else procedure).term_end_reason
        manager = latest_application(session, case)["manager"]
        ended = registry.current_manager(session, case.center_id)
        term = registry.appoint_manager(session, case.center, case=case, national_id=manager["national_id"],
                                        full_name=f"{manager['first_name']} {manager['last_name']}",
                                        start=today, end_reason=reason, terms=terms,
                                        profile=registry.manager_profile(manager, today))
        records = [append_record(session, case, signer, actor, now, instance=instance, action="appoint_manager",
                                 details={"term_id": term.id, "national_id": term.national_id,
                                          "start_date": today.isoformat(), "previous_term_end": reason,
                                          **facts.appointment_facts(term, ended)})]
        if linked is not None:
            _confirm_successor(session, linked, case, signer, actor, now)
        return records
    if effect == "appoint_interim":
        data = instance.data()
        interim = (data.get("interim") or {}).get("interim") or (data.get("acknowledgement") or {}).get("interim")
        interim = interim or _interim_from_records(session, case)
        ended = registry.current_manager(session, case.center_id)
        term = registry.appoint_manager(session, case.center, case=case, national_id=interim["national_id"],
                                        full_name=interim["full_name"], start=today,
                                        end_reason=procedure.term_end_reason, terms=terms,
                                        interim=True)
        return [append_record(session, case, signer, actor, now, instance=instance, action="appoint_interim",
                              details={"term_id": term.id, "national_id": term.national_id,
                                       "start_date": today.isoformat(), **facts.appointment_facts(term, ended)})]
    return []


def _interim_from_records(session: Session, case: Case) -> dict:
    """The interim manager named in the latest signed acknowledgement or interim appointment."""
    for record in session.scalars(select(Record).where(Record.case_id == case.id, Record.form_data.is_not(None))
                                  .order_by(Record.seq.desc())):
        data = json.loads(record.form_data)
        if "interim" in data:
            return data["interim"]
    raise NotFound("no interim manager was named")


def _confirm_successor(session: Session, linked: Case, change: Case, signer: Signer, actor: User,
                       now: datetime) -> None:
    """Tell the case waiting for a successor (a retirement, a resignation) that one was appointed."""
    linked = lock(session, linked)
    spec, instance = load(session, linked)
    meanings = procedures.of_version(session, linked.spec_version).messages
    message = next((m for m in instance.awaited_messages() if m in meanings and meanings[m].sent_by == "successor"), None)
    if message is None:
        return  # it already ended another way (an interim was named); the term change stands
    with engine_step():
        instance.send_message(message, {"case_id": change.public_id})
    append_record(session, linked, signer, actor, now, instance=instance, action="successor_confirmed",
                  details={"manager_change_case": change.public_id})
    settle(session, linked, spec, instance, signer, actor, now)
    save(session, linked, instance, now)

