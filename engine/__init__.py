"""SpiffWorkflow wrapper: safe parsing, restricted expressions, versioned state.

Specs and state in, state out: no database, no Flask, no other project package.
A spec is a BPMN process with the shared DMN rule tables and JSON data tables (deadlines);
an instance starts with initial data, completes user tasks, receives messages and fires
timers only when the caller's clock says they are due.
"""

from . import limits
from .errors import (
    EngineError,
    ExpressionError,
    LaneMismatch,
    MessageNotAwaited,
    SpecError,
    StateError,
    TaskNotFound,
    TaskNotReady,
)
from .events import WorkingCalendar, clock, parse_deadline, parse_duration, working_calendar
from .expressions import RestrictedScriptEngine, compile_expression, evaluate
from .parser import EngineParser, parse_xml
from .runtime import SERIALIZER_VERSION, Instance, MoveObstacle, TimerWait, UserTask
from .specs import (
    FORMS_FOLDER, MANIFEST_SUFFIX, EndEventDef, JsonTables, ProcessSpec, UserTaskDef, cached_spec, parse_table, read_sources,
    source_version, spec_from_sources,
)

__all__ = [
    "SERIALIZER_VERSION",
    "EndEventDef",
    "EngineError",
    "EngineParser",
    "ExpressionError",
    "Instance",
    "WorkingCalendar",
    "JsonTables",
    "LaneMismatch",
    "MessageNotAwaited",
    "MoveObstacle",
    "ProcessSpec",
    "RestrictedScriptEngine",
    "SpecError",
    "StateError",
    "TaskNotFound",
    "TaskNotReady",
    "TimerWait",
    "UserTask",
    "UserTaskDef",
    "compile_expression",
    "limits",
    "evaluate",
    "clock",
    "parse_deadline",
    "parse_duration",
    "working_calendar",
    "parse_xml",
    "read_sources",
    "FORMS_FOLDER",
    "parse_table",
    "MANIFEST_SUFFIX",
    "source_version",
    "spec_from_sources",
    "cached_spec",
]
