"""Request-side helpers shared by pages and API: scoped look-ups and case views."""
from __future__ import annotations

import json

from flask import current_app, g, url_for
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

import forms
from web.extensions import db
from web.listing import bool_arg, choice_arg, collect, page_args, text_arg
from workflows import access, documents, evaluation, facts, inbox, notes, procedures, reporting, training, transitions
from workflows.documents import APPLICATION_ACTIONS
from workflows.cases import case_records
from workflows.errors import NotFound
from workflows.models import Case, CaseDocument, CaseTask, Office, Record, User, tehran_today, utcnow

__all__ = ["period_label", "missed_reports_for", "training_behind_for", "case_application", "application_view", "names_in", "people_choices", "case_documents", "desk_view", "signed_forms", "agency_names", "case_request", "latest_action_data", "case_or_404", "tasks_for", "timeline", "latest_form_data", "verification_summary",
           "storage_dir", "county_choices", "score_text", "level_label", "evaluation_desk", "by_name", "task_filters", "county_filter_choices", "deployed", "case_form"]


def period_label(period: reporting.Period) -> str:
    """A report period as people name it: «پاییز ۱۴۰۵», or «دوره ۳ ۱۴۰۵» when no choice list names it."""
    name = deployed().forms.choice_label(period.choices, str(period.number)) if period.choices else ""
    if not name or name == str(period.number):
        name = forms.t("web.reports.period", number=forms.to_persian_digits(str(period.number)))
    return f"{name} {forms.to_persian_digits(str(period.year))}"


def missed_reports_for(user: User) -> list[reporting.MissedReports]:
    """The centers a county's people see as missing a report (every one of their county's), and those a
    province's people see (their counties' flagged ones); none for anyone else."""
    office = user.office
    if office is None or not access.is_office_role(user.role) or office.kind not in ("county", "province"):
        return []
    today = tehran_today(utcnow())
    if office.kind == "county":
        return reporting.missed_reports(db.session, [office.id], today)
    counties = access.office_subtree_ids(db.session, office.id)
    return [m for m in reporting.missed_reports(db.session, counties, today) if m.flagged]


def training_behind_for(user: User) -> list[training.Enrollment]:
    """The managers a county's or a province's people see as behind on their training (past its due day
    and not passed, as the signed records say); none for anyone else."""
    office = user.office
    if office is None or not access.is_office_role(user.role) or office.kind not in ("county", "province"):
        return []
    today = tehran_today(utcnow())
    counties = [office.id] if office.kind == "county" else access.office_subtree_ids(db.session, office.id)
    return [e for e in training.enrollments(db.session, counties, today) if e.behind(today)]


def deployed() -> procedures.Catalogue:
    """The deployed procedures (``workflows.procedures``), read once per request or command."""
    if "procedures" not in g:
        g.procedures = procedures.catalogue(db.session)
    return g.procedures


def case_form(case: Case, form_key: str) -> forms.FormSpec:
    """A form of the case's own procedure version (the forms it started with)."""
    return procedures.of_version(db.session, case.spec_version).forms.get(form_key)


def storage_dir():
    return current_app.config["STORAGE_DIR"]


def case_or_404(user: User, case_id: int) -> Case:
    """The case if it is in the user's jurisdiction; NotFound otherwise (even if it exists)."""
    case = db.session.get(Case, case_id)
    if case is None or not access.can_view(db.session, user, case):
        raise NotFound("case")
    return case


def tasks_for(user: User) -> list[CaseTask]:
    """The waiting tasks this user may act on now (unclaimed or claimed by them), oldest first (first 100)."""
    filters = inbox.TaskFilters(queue="open", sort="oldest", per_page=inbox.MAX_PER_PAGE)
    return inbox.search_tasks(db.session, user, filters, utcnow()).items


def county_filter_choices(user: User) -> list[Office]:
    """The counties a user may filter lists by: those of their jurisdiction (every county for HQ)."""
    if user.role in access.READ_ALL_ROLES:
        return by_name(db.session.scalars(select(Office).where(Office.kind == "county")))
    if user.office_id is None:
        return []
    subtree = access.office_subtree_ids(db.session, user.office_id)
    return by_name(db.session.scalars(select(Office).where(Office.kind == "county", Office.id.in_(subtree))))


def by_name(offices) -> list[Office]:
    """Offices in the Persian alphabetical order of their names."""
    return sorted(offices, key=lambda office: forms.persian_sort_key(office.name))


