"""Seasonal reports due from licensed centers (``bpmn/reporting.json``): a center that signed no report
for a due season is listed for its county, and after two missed seasons flagged for its province."""
from __future__ import annotations

import json
import shutil
from datetime import timedelta

import jdatetime
import pytest

import engine
from office_support import base_time, licensed, national_id
from support import PIN, user
from web.extensions import db
from workflows import procedures, reporting
from workflows.cases import complete_task, deploy, start_case
from workflows.models import Office, User, tehran_today


def _day(jalali: str):
    year, month, day = map(int, jalali.split("/"))
    return jdatetime.date(year, month, day).togregorian()


def _file(center, year: int, season: int, now) -> None:
    holder = db.session.get(User, center.applicant_id)
    case = start_case(db.session, process_key="activity_report", starter=holder, center=center, now=now)
    bands = {f"{g}_{b}": 0 for g in ("male", "female") for b in ("under_12", "12_17", "18_35", "over_35")}
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=holder,
                  data={"year": year, "season": str(season), "participants": bands}, pin=PIN, now=now)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user("arak_officer"),
                  data={"decision": "approve"}, pin=PIN, now=now + timedelta(hours=1))  # one open at a time
    db.session.commit()


def _rule():
    return next(r for r in reporting.rules(procedures.newest_tables(db.session)) if r.process_key == "activity_report")


def test_a_season_is_due_fifteen_days_after_it_ends_and_the_lists_look_four_seasons_back(app):
    rule = _rule()
    assert (rule.period_months, rule.due_days, rule.look_back, rule.flag_after) == (3, 15, 4, 2)
    on_the_day = reporting.due_periods(rule, _day("1406/07/15"))
    assert [(p.year, p.number) for p in on_the_day] == [(1405, 2), (1405, 3), (1405, 4), (1406, 1)]  # not summer yet
    day_after = reporting.due_periods(rule, _day("1406/07/16"))
    assert [(p.year, p.number) for p in day_after] == [(1405, 3), (1405, 4), (1406, 1), (1406, 2)]
    winter = day_after[1]
    assert (winter.first_day, winter.last_day) == (_day("1405/10/01"), _day("1405/12/29"))
    assert day_after[-1].last_day == _day("1406/06/31")


def _next(rule, period):
    last = period.number * rule.period_months == 12
    return reporting.period_of(rule, period.year + 1 if last else period.year, 1 if last else period.number + 1)


def test_centers_that_miss_seasons_are_listed_for_the_county_and_flagged_for_the_province_after_two(app):
    rule, now = _rule(), base_time()
    arak = dict(county="markazi-arak", county_officer="arak_officer", province_officer="markazi_officer", now=now)
    one_filed = licensed(app, "applicant1", mosque="مسجد گزارش یک", manager_id=national_id(701), **arak)
    silent = licensed(app, "applicant2", mosque="مسجد گزارش دو", manager_id=national_id(702), seed=2, **arak)
    late_first = licensed(app, "applicant1", mosque="مسجد گزارش سه", manager_id=national_id(703), seed=3, **arak)
    licensed_on = tehran_today(now)
    p0 = reporting.period_containing(rule, licensed_on)  # the season of the licenses, whatever day the test runs on
    p1 = _next(rule, p0)
    p2 = _next(rule, p1)
    p3 = _next(rule, p2)
    _file(one_filed, p1.year, p1.number, now + timedelta(days=1))
    _file(late_first, p2.year, p2.number, now + timedelta(days=1))
    _file(late_first, p3.year, p3.number, now + timedelta(days=2))

    today = p3.last_day + timedelta(days=rule.due_days + 1)
    asked_p0 = [p0] if p0.first_day >= licensed_on else []  # a license from a period's first day covers it
    found = {m.center_id: m for m in reporting.missed_reports(db.session, None, today)}
    assert list(found[one_filed.id].missed) == [*asked_p0, p2, p3]
    assert list(found[silent.id].missed) == [*asked_p0, p1, p2, p3]
    assert list(found[late_first.id].missed) == [*asked_p0, p1]
    assert found[one_filed.id].flagged and found[silent.id].flagged
    assert found[late_first.id].flagged == bool(asked_p0)  # one missed season: its county's list only
    ordered = [m.center_id for m in reporting.missed_reports(db.session, None, today)
               if m.center_id in (one_filed.id, silent.id, late_first.id)]
    if not asked_p0:
        assert ordered[-1] == late_first.id  # the flagged first
    assert found[silent.id].county_name == "اراک" and found[silent.id].province_name == "استان مرکزی"

    other = db.session.query(Office).filter(Office.kind == "county", Office.code != "markazi-arak").first()
    assert all(m.center_id not in found for m in reporting.missed_reports(db.session, [other.id], today))
    # a season filed late still counts once signed
    _file(silent, p1.year, p1.number, now + timedelta(days=3))
    again = {m.center_id: m for m in reporting.missed_reports(db.session, None, today)}
    assert list(again[silent.id].missed) == [*asked_p0, p2, p3]


@pytest.mark.parametrize("entry, problem", [
    ({"period_months": 5, "year_field": "year", "period_field": "season", "due_days": 15, "look_back": 4,
      "flag_after": 2}, "reporting.activity_report.period_months: one of 1, 2, 3, 4, 6, 12"),
    ({"period_months": 3, "year_field": "", "period_field": "season", "due_days": 15, "look_back": 4,
      "flag_after": 2}, "reporting.activity_report.year_field: a form field's name"),
    ({"period_months": 3, "year_field": "year", "period_field": "season", "due_days": -1, "look_back": 4,
      "flag_after": "2"}, "reporting.activity_report.due_days: a whole number from 0 to 366"),
])
def test_a_malformed_reporting_table_is_refused_at_deploy_with_what_is_wrong(app, tmp_path, entry, problem):
    folder = tmp_path / "bpmn"
    shutil.copytree(app.config["BPMN_DIR"], folder, ignore=shutil.ignore_patterns("scenarios"))
    (folder / "reporting.json").write_text(json.dumps({"activity_report": entry}), "utf-8")
    with pytest.raises(engine.SpecError) as refused:
        deploy(db.session, folder, "activity_report")
    assert problem in str(refused.value)


def test_a_report_corrected_to_another_season_files_that_season_and_gives_the_first_back(app):
    rule, now = _rule(), base_time()
    center = licensed(app, "applicant1", county="markazi-arak", mosque="مسجد گزارش چهار", manager_id=national_id(704),
                      now=now, county_officer="arak_officer", province_officer="markazi_officer")
    p1 = _next(rule, reporting.period_containing(rule, tehran_today(now)))
    p2 = _next(rule, p1)
    holder = db.session.get(User, center.applicant_id)
    bands = {f"{g}_{b}": 0 for g in ("male", "female") for b in ("under_12", "12_17", "18_35", "over_35")}
    case = start_case(db.session, process_key="activity_report", starter=holder, center=center, now=now)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=holder,
                  data={"year": p1.year, "season": str(p1.number), "participants": bands}, pin=PIN, now=now)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user("arak_officer"),
                  data={"decision": "return", "reason": "این گزارش فصل بعد است."}, pin=PIN, now=now)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=holder,
                  data={"year": p2.year, "season": str(p2.number), "participants": bands}, pin=PIN, now=now)
    db.session.commit()
    found = {m.center_id: m for m in reporting.missed_reports(db.session, None, p2.last_day + timedelta(days=30))}
    assert p1 in found[center.id].missed and p2 not in found[center.id].missed
