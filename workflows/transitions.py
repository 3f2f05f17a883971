"""The one way to change a case: a ``Transition``.

A transition locks the case's row and re-reads it, loads its engine, lets its caller move the
engine and sign what happened (every record through ``chain.append``, a leaf of the log), lets the
registered reactions answer where the engine now waits or ended (``on_waiting``: the inquiries
sent when the case waits for their answers; ``on_end``: what an end event writes to the registry),
then stores the state and what is derived from it (status, waiting tasks, wake-up time, the
dashboard's counts, the notifications) and flushes. It works inside the caller's transaction:
the request or command commits once, or rolls everything back. Nothing here commits.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

import engine
from signing import Signer, canonical_bytes, format_time
from workflows import access, chain, documents, facts, notifications, procedures, working_time
from workflows.errors import NotFound, ProcessFailed
from workflows.models import (
    Case, CaseCount, CaseDayCount, CaseTask, Office, Record, RecordTiming, User, insert_or_skip, tehran_today,
)
from workflows.procedures import spec_of_case

__all__ = ["Transition", "on_waiting", "on_end", "load", "status_after", "status_in", "latest_application",
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


def load(session: Session, case: Case) -> tuple[engine.ProcessSpec, engine.Instance]:
    """The case's spec (the version it started on) and its running instance."""
    spec = spec_of_case(session, case)
    return spec, engine.Instance.load(spec, case.state)


def status_after(session: Session, case: Case, instance: engine.Instance) -> tuple[str, str | None]:
    """The status the case has, and the end event it reached, once the engine is where ``instance`` is
    (the meanings are the manifest's of the case's version: ``workflows.procedures``)."""
    procedure = procedures.of_version(session, case.spec_version)
    if instance.is_completed():
        outcome = instance.end_event()
        return procedure.ends[outcome].status, outcome
    return status_in(procedure, instance, case.status), None


def status_in(procedure: procedures.Procedure, instance: engine.Instance, current: str) -> str:
    """The status a running instance has by the given manifest (``current`` when nothing there says one);
    KeyError when a task it waits on has no meaning there."""
    awaited = [procedure.messages[m].status for m in instance.awaited_messages() if m in procedure.messages]
    if awaited:
        return awaited[0]
    waiting = instance.ready_user_tasks()
    return procedure.tasks[waiting[0].name].status if waiting else current


def latest_application(session: Session, case: Case) -> dict:
    """The most recent signed application form (founding or manager change) of a case."""
    record = documents.application_record(session, case)
    if record is None:
        raise NotFound("the case has no application")
    return json.loads(record.form_data)


#: records that speak about a case without moving it (``workflows.notes``): no step's time ends with them
SIDE_ACTIONS = ("office_note", "applicant_message")
#: what answers a case that now waits for a message, by the message's sender (``messages.<m>.sent_by``)
_ON_WAITING: dict[str, Callable[["Transition", str], None]] = {}
#: what an end event's effect writes (``ends.<e>.effect``): it signs what it wrote with the given key
_ON_END: dict[str, Callable[["Transition", Signer, User], None]] = {}


def on_waiting(sender: str) -> Callable:
    """Register the reaction to a case that waits for a message this sender sends (one per sender)."""
    def register(reaction: Callable[["Transition", str], None]) -> Callable:
        _ON_WAITING[sender] = reaction
        return reaction
    return register


def on_end(effect: str) -> Callable:
    """Register what an end event with this effect writes to the registry (one per effect)."""
    def register(reaction: Callable[["Transition", Signer, User], None]) -> Callable:
        _ON_END[effect] = reaction
        return reaction
    return register


