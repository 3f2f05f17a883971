"""Messages and timers: what waits, what is refused (changing nothing), and a clock that only the caller moves."""

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

import engine
from engine import Instance, MessageNotAwaited, StateError, TaskNotReady, TimerWait
from tests.engine.flow import (
    BPMN_DIR,
    INQUIRIES_CLEAR,
    NOW,
    apply,
    decide,
    fire,
    only_task,
    reach_county_review,
    reach_inquiries,
    visit,
    start,
)

DAY = timedelta(days=1)


def unchanged(instance: Instance, call, error: type, match: str) -> None:
    """The call is refused with `error` and the instance is exactly as before, and still usable."""
    before = instance.serialize()
    with pytest.raises(error, match=match):
        call()
    assert instance.serialize() == before


# --- messages ------------------------------------------------------------------------------------------

def test_awaited_messages_follow_the_flow(spec):
    instance = start(spec)
    assert instance.awaited_messages() == []
    apply(instance)
    assert instance.awaited_messages() == ["inquiries_complete"]
    instance.send_message("inquiries_complete", INQUIRIES_CLEAR)
    assert instance.awaited_messages() == []
    assert instance.data()["inquiry_results"] == INQUIRIES_CLEAR
    assert only_task(instance).name == "schedule_visit"


def test_message_not_awaited_is_refused_and_changes_nothing(spec):
    instance = start(spec)
    unchanged(instance, lambda: instance.send_message("inquiries_complete", INQUIRIES_CLEAR), MessageNotAwaited,
              r"no event waits for message 'inquiries_complete' \(waiting for: no message\)")
    apply(instance)
    unchanged(instance, lambda: instance.send_message("successor_confirmed", {}), MessageNotAwaited,
              r"no event waits for message 'successor_confirmed' \(waiting for: 'inquiries_complete'\)")
    instance.send_message("inquiries_complete", INQUIRIES_CLEAR)
    # a second answer to the same round finds nothing waiting
    unchanged(instance, lambda: instance.send_message("inquiries_complete", INQUIRIES_CLEAR), MessageNotAwaited,
              "no event waits")
    assert only_task(instance).name == "schedule_visit"


def test_message_after_the_inquiries_deadline_is_refused(spec):
    instance = reach_inquiries(spec)
    fire(instance, "inquiries_overdue")
    unchanged(instance, lambda: instance.send_message("inquiries_complete", INQUIRIES_CLEAR), MessageNotAwaited,
              "no event waits")
    assert "inquiry_results" not in instance.data()


def test_message_to_a_finished_instance_is_refused(spec):
    instance = reach_county_review(spec)
    decide(instance, "county_review", "reject")
    assert instance.is_completed()
    unchanged(instance, lambda: instance.send_message("inquiries_complete", {}), MessageNotAwaited, "no event")


@pytest.mark.parametrize("name, payload, message", [
    ("inquiries_complete", [1], "payload must be a dict"),
    ("inquiries_complete", None, "payload must be a dict"),
    (None, {}, "a message name must be a string"),
    ("inquiries_complete", {"score": 0.5}, r"payload.score: float values"),
    ("inquiries_complete", {"results": [{"typename": "x"}]}, r"payload.results\[0\]: the key 'typename'"),
    ("inquiries_complete", {"id": uuid.uuid4()}, "payload.id: UUID values"),
    ("inquiries_complete", {"deep": json.loads("[" * 40 + "]" * 40)}, "nested deeper than"),
])
def test_payload_must_be_json_safe(spec, name, payload, message):
    instance = reach_inquiries(spec)
    unchanged(instance, lambda: instance.send_message(name, payload), StateError, message)
    assert instance.awaited_messages() == ["inquiries_complete"]


def test_payload_is_copied(spec):
    instance = reach_inquiries(spec)
    payload = {"all_clear": True, "results": [{"kind": "criminal_record"}]}
    instance.send_message("inquiries_complete", payload)
    payload["results"].append("later")
    assert instance.data()["inquiry_results"] == {"all_clear": True, "results": [{"kind": "criminal_record"}]}


def test_message_survives_reload_before_and_after(spec):
    instance = Instance.load(spec, reach_inquiries(spec).serialize())
    assert instance.awaited_messages() == ["inquiries_complete"]
    instance.send_message("inquiries_complete", INQUIRIES_CLEAR)
    loaded = Instance.load(spec, instance.serialize())
    assert loaded.data()["inquiry_results"] == INQUIRIES_CLEAR
    assert loaded.ready_user_tasks() == instance.ready_user_tasks()


# --- timers --------------------------------------------------------------------------------------------

