"""Case operations: deploy a process, start a case, save a draft, complete a task.

Each public operation works inside the caller's transaction and only flushes: the web
request or CLI command that called it commits, or rolls everything back.
"""
from __future__ import annotations

import json
import secrets
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import engine
import forms
from signing import Signer
from workflows import access, documents, evaluation, inquiries, lookups, monitoring, outcomes, procedures, registry, reporting, tracking, training, transitions, working_time  # noqa: F401
from workflows.errors import Conflict, Forbidden, InvalidInput, NotFound
from workflows.keys import signer_for
from workflows.models import (
    Case, CaseDocument, CaseTask, Center, Draft, Office, ProcessDefinition, Record, User, tehran_today, utcnow,
)

__all__ = ["deploy", "start_case", "save_draft", "load_draft", "complete_task", "open_task", "case_records"]

#: the largest draft accepted, in bytes of JSON
MAX_DRAFT_BYTES = 64 * 1024


# --- process definitions -------------------------------------------------------------

def deploy(session: Session, bpmn_dir: Path, process_key: str) -> ProcessDefinition:
    """Store the current files of a procedure (diagram, manifest, rule and data tables) as a version
    (no-op if unchanged); SpecError naming every problem when they do not make a whole procedure."""
    sources = engine.read_sources(bpmn_dir, process_key)
    spec = engine.spec_from_sources(process_key, sources)
    check_tables(spec)
    media = training.check_media(bpmn_dir, spec.tables)
    if media:
        raise engine.SpecError("; ".join(media))
    texts = {name: body.decode("utf-8") for name, body in sources.items()}
    problems = procedures.problems(spec) + procedures.rule_problems(process_key, texts) + training.check_rule(
        procedures.rule_tables(process_key, texts), spec.tables)
    if problems:
        raise engine.SpecError("; ".join(problems))
    existing = session.get(ProcessDefinition, spec.version)
    if existing is not None:
        if _latest_definition(session, process_key).version != existing.version:
            existing.deployed_at = utcnow()  # files went back to an older version: it is current again
            session.flush()
        return existing
    definition = ProcessDefinition(
        version=spec.version, process_key=process_key, rules_version=spec.rules_version,
        sources=json.dumps({name: body.decode("utf-8") for name, body in sources.items()},
                           ensure_ascii=False, sort_keys=True))
    session.add(definition)
    session.flush()
    return definition


def check_tables(spec: engine.ProcessSpec) -> None:
    """Refuse data tables the procedures cannot use: every deadline in deadlines.json and the terms of
    terms.json must be durations within the engine's bounds (engine.limits), else SpecError naming the key."""
    tables = spec.tables
    deadlines = tables.get("deadlines", {})
    if not isinstance(deadlines, dict):
        raise engine.SpecError("deadlines.json: must be an object of procedures, each an object of deadlines")
    for process_key, entries in deadlines.items():
        if process_key.startswith("_"):  # a comment, as in the other tables
            continue
        if not isinstance(entries, dict):
            raise engine.SpecError(f"deadlines.json: {process_key}: must be an object of deadlines")
        for name, duration in entries.items():
            try:
                engine.parse_deadline(duration)
            except engine.ExpressionError as error:
                raise engine.SpecError(f"deadlines.json: {process_key}.{name}: {error}") from None
    problems = working_time.check_tables(tables) + reporting.check_tables(tables) + evaluation.check_tables(
        tables, spec.form_declarations) + monitoring.check_tables(tables) + training.check_tables(tables)
    if problems:
        raise engine.SpecError("; ".join(problems))
    terms = tables.get("terms", {})
    for key, unit in (("manager_term_years", "Y"), ("interim_term_months", "M")):
        if key not in terms:
            continue
        value = terms[key]
        try:
            if type(value) is not int:
                raise engine.ExpressionError(f"{value!r} is not a whole number")
            engine.parse_duration(f"P{value}{unit}")
        except engine.ExpressionError as error:
            raise engine.SpecError(f"terms.json: {key}: {error}") from None


def _latest_definition(session: Session, process_key: str) -> ProcessDefinition:
    definition = session.scalars(
        select(ProcessDefinition).where(ProcessDefinition.process_key == process_key)
        .order_by(ProcessDefinition.deployed_at.desc(), ProcessDefinition.version).limit(1)).first()
    if definition is None:
        raise NotFound(f"process {process_key!r} is not deployed")
    return definition


# --- cases ---------------------------------------------------------------------------

