"""Scenario files: what a procedure must do, run through the domain operations on a throwaway database.

A package's scenarios are ``bpmn/scenarios/<key>/*.json``; ``fixtures.json`` beside them holds named
forms (``"form": "@application"``), and ``bpmn/scenarios/setups.json`` the setups a scenario may ask
for (``"setup": "licensed_center"``: scenarios of other procedures run first, such as a founding that
ends with a license) and the named values a ``patch`` may use. A scenario starts one case (as
``start_as``, the applicant by default) and takes steps, each one of:

- a user task completed by an actor (``applicant``, ``county``, ``province``) with a form, optionally
  ``patch``-ed (dotted paths; a number picks a list's item) or expected to be refused (``expect_error``: the fields); in a form,
  ``@today`` is the day the scenario runs (``@this_year`` and ``@last_year`` its Jalali year and the
  one before) and ``@uploaded`` uploads a file for a document field (or for each document of a section);
- ``answer_inquiries``: the agencies answer every pending inquiry (``clear``, ``not_clear`` or per kind);
- ``tick_days``: the deadline tick runs that many days after the scenario began; ``tick_working_days``:
  when the office's hours end on that many working days after the scenario's first day, by the
  calendar of the main case's county office (``at_working_days`` times a task the same way);
- ``start_linked``: the case's center starts a procedure linked to this case (``"case": "linked"``
  aims later steps at it);
- ``start_next``: the case's center (or the setup's ``center``-th, in the order they were founded)
  starts another case of a procedure, not linked to this one (the next season's report; as ``as``,
  the center's holder by default; ``"case": "next"`` aims later steps at it);
- ``pass_modules``: the training case's taker passes these modules' quizzes, every answer right;
  (a confirmation whose signed training rule wants the proposed manager trained first is preceded by
  that training, as its holder would take it: every module passed and the package procedure's
  ``@completion`` signed, so that an appointing procedure's scenarios hold whichever way
  ``manager_training.dmn`` says; a step that expects the confirmation refused is not)
- ``start_refused``: the case's center cannot start this procedure now (as ``as``, the center's holder
  by default), as when its license is suspended;
- ``check``: expectations only;

and ``expect``s what must follow: the action signed, the records added, the status, the waiting
tasks, the outcome, the license issued and its status, the manager in office and how many years their
term runs, the end of the previous term (or of the last term, when no manager follows), the inquiries' results, the last action,
the score an evaluation signed (``score``: its total in tenths and level), any signed detail (``details``:
dotted paths to values). Every case's chain must verify at the end.

A scenario begins now, or at ``starts``: ``{"jalali": "12/25", "time": "10:00"}`` is the next such
Jalali day (Tehran time) after today, so that a scenario across Nowruz stays in the future.

`flask deploy` runs the scenarios of every package whose version is new, each on its own copy of a
seeded throwaway SQLite database, and refuses the deploy when one fails (``check_packages``); the test
suite runs the shipped ones (``run_file``).
"""
from __future__ import annotations

import copy
import io
import json
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import jdatetime
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from forms.persian import TEHRAN
from workflows import cases, documents, inquiries, pki, procedures, registry, timers, training, working_time
from workflows.demo import DEMO_ACCOUNTS, seed_demo
from workflows.errors import InvalidInput, WorkflowError
from workflows.keys import unlock_signer
from workflows.models import Base, Case, CaseTask, Center, Inquiry, License, ManagerTerm, Record, User, tehran_today, utcnow
from workflows.people import system_user
from workflows.verification import verify_case

__all__ = ["ACTORS", "FIXTURES", "SETUPS", "ScenarioFailed", "Run", "check_packages", "run_file", "scenario_files"]

