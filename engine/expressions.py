"""Restricted expression evaluator for BPMN conditions, DMN cells, timers and message payloads.

BPMN and DMN files are data, not trusted code. Every expression is parsed with `ast` and
admitted only if each node is on a small whitelist; the checked tree is then interpreted
here, never handed to `eval`. There is no attribute access, no names starting with `_`,
no comprehensions or lambdas, no `**`, `*` and `%` only on numbers, and calls only
to the functions in FUNCTIONS. Length, size and nesting of the text are bounded.
"""

import ast
import operator
from collections import ChainMap
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, cast

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask

from .errors import ExpressionError
from .limits import MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_LENGTH, MAX_EXPRESSION_NODES, MAX_LOOP_INSTANCES

__all__ = [
    "FUNCTIONS",
    "RestrictedEnvironment",
    "RestrictedScriptEngine",
    "compile_expression",
    "evaluate",
]

#: The only functions an expression may call.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len, "min": min, "max": max, "abs": abs, "int": int, "str": str,
    "bool": bool, "sorted": sorted, "any": any, "all": all,
}

_CONSTANT_TYPES = (str, int, float, bool, type(None))
_SEQUENCES = (str, bytes, list, tuple, dict, set)
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}


def compile_expression(expression: str) -> ast.Expression:
    """Parse an expression and check every node against the whitelist, or raise ExpressionError."""
    if not isinstance(expression, str):
        raise ExpressionError(f"an expression must be a string, not {type(expression).__name__}")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters: {_show(expression)}")
    return _compile(expression.strip())


def evaluate(expression: str, names: Mapping[str, Any]) -> Any:
    """Evaluate an admitted expression against the given variables."""
    tree = compile_expression(expression)
    try:
        return _eval(tree.body, names)
    except ExpressionError as exc:
        raise ExpressionError(f"{exc} in {_show(expression)}") from None
    except Exception as exc:  # any failure of admitted code is the expression's failure
        raise ExpressionError(f"{type(exc).__name__}: {exc} in {_show(expression)}") from exc


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Spiff script environment that evaluates through the restricted evaluator and runs no scripts."""

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        """Evaluate an expression over task data (which wins over the external context)."""
        return evaluate(expression, ChainMap(context, external_context or {}))

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        """Refuse to run a script."""
        raise ExpressionError("scripts are not allowed")

    def call_service(self, context: dict, **kwargs: Any) -> Any:
        """Refuse to call a service."""
        raise ExpressionError("service calls are not allowed")


class RestrictedScriptEngine(PythonScriptEngine):
    """Spiff script engine whose every evaluation goes through the restricted evaluator."""

    def __init__(self) -> None:
        super().__init__(environment=RestrictedEnvironment())

    def validate(self, expression: str) -> None:
        """Raise SyntaxError like Spiff (its DMN engine relies on it), then check the whitelist."""
        super().validate(expression)
        compile_expression(expression)

    def evaluate(self, task: Any, expression: str, external_context: dict | None = None) -> Any:
        """Evaluate an expression over the task's data; a multi-instance cardinality must be within bounds."""
        value = self.environment.evaluate(expression, task.data, external_context)
        task_spec = getattr(task, "task_spec", None)
        if isinstance(task_spec, MultiInstanceTask) and expression == task_spec.cardinality:
            # Spiff creates that many tasks at once (parallel) or one after another (sequential).
            if type(value) is not int or not 0 <= value <= MAX_LOOP_INSTANCES:
                raise ExpressionError(f"loopCardinality of {task_spec.bpmn_id!r}: {_show(expression)} gave "
                                      f"{_show(repr(value))}, not a whole number from 0 to {MAX_LOOP_INSTANCES}")
        return value

    def execute(self, task: Any, script: str, external_context: dict | None = None) -> bool:
        """Refuse to run a script task, pre-script or post-script."""
        raise ExpressionError(f"scripts are not allowed (task {task.task_spec.name!r})")

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        """Refuse to call a service."""
        raise ExpressionError(f"service calls are not allowed (task {task.task_spec.name!r})")