def test_timer_waits_describe_themselves(spec):
    instance = reach_inquiries(spec)
    [wait] = instance.timers()
    gateway = [task for task in instance._workflow.get_tasks(spec_name="await_inquiries")]
    assert wait == TimerWait(task_id=str(gateway[0].id), name="inquiries_overdue", fire_at=NOW + 10 * DAY,
                             attached_to=None, working_days=10)
    assert wait.fire_at.tzinfo is not None and wait.fire_at.utcoffset() == timedelta(0)
    with pytest.raises(AttributeError):
        wait.name = "x"  # type: ignore[misc]
    instance.send_message("inquiries_complete", INQUIRIES_CLEAR, now=NOW + 2 * DAY)
    assert instance.timers() == []  # the site visit has no deadline
    visit(instance, now=NOW + 2 * DAY)
    [wait] = instance.timers()
    [boundary] = instance._workflow.get_tasks(spec_name="county_overdue")
    assert wait == TimerWait(task_id=str(boundary.id), name="county_overdue", fire_at=NOW + 7 * DAY,
                             attached_to="county_review", working_days=5)


def test_timer_fires_only_once_now_reaches_its_due_time(spec):
    instance = reach_inquiries(spec)
    due = NOW + 10 * DAY
    before = instance.serialize()
    for early in (NOW, due - timedelta(seconds=1), due - timedelta(microseconds=1)):
        assert instance.fire_due_timers(early) == []
    assert instance.serialize() == before  # a call that fires nothing changes nothing
    assert instance.fire_due_timers(due) == ["inquiries_overdue"]
    visit(instance, now=due)
    assert only_task(instance).name == "county_review"
    again = instance.serialize()
    assert instance.fire_due_timers(due) == []
    assert instance.fire_due_timers(due + 3 * DAY) == []  # the county's deadline counts from `due`: 5 days
    assert instance.serialize() == again
    assert instance.fire_due_timers(due + 5 * DAY) == ["county_overdue"]
    assert only_task(instance).name == "escalated_county_review"
    assert instance.fire_due_timers(due + 50 * DAY) == []


def test_a_late_tick_fires_what_became_due_in_one_call(spec):
    """A tick long after both deadlines fires the inquiries' deadline; the county's, started by the visit
    done at the tick's `now`, falls due five days after it, not at once."""
    instance = reach_inquiries(spec)
    late = NOW + 40 * DAY
    assert instance.fire_due_timers(late) == ["inquiries_overdue"]
    visit(instance, now=late)
    assert instance.timers()[0].fire_at == late + 5 * DAY


def test_timers_that_start_already_due_fire_in_the_same_call(spec):
    sources = engine.read_sources(BPMN_DIR, "center_founding")
    sources["deadlines.json"] = json.dumps({"center_founding": {"county_review": "P5D", "inquiries": "P1D"}}).encode()
    # the county's deadline is a date already past when its wait begins (a duration is never zero)
    sources["center_founding.bpmn"] = sources["center_founding.bpmn"].replace(
        b'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">deadlines["county_review"]</bpmn:timeDuration>',
        b'<bpmn:timeDate xsi:type="bpmn:tFormalExpression">"2000-01-01T00:00:00+00:00"</bpmn:timeDate>')
    quick = engine.spec_from_sources("center_founding", sources)
    instance = reach_inquiries(quick)
    assert instance.fire_due_timers(NOW + DAY) == ["inquiries_overdue"]
    visit(instance, now=NOW + DAY)
    assert instance.fire_due_timers(NOW + DAY) == ["county_overdue"]
    assert only_task(instance).name == "escalated_county_review"
    assert instance.fire_due_timers(NOW + DAY) == []


def test_overdue_timers_never_fire_by_themselves(spec):
    """Deadlines long past on the real clock fire only through fire_due_timers, never inside another call."""
    long_ago = datetime(2001, 1, 1, tzinfo=timezone.utc)
    instance = reach_inquiries(spec, now=long_ago)
    assert instance.timers()[0].fire_at == long_ago + 10 * DAY
    instance = Instance.load(spec, instance.serialize())
    # the answer comes years after the deadline: only the message's branch is taken (Spiff would take both)
    instance.send_message("inquiries_complete", INQUIRIES_CLEAR)
    assert [task.name for task in instance.ready_user_tasks()] == ["schedule_visit"]
    visit(instance)
    assert "inquiries_overdue" not in instance.completed_task_names()
    [wait] = instance.timers()
    assert wait.name == "county_overdue" and wait.fire_at > datetime.now(timezone.utc)  # counted from the real clock


def test_county_review_done_after_its_deadline_but_before_the_tick_stands(spec):
    instance = reach_county_review(spec, now=datetime(2001, 1, 1, tzinfo=timezone.utc))
    decide(instance, "county_review", "approve")  # the deadline passed long ago, no tick has run
    assert only_task(instance).name == "province_review"
    assert instance.timers() == []
    assert instance.fire_due_timers(datetime.now(timezone.utc)) == []


