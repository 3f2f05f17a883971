"""Errors raised by the engine: one base class, one subclass per kind of failure."""

__all__ = [
    "EngineError",
    "ExpressionError",
    "LaneMismatch",
    "MessageNotAwaited",
    "SpecError",
    "StateError",
    "TaskNotFound",
    "TaskNotReady",
]


class EngineError(Exception):
    """Base class of every error the engine raises."""


class SpecError(EngineError):
    """A BPMN or DMN source is unsafe, malformed or not executable."""


class ExpressionError(EngineError):
    """An expression is not admitted by the restricted evaluator or failed to evaluate."""


class TaskNotFound(EngineError):
    """No user task with the given id exists in the instance."""


class TaskNotReady(EngineError):
    """The user task exists but is not waiting to be completed (future or already done)."""


class LaneMismatch(EngineError):
    """The user task belongs to another lane than the caller's."""


class MessageNotAwaited(EngineError):
    """No message event of the instance is waiting for the message that was sent."""


class StateError(EngineError):
    """Serialized state or submitted variables cannot be accepted."""
