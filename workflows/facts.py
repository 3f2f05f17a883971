"""Proved facts: what a person reads of a case, a center, its license and its managers, as the
signed records wrote it, and the check of the stored rows against those records.

Every record signs the case facts it leaves behind (``case_facts``: status, end event, center,
county, title); the records that change the registry (``issue_license``, ``appoint_manager``,
``appoint_interim``) sign the rows they wrote (``founding_facts``, ``appointment_facts``). The rows
in ``cases``, ``centers``, ``licenses`` and ``manager_terms`` are a copy kept for queries: before a
page, a certificate or an export shows them as facts, they are compared here with what the
records say, and a difference is a ``FactProblem``.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, event, func, select
from sqlalchemy.orm import Session

from signing import ChainReport, format_time, parse_time
from workflows import registry
from workflows.models import Case, Center, License, ManagerTerm, Office, Record, tehran_today, utcnow
from workflows.procedures import OUTCOME_ACTIONS

__all__ = ["FactProblem", "ProvedCenter", "CaseProof", "case_facts", "founding_facts",
           "appointment_facts", "license_facts", "renewal_facts", "signboard_facts", "license_status", "license_today", "case_problems", "audit_cases", "audit_centers", "unproved_cases", "derive_center", "center_problems", "check_centers", "prove_case",
           "prove_center", "public_view", "license_center", "latest_detail"]


@dataclass(frozen=True)
class FactProblem:
    """A stored fact the signed records do not prove."""

    #: what it is about: "case", "center", "license", "term 7"
    subject: str
    #: which fact, e.g. "status", "number", "full_name"; "*" for the whole row
    field: str
    #: machine code: fact_mismatch (the rows and the records differ), fact_unproved (no signed record
    #: says it, or the chain that says it does not verify)
    code: str
    #: English detail for logs and auditors
    detail: str


# --- what records sign -----------------------------------------------------------------------

def case_facts(case: Case, status: str, outcome: str | None) -> dict:
    """The case facts a record leaves behind (signed in its details under "case")."""
    return {"status": status, "outcome": outcome, "center_id": case.center_id,
            "county": case.county_office.code if case.county_office is not None else None, "title": case.title,
            "tracking_code": case.tracking_code}


def _center(center: Center) -> dict:
    return {"id": center.id, "name": center.name, "mosque_name": center.mosque_name,
            "county": center.county_office.code if center.county_office is not None else None,
            "address": center.address, "postal_code": center.postal_code,
            "holder": center.applicant_id}


def _license(license_: License) -> dict:
    return {"id": license_.id, "number": license_.number, "status": license_.status,
            "issued_at": format_time(license_.issued_at), **_license_status(license_)}


def _license_status(license_: License) -> dict:
    """What a license procedure writes of a license: its status, since when, a suspension's last day, why."""
    return {"status": license_.status, "status_since": _day(license_.status_since),
            "suspended_until": _day(license_.suspended_until), "status_reason": license_.status_reason}


def _term_start(term: ManagerTerm) -> dict:
    return {"id": term.id, "national_id": term.national_id, "full_name": term.full_name,
            "start_date": _day(term.start_date), "planned_end": _day(term.planned_end), "interim": bool(term.interim),
            "education": term.education, "age_at_start": term.age_at_start}


def _term_end(term: ManagerTerm) -> dict:
    return {"id": term.id, "end_date": _day(term.end_date), "end_reason": term.end_reason}


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def founding_facts(center: Center, license_: License, term: ManagerTerm) -> dict:
    """What an issued license wrote: the center, its license and its first manager's term."""
    return {"center": _center(center), "license": _license(license_), "term": _term_start(term)}


def license_facts(license_: License, ended: ManagerTerm | None) -> dict:
    """What a license procedure wrote: the license's new status, and the manager's term it ended (a
    revoked or closed license ends the term in force)."""
    return {"center_id": license_.center_id, "license": {"id": license_.id, **_license_status(license_)},
            "ended_term": _term_end(ended) if ended is not None else None}


