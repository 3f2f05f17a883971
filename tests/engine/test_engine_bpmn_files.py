"""The shipped BPMN and DMN files: schema-valid, fully and sensibly drawn, lanes as the application expects."""

import re

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS
from SpiffWorkflow.spiff.parser.process import VALIDATOR

from engine import parse_xml
from tests.engine.flow import BPMN_DIR, PROCESSES

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
FLOW_NODES = ("startEvent", "endEvent", "userTask", "businessRuleTask", "exclusiveGateway", "eventBasedGateway",
              "intermediateCatchEvent", "boundaryEvent")
NAMED = ("userTask", "businessRuleTask", "startEvent", "endEvent", "intermediateCatchEvent", "boundaryEvent",
         "eventBasedGateway")
LANES = {
    "center_founding": {"applicant", "county", "province"},
    "manager_change": {"applicant", "county", "province"},
    "manager_retirement": {"applicant", "county"},
    "manager_resignation": {"applicant", "county"},
}
TABLES = ("manager_eligibility.dmn", "center_eligibility.dmn")
PERSIAN = re.compile("[\u0600-\u06ff]")


def bpmn(process: str):
    return parse_xml((BPMN_DIR / f"{process}.bpmn").read_bytes(), f"{process}.bpmn")


def nodes(root) -> dict[str, etree._Element]:
    return {node.get("id"): node for tag in FLOW_NODES for node in root.iterfind(f".//bpmn:{tag}", NS)}


def bounds(root) -> dict[str, tuple[float, float, float, float]]:
    found = {}
    for shape in root.iterfind(".//bpmndi:BPMNShape", NS):
        box = shape.find("dc:Bounds", NS)
        found[shape.get("bpmnElement")] = tuple(float(box.get(key)) for key in ("x", "y", "width", "height"))
    return found


def on_border(point: tuple[float, float], box: tuple[float, float, float, float], slack: float = 1) -> bool:
    x, y = point
    left, top, width, height = box
    right, bottom = left + width, top + height
    inside = left - slack <= x <= right + slack and top - slack <= y <= bottom + slack
    return inside and min(abs(x - left), abs(x - right), abs(y - top), abs(y - bottom)) <= slack


def within(inner, outer) -> bool:
    return (outer[0] <= inner[0] and inner[0] + inner[2] <= outer[0] + outer[2]
            and outer[1] <= inner[1] and inner[1] + inner[3] <= outer[1] + outer[3])


