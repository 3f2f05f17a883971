"""Instances: start, user tasks, refusals that change nothing, and reloadable state (routes: test_engine_processes)."""

import json
import uuid

import pytest

import engine
from engine import Instance, LaneMismatch, StateError, TaskNotFound, TaskNotReady
from tests.engine.flow import (
    BPMN_DIR,
    ELIGIBLE,
    NOW,
    act,
    apply,
    decide,
    load_spec,
    only_task,
    reach_county_review,
    start,
)

START_VARIABLES = {"deadlines": {"county_review": {"working_days": 5}, "inquiries": {"working_days": 10}},
                   "initiator": "applicant"}


def test_start_waits_for_the_application(spec):
    instance = start(spec)
    task = only_task(instance)
    uuid.UUID(task.id)
    assert (task.name, task.title, task.lane, task.form_key, task.data_key) == (
        "submit_application", "ثبت درخواست تأسیس کانون", "applicant", "founding_application", "application")
    assert not instance.is_completed() and instance.end_event() is None
    assert instance.data() == START_VARIABLES
    assert instance.awaited_messages() == [] and instance.timers() == []


def test_start_without_variables(spec):
    instance = Instance.start(spec)
    assert instance.data() == {}
    assert only_task(instance).name == "submit_application"
    # the inquiries' deadline needs the deadlines: a start without them fails there, as an expression error
    with pytest.raises(engine.ExpressionError, match="name 'deadlines' is not defined"):
        apply(instance)


@pytest.mark.parametrize("variables, message", [
    ([1], "variables must be a dict"),
    ({"deadlines": {"inquiries": 10.5}}, r"variables.deadlines.inquiries: float values"),
    ({"typename": "x"}, "the key 'typename' is reserved"),
    ({"when": NOW}, "variables.when: datetime values"),
])
def test_start_variables_must_be_json_safe(spec, variables, message):
    with pytest.raises(StateError, match=message):
        Instance.start(spec, variables)


def test_start_variables_are_copied(spec):
    variables = {"deadlines": spec.tables["deadlines"]["center_founding"], "initiator": "office"}
    instance = Instance.start(spec, variables)
    variables["deadlines"]["inquiries"] = "P1D"
    variables["initiator"] = "applicant"
    assert instance.data() == {**START_VARIABLES, "initiator": "office"}


def test_review_tasks_carry_their_forms(spec):
    instance = reach_county_review(spec)
    county = only_task(instance)
    assert (county.name, county.title, county.lane, county.form_key, county.data_key) == (
        "county_review", "بررسی اداره شهرستان", "county", "review_decision", "county_review")
    decide(instance, "county_review", "approve")
    province = only_task(instance)
    assert (province.name, province.title, province.lane, province.form_key, province.data_key) == (
        "province_review", "بررسی و تصمیم استان", "province", "review_decision", "province_review")