def renewal_facts(term: ManagerTerm, previous_planned_end: date | None) -> dict:
    """What a renewal wrote: the term it renewed and its new planned end."""
    return {"center_id": term.center_id, "renewed_term": {"id": term.id, "planned_end": _day(term.planned_end),
                                                          "previous_planned_end": _day(previous_planned_end)}}


def signboard_facts(center_id: int, application: dict, approved_on: date) -> dict:
    """What an approved signboard wrote: the photo of the installed board (its SHA-256), when it was
    installed and approved."""
    return {"center_id": center_id, "signboard": {"photo": application["documents"]["signboard_photo"],
                                                  "installed_on": application.get("installed_on"),
                                                  "approved_on": _day(approved_on)}}


def license_status(license_: dict | None, day: date) -> str | None:
    """The status a license has on a day by its proved facts: a suspension whose period ended before
    that day no longer holds (the signed record set its last day), whatever else it was set to does."""
    if license_ is None:
        return None
    return registry.status_on(license_.get("status"), _date(license_.get("suspended_until")), day)


def license_today(license_: dict, day: date) -> dict:
    """The license's status on a day and what goes with it: since when and why (unless in force), and a
    suspension's last day (while it holds); dates as ISO text."""
    status = license_status(license_, day)
    return {"status": status,
            "status_since": license_.get("status_since") if status != "active" else None,
            "suspended_until": license_.get("suspended_until") if status == "suspended" else None,
            "status_reason": license_.get("status_reason") if status != "active" else None}


def appointment_facts(term: ManagerTerm, ended: ManagerTerm | None) -> dict:
    """What an appointment wrote: the new term, and the end of the one it replaced."""
    return {"center_id": term.center_id, "term": _term_start(term),
            "ended_term": _term_end(ended) if ended is not None else None}


# --- a case ------------------------------------------------------------------------------------

def case_problems(stored: dict, head: dict | None) -> list[FactProblem]:
    """A case row's facts (``stored``: status, outcome, center_id, county code, title) against the
    body of its chain's head record (None: the case has no record yet)."""
    if head is None:
        if stored["status"] != "draft" or stored["outcome"] is not None:
            return [FactProblem("case", "status", "fact_unproved", f"no signed record says {stored['status']!r}")]
        return []
    details = head.get("details")
    signed = details.get("case") if type(details) is dict else None
    if type(signed) is not dict:
        return [FactProblem("case", "*", "fact_unproved", "the head record signs no case facts")]
    return [FactProblem("case", name, "fact_mismatch", f"stored {stored[name]!r}, signed {signed.get(name)!r}")
            for name in CASE_FACTS if signed.get(name) != stored[name]
            and (name in signed or name not in LATER_CASE_FACTS)]


#: the case facts every record signs (``case_facts``)
CASE_FACTS = ("status", "outcome", "center_id", "county", "title", "tracking_code")
#: facts records signed before did not carry: checked from the first record that signs them
LATER_CASE_FACTS = ("tracking_code",)


def _stored_case(case: Case, county_code: str | None) -> dict:
    return {"status": case.status, "outcome": case.outcome, "center_id": case.center_id, "county": county_code,
            "title": case.title, "tracking_code": case.tracking_code}


def audit_cases(session: Session, batch: int = 2000, ids: Iterable[int] | None = None
                ) -> Iterator[tuple[int, FactProblem]]:
    """(case id, problem) for every case row whose facts are not its head record's, for the whole
    database in id order (or the cases ``ids`` names), a batch of cases per statement (their
    chains are verify_cases' part)."""
    heads = (select(Record.case_id, func.max(Record.seq).label("seq")).group_by(Record.case_id)).subquery()
    statement = (select(Case.id, Case.status, Case.outcome, Case.center_id, Office.code, Case.title, Case.tracking_code,
                        Record.canonical)
                 .outerjoin(Office, Office.id == Case.county_office_id)
                 .outerjoin(heads, heads.c.case_id == Case.id)
                 .outerjoin(Record, and_(Record.case_id == Case.id, Record.seq == heads.c.seq)))
    if ids is not None:
        wanted = sorted(set(ids))
        chunks = [wanted[i:i + batch] for i in range(0, len(wanted), batch)]
        pages = (session.execute(statement.where(Case.id.in_(chunk)).order_by(Case.id)).all() for chunk in chunks)
    else:
        pages = _pages(session, statement, batch)
    for rows in pages:
        for case_id, status, outcome, center_id, county, title, tracking_code, canonical in rows:
            stored = {"status": status, "outcome": outcome, "center_id": center_id, "county": county, "title": title,
                      "tracking_code": tracking_code}
            for problem in case_problems(stored, _body(canonical) if canonical is not None else None):
                yield case_id, problem


