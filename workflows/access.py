"""Who may see a case and who may act on a task: the jurisdiction rules in one place.

Which roles complete the user tasks of each BPMN lane, which office kind each role works in
and what else it may do (read everything, monitor, audit, administer, reassign tasks) is data:
``workflows/data/roles.json``. ``models.ROLES`` (the database CHECK constraint) lists the same
role names; a test keeps the two in step.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from workflows.models import Case, CaseTask, Office, User

__all__ = [
    "ROLES_FILE", "RoleDef", "ROLE_DEFS", "LANE_ROLES", "READ_ALL_ROLES", "OFFICE_LANES", "load_roles",
    "office_subtree_ids", "visible_cases", "can_view", "task_holder", "may_act", "lanes_of", "has_capability",
    "is_office_role", "may_start", "office_people",
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


def visible_cases(session: Session, user: User) -> Select:
    """A query for the cases this user may see."""
    query = select(Case)
    if not user.active:
        return query.where(False)
    if user.role in READ_ALL_ROLES:
        return query
    if user.role == "applicant":
        return query.where(Case.applicant_id == user.id)
    if user.office_id is None or not is_office_role(user.role):
        return query.where(False)
    subtree = office_subtree_ids(session, user.office_id)
    return query.where(or_(Case.county_office_id.in_(subtree),
                           Case.tasks.any(CaseTask.office_id.in_(subtree))))


def can_view(session: Session, user: User, case: Case) -> bool:
    """True when the case is in the user's jurisdiction."""
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
    """True when the user holds a role of the task's lane and its office (or is the person it waits
    on), and nobody else has claimed it."""
    if not user.active or user.role not in LANE_ROLES.get(task.lane, ()):
        return False
    if task.claimed_by_id is not None and task.claimed_by_id != user.id:
        return False
    if task.assignee_id is not None:
        return task.assignee_id == user.id
    return task.office_id is not None and task.office_id == user.office_id


def office_people(session: Session, office_id: int, lane: str) -> list[User]:
    """The active people of an office who complete tasks of this lane there."""
    return list(session.scalars(select(User).where(
        User.office_id == office_id, User.active, User.role.in_(LANE_ROLES.get(lane, ()))).order_by(User.id)))
