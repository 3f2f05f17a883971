"""Training packages for the centers' managers (``bpmn/training.json``): modules of text and media, each
with a quiz whose questions, answers and pass mark are data; the progress a center's holder makes on
them; the signed completion; and who is enrolled and behind.

A package names the procedure whose case its taker signs to complete it. Which package a proposed
manager must pass, and when, is a rule table (``manager_training.dmn``): the procedures that appoint a
manager (founding, manager change, term renewal) decide it on the application's facts and sign it with
the application (``rule_results.decided``). "within" N days: the manager is enrolled when the term
starts or is renewed and is due N days later; "before": the province cannot confirm the appointment
until a completion names the proposed manager, who is trained in a case linked to the appointing one.
A completion signed for the person since the appointing case was started passes it.

A module is passed when a quiz attempt has at least ``pass_mark`` right answers; the progress is working
state (``training_progress``), not a fact: the completion is signed only when every module is passed, and
its record signs the package's version, the manager it was taken for and each module's result
(``signed_completion``). Whether a manager has passed is read from those signed records; who is enrolled
from the centers' signed terms (``facts.check_centers``) and the rule their appointment signed.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import engine
import forms
from signing import canonical_bytes
from workflows import documents, facts, procedures
from workflows.models import Case, Center, Office, Record, TrainingProgress, tehran_today

__all__ = ["Question", "Module", "Package", "Attempt", "Enrollment", "Rule", "Appointment", "packages", "package_for", "package_named",
           "check_tables", "check_rule", "check_media", "media_file", "answer", "progress", "completion_problems",
           "signed_completion", "trainee", "signed_rule", "appointment_of", "trains_before", "passed_since", "before_problems",
           "enrollments", "media_type", "MEDIA_TYPES", "RULE_VARIABLE", "WHEN"]

#: the media a module may show, by the content type their first bytes say
MEDIA_TYPES = {"image/png": "image", "image/jpeg": "image", "application/pdf": "pdf", "video/mp4": "video",
               "video/webm": "video"}


@dataclass(frozen=True)
class Question:
    key: str
    text: str
    #: code → Persian label, in the order shown
    choices: tuple[tuple[str, str], ...]
    answer: str


@dataclass(frozen=True)
class Module:
    key: str
    title: str
    body: tuple[str, ...]
    #: (file name, SHA-256, caption)
    media: tuple[tuple[str, str, str], ...]
    questions: tuple[Question, ...]
    pass_mark: int


@dataclass(frozen=True)
class Package:
    key: str
    title: str
    procedure: str
    modules: tuple[Module, ...]
    #: the SHA-256 of the package's canonical JSON: what a completion signs it passed
    version: str

    def module(self, key: str) -> Module | None:
        return next((m for m in self.modules if m.key == key), None)


@dataclass(frozen=True)
class Attempt:
    """One quiz attempt, scored."""

    correct: int
    total: int
    passed: bool
    #: the questions answered wrongly (or not at all), by key
    wrong: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """What the training rule table decided for a proposed manager, as the application signed it."""

    #: the row's code
    rule: str
    #: the package's key in training.json
    package: str
    #: "before" the appointment is confirmed, or "within" ``days`` after the term starts
    when: str
    days: int
    #: the row's sentence, as the applicant was told it
    message: str


@dataclass(frozen=True)
class Appointment:
    """An appointing case's proposed manager and the training rule its latest application signed."""

    case: Case
    rule: Rule
    national_id: str
    full_name: str


@dataclass(frozen=True)
class Enrollment:
    """A manager in office whose appointment (or renewal) signed a training rule."""

    package: str
    center_id: int
    center_name: str
    county_id: int
    county_name: str
    province_name: str
    national_id: str
    full_name: str
    #: the day the manager's term started, or was last renewed: enrolled from then
    since: date
    due_on: date
    #: "before" or "within", as the rule the appointment signed says
    when: str
    #: the case that signed its completion for this manager (None: not passed)
    passed_case: int | None
    #: the manager's open training case, if one is open
    open_case: int | None

    def behind(self, today: date) -> bool:
        return self.passed_case is None and self.due_on < today