def _pages(session: Session, statement, batch: int):
    last = 0
    while True:
        rows = session.execute(statement.where(Case.id > last).order_by(Case.id).limit(batch)).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def unproved_cases(session: Session, ids: Iterable[int]) -> set[int]:
    """Those of these cases whose stored status, end event, center, county or title is not what
    their head record signed (for lists: one statement, no signature checked)."""
    return {case_id for case_id, _problem in audit_cases(session, ids=ids)}


def audit_centers(session: Session, batch: int = 500) -> Iterator[tuple[int, FactProblem]]:
    """(center id, problem) for every center whose rows are not what its signed records wrote,
    and for every center a signed record founded that has no row."""
    last = 0
    while True:
        ids = list(session.scalars(select(Center.id).where(Center.id > last).order_by(Center.id).limit(batch)))
        if not ids:
            break
        for center_id, (_proved, problems) in check_centers(session, ids).items():
            for problem in problems:
                yield center_id, problem
        last = ids[-1]
    known = set(session.scalars(select(Center.id)))
    for canonical in session.scalars(select(Record.canonical).where(Record.action == "issue_license")):
        center_id = _details(canonical).get("center_id")
        if center_id not in known:
            yield center_id, FactProblem("center", "*", "fact_unproved", "a signed license's center has no row")


# --- a center ----------------------------------------------------------------------------------

@dataclass
class ProvedCenter:
    """A center as its signed outcome records wrote it."""

    center: dict | None = None
    license: dict | None = None
    #: the public id of the case that founded it
    founding_case: str | None = None
    #: every term in the order they started; each the start facts plus "case" (the public id of the
    #: case that started it), "end_date", "end_reason" and "ended_by" (the case that ended it)
    terms: list[dict] = field(default_factory=list)
    problems: list[FactProblem] = field(default_factory=list)
    #: the installed signboard the county office approved last: its photo's SHA-256, when it was
    #: installed and approved, and "case" (the public id of the case that approved it)
    signboard: dict | None = None

    @property
    def current_term(self) -> dict | None:
        """The term in force today (Tehran), else the last open one."""
        today = self.term_on(tehran_today(utcnow()))
        if today is not None:
            return today
        open_terms = [t for t in self.terms if t["end_date"] is None]
        return open_terms[-1] if open_terms else None

    @property
    def next_term(self) -> dict | None:
        """A term that starts on a later day than today: a successor or an interim manager named for
        the effective date of a retirement or resignation."""
        iso = tehran_today(utcnow()).isoformat()
        later = [t for t in self.terms if t["start_date"] > iso]
        return later[0] if later else None

    def term_on(self, day: date) -> dict | None:
        """The term in force on a day (the one that started that day, when one ended it)."""
        iso = day.isoformat()
        found = [t for t in self.terms if t["start_date"] <= iso and (t["end_date"] is None or t["end_date"] > iso)]
        return found[-1] if found else None

    def term(self, term_id: int) -> dict | None:
        return next((t for t in self.terms if t["id"] == term_id), None)


