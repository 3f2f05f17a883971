"""Timers on the engine's clock, and the events that waiting tasks catch.

Spiff computes a timer's due time from the real clock the first time it looks at the timer,
and on every later look fires it once the real clock has passed that time, in whatever call
happens to run the engine (completing an unrelated task, or catching a message at an
event-based gateway whose timer is also overdue, which then takes both branches). Here:

- a timer's due time is computed from the engine clock: the `now` of the call during which
  the wait began, or the real clock when that call gave none;
- a timer fires only when the engine sets its fired flag (`Instance.fire_due_timers`);
  no other call fires a timer, however late it runs.

A duration timer's expression gives either an ISO 8601 duration ("P30D": calendar time) or
working time, ``{"working_days": 5}``: the end of the fifth working day after the day the wait
began, by the working calendar the caller sets (`working_calendar`; the engine knows no calendar
of its own). A working-time wait keeps its start and its length, so that a calendar changed later
(an office closed by a declaration) can move it (`Instance.reschedule_working_timers`).

Parsed specs get these timer classes in place of Spiff's (`install_clocked_timers`); the
serialized state keeps Spiff's type names, so it reads back with the same classes
(`register_clocked_timers`).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

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
from .limits import MAX_DURATION, MAX_DURATION_TEXT, MAX_WORKING_DAYS

__all__ = [
    "ClockedDateTimer",
    "ClockedDurationTimer",
    "WorkingCalendar",
    "clock",
    "current_time",
    "event_definitions",
    "install_clocked_timers",
    "parse_duration",
    "parse_deadline",
    "working_calendar",
    "register_clocked_timers",
    "timer_definitions",
]

_NOW: ContextVar[datetime | None] = ContextVar("engine_now", default=None)


class WorkingCalendar(Protocol):
    """What the engine asks of a working calendar (the caller's: workflows.working_time)."""

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The moment (aware) the given number of working days after ``start`` ends."""


_CALENDAR: ContextVar[WorkingCalendar | None] = ContextVar("engine_calendar", default=None)


@contextmanager
def working_calendar(calendar: WorkingCalendar | None) -> Iterator[None]:
    """Run the block with the working calendar that counts working-time deadlines (None: none)."""
    token = _CALENDAR.set(calendar)
    try:
        yield
    finally:
        _CALENDAR.reset(token)


def working_due(start: datetime, days: int) -> datetime:
    """The end of ``days`` working days after ``start`` by the calendar in force (ExpressionError when none is)."""
    calendar = _CALENDAR.get()
    if calendar is None:
        raise ExpressionError(f"a deadline of {days} working days needs a working calendar, and none is set")
    return calendar.add_working_days(start, days).astimezone(timezone.utc)


def current_time() -> datetime:
    """Return the engine clock: the `now` of the running call, else the real clock (aware, UTC)."""
    now = _NOW.get()
    return now if now is not None else datetime.now(timezone.utc)


@contextmanager
def clock(now: datetime | None) -> Iterator[None]:
    """Run the block with the engine clock set to an aware `now` (None: the clock of the enclosing block,
    which is the real clock when no block set one)."""
    token = _NOW.set(now.astimezone(timezone.utc) if now is not None else _NOW.get())
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
        """Return the engine clock plus the duration the timer's expression gives (in working days: by the
        working calendar, keeping the start and the length on the task)."""
        value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
        if not isinstance(value, (str, dict)):
            raise ExpressionError(f"timer {my_task.task_spec.bpmn_id!r}: {self.expression!r} gave "
                                  f"{type(value).__name__} {value!r}, not an ISO 8601 duration string or "
                                  f"{{\"working_days\": N}}")
        start = current_time()
        try:
            length = parse_deadline(value, start)
            if isinstance(length, int):
                my_task._set_internal_data(working_start=start.isoformat(), working_days=length)
                return working_due(start, length)
            return start + length
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


def parse_deadline(value: Any, start: datetime | None = None) -> timedelta | int:
    """Read a deadline: an ISO 8601 duration (its length from ``start``) or ``{"working_days": N}`` (N)."""
    if isinstance(value, dict):
        days = value.get("working_days")
        if set(value) != {"working_days"} or type(days) is not int:
            raise ExpressionError(f"{value!r} is neither an ISO 8601 duration nor {{\"working_days\": N}} "
                                  f"with a whole number N")
        if not 1 <= days <= MAX_WORKING_DAYS:
            raise ExpressionError(f"{days} working days is outside 1 to {MAX_WORKING_DAYS}")
        return days
    return parse_duration(value, start)


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
