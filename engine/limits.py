"""Bounds on what a deployed BPMN/DMN source may ask of the engine.

An administrator's files are data, but data that decides how much memory and time a case
takes: a multi-instance task with a cardinality of a hundred million, or a timer of a billion
years, would exhaust the server while a person waits. Deploy refuses sources beyond these
bounds, and what only run time can know (an expression's value) is checked against them too.
"""

from datetime import timedelta

__all__ = [
    "MAX_DURATION",
    "MAX_DURATION_TEXT",
    "MAX_WORKING_DAYS",
    "MAX_ELEMENTS",
    "MAX_EXPRESSION_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_EXPRESSION_NODES",
    "MAX_LOOP_INSTANCES",
    "MAX_SOURCE_BYTES",
    "MAX_SUBPROCESS_DEPTH",
]

#: Largest source file (BPMN, DMN or JSON table) accepted, in bytes.
MAX_SOURCE_BYTES = 1024 * 1024
#: Most task specs (every flow element Spiff makes a spec of) in one process and its subprocesses.
MAX_ELEMENTS = 2000
#: Deepest chain of call activities and subprocesses below the top-level process.
MAX_SUBPROCESS_DEPTH = 8
#: Most instances a multi-instance task may create, and most passes of a standard loop.
MAX_LOOP_INSTANCES = 100
#: Longest timer or deadline: five years (and a leap day).
MAX_DURATION = timedelta(days=5 * 365 + 2)
#: Longest deadline in working days (about five years of them).
MAX_WORKING_DAYS = 1200
#: Longest ISO 8601 duration text accepted ("P5Y2M10DT12H30M" is 15).
MAX_DURATION_TEXT = 40
#: Longest expression text admitted, in characters.
MAX_EXPRESSION_LENGTH = 1000
#: Most AST nodes admitted in one expression.
MAX_EXPRESSION_NODES = 200
#: Deepest nesting of AST nodes admitted in one expression.
MAX_EXPRESSION_DEPTH = 16
