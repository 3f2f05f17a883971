"""The working calendar page: who reads it, what it shows with its sources, and a province head declaring a
closure that moves the running deadlines of its county offices."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import jdatetime
from sqlalchemy import select

from support import PIN, answer_all, login, submitted_founding
from web.extensions import db
from workflows import working_time
from workflows.models import AdminRecord, CaseTask, Office, Record

TEHRAN = timezone(timedelta(hours=3, minutes=30))


def _tomorrow() -> str:
    day = (datetime.now(timezone.utc).astimezone(TEHRAN) + timedelta(days=1)).date()
    return jdatetime.date.fromgregorian(date=day).strftime("%Y/%m/%d")


def test_a_county_officer_reads_their_offices_year_with_its_sources_and_cannot_declare(app, client):
    login(client, "arak_officer")
    page = client.get("/calendar?year=1405").get_data(as_text=True)
    assert 'id="days-off"' in page and "اراک" in page
    assert "تقویم رسمی اعلام‌شده" in page  # 1405's source
    assert "عاشورای حسینی" in page and "۱۴۰۵/۰۴/۰۴" in page
    assert "تعطیلی هفتگی: جمعه" in page
    assert 'id="declare-closure"' not in page
    assert "استان تهران" not in page  # no other office offered
    provisional = client.get("/calendar?year=1406").get_data(as_text=True)
    assert "برآوردی؛ تقویم رسمی این سال هنوز در سامانه نیامده است" in provisional
    assert client.post("/calendar/closures", data={"first_day": _tomorrow(), "reason": "x",
                                                   "offices": "markazi-arak", "pin": PIN}).status_code == 404
    assert db.session.scalars(select(AdminRecord).where(AdminRecord.action == "declare_closure")).first() is None


def test_a_bad_year_or_office_in_the_address_is_answered_in_persian_with_the_offices_own_page(app, client):
    login(client, "arak_officer")
    this_year = jdatetime.date.fromgregorian(date=(datetime.now(timezone.utc).astimezone(TEHRAN)).date()).year
    offered = "، ".join(str(year) for year in range(this_year - 1, this_year + 2)).translate(
        str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    for year in ("1390", "abc", "99999999999999999999", "-1"):
        answer = client.get(f"/calendar?year={year}")
        page = answer.get_data(as_text=True)
        assert answer.status_code == 422, year
        assert f"سال در این صفحه یکی از {offered} است." in page and 'id="days-off"' in page and "اراک" in page
    persian = client.get("/calendar?year=" + str(this_year).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")))
    assert persian.status_code == 200
    other = client.get("/calendar?office=tehran")  # a province this officer does not see
    assert other.status_code == 422
    page = other.get_data(as_text=True)
    assert "این اداره در فهرست اداره‌هایی نیست که تقویمشان را می‌بینید." in page and "اراک" in page
    assert "استان تهران" not in page


def test_an_applicant_has_no_calendar_page(app, client):
    login(client, "applicant1")
    assert client.get("/calendar").status_code == 404


def test_a_province_head_declares_a_closure_and_the_arak_deadline_moves(app, client):
    now = datetime.now(timezone.utc)
    case = submitted_founding(app)
    answer_all(case, "clear", now)
    due = db.session.scalars(select(CaseTask.due_at).where(CaseTask.case_id == case.id)).one()
    login(client, "markazi_head")
    page = client.get("/calendar").get_data(as_text=True)
    assert 'id="declare-closure"' in page and "استان مرکزی" in page and "ساوه" in page

    wrong = client.post("/calendar/closures", data={"first_day": _tomorrow(), "reason": "آلودگی هوا",
                                                    "offices": "markazi-arak", "pin": "0000"})
    assert wrong.status_code == 422 and "رمز امضا" in wrong.get_data(as_text=True)
    missing = client.post("/calendar/closures", data={"first_day": "۱۴۰۵/۱۳/۰۱", "reason": "",
                                                      "offices": "markazi-arak", "pin": PIN})
    text = missing.get_data(as_text=True)
    assert missing.status_code == 422 and "تاریخ نامعتبر است" in text and "این فیلد الزامی است" in text
    assert db.session.scalars(select(AdminRecord).where(AdminRecord.action == "declare_closure")).first() is None

    done = client.post("/calendar/closures", data={"first_day": _tomorrow(), "last_day": "", "reason": "آلودگی هوا",
                                                   "offices": "markazi-arak", "pin": PIN})
    assert done.status_code == 302
    record = db.session.scalars(select(AdminRecord).where(AdminRecord.action == "declare_closure")).one()
    assert json.loads(record.canonical)["details"]["closure"]["offices"] == ["markazi-arak"]
    db.session.expire_all()
    moved_to = db.session.scalars(select(CaseTask.due_at).where(CaseTask.case_id == case.id)).one()
    office = working_time.calendar_for(db.session, case.county_office)
    assert moved_to == office.add_working_days(now, 5)
    tomorrow = (now.astimezone(TEHRAN) + timedelta(days=1)).date()
    moved = db.session.scalars(select(Record).where(Record.case_id == case.id, Record.action == "deadline_moved")).all()
    assert (len(moved) == 1 and moved_to > due) if working_time.calendar_for(db.session, None).is_working(tomorrow) \
        else moved == []
    shown = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "آلودگی هوا" in shown and "تعطیلی اعلام‌شده" in shown and f"#{record.seq}".translate(
        str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")) in shown


def test_the_inbox_shows_the_working_days_left_by_the_offices_calendar(app, client):
    now = datetime.now(timezone.utc)
    case = submitted_founding(app)
    answer_all(case, "clear", now)
    due = db.session.scalars(select(CaseTask.due_at).where(CaseTask.case_id == case.id)).one()
    left = working_time.calendar_for(db.session, case.county_office).working_days_left(now, due)
    assert left in (5, 6)  # five working days after today, and today while the office is open
    login(client, "arak_officer")
    page = client.get("/inbox").get_data(as_text=True)
    assert f"({str(left).translate(str.maketrans('0123456789', '۰۱۲۳۴۵۶۷۸۹'))} روز کاری مانده)" in page


def test_the_date_picker_reads_the_offices_days_off(app, client):
    login(client, "arak_officer")
    found = client.get("/calendar/days-off.json").get_json()
    assert found["weekly"] == [6]  # Friday, the picker's last weekday
    assert found["days"]["2026-06-25"] == "عاشورای حسینی"  # 1405/04/04
    assert found["version"] == working_time.calendar_for(db.session, None).version
    client.post("/logout")
    assert client.get("/calendar/days-off.json").status_code in (302, 401)


def test_a_head_names_a_substitute_who_decides_acting_for_the_colleague_on_the_pages(app, client):
    now = datetime.now(timezone.utc)
    case = submitted_founding(app)
    answer_all(case, "clear", now)
    today = jdatetime.date.fromgregorian(date=now.astimezone(TEHRAN).date()).strftime("%Y/%m/%d")
    login(client, "arak_officer")
    page = client.get("/calendar/leave").get_data(as_text=True)
    assert 'id="record-leave"' in page and 'id="name-substitute"' not in page
    assert client.post("/calendar/leave", data={"first_day": today, "pin": PIN}).status_code == 302
    client.post("/logout")

    login(client, "arak_head")
    page = client.get("/calendar/leave").get_data(as_text=True)
    assert 'id="name-substitute"' in page and "محمد حسینی" in page
    refused = client.post("/calendar/substitutes", data={"absent": "arak_officer", "substitute": "saveh_officer",
                                                         "first_day": today, "pin": PIN})
    assert refused.status_code == 422 and "جانشین باید از همان اداره یا اداره بالادست باشد" in refused.get_data(as_text=True)
    named = client.post("/calendar/substitutes", data={"absent": "arak_officer", "substitute": "markazi_officer",
                                                       "first_day": today, "process_keys": "center_founding",
                                                       "pin": PIN})
    assert named.status_code == 302
    listed = client.get("/calendar/leave").get_data(as_text=True)
    assert "مریم احمدی (کارشناس استان مرکزی) به جانشینی از محمد حسینی (کارشناس اداره اراک)" in listed
    client.post("/logout")

    login(client, "markazi_officer")
    inbox_page = client.get("/inbox").get_data(as_text=True)
    assert f'data-case="{case.id}"' in inbox_page
    task = db.session.scalars(select(CaseTask).where(CaseTask.case_id == case.id)).one()
    done = client.post(f"/cases/{case.id}/tasks/{task.task_id}", data={"decision": "approve", "_action": "submit",
                                                                       "pin": PIN}, content_type="multipart/form-data")
    assert done.status_code in (302, 303), done.get_data(as_text=True)[:300]
    shown = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "به جانشینی از محمد حسینی (کارشناس اداره اراک)" in shown
    client.post("/logout")
    login(client, "markazi_head")
    monitoring_page = client.get("/monitoring").get_data(as_text=True)
    assert "ادارات بی‌حضور امروز" not in monitoring_page  # arak_head is not on leave: the office is staffed


def test_the_province_sees_a_county_office_whose_people_are_all_on_leave(app, client):
    now = datetime.now(timezone.utc)
    today = jdatetime.date.fromgregorian(date=now.astimezone(TEHRAN).date()).strftime("%Y/%m/%d")
    for username in ("arak_officer", "arak_head"):
        login(client, username)
        assert client.post("/calendar/leave", data={"first_day": today, "pin": PIN}).status_code == 302
        client.post("/logout")
    login(client, "markazi_head")
    page = client.get("/monitoring").get_data(as_text=True)
    arak = db.session.scalars(select(Office).where(Office.code == "markazi-arak")).one()
    if working_time.calendar_for(db.session, arak).is_working(now.astimezone(TEHRAN).date()):
        assert 'id="unstaffed"' in page and "اراک" in page.split('id="unstaffed"')[1].split("</p>")[0]
    else:
        assert 'id="unstaffed"' not in page  # a day off: nobody is expected