def packages(tables: Any) -> list[Package]:
    """The packages of a version's tables (one that is not well formed is left out: the deploy's check
    names it), read once per version's tables."""
    return tables.derived(_packages) if isinstance(tables, engine.JsonTables) else _packages(tables)


def _packages(tables: Any) -> list[Package]:
    table = tables.get("training") or {}
    found = []
    for key, entry in (table.get("packages") or {}).items() if isinstance(table, dict) else ():
        if _package_problems(key, entry):
            continue
        found.append(Package(
            key, entry["title"], entry["procedure"],
            tuple(Module(m["key"], m["title"], tuple(m["body"]),
                         tuple((f["file"], f["sha256"], f.get("caption", "")) for f in m["media"]),
                         tuple(Question(q["key"], q["text"], tuple(q["choices"].items()), q["answer"])
                               for q in m["quiz"]["questions"]), m["quiz"]["pass_mark"]) for m in entry["modules"]),
            hashlib.sha256(canonical_bytes(entry)).hexdigest()))
    return found


def package_for(tables: Any, process_key: str) -> Package | None:
    return next((p for p in packages(tables) if p.procedure == process_key), None)


def package_named(tables: Any, key: str) -> Package | None:
    """The package a training rule names by its key."""
    return next((p for p in packages(tables) if p.key == key), None)


def check_tables(tables: Any) -> list[str]:
    """What is wrong with a version's ``training.json`` (empty: nothing, or no such table)."""
    table = tables.get("training")
    if table is None:
        return []
    if not isinstance(table, dict) or not isinstance(table.get("packages"), dict):
        return ["training.json: packages must be an object of packages"]
    found = [p for key, entry in table["packages"].items() for p in _package_problems(key, entry)]
    procedures_named = [e.get("procedure") for e in table["packages"].values() if isinstance(e, dict)]
    if len(set(map(str, procedures_named))) != len(procedures_named):
        found.append("training.json: packages: one package per procedure")
    return found


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _package_problems(key: str, entry: Any) -> list[str]:
    where = f"training.{key}"
    if not isinstance(entry, dict):
        return [f"{where}: must be an object"]
    found = [f"{where}.{name}: text" for name in ("title", "procedure") if not _text(entry.get(name))]
    modules = entry.get("modules")
    if not isinstance(modules, list) or not modules:
        return found + [f"{where}.modules: a list of modules, at least one"]
    keys = [m.get("key") for m in modules if isinstance(m, dict)]
    if len(set(map(str, keys))) != len(modules):
        found.append(f"{where}.modules: each an object with its own key")
    for i, module in enumerate(modules):
        if isinstance(module, dict):
            found += _module_problems(f"{where}.modules.{i}", module)
    return found


def _module_problems(where: str, module: dict) -> list[str]:
    found = [f"{where}.{name}: text" for name in ("key", "title") if not _text(module.get(name))]
    if not isinstance(module.get("body"), list) or not module["body"] or not all(map(_text, module["body"])):
        found.append(f"{where}.body: a list of paragraphs, at least one")
    media = module.get("media", [])
    if not isinstance(media, list) or not all(
            isinstance(f, dict) and _text(f.get("file")) and "/" not in f["file"] and "\\" not in f["file"]
            and not f["file"].startswith(".") and isinstance(f.get("sha256"), str) and len(f["sha256"]) == 64
            and isinstance(f.get("caption", ""), str) for f in media):
        found.append(f"{where}.media: a list of {{file, sha256, caption}}, each file a name in the media folder")
    quiz = module.get("quiz")
    questions = quiz.get("questions") if isinstance(quiz, dict) else None
    if not isinstance(questions, list) or not questions:
        return found + [f"{where}.quiz.questions: a list of questions, at least one"]
    for j, q in enumerate(questions):
        if not (isinstance(q, dict) and _text(q.get("key")) and _text(q.get("text"))
                and isinstance(q.get("choices"), dict) and len(q["choices"]) >= 2
                and all(_text(c) and _text(label) for c, label in q["choices"].items())):
            found.append(f"{where}.quiz.questions.{j}: a key, a text and two or more choices (code → label)")
        elif q.get("answer") not in q["choices"]:
            found.append(f"{where}.quiz.questions.{j}.answer: one of its choices")
    if len({q.get("key") for q in questions if isinstance(q, dict)}) != len(questions):
        found.append(f"{where}.quiz.questions: each with its own key")
    if type(quiz.get("pass_mark")) is not int or not 1 <= quiz["pass_mark"] <= len(questions):
        found.append(f"{where}.quiz.pass_mark: a whole number from 1 to the number of questions")
    return found


