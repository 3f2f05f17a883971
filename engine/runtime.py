"""Running process instances: start, complete user tasks, catch messages, fire timers, serialize and load.

An Instance wraps one SpiffWorkflow BpmnWorkflow. The serialized state leaves the
process specs out; `Instance.load` injects the cached, parsed ProcessSpec instead, and
sets the restricted script engine again (Spiff does not serialize script engines).

Time: every call that moves the instance takes an optional aware `now` (the real clock when
omitted). A timer's due time is fixed from the `now` of the call during which its wait began,
and a timer fires only in `fire_due_timers`, never by itself in another call (see events.py).
"""

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_SERIALIZER_VERSION
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent, EventBasedGateway
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from .errors import (
    EngineError,
    ExpressionError,
    LaneMismatch,
    MessageNotAwaited,
    StateError,
    TaskNotFound,
    TaskNotReady,
)
from .events import clock, event_definitions, register_clocked_timers, timer_definitions, working_due
from .expressions import RestrictedScriptEngine
from .specs import ProcessSpec

__all__ = ["MAX_DATA_DEPTH", "MAX_FIRING_ROUNDS", "SERIALIZER_VERSION", "Instance", "MoveObstacle", "TimerWait",
           "UserTask"]

#: Format of serialized state: Spiff's serializer format, without the specs in it.
SERIALIZER_VERSION = f"spiff-{SPIFF_SERIALIZER_VERSION}+nospec"
#: Formats written by older Spiff serializers that Spiff's own migrations upgrade on load.
_UPGRADABLE = {f"spiff-{version}+nospec": version for version in MIGRATIONS}

#: Deepest nesting of lists and dicts accepted in submitted variables.
MAX_DATA_DEPTH = 32

#: Most rounds `fire_due_timers` runs (a fired timer may start another that is already due).
MAX_FIRING_ROUNDS = 100

_VERSION_KEY = BpmnWorkflowSerializer.VERSION_KEY
_SCRIPT_ENGINE = RestrictedScriptEngine()  # stateless: one is enough for every workflow


@dataclass(frozen=True)
class UserTask:
    """A user task waiting to be completed."""

    #: The task's id in this instance (a UUID string); pass it to `Instance.complete`.
    id: str
    #: BPMN id of the task, e.g. "county_review".
    name: str
    #: The task's BPMN name attribute (Persian).
    title: str
    #: Name attribute of the task's lane, e.g. "county".
    lane: str
    #: Key of the form that completes the task.
    form_key: str
    #: Variable that receives the submitted form; None merges it into the task data.
    data_key: str | None


@dataclass(frozen=True)
class MoveObstacle:
    """Why an instance cannot move to another version of its process (`Instance.move_obstacles`)."""

    #: "removed": the element is not in the other version (under the same BPMN id);
    #: "kind_changed": it is there, but as another kind of element; "subprocess": the instance runs a subprocess
    code: str
    #: BPMN id of the element the instance waits on
    element: str
    #: kind of the element in this version (Spiff's class name, e.g. "UserTask")
    kind: str


@dataclass(frozen=True)
class TimerWait:
    """A timer the instance is waiting on."""

    #: Id of the waiting task in this instance (for a timer after an event-based gateway, the gateway's).
    task_id: str
    #: BPMN id of the timer event, e.g. "county_overdue".
    name: str
    #: When the timer falls due (aware, UTC); `fire_due_timers(now)` fires it once now >= fire_at.
    fire_at: datetime
    #: BPMN id of the user task a boundary timer is attached to; None for an intermediate timer.
    attached_to: str | None
    #: For a deadline in working days: how many (counted from when the wait began); None: calendar time.
    working_days: int | None = None


