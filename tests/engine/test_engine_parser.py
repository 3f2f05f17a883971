"""Safe XML parsing and parse-time checks: every bad source is a SpecError, never a raw traceback."""

import pytest

import engine
from engine import SpecError, parse_xml, spec_from_sources
from tests.engine.flow import BPMN_DIR, SCRIPT_PROCESS

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol9;</bpmn:definitions>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">
  <bpmn:process id="p" name="&xxe;" isExecutable="true"/>
</bpmn:definitions>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE d SYSTEM "http://127.0.0.1:9/evil.dtd">
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"/>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"/>"""



#: the resets of the founding's correction, as its diagram writes them
RESETS_VALUE = 'value="manager_training inquiry_results visit_schedule visit visit_violations county_review province_review"'


def real_sources() -> dict[str, bytes]:
    return engine.read_sources(BPMN_DIR, "center_founding")


def edited(filename: str, old: str, new: str) -> dict[str, bytes]:
    """The real sources with one exact edit in one file."""
    sources = real_sources()
    text = sources[filename].decode("utf-8")
    assert old in text, old
    sources[filename] = text.replace(old, new).encode("utf-8")
    return sources


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, PARAMETER_ENTITY],
                         ids=["billion-laughs", "external-entity", "external-dtd", "parameter-entity"])
def test_doctype_is_refused(payload):
    with pytest.raises(SpecError, match="DOCTYPE declaration is not allowed") as caught:
        parse_xml(payload, "evil.bpmn")
    assert "root:" not in str(caught.value)
    with pytest.raises(SpecError, match=r"evil\.bpmn: a DOCTYPE"):
        spec_from_sources("p", {"evil.bpmn": payload})


def test_doctype_in_utf16_is_refused_after_parsing():
    payload = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY x "y">]><d>&x;</d>'.encode("utf-16")
    with pytest.raises(SpecError, match="DOCTYPE declaration is not allowed"):
        parse_xml(payload, "evil.bpmn")


def test_doctype_is_refused_in_dmn_too():
    sources = real_sources()
    sources["manager_eligibility.dmn"] = sources["manager_eligibility.dmn"].replace(
        b"<definitions", b"<!DOCTYPE definitions [<!ENTITY x 'y'>]>\n<definitions", 1)
    with pytest.raises(SpecError, match=r"manager_eligibility\.dmn: a DOCTYPE"):
        spec_from_sources("center_founding", sources)


@pytest.mark.parametrize("payload, message", [
    (b"<a><b></a>", "not well-formed XML: Opening and ending tag mismatch"),
    (b"", "not well-formed XML: Document is empty"),
    (b"this is not xml", "not well-formed XML"),
    (b"<x>&undefined;</x>", "Entity 'undefined' not defined"),
    (b"\x89PNG\r\n\x1a\n", "not well-formed XML"),
])
def test_malformed_xml_is_a_spec_error(payload, message):
    with pytest.raises(SpecError, match=message):
        parse_xml(payload, "broken.bpmn")


def test_text_instead_of_bytes_is_refused():
    with pytest.raises(SpecError, match="must be bytes"):
        parse_xml("<x/>", "x.bpmn")  # type: ignore[arg-type]


def test_truncated_bpmn_names_file_and_line():
    source = (BPMN_DIR / "center_founding.bpmn").read_bytes()[:3000]
    with pytest.raises(SpecError, match=r"center_founding.bpmn: not well-formed XML: .*\(line \d+\)"):
        spec_from_sources("center_founding", {"center_founding.bpmn": source})


def test_wrong_document_kind_is_refused():
    dmn = (BPMN_DIR / "manager_eligibility.dmn").read_bytes()
    with pytest.raises(SpecError, match=r"not a BPMN 2\.0 document"):
        spec_from_sources("center_founding", {"center_founding.bpmn": dmn})
    with pytest.raises(SpecError, match="not a DMN document"):
        spec_from_sources("center_founding", {**real_sources(), "manager_eligibility.dmn": b"<x/>"})


def test_unknown_process_id():
    sources = {name: body for name, body in real_sources().items() if not name.endswith(".procedure.json")}
    with pytest.raises(SpecError, match=r"no executable process 'center_closing' \(executable processes: "
                                        r"center_founding\)"):
        spec_from_sources("center_closing", sources)


def test_a_manifest_belongs_to_its_process():
    with pytest.raises(SpecError, match=r"center_founding\.procedure\.json: the manifest of 'center_closing' must "
                                        r"be named center_closing\.procedure\.json"):
        spec_from_sources("center_closing", real_sources())


def test_unknown_source_kind():
    with pytest.raises(SpecError, match=r"notes\.txt: a source must be a \.bpmn, \.dmn or \.json file"):
        spec_from_sources("center_founding", {**real_sources(), "notes.txt": b"x"})


def test_missing_decision_is_a_spec_error():
    sources = real_sources()
    del sources["manager_eligibility.dmn"]
    with pytest.raises(SpecError, match="No DMN Diagram available with id \"manager_eligibility\""):
        spec_from_sources("center_founding", sources)


def test_decision_defined_twice():
    sources = real_sources()
    sources["copy.dmn"] = sources["manager_eligibility.dmn"]
    with pytest.raises(SpecError, match="decision 'manager_eligibility' is defined in two files"):
        spec_from_sources("center_founding", sources)


@pytest.mark.parametrize("filename, old, new, message", [
    ("manager_eligibility.dmn", "<text>&lt; 20</text>", "<text>&lt; ().__class__</text>",
     r"decision 'manager_eligibility', rule 1 \(Rule_manager_age_min\): attribute access"),
    ("manager_eligibility.dmn", '<text>? not in ("diploma"', '<text>? not in open("/etc/passwd") or ("diploma"',
     r"decision 'manager_eligibility', rule 3 .*calling 'open'"),
    ("manager_eligibility.dmn", '<text>"manager_age_max"</text>', '<text>__import__("os")</text>',
     r"decision 'manager_eligibility', rule 2 .*calling '__import__' is not allowed"),
    ("manager_eligibility.dmn", "<text>&gt; 0</text>", "<text>&gt; 0 or _x</text>",
     r"decision 'manager_eligibility', rule 4 \(Rule_manager_already_managing\): .*names may not start with '_'"),
    ("center_eligibility.dmn", "<text>&gt; 200</text>", "<text>&gt; 2 ** 99</text>",
     r"decision 'center_eligibility', rule 3 .*operator Pow is not allowed"),
    ("center_eligibility.dmn", "<text>&lt; 5</text>", "<text>&lt; [x for x in y]</text>",
     r"decision 'center_eligibility', rule 1 .*ListComp is not allowed"),
    ("center_eligibility.dmn", "<text>&lt; 80</text>", "<text>&lt; 80 +</text>",
     r"decision 'center_eligibility', rule 2 .*(invalid syntax|invalid expression)"),
    ("center_eligibility.dmn", "<text>&lt; 80</text>", "<text> </text>",
     r"decision 'center_eligibility', rule 2 .*empty input cell"),
    ("center_eligibility.dmn", "<text>&lt; 80</text>", "<text>&lt; _secret</text>",
     r"decision 'center_eligibility', rule 2 .*names may not start with '_'"),
])
def test_dmn_cell_that_does_not_compile(filename, old, new, message):
    with pytest.raises(SpecError, match=filename.replace(".", r"\.") + ": " + message):
        spec_from_sources("center_founding", edited(filename, old, new))


def test_dmn_input_expression_that_does_not_compile():
    sources = edited("center_eligibility.dmn", 'application["facts"]["space_area_m2"]', "application.facts")
    with pytest.raises(SpecError, match=r"center_eligibility\.dmn: .*rule 2 .*attribute access is not allowed"):
        spec_from_sources("center_founding", sources)


def test_dmn_unsupported_hit_policy():
    sources = edited("manager_eligibility.dmn", 'hitPolicy="COLLECT"', 'hitPolicy="FIRST"')
    with pytest.raises(SpecError, match="hit policy FIRST is not supported"):
        spec_from_sources("center_founding", sources)


def test_gateway_condition_that_does_not_compile():
    sources = edited("center_founding.bpmn", "len(center_violations) + len(manager_violations) == 0",
                     "center_violations.__len__() == 0")
    with pytest.raises(SpecError, match="Gateway_eligible: condition towards 'decide_training': attribute access"):
        spec_from_sources("center_founding", sources)


def test_script_task_is_refused_at_parse_time():
    with pytest.raises(SpecError, match="script: script and service tasks are not allowed"):
        spec_from_sources("scripted", {"scripted.bpmn": SCRIPT_PROCESS.encode()})


def test_user_task_without_form_key():
    sources = edited("center_founding.bpmn",
                     '<spiffworkflow:property name="formKey" value="review_decision" />\n'
                     '          <spiffworkflow:property name="dataKey" value="county_review" />',
                     '<spiffworkflow:property name="dataKey" value="county_review" />')
    with pytest.raises(SpecError, match="user task 'county_review' has no formKey property"):
        spec_from_sources("center_founding", sources)


def test_read_sources_refuses_odd_keys_and_missing_files(tmp_path):
    with pytest.raises(SpecError, match="invalid process key"):
        engine.read_sources(BPMN_DIR, "../center_founding")
    with pytest.raises(SpecError, match=r"cannot read .*nothing\.bpmn"):
        engine.read_sources(tmp_path, "nothing")


def test_read_sources_takes_the_process_its_manifest_every_rule_table_and_every_data_table():
    sources = real_sources()
    mine = {"center_founding.bpmn", "center_founding.procedure.json", "center_eligibility.dmn",
            "manager_eligibility.dmn", "deadlines.json"}
    assert mine <= set(sources)
    shared = sorted(path.name for pattern in ("*.dmn", "*.json") for path in BPMN_DIR.glob(pattern)
                    if not path.name.endswith(".procedure.json"))
    declared_forms = sorted(f"forms/{path.name}" for path in (BPMN_DIR / "forms").glob("*.json"))
    assert "forms/review_decision.form.json" in declared_forms
    assert sorted(sources) == sorted(["center_founding.bpmn", "center_founding.procedure.json", *shared, *declared_forms])
    assert spec_from_sources("center_founding", sources).manifest["title"] == "تأسیس کانون"
    assert not any(name.endswith(".bpmn") and name != "center_founding.bpmn" for name in sources)


# --- events the runtime cannot honour ------------------------------------------------------------------

GATEWAY = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">
  <bpmn:message id="m_answer" name="answer" />
  MORE_MESSAGES
  <bpmn:process id="waits" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:eventBasedGateway id="gateway"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:eventBasedGateway>
    <bpmn:intermediateCatchEvent id="answered"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:messageEventDefinition id="med" messageRef="m_answer">MESSAGE_EXTENSIONS</bpmn:messageEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="late"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing>
      <bpmn:timerEventDefinition id="ted">TIMER</bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="later"><bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f7</bpmn:outgoing>
      SECOND_EVENT
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f5</bpmn:incoming><bpmn:incoming>f6</bpmn:incoming>
      <bpmn:incoming>f7</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gateway"/>
    <bpmn:sequenceFlow id="f2" sourceRef="gateway" targetRef="answered"/>
    <bpmn:sequenceFlow id="f3" sourceRef="gateway" targetRef="late"/>
    <bpmn:sequenceFlow id="f4" sourceRef="gateway" targetRef="later"/>
    <bpmn:sequenceFlow id="f5" sourceRef="answered" targetRef="end"/>
    <bpmn:sequenceFlow id="f6" sourceRef="late" targetRef="end"/>
    <bpmn:sequenceFlow id="f7" sourceRef="later" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
VARIABLE = ("<bpmn:extensionElements><spiffworkflow:messageVariable>answer</spiffworkflow:messageVariable>"
            "</bpmn:extensionElements>")
DURATION = '<bpmn:timeDuration>"P3D"</bpmn:timeDuration>'
SIGNAL = '<bpmn:signalEventDefinition id="sed" signalRef="s"/>'


def gateway_spec(*, extensions: str = VARIABLE, timer: str = DURATION, second: str = "",
                 more: str = '<bpmn:signal id="s" name="s" />') -> engine.ProcessSpec:
    second = second or '<bpmn:messageEventDefinition id="med2" messageRef="m_other">' + VARIABLE.replace(
        ">answer<", ">other<") + "</bpmn:messageEventDefinition>"
    more += '<bpmn:message id="m_other" name="other" />'
    source = (GATEWAY.replace("MESSAGE_EXTENSIONS", extensions).replace("TIMER", timer)
              .replace("SECOND_EVENT", second).replace("MORE_MESSAGES", more))
    return spec_from_sources("waits", {"waits.bpmn": source.encode()})


def test_well_formed_event_gateway_is_accepted():
    spec = gateway_spec()
    instance = engine.Instance.start(spec)
    assert instance.awaited_messages() == ["answer", "other"]
    assert [wait.name for wait in instance.timers()] == ["late"]
    instance.send_message("other", {"x": 1})
    assert instance.is_completed() and instance.data()["other"] == {"x": 1} and "answer" not in instance.data()


def test_message_catch_without_variable_is_refused():
    with pytest.raises(SpecError, match="gateway: message 'answer' is caught without a "
                                        "spiffworkflow:messageVariable"):
        gateway_spec(extensions="")


def test_cycle_timer_is_refused():
    with pytest.raises(SpecError, match="gateway: cycle timers are not supported"):
        gateway_spec(timer='<bpmn:timeCycle>"R3/PT1H"</bpmn:timeCycle>')


def test_two_timers_after_one_gateway_are_refused():
    with pytest.raises(SpecError, match="gateway: at most one timer may follow an event-based gateway"):
        gateway_spec(second='<bpmn:timerEventDefinition id="ted2">' + DURATION + "</bpmn:timerEventDefinition>")


def test_message_correlation_is_refused():
    correlated = """<bpmn:collaboration id="c">
    <bpmn:correlationKey id="ck" name="case"><bpmn:correlationPropertyRef>case_id</bpmn:correlationPropertyRef>
    </bpmn:correlationKey></bpmn:collaboration>
  <bpmn:correlationProperty id="case_id" name="case id">
    <bpmn:correlationPropertyRetrievalExpression messageRef="m_answer">
      <bpmn:messagePath>case_id</bpmn:messagePath></bpmn:correlationPropertyRetrievalExpression>
  </bpmn:correlationProperty>"""
    with pytest.raises(SpecError, match="gateway: message correlation is not supported"):
        gateway_spec(more=correlated)


def test_timer_expression_is_compiled_at_parse_time():
    with pytest.raises(SpecError, match=r"gateway: event expression: .*attribute access"):
        gateway_spec(timer="<bpmn:timeDuration>deadlines.__class__</bpmn:timeDuration>")


@pytest.mark.parametrize("value, fires_at", [
    ('"2025-04-01T12:00:00+03:30"', "2025-04-01T08:30:00+00:00"),
    ('"2025-04-01T08:30:00Z"', "2025-04-01T08:30:00+00:00"),
])
def test_date_timer(value, fires_at):
    from datetime import datetime
    spec = gateway_spec(timer=f"<bpmn:timeDate>{value}</bpmn:timeDate>")
    instance = engine.Instance.start(spec)
    [wait] = instance.timers()
    assert wait.fire_at == datetime.fromisoformat(fires_at)
    loaded = engine.Instance.load(spec, instance.serialize())
    assert loaded.fire_due_timers(wait.fire_at) == ["late"]
    assert loaded.is_completed() and loaded.awaited_messages() == []


def test_date_timer_without_offset_is_an_expression_error():
    spec = gateway_spec(timer='<bpmn:timeDate>"2025-04-01T12:00:00"</bpmn:timeDate>')
    with pytest.raises(engine.ExpressionError, match="'2025-04-01T12:00:00' has no UTC offset"):
        engine.Instance.start(spec)


@pytest.mark.parametrize("resets, message", [
    ("inquiry_results, _secret", "resets '_secret', which is not a variable name"),
    ("a.b", "resets 'a.b', which is not a variable name"),
])
def test_resets_must_name_variables(resets, message):
    sources = edited("center_founding.bpmn", RESETS_VALUE,
                     f'value="{resets}"')
    with pytest.raises(SpecError, match=f"user task 'correct_application' {message}"):
        spec_from_sources("center_founding", sources)


def test_resets_may_be_separated_by_commas():
    sources = edited("center_founding.bpmn", RESETS_VALUE,
                     'value="inquiry_results,county_review, province_review"')
    assert spec_from_sources("center_founding", sources).user_tasks["correct_application"].resets == (
        "inquiry_results", "county_review", "province_review")