def start_case(session: Session, *, process_key: str, starter: User, center: Center | None = None,
               linked_case: Case | None = None, now: datetime | None = None) -> Case:
    """Start a case on the newest version of a procedure, for a new center or an existing one (what the
    procedure needs and who may start it are its manifest's ``start``)."""
    now = now or utcnow()
    proc = procedures.catalogue(session).current.get(process_key)
    if proc is None:
        raise NotFound(f"no procedure {process_key!r}")
    if not access.may_start(starter, proc.starters):
        raise Forbidden("this role does not start this procedure")
    trains = _trains_for(session, proc, starter, linked_case)
    if trains is not None:  # the proposed manager of an open appointing case, trained before it is confirmed
        if center is not None and center.id != linked_case.center_id:
            raise Conflict("cannot link to that case")
        center = linked_case.center
    elif proc.needs_center:
        if center is None:
            raise NotFound("center")
        _check_center_starter(session, starter, center)
        license_status = registry.license_status(session, center.id, tehran_today(now))
        if not proc.license_allows(license_status):
            raise Conflict(f"the center's license is {license_status}: {proc.key} cannot start")
        term = registry.current_manager(session, center.id)
        if not proc.manager_allows(None if term is None else term.interim):
            raise Conflict("the center has no appointed manager" if term is not None else
                           "the center has no current manager")
        if session.scalar(select(func.count()).select_from(Case).where(
                Case.center_id == center.id, Case.process_key == process_key, Case.outcome.is_(None))):
            raise Conflict("a case of this procedure is already open for the center")
    elif center is not None:
        raise InvalidInput({"center": [forms.t("errors.unknown_field")]})
    if linked_case is not None and trains is None and (not proc.names_successor or center is None
                                                       or linked_case.center_id != center.id
                                                       or linked_case.outcome is not None):
        raise Conflict("cannot link to that case")

    definition = _latest_definition(session, process_key)
    spec = procedures.spec_of(definition)
    variables = {"deadlines": dict(spec.tables.get("deadlines", {}).get(process_key, {})),
                 "initiator": "office" if access.is_office_role(starter.role) else "applicant"}
    office = trains.case.county_office if trains is not None else center.county_office if center else None
    with transitions.engine_step(), engine.clock(now), engine.working_calendar(
            working_time.calendar_for(session, office)):
        instance = engine.Instance.start(spec, variables)
    case = Case(public_id=secrets.token_urlsafe(12), process_key=process_key, spec_version=definition.version,
                serializer_version=engine.SERIALIZER_VERSION, state=instance.serialize(), status="draft",
                applicant_id=linked_case.applicant_id if trains is not None else center.applicant_id if center
                else starter.id,
                center_id=center.id if center else None,
                county_office_id=office.id if office else None,
                title=linked_case.title if trains is not None else center.name if center else None,
                tracking_code=tracking.new_code(session),
                linked_case_id=linked_case.id if linked_case else None, created_at=now, updated_at=now)
    session.add(case)
    session.flush()
    transitions.Transition.new(session, case, spec, instance, now, starter).finish()
    return case


def _trains_for(session: Session, proc: procedures.Procedure, starter: User,
                linked_case: Case | None) -> training.Appointment | None:
    """The appointment a training case is started for, when it is linked to an open case whose signed
    training rule wants its proposed manager trained before it is confirmed (None: it is not; Conflict
    when the link is refused: only the case's holder starts it, once while it is open)."""
    if linked_case is None or not proc.trains_proposed:
        return None
    appointment = training.trains_before(session, linked_case)
    if appointment is None:
        return None  # refused below unless the procedure names successors
    if starter.id != linked_case.applicant_id:
        raise NotFound("case")
    if session.scalar(select(func.count()).select_from(Case).where(
            Case.linked_case_id == linked_case.id, Case.process_key == proc.key, Case.outcome.is_(None))):
        raise Conflict("a training case is already open for this case's proposed manager")
    return appointment


