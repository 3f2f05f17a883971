"""The facts a form's variables may look up in the product's records (``{"lookup": name, "of": field}``).

A form declaration (``bpmn/forms/``) names a lookup; this is the one place that answers it, with the
case the form is submitted in. Deploy refuses a form that names another.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from workflows import registry
from workflows.models import Case

__all__ = ["LOOKUPS", "lookup_for"]


def _centers_managed(session: Session, case: Case, national_id: Any) -> int:
    """How many other centers the person manages today (a manager may run one center)."""
    return registry.manages_other_center(session, national_id, except_center_id=case.center_id)


def _is_current_manager(session: Session, case: Case, national_id: Any) -> bool:
    """True when the person is the case's center's manager today, appointed (not an interim)."""
    term = registry.current_manager(session, case.center_id) if case.center_id is not None else None
    return term is not None and not term.interim and term.national_id == national_id


#: every lookup by name
LOOKUPS: dict[str, Callable[[Session, Case, Any], Any]] = {"centers_managed": _centers_managed,
                                                          "is_current_manager": _is_current_manager}


def lookup_for(session: Session, case: Case) -> Callable[[str, Any], Any]:
    """The ``lookup(name, value)`` a form's variables are resolved with, in this case."""
    return lambda name, value: LOOKUPS[name](session, case, value)
