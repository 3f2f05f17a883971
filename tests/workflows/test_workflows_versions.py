"""Process versions: a changed rule table applies to new cases only; running cases keep theirs."""
from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import select

from support import ACTORS, PIN, application_fixture, upload_documents, user
from web.extensions import db
from workflows.cases import complete_task, deploy, start_case
from workflows.models import ProcessDefinition, Record


def submit(app, case, birth_date: str):
    data = application_fixture()
    data["manager"]["birth_date"] = birth_date
    data["documents"] = upload_documents(app, case)
    return complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(ACTORS["applicant"]),
                         data=data, pin=PIN)


def test_a_changed_rule_table_applies_to_new_cases_only(app, tmp_path):
    running = start_case(db.session, process_key="center_founding", starter=user(ACTORS["applicant"]))
    db.session.commit()

    changed = tmp_path / "bpmn"
    shutil.copytree(app.config["BPMN_DIR"], changed, ignore=shutil.ignore_patterns("scenarios"))
    table = changed / "manager_eligibility.dmn"
    table.write_text(table.read_text("utf-8").replace("<text>&gt; 41</text>", "<text>&gt; 30</text>")
                     .replace("نباید بیش از ۴۱ سال", "نباید بیش از ۳۰ سال"), "utf-8")  # the rule and its words
    new_version = deploy(db.session, changed, "center_founding")
    db.session.commit()
    assert new_version.version != running.spec_version
    assert db.session.query(ProcessDefinition).filter_by(process_key="center_founding").count() == 2

    fresh = start_case(db.session, process_key="center_founding", starter=user(ACTORS["applicant"]))
    db.session.commit()
    assert fresh.spec_version == new_version.version

    # a 35-year-old manager: within the running case's rules (≤ 41), outside the new ones (≤ 30)
    birth_date = "1370/01/01"
    old = json.loads(submit(app, running, birth_date).records[0].canonical)
    new = json.loads(submit(app, fresh, birth_date).records[0].canonical)
    db.session.commit()
    assert old["rule_results"]["violations"] == [] and running.status == "inquiries"
    assert [v["rule"] for v in new["rule_results"]["violations"]] == ["manager_age_max"]
    assert fresh.status == "correction"
    assert old["rule_results"]["rules_version"] != new["rule_results"]["rules_version"]
    assert old["spec_version"] == running.spec_version and new["spec_version"] == fresh.spec_version
    # redeploying the same files is not a new version
    assert deploy(db.session, changed, "center_founding").version == new_version.version
    assert db.session.scalar(select(Record.id).where(Record.case_id == running.id)) is not None
    # going back to the original files makes the original version current again
    original = deploy(db.session, app.config["BPMN_DIR"], "center_founding")
    db.session.commit()
    assert original.version == running.spec_version
    later = start_case(db.session, process_key="center_founding", starter=user(ACTORS["applicant"]))
    assert later.spec_version == running.spec_version


def test_sources_edited_in_the_database_after_deploying_run_nothing(app, monkeypatch):
    """A version is named by its sources' digest: a process that reads them again (a fresh one: nothing
    cached) and finds another digest refuses them, and the case keeps its state."""
    from collections import OrderedDict

    import engine.specs
    from workflows.errors import ProcessFailed

    case = start_case(db.session, process_key="center_founding", starter=user(ACTORS["applicant"]))
    db.session.commit()
    definition = db.session.get(ProcessDefinition, case.spec_version)
    sources = json.loads(definition.sources)
    table = sources["manager_eligibility.dmn"]
    assert "<text>&gt; 41</text>" in table
    sources["manager_eligibility.dmn"] = table.replace("<text>&gt; 41</text>", "<text>&gt; 80</text>")
    definition.sources = json.dumps(sources, ensure_ascii=False)
    db.session.commit()
    state, records = case.state, db.session.query(Record).filter_by(case_id=case.id).count()

    monkeypatch.setattr(engine.specs, "_cache", OrderedDict())  # a process that has not parsed it yet
    with pytest.raises(ProcessFailed) as refused:  # a 65-year-old manager, judged by nothing edited
        submit(app, case, "1340/01/01")
    assert case.spec_version in refused.value.detail and "changed after it was deployed" in refused.value.detail
    db.session.rollback()
    assert db.session.query(Record).filter_by(case_id=case.id).count() == records
    assert db.session.get(type(case), case.id).state == state
    with pytest.raises(ProcessFailed):
        start_case(db.session, process_key="center_founding", starter=user(ACTORS["applicant"]))
