"""Inboxes: the tasks an office (or an applicant) can act on, claims, and where a case stands.

Queries only; claims change task rows (never the signed chain: claiming is not a transition).
Like every operation here they flush and leave the commit to the caller.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

import forms
from workflows import access, procedures
from workflows.errors import Conflict, Forbidden, InvalidInput
from workflows.models import Case, CaseTask, Center, Inquiry, License, ManagerTerm, Office, User, tehran_today, utcnow

__all__ = ["QUEUES", "SORTS", "TaskFilters", "Page", "search_tasks", "queue_counts", "claim", "release",
           "reassign", "colleagues", "CaseProgress", "case_progress", "MAX_PER_PAGE"]

#: open: what the user can act on now (unclaimed, or claimed by them); mine: claimed by them;
#: unclaimed: nobody took it yet; office: every task of the office, colleagues' claims included
QUEUES = ("open", "mine", "unclaimed", "office")
#: deadline: soonest deadline first (tasks without one last); oldest / newest: by arrival
SORTS = ("deadline", "oldest", "newest")
MAX_PER_PAGE = 100
T = TypeVar("T")


@dataclass(frozen=True)
class TaskFilters:
    queue: str = "open"
    process_key: str | None = None
    #: the task's name in the BPMN (county_review, province_review …)
    step: str | None = None
    #: the case's county office
    county_id: int | None = None
    overdue: bool = False
    #: a national ID (the proposed or current manager), a center or mosque name, or a license number
    q: str = ""
    sort: str = "deadline"
    page: int = 1
    per_page: int = 25

    def __post_init__(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.queue not in QUEUES:
            errors["queue"] = [forms.t("errors.choice_invalid")]
        if self.sort not in SORTS:
            errors["sort"] = [forms.t("errors.choice_invalid")]
        if self.page < 1:
            errors["page"] = [forms.t("web.list.page_invalid")]
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            errors["per_page"] = [forms.t("web.list.per_page_invalid", max=forms.to_persian_digits(str(MAX_PER_PAGE)))]
        if errors:
            raise InvalidInput(errors)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _base(session: Session, user: User) -> tuple[Select | None, tuple[int, ...]]:
    """Tasks waiting on this user or their office, in the lanes of their role, and those of the colleagues
    they stand in for today (``access.substitutions``: their office's, and the ones waiting on them or
    claimed by them); None for nobody. Also the ids of those colleagues, whose claims count as the user's.

    Only task rows: the counts and a page in deadline order come from the index on
    (office, lane, assignee, deadline, arrival) without reading the cases; filters on the case join it.
    """
    query = select(CaseTask)
    if not user.active:
        return None, ()
    if user.role == "applicant":
        return query.where(CaseTask.assignee_id == user.id), ()
    own = _holds(user)
    standing_in = []
    for substitution in access.substitutions(session, day=tehran_today(utcnow()), substitute_id=user.id):
        absent = session.get(User, substitution.absent_id)
        held = _holds(absent) if absent is not None and absent.active else None
        if held is None:
            continue
        if substitution.process_keys:
            held = held & CaseTask.case_id.in_(select(Case.id).where(Case.process_key.in_(substitution.process_keys)))
        standing_in.append((absent.id, held))
    if own is None and not standing_in:
        return None, ()
    return query.where(or_(*([own] if own is not None else []), *(held for _, held in standing_in))), \
        tuple(absent_id for absent_id, _ in standing_in)


def _holds(user: User):
    """What makes a task this office person's: their office and lanes, and no applicant it waits on."""
    lanes = [lane for lane in access.lanes_of(user.role) if lane in access.OFFICE_LANES]
    if not lanes or user.office_id is None:
        return None
    return and_(CaseTask.office_id == user.office_id, CaseTask.lane.in_(lanes), CaseTask.assignee_id.is_(None))


def _queue(query: Select, user: User, queue: str, absent_ids: tuple[int, ...] = ()) -> Select:
    if user.role == "applicant" or queue == "office":
        return query
    mine = CaseTask.claimed_by_id.in_((user.id, *absent_ids))
    if queue == "mine":
        return query.where(mine)
    if queue == "unclaimed":
        return query.where(CaseTask.claimed_by_id.is_(None))
    return query.where(or_(CaseTask.claimed_by_id.is_(None), mine))


