"""Moving running cases to a newer version of their procedure, in bulk, by an administrator.

A case can move when everything it waits on now (its ready user tasks, the events, timers and
event-based gateways it waits for) is in the target version under the same BPMN id and as the same
kind of element (``engine.Instance.move_obstacles``, on SpiffWorkflow's own spec diff), and the
target's manifest gives the place it lands a status it declares. ``plan_moves`` says, case by case,
where each would land or why it cannot move; ``move_cases`` moves the movable ones, each in a
``Transition`` of its own with a record ``migrate_version`` signed by the administrator. Timers keep
their due times. Nothing here commits.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

import engine
from forms import t
from workflows import access, procedures, working_time
from workflows.errors import Forbidden, InvalidInput, NotFound, StalePlan
from workflows.keys import unlock_signer
from workflows.models import Case, ProcessDefinition, User
from workflows.procedures import spec_of
from workflows.transitions import Transition, status_in

__all__ = ["MIGRATE_ACTION", "REASONS", "CaseMove", "MoveReport", "plan_moves", "move_cases", "target_version"]

#: the action of the record a moved case gets
MIGRATE_ACTION = "migrate_version"

#: the codes of the reasons a case cannot move; each has its Persian text ``moves.reason.<code>``
#: in the catalogue (``forms.messages``)
REASONS = ("removed", "kind_changed", "subprocess", "status_undefined", "state_unreadable")


def _reason(code: str, element: str = "") -> str:
    return t(f"moves.reason.{code}", element=element)


@dataclass(frozen=True)
class CaseMove:
    """Where one case would land on the target version, or why it cannot move."""

    case_id: int
    from_version: str
    to_version: str
    #: the case's lock version when it was judged: a move that names it refuses a case changed since
    lock_version: int | None = None
    #: machine code of the reason it cannot move (see ``REASONS``); None when it can
    code: str | None = None
    #: the reason in words for people (Persian); None when it can move
    reason: str | None = None
    #: the status it has on the target version
    status: str | None = None
    #: the BPMN ids of the user tasks that wait on it there
    waiting: tuple[str, ...] = ()

    @property
    def movable(self) -> bool:
        return self.code is None


@dataclass(frozen=True)
class MoveReport:
    process_key: str
    to_version: str
    moves: tuple[CaseMove, ...]
    #: True once the movable cases were moved (``move_cases``); False for a dry run
    done: bool = False

    @property
    def moved(self) -> tuple[CaseMove, ...]:
        return tuple(m for m in self.moves if m.movable)

    @property
    def stuck(self) -> tuple[CaseMove, ...]:
        return tuple(m for m in self.moves if not m.movable)


def target_version(session: Session, process_key: str, to_version: str | None = None) -> ProcessDefinition:
    """The version to move to: the one named (it must be a version of the procedure), else the newest."""
    query = select(ProcessDefinition).where(ProcessDefinition.process_key == process_key)
    if to_version is not None:
        definition = session.scalars(query.where(ProcessDefinition.version == to_version)).first()
    else:
        definition = session.scalars(query.order_by(ProcessDefinition.deployed_at.desc()).limit(1)).first()
    if definition is None:
        raise NotFound(f"no version {to_version or ''} of procedure {process_key!r} is deployed".replace("  ", " "))
    return definition


def _running(session: Session, process_key: str, to_version: str, case_ids: Iterable[int] | None) -> list[Case]:
    query = (select(Case).where(Case.process_key == process_key, Case.outcome.is_(None),
                                Case.spec_version != to_version).order_by(Case.id))
    if case_ids is not None:
        query = query.where(Case.id.in_(list(case_ids)))
    return list(session.scalars(query))


def _judge(session: Session, case: Case, instance: engine.Instance, target: engine.ProcessSpec,
           procedure: procedures.Procedure) -> tuple[CaseMove, engine.Instance | None]:
    """The case's move and, when it can move, its instance on the target version."""
    base = dict(case_id=case.id, from_version=case.spec_version, to_version=target.version,
                lock_version=case.lock_version)

    def refused(code: str, element: str = "") -> tuple[CaseMove, None]:
        return CaseMove(**base, code=code, reason=_reason(code, element)), None

    obstacles = instance.move_obstacles(target)
    if obstacles:
        first = obstacles[0]
        title = target.user_tasks.get(first.element) or instance.spec.user_tasks.get(first.element)
        return refused(first.code, title.title if title else first.element)
    try:
        with engine.working_calendar(working_time.calendar_for(session, case.county_office)):
            moved = instance.moved_to(target)
    except engine.EngineError:
        return refused("state_unreadable")
    try:
        status = status_in(procedure, moved, case.status)
    except KeyError as missing:
        return refused("status_undefined", str(missing.args[0]))
    if status not in procedure.statuses:
        return refused("status_undefined", status)
    return CaseMove(**base, status=status, waiting=tuple(t.name for t in moved.ready_user_tasks())), moved