def task_filters(args: MultiDict, user: User) -> inbox.TaskFilters:
    """Inbox filters from a query string; InvalidInput (Persian, keyed by parameter) for a bad one."""
    counties = {office.code: office.id for office in county_filter_choices(user)}
    pages, queue, process_key, step, county, sort = collect(
        lambda: page_args(args), lambda: choice_arg(args, "queue", inbox.QUEUES, "open"),
        lambda: choice_arg(args, "process_key", tuple(deployed().current)),
        lambda: choice_arg(args, "step", deployed().task_names()),
        lambda: choice_arg(args, "county", tuple(counties)), lambda: choice_arg(args, "sort", inbox.SORTS, "deadline"))
    return inbox.TaskFilters(queue=queue, process_key=process_key, step=step,
                             county_id=counties[county] if county else None, overdue=bool_arg(args, "overdue"),
                             q=text_arg(args, "q"), sort=sort, page=pages[0], per_page=pages[1])


def timeline(case: Case, reader: User | None = None) -> list[dict]:
    """The case's signed records as plain data (body fields the pages and API show); for a ``reader``
    outside the offices, without the offices' internal notes."""
    entries = []
    titles = procedures.task_titles(db.session, case.spec_version)
    hidden = () if reader is None or access.is_office_role(reader.role) else \
        tuple(action for action, audience in notes.NOTE_ACTIONS.items() if audience == "offices")
    for record in case_records(db.session, case):
        if record.action in hidden:
            continue
        body = json.loads(record.canonical)
        form_data = json.loads(record.form_data) if record.form_data else None
        entries.append({
            "seq": record.seq, "action": record.action, "task_name": record.task_name,
            "task_title": titles.get(record.task_name) or deployed().task_title(record.task_name)
            if record.task_name else None,
            "actor": {**body["actor"], "full_name": record.actor.full_name},
            "time": body["time"], "hash": record.hash, "key_id": record.key_id,
            "form_key": body["form_key"], "form_digest": body["form_digest"],
            "rule_results": body["rule_results"], "details": body["details"],
            "reason": (form_data or {}).get("reason"), "answer": (form_data or {}).get("answer"),
            "attachments": body["attachments"],
            "document_review": (form_data or {}).get(documents.REVIEW_FIELD) or [],
        })
    return entries


def diagram_state(case: Case) -> dict:
    """What the case's BPMN diagram highlights: elements passed, tasks waiting, messages awaited."""
    _spec, instance = transitions.load(db.session, case)
    current = sorted({task.name for task in case.tasks})
    done = sorted(set(instance.completed_task_names()) - set(current))
    return {"done": done, "current": current, "messages": instance.awaited_messages()}


def latest_form_data(case: Case, form_key: str) -> dict | None:
    """The data of the most recent signed submission of a form in this case."""
    record = db.session.scalars(select(Record).where(Record.case_id == case.id, Record.form_data.is_not(None))
                                .order_by(Record.seq.desc())).all()
    for row in record:
        if json.loads(row.canonical)["form_key"] == form_key:
            return json.loads(row.form_data)
    return None


def _latest_action_record(case: Case, actions: tuple[str, ...]) -> Record | None:
    """The case's most recent signed record of one of these actions that carries form data."""
    return db.session.scalars(select(Record).where(Record.case_id == case.id, Record.action.in_(actions),
                                                   Record.form_data.is_not(None))
                              .order_by(Record.seq.desc()).limit(1)).first()


def latest_action_data(case: Case, actions: tuple[str, ...]) -> dict | None:
    """The form data of the case's most recent signed record of one of these actions (None: none)."""
    record = _latest_action_record(case, actions)
    return json.loads(record.form_data) if record else None


def case_application(case: Case) -> dict | None:
    """The latest signed application of the case (what its submit or resubmit signed)."""
    return latest_action_data(case, APPLICATION_ACTIONS)


def application_view(case: Case) -> dict | None:
    """The latest signed application with its form's description, as the pages show it read-only:
    ``{"form": …, "data": …, "offices": the names of the offices it names, by code}`` (None: nothing applied yet)."""
    record = _latest_action_record(case, APPLICATION_ACTIONS)
    if record is None:
        return None
    form = case_form(case, json.loads(record.canonical)["form_key"])
    data = json.loads(record.form_data)
    return {"form": form.describe(), "data": data, "offices": names_in(form, data), "documents": case_documents(case)}


def names_in(form: forms.FormSpec, data: dict) -> dict[str, str]:
    """What a signed form's codes stand for, as a page shows them: the name of each office it names by
    its code, and the full name of each person it names by their username."""
    codes = [code for code in (form.value(data, path) for path in form.offices) if code]
    usernames = [name for name in (form.value(data, path) for path in form.people) if name]
    found = {o.code: o.name for o in db.session.scalars(select(Office).where(Office.code.in_(codes)))} if codes else {}
    if usernames:
        found |= dict(db.session.execute(select(User.username, User.full_name).where(User.username.in_(usernames))).all())
    return found


