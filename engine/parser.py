"""Safe parsing of BPMN and DMN sources into SpiffWorkflow specs.

XML is parsed with entity resolution, DTD loading and network access off, and any
document type declaration is refused. Every expression found at parse time (gateway
conditions, DMN cells, timer and payload expressions) must compile under the restricted
evaluator; script and service tasks are refused, and so are events the runtime cannot honour
(cycle timers, two timers on one event, message correlation, a message catch without a
variable for its payload). Timers are replaced by the engine's clocked ones (see events.py).
Every failure surfaces as SpecError naming the file and element.
"""

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask, StandardLoopTask
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptEngineTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.dmn.specs.model import Decision, HitPolicy
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from .errors import ExpressionError, SpecError
from .events import event_definitions, install_clocked_timers, parse_duration
from .expressions import RestrictedScriptEngine, compile_expression
from .limits import MAX_ELEMENTS, MAX_LOOP_INSTANCES, MAX_SUBPROCESS_DEPTH

__all__ = ["BPMN_NS", "DMN_NAMESPACES", "CollectAllEngine", "EngineParser", "parse_xml"]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DMN_NAMESPACES = frozenset({
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
})
_HIT_POLICIES = frozenset(policy.value for policy in HitPolicy)


def parse_xml(source: bytes, filename: str) -> Any:
    """Parse XML bytes without entities, DTDs or network access; refuse any DOCTYPE."""
    if not isinstance(source, bytes):
        raise SpecError(f"{filename}: source must be bytes, not {type(source).__name__}")
    if b"<!DOCTYPE" in source:  # fast path for the clear message; the docinfo check below is authoritative
        raise SpecError(f"{filename}: a DOCTYPE declaration is not allowed in BPMN or DMN files")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(source, parser)
    except etree.XMLSyntaxError as exc:
        raise SpecError(f"{filename}: not well-formed XML: {exc.msg} (line {exc.lineno})") from None
    except ValueError as exc:
        raise SpecError(f"{filename}: not XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise SpecError(f"{filename}: a DOCTYPE declaration is not allowed in BPMN or DMN files")
    return root


class CollectAllEngine(DMNEngine):
    """Spiff's DMN engine, except that every output is set when no rule matches: an empty list (COLLECT),
    None (UNIQUE, where the first row that matches decides).

    Spiff leaves the outputs unset when nothing matches, so a variable from an earlier pass
    (or none at all) would reach the gateway; the empty value replaces the old one instead.
    """

    def result(self, task: Any) -> dict:
        """Return the decision's outputs for the task's data."""
        result = super().result(task)
        empty = [] if self.decision_table.hit_policy == HitPolicy.COLLECT.value else None
        for output in self.decision_table.outputs:
            result.setdefault((output.name or output.label).split(".")[0], empty)
        return result


class EngineParser(SpiffBpmnParser):
    """SpiffBpmnParser fed only through the safe XML parser and checked for restricted expressions."""

    def add_bpmn_bytes(self, source: bytes, filename: str) -> None:
        """Add one BPMN document."""
        root = parse_xml(source, filename)
        if root.tag != f"{{{BPMN_NS}}}definitions":
            raise SpecError(f"{filename}: not a BPMN 2.0 document (root element {root.tag})")
        with _spec_errors(filename):
            self.add_bpmn_xml(root, filename)

    def add_dmn_bytes(self, source: bytes, filename: str) -> None:
        """Add one DMN document and check every cell of its decision table."""
        root = parse_xml(source, filename)
        if etree.QName(root).namespace not in DMN_NAMESPACES or etree.QName(root).localname != "definitions":
            raise SpecError(f"{filename}: not a DMN document (root element {root.tag})")
        known = set(self.dmn_parsers)
        with _spec_errors(filename):
            self.add_dmn_xml(root, filename)
            dmn_parser = next(each for each in self.dmn_parsers.values() if each.node is root)
            if dmn_parser.bpmn_id in known:
                raise SpecError(f"{filename}: decision {dmn_parser.bpmn_id!r} is defined in two files")
            dmn_parser.parse()
        _check_decision(dmn_parser.decision, filename)

    def get_engine(self, decision_ref: str, node: Any) -> CollectAllEngine:
        """Return the engine of a decision, with complete COLLECT results."""
        return CollectAllEngine(super().get_engine(decision_ref, node).decision_table)

    def process_specs(self, process_key: str) -> tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]:
        """Return the spec of a process and the specs of the subprocesses it calls."""
        if process_key not in self.get_process_ids():
            known = ", ".join(sorted(self.get_process_ids())) or "none"
            raise SpecError(f"no executable process {process_key!r} (executable processes: {known})")
        with _spec_errors(process_key):
            spec = self.get_spec(process_key)
            subprocess_specs = self.get_subprocess_specs(process_key)
        _check_size(spec, subprocess_specs)
        for each in (spec, *subprocess_specs.values()):
            _check_process(each)
            install_clocked_timers(each)
        return spec, subprocess_specs