def _search(query: Select, text: str) -> Select:
    """National ID (proposed or current manager), center or mosque name, license number."""
    text = forms.normalize_text(text)[:100]
    if not text:
        return query
    numeric = forms.normalize_numeric(text)
    return query.where(or_(
        Case.title.contains(text, autoescape=True),
        Case.center_id.in_(select(Center.id).where(or_(Center.name.contains(text, autoescape=True),
                                                       Center.mosque_name.contains(text, autoescape=True)))),
        Case.id.in_(select(Inquiry.case_id).where(Inquiry.subject_national_id == numeric)),
        Case.center_id.in_(select(ManagerTerm.center_id).where(ManagerTerm.national_id == numeric)),
        Case.center_id.in_(select(License.center_id).where(License.number == text.replace(" ", ""))),
    ))


def search_tasks(session: Session, user: User, filters: TaskFilters, now: datetime) -> Page[CaseTask]:
    """One page of the user's inbox with the filters, and how many tasks each queue holds."""
    base, absent_ids = _base(session, user)
    if base is None:
        return Page([], 0, filters.page, filters.per_page, {queue: 0 for queue in QUEUES})
    counts = queue_counts(session, user, base, absent_ids)
    query = _queue(base, user, filters.queue, absent_ids)
    if filters.process_key or filters.county_id is not None or forms.normalize_text(filters.q)[:100]:
        query = query.join(Case, Case.id == CaseTask.case_id)
    if filters.process_key:
        query = query.where(Case.process_key == filters.process_key)
    if filters.step:
        query = query.where(CaseTask.name == filters.step)
    if filters.county_id is not None:
        query = query.where(Case.county_office_id == filters.county_id)
    if filters.overdue:
        query = query.where(CaseTask.due_at.is_not(None), CaseTask.due_at < now)
    query = _search(query, filters.q)
    total = session.scalar(select(func.count()).select_from(query.with_only_columns(CaseTask.id).subquery()))
    if filters.sort == "deadline":
        # no deadline last: the index's own order on both databases
        order = (CaseTask.due_at.asc().nulls_last(), CaseTask.created_at, CaseTask.id)
    elif filters.sort == "oldest":
        order = (CaseTask.created_at, CaseTask.id)
    else:
        order = (CaseTask.created_at.desc(), CaseTask.id.desc())
    items = list(session.scalars(query.order_by(*order).limit(filters.per_page)
                                 .offset((filters.page - 1) * filters.per_page)
                                 .options(selectinload(CaseTask.case).defer(Case.state),  # the engine state is not listed
                                          selectinload(CaseTask.claimed_by))))
    return Page(items, total, filters.page, filters.per_page, counts)


def queue_counts(session: Session, user: User, base: Select | None = None,
                 absent_ids: tuple[int, ...] = ()) -> dict[str, int]:
    """How many tasks each queue of the user holds (one query)."""
    if base is None:
        base, absent_ids = _base(session, user)
    if base is None:
        return {queue: 0 for queue in QUEUES}
    if user.role == "applicant":
        total = session.scalar(select(func.count()).select_from(base.with_only_columns(CaseTask.id).subquery()))
        return {queue: total for queue in QUEUES}
    claimed = CaseTask.claimed_by_id
    row = session.execute(base.with_only_columns(
        func.count(CaseTask.id),
        func.count(CaseTask.id).filter(claimed.in_((user.id, *absent_ids))),
        func.count(CaseTask.id).filter(claimed.is_(None)),
    )).one()
    office, mine, unclaimed = (int(n or 0) for n in row)
    return {"open": mine + unclaimed, "mine": mine, "unclaimed": unclaimed, "office": office}


# --- claims ------------------------------------------------------------------------------

def _member(user: User, task: CaseTask) -> bool:
    """True when the user works in the office the task waits on, in a role of its lane."""
    return (user.active and task.assignee_id is None and task.office_id is not None
            and task.office_id == user.office_id and user.role in access.LANE_ROLES.get(task.lane, ()))