def derive_center(center_id: int, entries: Iterable[tuple[str, str, dict]]) -> ProvedCenter:
    """The center from its outcome records' bodies, given as (case public id, action, details) in
    log order."""
    proved = ProvedCenter()
    for case_id, action, details in entries:
        if details.get("center_id") != center_id:
            proved.problems.append(FactProblem("center", "*", "fact_mismatch",
                                               f"{action} of case {case_id} names another center"))
            continue
        if action == "issue_license":
            if proved.center is not None or "center" not in details:
                proved.problems.append(FactProblem("center", "*", "fact_unproved",
                                                   f"{action} of case {case_id} signs no founding facts"))
                continue
            proved.center, proved.license, proved.founding_case = details["center"], details["license"], case_id
            proved.terms.append(_started(details["term"], case_id))
        elif "signboard" in details:
            proved.signboard = {**details["signboard"], "case": case_id} if type(details["signboard"]) is dict else None
        elif "renewed_term" in details:
            renewed = details["renewed_term"]
            term = proved.term(renewed.get("id")) if type(renewed) is dict else None
            if term is None or term["end_date"] is not None or term["planned_end"] != renewed.get("previous_planned_end"):
                proved.problems.append(FactProblem(f"term {renewed.get('id') if type(renewed) is dict else '?'}",
                                                   "planned_end", "fact_unproved",
                                                   f"case {case_id} renews a term that is not open as it says"))
            else:
                term.update(planned_end=renewed["planned_end"], renewed_by=[*term["renewed_by"], case_id])
        elif "term" in details or "license" in details:
            ended = details.get("ended_term")
            if ended is not None:
                term = proved.term(ended["id"])
                if term is None or term["end_date"] is not None:
                    proved.problems.append(FactProblem(f"term {ended['id']}", "end_date", "fact_unproved",
                                                       f"case {case_id} ends a term that is not open"))
                else:
                    term.update(end_date=ended["end_date"], end_reason=ended["end_reason"], ended_by=case_id)
            if "term" in details:
                proved.terms.append(_started(details["term"], case_id))
            else:
                signed = details["license"]
                if proved.license is None or type(signed) is not dict or signed.get("id") != proved.license["id"]:
                    proved.problems.append(FactProblem("license", "status", "fact_unproved",
                                                       f"{action} of case {case_id} sets another license"))
                else:
                    proved.license = {**proved.license, **{k: signed.get(k) for k in _STATUS_FACTS},
                                      "status_case": case_id}
        else:
            proved.problems.append(FactProblem("center", "*", "fact_unproved",
                                               f"{action} of case {case_id} signs no term facts"))
    if proved.center is None:
        proved.problems.append(FactProblem("center", "*", "fact_unproved", "no signed record founded this center"))
    return proved


#: the license facts a license procedure sets (``_license_status``)
_STATUS_FACTS = ("status", "status_since", "suspended_until", "status_reason")


def _started(term: dict, case_id: str) -> dict:
    return {**term, "case": case_id, "end_date": None, "end_reason": None, "ended_by": None, "renewed_by": []}


def center_problems(center: Center, licenses: list[License], terms: list[ManagerTerm], proved: ProvedCenter,
                    case_ids: dict[int, str]) -> list[FactProblem]:
    """The center's rows (center, licenses, terms) against what the records wrote.

    ``case_ids`` maps case row ids to public ids (the terms name their cases by row id)."""
    problems = list(proved.problems)
    if proved.center is None:
        return problems
    problems += _differences("center", _center(center), proved.center)
    if len(licenses) != 1:
        problems.append(FactProblem("license", "*", "fact_unproved", f"{len(licenses)} license rows, 1 signed"))
    for row in licenses:
        problems += _differences("license", {**_license(row), "case": case_ids.get(row.case_id),
                                             "status_case": case_ids.get(row.status_case_id)},
                                 {**proved.license, "case": proved.founding_case})
    stored = {t.id: t for t in terms}
    signed = {t["id"]: t for t in proved.terms}
    for term_id in sorted(stored.keys() ^ signed.keys()):
        problems.append(FactProblem(f"term {term_id}", "*", "fact_unproved",
                                    "no signed record started this term" if term_id in stored
                                    else "a signed term has no row"))
    for term_id in sorted(stored.keys() & signed.keys()):
        row = stored[term_id]
        problems += _differences(f"term {term_id}", {
            **_term_start(row), **_term_end(row), "case": case_ids.get(row.case_id),
            "ended_by": case_ids.get(row.ended_by_case_id) if row.ended_by_case_id is not None else None},
            signed[term_id])
    return problems