# --- the rule (manager_training.dmn) -----------------------------------------------------------------

#: the process variable the training rule table sets, and what its ``when`` may say
RULE_VARIABLE = "manager_training"
WHEN = ("before", "within")


def check_rule(rule_tables: Collection[Any], tables: Any) -> list[str]:
    """What is wrong with the training rule table a procedure calls (``procedures.RuleTable``): each row
    names a package of training.json, says "before" or "within", and, within, a number of days from 1 to
    3660 that its message states."""
    known = {p.key for p in packages(tables)}
    found = []
    for table in rule_tables:
        if table.variable != RULE_VARIABLE:
            continue
        if table.collects:
            found.append(f"{table.decision}: decides one rule: its hit policy is UNIQUE (the first row that holds)")
        for number, row in enumerate(table.rows, 1):
            where = f"{table.decision}: rule {number}"
            if row.get("package") not in known:
                found.append(f"{where}: package {row.get('package')!r} is not a package of training.json")
            if row.get("when") not in WHEN:
                found.append(f"{where}: when must be \"before\" or \"within\", not {row.get('when')!r}")
            elif row.get("when") == "within":
                days = row.get("days", "")
                if not days.isdigit() or not 1 <= int(days) <= 3660:
                    found.append(f"{where}: days must be a whole number from 1 to 3660 when within")
                elif days not in forms.normalize_digits(row.get("message", "")):
                    found.append(f"{where}: its message does not state {days}, the days it gives")
    return found


def signed_rule(body: Mapping[str, Any] | None) -> Rule | None:
    """The training rule a signed record's body decided (None: it decided none)."""
    decided = ((body or {}).get("rule_results") or {}).get("decided") or {}
    value = decided.get(RULE_VARIABLE)
    if not isinstance(value, dict) or value.get("when") not in WHEN or type(value.get("days", 0)) is not int:
        return None
    return Rule(str(value.get("rule", "")), str(value.get("package", "")), value["when"], value.get("days") or 0,
                str(value.get("message", "")))


def appointment_of(session: Session, case: Case) -> Appointment | None:
    """The proposed manager of an appointing case and the training rule its latest application signed
    (None: no application, or one that decided no rule)."""
    record = documents.application_record(session, case)
    rule = signed_rule(json.loads(record.canonical)) if record is not None else None
    manager = json.loads(record.form_data).get("manager") if rule is not None else None
    if rule is None or not isinstance(manager, dict):
        return None
    return Appointment(case, rule, manager.get("national_id", ""),
                       f"{manager.get('first_name', '')} {manager.get('last_name', '')}".strip())


def trains_before(session: Session, case: Case) -> Appointment | None:
    """The appointment of an open case whose proposed manager must pass training before it is confirmed."""
    if case.outcome is not None:
        return None
    found = appointment_of(session, case)
    return found if found is not None and found.rule.when == "before" else None