@lru_cache(maxsize=1024)
def _compile(expression: str) -> ast.Expression:
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise ExpressionError(f"invalid expression {_show(expression)}: {exc}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_EXPRESSION_NODES:
        raise ExpressionError(f"expression has more than {MAX_EXPRESSION_NODES} parts: {_show(expression)}")
    try:
        _check(tree.body, 1)
    except ExpressionError as exc:
        raise ExpressionError(f"{exc} in {_show(expression)}") from None
    return tree


def _check(node: ast.AST, depth: int) -> None:
    if depth > MAX_EXPRESSION_DEPTH:
        raise ExpressionError(f"expression is nested deeper than {MAX_EXPRESSION_DEPTH} levels")
    for child in _children(node):
        _check(child, depth + 1)


def _children(node: ast.AST) -> list[ast.expr]:
    """The sub-expressions of an admitted node; raise ExpressionError for anything not admitted."""
    match node:
        case ast.Constant(value=value):
            if type(value) not in _CONSTANT_TYPES:
                raise ExpressionError(f"constant of type {type(value).__name__} is not allowed")
            return []
        case ast.Name(id=name):
            if name.startswith("_"):
                raise ExpressionError(f"name {name!r} is not allowed (names may not start with '_')")
            return []
        case ast.Tuple(elts=elts) | ast.List(elts=elts) | ast.Set(elts=elts):
            return list(elts)
        case ast.Dict(keys=keys, values=values):
            if any(key is None for key in keys):
                raise ExpressionError("dict unpacking (**) is not allowed")
            return [*cast(list[ast.expr], keys), *values]
        case ast.BoolOp(values=values):
            return list(values)
        case ast.UnaryOp(op=unary, operand=operand):
            _admit(unary, _UNARY)
            return [operand]
        case ast.BinOp(left=left, op=binary, right=right):
            _admit(binary, _BINARY)
            return [left, right]
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            for comparison in ops:
                _admit(comparison, _COMPARE)
            return [left, *comparators]
        case ast.IfExp(test=test, body=body, orelse=orelse):
            return [test, body, orelse]
        case ast.Subscript(value=value, slice=index):
            if not _is_simple_index(index):
                raise ExpressionError("a subscript must be a constant or a name")
            return [value, index]
        case ast.Call(func=func, args=args, keywords=keywords):
            if isinstance(func, ast.Attribute):
                raise ExpressionError("attribute access is not allowed")
            if not (isinstance(func, ast.Name) and func.id in FUNCTIONS):
                called = f" {func.id!r}" if isinstance(func, ast.Name) else ""
                raise ExpressionError(f"calling{called} is not allowed (allowed functions: {', '.join(FUNCTIONS)})")
            if keywords:
                raise ExpressionError("keyword arguments are not allowed")
            return list(args)
        case ast.Attribute():
            raise ExpressionError("attribute access is not allowed")
    raise ExpressionError(f"{type(node).__name__} is not allowed")


def _admit(op: ast.AST, allowed: Mapping[type, Any]) -> None:
    if type(op) not in allowed:
        raise ExpressionError(f"operator {type(op).__name__} is not allowed")


def _is_simple_index(node: ast.expr) -> bool:
    match node:
        case ast.Constant() | ast.Name():
            return True
        case ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=int())):
            return True
    return False


def _eval(node: ast.expr, names: Mapping[str, Any]) -> Any:
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            try:
                return names[name]
            except KeyError:
                raise ExpressionError(f"name {name!r} is not defined") from None
        case ast.Tuple(elts=elts):
            return tuple(_eval(elt, names) for elt in elts)
        case ast.List(elts=elts):
            return [_eval(elt, names) for elt in elts]
        case ast.Set(elts=elts):
            return {_eval(elt, names) for elt in elts}
        case ast.Dict(keys=keys, values=values):
            return {_eval(cast(ast.expr, key), names): _eval(value, names)
                    for key, value in zip(keys, values, strict=True)}
        case ast.BoolOp(op=boolean, values=values):
            for value_node in values:
                result = _eval(value_node, names)
                if bool(result) is isinstance(boolean, ast.Or):
                    return result
            return result
        case ast.UnaryOp(op=unary, operand=operand):
            return _UNARY[type(unary)](_eval(operand, names))
        case ast.BinOp(left=left, op=binary, right=right):
            a, b = _eval(left, names), _eval(right, names)
            _check_operands(binary, a, b)
            return _BINARY[type(binary)](a, b)
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            a = _eval(left, names)
            for comparison, comparator in zip(ops, comparators, strict=True):
                b = _eval(comparator, names)
                if not _COMPARE[type(comparison)](a, b):
                    return False
                a = b
            return True
        case ast.IfExp(test=test, body=body, orelse=orelse):
            return _eval(body, names) if _eval(test, names) else _eval(orelse, names)
        case ast.Subscript(value=value, slice=index):
            return _eval(value, names)[_eval(index, names)]
        case ast.Call(func=ast.Name(id=name), args=args):
            return FUNCTIONS[name](*(_eval(arg, names) for arg in args))
    raise ExpressionError(f"{type(node).__name__} is not allowed")  # unreachable for checked trees


def _check_operands(op: ast.operator, a: Any, b: Any) -> None:
    """Keep `*` and `%` to numbers: repeating or formatting strings and lists can exhaust memory."""
    if isinstance(op, (ast.Mult, ast.Mod)) and (isinstance(a, _SEQUENCES) or isinstance(b, _SEQUENCES)):
        raise ExpressionError(f"operator {type(op).__name__} is only allowed on numbers")


def _show(expression: str) -> str:
    return repr(expression if len(expression) <= 120 else expression[:117] + "...")
