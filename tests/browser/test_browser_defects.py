"""The defects new users met, walked in Chromium at 360 px and at desktop width (``screens`` takes both,
fails on a page wider than the phone or on Latin digits where Persian ones belong):

1. a license number is found by the registry's search, typed in Persian digits with its dashes;
2. a retirement ends the term on its requested effective date: until then the retiring manager is
   in force and the center says who follows from when;
3. digits typed in Persian into a mosque's name read back in Persian;
4. no internal code reaches people: the read log in Persian words, a certificate check's problems in
   Persian, record digests folded away, no BPMN file offered to an applicant;
5. an administrator picks a parent office from Persian names;
6. the registry's CSV is UTF-8 text/csv once, its headers Persian, a leading zero kept.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from browser_support import fa, follow, no_problems, sign_in
from office_support import answer as answer_all, decide, founding as founding_case, national_id
from support import PIN, user
from web.extensions import db
from workflows.cases import complete_task, start_case
from workflows.models import Case, Center, License, tehran_today, utcnow

MOSQUE = "مسجد جامع امام رضا ۲۴۳۲"


def retire(center, effective) -> Case:
    """The county office asks for the manager's retirement on ``effective`` and names an interim."""
    officer = user("arak_officer")
    case = start_case(db.session, process_key="manager_retirement", starter=officer, center=center)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=officer, pin=PIN,
                  data={"effective_date": effective.isoformat(), "reason": "رسیدن به سن بازنشستگی."})
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=officer, pin=PIN,
                  data={"continuity": "interim", "interim": {"full_name": "رضا قاسمی", "national_id": "0067749828",
                                                             "mobile": "09350001122"}})
    db.session.commit()
    return case


def test_each_defect_walked_at_phone_and_desktop_width(app, browser_page, live_server, screens, tmp_path):
    page, problems = browser_page
    base = live_server
    # every step now, not hours ahead: a license issued past Tehran's midnight would start its term tomorrow
    now = utcnow()
    case = founding_case(app, "applicant1", county="markazi-arak", mosque=MOSQUE, manager_id=national_id(901), now=now)
    answer_all(case, now)
    decide(case, "arak_officer", "approve", now)
    decide(case, "markazi_officer", "approve", now)
    center = db.session.get(Center, case.center_id)
    number = db.session.scalars(select(License.number).where(License.center_id == center.id)).one()
    founding = db.session.scalars(select(Case).where(Case.center_id == center.id)).one()
    effective = tehran_today(utcnow()) + timedelta(days=17)
    retirement = retire(center, effective)
    db.session.commit()

    # 1. the license number typed in Persian digits, with its dashes, in the free-text box
    sign_in(page, base, "arak_officer")
    page.goto(f"{base}/centers")
    page.fill("#q", fa(number))
    follow(page, "#registry-search button[type=submit]")
    rows = page.locator("#centers tbody tr")
    assert rows.count() == 1 and fa(number) in rows.first.inner_text()
    assert "فعال" in rows.first.inner_text()  # the license's status has its column
    screens(page, "defect-1-license-search")

    # 2. and 3. the center: the retiring manager until the effective date, the interim from it; Persian digits
    follow(page, f"#centers a[href='/centers/{center.id}']")
    assert "رضا قاسمی" not in page.inner_text("#current-manager")
    following = page.inner_text("#next-manager")
    assert "رضا قاسمی" in following and fa(effective.isoformat()[:4]) not in following  # Jalali, not Gregorian
    assert "۲۴۳۲" in page.inner_text("h1")
    screens(page, "defect-2-3-center-next-manager")
    page.goto(f"{base}/cases/{retirement.id}")
    assert "۲۴۳۲" in page.inner_text("h1")
    # 4. a record's digest is folded away, and the process file is a technical download
    summary = page.locator("#timeline details.record-id summary").first
    assert summary.is_visible() and "رکورد امضاشده شماره" in summary.inner_text()
    assert not page.locator("#timeline .hash").first.is_visible()
    screens(page, "defect-4-timeline")
    sign_in(page, base, "applicant1")
    page.goto(f"{base}/cases/{founding.id}")
    assert page.locator("#diagram-xml").count() == 0 and "BPMN" not in page.inner_text("main")
    assert page.inner_text("#case-license-number") == fa(number)

    # 4. the read log speaks Persian: the page read and the case read, with a link to it
    sign_in(page, base, "hq_auditor")
    page.goto(f"{base}/cases/{founding.id}")
    page.goto(f"{base}/audit/log")
    log = page.inner_text("#read-log")
    assert "صفحه پرونده" in log and f"پرونده #{fa(founding.id)}" in log
    assert "pages.case" not in log and "case:" not in log
    screens(page, "defect-4-read-log")

    # 4. a file that is not a certificate PDF is refused in Persian words
    page.context.clear_cookies()
    page.goto(f"{base}/verify")
    fake = tmp_path / "not-a-certificate.pdf"
    fake.write_bytes(b"not a pdf at all")
    page.set_input_files("#pdf", str(fake))
    follow(page, "#pdf-form button[type=submit]")
    problems_text = page.inner_text("#pdf-result .problems")
    assert "PDF نیست" in problems_text and "not_a_pdf" not in problems_text
    screens(page, "defect-4-verify-problems")

    # 5. the administrator picks the parent office from Persian names
    sign_in(page, base, "admin")
    page.goto(f"{base}/admin")
    options = page.locator("#office-parent option").all_inner_texts()
    assert "استان مرکزی" in " ".join(options) and "markazi" not in " ".join(options)
    screens(page, "defect-5-admin-offices")

    # 6. the registry's CSV, read as a spreadsheet would
    sign_in(page, base, "arak_officer")
    answer = page.request.get(f"{base}/centers/export.csv")
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    text = answer.text()
    assert text.startswith("\ufeff") and "شماره مجوز" in text.splitlines()[0] and "۲۴۳۲" in text
    no_problems(problems)