SPEC_TASKS = {
    "center_founding": {
        "submit_application": ("applicant", "founding_application", "application", "ثبت درخواست تأسیس کانون"),
        "correct_application": ("applicant", "founding_application", "application", "اصلاح درخواست"),
        "schedule_visit": ("county", "visit_schedule", "visit_schedule", "تعیین زمان بازدید میدانی و کارشناس"),
        "site_visit": ("county", "site_visit", "visit", "بازدید میدانی از فضای کانون"),
        "county_review": ("county", "review_decision", "county_review", "بررسی اداره شهرستان"),
        "escalated_county_review": ("province", "review_decision", "county_review",
                                    "بررسی به‌جای اداره شهرستان (تأخیر)"),
        "province_review": ("province", "review_decision", "province_review", "بررسی و تصمیم استان"),
    },
    "manager_change": {
        "submit_change": ("applicant", "manager_change_application", "application", "پیشنهاد مدیر جدید"),
        "correct_change": ("applicant", "manager_change_application", "application", "اصلاح پیشنهاد"),
        "schedule_visit": ("county", "visit_schedule", "visit_schedule", "تعیین زمان بازدید میدانی و کارشناس"),
        "site_visit": ("county", "site_visit", "visit", "بازدید میدانی از فضای کانون"),
        "county_review": ("county", "review_decision", "county_review", "بررسی اداره شهرستان"),
        "escalated_county_review": ("province", "review_decision", "county_review",
                                    "بررسی به‌جای اداره شهرستان (تأخیر)"),
        "province_review": ("province", "review_decision", "province_review", "تأیید نهایی استان"),
    },
    "manager_retirement": {
        "office_request": ("county", "term_end_request", "request", "اعلام بازنشستگی از سوی اداره"),
        "submit_request": ("applicant", "term_end_request", "request", "درخواست بازنشستگی"),
        "county_acknowledge": ("county", "term_end_acknowledgement", "acknowledgement", "ثبت و تأیید دریافت"),
        "name_interim": ("county", "interim_appointment", "interim", "تعیین سرپرست (تأخیر در معرفی جانشین)"),
    },
    "manager_resignation": {
        "submit_request": ("applicant", "term_end_request", "request", "درخواست استعفا"),
        "county_acknowledge": ("county", "term_end_acknowledgement", "acknowledgement", "ثبت و تأیید دریافت"),
        "name_interim": ("county", "interim_appointment", "interim", "تعیین سرپرست (تأخیر در معرفی جانشین)"),
    },
}
SPEC_ENDS = {
    "center_founding": {"license_issued": "صدور مجوز", "rejected_by_county": "رد در شهرستان",
                        "rejected_by_province": "رد در استان"},
    "manager_change": {"manager_appointed": "انتصاب مدیر جدید", "rejected_by_county": "رد در شهرستان",
                       "rejected_by_province": "رد در استان"},
    "manager_retirement": {"interim_appointed": "انتصاب سرپرست", "successor_appointed": "انتصاب جانشین"},
    "manager_resignation": {"interim_appointed": "انتصاب سرپرست", "successor_appointed": "انتصاب جانشین"},
}
RESETS = ("manager_training", "inquiry_results", "visit_schedule", "visit", "visit_violations", "county_review", "province_review")


@pytest.mark.parametrize("process", SPEC_TASKS)
def test_spec_metadata(process):
    spec = load_spec(process)
    assert spec.process_key == process
    assert {name: (task.lane, task.form_key, task.data_key, task.title)
            for name, task in spec.user_tasks.items()} == SPEC_TASKS[process]
    assert {name: end.title for name, end in spec.end_events.items()} == SPEC_ENDS[process]
    assert {name: task.resets for name, task in spec.user_tasks.items() if task.resets} == (
        {"correct_application": RESETS} if process == "center_founding"
        else {"correct_change": RESETS} if process == "manager_change" else {})
    assert len(spec.version) == 64 and len(spec.rules_version) == 64
    assert spec.rules_version == load_spec().rules_version  # every process carries both rule tables


def test_versions_differ_between_processes():
    versions = {load_spec(process).version for process in SPEC_TASKS}
    assert len(versions) == len(SPEC_TASKS)


def test_spec_cache_returns_the_same_object(spec):
    assert load_spec() is spec
    assert engine.spec_from_sources("center_founding", engine.read_sources(BPMN_DIR, "center_founding")) is spec


# --- refusals: each leaves the instance exactly as it was -------------------------------------

def refused(instance: Instance, error: type, task_id: str, variables: dict, lane: str, match: str) -> None:
    before = instance.serialize()
    with pytest.raises(error, match=match):
        instance.complete(task_id, variables, lane=lane)
    assert instance.serialize() == before


def test_future_task_is_refused(spec):
    instance = reach_county_review(spec)
    [future] = instance._workflow.get_tasks(spec_name="province_review")
    refused(instance, TaskNotReady, str(future.id), {"decision": "approve"}, "province",
            "task 'province_review' is MAYBE, not READY")
    decide(instance, "county_review", "approve")  # and the flow goes on normally
    assert only_task(instance).name == "province_review"