class Instance:
    """One running process instance. State goes out only through `serialize()`."""

    def __init__(self, spec: ProcessSpec, workflow: BpmnWorkflow) -> None:
        """Wrap a workflow; use `start` or `load` instead."""
        self.spec = spec
        self._workflow = workflow
        self._failed = False

    @classmethod
    def start(cls, spec: ProcessSpec, variables: dict[str, Any] | None = None, *,
              now: datetime | None = None) -> "Instance":
        """Create an instance with initial process data (JSON-safe) and run it to its first wait."""
        if variables is None:
            variables = {}
        if not isinstance(variables, dict):
            raise StateError(f"variables must be a dict, not {type(variables).__name__}")
        data = _json_safe(variables, "variables", 0)
        moment = _aware(now)
        workflow = BpmnWorkflow(spec.spec, dict(spec.subprocess_specs), script_engine=_SCRIPT_ENGINE)
        workflow.task_tree.data.update(data)
        instance = cls(spec, workflow)
        instance._step(workflow.do_engine_steps, moment)
        return instance

    @classmethod
    def load(cls, spec: ProcessSpec, state: str) -> "Instance":
        """Restore an instance from `serialize()` output, with the spec it was started on."""
        try:
            dct = json.loads(state)
        except (TypeError, ValueError) as exc:
            raise StateError(f"state is not JSON: {exc}") from None
        if not isinstance(dct, dict):
            raise StateError("state is not a JSON object")
        version = dct.pop(_VERSION_KEY, None)
        if version in _UPGRADABLE:
            dct = _upgrade(dct, _UPGRADABLE[version], spec)
        elif version != SERIALIZER_VERSION:
            raise StateError(f"state was written in format {version!r}; this engine reads {SERIALIZER_VERSION!r}"
                             f" and upgrades {', '.join(map(repr, sorted(_UPGRADABLE))) or 'nothing'}")
        written_for = (dct.pop("process_key", None), dct.pop("spec_version", None))
        if written_for != (spec.process_key, spec.version):
            raise StateError(f"state belongs to process {written_for[0]!r} version {written_for[1]!r}, "
                             f"not {spec.process_key!r} version {spec.version!r}")
        try:
            workflow = _SERIALIZER.from_dict(dct, spec=spec.spec, subprocess_specs=dict(spec.subprocess_specs))
        except Exception as exc:  # any defect of stored state is a state error
            raise StateError(f"cannot restore state: {type(exc).__name__}: {exc}") from None
        workflow.script_engine = _SCRIPT_ENGINE
        return cls(spec, workflow)

    def serialize(self) -> str:
        """Return the instance's state as JSON (without the process specs)."""
        self._check_usable()
        dct = _SERIALIZER.to_dict(self._workflow)
        dct.update({
            _VERSION_KEY: SERIALIZER_VERSION,
            "process_key": self.spec.process_key,
            "spec_version": self.spec.version,
        })
        return json.dumps(dct, cls=_SERIALIZER.encoder_cls, ensure_ascii=False, separators=(",", ":"))

    def move_obstacles(self, other: ProcessSpec) -> list[MoveObstacle]:
        """What keeps this instance from moving to `other` (another version of its process); [] when it can.

        Everything the instance waits on now (its ready user tasks, the catch events, boundary events and
        event-based gateways that wait, and the events such a gateway waits for) must be in `other` under
        the same BPMN id and as the same kind of element. Elements are matched by Spiff's own spec diff.
        """
        self._check_usable()
        if self._workflow.subprocesses:
            return [MoveObstacle("subprocess", self.spec.process_key, "SubWorkflow")]
        diff, _ = diff_workflow(_SERIALIZER.registry, self._workflow, other.spec, dict(other.subprocess_specs))
        aligned = {task.task_spec: spec for task, spec in diff.alignment.items()}
        obstacles = []
        for task_spec in self._waited_specs():
            new = aligned.get(task_spec, other.spec.task_specs.get(task_spec.name))
            kind = type(task_spec).__name__
            if new is None or new.bpmn_id != task_spec.bpmn_id:
                obstacles.append(MoveObstacle("removed", task_spec.bpmn_id, kind))
            elif type(new).__name__ != kind:
                obstacles.append(MoveObstacle("kind_changed", task_spec.bpmn_id, kind))
        return obstacles

    def moved_to(self, other: ProcessSpec) -> "Instance":
        """This instance moved to `other` (see `move_obstacles`, which must be empty), as a new Instance.

        Spiff's `migrate_workflow` points every task at its counterpart in `other` and re-predicts the
        waiting branches; the timers keep the due times they had (a move does not restart a deadline),
        and the tasks keep their ids. This instance is left as it was.
        """
        obstacles = self.move_obstacles(other)
        if obstacles:
            raise StateError(f"cannot move to version {other.version!r}: "
                             + ", ".join(f"{o.element} ({o.code})" for o in obstacles))
        dct = _SERIALIZER.to_dict(self._workflow)  # a copy to migrate; this instance stays usable
        workflow = _SERIALIZER.from_dict(dct, spec=self.spec.spec, subprocess_specs=dict(self.spec.subprocess_specs))
        workflow.script_engine = _SCRIPT_ENGINE
        waiting = {task.id: copy.deepcopy(task.internal_data)
                   for task in workflow.get_tasks(state=TaskState.WAITING | TaskState.READY)}
        diff, _ = diff_workflow(_SERIALIZER.registry, workflow, other.spec, dict(other.subprocess_specs))
        try:
            with clock(None):
                migrate_workflow(diff, workflow, other.spec)
                workflow.subprocess_specs = dict(other.subprocess_specs)
                for task_id, internal in waiting.items():
                    task = workflow.tasks.get(task_id)
                    if task is not None:
                        task.internal_data = internal
        except Exception as exc:
            raise _engine_error(exc) from exc
        moved = Instance(other, workflow)
        Instance.load(other, moved.serialize())  # what is saved must load against the new version
        return moved

    def _waited_specs(self) -> list[Any]:
        specs = [task.task_spec for task in self._workflow.get_tasks(state=TaskState.READY, manual=True)]
        for task in self._waiting_event_tasks():
            specs.append(task.task_spec)
            if isinstance(task.task_spec, EventBasedGateway):
                specs.extend(task.task_spec.outputs)  # an event-based gateway waits for the events after it
        return list(dict.fromkeys(specs))

    def ready_user_tasks(self) -> list[UserTask]:
        """Return the user tasks waiting to be completed."""
        self._check_usable()
        return [self._describe(task) for task in self._workflow.get_tasks(state=TaskState.READY, manual=True)]

    def complete(self, task_id: str, variables: dict[str, Any], *, lane: str, now: datetime | None = None) -> None:
        """Complete a ready user task of the given lane with form variables, then run to the next wait.

        The variables the task's `resets` property names are removed from the process data first.
        """
        self._check_usable()
        task = self._find_user_task(task_id)
        described = self._describe(task)
        if described.lane != lane:
            raise LaneMismatch(f"task {described.name!r} belongs to lane {described.lane!r}, not {lane!r}")
        if task.state != TaskState.READY:
            raise TaskNotReady(f"task {described.name!r} is {TaskState.get_name(task.state)}, not READY")
        if not isinstance(variables, dict):
            raise StateError(f"variables must be a dict, not {type(variables).__name__}")
        data = _json_safe(variables, "variables", 0)
        moment = _aware(now)
        resets = self.spec.user_tasks[described.name].resets

        def run() -> None:
            for name in resets:
                task.data.pop(name, None)
            if described.data_key is None:
                task.data.update(data)
            else:
                task.data[described.data_key] = data
            task.run()
            self._workflow.do_engine_steps()

        self._step(run, moment)

    def awaited_messages(self) -> list[str]:
        """Return the names of the messages that waiting catch events would receive now, sorted."""
        self._check_usable()
        return sorted({definition.name for task in self._waiting_event_tasks()
                       for definition in event_definitions(task.task_spec)
                       if isinstance(definition, MessageEventDefinition)})

    def send_message(self, name: str, payload: dict[str, Any], *, now: datetime | None = None) -> None:
        """Deliver a message with a JSON-safe payload to the event waiting for it, then run to the next wait.

        The payload becomes the variable named by the catch event's spiffworkflow:messageVariable.
        Raises MessageNotAwaited, changing nothing, when no event waits for the message.
        """
        self._check_usable()
        if not isinstance(name, str):
            raise StateError(f"a message name must be a string, not {type(name).__name__}")
        if not isinstance(payload, dict):
            raise StateError(f"payload must be a dict, not {type(payload).__name__}")
        data = _json_safe(payload, "payload", 0)
        moment = _aware(now)
        awaited = self.awaited_messages()
        if name not in awaited:
            raise MessageNotAwaited(f"no event waits for message {name!r} "
                                    f"(waiting for: {', '.join(map(repr, awaited)) or 'no message'})")
        event = BpmnEvent(MessageEventDefinition(name), payload=data)

        def run() -> None:
            self._workflow.send_event(event)
            self._workflow.do_engine_steps()

        self._step(run, moment)

    def timers(self) -> list[TimerWait]:
        """Return the timers the instance waits on, earliest first."""
        self._check_usable()
        return [wait for wait, _ in self._timer_waits()]

    def fire_due_timers(self, now: datetime) -> list[str]:
        """Fire every waiting timer with fire_at <= now, run to the next wait, return the fired timers' names.

        Timers whose waits begin during this call count from `now`; any of them already due fires
        too. A second call with the same `now` fires nothing, and a call that fires nothing changes
        nothing.
        """
        self._check_usable()
        if now is None:
            raise StateError("now must be a timezone-aware datetime, not None")
        moment = _aware(now)
        if not any(wait.fire_at <= moment for wait, _ in self._timer_waits()):
            return []
        fired: list[str] = []

        def run() -> None:
            for _ in range(MAX_FIRING_ROUNDS):
                due = [(wait, task) for wait, task in self._timer_waits() if wait.fire_at <= moment]
                if not due:
                    return
                for wait, task in due:
                    task._set_internal_data(event_fired=True)
                    fired.append(wait.name)
                self._workflow.refresh_timers()
                self._workflow.do_engine_steps()
            raise EngineError(f"timers still fall due after {MAX_FIRING_ROUNDS} rounds: a loop of timers "
                              f"without a wait")

        self._step(run, moment)
        return fired

    def reschedule_working_timers(self) -> list[tuple[TimerWait, datetime]]:
        """Count every waiting working-time deadline again by the working calendar now in force (a day
        declared closed after the wait began moves it); return (the wait as it now is, its former due time)
        for each one that moved. Calendar-time timers keep their due times."""
        self._check_usable()
        moved: list[tuple[TimerWait, datetime]] = []

        def run() -> None:
            for wait, task in self._timer_waits():
                if wait.working_days is None:
                    continue
                start = datetime.fromisoformat(task._get_internal_data("working_start"))
                due = working_due(start, wait.working_days)
                if due != wait.fire_at:
                    task._set_internal_data(event_value=due.isoformat())
                    moved.append((replace(wait, fire_at=due), wait.fire_at))

        self._step(run)
        return moved

    def is_completed(self) -> bool:
        """Return whether the process has ended."""
        self._check_usable()
        return self._workflow.is_completed()

    def end_event(self) -> str | None:
        """Return the BPMN id of the end event the process reached, or None while it runs."""
        if not self.is_completed():
            return None
        ends = [task for task in self._workflow.tasks.values()
                if isinstance(task.task_spec, EndEvent) and task.state == TaskState.COMPLETED]
        return max(ends, key=lambda task: task.last_state_change).task_spec.bpmn_id if ends else None

    def data(self) -> dict[str, Any]:
        """Return a deep copy of the process data at the current point (for display)."""
        self._check_usable()
        workflow = self._workflow
        if workflow.is_completed():
            data = workflow.data
        else:
            data = workflow.last_task.data if workflow.last_task is not None else {}
        return copy.deepcopy({key: value for key, value in data.items() if key != "data_objects"})

    def completed_task_names(self) -> list[str]:
        """Return the BPMN ids of completed elements in flow order, repeated for each pass."""
        self._check_usable()
        return [task.task_spec.bpmn_id for task in self._workflow.get_tasks(state=TaskState.COMPLETED)
                if task.task_spec.bpmn_id is not None]

    def _waiting_event_tasks(self) -> list[Task]:
        """Catching events (and event-based gateways) waiting for an event, in a stable order."""
        tasks = [task for task in self._workflow.event_manager.tasks.values() if task.state == TaskState.WAITING]
        return sorted(tasks, key=lambda task: (task.task_spec.bpmn_id or task.task_spec.name, str(task.id)))

    def _timer_waits(self) -> list[tuple[TimerWait, Task]]:
        """Waiting timers with the tasks that hold their state, earliest first."""
        waits = []
        for task in self._waiting_event_tasks():
            if task._get_internal_data("event_fired", False):
                continue
            value = task._get_internal_data("event_value")
            for name, _definition in timer_definitions(task.task_spec):
                if not isinstance(value, str):  # fixed on the first look, which every wait has had
                    raise StateError(f"timer {name!r} has no due time")
                wait = TimerWait(task_id=str(task.id), name=name,
                                 fire_at=TimerEventDefinition.get_datetime(value), attached_to=_host(task),
                                 working_days=task._get_internal_data("working_days"))
                waits.append((wait, task))
        return sorted(waits, key=lambda pair: (pair[0].fire_at, pair[0].name))

    def _find_user_task(self, task_id: str) -> Task:
        try:
            task = self._workflow.get_task_from_id(UUID(task_id))
        except (TypeError, ValueError, AttributeError):
            raise TaskNotFound(f"{task_id!r} is not a task id") from None
        except TaskNotFoundException:
            task = None
        if task is None or task.task_spec.bpmn_id not in self.spec.user_tasks:
            raise TaskNotFound(f"no user task with id {task_id!r}")
        return task

    def _describe(self, task: Task) -> UserTask:
        definition = self.spec.user_tasks[task.task_spec.bpmn_id]
        return UserTask(
            id=str(task.id),
            name=definition.name,
            title=definition.title,
            lane=definition.lane,
            form_key=definition.form_key,
            data_key=definition.data_key,
        )

    def _step(self, run: Callable[[], None], now: datetime | None = None) -> None:
        """Run engine code on the engine clock; on failure this instance is unusable and the caller keeps
        its last state."""
        try:
            with clock(now):
                run()
        except EngineError:
            self._failed = True
            raise
        except Exception as exc:
            self._failed = True
            raise _engine_error(exc) from exc

    def _check_usable(self) -> None:
        if self._failed:
            raise StateError("a step of this instance failed; discard it and load the last saved state")


