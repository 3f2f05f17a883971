"""center_eligibility.dmn and manager_eligibility.dmn, rule by rule and at every boundary, driven through the engine."""

import re
import shutil
from types import SimpleNamespace

import pytest
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine

import engine
from engine.parser import CollectAllEngine
from tests.engine.flow import BPMN_DIR, ELIGIBLE, MANAGER_ELIGIBLE, apply, load_spec, only_task, start, verdict

ADMITTED_EDUCATION = ["diploma", "associate", "bachelor", "master", "doctorate",
                     "seminary_1", "seminary_2", "seminary_3", "seminary_4"]


def rules(found: list[dict]) -> list[str]:
    return [violation["rule"] for violation in found]


@pytest.fixture(scope="module")
def change_spec() -> engine.ProcessSpec:
    return load_spec("manager_change")


def test_eligible_application_has_no_violation(spec, change_spec):
    assert verdict(spec) == {"center_violations": [], "manager_violations": []}
    # manager_change asks only the manager table: no center facts needed, no center verdict
    assert verdict(change_spec) == {"manager_violations": []}


CENTER_BOUNDARIES = [
    ("founding_board_size", 4, ["founding_board_size"]),
    ("founding_board_size", 5, []),
    ("founding_board_size", 0, ["founding_board_size"]),
    ("space_area_m2", 79, ["space_area"]),
    ("space_area_m2", 80, []),
    ("space_distance_m", 200, []),
    ("space_distance_m", 201, ["space_distance"]),
    ("space_distance_m", 0, []),
]
MANAGER_BOUNDARIES = [
    ("manager_age", 19, ["manager_age_min"]),
    ("manager_age", 20, []),
    ("manager_age", 41, []),
    ("manager_age", 42, ["manager_age_max"]),
    ("manager_current_centers", 0, []),
    ("manager_current_centers", 1, ["manager_already_managing"]),
    ("manager_current_centers", 3, ["manager_already_managing"]),
    ("manager_gender", "male", []),
    ("manager_gender", "female", []),
]


@pytest.mark.parametrize("fact, value, expected", CENTER_BOUNDARIES)
def test_center_boundaries(spec, fact, value, expected):
    found = verdict(spec, **{fact: value})
    assert rules(found["center_violations"]) == expected
    assert found["manager_violations"] == []


@pytest.mark.parametrize("fact, value, expected", MANAGER_BOUNDARIES)
def test_manager_boundaries(spec, change_spec, fact, value, expected):
    for process_spec in (spec, change_spec):
        found = verdict(process_spec, **{fact: value})
        assert rules(found["manager_violations"]) == expected
        assert found.get("center_violations", []) == []


@pytest.mark.parametrize("education", ADMITTED_EDUCATION)
def test_admitted_education(spec, change_spec, education):
    assert verdict(spec, manager_education=education)["manager_violations"] == []
    assert verdict(change_spec, manager_education=education)["manager_violations"] == []


@pytest.mark.parametrize("education", ["below_diploma", "", "Bachelor", "phd"])
def test_education_below_diploma_or_unknown(spec, change_spec, education):
    assert rules(verdict(spec, manager_education=education)["manager_violations"]) == ["manager_education"]
    assert rules(verdict(change_spec, manager_education=education)["manager_violations"]) == ["manager_education"]


def test_every_violation_is_collected_in_table_order_with_a_persian_message(spec):
    found = verdict(spec, manager_age=19, manager_education="below_diploma", manager_current_centers=2,
                    founding_board_size=4, space_area_m2=10, space_distance_m=500)
    assert rules(found["center_violations"]) == ["founding_board_size", "space_area", "space_distance"]
    assert rules(found["manager_violations"]) == ["manager_age_min", "manager_education", "manager_already_managing"]
    every = found["center_violations"] + found["manager_violations"]
    assert all(set(violation) == {"rule", "message"} for violation in every)
    messages = {violation["rule"]: violation["message"] for violation in every}
    assert "۲۰" in messages["manager_age_min"]
    assert "۵" in messages["founding_board_size"]  # noqa: RUF001 (a Persian digit)
    assert "۸۰" in messages["space_area"]
    assert "۲۰۰" in messages["space_distance"]
    assert "دیپلم" in messages["manager_education"]
    assert messages["manager_already_managing"] == "مدیر پیشنهادی نباید هم‌اکنون مدیر کانون دیگری باشد."
    assert not any(re.search(r"[0-9]", message) for message in messages.values())


def test_age_above_the_maximum_names_the_limit(spec):
    [violation] = verdict(spec, manager_age=50)["manager_violations"]
    assert violation == {"rule": "manager_age_max", "message": "سن مدیر کانون نباید بیش از ۴۱ سال باشد."}


@pytest.mark.parametrize("task, table, facts, output", [
    ("check_manager", "manager_eligibility", MANAGER_ELIGIBLE, "manager_violations"),
    ("check_center", "center_eligibility", ELIGIBLE, "center_violations"),
])
def test_collect_sets_an_empty_list_where_spiff_would_set_nothing(spec, task, table, facts, output):
    """Spiff's own COLLECT leaves the outputs unset when no rule matches; the engine's sets []."""
    decision_task = spec.spec.task_specs[task]
    assert isinstance(decision_task.dmnEngine, CollectAllEngine)
    assert decision_task.dmnEngine.decision_table.id == f"DecisionTable_{table}"
    data = SimpleNamespace(data={"application": {"facts": facts}},
                           workflow=SimpleNamespace(script_engine=engine.RestrictedScriptEngine()))
    assert DMNEngine(decision_task.dmnEngine.decision_table).result(data) == {}
    assert decision_task.dmnEngine.result(data) == {output: []}


