"""manager_eligibility.dmn, rule by rule and at every boundary, driven through the engine."""

import re
import shutil
from types import SimpleNamespace

import pytest
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine

import engine
from engine.parser import CollectAllEngine
from tests.engine.flow import BPMN_DIR, ELIGIBLE, apply, violations

ADMITTED_EDUCATION = ["diploma", "associate", "bachelor", "master", "doctorate",
                     "seminary_1", "seminary_2", "seminary_3", "seminary_4"]


def rules(found: list[dict]) -> list[str]:
    return [violation["rule"] for violation in found]


def test_eligible_application_has_no_violation(spec):
    assert violations(spec) == []


@pytest.mark.parametrize("fact, value, expected", [
    ("manager_age", 19, ["manager_age_min"]),
    ("manager_age", 20, []),
    ("manager_age", 41, []),
    ("manager_age", 42, ["manager_age_max"]),
    ("founding_board_size", 4, ["founding_board_size"]),
    ("founding_board_size", 5, []),
    ("space_area_m2", 79, ["space_area"]),
    ("space_area_m2", 80, []),
    ("space_distance_m", 200, []),
    ("space_distance_m", 201, ["space_distance"]),
    ("manager_gender", "male", []),
    ("manager_gender", "female", []),
])
def test_boundaries(spec, fact, value, expected):
    assert rules(violations(spec, **{fact: value})) == expected


@pytest.mark.parametrize("education", ADMITTED_EDUCATION)
def test_admitted_education(spec, education):
    assert violations(spec, manager_education=education) == []


@pytest.mark.parametrize("education", ["below_diploma", "", "Bachelor", "phd"])
def test_education_below_diploma_or_unknown(spec, education):
    assert rules(violations(spec, manager_education=education)) == ["manager_education"]


def test_every_violation_is_collected_in_table_order_with_a_persian_message(spec):
    found = violations(spec, manager_age=19, manager_education="below_diploma", founding_board_size=4,
                       space_area_m2=10, space_distance_m=500)
    assert rules(found) == ["manager_age_min", "manager_education", "founding_board_size", "space_area",
                            "space_distance"]
    assert all(set(violation) == {"rule", "message"} for violation in found)
    messages = {violation["rule"]: violation["message"] for violation in found}
    assert "۲۰" in messages["manager_age_min"]
    assert "۵" in messages["founding_board_size"]  # noqa: RUF001 (a Persian digit)
    assert "۸۰" in messages["space_area"]
    assert "۲۰۰" in messages["space_distance"]
    assert "دیپلم" in messages["manager_education"]
    assert not any(re.search(r"[0-9]", message) for message in messages.values())


def test_age_above_the_maximum_names_the_limit(spec):
    [violation] = violations(spec, manager_age=50)
    assert violation == {"rule": "manager_age_max", "message": "سن مدیر کانون نباید بیش از ۴۱ سال باشد."}


def test_collect_sets_an_empty_list_where_spiff_would_set_nothing(spec):
    """Spiff's own COLLECT leaves the outputs unset when no rule matches; the engine's sets []."""
    decision_task = spec.spec.task_specs["check_eligibility"]
    assert isinstance(decision_task.dmnEngine, CollectAllEngine)
    task = SimpleNamespace(data={"application": {"facts": ELIGIBLE}},
                           workflow=SimpleNamespace(script_engine=engine.RestrictedScriptEngine()))
    assert DMNEngine(decision_task.dmnEngine.decision_table).result(task) == {}
    assert decision_task.dmnEngine.result(task) == {"eligibility_violations": []}


def test_missing_fact_is_an_expression_error(spec):
    instance = engine.Instance.start(spec)
    facts = dict(ELIGIBLE)
    del facts["manager_age"]
    task = instance.ready_user_tasks()[0]
    with pytest.raises(engine.ExpressionError, match="KeyError: 'manager_age'"):
        instance.complete(task.id, {"facts": facts}, lane="applicant")


def test_changed_rule_table_takes_effect_without_code_change(spec, tmp_path):
    for source in BPMN_DIR.glob("*.*"):
        shutil.copy(source, tmp_path / source.name)
    table = tmp_path / "manager_eligibility.dmn"
    text = table.read_text("utf-8")
    assert text.count("<text>&gt; 41</text>") == 1 and text.count("۴۱") == 1
    table.write_text(text.replace("<text>&gt; 41</text>", "<text>&gt; 45</text>").replace("۴۱", "۴۵"), "utf-8")

    changed = engine.spec_from_sources("center_founding", engine.read_sources(tmp_path, "center_founding"))

    assert rules(violations(spec, manager_age=43)) == ["manager_age_max"]
    assert violations(changed, manager_age=43) == []
    assert violations(changed, manager_age=45) == []
    assert violations(changed, manager_age=46)[0]["message"] == "سن مدیر کانون نباید بیش از ۴۵ سال باشد."
    assert changed.version != spec.version
    assert changed.rules_version != spec.rules_version


def test_versions_depend_on_content_not_on_folder(spec, tmp_path):
    for source in BPMN_DIR.glob("*.*"):
        shutil.copy(source, tmp_path / source.name)
    copied = engine.spec_from_sources("center_founding", engine.read_sources(tmp_path, "center_founding"))
    assert (copied.version, copied.rules_version) == (spec.version, spec.rules_version)
    assert copied is spec


def test_process_change_keeps_rules_version(spec):
    sources = engine.read_sources(BPMN_DIR, "center_founding")
    sources["center_founding.bpmn"] = sources["center_founding.bpmn"].replace("اصلاح درخواست".encode(),
                                                                            "اصلاح مدارک".encode())
    changed = engine.spec_from_sources("center_founding", sources)
    assert changed.version != spec.version
    assert changed.rules_version == spec.rules_version


def test_rejected_application_goes_back_to_the_applicant(spec):
    instance = engine.Instance.start(spec)
    apply(instance, space_area_m2=50)
    [task] = instance.ready_user_tasks()
    assert (task.name, task.lane, task.title) == ("correct_application", "applicant", "اصلاح درخواست")
