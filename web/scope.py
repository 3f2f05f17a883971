"""Request-side helpers shared by pages and API: scoped look-ups and case views."""
from __future__ import annotations

import json

from flask import current_app
from sqlalchemy import select

from forms import t
from web.extensions import db
from workflows import access
from workflows.cases import case_records
from workflows.errors import NotFound
from workflows.models import Case, CaseTask, Office, Record, User
from workflows.verification import verify_case

__all__ = ["case_application", "case_or_404", "tasks_for", "timeline", "latest_form_data", "verification_summary",
           "storage_dir", "county_choices"]


def storage_dir():
    return current_app.config["STORAGE_DIR"]


def case_or_404(user: User, case_id: int) -> Case:
    """The case if it is in the user's jurisdiction; NotFound otherwise (even if it exists)."""
    case = db.session.get(Case, case_id)
    if case is None or not access.can_view(db.session, user, case):
        raise NotFound("case")
    return case


def tasks_for(user: User) -> list[CaseTask]:
    """The waiting tasks this user may act on, oldest first."""
    query = select(CaseTask).join(Case).order_by(CaseTask.created_at, CaseTask.id)
    if user.role == "applicant":
        query = query.where(CaseTask.assignee_id == user.id)
    elif user.role in access.LANE_ROLES.values() and user.office_id is not None:
        lanes = [lane for lane, role in access.LANE_ROLES.items() if role == user.role]
        query = query.where(CaseTask.office_id == user.office_id, CaseTask.lane.in_(lanes))
    else:
        return []
    return list(db.session.scalars(query))


def timeline(case: Case) -> list[dict]:
    """The case's signed records as plain data (body fields the pages and API show)."""
    entries = []
    for record in case_records(db.session, case):
        body = json.loads(record.canonical)
        form_data = json.loads(record.form_data) if record.form_data else None
        entries.append({
            "seq": record.seq, "action": record.action, "task_name": record.task_name,
            "actor": {**body["actor"], "full_name": record.actor.full_name},
            "time": body["time"], "hash": record.hash, "key_id": record.key_id,
            "form_key": body["form_key"], "form_digest": body["form_digest"],
            "rule_results": body["rule_results"], "details": body["details"],
            "reason": (form_data or {}).get("reason"), "attachments": body["attachments"],
        })
    return entries


def latest_form_data(case: Case, form_key: str) -> dict | None:
    """The data of the most recent signed submission of a form in this case."""
    record = db.session.scalars(select(Record).where(Record.case_id == case.id, Record.form_data.is_not(None))
                                .order_by(Record.seq.desc())).all()
    for row in record:
        if json.loads(row.canonical)["form_key"] == form_key:
            return json.loads(row.form_data)
    return None


def case_application(case: Case) -> dict | None:
    """The latest signed application of the case: a founding application or a proposed manager."""
    return latest_form_data(case, "founding_application") or latest_form_data(case, "manager_change_application")


def verification_summary(case: Case) -> dict:
    """The chain check, recomputed now, as plain data."""
    report = verify_case(db.session, case)
    return {"ok": report.ok, "count": report.count, "head": report.head,
            "problems": [{"seq": p.seq, "code": p.code, "detail": p.detail} for p in report.problems]}


def county_choices() -> list[dict]:
    """County offices as form choices, grouped under their province's name."""
    rows = db.session.execute(select(Office).where(Office.kind == "county").order_by(Office.code)).scalars()
    return [{"value": office.code, "label": f"{office.name} ({office.parent.name})"} for office in rows]


def status_label(status: str) -> str:
    return t(f"web.status.{status}")
