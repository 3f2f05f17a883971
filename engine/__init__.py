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
    "SERIALIZER_VERSION",
    "EndEventDef",
    "EngineError",
    "EngineParser",
    "ExpressionError",
    "Instance",
    "LaneMismatch",
    "ProcessSpec",
    "RestrictedScriptEngine",
    "SpecError",
    "StateError",
    "TaskNotFound",
    "TaskNotReady",
    "UserTask",
    "UserTaskDef",
    "compile_expression",
    "evaluate",
    "parse_xml",
    "read_sources",
    "source_version",
    "spec_from_sources",
]
