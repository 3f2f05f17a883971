"""The yearly evaluation of licensed centers (``bpmn/evaluation.json``): the rubric a county expert
scores a center against, the total each score signs, and the confirmed scores with their ranks.

A rubric names the form that scores a center, its year field and the section whose whole-number
fields are the criteria's scores (0 … ``scale``); each criterion has a weight (the weights add up to
100) and the evidence it is scored from. The total out of 100 is Σ weight × score / scale, kept in
tenths; the record that signs the scores signs the weights, the total and its level with them
(``signed_score``), so a score reads the same wherever it is shown, whatever the rubric says later.

A score counts once the case's head record signs the rubric's ``confirmed_by`` end (the province
confirmed it); what lists show of a center is what its signed records say (``facts.check_centers``).
"""
from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import jdatetime
from sqlalchemy import select
from sqlalchemy.orm import Session

import engine
import forms
from signing import parse_time
from workflows import facts, procedures, reporting
from workflows.models import Case, Office, Record, tehran_today

__all__ = ["Criterion", "Rubric", "Evaluation", "rubrics", "rubric_for", "check_tables", "signed_score",
           "evidence_problems", "confirmed_evaluations", "county_averages", "ranked", "year_of"]

#: the kinds of evidence a criterion is scored from
EVIDENCE = ("reports", "visit")


@dataclass(frozen=True)
class Criterion:
    key: str
    weight: int
    evidence: str


@dataclass(frozen=True)
class Rubric:
    process_key: str
    form: str
    year_field: str
    scores_section: str
    scale: int
    criteria: tuple[Criterion, ...]
    #: (level code, the lowest total of 100 in it), highest first
    levels: tuple[tuple[str, int], ...]
    levels_choices: str
    #: the end event whose signed outcome confirms a score
    confirmed_by: str
    #: the report procedure (``reporting.json``) whose reports of the year are a criterion's evidence
    reports_from: str = ""

    def level(self, total_tenths: int) -> str:
        return next(code for code, low in self.levels if total_tenths >= low * 10)


@dataclass(frozen=True)
class Evaluation:
    """A confirmed yearly score of a center, as its records signed it."""

    case_id: int
    center_id: int
    center_name: str
    county_id: int
    county_name: str
    province_id: int | None
    province_name: str
    year: int
    total_tenths: int
    level: str
    #: the Tehran day the province confirmed it
    confirmed_on: date
    #: 1 for the best of the year in its county / its province (equal totals share a rank)
    county_rank: int = 0
    province_rank: int = 0


def rubrics(tables: Any) -> list[Rubric]:
    """The rubrics of a version's tables (an entry that is not well formed is left out: the deploy's
    check names it), read once per version's tables."""
    return tables.derived(_rubrics) if isinstance(tables, engine.JsonTables) else _rubrics(tables)


def _rubrics(tables: Any) -> list[Rubric]:
    found = []
    for key, entry in (tables.get("evaluation") or {}).items():
        if key.startswith("_") or _entry_problems(key, entry):
            continue
        found.append(Rubric(key, entry["form"], entry["year_field"], entry["scores_section"], entry["scale"],
                            tuple(Criterion(c["key"], c["weight"], c["evidence"]) for c in entry["criteria"]),
                            tuple((level["code"], level["min"]) for level in entry["levels"]),
                            entry.get("levels_choices", ""), entry["confirmed_by"], entry.get("reports_from", "")))
    return found


def rubric_for(tables: Any, process_key: str, form_key: str | None = None) -> Rubric | None:
    """The rubric of a procedure (and, given a form, only when that form is the one that scores)."""
    return next((r for r in rubrics(tables) if r.process_key == process_key
                 and (form_key is None or r.form == form_key)), None)


def check_tables(tables: Any, declarations: Mapping[str, Any]) -> list[str]:
    """What is wrong with a version's ``evaluation.json`` (empty: nothing, or no such table), the
    scoring form's section checked against the criteria."""
    table = tables.get("evaluation")
    if table is None:
        return []
    if not isinstance(table, dict):
        return ["evaluation.json: must be an object of procedures"]
    found = []
    for key, entry in table.items():
        if key.startswith("_"):
            continue
        problems = _entry_problems(key, entry)
        found += problems or _form_problems(key, entry, declarations)
    return found