#: the demo account that plays each actor of a scenario
ACTORS = {"applicant": "applicant1", "county": "arak_officer", "province": "markazi_officer"}
FIXTURES = "fixtures.json"
SETUPS = "setups.json"
SCENARIOS = "scenarios"
#: the signing keys' encryption cost in the throwaway database (its keys never leave it): the lowest
THROWAWAY_WORK_FACTOR = 1
#: a value that stands for the day the scenario runs (in Tehran)
TODAY = "@today"
#: in a form or a patch: the Jalali year of the day the scenario runs, and the year before it
THIS_YEAR, LAST_YEAR = "@this_year", "@last_year"
#: a fixture's value for a document field (or the section of them): upload a file for it
UPLOADED = "@uploaded"


class ScenarioFailed(AssertionError):
    """A scenario did not go as it says: where (file and step) and what."""


def scenario_files(bpmn_dir: Path, process_key: str) -> list[Path]:
    """The scenario files of a package, in name order."""
    folder = Path(bpmn_dir) / SCENARIOS / process_key
    return sorted(p for p in folder.glob("*.json") if p.name != FIXTURES)


def _png(color: str, height: int = 40) -> bytes:
    from PIL import Image  # imported here: only a run that uploads needs it
    buffer = io.BytesIO()
    Image.new("RGB", (30, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def _pdf(tag: str = "scenario") -> bytes:
    return b"%PDF-1.4\n% " + tag.encode() + b"\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass
class Run:
    """One scenario run: its cases, its clock, the documents it uploaded."""

    session: Session
    bpmn_dir: Path
    storage_dir: Path
    system_pin: str
    ca_passphrase: str
    start: datetime = field(default_factory=utcnow)
    cases: dict[str, Case] = field(default_factory=dict)
    uploads: dict[tuple[int, str, int], str] = field(default_factory=dict)
    #: the centers its setup left, in the order they were founded (its setups' setups' too)
    centers: list[Center] = field(default_factory=list)

    # --- data -------------------------------------------------------------------------------------

    def _fixture(self, process_key: str, name: str) -> dict:
        """A named form: the procedure's own, or else the one other package that names it (two that
        name it differently are refused: which one was meant cannot be told)."""
        scenarios = Path(self.bpmn_dir) / SCENARIOS
        own = scenarios / process_key / FIXTURES
        if own.exists() and name in (found := json.loads(own.read_text("utf-8"))):
            return copy.deepcopy(found[name])
        others = {folder.name: found[name] for folder in sorted(p for p in scenarios.iterdir() if p.is_dir())
                  if (folder / FIXTURES).exists() and name in (found := json.loads((folder / FIXTURES).read_text("utf-8")))}
        if len({json.dumps(value, sort_keys=True) for value in others.values()}) > 1:
            raise ScenarioFailed(f"fixture {name!r} differs in {', '.join(others)}: name it in {process_key}'s own {FIXTURES}")
        if others:
            return copy.deepcopy(next(iter(others.values())))
        raise ScenarioFailed(f"no fixture {name!r} in any {FIXTURES}")

    def _setups(self) -> dict:
        path = Path(self.bpmn_dir) / SCENARIOS / SETUPS
        return json.loads(path.read_text("utf-8")) if path.exists() else {}

    def _dated(self, data: Any) -> Any:
        """The day and the years a scenario's forms name by placeholder, as of the scenario's start in Tehran."""
        today = (self.start + timedelta(hours=3, minutes=30)).date()
        year = jdatetime.date.fromgregorian(date=today).year
        return _replace(_replace(_replace(data, TODAY, today.isoformat()), THIS_YEAR, year), LAST_YEAR, year - 1)

    def form(self, step: dict, case: Case, task_form: str, patch: dict, actor: User) -> dict:
        form = step["form"]
        form = self._fixture(case.process_key, form[1:]) if isinstance(form, str) else copy.deepcopy(form)
        form = self._dated(form)
        # "@uploaded" (a document field, or the section holding them): a file is uploaded for each
        declared = procedures.of_version(self.session, case.spec_version).forms.get(task_form)
        marked = {path for path in declared.documents
                  if any(_at(form, prefix) == UPLOADED for prefix in _prefixes(path))}
        for number, path in enumerate(declared.documents):
            if path in marked or _at(form, path) == UPLOADED:
                _put(form, path, self._upload(case, path, number, actor))
        values = self._setups().get("values", {})
        for dotted, value in {**patch, **step.get("patch", {})}.items():
            if len(dotted.split(".")) == 1 or isinstance(_at(form, dotted.rsplit(".", 1)[0]), dict):
                _put(form, dotted, self._dated(values.get(value, value)) if isinstance(value, str) else value)
        return form

    def _upload(self, case: Case, path: str, number: int, actor: User) -> str:
        """The file of a document field, uploaded by the step's actor (an office's step signs only its own
        uploads), once per case, field and person."""
        if (case.id, path, actor.id) not in self.uploads:
            content = _pdf() if number % 3 == 2 else _png(("red", "blue", "green")[number % 3])
            if actor.id != case.applicant_id:  # not the founder's file: the office's own, so other bytes
                content = _pdf(actor.username) if number % 3 == 2 else _png("gray", 40 + actor.id % 200)
            link = documents.store_document(self.session, self.storage_dir, case=case, user=actor,
                                            field=path, filename=f"{path}.bin", content=content)
            self.uploads[(case.id, path, actor.id)] = link.sha256
        return self.uploads[(case.id, path, actor.id)]

    def user(self, username: str) -> User:
        return self.session.scalars(select(User).where(User.username == username)).one()

    # --- running ----------------------------------------------------------------------------------

    def now(self, step: dict) -> datetime:
        working = step.get("at_working_days", step.get("tick_working_days"))
        if working is not None:
            main = self.cases.get("main")
            calendar = working_time.calendar_for(self.session, main.county_office if main else None)
            return calendar.add_working_days(self.start, working) + timedelta(seconds=1)
        return self.start + timedelta(days=step.get("at_days", step.get("tick_days", 0)), seconds=1)

    def setup(self, name: str, where: str) -> Center | None:
        runs = self._setups().get(name)
        if runs is None:
            raise ScenarioFailed(f"{where}: no setup {name!r} in {SCENARIOS}/{SETUPS}")
        centers = []
        for entry in runs:
            path = Path(self.bpmn_dir) / SCENARIOS / f"{entry['scenario']}.json"
            inner = Run(self.session, self.bpmn_dir, self.storage_dir, self.system_pin, self.ca_passphrase,
                        start=self.start)
            actors = {**ACTORS, **({"applicant": entry["applicant"]} if "applicant" in entry else {})}
            case = inner.play(json.loads(path.read_text("utf-8")), f"{where} (setup {entry['scenario']})",
                              actors=actors, patch=entry.get("patch", {}))
            if case.center_id is None:
                raise ScenarioFailed(f"{where}: setup {entry['scenario']} leaves no center")
            centers.append(self.session.get(Center, case.center_id))
            self.centers += [c for c in [*inner.centers, centers[-1]] if c not in self.centers]
        return centers[0] if centers else None

    def play(self, scenario: dict, where: str, *, actors: dict[str, str] | None = None,
             patch: dict | None = None) -> Case:
        """Run one scenario; its main case, or ScenarioFailed saying where and what."""
        actors = actors or ACTORS
        if "starts" in scenario:
            self.start = _next_day(scenario["starts"], self.start)
            pki.refresh_crls(self.session, self.ca_passphrase, self.start)  # as the tick keeps them: covering then
        center = self.setup(scenario["setup"], where) if scenario.get("setup") else None
        starter = self.user(actors[scenario.get("start_as", "applicant")])
        try:
            case = cases.start_case(self.session, process_key=scenario["process"], starter=starter, center=center,
                                    now=self.start)
        except WorkflowError as error:
            raise ScenarioFailed(f"{where}: the case cannot start ({type(error).__name__} {error.detail})") from None
        self.cases["main"] = case
        for number, step in enumerate(scenario["steps"], 1):
            here = f"{where} step {number}"
            target = self.cases[step.get("case", "main")]
            records = self._step(step, target, here, actors, patch or {})
            if records is None:
                continue
            self.session.expire_all()
            target = self.cases["linked" if "start_linked" in step else "next" if "start_next" in step
                                 else step.get("case", "main")]
            _check(self.session, target, records, step.get("expect", {}), here)
        for name, each in self.cases.items():
            report = verify_case(self.session, each)
            if not report.ok:
                raise ScenarioFailed(f"{where}: the {name} case's chain does not verify: {report.problems}")
        return case

    def _step(self, step: dict, target: Case, here: str, actors: dict[str, str], patch: dict) -> list[Record] | None:
        now = self.now(step)
        if "answer_inquiries" in step:
            return self._answer(target, step["answer_inquiries"], now)
        if "tick_days" in step or "tick_working_days" in step:
            return self._tick(now)
        if "start_linked" in step:
            linked = cases.start_case(self.session, process_key=step["start_linked"], starter=target.applicant,
                                      center=target.center, linked_case=target)
            self.cases["linked"] = linked
            return []
        if "start_next" in step:
            starter = self.user(actors[step["as"]]) if "as" in step else target.applicant
            if "center" in step and not 1 <= step["center"] <= len(self.centers):
                raise ScenarioFailed(f"{here}: the setup left {len(self.centers)} center(s), not {step['center']}")
            center = self.centers[step["center"] - 1] if "center" in step else target.center
            self.cases["next"] = cases.start_case(self.session, process_key=step["start_next"], starter=starter,
                                                  center=center, now=now)
            return []
        if "pass_modules" in step:
            package = training.package_for(procedures.spec_of_case(self.session, target).tables, target.process_key)
            if package is None or any(package.module(key) is None for key in step["pass_modules"]):
                raise ScenarioFailed(f"{here}: {target.process_key} has no training package with modules "
                                     f"{step['pass_modules']}")
            for key in step["pass_modules"]:
                module = package.module(key)
                training.answer(self.session, target, module, {q.key: q.answer for q in module.questions}, now)
            return []
        if "start_refused" in step:
            starter = self.user(actors[step["as"]]) if "as" in step else target.applicant
            savepoint = self.session.begin_nested()
            try:
                cases.start_case(self.session, process_key=step["start_refused"], starter=starter, center=target.center,
                                 now=now)
            except WorkflowError:
                savepoint.rollback()
                return []
            savepoint.rollback()
            raise ScenarioFailed(f"{here}: {step['start_refused']} started, expected a refusal")
        if "check" in step:
            return []
        task = next((t for t in target.tasks if t.name == step["task"]), None)
        if task is None:
            raise ScenarioFailed(f"{here}: {step['task']} is not waiting (waiting: {sorted(t.name for t in target.tasks)})")
        actor = self.user(actors[step["actor"]])
        data = self.form(step, target, task.form_key, patch, actor)
        if "expect_error" in step:
            savepoint = self.session.begin_nested()
            try:
                cases.complete_task(self.session, case=target, task_id=task.task_id, actor=actor, data=data,
                                    pin=_pin(actor), now=now)
            except InvalidInput as error:
                savepoint.rollback()
                if set(error.errors) != set(step["expect_error"]):
                    raise ScenarioFailed(f"{here}: refused on {sorted(error.errors)}, expected "
                                         f"{sorted(step['expect_error'])}") from None
                return None
            savepoint.rollback()
            raise ScenarioFailed(f"{here}: accepted, expected a refusal on {sorted(step['expect_error'])}")
        self._train_first(target, task, data, now)
        try:
            change = cases.complete_task(self.session, case=target, task_id=task.task_id, actor=actor, data=data,
                                         pin=_pin(actor), now=now)
        except InvalidInput as error:
            raise ScenarioFailed(f"{here}: {step['task']} refused the form: {error.errors}") from None
        return change.records

    def _train_first(self, case: Case, task: CaseTask, data: dict, now: datetime) -> None:
        """Before a confirmation whose signed rule wants the proposed manager trained first, the case's
        holder trains them in a linked case: every module passed, the completion signed."""
        procedure = procedures.of_version(self.session, case.spec_version)
        meaning = procedure.tasks.get(task.name)
        if meaning is None or not meaning.confirms_manager or procedure.action_for(task.name, data) != "approve":
            return
        appointment = training.trains_before(self.session, case)
        if appointment is None or training.passed_since(self.session, appointment.rule.package, appointment.national_id,
                                                        tehran_today(case.created_at)) is not None:
            return
        package = training.package_named(procedures.newest_tables(self.session), appointment.rule.package)
        trained = cases.start_case(self.session, process_key=package.procedure, starter=case.applicant,
                                   center=case.center, linked_case=case, now=now)
        for module in package.modules:
            training.answer(self.session, trained, module, {q.key: q.answer for q in module.questions}, now)
        cases.complete_task(self.session, case=trained, task_id=trained.tasks[0].task_id, actor=case.applicant,
                            data=self._fixture(package.procedure, "completion"), pin=_pin(case.applicant), now=now)

    def _answer(self, case: Case, results: Any, now: datetime) -> list[Record]:
        agencies = {a.agency: a for a in DEMO_ACCOUNTS if a.agency}
        records: list[Record] = []
        pending = self.session.scalars(select(Inquiry).where(Inquiry.case_id == case.id, Inquiry.status == "pending")
                                       .order_by(Inquiry.id)).all()
        for inquiry in pending:
            result = results if isinstance(results, str) else results.get(inquiry.kind, "clear")
            account = agencies[inquiry.agency]
            records += inquiries.answer_inquiry(self.session, inquiry_id=inquiry.id, agency_user=self.user(account.username),
                                                data={"result": result, "reference": f"REF-{inquiry.id}"},
                                                pin=account.pin, now=now)
        return records

    def _tick(self, now: datetime) -> list[Record]:
        before = self.session.scalar(select(func.max(Record.id))) or 0
        pki.refresh_crls(self.session, self.ca_passphrase, now)  # as the tick does: the CRLs cover now
        system = system_user(self.session)
        signer = unlock_signer(self.session, system, self.system_pin)
        for case_id in timers.due_cases(self.session, now):
            timers.fire_case(self.session, case_id, now=now, system=system, signer=signer)
        return list(self.session.scalars(select(Record).where(Record.id > before).order_by(Record.id)))


def _replace(data: Any, placeholder: str, value: Any) -> Any:
    if isinstance(data, dict):
        return {key: _replace(item, placeholder, value) for key, item in data.items()}
    if isinstance(data, list):
        return [_replace(item, placeholder, value) for item in data]
    return value if data == placeholder else data


def _prefixes(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts) + 1)]


