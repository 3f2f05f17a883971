"""Every scenario file next to the BPMN, driven through the domain operations on a real database
(the runner is the one `flask deploy` uses: ``workflows.scenarios``)."""
from __future__ import annotations

import json
import shutil

import pytest

from support import BPMN_DIR, SCENARIO_DIR
from web.extensions import db
from workflows import scenarios
from workflows.models import Record

SCENARIOS = sorted(p for p in SCENARIO_DIR.glob("*/*.json") if p.name != scenarios.FIXTURES)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_scenario(app, path):
    run = scenarios.run_file(db.session, BPMN_DIR, path, app.config["STORAGE_DIR"], app.config["SYSTEM_SIGNING_PIN"],
                             app.config["CA_KEY_PASSPHRASE"])
    db.session.commit()
    for case in run.cases.values():
        assert db.session.query(Record).filter(Record.case_id == case.id).count() > 0


def test_every_package_has_scenarios_and_every_scenario_a_known_setup():
    setups = json.loads((SCENARIO_DIR / scenarios.SETUPS).read_text("utf-8"))
    for manifest in BPMN_DIR.glob("*.procedure.json"):
        key = manifest.name.removesuffix(".procedure.json")
        files = scenarios.scenario_files(BPMN_DIR, key)
        assert files, key
        for path in files:
            scenario = json.loads(path.read_text("utf-8"))
            assert scenario["process"] == key, path
            assert scenario.get("setup") in (None, *setups), path


def test_a_scenario_that_does_not_hold_is_reported_with_its_file_step_and_what_differed(tmp_path):
    folder = tmp_path / "bpmn"
    shutil.copytree(BPMN_DIR, folder)
    path = folder / "scenarios" / "center_founding" / "county_reject.json"
    scenario = json.loads(path.read_text("utf-8"))
    scenario["steps"][-1]["expect"]["status"] = "licensed"
    path.write_text(json.dumps(scenario, ensure_ascii=False), "utf-8")
    failures = scenarios.check_packages(folder, ["center_founding"])
    assert failures == ["scenarios/center_founding/county_reject.json step 5: status: expected 'licensed', got 'rejected'"]


def test_a_form_named_differently_by_two_other_packages_is_refused_not_guessed(tmp_path):
    """center_closure borrows license_suspension's "@report"; a package that names another "report"
    would otherwise decide, by the order of folder names, which form the closure's scenarios sign."""
    folder = tmp_path / "bpmn"
    shutil.copytree(BPMN_DIR, folder)
    fixtures = folder / "scenarios" / "activity_report" / scenarios.FIXTURES
    named = json.loads(fixtures.read_text("utf-8"))
    named["report"] = {"year": 1405, "season": "3"}
    fixtures.write_text(json.dumps(named, ensure_ascii=False), "utf-8")
    failures = scenarios.check_packages(folder, ["center_closure"])
    assert failures and all("fixture 'report' differs in activity_report, license_suspension" in f for f in failures), failures