def _differences(subject: str, stored: dict, signed: dict) -> list[FactProblem]:
    return [FactProblem(subject, name, "fact_mismatch", f"stored {stored[name]!r}, signed {signed.get(name)!r}")
            for name in stored if signed.get(name) != stored[name]]


def check_centers(session: Session, center_ids: list[int]) -> dict[int, tuple[ProvedCenter, list[FactProblem]]]:
    """Each center's proved facts and its rows' problems, in four statements for the whole list.

    This compares the rows with the records' signed text; that the text is authentic (signatures,
    chains, log) is what ``prove_center`` adds for one center and ``verify-all`` for all of them.

    Within one transaction that writes nothing, a center is checked once: a page that shows several
    lists of the same centers (the missed reports, the activity, the training) proves each once. The
    memo goes with the first flush, commit or rollback, or a statement that is not a SELECT, and is not
    used while the session holds changes not yet flushed."""
    if not center_ids:
        return {}
    if session.new or session.dirty or session.deleted:
        return _check_centers(session, center_ids)
    memo = session.info.setdefault(_MEMO, {})
    wanted = sorted(set(center_ids))
    missing = [center_id for center_id in wanted if center_id not in memo]
    if missing:
        memo.update(_check_centers(session, missing))
    return {center_id: (memo[center_id][0], list(memo[center_id][1])) for center_id in wanted}


#: where a session keeps the centers it checked since it last wrote (``check_centers``)
_MEMO = "facts.checked_centers"


@event.listens_for(Session, "after_flush")
@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
@event.listens_for(Session, "after_soft_rollback")
def _forget_checked_centers(session: Session, *_args: object) -> None:
    session.info.pop(_MEMO, None)


@event.listens_for(Session, "do_orm_execute")
def _forget_on_a_statement_that_may_write(state) -> None:
    """A statement run through the session that is not a SELECT (an UPDATE, or SQL text) may change what
    was checked."""
    if not state.is_select:
        state.session.info.pop(_MEMO, None)


def _check_centers(session: Session, center_ids: list[int]) -> dict[int, tuple[ProvedCenter, list[FactProblem]]]:
    ids = sorted(set(center_ids))
    centers = {c.id: c for c in session.scalars(select(Center).where(Center.id.in_(ids)))}
    licenses: dict[int, list[License]] = {i: [] for i in ids}
    for row in session.scalars(select(License).where(License.center_id.in_(ids)).order_by(License.id)):
        licenses[row.center_id].append(row)
    terms: dict[int, list[ManagerTerm]] = {i: [] for i in ids}
    for row in session.scalars(select(ManagerTerm).where(ManagerTerm.center_id.in_(ids)).order_by(ManagerTerm.id)):
        terms[row.center_id].append(row)
    entries: dict[int, list[tuple[str, str, dict]]] = {i: [] for i in ids}
    case_ids: dict[int, str] = {}
    for case_row, public_id, center_id, action, canonical in session.execute(
            select(Case.id, Case.public_id, Case.center_id, Record.action, Record.canonical)
            .join(Record, Record.case_id == Case.id)
            .where(Case.center_id.in_(ids), Record.action.in_(OUTCOME_ACTIONS)).order_by(Record.log_index)):
        case_ids[case_row] = public_id
        entries[center_id].append((public_id, action, _details(canonical)))
    wanted = {t.case_id for rows in terms.values() for t in rows} | {t.ended_by_case_id for rows in terms.values()
                                                                   for t in rows} | \
        {row.case_id for rows in licenses.values() for row in rows} | \
        {row.status_case_id for rows in licenses.values() for row in rows}
    missing = wanted - case_ids.keys() - {None}
    if missing:
        case_ids.update((row_id, public) for row_id, public in session.execute(
            select(Case.id, Case.public_id).where(Case.id.in_(missing))))
    result = {}
    for center_id in ids:
        proved = derive_center(center_id, entries[center_id])
        center = centers.get(center_id)
        problems = center_problems(center, licenses[center_id], terms[center_id], proved, case_ids) \
            if center is not None else [FactProblem("center", "*", "fact_unproved", "no such center row")]
        result[center_id] = (proved, problems)
    return result