class Transition:
    """One change of one case, from its lock to its saved state (see the module's doc).

    ``begin`` locks and loads a case; the caller moves the engine inside ``engine()``, signs with
    ``sign`` and ends with ``finish``. ``new`` wraps a case just started. ``records`` are the
    records signed, in order; ``case`` is the case as re-read under the lock.
    """

    def __init__(self, session: Session, case: Case, spec: engine.ProcessSpec, instance: engine.Instance,
                 now: datetime, *, counted: tuple | None, started: bool = False) -> None:
        self.session, self.case, self.spec, self.instance, self.now = session, case, spec, instance, now
        self.procedure = procedures.of_version(session, case.spec_version)
        self.records: list[Record] = []
        #: what the case counted under in case_counts when it was read (None: nowhere)
        self._counted = counted
        self._started = started
        self._starter: User | None = None
        self._moved = False
        self._calendar: working_time.Calendar | None = None
        #: the timers already waiting, whose deadlines earlier records signed
        self._signed_waits = {(wait.task_id, wait.name) for wait in instance.timers()} if not started else set()

    @classmethod
    def begin(cls, session: Session, case: Case, now: datetime) -> Transition:
        """Lock the case's row (SELECT … FOR UPDATE; a no-op on SQLite), re-read it with its county, province
        and applicant, and load its engine."""
        case = session.scalars(select(Case).where(Case.id == case.id).with_for_update(of=Case)
                               .options(joinedload(Case.county_office).joinedload(Office.parent),
                                        joinedload(Case.applicant))
                               .execution_options(populate_existing=True)).one()
        spec, instance = load(session, case)
        return cls(session, case, spec, instance, now, counted=_count_key(case))

    @classmethod
    def new(cls, session: Session, case: Case, spec: engine.ProcessSpec, instance: engine.Instance,
            now: datetime, starter: User) -> Transition:
        """A case just added to the session (``cases.start_case``) by ``starter``: nothing signed or counted yet."""
        change = cls(session, case, spec, instance, now, counted=None, started=True)
        change._starter = starter
        return change

    @property
    def calendar(self) -> working_time.Calendar:
        """The working calendar of the case's county office (the country's while it has none)."""
        if self._calendar is None:
            self._calendar = working_time.calendar_for(self.session, self.case.county_office)
        return self._calendar

    @contextmanager
    def engine(self, *, react: bool = True) -> Iterator[engine.Instance]:
        """Move the engine (``engine_step``: the definition failing is ProcessFailed) at the transition's
        time, on the case's working calendar; reactions follow it (``react=False``: a change of the
        waits alone, such as a deadline counted again, that starts nothing new)."""
        with engine_step(), engine.clock(self.now), engine.working_calendar(self.calendar):
            yield self.instance
        self._moved = self._moved or react

    def sign(self, signer: Signer, actor: User, *, action: str, task_id: str | None = None,
             task_name: str | None = None, form_key: str | None = None, form_data: dict | None = None,
             rule_results: dict | None = None, details: dict | None = None) -> Record:
        """Sign the next record of the case's chain (``chain.append``: the key checked, the record a log
        leaf) with its timing row.

        The record signs the case facts the engine leaves behind as it is now (``facts.case_facts``:
        status, end event, center, county), so that what pages and certificates show of the case is
        checked against the chain's head: move the engine first, then sign.
        """
        session, case, now = self.session, self.case, self.now
        last = session.execute(select(Record.seq, Record.hash, Record.action, Record.created_at)  # not its text
                               .where(Record.case_id == case.id).order_by(Record.seq.desc()).limit(1)).first()
        documents = (form_data or {}).get("documents") or {}
        status, outcome = status_after(session, case, self.instance)
        details = {**(details or {}), "case": facts.case_facts(case, status, outcome), **self._new_deadlines()}
        record = chain.append(
            session, last=last, chain_id=case.public_id, process_key=case.process_key,
            spec_version=case.spec_version, action=action, actor=actor, signer=signer, now=now, task_id=task_id,
            task_name=task_name, form_key=form_key, form_data=form_data, attachments=documents.values(),
            rule_results=rule_results, details=details,
            row=lambda signed: Record(
                case_id=case.id, seq=signed.body["seq"], action=action, task_name=task_name, actor_user_id=actor.id,
                created_at=now, canonical=signed.canonical, hash=signed.hash, signature=signed.signature,
                key_id=signed.key_id,
                form_data=canonical_bytes(form_data).decode("utf-8") if form_data is not None else None))
        previous = last
        if last is not None and last.action in SIDE_ACTIONS:  # a note is no step: steps count from the last step
            previous = session.execute(select(Record.created_at).where(Record.case_id == case.id,
                                                                       Record.action.not_in(SIDE_ACTIONS))
                                       .order_by(Record.seq.desc()).limit(1)).first()
        since = previous.created_at if previous else case.created_at
        session.add(RecordTiming(record_id=record.id, case_id=case.id, process_key=case.process_key,
                                 county_office_id=case.county_office_id, task_name=task_name, action=action,
                                 created_at=now, seconds=(now - since).total_seconds(),
                                 working_days=self.calendar.working_days_between(since, now)))
        self.records.append(record)
        return record

    def _new_deadlines(self) -> dict:
        """The deadlines set since the last record: their due times, and the calendar that counted those in
        working days (signed with the record)."""
        new = [wait for wait in self.instance.timers() if (wait.task_id, wait.name) not in self._signed_waits]
        if not new:
            return {}
        self._signed_waits |= {(wait.task_id, wait.name) for wait in new}
        found: dict = {"deadlines": {wait.name: {"due": format_time(wait.fire_at), "working_days": wait.working_days}
                                     for wait in new}}
        if any(wait.working_days is not None for wait in new):
            found["calendar"] = {"office": self.case.county_office.code if self.case.county_office else None,
                                 "version": self.calendar.version}
        return found

    def finish(self, signer: Signer | None = None, actor: User | None = None) -> Transition:
        """When the engine moved, let the reactions answer where it now is (what they sign is signed with
        ``signer`` for ``actor``); then store the state and what is derived from it, and flush."""
        if self._moved and signer is not None:
            self._react(signer, actor)
        self._save()
        return self

    def _react(self, signer: Signer, actor: User) -> None:
        if self.instance.is_completed():
            effect = self.procedure.ends[self.instance.end_event()].effect
            if effect is not None:
                _reaction(_ON_END, effect)(self, signer, actor)
            return
        for message in self.instance.awaited_messages():
            meaning = self.procedure.messages.get(message)
            if meaning is not None:
                _reaction(_ON_WAITING, meaning.sent_by)(self, message)

    def _save(self) -> None:
        session, case, instance, now = self.session, self.case, self.instance, self.now
        told = notifications.unnotified(session, case, self.records)  # before the case's row is written
        case.state = instance.serialize()
        case.serializer_version = engine.SERIALIZER_VERSION  # a state loaded from an older format is saved in this one
        case.updated_at = now
        timers = instance.timers()
        case.wake_at = min((t.fire_at for t in timers), default=None)
        case.status, outcome = status_after(session, case, instance)
        if self._started:  # nothing is signed yet: a draft, whatever task it waits on
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
            if kept is not None:
                claimed_by_id, claimed_at = kept.claimed_by_id, kept.claimed_at
            else:
                holder = self._named_holder(user_task, office_id)
                claimed_by_id, claimed_at = (holder.id, now) if holder is not None else (None, None)
            case.tasks.append(CaseTask(task_id=user_task.id, name=user_task.name, title=user_task.title,
                                       lane=user_task.lane, form_key=user_task.form_key, office_id=office_id,
                                       assignee_id=assignee_id, due_at=due.get(user_task.name),
                                       created_at=kept.created_at if kept else now,
                                       claimed_by_id=claimed_by_id, claimed_at=claimed_at))
        session.flush()
        self._counted = _recount(session, self._counted, _count_key(case))
        notifications.after_transition(session, case, previous, now, told, self._starter)
        self._starter = None


    def _named_holder(self, user_task: engine.UserTask, office_id: int | None) -> User | None:
        """The person of the task's office the process data names as its holder (``tasks.<t>.holder``), if
        the manifest says where and that person still works there in a role of the task's lane."""
        meaning = self.procedure.tasks.get(user_task.name)
        if meaning is None or meaning.holder is None or office_id is None:
            return None
        value = self.instance.data()
        for part in meaning.holder.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, str):
            return None
        return access.office_person(self.session, office_id, user_task.lane, value)


