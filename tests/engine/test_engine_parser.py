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
    with pytest.raises(SpecError, match=r"no executable process 'center_closing' \(executable processes: "
                                        r"center_founding\)"):
        spec_from_sources("center_closing", real_sources())


def test_unknown_source_kind():
    with pytest.raises(SpecError, match=r"notes\.txt: a source must be a \.bpmn or \.dmn file"):
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


@pytest.mark.parametrize("old, new, message", [
    ("<text>&lt; 20</text>", "<text>&lt; ().__class__</text>", r"rule 1 \(Rule_manager_age_min\): attribute access"),
    ('<text>? not in ("diploma"', '<text>? not in open("/etc/passwd") or ("diploma"', r"rule 3 .*calling 'open'"),
    ('<text>"manager_age_max"</text>', '<text>__import__("os")</text>',
     r"rule 2 .*calling '__import__' is not allowed"),
    ("<text>&gt; 200</text>", "<text>&gt; 2 ** 99</text>", r"rule 6 .*operator Pow is not allowed"),
    ("<text>&lt; 5</text>", "<text>&lt; [x for x in y]</text>", r"rule 4 .*ListComp is not allowed"),
    ("<text>&lt; 80</text>", "<text>&lt; 80 +</text>", r"rule 5 .*invalid syntax|rule 5 .*invalid expression"),
    ("<text>&lt; 80</text>", "<text> </text>", r"rule 5 .*empty input cell"),
    ("<text>&lt; 80</text>", "<text>&lt; _secret</text>", r"rule 5 .*names may not start with '_'"),
])
def test_dmn_cell_that_does_not_compile(old, new, message):
    with pytest.raises(SpecError, match=r"manager_eligibility.dmn: decision 'manager_eligibility', " + message):
        spec_from_sources("center_founding", edited("manager_eligibility.dmn", old, new))


def test_dmn_input_expression_that_does_not_compile():
    sources = edited("manager_eligibility.dmn", 'application["facts"]["space_area_m2"]', "application.facts")
    with pytest.raises(SpecError, match=r"rule 5 .*attribute access is not allowed"):
        spec_from_sources("center_founding", sources)


def test_dmn_unsupported_hit_policy():
    sources = edited("manager_eligibility.dmn", 'hitPolicy="COLLECT"', 'hitPolicy="FIRST"')
    with pytest.raises(SpecError, match="hit policy FIRST is not supported"):
        spec_from_sources("center_founding", sources)


def test_gateway_condition_that_does_not_compile():
    sources = edited("center_founding.bpmn", "len(eligibility_violations) == 0",
                     "eligibility_violations.__len__() == 0")
    with pytest.raises(SpecError, match="Gateway_eligible: condition towards 'county_review': attribute access"):
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


def test_read_sources_takes_the_process_and_every_rule_table():
    assert sorted(real_sources()) == ["center_founding.bpmn", "manager_eligibility.dmn"]
