"""Demo data: headquarters, two provinces with two counties each, and one account per role."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.models import Office
from workflows.people import add_token, create_office, create_system_user, create_user

__all__ = ["DEMO_ACCOUNTS", "DemoAccount", "seed_demo"]

#: (code, Persian name, number used in license numbers, [(county code, Persian name)])
PROVINCES = [
    ("markazi", "استان مرکزی", 0, [("markazi-arak", "اراک"), ("markazi-saveh", "ساوه")]),
    ("isfahan", "استان اصفهان", 10, [("isfahan-isfahan", "اصفهان"), ("isfahan-kashan", "کاشان")]),
]


@dataclass(frozen=True)
class DemoAccount:
    username: str
    full_name: str
    role: str
    office: str | None
    password: str = "demo1234"
    pin: str = "1405"
    #: agency accounts: the agency code inquiries are addressed to, and a fixed demo API token
    agency: str | None = None

    @property
    def token(self) -> str | None:
        return f"demo-{self.agency}-token" if self.agency else None


DEMO_ACCOUNTS = [
    DemoAccount("admin", "مدیر سامانه", "admin", "hq"),
    DemoAccount("hq_auditor", "حسین رضایی (ناظر ستاد)", "hq_auditor", "hq"),
    DemoAccount("markazi_officer", "مریم احمدی (کارشناس استان مرکزی)", "province_officer", "markazi"),
    DemoAccount("isfahan_officer", "علی کریمی (کارشناس استان اصفهان)", "province_officer", "isfahan"),
    DemoAccount("arak_officer", "محمد حسینی (کارشناس اداره اراک)", "county_officer", "markazi-arak"),
    DemoAccount("saveh_officer", "زهرا موسوی (کارشناس اداره ساوه)", "county_officer", "markazi-saveh"),
    DemoAccount("isfahan_city_officer", "رضا نوری (کارشناس اداره اصفهان)", "county_officer", "isfahan-isfahan"),
    DemoAccount("kashan_officer", "فاطمه صادقی (کارشناس اداره کاشان)", "county_officer", "isfahan-kashan"),
    DemoAccount("applicant1", "سید مهدی طباطبایی (امام جماعت)", "applicant", None),
    DemoAccount("applicant2", "عباس جعفری (هیئت مؤسس)", "applicant", None),
    DemoAccount("judiciary_agency", "قوه قضاییه (گواهی سوءپیشینه)", "agency", None, agency="judiciary"),
    DemoAccount("health_agency", "آزمایشگاه مرجع سلامت (عدم اعتیاد)", "agency", None, agency="health"),
    DemoAccount("education_agency", "سامانه استعلام مدارک تحصیلی", "agency", None, agency="education"),
    DemoAccount("basij_agency", "حراست و سازمان بسیج", "agency", None, agency="basij"),
]


def seed_demo(session: Session, system_pin: str) -> bool:
    """Create the demo offices and accounts unless offices exist already; True if created."""
    if session.scalars(select(Office).limit(1)).first() is not None:
        return False
    offices = {"hq": create_office(session, code="hq", kind="hq",
                                   name="ستاد هماهنگی کانون‌های فرهنگی هنری مساجد کشور")}
    for code, name, number, counties in PROVINCES:
        province = create_office(session, code=code, name=name, kind="province", parent=offices["hq"], number=number)
        offices[code] = province
        for county_code, county_name in counties:
            offices[county_code] = create_office(session, code=county_code, name=county_name, kind="county",
                                                 parent=province)
    for account in DEMO_ACCOUNTS:
        user = create_user(session, username=account.username, password=account.password,
                           full_name=account.full_name, role=account.role,
                           office=offices[account.office] if account.office else None, pin=account.pin,
                           agency=account.agency)
        if account.token:
            add_token(session, user, account.token, label="demo")
    create_system_user(session, system_pin)
    return True