def overlap(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@pytest.mark.parametrize("process", PROCESSES)
def test_bpmn_is_schema_valid(process):
    VALIDATOR.validate(bpmn(process), f"{process}.bpmn")


@pytest.mark.parametrize("table", TABLES)
def test_dmn_is_schema_valid(table):
    root = parse_xml((BPMN_DIR / table).read_bytes(), table)
    BpmnValidator(SCHEMAS[etree.QName(root).namespace]).validate(root, table)


@pytest.mark.parametrize("process", PROCESSES)
def test_every_element_is_drawn(process):
    root = bpmn(process)
    drawn_shapes = {shape.get("bpmnElement") for shape in root.iterfind(".//bpmndi:BPMNShape", NS)}
    drawn_edges = {edge.get("bpmnElement") for edge in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    lanes = {lane.get("id") for lane in root.iterfind(".//bpmn:lane", NS)}
    flows = {flow.get("id") for flow in root.iterfind(".//bpmn:sequenceFlow", NS)}
    assert set(nodes(root)) | lanes | {f"Participant_{process}"} == drawn_shapes
    assert flows == drawn_edges
    for edge in root.iterfind(".//bpmndi:BPMNEdge", NS):
        assert len(edge.findall("di:waypoint", NS)) >= 2
    plane = root.find(".//bpmndi:BPMNPlane", NS)
    assert plane.get("bpmnElement") == root.find("bpmn:collaboration", NS).get("id")


@pytest.mark.parametrize("process", PROCESSES)
def test_the_drawing_is_sensible(process):
    """Shapes sit in their lanes without overlapping; edges run from their source's border to their target's,
    in horizontal and vertical segments; boundary events sit on their task's border."""
    root = bpmn(process)
    box = bounds(root)
    participant = box[f"Participant_{process}"]
    lanes = {lane.get("id"): [ref.text for ref in lane.iterfind("bpmn:flowNodeRef", NS)]
             for lane in root.iterfind(".//bpmn:lane", NS)}
    for lane, refs in lanes.items():
        assert within(box[lane], participant), lane
        for ref in refs:
            if root.find(f".//bpmn:boundaryEvent[@id='{ref}']", NS) is None:
                assert within(box[ref], box[lane]), (lane, ref)
    boundary = {event.get("id"): event.get("attachedToRef") for event in root.iterfind(".//bpmn:boundaryEvent", NS)}
    for event, host in boundary.items():
        x, y, width, height = box[event]
        assert on_border((x + width / 2, y + height / 2), box[host]), event
    shapes = [node for node in nodes(root) if node not in boundary]
    for index, first in enumerate(shapes):
        for second in shapes[index + 1:]:
            assert not overlap(box[first], box[second]), (first, second)
    for flow in root.iterfind(".//bpmn:sequenceFlow", NS):
        edge = root.find(f".//bpmndi:BPMNEdge[@bpmnElement='{flow.get('id')}']", NS)
        points = [(float(point.get("x")), float(point.get("y"))) for point in edge.iterfind("di:waypoint", NS)]
        assert on_border(points[0], box[flow.get("sourceRef")]), flow.get("id")
        assert on_border(points[-1], box[flow.get("targetRef")]), flow.get("id")
        for (x1, y1), (x2, y2) in zip(points, points[1:]):
            assert x1 == x2 or y1 == y2, flow.get("id")
            assert within((min(x1, x2), min(y1, y2), abs(x2 - x1), abs(y2 - y1)), participant), flow.get("id")


@pytest.mark.parametrize("process", PROCESSES)
def test_every_node_is_in_exactly_one_named_lane(process):
    root = bpmn(process)
    lanes = {lane.get("name"): [ref.text for ref in lane.iterfind("bpmn:flowNodeRef", NS)]
             for lane in root.iterfind(".//bpmn:lane", NS)}
    assert set(lanes) == LANES[process]
    placed = [node for refs in lanes.values() for node in refs]
    assert sorted(placed) == sorted(nodes(root))


@pytest.mark.parametrize("process", PROCESSES)
def test_every_visible_element_has_a_persian_name(process):
    root = bpmn(process)
    for tag in NAMED:
        for node in root.iterfind(f".//bpmn:{tag}", NS):
            assert PERSIAN.search(node.get("name") or ""), node.get("id")
    assert PERSIAN.search(root.find("bpmn:process", NS).get("name"))


@pytest.mark.parametrize("process", PROCESSES)
def test_user_tasks_carry_a_form_and_a_data_key(process):
    root = bpmn(process)
    assert root.find(".//bpmn:task", NS) is None and root.find(".//bpmn:manualTask", NS) is None
    for task in root.iterfind(".//bpmn:userTask", NS):
        properties = {prop.get("name"): prop.get("value")
                      for prop in task.iterfind(".//spiffworkflow:property", NS)}
        assert properties.get("formKey") and properties.get("dataKey"), task.get("id")


@pytest.mark.parametrize("process", PROCESSES)
def test_every_exclusive_split_has_a_default(process):
    root = bpmn(process)
    for gateway in root.iterfind(".//bpmn:exclusiveGateway", NS):
        outgoing = gateway.findall("bpmn:outgoing", NS)
        if len(outgoing) > 1:
            assert gateway.get("default") in [flow.text for flow in outgoing], gateway.get("id")


@pytest.mark.parametrize("process", PROCESSES)
def test_messages_and_timers_are_declared_as_the_engine_needs(process):
    root = bpmn(process)
    for catch in root.iterfind(".//bpmn:messageEventDefinition", NS):
        message = root.find(f"bpmn:message[@id='{catch.get('messageRef')}']", NS)
        assert message is not None and message.get("name")
        assert catch.find("bpmn:extensionElements/spiffworkflow:messageVariable", NS).text
    for timer in root.iterfind(".//bpmn:timerEventDefinition", NS):
        assert re.fullmatch(r'deadlines\["\w+"\]', timer.find("bpmn:timeDuration", NS).text)
    for event in root.iterfind(".//bpmn:boundaryEvent", NS):
        assert event.get("cancelActivity") == "true"
