"""Notifications: who must be told after a transition, in the app and by SMS and email.

``after_transition`` is called once by ``transitions.Transition`` as it saves, for every transition. It looks at
the records signed since the case's last notification (``Case.notified_seq``) and at the tasks
that appeared, and makes:

- ``task``: a step waits on someone: the people of the office (roles of the lane) or the applicant;
- ``returned``: the case went back to the applicant for correction, with the reason;
- ``decision``: an approval or refusal at one level, told to the applicant;
- ``outcome``: the license issued, the manager or interim appointed, told to the applicant;
- ``overdue``: a deadline passed: the people who held the step (or the county office) and the applicant;
- ``message``: an office's message to the applicant.
- ``visit``: the county office scheduled a site visit (``schedule_visit``): its day and expert, told to the
  applicant so that the space is open and the prayer leader present;
- a step an office signs whose rule table found the case short (a failed site visit) is ``returned``
  to the applicant with the table's sentences as the reason.

A case an office starts for someone else tells the holder of its first step (a county office that
starts a renewal, the center's holder). ``workflows.terms`` adds, about a center rather than a case,
``term_reminder`` (a term's planned end is near), ``term_expired`` and ``interim_expired``; and
``workflows.timers`` ``due_soon`` (a task's deadline is a few working days away).

Each notification is one row per person (unique per person and event) and one outgoing
message per channel the person has (SMS to ``User.mobile``, email to ``User.email``) in the
outbox, unique per event and channel: running the same transition's notifications twice, or a
second sender process, never produces or sends a message twice. ``workflows.outbox`` sends.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, insert, select, update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

import forms
from workflows import access
from workflows.models import Base, Case, CaseNote, CaseTask, Record, User, UtcDateTime, insert_or_skip, utcnow
from workflows import documents, procedures
from workflows.procedures import DECISION_ACTIONS, OUTCOME_ACTIONS

__all__ = ["Notification", "OutboxMessage", "TaskSnapshot", "snapshot", "after_transition", "add_all", "render",
           "case_label", "task_holders",
           "unread_count", "user_notifications", "mark_read", "CHANNELS", "KINDS"]

CHANNELS = ("sms", "email")
KINDS = ("task", "returned", "decision", "outcome", "overdue", "message", "term_reminder", "term_expired",
         "interim_expired", "visit", "due_soon")
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed")


class Notification(Base):
    """An in-app notification for one person."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        CheckConstraint(f"kind IN {KINDS}", name="notification_kind"),
        Index("ix_notifications_user_read", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    #: the center it is about when it is about no case (a manager's term: ``workflows.terms``)
    center_id: Mapped[int | None] = mapped_column(ForeignKey("centers.id"))
    kind: Mapped[str] = mapped_column(String(16))
    #: the event it tells of, e.g. "<case public id>:record:7:decision"; unique per person
    key: Mapped[str] = mapped_column(String(120))
    #: JSON of the values the catalogue text takes (case label, step, reason …)
    params: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    case: Mapped[Case | None] = relationship()


class OutboxMessage(Base):
    """An SMS or email waiting to be sent, or sent: ``flask --app web send-outbox`` delivers them."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(f"channel IN {CHANNELS}", name="outbox_channel"),
        CheckConstraint(f"status IN {OUTBOX_STATUSES}", name="outbox_status"),
        Index("ix_outbox_messages_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "<user id>:<notification key>:<channel>": one message per person, event and channel
    key: Mapped[str] = mapped_column(String(160), unique=True)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"))
    channel: Mapped[str] = mapped_column(String(8))
    #: the mobile number or email address
    address: Mapped[str] = mapped_column(String(120))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    #: pending → sending (taken by one sender) → sent; or back to pending after a failure, until failed
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: the gateway's message id, when it gives one
    provider_id: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


@dataclass(frozen=True)
class TaskSnapshot:
    """A waiting task as it was before a transition rewrote the task rows."""

    task_id: str
    name: str
    title: str
    lane: str
    office_id: int | None
    assignee_id: int | None
    claimed_by_id: int | None
    claimed_at: datetime | None
    created_at: datetime


def snapshot(tasks: list[CaseTask]) -> dict[str, TaskSnapshot]:
    """The case's waiting tasks by engine task id, taken before they are rewritten."""
    return {task.task_id: TaskSnapshot(task.task_id, task.name, task.title, task.lane, task.office_id,
                                       task.assignee_id, task.claimed_by_id, task.claimed_at, task.created_at)
            for task in tasks}


def case_label(case: Case) -> str:
    return forms.to_persian_digits(f"{case.title or forms.t('web.cases.untitled')} #{case.id}")


def task_holders(session: Session, case: Case, task: CaseTask) -> list[User]:
    """The people a waiting task waits on now."""
    return _holders(session, case, task.lane, task.office_id, task.assignee_id, task.claimed_by_id)


def _holders(session: Session, case: Case, lane: str, office_id: int | None, assignee_id: int | None,
             claimed_by_id: int | None = None) -> list[User]:
    """The people a task waits on: its claimant, the person it is assigned to, or its office's people."""
    if claimed_by_id is not None:
        claimant = session.get(User, claimed_by_id)
        return [claimant] if claimant is not None and claimant.active else []
    if assignee_id is not None:
        person = session.get(User, assignee_id)
        return [person] if person is not None and person.active else []
    if office_id is None:
        return []
    return access.office_people(session, office_id, lane)


def unnotified(session: Session, case: Case, signed: list[Record]) -> list[Record]:
    """The case's records nobody has been told of yet, marked told (``case.notified_seq``): those this
    transition ``signed`` when they follow the last one told, read from the chain otherwise."""
    records = [record for record in signed if record.seq > case.notified_seq]
    if not records or records[0].seq != case.notified_seq + 1 or records[-1].seq != records[0].seq + len(records) - 1:
        records = list(session.scalars(select(Record).where(Record.case_id == case.id, Record.seq > case.notified_seq)
                                       .order_by(Record.seq)))
    if records:
        case.notified_seq = records[-1].seq
    return records


def after_transition(session: Session, case: Case, previous: dict[str, TaskSnapshot], now: datetime,
                     records: list[Record], starter: User | None = None) -> list[Notification]:
    """Notify the people concerned by what the case's new ``records`` (``unnotified``) and new tasks mean
    (see module doc); a case just started (``starter``) tells the holders of the first tasks its starter
    is not at: a county office that starts a renewal leaves the first step to the center's holder, a
    province that starts a suspension to the county office."""
    if not records and starter is None:
        return []
    actors = {record.actor_user_id for record in records} | ({starter.id} if starter is not None else set())
    applicant = session.get(User, case.applicant_id)
    procedure = procedures.of_version(session, case.spec_version)
    process = procedure.title
    base = {"case": case_label(case), "process": process}
    steps = {snap.name: snap.title for snap in previous.values()}
    planned: list[tuple[User | None, str, str, dict]] = []

    def notify(people: list[User], kind: str, key: str, **params: str) -> None:
        planned.extend((person, kind, key, {**base, **params}) for person in people)

    for record in records:
        body = json.loads(record.canonical)
        form_data = json.loads(record.form_data) if record.form_data else {}
        step = steps.get(record.task_name or "", forms.t("web.notify.this_step"))
        key = f"{case.public_id}:record:{record.seq}"
        if record.action == "return":
            notify([applicant], "returned", f"{key}:returned", step=step, reason=form_data.get("reason", ""),
                   rejected="، ".join(documents.rejected_labels(form_data.get(documents.REVIEW_FIELD),
                                                                _application_form(session, case, procedure))))
        elif record.action in DECISION_ACTIONS:
            notify([applicant], "decision", f"{key}:decision", step=step,
                   decision=forms.t(f"web.action.{record.action}"), reason=form_data.get("reason", ""))
        elif record.action in OUTCOME_ACTIONS:
            notify([applicant], "outcome", f"{key}:outcome", outcome=forms.t(f"web.action.{record.action}"),
                   license=forms.to_persian_digits(str(body["details"].get("license_number") or "")))
        elif record.action == "schedule_visit":
            expert = session.scalar(select(User).where(User.username == form_data.get("expert", "")))
            day = form_data.get("visit_date")
            hour = form_data.get("visit_time")
            notify([applicant], "visit", f"{key}:visit",
                   expert=expert.full_name if expert else "",
                   date=forms.format_jalali(date.fromisoformat(day)) if day else "",
                   time=forms.t("web.notify.visit_time", time=forms.to_persian_digits(hour)) if hour else "")
        elif (body.get("rule_results") or {}).get("violations") and record.actor_user_id != case.applicant_id:
            notify([applicant], "returned", f"{key}:returned", step=step, rejected="", reason=" ".join(
                v.get("message", "") for v in body["rule_results"]["violations"]))
        elif record.action == "applicant_message":
            author = session.get(User, record.actor_user_id)
            text = session.scalar(select(CaseNote.text).where(CaseNote.record_id == record.id)) or ""
            notify([applicant], "message", f"{key}:message",
                   office=author.office.name if author.office else author.full_name, text=text)
        elif record.action == "deadline_passed":
            held = [p for snap in previous.values()
                    for p in _holders(session, case, snap.lane, snap.office_id, snap.assignee_id, snap.claimed_by_id)]
            if not held and case.county_office_id is not None:
                held = access.office_people(session, case.county_office_id, "county")
            notify(_unique([*held, applicant]), "overdue", f"{key}:overdue")
    for task in case.tasks:
        if task.task_id in previous or (starter is not None and access.may_act(starter, task)):
            continue  # waiting before, or its starter is at it
        people = [p for p in _holders(session, case, task.lane, task.office_id, task.assignee_id, task.claimed_by_id)
                  if p.id not in actors]
        notify(people, "task", f"{case.public_id}:task:{task.task_id}", step=task.title)
    made = add_all(session, planned, now, case=case)
    session.flush()
    return made


def _application_form(session: Session, case: Case, procedure: procedures.Procedure):
    """The form of the case's latest signed application (None: none yet)."""
    record = documents.application_record(session, case)
    return documents.signed_form(record, procedure.forms)[0] if record is not None else None


def _unique(people: list[User | None]) -> list[User]:
    seen, unique = set(), []
    for person in people:
        if person is not None and person.active and person.id not in seen:
            seen.add(person.id)
            unique.append(person)
    return unique


def add_all(session: Session, planned: list[tuple[User | None, str, str, dict]], now: datetime, *,
            case: Case | None = None, center_id: int | None = None) -> list[Notification]:
    """The notifications (and their outgoing messages) of one event about a case (a transition) or a
    center, each (person, kind, key, params) unless its person already has its key: one INSERT for the
    notifications (those already there skipped by the database) and one for the messages of the new ones."""
    wanted: dict[tuple[int, str], tuple[User, str, str, dict]] = {}
    for person, kind, key, params in planned:
        if person is not None and person.active:
            wanted.setdefault((person.id, key), (person, kind, key, params))
    if not wanted:
        return []
    made = [Notification(user_id=person.id, case_id=case.id if case is not None else None, center_id=center_id,
                         kind=kind, key=key, created_at=now, params=json.dumps(params, ensure_ascii=False, sort_keys=True))
            for person, kind, key, params in wanted.values()]
    # an ORM flush would write them a row at a time to hand back each id in order
    ids = {(user_id, key): id_ for id_, user_id, key in session.execute(
        _insert_new(session), [{column: getattr(n, column) for column in _NOTIFICATION_COLUMNS} for n in made])}
    made = [n for n in made if (n.user_id, n.key) in ids]
    if not made:
        return []
    messages = []
    for notification in made:
        notification.id = ids[(notification.user_id, notification.key)]
        person = wanted[(notification.user_id, notification.key)][0]
        text = render(notification)
        params = json.loads(notification.params)
        subject = forms.t("web.notify.subject", case=params["case"]) if "case" in params else \
            forms.t("web.notify.subject_center", center=params["center"])
        messages += [{"key": f"{person.id}:{notification.key}:{channel}", "notification_id": notification.id,
                      "channel": channel, "address": address, "created_at": now, "status": "pending",
                      "attempts": 0, "subject": subject, "body": text}
                     for channel, address in (("sms", person.mobile), ("email", person.email)) if address]
    if messages:
        session.execute(insert(OutboxMessage), messages)
    return made


_NOTIFICATION_COLUMNS = ("user_id", "case_id", "center_id", "kind", "key", "created_at", "params")
#: the INSERT of notifications a person does not have yet, built once per database kind
_inserts: dict[str, Any] = {}


def _insert_new(session: Session):
    dialect = session.get_bind().dialect.name
    found = _inserts.get(dialect)
    if found is None:
        found = _inserts.setdefault(dialect, insert_or_skip(session, Notification.__table__, ["user_id", "key"])
                                    .returning(Notification.id, Notification.user_id, Notification.key))
    return found


def render(notification: Notification) -> str:
    """The notification's Persian text, from the catalogue."""
    params = json.loads(notification.params)
    kind = notification.kind
    if kind == "visit":  # a visit told before its time was kept has none; one without an expert names none
        params.setdefault("time", "")
        kind = "visit" if params.get("expert") else "visit_unnamed"
    text = forms.t(f"web.notify.{kind}", **params)
    if params.get("reason") and notification.kind in ("returned", "decision"):
        text += " " + forms.t("web.notify.reason", reason=params["reason"])
    if params.get("rejected"):
        text += " " + forms.t("web.notify.rejected_documents", documents=params["rejected"])
    return text


def unread_count(session: Session, user: User) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


def user_notifications(session: Session, user: User, *, page: int, per_page: int,
                       unread_only: bool = False) -> tuple[list[Notification], int]:
    """One page of the user's notifications, newest first, and how many there are."""
    query = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(Notification.id.desc()).limit(per_page).offset((page - 1) * per_page)))
    return rows, total


def mark_read(session: Session, user: User, now: datetime, notification_id: int | None = None) -> int:
    """Mark one of the user's notifications (or all of them) read; how many changed."""
    query = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    result = session.execute(query.values(read_at=now).execution_options(synchronize_session=False))
    return result.rowcount