def test_task_in_another_lane_is_refused(spec):
    instance = reach_county_review(spec)
    task = only_task(instance)
    refused(instance, LaneMismatch, task.id, {"decision": "approve"}, "province",
            "task 'county_review' belongs to lane 'county', not 'province'")
    refused(instance, LaneMismatch, task.id, {"decision": "approve"}, "applicant", "belongs to lane 'county'")


@pytest.mark.parametrize("task_id", ["3f2b6c1e-8d4a-4b9e-a1c7-5e0f9d2b7a61", "not-a-uuid", "", "00000000-0000-0000-0000-000000000000"])
def test_unknown_task_is_refused(spec, task_id):
    instance = start(spec)
    refused(instance, TaskNotFound, task_id, {}, "applicant", "task")


def test_engine_task_is_not_a_user_task(spec):
    instance = start(spec)
    [gateway] = instance._workflow.get_tasks(spec_name="Gateway_merge")
    refused(instance, TaskNotFound, str(gateway.id), {}, "applicant", "no user task with id")


def test_stale_task_is_refused(spec):
    instance = start(spec)
    first = only_task(instance)
    apply(instance)
    refused(instance, TaskNotReady, first.id, {"facts": ELIGIBLE}, "applicant",
            "task 'submit_application' is COMPLETED, not READY")
    # the same stale id after a reload, as a second browser tab would send it
    reloaded = Instance.load(spec, instance.serialize())
    refused(reloaded, TaskNotReady, first.id, {"facts": ELIGIBLE}, "applicant", "COMPLETED")


def test_task_ids_survive_reload(spec):
    instance = start(spec)
    apply(instance)
    assert Instance.load(spec, instance.serialize()).ready_user_tasks() == instance.ready_user_tasks()


@pytest.mark.parametrize("variables, message", [
    ({"facts": {**ELIGIBLE, "space_area_m2": 80.5}}, r"variables.facts.space_area_m2: float values"),
    ({"facts": ELIGIBLE, "when": (1, 2)}, "variables.when: tuple values"),
    ({"facts": ELIGIBLE, "tags": {"a"}}, "variables.tags: set values"),
    ({"facts": ELIGIBLE, "blob": b"x"}, "variables.blob: bytes values"),
    ({"facts": ELIGIBLE, "id": uuid.uuid4()}, "variables.id: UUID values"),
    ({"facts": ELIGIBLE, 1: "x"}, "variables: key 1 is not a string"),
    ({"facts": ELIGIBLE, "docs": [{"typename": "BpmnWorkflow"}]}, r"variables.docs\[0\]: the key 'typename'"),
    ({"typename": "x"}, "variables: the key 'typename'"),
    ({"deep": json.loads("[" * 40 + "]" * 40)}, "nested deeper than"),
])
def test_variables_must_be_json_safe(spec, variables, message):
    instance = start(spec)
    refused(instance, StateError, only_task(instance).id, variables, "applicant", message)


def test_variables_must_be_a_dict(spec):
    instance = start(spec)
    refused(instance, StateError, only_task(instance).id, [1], "applicant", "variables must be a dict")  # type: ignore[arg-type]


def test_variables_are_copied(spec):
    instance = start(spec)
    facts = dict(ELIGIBLE)
    act(instance, "submit_application", {"facts": facts})
    facts["manager_age"] = 99
    assert instance.data()["application"]["facts"]["manager_age"] == ELIGIBLE["manager_age"]
    instance.data()["application"]["facts"]["manager_age"] = 99
    assert instance.data()["application"]["facts"]["manager_age"] == ELIGIBLE["manager_age"]


