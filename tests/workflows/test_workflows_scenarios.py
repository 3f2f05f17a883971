"""Every scenario file next to the BPMN, driven through the domain operations on a real database."""
from __future__ import annotations

import copy
import json

import pytest
from sqlalchemy import select

from support import ACTORS, PIN, SCENARIO_DIR, application_fixture, pdf_bytes, png_bytes, user
from web.extensions import db
from workflows import documents
from workflows.cases import complete_task, start_case
from workflows.models import License, ManagerTerm, Record
from workflows.verification import verify_case

SCENARIOS = sorted(p for p in SCENARIO_DIR.glob("*/*.json") if p.name != "fixtures.json")


def set_path(data: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data[part]
    data[last] = value


def upload_documents(app, case, applicant) -> dict:
    files = {"manager_id_copy": png_bytes("red"), "manager_photo": png_bytes("blue"), "manager_degree": pdf_bytes()}
    return {field: documents.store_document(db.session, app.config["STORAGE_DIR"], case=case, user=applicant,
                                            field=field, filename=f"{field}.bin", content=content).sha256
            for field, content in files.items()}


def build_form(step: dict, uploaded: dict):
    if step["form"] != "@application":
        return step["form"]
    form = copy.deepcopy(application_fixture())
    form["documents"] = uploaded
    for dotted, value in step.get("patch", {}).items():
        set_path(form, dotted, value)
    return form


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_scenario(app, path):
    scenario = json.loads(path.read_text("utf-8"))
    applicant = user(ACTORS["applicant"])
    case = start_case(db.session, process_key=scenario["process"], applicant=applicant)
    uploaded = upload_documents(app, case, applicant)
    db.session.commit()
    assert case.status == "draft" and [t.name for t in case.tasks] == ["submit_application"]

    for number, step in enumerate(scenario["steps"], 1):
        where = f"{path.stem} step {number}"
        task = next((t for t in case.tasks if t.name == step["task"]), None)
        assert task is not None, f"{where}: {step['task']} is not waiting (waiting: {[t.name for t in case.tasks]})"
        transition = complete_task(db.session, case=case, task_id=task.task_id, actor=user(ACTORS[step["actor"]]),
                                   data=build_form(step, uploaded), pin=PIN, storage_dir=app.config["STORAGE_DIR"])
        db.session.commit()
        expect = step["expect"]
        assert transition.records[0].action == expect["action"], where
        assert case.status == expect["status"], where
        assert sorted(t.name for t in case.tasks) == sorted(expect["tasks"]), where
        if "violations" in expect:
            body = json.loads(transition.records[0].canonical)
            assert sorted(v["rule"] for v in body["rule_results"]["violations"]) == sorted(expect["violations"]), where
            assert body["rule_results"]["rules_version"], where
        if "outcome" in expect:
            assert case.outcome == expect["outcome"], where
        if "issued" in expect:
            license_ = db.session.scalars(select(License).where(License.case_id == case.id)).first()
            assert (license_ is not None) == expect["issued"], where
            assert [r.action for r in transition.records][1:] == (["issue_license"] if expect["issued"] else []), where
            if expect["issued"]:
                term = db.session.scalars(select(ManagerTerm).where(ManagerTerm.center_id == license_.center_id)).one()
                assert term.national_id == application_fixture()["manager"]["national_id"]
                assert term.end_date is None

    report = verify_case(db.session, case)
    records = db.session.scalars(select(Record).where(Record.case_id == case.id)).all()
    assert report.ok, report.problems
    assert report.count == len(records) >= len(scenario["steps"])
