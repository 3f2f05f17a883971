"""Case operations: deploy a process, start a case, save a draft, complete a task.

Each public operation works inside the caller's transaction and only flushes: the web
request or CLI command that called it commits, or rolls everything back.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import engine
import forms
from signing import SignedRecord, canonical_bytes, digest, format_time, sign_record
from workflows import access, documents, registry
from workflows.errors import Conflict, Forbidden, InvalidInput, NotFound
from workflows.keys import unlock_signer
from workflows.models import (
    Case, CaseTask, Draft, Office, ProcessDefinition, Record, User, utcnow,
)

__all__ = [
    "deploy", "spec_of", "start_case", "save_draft", "load_draft", "complete_task",
    "Transition", "open_task", "case_records", "tehran_today",
]

#: case status for each end event reached
OUTCOME_STATUS = {
    "license_issued": "licensed",
    "rejected_by_county": "rejected",
    "rejected_by_province": "rejected",
}
#: case status while a task of this lane is waiting
LANE_STATUS = {"applicant": "correction", "county": "county_review", "province": "province_review"}
#: which action a completed form records
REVIEW_ACTIONS = {"approve": "approve", "return": "return", "reject": "reject"}
#: the largest draft accepted, in bytes of JSON
MAX_DRAFT_BYTES = 64 * 1024


@dataclass(frozen=True)
class Transition:
    """What one completed task produced."""

    case: Case
    records: list[Record]


def tehran_today(now: datetime) -> date:
    """The calendar date in Iran at this instant (UTC+03:30, no DST)."""
    return (now + timedelta(hours=3, minutes=30)).date()


# --- process definitions -------------------------------------------------------------

def deploy(session: Session, bpmn_dir: Path, process_key: str) -> ProcessDefinition:
    """Store the current BPMN/DMN files of a process as a version (no-op if unchanged)."""
    sources = engine.read_sources(bpmn_dir, process_key)
    spec = engine.spec_from_sources(process_key, sources)
    existing = session.get(ProcessDefinition, spec.version)
    if existing is not None:
        return existing
    definition = ProcessDefinition(
        version=spec.version, process_key=process_key, rules_version=spec.rules_version,
        sources=json.dumps({name: body.decode("utf-8") for name, body in sources.items()},
                           ensure_ascii=False, sort_keys=True))
    session.add(definition)
    session.flush()
    return definition


def spec_of(definition: ProcessDefinition) -> engine.ProcessSpec:
    """The parsed spec of a stored version (parsed once per process, then cached)."""
    sources = {name: text.encode("utf-8") for name, text in json.loads(definition.sources).items()}
    return engine.spec_from_sources(definition.process_key, sources)


def _latest_definition(session: Session, process_key: str) -> ProcessDefinition:
    definition = session.scalars(
        select(ProcessDefinition).where(ProcessDefinition.process_key == process_key)
        .order_by(ProcessDefinition.deployed_at.desc()).limit(1)).first()
    if definition is None:
        raise NotFound(f"process {process_key!r} is not deployed")
    return definition


# --- cases ---------------------------------------------------------------------------

def start_case(session: Session, *, process_key: str, applicant: User) -> Case:
    """Start a case on the newest version of a process; it waits on the applicant's form."""
    if applicant.role != "applicant":
        raise Forbidden("only applicants start cases")
    definition = _latest_definition(session, process_key)
    instance = engine.Instance.start(spec_of(definition))
    case = Case(public_id=secrets.token_urlsafe(12), process_key=process_key,
                spec_version=definition.version, serializer_version=engine.SERIALIZER_VERSION,
                state=instance.serialize(), status="draft", applicant=applicant)
    session.add(case)
    session.flush()
    _rewrite_tasks(case, instance)
    session.flush()
    return case


def open_task(session: Session, case: Case, task_id: str) -> CaseTask:
    """The waiting task with this id, or Conflict when it is no longer waiting."""
    for task in case.tasks:
        if task.task_id == task_id:
            return task
    raise Conflict("task is not waiting")