def test_task_without_data_key_merges_variables(spec):
    """A user task with no dataKey property gets the variables merged into its data."""
    sources = engine.read_sources(BPMN_DIR, "center_founding")
    sources["center_founding.bpmn"] = sources["center_founding.bpmn"].replace(
        b'<spiffworkflow:property name="dataKey" value="county_review" />', b"")
    sources["center_founding.bpmn"] = sources["center_founding.bpmn"].replace(
        b'county_review["decision"]', b'decision')
    merged = engine.spec_from_sources("center_founding", sources)
    assert merged.user_tasks["escalated_county_review"].data_key is None
    instance = reach_county_review(merged)
    assert only_task(instance).data_key is None
    decide(instance, "county_review", "approve")
    assert instance.data()["decision"] == "approve" and "county_review" not in instance.data()
    assert only_task(instance).name == "province_review"


# --- failures during engine steps ------------------------------------------------------------------

def test_failed_step_raises_engine_error_and_the_instance_is_discarded(spec):
    instance = start(spec)
    saved = instance.serialize()
    task = only_task(instance)
    with pytest.raises(engine.ExpressionError, match="KeyError: 'space_area_m2'"):
        instance.complete(task.id, {"facts": {k: v for k, v in ELIGIBLE.items() if k != "space_area_m2"}},
                          lane="applicant")
    with pytest.raises(StateError, match="discard it and load the last saved state"):
        instance.serialize()
    with pytest.raises(StateError):
        instance.ready_user_tasks()
    retry = Instance.load(spec, saved)
    apply(retry)
    assert retry.awaited_messages() == ["inquiries_complete"]


def test_gateway_error_is_an_engine_error(spec):
    """A review form without a decision makes the gateway condition fail: EngineError, not a Spiff trace."""
    instance = reach_county_review(spec)
    with pytest.raises(engine.ExpressionError, match=r"KeyError: 'decision'"):
        act(instance, "county_review", {"reason": "no decision"})


# --- serialized state ----------------------------------------------------------------------------------

def test_state_leaves_the_spec_out_and_names_its_format(spec):
    instance = start(spec)
    state = json.loads(instance.serialize())
    assert "spec" not in state and "subprocess_specs" not in state
    assert state["serializer_version"] == engine.SERIALIZER_VERSION == "spiff-1.5+nospec"
    assert (state["process_key"], state["spec_version"]) == ("center_founding", spec.version)


def test_loaded_instance_uses_the_restricted_engine(spec):
    loaded = Instance.load(spec, start(spec).serialize())
    assert isinstance(loaded._workflow.script_engine, engine.RestrictedScriptEngine)


def test_state_for_another_spec_is_refused(spec):
    sources = engine.read_sources(BPMN_DIR, "center_founding")
    sources["center_founding.bpmn"] += b"\n<!-- changed -->\n"
    other = engine.spec_from_sources("center_founding", sources)
    with pytest.raises(StateError, match="state belongs to process 'center_founding' version"):
        Instance.load(other, start(spec).serialize())


@pytest.mark.parametrize("state, message", [
    ("not json", "state is not JSON"),
    ("[]", "state is not a JSON object"),
    ('{"serializer_version": "1.5"}', "written in format '1.5'"),
    ("{}", "written in format None"),
])
def test_bad_state_is_refused(spec, state, message):
    with pytest.raises(StateError, match=message):
        Instance.load(spec, state)


def test_damaged_state_is_a_state_error(spec):
    state = json.loads(start(spec).serialize())
    del state["tasks"]
    with pytest.raises(StateError, match="cannot restore state: KeyError"):
        Instance.load(spec, json.dumps(state))


def test_strings_shaped_like_uuids_and_datetimes_stay_strings(spec):
    extra = {"u": str(uuid.uuid4()), "d": "2024-01-01T00:00:00", "v": {"value": "x"}}
    instance = start(spec)
    act(instance, "submit_application", {"facts": ELIGIBLE, **extra})
    loaded = Instance.load(spec, instance.serialize())
    assert loaded.data()["application"] == {"facts": ELIGIBLE, **extra}
