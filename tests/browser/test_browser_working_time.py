"""Working time on a 360 px phone, as an office head works: the date picker marks the days off; the head
records a colleague's leave and names a substitute from the province office; the substitute finds the
colleague's case in their inbox and decides it, and the timeline says they signed acting for the colleague."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from browser_support import PIN, decide, fa, follow, no_problems, sign_in
from forms import jalali_iso
from office_support import answer, founding, national_id
from web.extensions import db
from workflows.models import Case, Record, tehran_today, utcnow
from workflows.working_time import calendar_for


def test_a_head_names_a_substitute_who_decides_acting_for_the_colleague(app, browser_page, live_server, screens):
    page, problems = browser_page
    base = live_server
    now = utcnow()
    case = founding(app, "applicant1", county="markazi-arak", mosque="مسجد جامع", manager_id=national_id(931), now=now)
    answer(case, now)
    assert case.status == "county_review"

    sign_in(page, base, "arak_head")
    follow(page, "#nav-leave")
    # the picker marks the office's days off: this month's Fridays, with their reason
    page.click("#substitute-first_day-picker")
    page.wait_for_selector(".picker button.picker-day.off")
    marked = page.eval_on_selector_all(".picker button.picker-day.off", "bs => bs.map(b => b.title)")
    assert marked.count("تعطیل: جمعه") >= 4
    page.click("#substitute-first_day-picker")  # closes it
    today = tehran_today(now)

    # the colleague is away sick: the head records the leave for them
    page.select_option("#leave-person", "arak_officer")
    page.fill("#leave-first_day", fa(jalali_iso(today)))
    page.fill("#leave-last_day", fa(jalali_iso(today + timedelta(days=3))))
    page.fill("#leave-pin", PIN)
    follow(page, "#record-leave button[type=submit]")
    assert "مرخصی در دفتر مدیریت امضا شد" in page.inner_text("body")
    assert "محمد حسینی (کارشناس اداره اراک)" in page.inner_text("#leaves")
    screens(page, "leave-and-substitute")

    page.select_option("#substitute-absent", "arak_officer")
    page.select_option("#substitute-substitute", "markazi_officer")
    page.fill("#substitute-first_day", fa(jalali_iso(today)))
    page.fill("#substitute-last_day", fa(jalali_iso(today + timedelta(days=3))))
    page.select_option("#substitute-process_keys", ["center_founding"])
    page.fill("#substitute-pin", PIN)
    follow(page, "#name-substitute button[type=submit]")
    assert "جانشین در دفتر مدیریت امضا شد" in page.inner_text("body")
    assert "مریم احمدی (کارشناس استان مرکزی) به جانشینی از محمد حسینی (کارشناس اداره اراک)" in page.inner_text(
        "#substitutions")

    # the substitute, in the province office, finds the Arak case in their inbox and approves it
    decide(page, base, "markazi_officer", "approve")
    assert page.inner_text("#case-status") != "نزد کارشناس شهرستان"
    assert "به جانشینی از محمد حسینی (کارشناس اداره اراک)" in page.inner_text("#timeline")
    screens(page, "acting-for-on-the-timeline")
    db.session.expire_all()
    record = db.session.scalars(select(Record).where(Record.case_id == case.id, Record.action == "approve")).one()
    assert record.actor.username == "markazi_officer"
    assert db.session.get(Case, case.id).status == "province_review"

    # the calendar page shows the office's days off with their sources
    sign_in(page, base, "arak_head")
    follow(page, "#nav-calendar")
    assert "تقویم رسمی" in page.inner_text("#days-off") and "عید نوروز" in page.inner_text("#days-off")
    assert calendar_for(db.session, case.county_office).version in page.inner_text("main")
    no_problems(problems)
