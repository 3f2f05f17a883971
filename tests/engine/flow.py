"""Helpers that drive the processes through the engine the way the application does."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import engine
from engine import Instance

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"

PROCESSES = ("center_founding", "manager_change", "manager_retirement", "manager_resignation")

#: The moment every test case starts at (1404/01/01 at 08:00 in Tehran).
NOW = datetime(2025, 3, 21, 4, 30, tzinfo=timezone.utc)
#: How far the clock moves between two steps of a path.
STEP = timedelta(hours=1)

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

#: Facts about a proposed manager that satisfy every rule of manager_eligibility.
MANAGER_ELIGIBLE = {
    "manager_age": 30,
    "manager_education": "bachelor",
    "manager_gender": "female",
    "manager_current_centers": 0,
}
#: Facts that satisfy every rule of center_eligibility and manager_eligibility.
ELIGIBLE = {
    **MANAGER_ELIGIBLE,
    "founding_board_size": 5,
    "space_area_m2": 120,
    "space_distance_m": 0,
}
#: The application's facts per process.
FACTS = {"center_founding": ELIGIBLE, "manager_change": MANAGER_ELIGIBLE}
#: The applicant's first and corrected submissions per process.
SUBMIT = {"center_founding": "submit_application", "manager_change": "submit_change"}
CORRECT = {"center_founding": "correct_application", "manager_change": "correct_change"}

#: What the application sends when every inquiry of a round is answered.
INQUIRIES_CLEAR = {"all_clear": True, "results": [{"kind": "criminal_record", "result": "clear", "reference": "r-1"}]}
#: The county's schedule of a site visit, and checklists that pass and fail (site_visit_checklist).
SCHEDULE = {"expert": "arak_officer", "visit_date": "2025-03-25"}
VISIT_PASSES = {"facts": {"visit_area_m2": 120, "visit_distance_m": 0, "visit_lighting": True,
                          "visit_fire_extinguisher": True, "visit_imam_present": True}}
VISIT_FAILS = {"facts": {**VISIT_PASSES["facts"], "visit_area_m2": 79, "visit_imam_present": False}}
#: Forms of the term-end processes.
REQUEST = {"reason": "بازنشستگی", "effective_date": "2025-04-20"}
ACK_INTERIM = {"continuity": "interim", "interim": {"national_id": "0012345679", "name": "سرپرست"}}
ACK_SUCCESSOR = {"continuity": "successor", "interim": None}
INTERIM = {"interim": {"national_id": "0012345679", "name": "سرپرست"}}
SUCCESSOR = {"case_id": "c-123"}


def load_spec(process_key: str = "center_founding", bpmn_dir: Path = BPMN_DIR) -> engine.ProcessSpec:
    return engine.spec_from_sources(process_key, engine.read_sources(bpmn_dir, process_key))


class EveryDayCalendar:
    """A working calendar where every day is a working day and a working day lasts 24 hours: the
    procedures' working-day deadlines fall N days after their start, as calendar days would."""

    def add_working_days(self, start: datetime, days: int) -> datetime:
        return start + timedelta(days=days)


def start(spec: engine.ProcessSpec, *, initiator: str = "applicant", now: datetime | None = NOW,
          **extra: Any) -> Instance:
    """Start as the application does: the process's deadlines from the spec's table, and who started it."""
    variables = {"deadlines": spec.tables["deadlines"][spec.process_key], "initiator": initiator, **extra}
    return Instance.start(spec, variables, now=now)


def only_task(instance: Instance) -> engine.UserTask:
    tasks = instance.ready_user_tasks()
    assert len(tasks) == 1, tasks
    return tasks[0]


def act(instance: Instance, name: str, variables: dict, now: datetime | None = None) -> None:
    """Complete the single ready task, which must be `name`, as its own lane."""
    task = only_task(instance)
    assert task.name == name
    instance.complete(task.id, variables, lane=task.lane, now=now)