def save_draft(session: Session, *, case: Case, task_id: str, user: User, data: Any) -> Draft:
    """Keep unvalidated input of a waiting task so its author can resume later."""
    task = open_task(session, case, task_id)
    if not access.may_act(user, task):
        raise Forbidden("not your task")
    if not isinstance(data, dict):
        raise InvalidInput({"_schema": [forms.t("errors.not_an_object")]})
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    if len(text.encode("utf-8")) > MAX_DRAFT_BYTES:
        raise InvalidInput({"_schema": [forms.t("errors.draft_too_large")]})
    draft = session.scalars(select(Draft).where(
        Draft.case_id == case.id, Draft.form_key == task.form_key, Draft.user_id == user.id)).first()
    if draft is None:
        draft = Draft(case_id=case.id, form_key=task.form_key, user_id=user.id, data=text)
        session.add(draft)
    draft.data, draft.updated_at = text, utcnow()
    session.flush()
    return draft


def load_draft(session: Session, *, case: Case, form_key: str, user: User) -> dict | None:
    """The user's saved draft of this form in this case, if any."""
    draft = session.scalars(select(Draft).where(
        Draft.case_id == case.id, Draft.form_key == form_key, Draft.user_id == user.id)).first()
    return json.loads(draft.data) if draft else None


def case_records(session: Session, case: Case) -> list[Record]:
    """The case's signed records in sequence order."""
    return list(session.scalars(select(Record).where(Record.case_id == case.id).order_by(Record.seq)))


def complete_task(session: Session, *, case: Case, task_id: str, actor: User, data: Any,
                  pin: str, lock_version: int | None = None, now: datetime | None = None,
                  storage_dir: Path) -> Transition:
    """Validate, complete the task, advance the engine, sign and store the transition."""
    now = now or utcnow()
    if lock_version is not None and lock_version != case.lock_version:
        raise Conflict("case changed since the form was loaded")
    task = open_task(session, case, task_id)
    if not access.may_act(actor, task):
        raise Forbidden("not your task")

    form = forms.get_form(task.form_key)
    try:
        cleaned = forms.validate(task.form_key, data)
    except forms.FormError as error:
        raise InvalidInput(error.errors) from None
    county = _check_references(session, case, task.form_key, cleaned)
    signer = unlock_signer(session, actor, pin)

    definition = session.get(ProcessDefinition, case.spec_version)
    spec = spec_of(definition)
    instance = engine.Instance.load(spec, case.state)
    variables = form.workflow_variables(cleaned, tehran_today(now))
    try:
        instance.complete(task_id, variables, lane=task.lane)
    except (engine.TaskNotFound, engine.TaskNotReady) as error:
        raise Conflict(str(error)) from None

    if county is not None:
        case.county_office, case.title = county, cleaned["mosque"]["name"]
    records = [_append_record(
        session, case, spec, signer, actor, now, task=task, action=_action(session, case, task, cleaned),
        form_key=task.form_key, form_data=cleaned,
        rule_results=_rule_results(spec, instance, variables) if "facts" in variables else None)]

    case.state = instance.serialize()
    if instance.is_completed():
        case.outcome = instance.end_event()
        case.status = OUTCOME_STATUS.get(case.outcome, "rejected")
        if case.outcome == "license_issued":
            license_ = registry.issue_license(session, case, _application(session, case), now)
            records.append(_append_record(
                session, case, spec, signer, actor, now, task=None, action="issue_license",
                details={"license_number": license_.number, "center_id": license_.center_id}))
    else:
        case.status = LANE_STATUS[instance.ready_user_tasks()[0].lane]
    _rewrite_tasks(case, instance)
    case.updated_at = now
    session.query(Draft).filter(Draft.case_id == case.id, Draft.form_key == task.form_key,
                                Draft.user_id == actor.id).delete()
    session.flush()
    return Transition(case, records)


# --- helpers ---------------------------------------------------------------------------