def _reaction(registered: dict[str, Callable], name: str) -> Callable:
    try:
        return registered[name]
    except KeyError:
        raise LookupError(f"no reaction to {name!r} is registered (workflows.inquiries and workflows.outcomes "
                          "register them when imported)") from None


def _count_key(case: Case) -> tuple | None:
    """(county office, procedure, status, Tehran day of creation); None: not counted (no county yet)."""
    if case.county_office_id is None:
        return None
    return case.county_office_id, case.process_key, case.status, tehran_today(case.created_at)


def _recount(session: Session, before: tuple | None, after: tuple | None) -> tuple | None:
    """Move a case from the count it was in to the one it is in now, in this transaction; returns the latter.

    One upsert per counter table (``INSERT … ON CONFLICT DO UPDATE SET cases = cases + excluded``),
    rows in key order so that two transactions lock counter rows in the same order.
    """
    if before == after:
        return after
    deltas = sorted([(key, step) for key, step in ((before, -1), (after, 1)) if key is not None])
    for names, statement in _count_upserts(session):
        session.execute(statement, [{**dict(zip(names, key)), "cases": step} for key, step in deltas])
    return after


_COUNT_KEYS = ("county_office_id", "process_key", "status", "created_on")
#: the two counters' upserts, built once per database kind (building one costs more than running it)
_count_statements: dict[str, tuple] = {}


def _count_upserts(session: Session) -> tuple:
    dialect = session.get_bind().dialect.name
    found = _count_statements.get(dialect)
    if found is None:
        found = _count_statements.setdefault(dialect, tuple(
            (names, insert_or_skip(session, table, list(names),
                                   lambda table, excluded: {"cases": table.c.cases + excluded.cases}))
            for table, names in ((CaseCount.__table__, _COUNT_KEYS[:3]), (CaseDayCount.__table__, _COUNT_KEYS))))
    return found
