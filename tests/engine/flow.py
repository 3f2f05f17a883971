"""Helpers that drive center_founding through the engine the way the application does."""

from pathlib import Path

import engine

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"

#: A process with a script task: refused at parse time, and at run time if the parse check is skipped.
SCRIPT_PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="scripted" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="script"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>import os</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="script"/>
    <bpmn:sequenceFlow id="f2" sourceRef="script" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""

#: Facts that satisfy every rule of manager_eligibility.
ELIGIBLE = {
    "manager_age": 30,
    "manager_education": "bachelor",
    "manager_gender": "female",
    "founding_board_size": 5,
    "space_area_m2": 120,
    "space_distance_m": 0,
}


def load_spec() -> engine.ProcessSpec:
    return engine.spec_from_sources("center_founding", engine.read_sources(BPMN_DIR, "center_founding"))


def only_task(instance: engine.Instance) -> engine.UserTask:
    tasks = instance.ready_user_tasks()
    assert len(tasks) == 1, tasks
    return tasks[0]


def act(instance: engine.Instance, name: str, variables: dict) -> None:
    """Complete the single ready task, which must be `name`, as its own lane."""
    task = only_task(instance)
    assert task.name == name
    instance.complete(task.id, variables, lane=task.lane)


def apply(instance: engine.Instance, name: str = "submit_application", **changes: object) -> None:
    act(instance, name, {"facts": {**ELIGIBLE, **changes}})


def decide(instance: engine.Instance, name: str, decision: str) -> None:
    act(instance, name, {"decision": decision, "reason": "", "note": ""})


def violations(spec: engine.ProcessSpec, **changes: object) -> list[dict]:
    """Submit an application with the given facts and return the rule table's verdict."""
    instance = engine.Instance.start(spec)
    apply(instance, **changes)
    return instance.data()["eligibility_violations"]
