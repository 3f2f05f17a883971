"""Bounds on deployed sources: what would exhaust memory or time is refused at parse time, or
fails as a clear ExpressionError at run time, within a second either way."""

import signal
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest

import engine
from engine import ExpressionError, Instance, SpecError, parse_duration, spec_from_sources
from engine.limits import MAX_DURATION, MAX_ELEMENTS, MAX_LOOP_INSTANCES, MAX_SOURCE_BYTES, MAX_SUBPROCESS_DEPTH
from tests.engine.flow import BPMN_DIR

NOW = datetime(2025, 3, 21, 4, 30, tzinfo=timezone.utc)


@contextmanager
def within(seconds: int):
    """Fail the test instead of hanging when the block runs longer than `seconds`."""
    def expired(signum, frame):
        raise AssertionError(f"took longer than {seconds} s")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def process(body: str, flows: str = "") -> dict[str, bytes]:
    """A process start -> body (element id "work") -> end, as the only source."""
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    {body}
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
    {flows}
  </bpmn:process>
</bpmn:definitions>"""
    return {"p.bpmn": xml.encode("utf-8")}


def automatic(loop: str) -> str:
    """An element "work" that runs without waiting (an empty embedded subprocess) with loop characteristics."""
    return f"""<bpmn:subProcess id="work"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      {loop}
      <bpmn:startEvent id="inner_start"><bpmn:outgoing>i1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:endEvent id="inner_end"><bpmn:incoming>i1</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="i1" sourceRef="inner_start" targetRef="inner_end"/></bpmn:subProcess>"""


def multi_instance(cardinality: str, sequential: bool = False) -> dict[str, bytes]:
    flag = ' isSequential="true"' if sequential else ""
    return process(automatic(f"""<bpmn:multiInstanceLoopCharacteristics{flag}>
        <bpmn:loopCardinality>{cardinality}</bpmn:loopCardinality>
      </bpmn:multiInstanceLoopCharacteristics>"""))


def timer(duration: str) -> dict[str, bytes]:
    return process(f"""<bpmn:intermediateCatchEvent id="work"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>{duration}</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>""")


@pytest.mark.parametrize("sequential", [False, True], ids=["parallel", "sequential"])
@pytest.mark.parametrize("cardinality", ["100000000", str(MAX_LOOP_INSTANCES + 1), "2.5", '"3"', "True"])
def test_a_literal_cardinality_beyond_the_bound_is_refused(cardinality, sequential):
    with within(5), pytest.raises(SpecError) as caught:
        spec_from_sources("p", multi_instance(cardinality, sequential))
    assert str(caught.value) == (f"p.bpmn: work: loopCardinality {cardinality!r} is not a whole number "
                                 f"from 0 to {MAX_LOOP_INSTANCES}")


def test_a_literal_cardinality_within_the_bound_runs():
    instance = Instance.start(spec_from_sources("p", multi_instance(str(MAX_LOOP_INSTANCES))), now=NOW)
    assert instance.is_completed()
    assert instance.completed_task_names().count("work") == MAX_LOOP_INSTANCES + 1  # the instances and the task


def test_a_cardinality_expression_that_does_not_compile_is_refused():
    with pytest.raises(SpecError, match=r"p\.bpmn: work: loopCardinality: calling 'range' is not allowed"):
        spec_from_sources("p", multi_instance("range(5)"))


@pytest.mark.parametrize("sequential", [False, True], ids=["parallel", "sequential"])
@pytest.mark.parametrize(("copies", "shown"), [
    (100000000, "'100000000'"), (MAX_LOOP_INSTANCES + 1, f"'{MAX_LOOP_INSTANCES + 1}'"), (-1, "'-1'"),
    ("3", "\"'3'\""), (None, "'None'"),
])
def test_a_cardinality_expression_beyond_the_bound_fails_at_run_time(copies, shown, sequential):
    spec = spec_from_sources("p", multi_instance("copies", sequential))
    with within(5), pytest.raises(ExpressionError) as caught:
        Instance.start(spec, {"copies": copies}, now=NOW)
    assert f"loopCardinality of 'work': 'copies' gave {shown}, not a whole number from 0 to " \
           f"{MAX_LOOP_INSTANCES}" in str(caught.value)
    assert Instance.start(spec, {"copies": 3}, now=NOW).completed_task_names().count("work") == 4


def test_a_standard_loop_needs_a_bounded_maximum():
    def loop(attributes: str) -> dict[str, bytes]:
        return process(automatic(f"""<bpmn:standardLoopCharacteristics {attributes}>
          <bpmn:loopCondition>True</bpmn:loopCondition></bpmn:standardLoopCharacteristics>"""))
    with pytest.raises(SpecError, match=r"p\.bpmn: work: a standard loop needs a loopMaximum from 1 to 100 "
                                        r"\(it has None\)"):
        spec_from_sources("p", loop(""))
    with pytest.raises(SpecError, match=r"it has 100000000\)"):
        spec_from_sources("p", loop('loopMaximum="100000000"'))
    instance = Instance.start(spec_from_sources("p", loop('loopMaximum="3"')), now=NOW)
    assert instance.is_completed()


@pytest.mark.parametrize(("duration", "message"), [
    ('"P999999999Y"', "'P999999999Y' is longer than the longest duration allowed, 1827 days"),
    ('"P61M"', "'P61M' is longer than the longest duration allowed"),
    ('"P0D"', "'P0D' is no time at all"),
    ('"PT0S"', "'PT0S' is no time at all"),
    ('"5 days"', "'5 days' is not an ISO 8601 duration"),
    ('"P1.5M"', "'P1.5M' is not a duration the engine can count"),
    ('"P' + "9" * 60 + 'D"', "is longer than 40 characters"),
])
def test_a_literal_timer_duration_beyond_the_bounds_is_refused(duration, message):
    with within(5), pytest.raises(SpecError) as caught:
        spec_from_sources("p", timer(duration))
    assert str(caught.value).startswith("p.bpmn: work: timer duration: ")
    assert message in str(caught.value)


def test_a_timer_duration_from_data_beyond_the_bound_fails_at_run_time():
    spec = spec_from_sources("p", timer('deadlines["wait"]'))
    with within(5), pytest.raises(ExpressionError, match=r"timer 'work': 'P999999999Y' is longer than the longest"):
        Instance.start(spec, {"deadlines": {"wait": "P999999999Y"}}, now=NOW)
    instance = Instance.start(spec, {"deadlines": {"wait": "P5Y"}}, now=NOW)
    assert instance.timers()[0].fire_at == datetime(2030, 3, 21, 4, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(("text", "length"), [
    ("P5D", timedelta(days=5)), ("PT12H", timedelta(hours=12)), ("P1W", timedelta(days=7)),
    ("P1M", timedelta(days=31)), ("P5Y", timedelta(days=1826)), ("P1826DT23H", timedelta(days=1826, hours=23)),
])
def test_durations_within_the_bound(text, length):
    assert parse_duration(text, NOW) == length
    assert parse_duration(text, NOW) <= MAX_DURATION


def test_a_huge_source_file_is_refused():
    sources = engine.read_sources(BPMN_DIR, "center_founding")
    sources["center_founding.bpmn"] += b"<!--" + b" " * MAX_SOURCE_BYTES + b"-->"
    with pytest.raises(SpecError, match=rf"center_founding\.bpmn: \d+ bytes; a source file may have at most "
                                        rf"{MAX_SOURCE_BYTES}"):
        spec_from_sources("center_founding", sources)


def test_too_many_elements_are_refused():
    branches = "".join(f'<bpmn:intermediateThrowEvent id="t{i}"><bpmn:incoming>a{i}</bpmn:incoming>'
                       f'<bpmn:outgoing>b{i}</bpmn:outgoing></bpmn:intermediateThrowEvent>'
                       f'<bpmn:sequenceFlow id="a{i}" sourceRef="work" targetRef="t{i}"/>'
                       f'<bpmn:sequenceFlow id="b{i}" sourceRef="t{i}" targetRef="join"/>' for i in range(MAX_ELEMENTS))
    sources = process(f'<bpmn:parallelGateway id="work"><bpmn:incoming>f1</bpmn:incoming></bpmn:parallelGateway>'
                      f'{branches}<bpmn:parallelGateway id="join"><bpmn:outgoing>f2</bpmn:outgoing>'
                      f'</bpmn:parallelGateway>')
    sources["p.bpmn"] = sources["p.bpmn"].replace(b'sourceRef="work" targetRef="end"', b'sourceRef="join" targetRef="end"')
    with within(30), pytest.raises(SpecError, match=rf"p\.bpmn: process 'p' has \d+ elements with its "
                                                    rf"subprocesses \(at most {MAX_ELEMENTS}\)"):
        spec_from_sources("p", sources)


def call_chain(depth: int, last_calls: str | None = None) -> dict[str, bytes]:
    """Process p calls c1, c1 calls c2, ... c{depth} ends (or calls `last_calls`)."""
    def calling(process_id: str, callee: str | None) -> str:
        work = (f'<bpmn:callActivity id="{process_id}_call" calledElement="{callee}"><bpmn:incoming>a</bpmn:incoming>'
                f'<bpmn:outgoing>b</bpmn:outgoing></bpmn:callActivity>' if callee else
                f'<bpmn:intermediateThrowEvent id="{process_id}_call"><bpmn:incoming>a</bpmn:incoming>'
                f'<bpmn:outgoing>b</bpmn:outgoing></bpmn:intermediateThrowEvent>')
        return (f'<bpmn:process id="{process_id}" isExecutable="true">'
                f'<bpmn:startEvent id="{process_id}_start"><bpmn:outgoing>a</bpmn:outgoing></bpmn:startEvent>{work}'
                f'<bpmn:endEvent id="{process_id}_end"><bpmn:incoming>b</bpmn:incoming></bpmn:endEvent>'
                f'<bpmn:sequenceFlow id="a" sourceRef="{process_id}_start" targetRef="{process_id}_call"/>'
                f'<bpmn:sequenceFlow id="b" sourceRef="{process_id}_call" targetRef="{process_id}_end"/>'
                f'</bpmn:process>')
    names = ["p", *(f"c{i}" for i in range(1, depth + 1))]
    body = "".join(calling(name, names[i + 1] if i + 1 < len(names) else last_calls) for i, name in enumerate(names))
    xml = ('<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">'
           f'{body}</bpmn:definitions>')
    return {"p.bpmn": xml.encode()}


def test_subprocesses_nested_too_deep_or_calling_themselves_are_refused():
    assert Instance.start(spec_from_sources("p", call_chain(MAX_SUBPROCESS_DEPTH)), now=NOW).is_completed()
    with pytest.raises(SpecError, match=rf"p\.bpmn: subprocesses nest deeper than {MAX_SUBPROCESS_DEPTH} levels "
                                        r"\(c1 > c2 > .* > c9\)"):
        spec_from_sources("p", call_chain(MAX_SUBPROCESS_DEPTH + 1))
    with within(5), pytest.raises(SpecError, match=r"p\.bpmn: 'c2_call' calls 'c1', which is already running it"):
        spec_from_sources("p", call_chain(2, last_calls="c1"))
    with within(5), pytest.raises(SpecError, match=r"'p_call' calls 'p', which is already running it"):
        spec_from_sources("p", call_chain(0, last_calls="p"))