def _at(data: Any, path: str) -> Any:
    """The value at a dotted path (a number picks an item of a list: ``members.1.national_id``)."""
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _put(data: dict, path: str, value: Any) -> None:
    """Set the value at a dotted path, making the dictionaries on the way (list items must exist)."""
    *parents, last = path.split(".")
    for part in parents:
        if isinstance(data, list):
            data = data[int(part)]
            continue
        if not isinstance(data.get(part), (dict, list)):
            data[part] = {}
        data = data[part]
    if isinstance(data, list):
        data[int(last)] = value
    else:
        data[last] = value


def _pin(user: User) -> str:
    return next(a.pin for a in DEMO_ACCOUNTS if a.username == user.username)


def _next_day(starts: dict, after: datetime) -> datetime:
    """The next moment after ``after`` that falls on the Jalali day ``starts["jalali"]`` (MM/DD) at
    ``starts["time"]`` in Tehran."""
    month, day = (int(part) for part in starts["jalali"].split("/"))
    hour, minute = (int(part) for part in starts.get("time", "09:00").split(":"))
    year = jdatetime.date.fromgregorian(date=after.astimezone(TEHRAN).date()).year
    for candidate in (year, year + 1):
        moment = datetime.combine(jdatetime.date(candidate, month, day).togregorian(), time(hour, minute), TEHRAN)
        if moment > after:
            return moment.astimezone(timezone.utc)
    raise ScenarioFailed(f"starts: no {starts['jalali']} after {after:%Y-%m-%d}")