def claim(session: Session, task: CaseTask, user: User, now: datetime) -> CaseTask:
    """Take an office task: until released, only this person may complete it. A substitute takes their absent
    colleague's tasks, claimed by that colleague or by nobody."""
    standing_in = None if _member(user, task) else access.acting_for(user, task)
    if not _member(user, task) and standing_in is None:
        raise Forbidden("not a task of your office")
    takeable = (user.id,) if standing_in is None else (user.id, standing_in[0].id)
    result = session.execute(update(CaseTask).where(
        CaseTask.id == task.id, or_(CaseTask.claimed_by_id.is_(None), CaseTask.claimed_by_id.in_(takeable)))
        .values(claimed_by_id=user.id, claimed_at=now).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise Conflict("claimed by someone else")
    session.refresh(task)
    return task


def release(session: Session, task: CaseTask, user: User) -> CaseTask:
    """Give a claimed task back to the office queue (its claimant, or a head of the office)."""
    if not _member(user, task):
        raise Forbidden("not a task of your office")
    if task.claimed_by_id is None:
        return task
    if task.claimed_by_id != user.id and not access.has_capability(user, "reassign"):
        raise Forbidden("claimed by someone else")
    task.claimed_by_id, task.claimed_at = None, None
    session.flush()
    return task


def reassign(session: Session, task: CaseTask, user: User, to_user_id: object, now: datetime) -> CaseTask:
    """Hand a task to another person of the same office (the claimant, or a head of the office)."""
    if not _member(user, task):
        raise Forbidden("not a task of your office")
    if task.claimed_by_id not in (None, user.id) and not access.has_capability(user, "reassign"):
        raise Forbidden("claimed by someone else")
    target = session.get(User, to_user_id) if isinstance(to_user_id, int) and not isinstance(to_user_id, bool) else None
    if target is None or not _member(target, task):
        raise InvalidInput({"user_id": [forms.t("web.inbox.reassign_invalid")]})
    task.claimed_by_id, task.claimed_at = target.id, now
    session.flush()
    return task


def colleagues(session: Session, task: CaseTask) -> list[User]:
    """The people a task may be handed to."""
    if task.office_id is None:
        return []
    return access.office_people(session, task.office_id, task.lane)


# --- where a case stands --------------------------------------------------------------------

@dataclass(frozen=True)
class CaseProgress:
    case: Case
    #: step N of M on the procedure's main path (a finished case is at M of M)
    step: int
    steps: int
    #: the step the case is at (its manifest's words), None once finished
    step_name: str | None
    #: who holds the case now: "you", "office" (see office), "agencies", or None when finished
    holder: str | None
    office: Office | None
    deadline: datetime | None
    #: what the applicant must do next (Persian)
    next_text: str
    #: the applicant's own waiting task, if any
    task: CaseTask | None


def case_progress(session: Session, case: Case, user: User) -> CaseProgress:
    """Where an applicant's case is: step N of M, who holds it, its deadline, what to do next."""
    procedure = procedures.of_version(session, case.spec_version)
    step, steps, at = procedure.step_of(case.status)
    mine = next((task for task in case.tasks if task.assignee_id == user.id), None)
    office_task = next((task for task in case.tasks if task.office_id is not None), None)
    office = session.get(Office, office_task.office_id) if office_task else None
    finished = at is None
    told = (procedure.statuses.get(case.status) or procedures.Status("")).next
    sender = None if finished or mine else procedure.waiting_sender(sorted(
        name for name, meaning in procedure.messages.items() if meaning.status == case.status))
    if finished:
        holder, next_text = None, told or forms.t("web.next.done")
    elif mine is not None:
        holder, next_text = "you", told or forms.t("web.next.fill")
    elif sender == "successor":
        holder, next_text = "you", told or forms.t("web.next.propose_successor")
        office = case.county_office
    elif sender == "inquiries":
        holder, next_text = "agencies", told or forms.t("web.next.wait_inquiries")
    else:
        holder, next_text = "office", told or forms.t("web.next.wait_office")
    deadline = None if finished else (office_task.due_at if office_task and office_task.due_at else case.wake_at)
    return CaseProgress(case, step, steps, at.label if at else None, holder, office, deadline, next_text, mine)