def _check_references(session: Session, case: Case, form_key: str, cleaned: dict) -> Office | None:
    """Checks the schema cannot make: offices and documents that must exist in this case."""
    if form_key != "founding_application":
        return None
    errors: dict[str, list[str]] = {}
    county = session.scalars(select(Office).where(
        Office.code == cleaned["mosque"]["county"], Office.kind == "county")).first()
    if county is None:
        errors["mosque.county"] = [forms.t("errors.county_unknown")]
    linked = documents.case_document_digests(session, case)
    for field, sha in cleaned["documents"].items():
        if sha not in linked:
            errors[f"documents.{field}"] = [forms.t("errors.document_missing")]
    if errors:
        raise InvalidInput(errors)
    return county


def _action(session: Session, case: Case, task: CaseTask, cleaned: dict) -> str:
    if task.form_key == "review_decision":
        return REVIEW_ACTIONS[cleaned["decision"]]
    submitted = session.scalar(select(func.count()).select_from(Record).where(
        Record.case_id == case.id, Record.action == "submit"))
    return "resubmit" if submitted else "submit"


def _rule_results(spec: engine.ProcessSpec, instance: engine.Instance, variables: dict) -> dict:
    data = instance.data()
    return {"table": "manager_eligibility", "rules_version": spec.rules_version,
            "facts": variables["facts"], "violations": data.get("eligibility_violations", [])}


def _application(session: Session, case: Case) -> dict:
    """The latest signed application form data of the case."""
    for record in reversed(case_records(session, case)):
        if record.action in ("submit", "resubmit") and record.form_data:
            return json.loads(record.form_data)
    raise NotFound("the case has no application")


def _append_record(session: Session, case: Case, spec: engine.ProcessSpec, signer: Any,
                   actor: User, now: datetime, *, task: CaseTask | None, action: str,
                   form_key: str | None = None, form_data: dict | None = None,
                   rule_results: dict | None = None, details: dict | None = None) -> Record:
    last = session.scalars(select(Record).where(Record.case_id == case.id)
                           .order_by(Record.seq.desc()).limit(1)).first()
    attachments = sorted(set(form_data["documents"].values())) if form_data and "documents" in form_data else []
    body = {
        "v": 1, "case_id": case.public_id, "seq": (last.seq + 1) if last else 1,
        "process_key": case.process_key, "spec_version": case.spec_version,
        "task_id": task.task_id if task else None, "task_name": task.name if task else None,
        "action": action,
        "actor": {"user_id": actor.id, "username": actor.username, "role": actor.role,
                  "office": actor.office.code if actor.office else None},
        "key_id": signer.key_id, "form_key": form_key,
        "form_digest": digest(form_data) if form_data is not None else None,
        "attachments": attachments, "rule_results": rule_results, "details": details or {},
        "time": format_time(now), "prev_hash": last.hash if last else None,
    }
    signed: SignedRecord = sign_record(body, signer)
    record = Record(case_id=case.id, seq=body["seq"], action=action, task_name=body["task_name"],
                    actor_user_id=actor.id, created_at=now, canonical=signed.canonical,
                    hash=signed.hash, signature=signed.signature, key_id=signed.key_id,
                    form_data=_canonical_text(form_data) if form_data is not None else None)
    session.add(record)
    session.flush()
    return record


def _canonical_text(data: dict) -> str:
    return canonical_bytes(data).decode("utf-8")


def _rewrite_tasks(case: Case, instance: engine.Instance) -> None:
    """Replace the case's task rows with the tasks the engine now waits on."""
    waiting = instance.ready_user_tasks()
    case.tasks.clear()
    for user_task in waiting:
        office_id, assignee_id = access.task_holder(case, user_task.lane)
        case.tasks.append(CaseTask(task_id=user_task.id, name=user_task.name, title=user_task.title,
                                   lane=user_task.lane, form_key=user_task.form_key,
                                   office_id=office_id, assignee_id=assignee_id))
