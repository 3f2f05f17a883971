"""Who may see a case and who may act on a task: the jurisdiction rules in one place.

Which roles complete the user tasks of each BPMN lane, which office kind each role works in
and what else it may do (read everything, monitor, audit, administer, reassign tasks) is data:
``workflows/data/roles.json``. ``models.ROLES`` (the database CHECK constraint) lists the same
role names; a test keeps the two in step.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, object_session

from workflows import chain
from workflows.models import Case, CaseTask, Office, User, tehran_today, utcnow

#: the admin-log action that names a substitute for an absent colleague (workflows.absences)
SUBSTITUTE_ACTION = "name_substitute"

__all__ = [
    "ROLES_FILE", "RoleDef", "ROLE_DEFS", "LANE_ROLES", "READ_ALL_ROLES", "OFFICE_LANES", "load_roles",
    "office_subtree_ids", "visible_cases", "can_view", "task_holder", "may_act", "lanes_of", "has_capability",
    "is_office_role", "may_start", "office_people", "office_person", "may_act_itself", "acting_for", "Substitution", "substitutions",
    "SUBSTITUTE_ACTION",
]

#: the roles file shipped with the project
ROLES_FILE = Path(__file__).resolve().parent / "data" / "roles.json"
#: what a role may do beyond acting in its lanes
CAPABILITIES = ("read_all", "monitor", "audit", "administer", "reassign")
#: lanes whose tasks wait on an office (not on one person)
OFFICE_LANES = ("county", "province")


@dataclass(frozen=True)
class RoleDef:
    name: str
    #: the kind of office a person of this role works in (None: no office)
    office_kind: str | None
    #: BPMN lanes whose user tasks this role completes
    lanes: tuple[str, ...]
    capabilities: frozenset[str]


def load_roles(path: Path = ROLES_FILE) -> tuple[dict[str, RoleDef], dict[str, tuple[str, ...]]]:
    """Read and check the roles file: (role definitions by name, roles by lane)."""
    data = json.loads(path.read_text("utf-8"))
    lanes = {lane: tuple(roles) for lane, roles in data["lanes"].items()}
    defs = {}
    for name, spec in data["roles"].items():
        unknown = set(spec.get("capabilities", [])) - set(CAPABILITIES)
        if unknown:
            raise ValueError(f"role {name}: unknown capabilities {sorted(unknown)}")
        if spec.get("office_kind") not in (None, "hq", "province", "county"):
            raise ValueError(f"role {name}: unknown office kind {spec.get('office_kind')!r}")
        defs[name] = RoleDef(name, spec.get("office_kind"),
                             tuple(lane for lane, roles in lanes.items() if name in roles),
                             frozenset(spec.get("capabilities", [])))
    for lane, roles in lanes.items():
        missing = set(roles) - set(defs)
        if missing:
            raise ValueError(f"lane {lane}: undefined roles {sorted(missing)}")
    return defs, lanes


ROLE_DEFS, LANE_ROLES = load_roles()

#: roles that read every case and act on none
READ_ALL_ROLES = tuple(name for name, role in ROLE_DEFS.items() if "read_all" in role.capabilities)


def lanes_of(role: str) -> tuple[str, ...]:
    """The BPMN lanes a role completes tasks in."""
    role_def = ROLE_DEFS.get(role)
    return role_def.lanes if role_def else ()


def has_capability(user: User, capability: str) -> bool:
    """True when the user's role has this capability (and the user is active)."""
    role_def = ROLE_DEFS.get(user.role)
    return bool(user.active and role_def and capability in role_def.capabilities)


def is_office_role(role: str) -> bool:
    """True for the roles that act for a county or province office."""
    return any(lane in OFFICE_LANES for lane in lanes_of(role))


def may_start(user: User, starters: tuple[str, ...]) -> bool:
    """True when one of the user's lanes may start a procedure (``Procedure.starters`` are lanes)."""
    return user.active and any(lane in starters for lane in lanes_of(user.role))


def office_subtree_ids(session: Session, office_id: int) -> list[int]:
    """The office and every office below it."""
    ids, frontier = [office_id], [office_id]
    while frontier:
        frontier = list(session.scalars(select(Office.id).where(Office.parent_id.in_(frontier))))
        ids.extend(frontier)
    return ids


def _reach(user: User) -> str:
    """How far a person sees cases, the one statement of the jurisdiction rule: "all" of them, their
    "own" (an applicant's), their office's and those of the offices below it ("offices"), or "none"."""
    if not user.active:
        return "none"
    if user.role in READ_ALL_ROLES:
        return "all"
    if user.role == "applicant":
        return "own"
    return "offices" if user.office_id is not None and is_office_role(user.role) else "none"