def passed_since(session: Session, package_key: str, national_id: str, since: date) -> int | None:
    """The case whose signed completion of the package names this person, signed on or after ``since``
    (the latest; None: none did)."""
    found = None
    earliest = datetime.combine(since, time.min, timezone.utc) - timedelta(days=1)  # before Tehran's day began
    for case_id, canonical, signed_at in session.execute(
            select(Record.case_id, Record.canonical, Record.created_at).join(Case, Case.id == Record.case_id)
            .where(Case.process_key.in_(_procedures_of(session, package_key)), Record.created_at >= earliest)
            .order_by(Record.id)):
        if _completed_for(canonical, package_key) == national_id and tehran_today(signed_at) >= since:
            found = case_id
    return found


def _procedures_of(session: Session, package_key: str) -> list[str]:
    package = package_named(procedures.newest_tables(session), package_key)
    return [package.procedure] if package else []


def _completed_for(canonical: str | None, package_key: str) -> str | None:
    """The national ID a record's signed completion of the package names (None: it signs none)."""
    signed = ((json.loads(canonical).get("details") or {}).get("training") if canonical else None)
    if isinstance(signed, dict) and signed.get("package") == package_key and isinstance(signed.get("manager"), dict):
        return signed["manager"].get("national_id")
    return None


def before_problems(session: Session, case: Case, tables: Any, field: str) -> dict[str, list[str]]:
    """Refusal of a confirmation whose proposed manager the signed rule wants trained first and who has no
    completion since the case was started (keyed by the form's field; empty: nothing refused)."""
    appointment = trains_before(session, case)
    if appointment is None or passed_since(session, appointment.rule.package, appointment.national_id,
                                           tehran_today(case.created_at)) is not None:
        return {}
    package = package_named(tables, appointment.rule.package)
    return {field: [forms.t("errors.training_before", name=appointment.full_name,
                            package=package.title if package else appointment.rule.package)]}


def check_media(bpmn_dir: Path, tables: Any) -> list[str]:
    """Every module's media file is in the media folder, digests to its SHA-256 and is an image, a PDF
    or a video."""
    table = tables.get("training")
    if not isinstance(table, dict):
        return []
    folder = Path(bpmn_dir) / str(table.get("media_folder") or "training")
    found = []
    for package in packages(tables):
        for module in package.modules:
            for name, digest, _caption in module.media:
                path = folder / name
                content = path.read_bytes() if path.is_file() else None
                if content is None:
                    found.append(f"training.{package.key}.{module.key}: media {name!r} is not in {folder.name}/")
                elif hashlib.sha256(content).hexdigest() != digest:
                    found.append(f"training.{package.key}.{module.key}: media {name!r} does not digest to its sha256")
                elif media_type(content) is None:
                    found.append(f"training.{package.key}.{module.key}: media {name!r} is not a PNG, JPEG, PDF, "
                                 "MP4 or WebM file")
    return found


def media_type(content: bytes) -> str | None:
    """The content type of a module's media file, from its first bytes (None: not one a module shows)."""
    from workflows.documents import sniff_type  # the uploads' check: images verified, a PDF's end present
    if content[4:8] == b"ftyp":
        return "video/mp4"
    if content.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    found = sniff_type(content)
    return found if found in MEDIA_TYPES else None


def media_file(bpmn_dir: Path, tables: Any, digest: str) -> tuple[bytes, str] | None:
    """The bytes and content type of a media file the current packages list by this SHA-256 (None: none
    lists it, or the file no longer digests to it)."""
    table = tables.get("training")
    if not isinstance(table, dict):
        return None
    folder = Path(bpmn_dir) / str(table.get("media_folder") or "training")
    for package in packages(tables):
        for module in package.modules:
            for name, listed, _caption in module.media:
                if listed == digest and (folder / name).is_file():
                    content = (folder / name).read_bytes()
                    kind = media_type(content)
                    if hashlib.sha256(content).hexdigest() == digest and kind is not None:
                        return content, kind
    return None


