"""Data tables (deadlines.json and other shared JSON files): read, parsed strictly, versioned with the spec."""

import json
import re
import shutil

import pytest
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

import engine
from engine import SpecError, spec_from_sources
from tests.engine.flow import BPMN_DIR, PROCESSES, load_spec, start

FIVE, TEN = {"working_days": 5}, {"working_days": 10}
DEADLINES = {
    "center_founding": {"county_review": FIVE, "inquiries": TEN},
    "manager_change": {"county_review": FIVE, "inquiries": TEN},
    "term_renewal": {"county_review": FIVE, "inquiries": TEN},
    "manager_retirement": {"successor": "P30D"},
    "manager_resignation": {"successor": "P30D"},
    "service_request": {"county_answer": {"working_days": 7}},
}


def sources(**changes: bytes | None) -> dict[str, bytes]:
    found = engine.read_sources(BPMN_DIR, "center_founding")
    for name, body in changes.items():
        name = name.replace("__", ".")
        if body is None:
            found.pop(name, None)
        else:
            found[name] = body
    return found


def test_deadlines_table(spec):
    assert {key: value for key, value in spec.tables["deadlines"].items() if key != "_comment"} == DEADLINES
    assert "deadlines" in spec.tables and len(spec.tables) == len(list(spec.tables))
    assert "deadlines" in repr(spec.tables)


def test_every_process_reads_its_deadlines_and_each_is_working_days_or_an_iso_duration():
    for process in PROCESSES:
        spec = load_spec(process)
        deadlines = spec.tables["deadlines"][process]
        used = set(re.findall(r'deadlines\["(\w+)"\]', (BPMN_DIR / f"{process}.bpmn").read_text("utf-8")))
        assert used == set(deadlines), process
        for value in deadlines.values():
            assert engine.parse_deadline(value) == value["working_days"] if isinstance(value, dict) \
                else TimerEventDefinition.parse_iso_duration(value)


def test_tables_are_copies(spec):
    spec.tables["deadlines"]["center_founding"]["inquiries"] = "P1D"
    del spec.tables["deadlines"]["manager_change"]
    assert spec.tables["deadlines"]["center_founding"]["inquiries"] == TEN
    assert spec.tables["deadlines"]["manager_change"] == DEADLINES["manager_change"]
    with pytest.raises(TypeError):
        spec.tables["deadlines"] = {}  # type: ignore[index]


def test_changed_deadline_is_a_new_version_with_the_same_rules(spec, tmp_path):
    for source in BPMN_DIR.glob("*.*"):
        shutil.copy(source, tmp_path / source.name)
    table = json.loads((tmp_path / "deadlines.json").read_text("utf-8"))
    table["center_founding"]["county_review"] = "P7D"
    (tmp_path / "deadlines.json").write_text(json.dumps(table), "utf-8")
    changed = load_spec("center_founding", tmp_path)
    assert changed.version != spec.version
    assert changed.rules_version == spec.rules_version
    assert changed.tables["deadlines"]["center_founding"]["county_review"] == "P7D"
    # a case started on the old version keeps its deadlines; a new case gets the new ones
    assert start(spec).data()["deadlines"]["county_review"] == FIVE
    assert start(changed).data()["deadlines"]["county_review"] == "P7D"


def test_a_folder_without_tables(tmp_path):
    for source in BPMN_DIR.glob("*.*"):
        if source.suffix != ".json":
            shutil.copy(source, tmp_path / source.name)
    spec = load_spec("manager_retirement", tmp_path)
    assert dict(spec.tables) == {}
    assert sorted(engine.read_sources(tmp_path, "manager_retirement")) == [
        "center_eligibility.dmn", "manager_eligibility.dmn", "manager_retirement.bpmn", "manager_training.dmn",
        "renewal_eligibility.dmn", "site_visit_checklist.dmn"]


def test_tables_below_the_folder_are_not_read(tmp_path):
    for source in BPMN_DIR.glob("*.*"):
        shutil.copy(source, tmp_path / source.name)
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "fixtures.json").write_text("{not json", "utf-8")
    assert "fixtures.json" not in engine.read_sources(tmp_path, "center_founding")


@pytest.mark.parametrize("body, message", [
    (b"{", r"deadlines\.json: not valid JSON: Expecting property name enclosed in double quotes \(line 1, column 2\)"),
    (b"", r"deadlines\.json: not valid JSON: Expecting value"),
    (b'{"a": 1, "a": 2}', r"deadlines\.json: not valid JSON: duplicate key 'a'"),
    (b'{"a": NaN}', r"deadlines\.json: not valid JSON: NaN is not JSON"),
    (b'{"a": -Infinity}', r"deadlines\.json: not valid JSON: -Infinity is not JSON"),
    (b'{"a": "\xff"}', r"deadlines\.json: not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, r"deadlines\.json: not valid JSON"),
])
def test_invalid_json_is_a_spec_error(body, message):
    with pytest.raises(SpecError, match=message):
        spec_from_sources("center_founding", sources(deadlines__json=body))


@pytest.mark.parametrize("name", ["dead-lines.json", "1st.json", "_private.json", ".json"])
def test_table_names_must_be_simple(name):
    with pytest.raises(SpecError, match="a table's file name must be a letter then letters, digits or _"):
        spec_from_sources("center_founding", {**sources(), name: b"{}"})


def test_any_json_value_is_a_table():
    spec = spec_from_sources("center_founding", {**sources(), "limits.json": b'[1, "two", null, true]'})
    assert spec.tables["limits"] == [1, "two", None, True]


def test_what_is_derived_from_a_versions_tables_is_made_once():
    made = []

    def read(tables):
        made.append(1)
        return [tables["terms"]["manager_term_years"]]
    tables = engine.JsonTables({"terms": {"manager_term_years": 4}})
    assert tables.derived(read) == [4] and tables.derived(read) is tables.derived(read) and len(made) == 1
    assert engine.JsonTables({"terms": {"manager_term_years": 8}}).derived(read) == [8] and len(made) == 2  # per tables
