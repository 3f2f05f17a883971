"""SpiffWorkflow wrapper: safe parsing, restricted expressions, versioned state.

Specs and state in, state out: no database, no Flask, no other project package.
"""

from .errors import (
    EngineError,
    ExpressionError,
    LaneMismatch,
    SpecError,
    StateError,
    TaskNotFound,
    TaskNotReady,
)
from .expressions import RestrictedScriptEngine, compile_expression, evaluate
from .parser import EngineParser, parse_xml
from .runtime import SERIALIZER_VERSION, Instance, UserTask
from .specs import EndEventDef, ProcessSpec, UserTaskDef, read_sources, source_version, spec_from_sources

__all__ = [
    "EngineError",
    "SpecError",
    "ExpressionError",
    "TaskNotFound",
    "TaskNotReady",
    "LaneMismatch",
    "StateError",
    "compile_expression",
    "evaluate",
    "RestrictedScriptEngine",
    "parse_xml",
    "EngineParser",
    "ProcessSpec",
    "UserTaskDef",
    "EndEventDef",
    "source_version",
    "read_sources",
    "spec_from_sources",
    "SERIALIZER_VERSION",
    "UserTask",
    "Instance",
]