def _entry_problems(key: str, entry: Any) -> list[str]:
    where = f"evaluation.{key}"
    if not isinstance(entry, dict):
        return [f"{where}: must be an object"]
    found = []
    for name in ("form", "year_field", "scores_section", "confirmed_by"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            found.append(f"{where}.{name}: a name")
    for name in ("levels_choices", "reports_from"):
        if not isinstance(entry.get(name, ""), str):
            found.append(f"{where}.{name}: a name")
    if type(entry.get("scale")) is not int or not 1 <= entry["scale"] <= 100:
        found.append(f"{where}.scale: a whole number from 1 to 100")
    criteria = entry.get("criteria")
    if not isinstance(criteria, list) or not criteria or not all(isinstance(c, dict) for c in criteria):
        return found + [f"{where}.criteria: a list of criteria, at least one"]
    for i, criterion in enumerate(criteria):
        if not isinstance(criterion.get("key"), str) or not criterion["key"]:
            found.append(f"{where}.criteria.{i}.key: a field's name")
        if type(criterion.get("weight")) is not int or criterion["weight"] < 1:
            found.append(f"{where}.criteria.{i}.weight: a whole number above 0")
        if criterion.get("evidence") not in EVIDENCE:
            found.append(f"{where}.criteria.{i}.evidence: one of {', '.join(EVIDENCE)}")
    keys = [c.get("key") for c in criteria]
    if len(set(map(str, keys))) != len(keys):
        found.append(f"{where}.criteria: a criterion is named twice")
    weights = [c.get("weight") for c in criteria]
    if all(type(w) is int for w in weights) and sum(weights) != 100:
        found.append(f"{where}.criteria: the weights add up to {sum(weights)}, not 100")
    if any(c.get("evidence") == "reports" for c in criteria) and not entry.get("reports_from"):
        found.append(f"{where}.reports_from: the report procedure a criterion's evidence is read from")
    levels = entry.get("levels")
    if not isinstance(levels, list) or not levels or not all(
            isinstance(level, dict) and isinstance(level.get("code"), str) and level["code"]
            and type(level.get("min")) is int and 0 <= level["min"] <= 100 for level in levels):
        found.append(f"{where}.levels: a list of {{code, min}}, min a whole number from 0 to 100")
    elif [level["min"] for level in levels] != sorted({level["min"] for level in levels}, reverse=True) \
            or levels[-1]["min"] != 0:
        found.append(f"{where}.levels: from the highest minimum down, each lower than the one before, the last 0")
    return found


def _form_problems(key: str, entry: dict, declarations: Mapping[str, Any]) -> list[str]:
    """The scoring form must hold the year and, in its scores section, one whole-number field per
    criterion from 0 to the scale, in the rubric's order."""
    where = f"evaluation.{key}"
    form = declarations.get(f"{entry['form']}{forms.FORM_SUFFIX}")
    if not isinstance(form, dict):
        return [f"{where}.form: {entry['form']!r} is not declared"]
    fields = {f.get("name"): f for f in form.get("fields", []) if isinstance(f, dict)}
    found = []
    if (fields.get(entry["year_field"]) or {}).get("type") != "integer":
        found.append(f"{where}.year_field: {entry['year_field']!r} is not a whole-number field of {entry['form']!r}")
    section = fields.get(entry["scores_section"]) or {}
    scored = [f for f in section.get("fields", []) if isinstance(f, dict)] if section.get("type") == "section" else []
    if [f.get("name") for f in scored] != [c["key"] for c in entry["criteria"]]:
        found.append(f"{where}.criteria: the section {entry['scores_section']!r} of {entry['form']!r} must have one "
                     f"field per criterion, in order: {', '.join(c['key'] for c in entry['criteria'])}")
    for field in scored:
        if field.get("type") != "integer" or field.get("min") != 0 or field.get("max") != entry["scale"] \
                or field.get("required", True) is not True:
            found.append(f"{where}.criteria: {entry['form']}.{entry['scores_section']}.{field.get('name')} must be a "
                         f"required whole number from 0 to {entry['scale']}")
    return found


def signed_score(rubric: Rubric, cleaned: dict) -> dict:
    """What the record that signs a score signs with it: the year, each criterion's score and weight,
    the scale, the total out of 100 in tenths (rounded half up) and its level."""
    scores = cleaned[rubric.scores_section]
    points = sum(c.weight * scores[c.key] for c in rubric.criteria)  # of 100 × scale
    total_tenths = (points * 20 + rubric.scale) // (2 * rubric.scale)
    return {"year": cleaned[rubric.year_field], "scale": rubric.scale,
            "scores": {c.key: scores[c.key] for c in rubric.criteria},
            "weights": {c.key: c.weight for c in rubric.criteria},
            "total_tenths": total_tenths, "level": rubric.level(total_tenths)}


def year_of(day: date) -> int:
    return jdatetime.date.fromgregorian(date=day).year


def evidence_problems(session: Session, case: Case, rubric: Rubric, cleaned: dict, today: date
                      ) -> dict[str, list[str]]:
    """A score the evidence does not allow: a year not yet begun or before the year the center's license
    was issued (as its records signed it), and a criterion scored from the year's reports above 0 when the
    center's holder signed none for that year."""
    year = cleaned[rubric.year_field]
    if year > year_of(today):
        return {rubric.year_field: [forms.t("errors.evaluation_future_year")]}
    if case.center_id is not None:
        license_ = facts.check_centers(session, [case.center_id])[case.center_id][0].license
        licensed = year_of(tehran_today(parse_time(license_["issued_at"]))) if license_ else None
        if licensed is not None and year < licensed:
            return {rubric.year_field: [forms.t("errors.evaluation_before_license",
                                                year=forms.to_persian_digits(str(year)),
                                                licensed=forms.to_persian_digits(str(licensed)))]}
    from_reports = [c.key for c in rubric.criteria if c.evidence == "reports"
                    and cleaned[rubric.scores_section][c.key] > 0]
    rule = reporting.rule_for(procedures.spec_of_case(session, case).tables, rubric.reports_from)  # the case's version
    if not from_reports or rule is None or case.center_id is None:
        return {}
    if any(center == case.center_id and filed_year == year
           for center, filed_year, _period in reporting.filed(session, rule, [case.center_id])):
        return {}
    message = forms.t("errors.evaluation_no_reports", year=forms.to_persian_digits(str(year)))
    return {f"{rubric.scores_section}.{key}": [message] for key in from_reports}


def confirmed_evaluations(session: Session, county_ids: Collection[int] | None, year: int | None = None
                          ) -> list[Evaluation]:
    """The confirmed scores of centers in these counties (None: every county), of one year or all, best
    first within each year, ranked within county and province. A score is read from its case's latest
    signed score record and counts only when the case's head record signs the confirming end; the
    center's name and county are what its signed records say."""
    found: list[Evaluation] = []
    for rubric in rubrics(procedures.newest_tables(session)):
        query = select(Case.id, Case.center_id).where(Case.process_key == rubric.process_key,
                                                      Case.outcome == rubric.confirmed_by)
        if county_ids is not None:
            query = query.where(Case.county_office_id.in_(list(county_ids)))
        cases = dict(session.execute(query).all())
        if not cases:
            continue
        scores: dict[int, dict] = {}
        heads: dict[int, tuple[dict, Any]] = {}
        for case_id, canonical, created_at in session.execute(
                select(Record.case_id, Record.canonical, Record.created_at).where(Record.case_id.in_(list(cases)))
                .order_by(Record.case_id, Record.seq)):
            body = json.loads(canonical)
            details = body.get("details") if isinstance(body.get("details"), dict) else {}
            if isinstance(details.get("evaluation"), dict):
                scores[case_id] = details["evaluation"]
            heads[case_id] = (details.get("case") or {}, created_at)
        proved = facts.check_centers(session, sorted(set(cases.values())))
        counties = {office.code: office for office in session.scalars(select(Office).where(
            Office.code.in_({p.center["county"] for p, _ in proved.values() if p.center})))}
        for case_id, center_id in cases.items():
            signed_case, confirmed_at = heads.get(case_id, ({}, None))
            score = scores.get(case_id)
            center = proved[center_id][0]
            county = counties.get(center.center["county"]) if center.center else None
            if signed_case.get("outcome") != rubric.confirmed_by or score is None or county is None \
                    or signed_case.get("center_id") != center_id or (year is not None and score.get("year") != year) \
                    or (county_ids is not None and county.id not in county_ids):
                continue
            found.append(Evaluation(case_id, center_id, center.center["name"], county.id, county.name,
                                    county.parent_id, county.parent.name if county.parent else "", score["year"],
                                    score["total_tenths"], score["level"], tehran_today(confirmed_at)))
    return ranked(found)


def county_averages(evaluations: list[Evaluation], year: int) -> list[dict]:
    """Each county's scores of a year: how many centers, their average total and the best (tenths, the
    average rounded half up), best average first, with the county's rank among them (equal averages
    share one)."""
    counties: dict[int, dict] = {}
    for e in evaluations:
        if e.year != year:
            continue
        row = counties.setdefault(e.county_id, {"county_id": e.county_id, "county_name": e.county_name,
                                                "province_name": e.province_name, "centers": 0, "sum": 0, "best": 0})
        row["centers"] += 1
        row["sum"] += e.total_tenths
        row["best"] = max(row["best"], e.total_tenths)
    found = sorted(({**row, "average": (row["sum"] * 2 + row["centers"]) // (2 * row["centers"])}
                    for row in counties.values()), key=lambda row: (-row["average"], row["county_name"]))
    for number, row in enumerate(found):
        row["rank"] = found[number - 1]["rank"] if number and row["average"] == found[number - 1]["average"] \
            else number + 1
    return found


def ranked(evaluations: list[Evaluation]) -> list[Evaluation]:
    """The evaluations with their ranks within county and province per year (equal totals share a rank:
    1, 1, 3), newest year first, best first."""
    order = sorted(evaluations, key=lambda e: (-e.year, -e.total_tenths, e.center_name, e.case_id))
    ranks: dict[tuple, int] = {}
    seen: dict[tuple, int] = {}
    result = []
    for e in order:
        for scope in (("county", e.year, e.county_id), ("province", e.year, e.province_id)):
            seen[scope] = seen.get(scope, 0) + 1
            if ranks.get((*scope, "total")) != e.total_tenths:
                ranks[(*scope, "total")] = e.total_tenths
                ranks[scope] = seen[scope]
        result.append(Evaluation(**{**e.__dict__, "county_rank": ranks[("county", e.year, e.county_id)],
                                    "province_rank": ranks[("province", e.year, e.province_id)]}))
    return result
