"""The headquarters audit: signed decisions across the country, whole-database verification, and
the log of what headquarters read or exported.

Headquarters reads and signs nothing in a case: a read is recorded here (an ``AuditEvent``),
never as a record of the case's chain.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, Text, func, or_, select
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column, relationship

from signing import ChainReport
from workflows import facts
from workflows.access import office_subtree_ids
from workflows.facts import FactProblem

if TYPE_CHECKING:
    from workflows.log import LogProblem
from workflows.models import Base, Case, Office, Record, User, UtcDateTime, utcnow
from workflows.monitoring import MonitorFilters, day_bounds
from workflows.procedures import DECISION_ACTIONS, OUTCOME_ACTIONS

__all__ = ["AuditEvent", "record_read", "audit_events", "DecisionFilters", "signed_decisions", "verify_all",
           "AUDITED_ACTIONS", "VerifyResult", "StoreAudit", "audit_store"]

#: the signed actions the audit lists by default: decisions and what they changed in the registry
AUDITED_ACTIONS = (*DECISION_ACTIONS, *OUTCOME_ACTIONS, "acknowledge")


class AuditEvent(Base):
    """Someone at headquarters read or exported something (recorded, not signed)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: view, export, verify_all
    action: Mapped[str] = mapped_column(String(32))
    #: what was read: "case:12", "center:3", "export:registry.export", …
    target: Mapped[str] = mapped_column(String(120))
    #: the request path and query, for exports the filters
    details: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    user: Mapped[User] = relationship()


def record_read(session: Session, user: User, action: str, target: str, details: dict | None = None,
                now: datetime | None = None) -> AuditEvent:
    event = AuditEvent(user_id=user.id, action=action[:32], target=target[:120], created_at=now or utcnow(),
                       details=json.dumps(details or {}, ensure_ascii=False, sort_keys=True))
    session.add(event)
    session.flush()
    return event


def audit_events(session: Session, *, page: int, per_page: int) -> tuple[list[AuditEvent], int]:
    """One page of the read log, newest first, and its size."""
    total = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    rows = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())
                                .limit(per_page).offset((page - 1) * per_page)))
    return rows, total


@dataclass(frozen=True)
class DecisionFilters:
    #: an office: the cases of its subtree (a province: all its counties)
    office_id: int | None = None
    #: part of the signer's username or name
    person: str = ""
    process_key: str | None = None
    action: str | None = None
    dates: MonitorFilters = MonitorFilters()


def signed_decisions(session: Session, filters: DecisionFilters, *, page: int, per_page: int) -> tuple[list, int]:
    """One page of signed decisions across the country, newest first: (record, case, actor, county) rows."""
    county = aliased(Office)
    query = (select(Record, Case, User, county).join(Case, Case.id == Record.case_id)
             .join(User, User.id == Record.actor_user_id).outerjoin(county, county.id == Case.county_office_id))
    query = query.where(Record.action == filters.action) if filters.action else \
        query.where(Record.action.in_(AUDITED_ACTIONS))
    if filters.office_id is not None:
        query = query.where(Case.county_office_id.in_(office_subtree_ids(session, filters.office_id)))
    if filters.person:
        query = query.where(or_(User.username.contains(filters.person, autoescape=True),
                                User.full_name.contains(filters.person, autoescape=True)))
    if filters.process_key:
        query = query.where(Case.process_key == filters.process_key)
    start, end = day_bounds(filters.dates)
    if start is not None:
        query = query.where(Record.created_at >= start)
    if end is not None:
        query = query.where(Record.created_at < end)
    total = session.scalar(select(func.count()).select_from(query.with_only_columns(Record.id).subquery())) or 0
    rows = list(session.execute(query.order_by(Record.created_at.desc(), Record.id.desc())
                                .limit(per_page).offset((page - 1) * per_page)))
    return rows, total


@dataclass(frozen=True)
class VerifyResult:
    case_id: int
    public_id: str
    process_key: str
    report: ChainReport


@dataclass(frozen=True)
class StoreAudit:
    """What the whole-database audit finds beyond the case chains: the registry and case rows
    against the signed records, the log against its records, the admin log's chain."""

    #: ("case", id, problem) or ("center", id, problem)
    facts: tuple[tuple[str, int | None, FactProblem], ...]
    log: tuple[LogProblem, ...]
    admin: ChainReport
    #: the certificates, CAs, CRLs and signing keys checked from their own text (``pki.audit``)
    pki: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.facts and not self.log and self.admin.ok and not self.pki

    def lines(self) -> list[str]:
        """One English line per problem, for the command line."""
        return ([f"{kind} {row}: {p.subject}.{p.field} {p.code} ({p.detail})" for kind, row, p in self.facts]
                + [f"log{'' if p.index is None else f' leaf {p.index}'}: {p.code} ({p.detail})" for p in self.log]
                + [f"admin log: #{p.seq} {p.code}" for p in self.admin.problems]
                + [f"pki: {line}" for line in self.pki])


def audit_store(session: Session, root_pem: str | None = None, witnesses: Sequence = ()) -> StoreAudit:
    """Check everything but the case chains (``verify_all`` checks those): every case row's and
    center's facts, every leaf, subtree, frontier and checkpoint of the log, the admin log, and the
    PKI's rows (against ``root_pem``, the HQ root an auditor keeps, when given); the stored
    cosignatures of ``witnesses`` (their ``note.WitnessKey``) are checked on their checkpoints."""
    from workflows import admin, log, pki  # they import the PKI, which is heavier

    found = [("case", case_id, problem) for case_id, problem in facts.audit_cases(session)]
    found += [("center", center_id, problem) for center_id, problem in facts.audit_centers(session)]
    return StoreAudit(tuple(found), tuple(log.verify_log(session, pki.log_public_key_pem(session), witnesses)),
                      admin.verify_admin_log(session), tuple(pki.audit(session, root_pem)))


def verify_all(session: Session) -> Iterator[VerifyResult]:
    """Recompute every case's chain, in id order, from one streamed statement (memory stays flat
    over a national database)."""
    from workflows.verification import verify_cases  # verification imports the PKI, which is heavier

    for found in verify_cases(session):
        yield VerifyResult(*found)
