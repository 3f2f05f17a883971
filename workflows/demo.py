"""Demo data: the office tree of workflows/data/offices.json and one account per role (two for offices)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows import pki
from workflows.models import Office
from workflows.offices import load_offices, read_office_tree
from workflows.people import add_token, create_system_user, create_user

__all__ = ["DEMO_ACCOUNTS", "DemoAccount", "seed_demo"]


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
    #: where notifications are sent (SMS, email); agencies get none
    mobile: str | None = None

    @property
    def email(self) -> str | None:
        return f"{self.username}@demo.example" if self.mobile else None

    @property
    def token(self) -> str | None:
        return f"demo-{self.agency}-token" if self.agency else None


DEMO_ACCOUNTS = [
    DemoAccount("admin", "مدیر سامانه", "admin", "hq", mobile="09120000001"),
    DemoAccount("hq_auditor", "حسین رضایی (ناظر ستاد)", "hq_auditor", "hq", mobile="09120000002"),
    DemoAccount("markazi_officer", "مریم احمدی (کارشناس استان مرکزی)", "province_officer", "markazi",
                mobile="09120000003"),
    DemoAccount("markazi_head", "سعید کاظمی (مدیر ستاد استان مرکزی)", "province_head", "markazi",
                mobile="09120000004"),
    DemoAccount("isfahan_officer", "علی کریمی (کارشناس استان اصفهان)", "province_officer", "isfahan",
                mobile="09120000005"),
    DemoAccount("arak_officer", "محمد حسینی (کارشناس اداره اراک)", "county_officer", "markazi-arak",
                mobile="09120000006"),
    DemoAccount("arak_head", "نرگس رحیمی (مدیر اداره اراک)", "county_head", "markazi-arak", mobile="09120000007"),
    DemoAccount("saveh_officer", "زهرا موسوی (کارشناس اداره ساوه)", "county_officer", "markazi-saveh",
                mobile="09120000008"),
    DemoAccount("isfahan_city_officer", "رضا نوری (کارشناس اداره اصفهان)", "county_officer", "isfahan-isfahan",
                mobile="09120000009"),
    DemoAccount("kashan_officer", "فاطمه صادقی (کارشناس اداره کاشان)", "county_officer", "isfahan-kashan",
                mobile="09120000010"),
    DemoAccount("applicant1", "سید مهدی طباطبایی (امام جماعت)", "applicant", None, mobile="09120000011"),
    DemoAccount("applicant2", "عباس جعفری (هیئت مؤسس)", "applicant", None, mobile="09120000012"),
    DemoAccount("judiciary_agency", "قوه قضاییه (گواهی سوءپیشینه)", "agency", None, agency="judiciary"),
    DemoAccount("health_agency", "آزمایشگاه مرجع سلامت (عدم اعتیاد)", "agency", None, agency="health"),
    DemoAccount("education_agency", "سامانه استعلام مدارک تحصیلی", "agency", None, agency="education"),
    DemoAccount("basij_agency", "حراست و سازمان بسیج", "agency", None, agency="basij"),
]


def seed_demo(session: Session, system_pin: str, ca_passphrase: str, *, work_factor: int = 14) -> bool:
    """Create the demo offices and accounts unless offices exist already; True if created. (``work_factor``
    of the signing keys' encryption: lowered only in a throwaway database, see ``signing.encrypt_private_key``.)"""
    if session.scalars(select(Office).limit(1)).first() is not None:
        return False
    offices = load_offices(session, read_office_tree())
    for account in DEMO_ACCOUNTS:
        user = create_user(session, username=account.username, password=account.password,
                           full_name=account.full_name, role=account.role,
                           office=offices[account.office] if account.office else None, pin=account.pin,
                           agency=account.agency, mobile=account.mobile, email=account.email,
                           work_factor=work_factor)
        if account.token:
            add_token(session, user, account.token, label="demo")
    create_system_user(session, system_pin, work_factor=work_factor)
    pki.ensure(session, ca_passphrase)
    return True