class _SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Leaves the specs out of the state; they are injected on load."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict:
        """Convert a workflow without its specs."""
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict, spec: Any = None, subprocess_specs: Any = None) -> BpmnWorkflow:
        """Restore a workflow around the given, already parsed specs."""
        # Spiff's converter restores the specs from the dict; parsed objects pass through unchanged.
        return super().from_dict({**dct, "spec": spec, "subprocess_specs": subprocess_specs})


class _Serializer(BpmnWorkflowSerializer):
    def __init__(self) -> None:
        super().__init__(self.configure({**SPIFF_CONFIG, BpmnWorkflow: _SpeclessWorkflowConverter}))
        register_clocked_timers(self.registry)
        self.encoder_cls = create_encoder(self.registry)


# Shared by all threads: the converters keep no state (only Spiff's serialize_json toggles a
# registry flag, and it is not used here).
_SERIALIZER = _Serializer()


def _upgrade(dct: dict, spiff_version: str, spec: ProcessSpec) -> dict:
    """State written by an older Spiff serializer, upgraded by Spiff's own migrations.

    Spiff's migrations read the serialized specs beside the tasks, which this state leaves out: the
    spec the state is loaded with is serialized for them and dropped again (the parsed one is used).
    """
    upgraded = {**dct, "spec": _SERIALIZER.to_dict(spec.spec),
                "subprocess_specs": {name: _SERIALIZER.to_dict(sub) for name, sub in spec.subprocess_specs.items()},
                _VERSION_KEY: spiff_version}
    try:
        _SERIALIZER.migrate(upgraded)
    except Exception as exc:
        raise StateError(f"cannot upgrade state from format {spiff_version!r}: {type(exc).__name__}: {exc}") from None
    for key in ("spec", "subprocess_specs", "VERSION"):
        upgraded.pop(key, None)
    return upgraded