def _check(session: Session, case: Case, records: list[Record], expect: dict, where: str) -> None:
    def fail(what: str, expected: Any, got: Any) -> None:
        raise ScenarioFailed(f"{where}: {what}: expected {expected!r}, got {got!r}")

    if "action" in expect and (not records or records[0].action != expect["action"]):
        fail("action", expect["action"], [r.action for r in records])
    if "records_added" in expect and [r.action for r in records] != expect["records_added"]:
        fail("records added", expect["records_added"], [r.action for r in records])
    if "status" in expect and case.status != expect["status"]:
        fail("status", expect["status"], case.status)
    if "tasks" in expect and sorted(t.name for t in case.tasks) != sorted(expect["tasks"]):
        fail("waiting tasks", sorted(expect["tasks"]), sorted(t.name for t in case.tasks))
    if "outcome" in expect and case.outcome != expect["outcome"]:
        fail("outcome", expect["outcome"], case.outcome)
    if "violations" in expect:
        body = json.loads(records[0].canonical) if records else {}
        found = sorted(v["rule"] for v in ((body.get("rule_results") or {}).get("violations") or []))
        if found != sorted(expect["violations"]) or not (body.get("rule_results") or {}).get("rules_version"):
            fail("rule violations", sorted(expect["violations"]), found)
    if "details" in expect:  # dotted paths into the signed details of the first record added
        body = json.loads(records[0].canonical) if records else {}
        for dotted, wanted in expect["details"].items():
            got: Any = body.get("details") or {}
            for part in dotted.split("."):
                got = got.get(part) if isinstance(got, dict) else None
            if got != wanted:
                fail(f"signed details {dotted}", wanted, got)
    if "score" in expect:
        body = json.loads(records[0].canonical) if records else {}
        signed = (body.get("details") or {}).get("evaluation") or {}
        if {key: signed.get(key) for key in expect["score"]} != expect["score"]:
            fail("score signed", expect["score"], {key: signed.get(key) for key in expect["score"]})
    if "issued" in expect:
        license_ = session.scalars(select(License).where(License.case_id == case.id)).first()
        if (license_ is not None) != expect["issued"]:
            fail("license issued", expect["issued"], license_ is not None)
    if "license_status" in expect:
        license_ = session.scalars(select(License).where(License.center_id == case.center_id)).first()
        if license_ is None or license_.status != expect["license_status"]:
            fail("license status", expect["license_status"], license_.status if license_ else None)
    if "term_years" in expect:  # the manager in office's planned end, in years from the term's start
        term = registry.current_manager(session, case.center_id)
        years = (term.planned_end.year - term.start_date.year) if term and term.planned_end else None
        if years != expect["term_years"]:
            fail("term length in years", expect["term_years"], years)
    if "last_term_end" in expect:
        last = session.scalars(select(ManagerTerm).where(ManagerTerm.center_id == case.center_id)
                               .order_by(ManagerTerm.id.desc())).first()
        if last is None or last.end_reason != expect["last_term_end"]:
            fail("the last term's end", expect["last_term_end"], last.end_reason if last else None)
    if "manager" in expect:
        term = registry.current_manager(session, case.center_id)
        if term is None or term.national_id != expect["manager"] or term.interim != expect.get("interim", False):
            fail("manager in office", (expect["manager"], expect.get("interim", False)),
                 (term.national_id, term.interim) if term else None)
        open_terms = session.scalar(select(func.count()).select_from(ManagerTerm).where(
            ManagerTerm.center_id == case.center_id, ManagerTerm.end_date.is_(None)))
        if open_terms != 1:
            fail("managers in office at once", 1, open_terms)
    if "previous_term_end" in expect:
        ended = session.scalars(select(ManagerTerm).where(ManagerTerm.center_id == case.center_id,
                                                          ManagerTerm.end_date.is_not(None))
                                .order_by(ManagerTerm.id.desc())).first()
        current = registry.current_manager(session, case.center_id)
        if ended is None or ended.end_reason != expect["previous_term_end"]:
            fail("previous term's end", expect["previous_term_end"], ended.end_reason if ended else None)
        if current is None or ended.end_date != current.start_date:
            fail("a day without a manager", "none", (ended.end_date, current.start_date if current else None))
    if "not_clear" in expect:
        found = sorted(session.scalars(select(Inquiry.kind).where(Inquiry.case_id == case.id,
                                                                  Inquiry.result == "not_clear")))
        if found != sorted(expect["not_clear"]):
            fail("inquiries not clear", sorted(expect["not_clear"]), found)
    if "pending_inquiries" in expect:
        pending = len(inquiries.pending_in_latest_round(session, case))
        if pending != expect["pending_inquiries"]:
            fail("pending inquiries", expect["pending_inquiries"], pending)
    if "last_action" in expect:
        last = session.scalars(select(Record).where(Record.case_id == case.id).order_by(Record.seq.desc())).first()
        if last is None or last.action != expect["last_action"]:
            fail("last action", expect["last_action"], last.action if last else None)