def apply(instance: Instance, name: str | None = None, now: datetime | None = None, **changes: object) -> None:
    """Submit (or correct) the application with its process's eligible facts, changed as given."""
    key = instance.spec.process_key
    name = name or SUBMIT[key]
    act(instance, name, {"facts": {**FACTS[key], **changes}}, now)


def decide(instance: Instance, name: str, decision: str, now: datetime | None = None) -> None:
    act(instance, name, {"decision": decision, "reason": "", "note": ""}, now)


def reach_inquiries(spec: engine.ProcessSpec, now: datetime = NOW) -> Instance:
    """An instance whose eligible application waits for its inquiries."""
    instance = start(spec, now=now)
    apply(instance, now=now)
    assert instance.awaited_messages() == ["inquiries_complete"]
    return instance


def reach_county_review(spec: engine.ProcessSpec, now: datetime = NOW) -> Instance:
    """An instance whose inquiries were answered and whose site visit was scheduled and passed at `now`:
    the county review waits, its deadline running."""
    instance = reach_inquiries(spec, now)
    instance.send_message("inquiries_complete", INQUIRIES_CLEAR, now=now)
    visit(instance, now)
    assert only_task(instance).name == "county_review"
    return instance


def visit(instance: Instance, now: datetime | None = None) -> None:
    """The county schedules the site visit and its expert passes it, both at ``now``."""
    act(instance, "schedule_visit", SCHEDULE, now)
    act(instance, "site_visit", VISIT_PASSES, now)


def verdict(spec: engine.ProcessSpec, **changes: object) -> dict[str, list[dict]]:
    """Submit an application with the given facts and return the rule tables' outputs."""
    instance = start(spec)
    apply(instance, **changes)
    data = instance.data()
    return {name: data[name] for name in ("center_violations", "manager_violations") if name in data}


def fire(instance: Instance, name: str) -> datetime:
    """Fire the waiting timer `name` exactly at its due time, checking it fires then and only once."""
    [wait] = [wait for wait in instance.timers() if wait.name == name]
    assert instance.fire_due_timers(wait.fire_at - timedelta(microseconds=1)) == []
    assert instance.fire_due_timers(wait.fire_at) == [name]
    assert instance.fire_due_timers(wait.fire_at) == []
    assert name not in [each.name for each in instance.timers()]
    return wait.fire_at


@dataclass
class Route:
    """A route through a process: steps, the end event it reaches, who starts it."""

    steps: list[tuple[str, Any]]
    end: str
    initiator: str = "applicant"


@dataclass
class Played:
    instance: Instance
    #: Before each step: (ready user tasks, awaited messages, waiting timers with their due times).
    waits: list[tuple] = field(default_factory=list)


def snapshot(instance: Instance) -> tuple:
    return (tuple(task.name for task in instance.ready_user_tasks()), tuple(instance.awaited_messages()),
            tuple((wait.name, wait.fire_at, wait.attached_to) for wait in instance.timers()))


def play(spec: engine.ProcessSpec, route: Route, *, reload: bool) -> Played:
    """Play a route, optionally through serialize/load between every step (and at the end).

    Steps: ("submit" | "correct", fact changes), (review task, decision), (other user task, form),
    ("message:<name>", payload), ("timer:<name>", None). The clock moves one STEP per user action
    and to the due time for a timer, which must fire then and exactly once.
    """
    now = NOW
    played = Played(start(spec, initiator=route.initiator, now=now))
    for step, value in route.steps:
        if reload:
            played.instance = Instance.load(spec, played.instance.serialize())
        instance = played.instance
        played.waits.append(snapshot(instance))
        if step.startswith("timer:"):
            now = fire(instance, step.removeprefix("timer:"))
            continue
        now += STEP
        if step.startswith("message:"):
            instance.send_message(step.removeprefix("message:"), value, now=now)
        elif step == "submit":
            apply(instance, SUBMIT[spec.process_key], now, **value)
        elif step == "correct":
            apply(instance, CORRECT[spec.process_key], now, **value)
        elif isinstance(value, str):
            decide(instance, step, value, now)
        else:
            act(instance, step, value, now)
    if reload:
        played.instance = Instance.load(spec, played.instance.serialize())
    return played