@contextmanager
def _spec_errors(where: str) -> Iterator[None]:
    """Turn Spiff's validation errors into SpecError naming file, line and element."""
    try:
        yield
    except ValidationException as exc:
        place = ", ".join(part for part in (
            exc.file_name or where,
            f"line {exc.line_number}" if exc.line_number else "",
            f"element {exc.id!r}" if exc.id else "",
        ) if part)
        raise SpecError(f"{place}: {exc}") from None
    except SpiffWorkflowException as exc:
        raise SpecError(f"{where}: {exc}") from None
    except (LookupError, AttributeError, TypeError, ValueError, AssertionError) as exc:
        raise SpecError(f"{where}: cannot read the definition: {type(exc).__name__}: {exc}") from None


class _CompileOnlyEngine(RestrictedScriptEngine):
    """Stands in for the runtime engine while the DMN engine builds each cell's expression."""

    def evaluate(self, task: Any, expression: str, external_context: dict | None = None) -> bool:
        """Compile the expression instead of evaluating it."""
        compile_expression(expression)
        return True


def _check_decision(decision: Decision, filename: str) -> None:
    """Compile every cell exactly as Spiff's DMN engine will build it at run time."""
    task = SimpleNamespace(data={}, workflow=SimpleNamespace(script_engine=_CompileOnlyEngine()))
    for table in decision.decisionTables:
        where = f"{filename}: decision {decision.id!r}"
        if table.hit_policy not in _HIT_POLICIES:
            raise SpecError(f"{where}: hit policy {table.hit_policy} is not supported (only UNIQUE, COLLECT)")
        for column in table.inputs:
            if not column.expression:
                raise SpecError(f"{where}: input {column.label or column.id!r} has no expression")
        engine = DMNEngine(table)
        for rule in table.rules:
            try:
                for entry in rule.inputEntries:
                    for cell in entry.lhs:
                        if cell is not None and not cell.strip():
                            raise ExpressionError("empty input cell (write - for any value)")
                        engine.evaluate(entry.input.expression, cell, task)
                rule.output_as_dict(task)
            except (SyntaxError, ExpressionError) as exc:
                raise SpecError(f"{where}, rule {rule.row_number} ({rule.id}): {exc}") from None


def _check_size(spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]) -> None:
    """Refuse a process too large to run cheaply, or whose subprocesses nest too deep (or call themselves)."""
    elements = sum(len(each.task_specs) for each in (spec, *subprocess_specs.values()))
    if elements > MAX_ELEMENTS:
        raise SpecError(f"{spec.file}: process {spec.name!r} has {elements} elements with its subprocesses "
                        f"(at most {MAX_ELEMENTS})")
    specs = {spec.name: spec, **subprocess_specs}

    def descend(name: str, chain: tuple[str, ...]) -> None:
        if len(chain) > MAX_SUBPROCESS_DEPTH:
            raise SpecError(f"{spec.file}: subprocesses nest deeper than {MAX_SUBPROCESS_DEPTH} levels "
                            f"({' > '.join(chain)})")
        called = specs.get(name)
        for task_spec in called.task_specs.values() if called is not None else ():
            if isinstance(task_spec, SubWorkflowTask):
                if task_spec.spec in chain or task_spec.spec == spec.name:
                    raise SpecError(f"{called.file}: {task_spec.bpmn_id!r} calls {task_spec.spec!r}, which is "
                                    f"already running it: a process may not call itself")
                descend(task_spec.spec, (*chain, task_spec.spec))

    descend(spec.name, ())


