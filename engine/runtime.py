"""Running process instances: start, complete user tasks, serialize and load state.

An Instance wraps one SpiffWorkflow BpmnWorkflow. The serialized state leaves the
process specs out; `Instance.load` injects the cached, parsed ProcessSpec instead, and
sets the restricted script engine again (Spiff does not serialize script engines).
"""

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_SERIALIZER_VERSION
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from .errors import EngineError, ExpressionError, LaneMismatch, StateError, TaskNotFound, TaskNotReady
from .expressions import RestrictedScriptEngine
from .specs import ProcessSpec

__all__ = ["MAX_DATA_DEPTH", "SERIALIZER_VERSION", "Instance", "UserTask"]

#: Format of serialized state: Spiff's serializer format, without the specs in it.
SERIALIZER_VERSION = f"spiff-{SPIFF_SERIALIZER_VERSION}+nospec"

#: Deepest nesting of lists and dicts accepted in submitted variables.
MAX_DATA_DEPTH = 32

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


class Instance:
    """One running process instance. State goes out only through `serialize()`."""

    def __init__(self, spec: ProcessSpec, workflow: BpmnWorkflow) -> None:
        """Wrap a workflow; use `start` or `load` instead."""
        self.spec = spec
        self._workflow = workflow
        self._failed = False

    @classmethod
    def start(cls, spec: ProcessSpec) -> "Instance":
        """Create an instance of the process and run it to its first wait."""
        workflow = BpmnWorkflow(spec.spec, dict(spec.subprocess_specs), script_engine=_SCRIPT_ENGINE)
        instance = cls(spec, workflow)
        instance._step(workflow.do_engine_steps)
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
        if version != SERIALIZER_VERSION:
            raise StateError(f"state was written in format {version!r}; this engine reads {SERIALIZER_VERSION!r}")
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

    def ready_user_tasks(self) -> list[UserTask]:
        """Return the user tasks waiting to be completed."""
        self._check_usable()
        return [self._describe(task) for task in self._workflow.get_tasks(state=TaskState.READY, manual=True)]

    def complete(self, task_id: str, variables: dict[str, Any], *, lane: str) -> None:
        """Complete a ready user task of the given lane with form variables, then run to the next wait."""
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

        def run() -> None:
            if described.data_key is None:
                task.data.update(data)
            else:
                task.data[described.data_key] = data
            task.run()
            self._workflow.do_engine_steps()

        self._step(run)

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

    def _step(self, run: Callable[[], None]) -> None:
        """Run engine code; on failure this instance is unusable and the caller keeps its last state."""
        try:
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
        self.encoder_cls = create_encoder(self.registry)


# Shared by all threads: the converters keep no state (only Spiff's serialize_json toggles a
# registry flag, and it is not used here).
_SERIALIZER = _Serializer()


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