def test_interrupted_review_can_no_longer_be_completed(spec):
    instance = reach_county_review(spec)
    stale = only_task(instance)
    fire(instance, "county_overdue")
    before = instance.serialize()
    with pytest.raises(TaskNotReady, match="task 'county_review' is CANCELLED, not READY"):
        instance.complete(stale.id, {"decision": "approve"}, lane="county")
    assert instance.serialize() == before
    assert only_task(instance).name == "escalated_county_review"


def test_timers_survive_serialize_load_between_start_and_firing(spec):
    instance = Instance.load(spec, reach_inquiries(spec).serialize())
    assert instance.timers()[0].fire_at == NOW + 10 * DAY
    assert instance.fire_due_timers(NOW + 10 * DAY) == ["inquiries_overdue"]
    instance = Instance.load(spec, instance.serialize())
    visit(instance, now=NOW + 10 * DAY)
    [wait] = instance.timers()
    assert (wait.name, wait.fire_at, wait.attached_to) == ("county_overdue", NOW + 15 * DAY, "county_review")
    instance = Instance.load(spec, instance.serialize())
    assert instance.fire_due_timers(NOW + 15 * DAY) == ["county_overdue"]
    instance = Instance.load(spec, instance.serialize())
    assert instance.fire_due_timers(NOW + 15 * DAY) == []
    assert only_task(instance).name == "escalated_county_review"


def test_state_keeps_spiff_type_names_for_timers(spec):
    instance = reach_inquiries(spec)
    fire(instance, "inquiries_overdue")
    state = instance.serialize()
    assert '"typename":"DurationTimerEventDefinition"' in state and "Clocked" not in state


def test_a_finished_instance_has_no_timers(spec):
    instance = reach_county_review(spec)
    decide(instance, "county_review", "reject")
    assert instance.timers() == [] and instance.fire_due_timers(NOW + 100 * DAY) == []


# --- the clock -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("now, message", [
    (datetime(2025, 3, 21, 8, 0), "now must be a timezone-aware datetime"),
    ("2025-03-21T08:00:00+00:00", "now must be a datetime, not str"),
])
def test_now_must_be_an_aware_datetime(spec, now, message):
    instance = reach_inquiries(spec)
    unchanged(instance, lambda: instance.fire_due_timers(now), StateError, message)
    unchanged(instance, lambda: instance.send_message("inquiries_complete", {}, now=now), StateError, message)
    with pytest.raises(StateError, match=message):
        start(spec, now=now)
    county = reach_county_review(spec)
    task = only_task(county)
    unchanged(county, lambda: county.complete(task.id, {"decision": "approve"}, lane="county", now=now),
              StateError, message)


def test_fire_due_timers_needs_a_time(spec):
    instance = reach_inquiries(spec)
    unchanged(instance, lambda: instance.fire_due_timers(None), StateError, "not None")  # type: ignore[arg-type]


def test_other_time_zones_are_converted(spec):
    tehran = timezone(timedelta(hours=3, minutes=30))
    instance = reach_inquiries(spec, now=NOW.astimezone(tehran))
    [wait] = instance.timers()
    assert wait.fire_at == NOW + 10 * DAY and wait.fire_at.tzinfo == timezone.utc
    assert instance.fire_due_timers((NOW + 10 * DAY).astimezone(tehran)) == ["inquiries_overdue"]


def test_without_now_the_real_clock_counts(spec):
    before = datetime.now(timezone.utc)
    instance = start(spec, now=None)
    apply(instance)
    [wait] = instance.timers()
    assert before + 10 * DAY <= wait.fire_at <= datetime.now(timezone.utc) + 10 * DAY


# --- timer values --------------------------------------------------------------------------------------

@pytest.mark.parametrize("deadline, message", [
    ("5 days", r"timer 'await_inquiries': '5 days' is not an ISO 8601 duration"),
    ("P", r"'P' is not an ISO 8601 duration"),
    ("", r"'' is not an ISO 8601 duration"),
    ("P1W2D", r"is not an ISO 8601 duration"),
    (10, r"timer 'await_inquiries': 'deadlines\[\"inquiries\"\]' gave int 10, not an ISO 8601 duration string "
         r"or \{\"working_days\": N\}"),
    ({"working_days": 0}, r"timer 'await_inquiries': 0 working days is outside 1 to 1200"),
    ({"working_days": 1201}, r"1201 working days is outside 1 to 1200"),
    ({"working_days": "5"}, r"is neither an ISO 8601 duration nor \{\"working_days\": N\} with a whole number N"),
    ({"working_days": True}, r"is neither an ISO 8601 duration nor"),
    ({"working_days": 5, "hours": 2}, r"is neither an ISO 8601 duration nor"),
    ({"calendar_days": 5}, r"is neither an ISO 8601 duration nor"),
])
def test_bad_deadline_is_an_expression_error(spec, deadline, message):
    instance = start(spec, deadlines={"county_review": "P5D", "inquiries": deadline})
    saved = instance.serialize()
    with pytest.raises(engine.ExpressionError, match=message):
        apply(instance)
    Instance.load(spec, saved)  # the caller's last state is intact