def _check_center_starter(session: Session, starter: User, center: Center) -> None:
    if starter.role == "applicant" and starter.id == center.applicant_id:
        return
    if "county" in access.lanes_of(starter.role) and starter.office_id == center.county_office_id:
        return
    if "province" in access.lanes_of(starter.role) and starter.office_id is not None \
            and starter.office_id == center.county_office.parent_id:
        return
    raise NotFound("center")


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
    where = forms.forbidden_path(data)
    if where is not None:  # a NUL or a lone surrogate is refused here as by the form, never stored
        raise InvalidInput({where: [forms.t("errors.forbidden_character")]})
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
                  pin: str | None = None, signing_session: str | None = None, signer: Signer | None = None,
                  lock_version: int | None = None, now: datetime | None = None) -> transitions.Transition:
    """Validate, complete the task, advance the engine, sign and store the transition.

    The actor's key is unlocked with ``pin``, or taken from the open signing session the
    ``signing_session`` handle names, or ``signer`` is a key the actor unlocked earlier
    (it must be the actor's active, certified key: ``chain.append`` checks).
    """
    now = now or utcnow()
    change = transitions.Transition.begin(session, case, now)
    case = change.case
    if lock_version is not None and lock_version != case.lock_version:
        raise Conflict("case changed since the form was loaded")
    task = open_task(session, case, task_id)
    standing_in = None if access.may_act_itself(actor, task) else access.acting_for(actor, task, tehran_today(now))
    if not access.may_act_itself(actor, task) and standing_in is None:
        raise Forbidden("not your task")

    procedure = change.procedure
    form = procedure.forms.get(task.form_key)
    try:
        cleaned = form.validate(data)
    except forms.FormError as error:
        raise InvalidInput(error.errors) from None
    county = _check_references(session, case, procedure, task, form, cleaned, actor, tehran_today(now))
    if signer is None:
        signer = signer_for(session, actor, pin, signing_session)

    variables = form.workflow_variables(cleaned, tehran_today(now), lookups.lookup_for(session, case))
    if county is not None:  # before the engine moves: the deadlines it sets count this office's working days
        case.county_office = county
    try:
        with change.engine() as instance:
            instance.complete(task_id, variables, lane=task.lane)
    except (engine.TaskNotFound, engine.TaskNotReady) as error:
        raise Conflict(str(error)) from None

    if "title" in form.case_fields:
        case.title = form.value(cleaned, form.case_fields["title"])
    details = {"acting_for": _acting_for(*standing_in)} if standing_in is not None else {}
    rubric = evaluation.rubric_for(change.spec.tables, case.process_key, task.form_key)
    if rubric is not None:
        details["evaluation"] = evaluation.signed_score(rubric, cleaned)
    package = training.package_for(change.spec.tables, case.process_key)
    if package is not None:
        details["training"] = training.signed_completion(session, case, package)
    change.sign(signer, actor, action=procedure.action_for(task.name, cleaned), task_id=task.task_id,
                task_name=task.name, form_key=task.form_key, form_data=cleaned,
                rule_results=_rule_results(change, instance, variables) if "facts" in variables else None,
                details=details or None)
    change.finish(signer, actor)
    session.query(Draft).filter(Draft.case_id == case.id, Draft.form_key == task.form_key,
                                Draft.user_id == actor.id).delete()
    session.flush()
    return change


# --- helpers ---------------------------------------------------------------------------

def _acting_for(absent: User, substitution: access.Substitution) -> dict:
    """Whom a substitute signed for, and the admin record that named them (in the record's details, so that
    the timeline and the certificate show it)."""
    return {"username": absent.username, "full_name": absent.full_name,
            "office": absent.office.code if absent.office else None, "substitution": substitution.seq}


def _application_documents(session: Session, case: Case, procedure: procedures.Procedure) -> list[str]:
    """The document fields of the form the case's latest application was signed with."""
    record = documents.application_record(session, case)
    return documents.signed_form(record, procedure.forms)[0].documents if record is not None else []