def _host(task: Task) -> str | None:
    """BPMN id of the task a boundary event is attached to; None for other events."""
    if not isinstance(task.task_spec, BoundaryEvent) or task.parent is None:
        return None
    hosts = [sibling.task_spec.bpmn_id for sibling in task.parent.children
             if not isinstance(sibling.task_spec, BoundaryEvent)]
    return hosts[0] if hosts else None


def _aware(now: datetime | None) -> datetime | None:
    """Check that `now` is an aware datetime and return it in UTC (None stays None: the real clock)."""
    if now is None:
        return None
    if not isinstance(now, datetime):
        raise StateError(f"now must be a datetime, not {type(now).__name__}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise StateError("now must be a timezone-aware datetime")
    return now.astimezone(timezone.utc)


def _engine_error(exc: Exception) -> EngineError:
    """Name the failure: the ExpressionError behind Spiff's wrappers, else a generic EngineError."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ExpressionError):
            return ExpressionError(str(exc))
        cause = cause.__cause__ or cause.__context__
    return EngineError(f"{type(exc).__name__}: {exc}")


def _json_safe(value: Any, path: str, depth: int) -> Any:
    """Return a copy of JSON-safe form data, or raise StateError naming the offending part."""
    if depth > MAX_DATA_DEPTH:
        raise StateError(f"{path}: nested deeper than {MAX_DATA_DEPTH} levels")
    if value is None or type(value) in (str, bool, int):
        return value
    if type(value) is list:
        return [_json_safe(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)]
    if type(value) is dict:
        copied = {}
        for key, item in value.items():
            if type(key) is not str:
                raise StateError(f"{path}: key {key!r} is not a string")
            if key == "typename":
                raise StateError(f"{path}: the key 'typename' is reserved by the serializer")
            copied[key] = _json_safe(item, f"{path}.{key}", depth + 1)
        return copied
    raise StateError(f"{path}: {type(value).__name__} values are not allowed")
