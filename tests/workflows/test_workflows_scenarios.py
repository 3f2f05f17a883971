"""Every scenario file next to the BPMN, driven through the domain operations on a real database.

A step is one of: a user task completed by an actor with a form; ``answer_inquiries`` (the
demo agencies answer, each a signed record); ``tick_days`` (the deadline tick run that many
days after the scenario began: time moves forward, nothing sleeps); ``start_linked`` (the
center starts a procedure linked to this case); ``check`` (expectations only). ``case:
"linked"`` aims a step at the linked case.
"""
from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from support import (
    ACTORS, OTHER_MANAGER, PIN, SCENARIO_DIR, answer_all, application_fixture, found_center, tick, upload_documents, user,
)
from web.extensions import db
from workflows import inquiries, registry
from workflows.cases import complete_task, start_case
from workflows.errors import InvalidInput
from workflows.models import Case, Inquiry, License, ManagerTerm, Record, utcnow
from workflows.verification import verify_case

SCENARIOS = sorted(p for p in SCENARIO_DIR.glob("*/*.json") if p.name != "fixtures.json")



def fixtures(process: str) -> dict:
    folder = "manager_change" if process != "center_founding" else "center_founding"
    return json.loads((SCENARIO_DIR / folder / "fixtures.json").read_text("utf-8"))


def set_path(data: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data[part]
    data[last] = value


class Run:
    """The state of one scenario run: its cases, its clock, its uploaded documents."""

    def __init__(self, app, scenario: dict) -> None:
        self.app, self.scenario = app, scenario
        self.start = utcnow()
        self.cases: dict[str, Case] = {}
        self.uploads: dict[int, dict] = {}
        self.other_manager = OTHER_MANAGER

    def now(self, step: dict):
        return self.start + timedelta(days=step.get("at_days", step.get("tick_days", 0)), seconds=1)

    def form(self, step: dict, case: Case):
        form = step["form"]
        if isinstance(form, str):
            name = form[1:]
            form = copy.deepcopy(application_fixture() if name == "application" else fixtures(case.process_key)[name])
            if "documents" in form:
                if case.id not in self.uploads:
                    self.uploads[case.id] = upload_documents(self.app, case)
                form["documents"] = self.uploads[case.id]
            if form.get("effective_date") == "@today":
                form["effective_date"] = (self.start + timedelta(hours=3, minutes=30)).date().isoformat()
        form = copy.deepcopy(form)
        for dotted, value in step.get("patch", {}).items():
            set_path(form, dotted, self.other_manager if value == "@other_center_manager" else value)
        return form


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_scenario(app, path):
    scenario = json.loads(path.read_text("utf-8"))
    run = Run(app, scenario)
    center = None
    if scenario.get("setup") == "licensed_center":
        center = found_center(app, ACTORS["applicant"])
        found_center(app, "applicant2", manager_national_id=OTHER_MANAGER)
    starter = user(ACTORS[scenario.get("start_as", "applicant")])
    case = start_case(db.session, process_key=scenario["process"], starter=starter, center=center)
    db.session.commit()
    run.cases["main"] = case

    for number, step in enumerate(scenario["steps"], 1):
        where = f"{path.stem} step {number}"
        target = run.cases[step.get("case", "main")]
        now = run.now(step)
        if "answer_inquiries" in step:
            records = answer_all(target, step["answer_inquiries"], now)
        elif "tick_days" in step:
            records = tick(app, now)
        elif "start_linked" in step:
            linked = start_case(db.session, process_key=step["start_linked"], starter=target.applicant,
                                center=target.center, linked_case=target)
            db.session.commit()
            run.cases["linked"] = target = linked
            records = []
        elif "check" in step:
            records = []
        else:
            task = next((t for t in target.tasks if t.name == step["task"]), None)
            assert task is not None, f"{where}: {step['task']} is not waiting (waiting: {[t.name for t in target.tasks]})"
            if "expect_error" in step:
                with pytest.raises(InvalidInput) as error:
                    complete_task(db.session, case=target, task_id=task.task_id, actor=user(ACTORS[step["actor"]]),
                                  data=run.form(step, target), pin=PIN, now=now)
                db.session.rollback()
                assert set(error.value.errors) == set(step["expect_error"]), where
                continue
            records = complete_task(db.session, case=target, task_id=task.task_id, actor=user(ACTORS[step["actor"]]),
                                    data=run.form(step, target), pin=PIN, now=now).records
            db.session.commit()
        db.session.expire_all()
        check(target, records, step.get("expect", {}), where)

    for case in run.cases.values():
        report = verify_case(db.session, case)
        assert report.ok, report.problems
        assert report.count == db.session.query(Record).filter(Record.case_id == case.id).count()


def check(case: Case, records: list[Record], expect: dict, where: str) -> None:
    if "action" in expect:
        assert records and records[0].action == expect["action"], (where, [r.action for r in records])
    if "records_added" in expect:
        assert [r.action for r in records] == expect["records_added"], where
    if "status" in expect:
        assert case.status == expect["status"], (where, case.status)
    if "tasks" in expect:
        assert sorted(t.name for t in case.tasks) == sorted(expect["tasks"]), where
    if "outcome" in expect:
        assert case.outcome == expect["outcome"], where
    if "violations" in expect:
        body = json.loads(records[0].canonical)
        assert sorted(v["rule"] for v in body["rule_results"]["violations"]) == sorted(expect["violations"]), where
        assert body["rule_results"]["rules_version"], where
    if "issued" in expect:
        license_ = db.session.scalars(select(License).where(License.case_id == case.id)).first()
        assert (license_ is not None) == expect["issued"], where
        if license_ is not None:
            term = registry.current_manager(db.session, license_.center_id)
            assert term.national_id == application_fixture()["manager"]["national_id"], where
    if "manager" in expect:
        term = registry.current_manager(db.session, case.center_id)
        assert term is not None and term.national_id == expect["manager"], where
        assert term.interim == expect.get("interim", False), where
        open_terms = db.session.query(ManagerTerm).filter(ManagerTerm.center_id == case.center_id,
                                                          ManagerTerm.end_date.is_(None)).count()
        assert open_terms == 1, where
    if "previous_term_end" in expect:
        ended = db.session.scalars(select(ManagerTerm).where(ManagerTerm.center_id == case.center_id,
                                                             ManagerTerm.end_date.is_not(None))
                                   .order_by(ManagerTerm.id.desc())).first()
        assert ended is not None and ended.end_reason == expect["previous_term_end"], where
        current = registry.current_manager(db.session, case.center_id)
        assert ended.end_date == current.start_date, where  # never a day without a manager
    if "not_clear" in expect:
        found = db.session.scalars(select(Inquiry.kind).where(Inquiry.case_id == case.id, Inquiry.result == "not_clear"))
        assert sorted(found) == sorted(expect["not_clear"]), where
    if "pending_inquiries" in expect:
        assert len(inquiries.pending_in_latest_round(db.session, case)) == expect["pending_inquiries"], where
    if "last_action" in expect:
        last = db.session.scalars(select(Record).where(Record.case_id == case.id).order_by(Record.seq.desc())).first()
        assert last.action == expect["last_action"], where
