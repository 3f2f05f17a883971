"""Who may see a case and who may act on a task: the jurisdiction rules in one place."""
from __future__ import annotations

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from workflows.models import Case, CaseTask, Office, User

__all__ = ["LANE_ROLES", "office_subtree_ids", "visible_cases", "can_view", "task_holder", "may_act"]

#: which role completes the user tasks of each BPMN lane
LANE_ROLES: dict[str, str] = {
    "applicant": "applicant",
    "county": "county_officer",
    "province": "province_officer",
}

#: roles that read every case and act on none
READ_ALL_ROLES = ("hq_auditor", "admin")


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
    if user.role in READ_ALL_ROLES:
        return query
    if user.role == "applicant":
        return query.where(Case.applicant_id == user.id)
    if user.office_id is None:
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
    """True when the user holds the role and office (or is the person) this task waits on."""
    if not user.active or LANE_ROLES.get(task.lane) != user.role:
        return False
    if task.assignee_id is not None:
        return task.assignee_id == user.id
    return task.office_id is not None and task.office_id == user.office_id