# --- progress ---------------------------------------------------------------------------------------

def answer(session: Session, case: Case, module: Module, answers: Mapping[str, Any], now: datetime) -> Attempt:
    """Score a quiz attempt of a training case's module and keep it in the case's progress (the best
    result, how many attempts, when it was first passed); flushes."""
    wrong = tuple(q.key for q in module.questions if answers.get(q.key) != q.answer)
    correct = len(module.questions) - len(wrong)
    passed = correct >= module.pass_mark
    row = session.scalars(select(TrainingProgress).where(TrainingProgress.case_id == case.id,
                                                         TrainingProgress.module_key == module.key)).first()
    if row is None:
        row = TrainingProgress(case_id=case.id, module_key=module.key, attempts=0, correct=0,
                               total=len(module.questions))
        session.add(row)
    row.attempts += 1
    row.total = len(module.questions)
    row.correct = max(row.correct, correct)
    row.updated_at = now
    if passed and row.passed_at is None:
        row.passed_at = now
    session.flush()
    return Attempt(correct, len(module.questions), passed, wrong)


def progress(session: Session, case: Case) -> dict[str, TrainingProgress]:
    return {row.module_key: row for row in session.scalars(
        select(TrainingProgress).where(TrainingProgress.case_id == case.id))}


def completion_problems(session: Session, case: Case, package: Package, field: str) -> dict[str, list[str]]:
    """The modules still to pass before the completion may be signed (keyed by the form's field)."""
    done = progress(session, case)
    missing = [m.title for m in package.modules if m.key not in done or done[m.key].passed_at is None]
    if not missing:
        return {}
    return {field: [forms.t("errors.training_modules_left", modules="، ".join(missing))]}


def trainee(session: Session, case: Case) -> dict | None:
    """Whom a training case trains: the proposed manager of the appointing case it is linked to, as that
    application signed them (with the case), else the manager in office, as the center's signed records
    say (with the term); None when it has neither."""
    linked = session.get(Case, case.linked_case_id) if case.linked_case_id else None
    appointment = appointment_of(session, linked) if linked is not None else None
    if appointment is not None:
        return {"national_id": appointment.national_id, "full_name": appointment.full_name,
                "for_case": linked.public_id}
    proved = facts.check_centers(session, [case.center_id])[case.center_id][0] if case.center_id else None
    term = proved.current_term if proved is not None else None
    return {"term_id": term["id"], "national_id": term["national_id"], "full_name": term["full_name"]} \
        if term else None


def signed_completion(session: Session, case: Case, package: Package) -> dict:
    """What the completion record signs: the package and its version, the manager it was taken for (the
    proposed manager of the appointing case it is linked to, as that application signed them; else the
    manager in office, as the center's signed records say), and each module's best result and the day it
    was passed."""
    done = progress(session, case)
    return {"package": package.key, "version": package.version, "manager": trainee(session, case),
            "modules": {m.key: {"correct": done[m.key].correct, "of": done[m.key].total,
                                "attempts": done[m.key].attempts,
                                "passed_on": tehran_today(done[m.key].passed_at).isoformat()}
                        for m in package.modules if m.key in done}}


# --- enrollment -------------------------------------------------------------------------------------