def people_choices(case: Case, form: forms.FormSpec) -> dict[str, list[dict]]:
    """The people a form's person fields may name, by lane: the active people of the case's office there."""
    choices = {}
    for lane in set(form.people.values()):
        office_id = access.task_holder(case, lane)[0]
        people = access.office_people(db.session, office_id, lane) if office_id is not None else []
        choices[lane] = [{"value": p.username, "label": p.full_name} for p in sorted(people, key=lambda p: forms.persian_sort_key(p.full_name))]
    return choices


def case_documents(case: Case) -> dict[str, dict]:
    """The files uploaded to the case by digest: the name they were uploaded with, their type and address."""
    return {link.sha256: {"name": link.original_name or link.sha256[:12], "content_type": link.document.content_type,
                          "url": url_for("pages.document", case_id=case.id, sha256=link.sha256)}
            for link in db.session.scalars(select(CaseDocument).where(CaseDocument.case_id == case.id))}


def _fact_text(procedure: procedures.Procedure, value: object) -> str:
    """A fact a rule table read, as people read it: a code by its choice label, a number in Persian digits."""
    if isinstance(value, bool):
        return forms.t("web.form.yes") if value else forms.t("web.form.no")
    if isinstance(value, str):
        return next((labels[value] for labels in procedure.forms.choices.values() if value in labels), value)
    return forms.to_persian_digits(str(value)) if value is not None else "—"


def agency_names() -> dict[str, str]:
    """The name of each inquiry agency by its code (the name of its account)."""
    return dict(db.session.execute(select(User.agency, User.full_name).where(User.role == "agency",
                                                                            User.agency.is_not(None))).all())


def desk_view(case: Case, entries: list[dict], application: dict | None) -> dict:
    """What an office decides a case from, beside its application (``application_view``) and its
    inquiries: the application's documents, the rule tables with the facts they read and what they
    found, and the earlier applications and decisions with their reasons and document reviews."""
    procedure = procedures.of_version(db.session, case.spec_version)
    docs = []
    if application is not None:
        form = procedure.forms.get(application["form"]["key"])
        for path in form.documents:
            digest = form.value(application["data"], path)
            if digest:
                docs.append({"path": path, "label": form.label(path), "sha256": digest,
                             **application["documents"].get(digest, {})})
    labels = {d["path"]: d["label"] for d in docs}
    decisions = [{**e, "review": [{**item, "label": labels.get(item["document"], item["document"])}
                                  for item in e["document_review"]]}
                 for e in entries if e["action"] in APPLICATION_ACTIONS or e["action"] in procedures.DECISION_ACTIONS]
    rules = []
    for table in procedure.rules:
        # each table as the latest record that gave it its facts found (the application's, the site visit's)
        results = next((e["rule_results"] for e in reversed(entries) if e["rule_results"]
                        and any(fact in e["rule_results"]["facts"] for fact, _ in table.facts)), None)
        if results is None:
            continue  # not read yet: the site visit is still to come
        broken = {v.get("rule") for v in results.get("violations") or []}
        decided = (results.get("decided") or {}).get(table.variable)
        rules.append({"title": table.title,
                      "facts": [{"label": label, "value": _fact_text(procedure, results["facts"].get(fact))}
                                for fact, label in table.facts if fact in results["facts"]],
                      # a table that decides shows the row that held; one of violations, each rule met or broken
                      "decided": decided.get("message", "") if isinstance(decided, dict) else None,
                      "rules": [] if not table.collects else
                      [{"message": message, "ok": code not in broken} for code, message in table.rules]})
    return {"documents": docs, "decisions": decisions, "rules": rules, "forms": signed_forms(case),
            "center": _center_now(case),
            "shared_members": reporting.shared_members(db.session, case, tehran_today(utcnow())),
            "evaluation": evaluation_desk(case),
            # a procedure that asks no agency and reads no rule table has no such sections to show
            "asks_inquiries": any(m.sent_by == "inquiries" for m in procedure.messages.values()),
            "has_rules": bool(procedure.rules)}


def level_label(code: str, rubric: evaluation.Rubric | None = None) -> str:
    """An evaluation level's Persian label, by the rubric's choice list (the newest version's first rubric
    when none is given; the code itself when there is none)."""
    rubric = rubric or next(iter(evaluation.rubrics(procedures.newest_tables(db.session))), None)
    return deployed().forms.choice_label(rubric.levels_choices, code) if rubric is not None else code


def score_text(total_tenths: int) -> str:
    """A total of 100 kept in tenths, as people read it: «۷۶» or «۷۶٫۵»."""
    whole, tenth = divmod(total_tenths, 10)
    return forms.to_persian_digits(f"{whole}٫{tenth}" if tenth else str(whole))


