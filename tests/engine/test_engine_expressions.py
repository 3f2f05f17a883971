"""The restricted evaluator: known sandbox escapes refused, ordinary expressions evaluated,
and every place Spiff evaluates text (gateways, DMN, timers, payloads, scripts) routed through it."""

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow

import engine
from engine import ExpressionError, RestrictedScriptEngine, compile_expression, evaluate
from engine.limits import MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_LENGTH, MAX_EXPRESSION_NODES
from tests.engine.flow import SCRIPT_PROCESS

DATA = {"x": "abc", "y": [1, 2, 3], "d": {"decision": "approve", "n": 4}, "facts": {"manager_age": 30}}

ESCAPES = [
    ("__import__('os')", "calling '__import__' is not allowed"),
    ("__import__('os').system('id')", "attribute access is not allowed"),
    ("().__class__.__base__.__subclasses__()", "attribute access is not allowed"),
    ("().__class__", "attribute access is not allowed"),
    ("open('/etc/passwd')", "calling 'open' is not allowed"),
    ("open('/etc/passwd').read()", "attribute access is not allowed"),
    ("getattr(x, 'y')", "calling 'getattr' is not allowed"),
    ("eval('1')", "calling 'eval' is not allowed"),
    ("exec('import os')", "calling 'exec' is not allowed"),
    ("compile('1', 'f', 'eval')", "calling 'compile' is not allowed"),
    ("globals()", "calling 'globals' is not allowed"),
    ("vars()", "calling 'vars' is not allowed"),
    ("type(x)", "calling 'type' is not allowed"),
    ("x.upper()", "attribute access is not allowed"),
    ("d.get('n')", "attribute access is not allowed"),
    ("[x for x in y]", "ListComp is not allowed"),
    ("{k: 1 for k in y}", "DictComp is not allowed"),
    ("(c for c in x)", "GeneratorExp is not allowed"),
    ("lambda: 1", "Lambda is not allowed"),
    ("(lambda: 1)()", "calling is not allowed"),
    ("9**9**9", "operator Pow is not allowed"),
    ("2 ** 3", "operator Pow is not allowed"),
    ("1 << 100000", "operator LShift is not allowed"),
    ("_", "names may not start with '_'"),
    ("_secret", "names may not start with '_'"),
    ("__builtins__", "names may not start with '_'"),
    ("__builtins__['open']", "names may not start with '_'"),
    ("d[__name__]", "names may not start with '_'"),
    ("f'{x.__class__}'", "JoinedStr is not allowed"),
    ("(y := 1)", "NamedExpr is not allowed"),
    ("x[1:2]", "a subscript must be a constant or a name"),
    ("y[len(y) - 1]", "a subscript must be a constant or a name"),
    ("len(x, key=1)", "keyword arguments are not allowed"),
    ("sorted(y, key=len)", "keyword arguments are not allowed"),
    ("max(*y)", "Starred is not allowed"),
    ("{**d}", "dict unpacking (**) is not allowed"),
    ("b'bytes'", "constant of type bytes is not allowed"),
    ("...", "constant of type ellipsis is not allowed"),
    ("1j", "constant of type complex is not allowed"),
    ("x if True else", "invalid expression"),
    ("import os", "invalid expression"),
    ("x = 1", "invalid expression"),
    ("await x", "Await is not allowed"),
    ("'a' * 10**9", "operator Pow is not allowed"),
]


@pytest.mark.parametrize("expression, message", ESCAPES, ids=[e for e, _ in ESCAPES])
def test_sandbox_escape_is_refused(expression, message):
    with pytest.raises(ExpressionError, match=_literal(message)) as caught:
        evaluate(expression, DATA)
    assert repr(expression)[:40] in str(caught.value) or len(expression) > 100


