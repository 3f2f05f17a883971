"""The shipped BPMN and DMN files: schema-valid, fully drawn, lanes as the application expects."""

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS
from SpiffWorkflow.spiff.parser.process import VALIDATOR

from engine import parse_xml
from tests.engine.flow import BPMN_DIR

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
}
FLOW_NODES = ("startEvent", "endEvent", "userTask", "businessRuleTask", "exclusiveGateway")


def bpmn():
    return parse_xml((BPMN_DIR / "center_founding.bpmn").read_bytes(), "center_founding.bpmn")


def test_bpmn_is_schema_valid():
    VALIDATOR.validate(bpmn(), "center_founding.bpmn")


def test_dmn_is_schema_valid():
    root = parse_xml((BPMN_DIR / "manager_eligibility.dmn").read_bytes(), "manager_eligibility.dmn")
    BpmnValidator(SCHEMAS[etree.QName(root).namespace]).validate(root, "manager_eligibility.dmn")


def test_every_element_is_drawn():
    root = bpmn()
    drawn_shapes = {shape.get("bpmnElement") for shape in root.iterfind(".//bpmndi:BPMNShape", NS)}
    drawn_edges = {edge.get("bpmnElement") for edge in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    nodes = {node.get("id") for tag in FLOW_NODES for node in root.iterfind(f".//bpmn:{tag}", NS)}
    lanes = {lane.get("id") for lane in root.iterfind(".//bpmn:lane", NS)}
    flows = {flow.get("id") for flow in root.iterfind(".//bpmn:sequenceFlow", NS)}
    assert nodes | lanes | {"Participant_center_founding"} == drawn_shapes
    assert flows == drawn_edges
    for edge in root.iterfind(".//bpmndi:BPMNEdge", NS):
        assert len(edge.findall("di:waypoint", NS)) >= 2


def test_every_node_is_in_exactly_one_named_lane():
    root = bpmn()
    lanes = {lane.get("name"): [ref.text for ref in lane.iterfind("bpmn:flowNodeRef", NS)]
             for lane in root.iterfind(".//bpmn:lane", NS)}
    assert set(lanes) == {"applicant", "county", "province"}
    placed = [node for refs in lanes.values() for node in refs]
    nodes = [node.get("id") for tag in FLOW_NODES for node in root.iterfind(f".//bpmn:{tag}", NS)]
    assert sorted(placed) == sorted(nodes)


def test_every_visible_element_has_a_persian_name():
    root = bpmn()
    for tag in ("userTask", "businessRuleTask", "startEvent", "endEvent"):
        for node in root.iterfind(f".//bpmn:{tag}", NS):
            name = node.get("name") or ""
            assert any("\u0600" <= char <= "\u06ff" for char in name), node.get("id")