def test_missing_deadline_is_an_expression_error(spec):
    instance = start(spec, deadlines={"county_review": "P5D"})
    with pytest.raises(engine.ExpressionError, match="KeyError: 'inquiries'"):
        apply(instance)


@pytest.mark.parametrize("duration, expected", [
    ("PT12H", timedelta(hours=12)),
    ("P1W", timedelta(days=7)),
    ("P1M", timedelta(days=30)),  # counted over the month the wait begins in (April 2025 has 30 days)
    ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
])
def test_durations(spec, duration, expected):
    april = datetime(2025, 4, 1, tzinfo=timezone.utc)
    instance = start(spec, now=april, deadlines={"county_review": "P5D", "inquiries": duration})
    apply(instance, now=april)
    assert instance.timers()[0].fire_at == april + expected


# --- working-time deadlines ----------------------------------------------------------------------------

class ClosedOn:
    """Saturday to Thursday, less the given days; a working day ends at 11:00 UTC (14:30 in Tehran)."""

    def __init__(self, *closed: datetime) -> None:
        self.closed = {moment.date() for moment in closed}

    def add_working_days(self, start: datetime, days: int) -> datetime:
        day, counted = start.date(), 0
        while counted < days:
            day += timedelta(days=1)
            if day.weekday() != 4 and day not in self.closed:
                counted += 1
        return datetime(day.year, day.month, day.day, 11, tzinfo=timezone.utc)


WEDNESDAY = datetime(2025, 4, 2, 9, tzinfo=timezone.utc)


def test_a_working_day_deadline_is_counted_by_the_callers_calendar_and_survives_a_reload(spec):
    with engine.working_calendar(ClosedOn(datetime(2025, 4, 5))):
        instance = start(spec, now=WEDNESDAY, deadlines={"county_review": "P5D", "inquiries": {"working_days": 3}})
        apply(instance, now=WEDNESDAY)
    [wait] = instance.timers()
    # Thursday 3rd counts, Friday 4th is the weekly day off, Saturday 5th is closed: Sunday 6th, Monday 7th
    assert (wait.fire_at, wait.working_days) == (datetime(2025, 4, 7, 11, tzinfo=timezone.utc), 3)
    loaded = Instance.load(spec, instance.serialize())
    assert loaded.timers() == [wait]
    assert loaded.fire_due_timers(datetime(2025, 4, 7, 10, 59, tzinfo=timezone.utc)) == []
    assert loaded.fire_due_timers(datetime(2025, 4, 7, 11, tzinfo=timezone.utc)) == ["inquiries_overdue"]


def test_a_closure_declared_later_moves_a_working_day_deadline_and_leaves_calendar_time_alone(spec):
    with engine.working_calendar(ClosedOn()):
        instance = start(spec, now=WEDNESDAY, deadlines={"county_review": "P5D", "inquiries": {"working_days": 3}})
        apply(instance, now=WEDNESDAY)
    [before] = instance.timers()
    assert before.fire_at == datetime(2025, 4, 6, 11, tzinfo=timezone.utc)
    with engine.working_calendar(ClosedOn()):
        assert instance.reschedule_working_timers() == []  # the same calendar moves nothing
    with engine.working_calendar(ClosedOn(datetime(2025, 4, 5), datetime(2025, 4, 6))):
        [(moved, was)] = instance.reschedule_working_timers()
    assert was == before.fire_at and moved.fire_at == datetime(2025, 4, 8, 11, tzinfo=timezone.utc)
    assert instance.timers() == [moved]
    assert Instance.load(spec, instance.serialize()).timers() == [moved]

    calendar_time = start(spec, now=WEDNESDAY, deadlines={"county_review": "P5D", "inquiries": "P3D"})
    apply(calendar_time, now=WEDNESDAY)
    with engine.working_calendar(ClosedOn(datetime(2025, 4, 4), datetime(2025, 4, 5))):
        assert calendar_time.reschedule_working_timers() == []
    assert calendar_time.timers()[0].fire_at == WEDNESDAY + 3 * DAY
    assert calendar_time.timers()[0].working_days is None


def test_a_working_day_deadline_without_a_calendar_is_an_expression_error(spec):
    with engine.working_calendar(None):
        instance = start(spec, deadlines={"county_review": "P5D", "inquiries": {"working_days": 10}})
        saved = instance.serialize()
        with pytest.raises(engine.ExpressionError, match="timer 'await_inquiries': a deadline of 10 working days "
                                                         "needs a working calendar, and none is set"):
            apply(instance)
    Instance.load(spec, saved)
