"""The center registry: centers, licenses and manager terms, written only by signed transitions."""
from __future__ import annotations

from datetime import date, datetime

import jdatetime
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forms import age_on, normalize_license_number, normalize_numeric

from workflows.models import Case, Center, License, ManagerTerm, tehran_today

__all__ = ["center_name", "planned_end", "issue_license", "manager_profile", "next_license_number", "current_manager", "appoint_manager",
           "end_term", "license_status", "status_on", "manages_other_center", "search_centers"]


def next_license_number(session: Session, case: Case, issued_at: datetime) -> str:
    """The next license number: province number, Jalali year, running number (e.g. 01-1405-00007).

    Counting is safe under concurrent approvals: a license is issued only after its transition
    appended its first record to the log, which locks the log's single state row until commit, so
    signed transitions run one at a time and each counts the licenses of those before it.
    """
    province = case.county_office.parent
    year = jdatetime.date.fromgregorian(date=tehran_today(issued_at)).year
    prefix = f"{province.number or 0:02d}-{year}-"
    count = session.scalar(select(func.count()).select_from(License).where(License.number.like(f"{prefix}%")))
    return f"{prefix}{count + 1:05d}"


def center_name(mosque_name: str) -> str:
    """The center's name from its mosque's: «کانون فرهنگی هنری مسجد …»."""
    prefix = "کانون فرهنگی هنری "
    return prefix + (mosque_name if mosque_name.startswith("مسجد") else f"مسجد {mosque_name}")


def planned_end(start: date, terms: dict, *, interim: bool = False) -> date:
    """When a term that starts on ``start`` runs out, by the term table (bpmn/terms.json)."""
    if interim:
        months = start.month - 1 + int(terms["interim_term_months"])
        year, month = start.year + months // 12, months % 12 + 1
        return start.replace(year=year, month=month, day=min(start.day, 28))
    years = int(terms["manager_term_years"])
    return start.replace(year=start.year + years, day=min(start.day, 28) if start.month == 2 else start.day)


def issue_license(session: Session, case: Case, application: dict, issued_at: datetime, terms: dict) -> License:
    """Create the center, its license and its first manager's term from the approved application."""
    mosque, manager = application["mosque"], application["manager"]
    center = Center(name=center_name(mosque["name"]), mosque_name=mosque["name"],
                    county_office_id=case.county_office_id, address=mosque["address"],
                    postal_code=mosque["postal_code"], applicant_id=case.applicant_id)
    session.add(center)
    session.flush()
    license_ = License(number=next_license_number(session, case, issued_at), center_id=center.id,
                       case_id=case.id, status="active", issued_at=issued_at)
    start = tehran_today(issued_at)
    term = ManagerTerm(center_id=center.id, national_id=manager["national_id"],
                       full_name=f"{manager['first_name']} {manager['last_name']}",
                       start_date=start, planned_end=planned_end(start, terms), case_id=case.id,
                       **manager_profile(manager, start))
    session.add_all([license_, term])
    case.center_id = center.id
    session.flush()
    return license_


def current_manager(session: Session, center_id: int, on: date | None = None) -> ManagerTerm | None:
    """The manager's term in force on a date (today's when omitted)."""
    query = select(ManagerTerm).where(ManagerTerm.center_id == center_id)
    if on is not None:
        query = query.where(ManagerTerm.start_date <= on,
                            (ManagerTerm.end_date.is_(None)) | (ManagerTerm.end_date > on))
    else:
        query = query.where(ManagerTerm.end_date.is_(None))
    return session.scalars(query.order_by(ManagerTerm.start_date.desc())).first()


def manager_profile(manager: dict, start: date) -> dict:
    """The education and age on the start date of a manager from a signed application (youth policy figures)."""
    birth = manager.get("birth_date")
    return {"education": manager.get("education"),
            "age_at_start": age_on(date.fromisoformat(birth), start) if birth else None}


def appoint_manager(session: Session, center: Center, *, case: Case, national_id: str, full_name: str,
                    start: date, end_reason: str, terms: dict, interim: bool = False,
                    profile: dict | None = None) -> ManagerTerm:
    """End the open term (if any) and start the new one on the same day: never a day without a manager."""
    end_term(session, center.id, start, end_reason, case)
    term = ManagerTerm(center_id=center.id, national_id=national_id, full_name=full_name, start_date=start,
                       planned_end=planned_end(start, terms, interim=interim), interim=interim, case_id=case.id,
                       **(profile or {}))
    session.add(term)
    session.flush()
    return term


def end_term(session: Session, center_id: int, day: date, reason: str, case: Case) -> ManagerTerm | None:
    """End the term in force (if any) on a day, for a reason (``models.TERM_END_REASONS``), by a case."""
    current = current_manager(session, center_id)
    if current is not None:
        current.end_date, current.end_reason, current.ended_by_case_id = day, reason, case.id
        session.flush()
    return current


def license_status(session: Session, center_id: int, day: date) -> str | None:
    """The status of a center's license on a day, from its row (``facts.license_status`` reads the same
    from the proved facts): a suspension past its last day no longer holds."""
    row = session.scalars(select(License).where(License.center_id == center_id)).first()
    return status_on(row.status, row.suspended_until, day) if row is not None else None


def status_on(status: str, suspended_until: date | None, day: date) -> str:
    """A license's status on a day: a suspension whose last day is before it no longer holds."""
    if status == "suspended" and suspended_until is not None and suspended_until < day:
        return "active"
    return status


def manages_other_center(session: Session, national_id: str, except_center_id: int | None = None) -> int:
    """How many centers (other than the given one) this person manages now."""
    query = select(func.count()).select_from(ManagerTerm).where(
        ManagerTerm.national_id == national_id, ManagerTerm.end_date.is_(None))
    if except_center_id is not None:
        query = query.where(ManagerTerm.center_id != except_center_id)
    return session.scalar(query)


def search_centers(session: Session, *, county_ids: list[int] | None, text: str = "", license_number: str = "",
                   manager_national_id: str = "", county_id: int | None = None, limit: int = 200) -> list[Center]:
    """Centers matching the filters, within the given counties (None: everywhere)."""
    query = select(Center).order_by(Center.id)
    if county_ids is not None:
        query = query.where(Center.county_office_id.in_(county_ids))
    if county_id is not None:
        query = query.where(Center.county_office_id == county_id)
    if text:
        matches = Center.name.contains(text, autoescape=True) | Center.mosque_name.contains(text, autoescape=True)
        number = normalize_license_number(text)
        if number is not None:  # the free-text box finds a license number too, typed with any digits and dashes
            matches = matches | Center.id.in_(select(License.center_id).where(License.number == number))
        query = query.where(matches)
    if license_number:  # its digits, with or without the dashes: any part of the number
        digits = normalize_numeric(license_number)
        query = query.where(Center.id.in_(select(License.center_id).where(
            func.replace(License.number, "-", "").contains(digits, autoescape=True))))
    if manager_national_id:
        query = query.where(Center.id.in_(select(ManagerTerm.center_id).where(
            ManagerTerm.national_id == manager_national_id, ManagerTerm.end_date.is_(None))))
    return list(session.scalars(query.limit(limit)))
