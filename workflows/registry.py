"""The center registry: centers, licenses and manager terms, written only by signed transitions."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import jdatetime
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.models import Case, Center, License, ManagerTerm

__all__ = ["center_name", "issue_license", "next_license_number", "current_manager"]


def _tehran_date(moment: datetime) -> date:
    return (moment + timedelta(hours=3, minutes=30)).date()


def next_license_number(session: Session, case: Case, issued_at: datetime) -> str:
    """The next license number: province number, Jalali year, running number (e.g. 01-1405-00007)."""
    province = case.county_office.parent
    year = jdatetime.date.fromgregorian(date=_tehran_date(issued_at)).year
    prefix = f"{province.number or 0:02d}-{year}-"
    count = session.scalar(select(func.count()).select_from(License).where(License.number.like(f"{prefix}%")))
    return f"{prefix}{count + 1:05d}"


def center_name(mosque_name: str) -> str:
    """The center's name from its mosque's: «کانون فرهنگی هنری مسجد …»."""
    prefix = "کانون فرهنگی هنری "
    return prefix + (mosque_name if mosque_name.startswith("مسجد") else f"مسجد {mosque_name}")


def issue_license(session: Session, case: Case, application: dict, issued_at: datetime) -> License:
    """Create the center, its license and its first manager's term from the approved application."""
    mosque, manager = application["mosque"], application["manager"]
    center = Center(name=center_name(mosque["name"]), mosque_name=mosque["name"],
                    county_office_id=case.county_office_id, address=mosque["address"],
                    postal_code=mosque["postal_code"])
    session.add(center)
    session.flush()
    license_ = License(number=next_license_number(session, case, issued_at), center_id=center.id,
                       case_id=case.id, status="active", issued_at=issued_at)
    term = ManagerTerm(center_id=center.id, national_id=manager["national_id"],
                       full_name=f"{manager['first_name']} {manager['last_name']}",
                       start_date=_tehran_date(issued_at), case_id=case.id)
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