def latest_detail(session: Session, case: Case, key: str) -> dict | None:
    """What the case's latest record that signs ``key`` in its details signed there (an evaluation's score,
    a training's completion; None: no record does)."""
    for canonical in session.scalars(select(Record.canonical).where(Record.case_id == case.id)
                                     .order_by(Record.seq.desc())):
        found = _details(canonical).get(key)
        if isinstance(found, dict):
            return found
    return None


def _body(canonical: str) -> dict:
    try:
        body = json.loads(canonical)
    except ValueError:
        return {}
    return body if type(body) is dict else {}


def _details(canonical: str) -> dict:
    details = _body(canonical).get("details")
    return details if type(details) is dict else {}


def prove_center(session: Session, center_id: int, verified: dict[int, ChainReport] | None = None
                 ) -> tuple[ProvedCenter, list[FactProblem]]:
    """One center's proved facts and problems, with the chains of every case of the center verified
    (``verified``: reports already made, by case row id, not made again)."""
    from workflows.verification import verify_case  # verification imports the PKI

    proved, problems = check_centers(session, [center_id])[center_id]
    for case in session.scalars(select(Case).where(Case.center_id == center_id).order_by(Case.id)):
        report = (verified or {}).get(case.id) or verify_case(session, case)
        if not report.ok:
            problems.append(FactProblem("center", "*", "fact_unproved",
                                        f"the chain of case {case.public_id} does not verify"))
    return proved, problems


@dataclass(frozen=True)
class CaseProof:
    """A case's facts as proved: ok only when the case row and its center's rows are what the
    verified records say."""

    report: ChainReport
    problems: tuple[FactProblem, ...]
    #: the case's center as proved (None for a case without a center)
    center: ProvedCenter | None

    @property
    def ok(self) -> bool:
        return self.report.ok and not self.problems


def prove_case(session: Session, case: Case, report: ChainReport | None = None) -> CaseProof:
    """Check the case's facts, and its center's, against the verified signed records."""
    from workflows.verification import verify_case

    report = report if report is not None else verify_case(session, case)
    county = session.get(Office, case.county_office_id).code if case.county_office_id is not None else None
    if not report.ok:
        problems = [FactProblem("case", "*", "fact_unproved", "the case's signed chain does not verify")]
    else:
        problems = case_problems(_stored_case(case, county), report.bodies[-1] if report.count else None)
    center = None
    if case.center_id is not None:
        center, center_issues = prove_center(session, case.center_id, {case.id: report})
        problems += center_issues
    return CaseProof(report, tuple(problems), center)


def public_view(proved: ProvedCenter) -> dict | None:
    """What anyone may read of a center, from its proved facts: no national ids, no addresses."""
    if proved.center is None:
        return None
    current = proved.current_term
    license_ = proved.license
    today = license_today(license_, tehran_today(utcnow()))
    return {"center_name": proved.center["name"], "license_number": license_["number"],
            "license_status": today["status"], "issued_at": parse_time(license_["issued_at"]),
            "status_since": _date(today["status_since"]), "suspended_until": _date(today["suspended_until"]),
            "manager_name": current["full_name"] if current else None,
            "manager_interim": current["interim"] if current else False,
            "manager_since": date.fromisoformat(current["start_date"]) if current else None}


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def license_center(session: Session, number: str) -> int | None:
    """The center a license number belongs to by the signed records (None when no signed issue
    wrote that number)."""
    for canonical in session.scalars(select(Record.canonical).where(Record.action == "issue_license")
                                     .where(Record.canonical.contains(json.dumps(number), autoescape=True))):
        details = _details(canonical)
        if details.get("license_number") == number:
            return details.get("center_id")
    return None