def evaluation_desk(case: Case) -> dict | None:
    """What an evaluation is scored and confirmed from (None: the case's procedure has no rubric): the
    rubric's criteria with their weights and evidence, the score its latest record signed, the center's
    reports of that year and the year before, and the center's earlier confirmed scores."""
    spec = procedures.spec_of_case(db.session, case)
    rubric = evaluation.rubric_for(spec.tables, case.process_key)
    if rubric is None or case.center_id is None:
        return None
    form = case_form(case, rubric.form)
    signed = facts.latest_detail(db.session, case, "evaluation")
    year = signed["year"] if signed else evaluation.year_of(tehran_today(utcnow()))
    rule = reporting.rule_for(spec.tables, rubric.reports_from)
    reports = reporting.center_reports(db.session, rule, case.center_id, (year - 1, year)) if rule else []
    history = [e for e in evaluation.confirmed_evaluations(db.session, [case.county_office_id], None)
               if e.center_id == case.center_id and e.case_id != case.id] if case.county_office_id else []
    return {
        "year": year,
        "criteria": [{"key": c.key, "label": form.label(f"{rubric.scores_section}.{c.key}"), "weight": c.weight,
                      "evidence": forms.t(f"web.evaluation.evidence.{c.evidence}"),
                      "score": signed["scores"].get(c.key) if signed else None} for c in rubric.criteria],
        "scale": rubric.scale,
        "signed": signed and {"total": score_text(signed["total_tenths"]),
                              "level": level_label(signed["level"], rubric)},
        "reports": [{**r.__dict__, "period": period_label(reporting.period_of(rule, r.year, r.number)),
                     "status_label": _status_label(rule.process_key, r.status)} for r in reports],
        "history": [{"year": e.year, "total": score_text(e.total_tenths), "case_id": e.case_id,
                     "level": level_label(e.level, rubric), "county_rank": e.county_rank}
                    for e in history],
    }


def _status_label(process_key: str, status: str) -> str:
    procedure = deployed().current.get(process_key)
    return procedure.status_label(status) if procedure is not None else deployed().status_label(status)


def _center_now(case: Case) -> dict | None:
    """The case's center as its records prove it today: its license's status and its manager (None: no
    center; ``proved`` false when its rows are not what the records say)."""
    if case.center_id is None:
        return None
    proved, problems = facts.check_centers(db.session, [case.center_id])[case.center_id]
    if problems or proved.license is None:
        return {"proved": False}
    today = facts.license_today(proved.license, tehran_today(utcnow()))
    return {"proved": True, "license_status": today["status"], "suspended_until": today["suspended_until"],
            "manager": proved.current_term}


def signed_forms(case: Case) -> list[dict]:
    """The latest signed form of each step that is neither an application nor a decision nor a note (a
    request, an acknowledgement, the county office's report), read-only as the desk shows them:
    ``{"task_name", "title", "actor", "time", "view": as application_view gives one}``."""
    skipped = (*APPLICATION_ACTIONS, *procedures.DECISION_ACTIONS, *transitions.SIDE_ACTIONS)
    latest: dict[str, Record] = {}
    for record in case_records(db.session, case):
        if record.form_data is not None and record.task_name and record.action not in skipped:
            latest[record.task_name] = record
    if not latest:
        return []
    titles = procedures.task_titles(db.session, case.spec_version)
    files = case_documents(case)
    found = []
    for name, record in sorted(latest.items(), key=lambda item: item[1].seq):
        body = json.loads(record.canonical)
        form = case_form(case, body["form_key"])
        data = json.loads(record.form_data)
        offices = names_in(form, data)
        found.append({"task_name": name, "title": titles.get(name, name), "actor": record.actor.full_name,
                      "time": body["time"],
                      "view": {"form": form.describe(), "data": data, "offices": offices, "documents": files}})
    return found


def case_request(case: Case) -> dict | None:
    """The latest signed request of the case (a retirement's or a resignation's dated request)."""
    return latest_action_data(case, ("request",))


def verification_summary(case: Case, proof: facts.CaseProof | None = None) -> dict:
    """The chain check and the check of the case's and its center's stored facts against the signed
    records, recomputed now (or the proof just made), as plain data."""
    proof = proof if proof is not None else facts.prove_case(db.session, case)
    report = proof.report
    return {"ok": report.ok, "count": report.count, "head": report.head,
            "problems": [{"seq": p.seq, "code": p.code, "detail": p.detail} for p in report.problems],
            "facts_ok": proof.ok, "fact_problems": [{"subject": p.subject, "field": p.field, "code": p.code,
                                                     "detail": p.detail} for p in proof.problems]}


def county_choices() -> list[dict]:
    """County offices as form choices, grouped under their province's name."""
    rows = by_name(db.session.execute(select(Office).where(Office.kind == "county")).scalars())
    return [{"value": office.code, "label": f"{office.name} ({office.parent.name})"} for office in rows]