def _check_process(spec: BpmnProcessSpec) -> None:
    """Refuse scripts and service calls; compile every gateway condition; bound loops."""
    for task_spec in spec.task_specs.values():
        where = f"{spec.file}: {task_spec.bpmn_id or task_spec.name}"
        if isinstance(task_spec, ScriptEngineTask) or getattr(task_spec, "prescript", None) \
                or getattr(task_spec, "postscript", None):
            raise SpecError(f"{where}: script and service tasks are not allowed")
        _check_loop(task_spec, where)
        for condition, target in getattr(task_spec, "cond_task_specs", ()):
            if condition is None:
                continue
            try:
                compile_expression(condition.args[0])
            except ExpressionError as exc:
                raise SpecError(f"{where}: condition towards {target!r}: {exc}") from None
        _check_events(task_spec, where)


def _check_loop(task_spec: Any, where: str) -> None:
    """Compile loop expressions; refuse a literal cardinality or loop maximum beyond MAX_LOOP_INSTANCES.

    A cardinality that is an expression is checked against the same bound when it is
    evaluated (RestrictedScriptEngine.evaluate).
    """
    if isinstance(task_spec, StandardLoopTask):
        if task_spec.maximum is None or not 1 <= task_spec.maximum <= MAX_LOOP_INSTANCES:
            raise SpecError(f"{where}: a standard loop needs a loopMaximum from 1 to {MAX_LOOP_INSTANCES} "
                            f"(it has {task_spec.maximum})")
        _compile_part(task_spec.condition, f"{where}: loop condition")
    if not isinstance(task_spec, MultiInstanceTask):
        return
    _compile_part(task_spec.condition, f"{where}: completion condition")
    if task_spec.cardinality is None:
        return
    tree = _compile_part(task_spec.cardinality, f"{where}: loopCardinality")
    if isinstance(tree.body, ast.Constant):
        value = tree.body.value
        if type(value) is not int or not 0 <= value <= MAX_LOOP_INSTANCES:
            raise SpecError(f"{where}: loopCardinality {task_spec.cardinality.strip()!r} is not a whole number "
                            f"from 0 to {MAX_LOOP_INSTANCES}")


def _compile_part(expression: str | None, where: str) -> ast.Expression | None:
    if expression is None:
        return None
    try:
        return compile_expression(expression)
    except ExpressionError as exc:
        raise SpecError(f"{where}: {exc}") from None


def _check_events(task_spec: Any, where: str) -> None:
    """Compile event expressions; refuse events the runtime cannot honour."""
    definitions = event_definitions(task_spec)
    if sum(isinstance(each, TimerEventDefinition) for each in definitions) > 1:
        raise SpecError(f"{where}: at most one timer may follow an event-based gateway (Spiff gives them "
                        f"one due time)")
    for definition in definitions:
        expression = getattr(definition, "expression", None)
        if expression is not None:
            tree = _compile_part(expression, f"{where}: event expression")
            if isinstance(definition, DurationTimerEventDefinition) and isinstance(tree.body, ast.Constant):
                try:
                    parse_duration(tree.body.value)
                except ExpressionError as exc:
                    raise SpecError(f"{where}: timer duration: {exc}") from None
        if isinstance(definition, CycleTimerEventDefinition):
            raise SpecError(f"{where}: cycle timers are not supported (use a duration or a date)")
        if isinstance(definition, MessageEventDefinition):
            if definition.correlation_properties or getattr(definition, "process_correlations", None):
                raise SpecError(f"{where}: message correlation is not supported (the application sends a "
                                f"message to one instance)")
            if isinstance(task_spec, CatchingEvent) and not getattr(definition, "message_var", None):
                raise SpecError(f"{where}: message {definition.name!r} is caught without a "
                                f"spiffworkflow:messageVariable to receive its payload")