def plan_moves(session: Session, process_key: str, to_version: str | None = None,
               case_ids: Iterable[int] | None = None) -> MoveReport:
    """For every running case (no outcome yet) of the procedure on another version than the target
    (the newest when not named), where it would land or why it cannot move. Changes nothing."""
    definition = target_version(session, process_key, to_version)
    target, procedure = spec_of(definition), procedures.of_version(session, definition.version)
    moves = []
    for case in _running(session, process_key, definition.version, case_ids):
        try:
            instance = engine.Instance.load(procedures.spec_of_case(session, case), case.state)
        except engine.EngineError:
            moves.append(CaseMove(case.id, case.spec_version, definition.version, case.lock_version,
                                  code="state_unreadable", reason=_reason("state_unreadable")))
            continue
        moves.append(_judge(session, case, instance, target, procedure)[0])
    return MoveReport(process_key, definition.version, tuple(moves))


def _stale(cases: Iterable[Case], seen: Mapping[int, int]) -> list[int]:
    """The cases of ``seen`` that are no longer running on another version or changed since."""
    now_at = {case.id: case.lock_version for case in cases}
    return sorted(case_id for case_id, lock_version in seen.items() if now_at.get(case_id) != lock_version)


def move_cases(session: Session, admin: User, pin: str, process_key: str, to_version: str | None = None,
               case_ids: Iterable[int] | None = None, *, now: datetime,
               seen: Mapping[int, int] | None = None) -> MoveReport:
    """Move every movable running case of the procedure (or of those named) to the target version.

    Each case moves in a ``Transition`` of its own, judged again under its lock: its state is
    re-serialized against the target's spec, its ``spec_version`` set to the target, and a record
    ``migrate_version`` with details ``{"from": old, "to": new}`` signed by the administrator. A case
    that cannot move is left as it was and listed with its reason. Administrators only (Forbidden).

    ``seen`` holds the lock version of each case as the plan the administrator read judged it
    (``CaseMove.lock_version``): when one of them changed since, finished or moved, the whole move is
    refused (StalePlan, naming them), before anything is signed and again under each case's lock.
    """
    if not access.has_capability(admin, "administer"):
        raise Forbidden("administrators only")
    if case_ids is not None:
        case_ids = list(case_ids)
        if not case_ids:
            raise InvalidInput({"case": ["no case named"]})
    definition = target_version(session, process_key, to_version)
    running = _running(session, process_key, definition.version, case_ids)
    if seen is not None and (stale := _stale(running, seen)):
        raise StalePlan(stale)
    signer = unlock_signer(session, admin, pin)
    target, procedure = spec_of(definition), procedures.of_version(session, definition.version)
    moves = []
    for case in running:
        change = Transition.begin(session, case, now)
        if seen is not None and change.case.id in seen and change.case.lock_version != seen[change.case.id]:
            raise StalePlan([change.case.id])  # changed between the check and its lock: the caller rolls back
        old = change.case.spec_version
        move, moved = _judge(session, change.case, change.instance, target, procedure)
        moves.append(move)
        if moved is None:
            continue
        change.case.spec_version = definition.version
        change.spec, change.instance, change.procedure = target, moved, procedure
        change.sign(signer, admin, action=MIGRATE_ACTION, details={"from": old, "to": definition.version})
        change.finish()  # the engine did not move: nothing for the reactions to answer
    return MoveReport(process_key, definition.version, tuple(moves), done=True)
