"""Timers on the engine's clock, and the events that waiting tasks catch.

Spiff computes a timer's due time from the real clock the first time it looks at the timer,
and on every later look fires it once the real clock has passed that time, in whatever call
happens to run the engine (completing an unrelated task, or catching a message at an
event-based gateway whose timer is also overdue, which then takes both branches). Here:

- a timer's due time is computed from the engine clock: the `now` of the call during which
  the wait began, or the real clock when that call gave none;
- a timer fires only when the engine sets its fired flag (`Instance.fire_due_timers`);
  no other call fires a timer, however late it runs.

Parsed specs get these timer classes in place of Spiff's (`install_clocked_timers`); the
serialized state keeps Spiff's type names, so it reads back with the same classes
(`register_clocked_timers`).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from typing import Any

from SpiffWorkflow.bpmn.serializer.default.event_definition import TimerConditionalEventDefinitionConverter
from SpiffWorkflow.bpmn.serializer.helpers.dictionary import DictionaryConverter
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway

from .errors import ExpressionError
from .limits import MAX_DURATION, MAX_DURATION_TEXT

__all__ = [
    "ClockedDateTimer",
    "ClockedDurationTimer",
    "clock",
    "current_time",
    "event_definitions",
    "install_clocked_timers",
    "parse_duration",
    "register_clocked_timers",
    "timer_definitions",
]

_NOW: ContextVar[datetime | None] = ContextVar("engine_now", default=None)


def current_time() -> datetime:
    """Return the engine clock: the `now` of the running call, else the real clock (aware, UTC)."""
    now = _NOW.get()
    return now if now is not None else datetime.now(timezone.utc)


@contextmanager
def clock(now: datetime | None) -> Iterator[None]:
    """Run the block with the engine clock set to an aware `now` (None: the real clock)."""
    token = _NOW.set(now.astimezone(timezone.utc) if now is not None else None)
    try:
        yield
    finally:
        _NOW.reset(token)


class _Clocked(TimerEventDefinition):
    """A timer whose due time comes from the engine clock and that fires only by the engine's flag."""

    def has_fired(self, my_task: Any) -> bool:
        """Fix the due time on the first look; report only the fired flag the engine sets."""
        if my_task._get_internal_data("event_value") is None:
            my_task._set_internal_data(event_value=self.due_at(my_task).isoformat())
        return bool(my_task._get_internal_data("event_fired", False))

    def due_at(self, my_task: Any) -> datetime:
        """Return when the timer falls due (aware, UTC)."""
        raise NotImplementedError

    def _value(self, my_task: Any, kind: str) -> str:
        value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
        if not isinstance(value, str):
            raise ExpressionError(f"timer {my_task.task_spec.bpmn_id!r}: {self.expression!r} gave "
                                  f"{type(value).__name__} {value!r}, not an ISO 8601 {kind} string")
        return value


class ClockedDurationTimer(_Clocked, DurationTimerEventDefinition):
    """A duration timer (ISO 8601 duration such as "P5D") counted from the engine clock."""

    def due_at(self, my_task: Any) -> datetime:
        """Return the engine clock plus the duration the timer's expression gives."""
        value = self._value(my_task, "duration")
        start = current_time()
        try:
            return start + parse_duration(value, start)
        except ExpressionError as exc:
            raise ExpressionError(f"timer {my_task.task_spec.bpmn_id!r}: {exc}") from None


class ClockedDateTimer(_Clocked, TimeDateEventDefinition):
    """A date timer: an ISO 8601 date-time that must carry its UTC offset."""

    def due_at(self, my_task: Any) -> datetime:
        """Return the date-time the timer's expression gives, in UTC."""
        value = self._value(my_task, "date-time")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ExpressionError(f"timer {my_task.task_spec.bpmn_id!r}: {value!r} is not an ISO 8601 "
                                  f"date-time") from None
        if moment.tzinfo is None:
            # Spiff would read it in the server's local time zone.
            raise ExpressionError(f"timer {my_task.task_spec.bpmn_id!r}: {value!r} has no UTC offset")
        return moment.astimezone(timezone.utc)