def _check_references(session: Session, case: Case, procedure: procedures.Procedure, task: CaseTask,
                      form: forms.FormSpec, cleaned: dict, actor: User, today: date) -> Office | None:
    """Checks the schema cannot make: the offices and documents the form names, the inquiries of this case,
    a field signed once per center, a report's participants its programmes cannot have had (``reporting``),
    a score its evidence does not allow (``evaluation``), a training
    completion before every module is passed, a confirmation whose proposed manager the signed training rule
    wants trained first and who is not (``training``).
    An office's step signs only documents its signer uploaded (a visit's photos are the expert's, not a
    founder's file of the case). Returns the county office the form gives the case, if it gives one."""
    errors: dict[str, list[str]] = {}
    county = None
    for path, kind in form.offices.items():
        code = form.value(cleaned, path)
        if code is None:
            continue
        office = session.scalars(select(Office).where(Office.code == code, Office.kind == kind)).first()
        if office is None:
            errors[path] = [forms.t("errors.county_unknown" if kind == "county" else "errors.office_unknown")]
        elif form.case_fields.get("county") == path:
            county = office
    for path, lane in form.people.items():
        username = form.value(cleaned, path)
        office_id = access.task_holder(case, lane)[0]
        if username is not None and (office_id is None or access.office_person(session, office_id, lane, username)
                                     is None):
            errors[path] = [forms.t("errors.person_unknown")]
    linked = documents.case_document_digests(session, case) if form.documents else set()
    uploaders = dict(session.execute(select(CaseDocument.sha256, CaseDocument.uploaded_by).where(
        CaseDocument.case_id == case.id)).all()) if form.documents and task.lane != "applicant" else {}
    for path in form.documents:
        digest = form.value(cleaned, path)
        if digest is not None and digest not in linked:
            errors[path] = [forms.t("errors.document_missing")]
        elif digest is not None and task.lane != "applicant" and uploaders.get(digest) != actor.id:
            errors[path] = [forms.t("errors.document_not_yours")]
    if form.documents:
        errors.update(documents.check_replacements(session, case, cleaned, form.documents))
    if documents.REVIEW_FIELD in cleaned:
        errors.update(documents.check_review(session, case, cleaned, _application_documents(session, case, procedure),
                                             approves=procedure.action_for(task.name, cleaned) == "approve"))
    if (procedure.tasks[task.name].decides_inquiries and procedure.action_for(task.name, cleaned) == "approve"
            and len(cleaned.get("reason", "")) < 5 and inquiries.pending_in_latest_round(session, case)):
        errors["reason"] = [forms.t("errors.pending_inquiries_reason")]
    errors.update(_signed_before(session, case, procedure, task, cleaned))
    tables = procedures.spec_of_case(session, case).tables
    rubric = evaluation.rubric_for(tables, case.process_key, task.form_key)
    if rubric is not None and not errors:
        errors.update(evaluation.evidence_problems(session, case, rubric, cleaned, today))
    report = reporting.rule_for(tables, case.process_key)
    if report is not None and not errors:  # its forms without programmes count none
        errors.update(reporting.count_problems(report, cleaned))
    package = training.package_for(tables, case.process_key)
    if package is not None and not errors:
        errors.update(training.completion_problems(session, case, package, next(iter(form.labels))))
    meaning = procedure.tasks[task.name]
    if meaning.confirms_manager and procedure.action_for(task.name, cleaned) == "approve" and not errors:
        errors.update(training.before_problems(session, case, tables, meaning.action_field or next(iter(form.labels))))
    if errors:
        raise InvalidInput(errors)
    return county


def _signed_before(session: Session, case: Case, procedure: procedures.Procedure, task: CaseTask,
                   cleaned: dict) -> dict[str, list[str]]:
    """The fields of a task the manifest says a center signs once (``once_per_center``) whose values
    another of the center's cases of this procedure holds (as its latest such form signed them: a
    returned report corrected to another season no longer holds the first), with the case that does."""
    fields = procedure.tasks[task.name].once_per_center
    if not fields or case.center_id is None:
        return {}
    names = [name for name, meaning in procedure.tasks.items() if meaning.once_per_center == fields]
    latest: dict[int, str] = {}
    for case_id, form_data in session.execute(
            select(Case.id, Record.form_data).join(Record, Record.case_id == Case.id).where(
                Case.center_id == case.center_id, Case.process_key == case.process_key, Case.id != case.id,
                Record.task_name.in_(names), Record.form_data.is_not(None)).order_by(Record.id)):
        latest[case_id] = form_data
    wanted = [cleaned.get(field) for field in fields]
    for case_id, form_data in sorted(latest.items()):
        if [json.loads(form_data).get(field) for field in fields] == wanted:
            message = forms.t("errors.signed_before", case=f"#{forms.to_persian_digits(str(case_id))}")
            return {field: [message] for field in fields}
    return {}


#: the process variables the rule tables write their violations to end with this
VIOLATIONS_SUFFIX = "_violations"


def _rule_results(change: transitions.Transition, instance: engine.Instance, variables: dict) -> dict:
    """What the rule tables decided on the submitted facts: every ``*_violations`` variable, in name order,
    and what each table that decides (not collects) set, by its variable (``decided``; none when the facts
    broke a rule, or no row of it held)."""
    data = instance.data()
    violations = [v for name in sorted(data) if name.endswith(VIOLATIONS_SUFFIX) for v in data[name] or []]
    results = {"rules_version": change.spec.rules_version, "facts": variables["facts"], "violations": violations}
    decided = {table.variable: data[table.variable] for table in change.procedure.rules
               if not table.collects and isinstance(data.get(table.variable), dict)}
    if decided:
        results["decided"] = decided
    return results
