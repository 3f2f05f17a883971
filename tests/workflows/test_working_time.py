"""Iran's working time: the official calendar of 1404–1406, the weekly days off per province, declared
closures, and deadlines counted in working days as an officer would count them."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import jdatetime
import pytest
from sqlalchemy import select

from support import ACTORS, BPMN_DIR, PIN, answer_all, submitted_founding, tick, user
from web.extensions import db
from workflows import access, monitoring, notifications, timers, working_time
from workflows.admin import verify_admin_log
from workflows.errors import Forbidden, InvalidInput
from workflows.keys import unlock_signer
from workflows.models import Case, CaseTask, Office, Record, RecordTiming
from workflows.notifications import Notification
from workflows.working_time import Calendar, Closure

TEHRAN = timezone(timedelta(hours=3, minutes=30))
TABLES = {name: json.loads((BPMN_DIR / f"{name}.json").read_text("utf-8"))
          for name in ("working_time", "official_calendar")}
MARKAZI = Office(code="markazi", kind="province", name="استان مرکزی")
ARAK = Office(code="markazi-arak", kind="county", name="اراک", parent=MARKAZI)
SAVEH = Office(code="markazi-saveh", kind="county", name="ساوه", parent=MARKAZI)
TEHRAN_PROVINCE = Office(code="tehran", kind="province", name="استان تهران")
TEHRAN_COUNTY = Office(code="tehran-rey", kind="county", name="ری", parent=TEHRAN_PROVINCE)
EVERY_OFFICE = (None, MARKAZI, ARAK, TEHRAN_PROVINCE, TEHRAN_COUNTY)


def jalali(text: str, hour: int = 10, minute: int = 0) -> datetime:
    year, month, day = (int(part) for part in text.split("/"))
    return datetime.combine(jdatetime.date(year, month, day).togregorian(), datetime.min.time(),
                            TEHRAN).replace(hour=hour, minute=minute)


def calendar(office: Office | None, *closures: Closure) -> Calendar:
    return Calendar(office, TABLES, closures)


def closure(first: str, last: str, *offices: str, seq: int = 1) -> Closure:
    return Closure(seq=seq, first_day=jalali(first).date(), last_day=jalali(last).date(), reason="آلودگی هوا",
                   offices=offices, declared_by=1, declared_at=datetime(2026, 12, 1, tzinfo=timezone.utc),
                   hash=f"{seq:064x}")


# --- the official calendar ---------------------------------------------------------------------------------

#: the solar holidays by law, every year (written here, not read from the file the calendar reads)
SOLAR = ["01/01", "01/02", "01/03", "01/04", "01/12", "01/13", "03/14", "03/15", "11/22", "12/29"]
#: the lunar occasions that are official holidays, each at least once in every Jalali year
LUNAR = ["تاسوعا", "عاشورا", "اربعین", "رحلت رسول اکرم", "شهادت امام رضا", "امام حسن عسکری", "میلاد رسول اکرم",
         "فاطمه زهرا", "ولادت امام علی", "مبعث", "نیمه شعبان", "شهادت حضرت علی", "عید سعید فطر",
         "تعطیل به مناسبت عید سعید فطر", "شهادت امام جعفر صادق", "قربان", "غدیر"]
OFFICIAL = [(int(year), item) for year, entry in TABLES["official_calendar"]["years"].items()
            for item in entry["days"]]


def test_the_official_file_covers_1404_to_1406_with_every_solar_and_lunar_holiday():
    years = TABLES["official_calendar"]["years"]
    assert sorted(years) == ["1404", "1405", "1406"]
    for year, entry in years.items():
        solar = {item["day"] for item in entry["days"] if item["kind"] == "solar"}
        assert set(SOLAR) <= solar, year
        lunar = [item["name"] for item in entry["days"] if item["kind"] == "lunar"]
        for occasion in LUNAR:
            assert any(occasion in name for name in lunar), (year, occasion)
    assert years["1406"]["status"] == "provisional"  # not announced yet: shown as such on the calendar page


@pytest.mark.parametrize("year, item", OFFICIAL, ids=[f"{y}/{i['day']}-{i['kind']}" for y, i in OFFICIAL])
def test_every_official_holiday_is_a_day_off_in_every_office(year, item):
    month, day = (int(part) for part in item["day"].split("/"))
    gregorian = jdatetime.date(year, month, day).togregorian()
    for office in EVERY_OFFICE:
        found = calendar(office).days_off(gregorian)
        assert any(off.name == item["name"] and off.source in ("official", "estimated") for off in found), office
        assert not calendar(office).is_working(gregorian)


def test_fridays_are_off_everywhere_and_thursdays_where_the_province_says_so():
    wednesday, thursday, friday = date(2026, 12, 9), date(2026, 12, 10), date(2026, 12, 11)  # 1405/09/18–20
    for office in EVERY_OFFICE:
        assert calendar(office).is_working(wednesday)
        assert [off.source for off in calendar(office).days_off(friday)] == ["weekly"]
    assert calendar(ARAK).is_working(thursday) and calendar(None).is_working(thursday)
    assert [(off.source, off.name) for off in calendar(TEHRAN_COUNTY).days_off(thursday)] == [("weekly", "پنجشنبه")]


def test_a_year_the_file_does_not_list_falls_back_to_the_library():
    office = calendar(ARAK)
    assert office.year_source(1407) == "library" and office.year_source(1405) == "announced"
    nowruz = jdatetime.date(1407, 1, 1).togregorian()
    assert {off.source for off in office.days_off(nowruz)} == {"library"}
    assert len([off for off in office.year(1407) if off.source == "library"]) >= 25


def test_the_librarys_lunar_dates_against_the_official_file():
    """The differences are listed in the file itself (``library_differences``), so a library upgrade that
    moves a day shows here; today the library agrees with the file on every lunar day of 1404–1406."""
    for year, entry in TABLES["official_calendar"]["years"].items():
        found = working_time.library_differences(TABLES, int(year))
        print(year, found or "no difference")
        assert found == entry["library_differences"], year
    moved = json.loads(json.dumps(TABLES))
    ashura = next(item for item in moved["official_calendar"]["years"]["1405"]["days"] if "عاشورا" in item["name"])
    ashura["day"] = "04/05"
    assert working_time.library_differences(moved, 1405) == ["عاشورایحسینی: library 04/04, official 04/05"]


# --- deadlines in working days -------------------------------------------------------------------------------

@pytest.mark.parametrize("office, arrives, days, due", [
    # Thursday 28 Esfand 1404: 29 Esfand (Friday), Nowruz 1–4 off; 5 (1), 6 (2), 7 Friday, 8, 9, 10 (5)
    (ARAK, "1404/12/28", 5, "1405/01/10"),
    # the same in Tehran, where Thursdays are off too: 5 (1), 8, 9, 10, 11 (5)
    (TEHRAN_COUNTY, "1404/12/28", 5, "1405/01/11"),
    # Wednesday 26 Esfand 1405, before the Nowruz of 1406 (provisional year): 27 (1), 28 Friday, 29 and
    # 1–4 Farvardin off, 5 (2), 6 Friday, 7, 8, 9 (5)
    (ARAK, "1405/12/26", 5, "1406/01/09"),
    # the day before Tasua 1405: Tasua, Ashura and Friday off; 6, 7, 8, 9, 10 Tir
    (ARAK, "1405/04/02", 5, "1405/04/10"),
    (SAVEH, "1405/04/02", 1, "1405/04/06"),
    # ten working days from Sunday 15 Azar 1405, no holiday near: 16–19, 21–26 (20 is a Friday)
    (ARAK, "1405/09/15", 10, "1405/09/26"),
    # a task that arrives on a Friday counts from Saturday
    (ARAK, "1405/09/20", 1, "1405/09/21"),
])
def test_a_deadline_lands_where_an_officer_counts_it(office, arrives, days, due):
    assert calendar(office).add_working_days(jalali(arrives), days) == jalali(due, 14, 30)


def test_a_declared_closure_moves_the_deadlines_of_its_offices_only():
    # Thursday 19 Azar 1405: Friday off; 21 (1), 22, 23, 24, 25 (5)
    arrives = jalali("1405/09/19")
    assert calendar(ARAK).add_working_days(arrives, 5) == jalali("1405/09/25", 14, 30)
    pollution = closure("1405/09/22", "1405/09/23", "markazi")
    assert calendar(ARAK, pollution).add_working_days(arrives, 5) == jalali("1405/09/28", 14, 30)
    assert calendar(SAVEH, pollution).add_working_days(arrives, 5) == jalali("1405/09/28", 14, 30)
    arak_only = closure("1405/09/22", "1405/09/23", "markazi-arak")
    assert calendar(SAVEH, arak_only).add_working_days(arrives, 5) == jalali("1405/09/25", 14, 30)
    assert calendar(TEHRAN_COUNTY, pollution).add_working_days(arrives, 2) == jalali("1405/09/22", 14, 30)
    nationwide = closure("1405/09/22", "1405/09/22")
    assert calendar(TEHRAN_COUNTY, nationwide).add_working_days(arrives, 2) == jalali("1405/09/23", 14, 30)
    [off] = calendar(ARAK, pollution).days_off(jalali("1405/09/22").date())
    assert (off.source, off.name, off.record_seq) == ("closure", "آلودگی هوا", 1)


def test_working_days_left_and_between():
    office = calendar(ARAK)
    due = jalali("1405/09/25", 14, 30)  # Wednesday
    assert office.working_days_left(jalali("1405/09/19", 9), due) == 6  # Thursday itself, 21–25
    assert office.working_days_left(jalali("1405/09/19", 15), due) == 5  # Thursday's hours are over
    assert office.working_days_left(jalali("1405/09/20", 9), due) == 5  # a Friday
    assert office.working_days_left(jalali("1405/09/25", 15), due) == 0
    # from Monday 25 Esfand 1404: 26, 27, 28 Esfand, 5, 6, 8, 9, 10 Farvardin (29 Esfand and 7 are Fridays)
    assert office.working_days_between(jalali("1404/12/25"), jalali("1405/01/10")) == 8


def test_a_version_names_what_the_calendar_read():
    plain, closed = calendar(ARAK), calendar(ARAK, closure("1405/09/22", "1405/09/23", "markazi"))
    assert plain.version != closed.version
    assert plain.version == calendar(SAVEH).version  # same week, same file, no closure: the same calendar
    assert calendar(TEHRAN_COUNTY).version != plain.version  # Tehran's Thursdays


def test_bad_calendar_tables_are_refused_with_what_is_wrong():
    assert working_time.check_tables(TABLES) == []
    bad = json.loads(json.dumps(TABLES))
    bad["working_time"]["provinces"]["tehran"]["days_off"] = ["thursdy"]
    bad["working_time"]["hours"] = {"start": "15:00", "end": "14:30"}
    bad["official_calendar"]["years"]["1405"]["days"][0]["day"] = "13/01"
    problems = working_time.check_tables(bad)
    assert any("provinces.tehran: days off must be a list of weekday names" in p for p in problems)
    assert "working_time.json: hours: start must come before end" in problems
    assert any(p.startswith("official_calendar.json: 1405: {'day': '13/01'") for p in problems)


# --- on the database: closures are signed, and they move running deadlines ------------------------------------

def _county_review_case(app, now: datetime) -> Case:
    case = submitted_founding(app)
    answer_all(case, "clear", now)
    assert case.status == "county_review"
    return case


def test_the_step_that_sets_a_deadline_signs_its_due_time_and_calendar(app):
    now = datetime.now(timezone.utc)
    case = _county_review_case(app, now)
    task = next(t for t in case.tasks if t.name == "county_review")
    arak = db.session.get(Office, case.county_office_id)
    office = working_time.calendar_for(db.session, arak)
    assert task.due_at == office.add_working_days(now, 5)
    record = db.session.scalars(select(Record).where(Record.case_id == case.id, Record.action == "record_visit")).one()
    details = json.loads(record.canonical)["details"]
    assert details["deadlines"]["county_overdue"]["working_days"] == 5
    assert details["calendar"] == {"office": "markazi-arak", "version": office.version}
    # the application names the county: its inquiries' deadline is counted in that office's working days
    submitted = db.session.scalars(select(Record).where(Record.case_id == case.id, Record.action == "submit")).one()
    signed = json.loads(submitted.canonical)["details"]
    assert signed["calendar"] == {"office": "markazi-arak", "version": office.version}
    assert signed["deadlines"]["inquiries_overdue"]["working_days"] == 10


def test_a_province_head_closes_its_counties_and_the_deadlines_there_move_with_a_signed_record(app):
    now = datetime.now(timezone.utc)
    case = _county_review_case(app, now)
    due = next(t for t in case.tasks if t.name == "county_review").due_at
    head = user("markazi_head")
    first = (now.astimezone(TEHRAN) + timedelta(days=1)).date()
    data = {"first_day": jdatetime.date.fromgregorian(date=first).strftime("%Y/%m/%d"),
            "last_day": (first + timedelta(days=2)).isoformat(),  # the API's ISO day is taken too
            "reason": "  آلودگی   هوا ", "offices": ["markazi-arak"]}
    declared = working_time.declare_closure(db.session, head, data=data, pin=PIN, now=now)
    assert (declared.first_day, declared.last_day, declared.reason, declared.offices) == (
        first, first + timedelta(days=2), "آلودگی هوا", ("markazi-arak",))
    system = user("system")
    signer = unlock_signer(db.session, system, app.config["SYSTEM_SIGNING_PIN"])
    [moved] = timers.move_deadlines(db.session, declared, now=now, system=system, signer=signer)
    db.session.commit()
    task = db.session.scalars(select(CaseTask).where(CaseTask.case_id == case.id)).one()
    arak = db.session.get(Office, case.county_office_id)
    office = working_time.calendar_for(db.session, arak)
    assert task.due_at == office.add_working_days(now, 5)
    closed_working_days = sum(1 for n in range(3) if calendar(ARAK).is_working(first + timedelta(days=n)))
    assert calendar(ARAK).working_days_between(due, task.due_at) == closed_working_days
    details = json.loads(moved.canonical)["details"]
    assert moved.action == "deadline_moved" and details["closure"] == declared.seq
    assert details["moved"]["county_overdue"]["to"].startswith(task.due_at.strftime("%Y-%m-%dT%H:%M"))
    assert working_time.closures(db.session)[-1] == declared
    # the same closure again moves nothing more
    assert timers.move_deadlines(db.session, declared, now=now, system=system, signer=signer) == []


def test_who_may_declare_a_closure_and_what_a_bad_one_is_told(app):
    now = datetime.now(timezone.utc)
    valid = {"first_day": "1405/10/01", "last_day": "1405/10/02", "reason": "برف"}
    with pytest.raises(InvalidInput) as refused:
        working_time.declare_closure(db.session, user("markazi_head"), data={**valid, "offices": ["tehran"]},
                                     pin=PIN, now=now)
    assert list(refused.value.errors) == ["offices"]
    with pytest.raises(InvalidInput) as nationwide:  # a province does not close the country
        working_time.declare_closure(db.session, user("markazi_head"), data=valid, pin=PIN, now=now)
    assert list(nationwide.value.errors) == ["offices"]
    with pytest.raises(Forbidden):
        working_time.declare_closure(db.session, user(ACTORS["county"]), data={**valid, "offices": ["markazi-arak"]},
                                     pin=PIN, now=now)
    with pytest.raises(InvalidInput) as bad:
        working_time.declare_closure(db.session, user("admin"), data={
            "first_day": "1405/13/01", "last_day": "", "reason": " ", "offices": ["nowhere"]}, pin=PIN, now=now)
    assert set(bad.value.errors) == {"first_day", "reason"}
    with pytest.raises(InvalidInput) as backwards:
        working_time.declare_closure(db.session, user("admin"), data={**valid, "last_day": "1405/09/01"},
                                     pin=PIN, now=now)
    assert list(backwards.value.errors) == ["last_day"]
    with pytest.raises(InvalidInput) as too_long:
        working_time.declare_closure(db.session, user("admin"), data={**valid, "last_day": "1405/11/15"},
                                     pin=PIN, now=now)
    assert list(too_long.value.errors) == ["last_day"]
    with pytest.raises(InvalidInput) as unknown:
        working_time.declare_closure(db.session, user("admin"), data={**valid, "offices": ["nowhere"]},
                                     pin=PIN, now=now)
    assert list(unknown.value.errors) == ["offices"]
    assert working_time.closures(db.session) == []  # nothing half-written
    declared = working_time.declare_closure(db.session, user("admin"), data={**valid, "first_day": "۱۴۰۵/۱۰/۰۱"},
                                            pin=PIN, now=now)
    assert declared.offices == () and declared.first_day == date(2026, 12, 22)
    assert verify_admin_log(db.session).ok


def test_the_holders_are_reminded_once_a_working_day_before_the_deadline(app):
    now = datetime.now(timezone.utc)
    case = _county_review_case(app, now)
    task = db.session.scalars(select(CaseTask).where(CaseTask.case_id == case.id)).one()
    assert TABLES["working_time"]["reminder_working_days"] == [1]
    assert timers.remind(db.session, now) == []  # five working days away
    morning = task.due_at.astimezone(TEHRAN).replace(hour=9, minute=0)  # the last day, the office open
    tick(app, morning)  # the tick reminds
    reminded = db.session.scalars(select(Notification).where(Notification.case_id == case.id,
                                                             Notification.kind == "due_soon")).all()
    people = {person.id for person in access.office_people(db.session, case.county_office_id, "county")}
    assert {n.user_id for n in reminded} == people and people
    text = notifications.render(reminded[0])
    assert "«بررسی اداره شهرستان»" in text and "(۱ روز کاری مانده)" in text
    assert timers.remind(db.session, morning + timedelta(hours=1)) == []  # once per deadline and threshold


def test_monitoring_reports_step_times_in_working_days_beside_calendar_time(app):
    submitted = datetime.now(timezone.utc)
    case = submitted_founding(app)
    answered = submitted + timedelta(days=9)
    answer_all(case, "clear", answered)
    office = working_time.calendar_for(db.session, case.county_office)
    timings = db.session.scalars(select(RecordTiming).where(RecordTiming.case_id == case.id)
                                 .order_by(RecordTiming.record_id)).all()
    first_answer = next(t for t in timings if t.action == "inquiry_answer")
    assert first_answer.working_days == office.working_days_between(timings[0].created_at, answered)
    assert 5 <= first_answer.working_days <= 8  # nine days hold one or two Fridays, maybe a holiday
    [row] = [r for r in monitoring.step_times(db.session, monitoring.MonitorFilters())
             if (r["process_key"], r["step"]) == ("center_founding", "schedule_visit")]
    assert row["working_p50"] == 0 and row["p50"] == 0  # the visit was scheduled the moment it arrived


def test_a_calendar_without_working_days_refuses_a_deadline_instead_of_counting_forever():
    closed = json.loads(json.dumps(TABLES))
    closed["working_time"]["days_off"] = list(working_time.WEEKDAYS)
    assert working_time.check_tables(closed)  # deploy refuses such a week
    with pytest.raises(ValueError, match="5 working days do not fit"):
        Calendar(ARAK, closed, ()).add_working_days(jalali("1405/09/15"), 5)


def test_every_notification_kind_fits_its_column():
    """PostgreSQL refuses a kind longer than the column (SQLite would keep it)."""
    assert all(len(kind) <= Notification.__table__.c.kind.type.length for kind in notifications.KINDS)
