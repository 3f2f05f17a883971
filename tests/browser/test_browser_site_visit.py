"""The site visit on a 360 px phone: the county office names a day and an expert (the founder is told by
notification and SMS), the expert fills in the checklist at the mosque with the phone's camera, the signal
drops as it is signed and the sheet goes when it returns; a visit that finds the space short sends the
case back to the founder with the checklist's reasons."""
from __future__ import annotations

from sqlalchemy import select

from browser_support import PIN, fa, fill_visit, follow, no_problems, schedule_visit, sign_in
from office_support import answer, base_time, founding, national_id
from support import png_bytes
from web.extensions import db
from forms import jalali_iso
from workflows.models import Case, CaseTask, Record, User, tehran_today, utcnow
from workflows.notifications import Notification, OutboxMessage


def _waiting_visit(app, manager: int) -> Case:
    now = base_time()
    case = founding(app, "applicant1", county="markazi-arak", mosque="مسجد امام رضا", manager_id=national_id(manager),
                    now=now)
    answer(case, now, visit=False)
    assert case.status == "visit_scheduling"
    return case


def test_an_expert_does_the_visit_on_a_phone_through_a_dropped_signal(app, browser_page, live_server, screens,
                                                                        tmp_path):
    page, problems = browser_page
    base = live_server
    case = _waiting_visit(app, 911)
    today = fa(jalali_iso(tehran_today(utcnow())))

    # the county's head names the day and the expert: a colleague of the office, not themselves
    sign_in(page, base, "arak_head")
    follow(page, "#inbox a.button")
    experts = page.eval_on_selector_all("#f-expert option", "options => options.map(o => o.value)")
    assert set(experts) == {"", "arak_officer", "arak_head"}  # the people of the case's county office only
    screens(page, "site-visit-schedule")
    schedule_visit(page, base, "arak_head", "arak_officer", today)
    assert page.inner_text("#case-status") == "در انتظار بازدید میدانی"

    # the founder is told the day and the expert, in the app and by SMS
    founder = db.session.scalars(select(User).where(User.username == "applicant1")).one()
    told = db.session.scalars(select(Notification).where(Notification.case_id == case.id,
                                                         Notification.kind == "visit")).one()
    assert told.user_id == founder.id
    sms = db.session.scalars(select(OutboxMessage).where(OutboxMessage.notification_id == told.id,
                                                         OutboxMessage.channel == "sms")).one()
    assert today in sms.body and "محمد حسینی" in sms.body and "امام جماعت" in sms.body
    # the visit waits in the expert's own inbox, held by them
    task = db.session.scalars(select(CaseTask).where(CaseTask.case_id == case.id)).one()
    expert = db.session.scalars(select(User).where(User.username == "arak_officer")).one()
    assert (task.name, task.claimed_by_id) == ("site_visit", expert.id)

    sign_in(page, base, "arak_officer")
    follow(page, "#inbox a.button")
    task_url = page.url
    assert page.get_attribute("#f-documents-space_photo", "capture") == "environment"
    photo = tmp_path / "space.png"
    photo.write_bytes(png_bytes("gray"))
    fill_visit(page, photo)
    screens(page, "site-visit-checklist")
    page.wait_for_timeout(300)  # the photo chosen is written to the phone's storage

    # the signal drops as the sheet is signed: it is kept on the phone and nothing reaches the server
    page.context.set_offline(True)
    page.fill("#pin", PIN)
    page.click("#submit")
    page.wait_for_selector("#offline-status:not([hidden])")
    assert "اینترنت در دسترس نیست" in page.inner_text("#offline-status")
    db.session.refresh(case)
    assert case.status == "site_visit"

    # the signal returns: the sheet goes by itself, photo and all
    with page.expect_navigation():
        page.context.set_offline(False)
    page.wait_for_selector("#case-status")
    assert page.url != task_url
    db.session.refresh(case)
    assert case.status == "county_review"
    record = db.session.scalars(select(Record).where(Record.case_id == case.id, Record.action == "record_visit")).one()
    assert record.actor_user_id == expert.id and '"visit_area_m2":120' in record.canonical

    # the county's desk shows the signed sheet with its photo beside the application
    sign_in(page, base, "arak_head")
    follow(page, "#inbox a.button")
    sheet = page.inner_text("#desk-form-site_visit")
    assert "بازدید میدانی از فضای کانون" in sheet and "بیرون از مسجد" in sheet and "محمد حسینی" in sheet
    assert page.locator("#desk-form-site_visit img.preview").count() == 1
    assert "محمد حسینی" in page.inner_text("#desk-form-schedule_visit")  # the expert by name, not username
    no_problems([p for p in problems if "ERR_INTERNET_DISCONNECTED" not in p])


def test_a_visit_that_finds_the_space_short_returns_the_case_with_the_reasons(app, browser_page, live_server, tmp_path):
    page, problems = browser_page
    base = live_server
    case = _waiting_visit(app, 912)
    schedule_visit(page, base, "arak_officer", "arak_officer", fa(jalali_iso(tehran_today(utcnow()))))
    follow(page, "#open-task")  # the officer named themselves: the visit waits on the case's page for them
    photo = tmp_path / "space.png"
    photo.write_bytes(png_bytes("gray"))
    fill_visit(page, photo, area=60, imam_present=False)
    page.fill("#pin", PIN)
    follow(page, "#submit")
    db.session.refresh(case)
    assert case.status == "correction"

    sign_in(page, base, "applicant1")
    page.goto(f"{base}/notifications")
    told = page.inner_text("main")
    assert "۸۰ مترمربع" in told and "امام جماعت باید در بازدید حاضر باشد" in told
    page.goto(f"{base}/cases/{case.id}")
    follow(page, "#open-task")
    reasons = page.inner_text("#violations")
    assert "۸۰ مترمربع" in reasons and "امام جماعت باید در بازدید حاضر باشد" in reasons
    no_problems(problems)