@pytest.mark.parametrize("expression, message", [
    ("x * 100000000", "operator Mult is only allowed on numbers"),
    ("y * 100000000", "operator Mult is only allowed on numbers"),
    ("100000000 * [1]", "operator Mult is only allowed on numbers"),
    ("'%999999999d' % 1", "operator Mod is only allowed on numbers"),
    ("x % 1", "operator Mod is only allowed on numbers"),
])
def test_sequence_repetition_and_formatting_are_refused(expression, message):
    with pytest.raises(ExpressionError, match=message):
        evaluate(expression, DATA)


def test_length_limit():
    long_expression = " + ".join(["1"] * (MAX_EXPRESSION_LENGTH // 4 + 1))
    with pytest.raises(ExpressionError, match=f"longer than {MAX_EXPRESSION_LENGTH} characters"):
        evaluate(long_expression, {})
    with pytest.raises(ExpressionError, match="longer than"):
        evaluate("x" * 10_000_000, {})


def test_node_limit():
    with pytest.raises(ExpressionError, match=f"more than {MAX_EXPRESSION_NODES} parts"):
        evaluate("[" + ",".join(["1"] * (MAX_EXPRESSION_NODES + 1)) + "]", {})


@pytest.mark.parametrize("expression", [
    "[" * (MAX_EXPRESSION_DEPTH + 1) + "]" * (MAX_EXPRESSION_DEPTH + 1),
    "-" * (MAX_EXPRESSION_DEPTH + 1) + "1",
    "not " * (MAX_EXPRESSION_DEPTH + 1) + "x",
    "len(" * (MAX_EXPRESSION_DEPTH + 1) + "x" + ")" * (MAX_EXPRESSION_DEPTH + 1),
])
def test_depth_limit(expression):
    with pytest.raises(ExpressionError, match=f"nested deeper than {MAX_EXPRESSION_DEPTH} levels"):
        evaluate(expression, DATA)


def test_parser_nesting_limit_is_an_expression_error():
    with pytest.raises(ExpressionError, match=r"invalid expression|longer than"):
        evaluate("(" * 300 + "1" + ")" * 300, {})


@pytest.mark.parametrize("expression, expected", [
    ("len(y) == 3", True),
    ("1 < 2 < 3", True),
    ("1 < 3 < 2", False),
    ("x in ('abc', 'def') and 'b' in x", True),
    ("x not in ['abc']", False),
    ("d['decision'] == 'approve'", True),
    ('facts["manager_age"] >= 20 and facts["manager_age"] <= 41', True),
    ("y[0] + y[-1] * 2 - 1", 6),
    ("7 // 2 + 7 % 2 + 1 / 4", 4.25),
    ("-d['n'] + +1", -3),
    ("not y or x", "abc"),
    ("0 or '' or None", None),
    ("y and d['n']", 4),
    ("min(y) + max(y) + abs(-2) + int('5') + len(str(10))", 13),
    ("sorted([3, 1, 2]) == [1, 2, 3] and any([0, 1]) and all(y) and bool(1)", True),
    ("{'a': 1, 'b': (1, 2)}['b'][1]", 2),
    ("len({1, 2, 2})", 2),
    ("x if len(y) > 2 else None", "abc"),
    ("d['missing'] if False else 'fallback'", "fallback"),
    ("None is None and x is not None", True),
    ("'P' + str(d['n']) + 'D'", "P4D"),
    ("  d['n'] == 4\n", True),
])
def test_admitted_expressions(expression, expected):
    assert evaluate(expression, DATA) == expected


@pytest.mark.parametrize("expression, message", [
    ("undefined == 1", "name 'undefined' is not defined"),
    ("d['missing']", "KeyError: 'missing'"),
    ("y[10]", "IndexError"),
    ("1 // 0", "ZeroDivisionError"),
    ("x + 1", "TypeError"),
    ("int('x')", "ValueError"),
    ("min()", "TypeError"),
    ("x < 1", "TypeError"),
])
def test_runtime_failures_are_expression_errors(expression, message):
    with pytest.raises(ExpressionError, match=message):
        evaluate(expression, DATA)


def test_function_names_are_not_values():
    with pytest.raises(ExpressionError, match="name 'len' is not defined"):
        evaluate("len", {})
    assert evaluate("len", {"len": 3}) == 3  # a variable may be called len; the function is still len
    assert evaluate("len(x)", {"x": "ab", "len": 3}) == 2


def test_compile_is_cached_and_checked_once():
    assert compile_expression("a == 1") is compile_expression("a == 1")
    with pytest.raises(ExpressionError, match="must be a string"):
        compile_expression(None)  # type: ignore[arg-type]


def test_script_engine_refuses_scripts_and_services():
    script_engine = RestrictedScriptEngine()
    with pytest.raises(ExpressionError, match="scripts are not allowed"):
        script_engine.environment.execute("import os", {})
    with pytest.raises(ExpressionError, match="service calls are not allowed"):
        script_engine.environment.call_service({}, operation_name="x")


def test_script_engine_validate_keeps_spiff_syntax_semantics():
    """Spiff's DMN engine tries `validate(cell)` and on SyntaxError prefixes the input: keep that."""
    script_engine = RestrictedScriptEngine()
    with pytest.raises(SyntaxError):
        script_engine.validate("< 20")
    script_engine.validate("v < 20")
    with pytest.raises(ExpressionError, match="attribute access"):
        script_engine.validate("v.__class__")


def test_script_task_is_refused_at_run_time():
    """Even a spec that skipped the parse-time check cannot run a script under the restricted engine."""
    parser = engine.EngineParser()
    parser.add_bpmn_bytes(SCRIPT_PROCESS.encode(), "scripted.bpmn")
    workflow = BpmnWorkflow(parser.get_spec("scripted"), script_engine=RestrictedScriptEngine())
    with pytest.raises(ExpressionError, match="scripts are not allowed"):
        workflow.do_engine_steps()


EVENTS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">
  <bpmn:message id="m_inquiry" name="inquiry" />
  <bpmn:process id="events" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateThrowEvent id="send_inquiry"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:messageEventDefinition id="med" messageRef="m_inquiry">
        <spiffworkflow:messagePayload>PAYLOAD</spiffworkflow:messagePayload>
      </bpmn:messageEventDefinition>
    </bpmn:intermediateThrowEvent>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition id="ted"><bpmn:timeDuration>DURATION</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="send_inquiry"/>
    <bpmn:sequenceFlow id="f2" sourceRef="send_inquiry" targetRef="wait"/>
    <bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def events_spec(payload: str, duration: str) -> engine.ProcessSpec:
    source = EVENTS.replace("PAYLOAD", payload).replace("DURATION", duration)
    return engine.spec_from_sources("events", {"events.bpmn": source.encode()})


def test_timer_and_message_payload_are_evaluated_restricted():
    instance = engine.Instance.start(events_spec('{"kind": "criminal_record", "n": len("abc")}', '"P3D"'))
    workflow = instance._workflow
    assert [event.payload for event in workflow.bpmn_events] == [{"kind": "criminal_record", "n": 3}]
    assert [event.value for event in workflow.waiting_events()] != []


@pytest.mark.parametrize("payload, duration, message", [
    ("().__class__.__base__", '"P3D"', "attribute access is not allowed"),
    ('{"kind": "x"}', "__import__('os')", "calling '__import__' is not allowed"),
    ('{"kind": "x"}', "'P' + str(9**9) + 'D'", "operator Pow is not allowed"),
])
def test_timer_and_message_payload_escapes_are_refused(payload, duration, message):
    """Refused when the spec is built, and again at run time if a spec skipped that check."""
    with pytest.raises(engine.SpecError, match="event expression: .*" + _literal(message)):
        events_spec(payload, duration)
    parser = engine.EngineParser()
    parser.add_bpmn_bytes(EVENTS.replace("PAYLOAD", payload).replace("DURATION", duration).encode(), "events.bpmn")
    workflow = BpmnWorkflow(parser.get_spec("events"), script_engine=RestrictedScriptEngine())
    with pytest.raises(ExpressionError, match=_literal(message)):
        workflow.do_engine_steps()


def _literal(text: str) -> str:
    import re
    return re.escape(text)