def test_a_deciding_table_sets_its_variable_to_none_when_no_row_holds(spec, tmp_path):
    """manager_training (UNIQUE: the first row that holds decides): the shipped row holds for any manager;
    a table whose only row holds for nobody sets None, not nothing, so an earlier pass's rule is not kept."""
    decision_task = spec.spec.task_specs["decide_training"]
    data = SimpleNamespace(data={"application": {"facts": MANAGER_ELIGIBLE}},
                           workflow=SimpleNamespace(script_engine=engine.RestrictedScriptEngine()))
    decided = decision_task.dmnEngine.result(data)["manager_training"]
    assert (decided["when"], decided["days"], decided["package"]) == ("within", 60, "new_manager")
    folder = copy_bpmn_dir(tmp_path)
    source = folder / "manager_training.dmn"
    source.write_text(source.read_text("utf-8").replace(
        '<inputEntry id="InputEntry_training_within_1">\n          <text>-</text>',
        '<inputEntry id="InputEntry_training_within_1">\n          <text>&gt; 100</text>'), "utf-8")
    edited = load_spec("center_founding", folder).spec.task_specs["decide_training"]
    assert DMNEngine(edited.dmnEngine.decision_table).result(data) == {}  # Spiff's own: nothing set
    assert edited.dmnEngine.result(data) == {"manager_training": None}


@pytest.mark.parametrize("missing", ["manager_age", "manager_current_centers", "space_area_m2"])
def test_missing_fact_is_an_expression_error(spec, missing):
    instance = start(spec)
    facts = {key: value for key, value in ELIGIBLE.items() if key != missing}
    task = instance.ready_user_tasks()[0]
    with pytest.raises(engine.ExpressionError, match=f"KeyError: '{missing}'"):
        instance.complete(task.id, {"facts": facts}, lane="applicant")


def copy_bpmn_dir(tmp_path):
    for source in BPMN_DIR.glob("*.*"):
        shutil.copy(source, tmp_path / source.name)
    shutil.copytree(BPMN_DIR / "forms", tmp_path / "forms")
    return tmp_path


def test_changed_rule_table_takes_effect_without_code_change(spec, change_spec, tmp_path):
    folder = copy_bpmn_dir(tmp_path)
    table = folder / "manager_eligibility.dmn"
    text = table.read_text("utf-8")
    assert text.count("<text>&gt; 41</text>") == 1 and text.count("۴۱") == 1
    table.write_text(text.replace("<text>&gt; 41</text>", "<text>&gt; 45</text>").replace("۴۱", "۴۵"), "utf-8")

    for old in (spec, change_spec):
        changed = load_spec(old.process_key, folder)
        assert rules(verdict(old, manager_age=43)["manager_violations"]) == ["manager_age_max"]
        assert verdict(changed, manager_age=41)["manager_violations"] == []
        assert verdict(changed, manager_age=43)["manager_violations"] == []
        assert verdict(changed, manager_age=45)["manager_violations"] == []
        [violation] = verdict(changed, manager_age=46)["manager_violations"]
        assert violation == {"rule": "manager_age_max", "message": "سن مدیر کانون نباید بیش از ۴۵ سال باشد."}
        assert changed.version != old.version
        assert changed.rules_version != old.rules_version


def test_changed_center_table_changes_every_process_rules_version(spec, tmp_path):
    folder = copy_bpmn_dir(tmp_path)
    table = folder / "center_eligibility.dmn"
    table.write_text(table.read_text("utf-8").replace("<text>&lt; 80</text>", "<text>&lt; 60</text>"), "utf-8")
    changed = load_spec("center_founding", folder)
    assert rules(verdict(spec, space_area_m2=70)["center_violations"]) == ["space_area"]
    assert verdict(changed, space_area_m2=70)["center_violations"] == []
    retirement, changed_retirement = load_spec("manager_retirement"), load_spec("manager_retirement", folder)
    assert changed_retirement.rules_version != retirement.rules_version  # the tables are shared by all


def test_versions_depend_on_content_not_on_folder(spec, tmp_path):
    copied = load_spec("center_founding", copy_bpmn_dir(tmp_path))
    assert (copied.version, copied.rules_version) == (spec.version, spec.rules_version)
    assert copied is spec


def test_process_change_keeps_rules_version(spec):
    sources = engine.read_sources(BPMN_DIR, "center_founding")
    sources["center_founding.bpmn"] = sources["center_founding.bpmn"].replace("اصلاح درخواست".encode(),
                                                                            "اصلاح مدارک".encode())
    changed = engine.spec_from_sources("center_founding", sources)
    assert changed.version != spec.version
    assert changed.rules_version == spec.rules_version


@pytest.mark.parametrize("facts", [{"space_area_m2": 50}, {"manager_age": 19}, {"manager_current_centers": 1}])
def test_rejected_application_goes_back_to_the_applicant(spec, facts):
    instance = start(spec)
    apply(instance, **facts)
    task = only_task(instance)
    assert (task.name, task.lane, task.title) == ("correct_application", "applicant", "اصلاح درخواست")
    assert instance.awaited_messages() == [] and instance.timers() == []


def test_rejected_change_goes_back_to_the_applicant(change_spec):
    instance = start(change_spec)
    apply(instance, manager_current_centers=1)
    task = only_task(instance)
    assert (task.name, task.lane, task.title, task.form_key) == (
        "correct_change", "applicant", "اصلاح پیشنهاد", "manager_change_application")