def run_file(session: Session, bpmn_dir: Path, path: Path, storage_dir: Path, system_pin: str,
             ca_passphrase: str) -> Run:
    """Run one scenario file on the session's database (its procedures deployed, the demo seeded with
    this system PIN and CA passphrase)."""
    scenario = json.loads(Path(path).read_text("utf-8"))
    run = Run(session, Path(bpmn_dir), Path(storage_dir), system_pin, ca_passphrase)
    run.play(scenario, f"{SCENARIOS}/{Path(path).parent.name}/{Path(path).name}")
    return run


@contextmanager
def _seeded(bpmn_dir: Path) -> Iterator[tuple[Path, str, str]]:
    """A throwaway SQLite database file with the folder's procedures deployed and the demo seeded."""
    with tempfile.TemporaryDirectory(prefix="scenarios-") as folder:
        seed = Path(folder) / "seed.db"
        system_pin, passphrase = secrets.token_hex(8), secrets.token_hex(16)
        engine = create_engine(f"sqlite:///{seed}")
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            for key in procedures.package_keys(bpmn_dir):
                cases.deploy(session, bpmn_dir, key)
            seed_demo(session, system_pin, passphrase, work_factor=THROWAWAY_WORK_FACTOR)
            session.commit()  # the throwaway database's own seed, copied for each scenario
        engine.dispose()
        yield Path(folder), system_pin, passphrase


def check_packages(bpmn_dir: Path, process_keys: list[str]) -> list[str]:
    """Run every scenario of these packages, each on a fresh copy of a seeded throwaway database;
    the failures, one line each (empty: every scenario ran as it says)."""
    paths = [path for key in process_keys for path in scenario_files(bpmn_dir, key)]
    if not paths:
        return []
    failures = []
    with _seeded(Path(bpmn_dir)) as (folder, system_pin, passphrase):
        for number, path in enumerate(paths):
            copy_path = folder / f"run-{number}.db"
            shutil.copyfile(folder / "seed.db", copy_path)
            engine = create_engine(f"sqlite:///{copy_path}")
            try:
                with Session(engine) as session:
                    run_file(session, bpmn_dir, path, folder / f"documents-{number}", system_pin, passphrase)
            except ScenarioFailed as failure:
                failures.append(str(failure))
            except (WorkflowError, KeyError, ValueError, TypeError) as error:
                failures.append(f"{SCENARIOS}/{path.parent.name}/{path.name}: {type(error).__name__}: {error}")
            finally:
                engine.dispose()
                copy_path.unlink(missing_ok=True)
    return failures