def enrollments(session: Session, county_ids: Collection[int] | None, today: date,
                center_ids: Collection[int] | None = None) -> list[Enrollment]:
    """The managers in office in these counties (None: every county; or of these centers) whose
    appointment or last renewal signed a training rule, by county and center; each due as the rule says,
    with the case that signed their completion since the appointing case was started, if one did."""
    known = {p.key: p for p in packages(procedures.newest_tables(session))}
    query = select(Center.id)
    if county_ids is not None:
        query = query.where(Center.county_office_id.in_(list(county_ids)))
    if center_ids is not None:
        query = query.where(Center.id.in_(list(center_ids)))
    proved = facts.check_centers(session, list(session.scalars(query)))
    counties = {office.code: office for office in session.scalars(select(Office).where(
        Office.code.in_({p.center["county"] for p, _ in proved.values() if p.center})))}
    # each term in office: the case that appointed or last renewed its manager, and the rule it signed
    terms = {}
    for center_id, (center, _problems) in proved.items():
        term = center.term_on(today)
        county = counties.get(center.center["county"]) if center.center else None
        if term is None or term.get("interim") or county is None or \
                (county_ids is not None and county.id not in county_ids):
            continue
        terms[center_id] = (center, term, county, (term.get("renewed_by") or [term["case"]])[-1])
    appointing = {public_id: (case_id, tehran_today(created)) for case_id, public_id, created in session.execute(
        select(Case.id, Case.public_id, Case.created_at).where(Case.public_id.in_({e[3] for e in terms.values()})))}
    rules: dict[int, Rule] = {}
    for case_id, canonical in session.execute(
            select(Record.case_id, Record.canonical).where(
                Record.case_id.in_([c for c, _ in appointing.values()]),
                Record.action.in_(documents.APPLICATION_ACTIONS)).order_by(Record.seq)):
        rule = signed_rule(json.loads(canonical))
        if rule is not None:
            rules[case_id] = rule
        else:
            rules.pop(case_id, None)
    # the completions and open training cases of these centers, and of the cases that appointed them
    procedures_named = sorted({p.procedure for p in known.values()})
    passed: dict[tuple[str, str], list[tuple[date, int]]] = {}
    open_cases: dict[int | str, int] = {}
    for case_id, center_id, linked_id, outcome, canonical, signed_at in session.execute(
            select(Case.id, Case.center_id, Case.linked_case_id, Case.outcome, Record.canonical, Record.created_at)
            .outerjoin(Record, Record.case_id == Case.id)
            .where(Case.process_key.in_(procedures_named),
                   Case.center_id.in_(list(terms)) | Case.linked_case_id.in_(list(rules)))
            .order_by(Record.id)):
        if outcome is None:
            open_cases[f"case:{linked_id}" if linked_id else center_id] = case_id
        for key in known:
            national_id = _completed_for(canonical, key)
            if national_id is not None:
                passed.setdefault((key, national_id), []).append((tehran_today(signed_at), case_id))
    renewed = _renewal_days(session, list(terms))
    found: list[Enrollment] = []
    for center_id, (center, term, county, appointed_by) in terms.items():
        case_id, started = appointing.get(appointed_by, (None, None))
        rule = rules.get(case_id)
        package = known.get(rule.package) if rule is not None else None
        if package is None:
            continue
        # enrolled on the day the term started, or was last renewed
        since = max(date.fromisoformat(term["start_date"]), renewed.get(term["id"], date.min))
        done = [c for day, c in passed.get((package.key, term["national_id"]), []) if day >= started]
        found.append(Enrollment(package.key, center_id, center.center["name"], county.id, county.name,
                                county.parent.name if county.parent else "", term["national_id"],
                                term["full_name"], since, since + timedelta(days=rule.days), rule.when,
                                done[-1] if done else None,
                                open_cases.get(center_id) or open_cases.get(f"case:{case_id}")))
    return sorted(found, key=lambda e: (e.county_name, e.center_name, e.center_id))


def _renewal_days(session: Session, center_ids: list[int]) -> dict[int, date]:
    """The Tehran day each term of these centers was last renewed, by term id (as the renewals signed it)."""
    found: dict[int, date] = {}
    for canonical, signed_at in session.execute(
            select(Record.canonical, Record.created_at).join(Case, Case.id == Record.case_id)
            .where(Case.center_id.in_(center_ids), Record.action == "renew_term").order_by(Record.id)):
        renewed = (json.loads(canonical).get("details") or {}).get("renewed_term")
        if isinstance(renewed, dict) and type(renewed.get("id")) is int:
            found[renewed["id"]] = tehran_today(signed_at)
    return found