def visible_cases(session: Session, user: User) -> Select:
    """A query for the cases this user may see."""
    query, reach = select(Case), _reach(user)
    if reach == "all":
        return query
    if reach == "own":
        return query.where(Case.applicant_id == user.id)
    if reach == "none":
        return query.where(False)
    subtree = office_subtree_ids(session, user.office_id)
    return query.where(or_(Case.county_office_id.in_(subtree),
                           Case.tasks.any(CaseTask.office_id.in_(subtree))))


def can_view(session: Session, user: User, case: Case) -> bool:
    """True when the case is in the user's jurisdiction (``visible_cases``), answered without a query for
    headquarters, the applicant's own case and a case of the person's own office."""
    reach = _reach(user)
    if reach in ("all", "none"):
        return reach == "all"
    if reach == "own":
        return case.applicant_id == user.id
    if case.county_office_id is not None and case.county_office_id == user.office_id:
        return True
    return session.scalar(visible_cases(session, user).where(Case.id == case.id).with_only_columns(Case.id)) is not None


def task_holder(case: Case, lane: str) -> tuple[int | None, int | None]:
    """(office_id, assignee_id) of the party that acts in this lane of this case."""
    if lane == "applicant":
        return None, case.applicant_id
    county = case.county_office
    if lane == "county":
        return (county.id if county else None), None
    if lane == "province":
        return (county.parent_id if county else None), None
    raise ValueError(f"unknown lane {lane!r}")


def may_act(user: User, task: CaseTask) -> bool:
    """True when the user may complete the task today: in their own right (``may_act_itself``) or standing
    in for an absent colleague who may (``acting_for``)."""
    return may_act_itself(user, task) or acting_for(user, task) is not None


def acting_for(user: User, task: CaseTask, day: date | None = None) -> tuple[User, Substitution] | None:
    """The absent person this user stands in for on this task on ``day`` (Tehran's today by default), with
    the substitution that says so: it is in force, names them for the task's procedure, and that person may
    act on the task in their own right (their lane and office, the person it waits on, their claim)."""
    session = object_session(user)
    if session is None or not user.active or not is_office_role(user.role):
        return None
    day = day or tehran_today(utcnow())
    for substitution in substitutions(session, day=day, substitute_id=user.id):
        if substitution.process_keys and task.case.process_key not in substitution.process_keys:
            continue
        absent = session.get(User, substitution.absent_id)
        if absent is not None and may_act_itself(absent, task):
            return absent, substitution
    return None


@dataclass(frozen=True)
class Substitution:
    """A substitute named by an office head for an absent colleague, as its signed record says."""

    seq: int
    absent_id: int
    substitute_id: int
    first_day: date
    last_day: date
    #: the procedures it covers (empty: every procedure)
    process_keys: tuple[str, ...]
    named_by: int


def substitutions(session: Session, *, day: date | None = None, substitute_id: int | None = None,
                  absent_id: int | None = None) -> list[Substitution]:
    """The substitutions of the admin log (``name_substitute`` records, read from what they signed), in
    force on ``day`` and for the people given when given."""
    found = []
    for row in chain.signed_details(session, SUBSTITUTE_ACTION, "substitution"):
        signed = row.details
        substitution = Substitution(row.seq, signed["absent_id"], signed["substitute_id"],
                                    date.fromisoformat(signed["first_day"]), date.fromisoformat(signed["last_day"]),
                                    tuple(signed["process_keys"]), row.actor_id)
        if day is not None and not substitution.first_day <= day <= substitution.last_day:
            continue
        if substitute_id is not None and substitution.substitute_id != substitute_id:
            continue
        if absent_id is not None and substitution.absent_id != absent_id:
            continue
        found.append(substitution)
    return found


def may_act_itself(user: User, task: CaseTask) -> bool:
    """True when the user holds a role of the task's lane and its office (or is the person it waits
    on), and nobody else has claimed it."""
    if not user.active or user.role not in LANE_ROLES.get(task.lane, ()):
        return False
    if task.claimed_by_id is not None and task.claimed_by_id != user.id:
        return False
    if task.assignee_id is not None:
        return task.assignee_id == user.id
    return task.office_id is not None and task.office_id == user.office_id


def office_person(session: Session, office_id: int, lane: str, username: str) -> User | None:
    """The active person with this username who completes tasks of this lane in this office, if any."""
    return session.scalars(select(User).where(
        User.office_id == office_id, User.active, User.role.in_(LANE_ROLES.get(lane, ())),
        User.username == username)).first()


def office_people(session: Session, office_id: int, lane: str) -> list[User]:
    """The active people of an office who complete tasks of this lane there."""
    return list(session.scalars(select(User).where(
        User.office_id == office_id, User.active, User.role.in_(LANE_ROLES.get(lane, ()))).order_by(User.id)))