def parse_duration(value: str, start: datetime | None = None) -> timedelta:
    """Return the length of an ISO 8601 duration counted from `start` (the engine clock by default).

    A duration must be longer than zero and at most MAX_DURATION; the bound is checked on the
    parsed parts before any calendar arithmetic, so an absurd text costs nothing.
    """
    if not isinstance(value, str):
        raise ExpressionError(f"a duration must be a string, not {type(value).__name__}")
    shown = repr(value if len(value) <= 60 else value[:57] + "...")
    if len(value) > MAX_DURATION_TEXT:
        raise ExpressionError(f"{shown} is longer than {MAX_DURATION_TEXT} characters; a duration is like "
                              f"\"P5D\" or \"PT12H\"")
    try:
        parsed = TimerEventDefinition.parse_iso_duration(value) if value.upper().startswith("P") else None
    except Exception:  # Spiff raises a bare Exception for a malformed duration
        parsed = None
    if not parsed:  # Spiff reads "P" (and "") as no time at all
        raise ExpressionError(f"{shown} is not an ISO 8601 duration (such as \"P5D\" or \"PT12H\")")
    # Upper bound in days of each part (a year at most 366 days, a month at most 31).
    days = (parsed.get("years", 0) * 366 + parsed.get("months", 0) * 31 + parsed.get("weeks", 0) * 7
            + parsed.get("days", 0) + parsed.get("hours", 0) / 24 + parsed.get("minutes", 0) / 1440
            + parsed.get("seconds", 0) / 86400)
    if days > MAX_DURATION.days + 366:  # surely too long: refuse before counting calendar months
        raise ExpressionError(f"{shown} is longer than the longest duration allowed, {MAX_DURATION.days} days")
    start = start or current_time()
    try:
        length = TimerEventDefinition.get_timedelta_from_start(parsed, start)
    except (TypeError, ValueError, OverflowError):  # e.g. a fraction of a month or year
        raise ExpressionError(f"{shown} is not a duration the engine can count (use whole years and months)") \
            from None
    if length > MAX_DURATION:
        raise ExpressionError(f"{shown} is longer than the longest duration allowed, {MAX_DURATION.days} days")
    if length <= timedelta(0):
        raise ExpressionError(f"{shown} is no time at all; a duration must be longer than zero")
    return length


_CLOCKED: dict[type, type[_Clocked]] = {
    DurationTimerEventDefinition: ClockedDurationTimer,
    TimeDateEventDefinition: ClockedDateTimer,
}


def event_definitions(task_spec: Any) -> list[Any]:
    """Return the event definitions a task spec catches or throws (those of a multiple event unpacked)."""
    definition = getattr(task_spec, "event_definition", None)
    if definition is None:
        return []
    if isinstance(definition, MultipleEventDefinition):
        return list(definition.event_definitions)
    return [definition]


def timer_definitions(task_spec: Any) -> list[tuple[str, TimerEventDefinition]]:
    """Return (BPMN id of the timer event, definition) for each timer a task spec waits on.

    An event-based gateway holds the definitions of the events that follow it, in the order
    of its outgoing flows: its timers are named by those events.
    """
    found = []
    for index, definition in enumerate(event_definitions(task_spec)):
        if isinstance(definition, TimerEventDefinition):
            if isinstance(task_spec, EventBasedGateway):
                found.append((task_spec.outputs[index].bpmn_id, definition))
            else:
                found.append((task_spec.bpmn_id, definition))
    return found


def install_clocked_timers(spec: BpmnProcessSpec) -> None:
    """Replace Spiff's duration and date timers in a parsed spec with the clocked ones."""
    for task_spec in spec.task_specs.values():
        definition = getattr(task_spec, "event_definition", None)
        if definition is None:
            continue
        if isinstance(definition, MultipleEventDefinition):
            definition.event_definitions[:] = [_clocked(each) for each in definition.event_definitions]
        else:
            task_spec.event_definition = _clocked(definition)


def register_clocked_timers(registry: DictionaryConverter) -> None:
    """Make a serializer registry write the clocked timers under Spiff's names and read them back as such."""
    for spiff_class, clocked_class in _CLOCKED.items():
        TimerConditionalEventDefinitionConverter(clocked_class, registry, typename=spiff_class.__name__)


def _clocked(definition: Any) -> Any:
    clocked_class = _CLOCKED.get(type(definition))
    if clocked_class is None:
        return definition
    return clocked_class(definition.name, definition.expression, description=definition.description)
