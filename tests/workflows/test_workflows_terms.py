"""Term lengths are data (bpmn/terms.json): the planned end of every appointment follows the table."""
from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from support import ACTORS, ROOT, found_center
from web.extensions import db
from workflows.models import ManagerTerm
from workflows.registry import planned_end

TERMS = json.loads((ROOT / "bpmn" / "terms.json").read_text("utf-8"))


@pytest.mark.parametrize("start, interim, expected", [
    (date(2026, 11, 22), False, date(2026 + TERMS["manager_term_years"], 11, 22)),
    (date(2024, 2, 29), False, date(2024 + TERMS["manager_term_years"], 2, 28)),  # no Feb 29 that year
    (date(2026, 11, 22), True, date(2027, 5, 22) if TERMS["interim_term_months"] == 6 else None),
    (date(2026, 8, 31), True, date(2027, 2, 28) if TERMS["interim_term_months"] == 6 else None),
])
def test_planned_end_follows_the_table(start, interim, expected):
    assert planned_end(start, TERMS, interim=interim) == expected


def test_a_changed_table_changes_the_term_with_no_code_change():
    assert planned_end(date(2026, 1, 10), {"manager_term_years": 2, "interim_term_months": 3}) == date(2028, 1, 10)
    assert planned_end(date(2026, 1, 10), {"manager_term_years": 2, "interim_term_months": 3},
                       interim=True) == date(2026, 4, 10)


def test_the_first_manager_gets_the_planned_end(app):
    center = found_center(app, ACTORS["applicant"])
    term = db.session.scalars(select(ManagerTerm).where(ManagerTerm.center_id == center.id)).one()
    assert term.planned_end == planned_end(term.start_date, TERMS)
