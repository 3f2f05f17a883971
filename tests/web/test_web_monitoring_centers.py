"""The monitoring page's figures about the centers themselves: activity levels, reach per 1,000 inhabitants,
report compliance, the share of young managers over the years and the evaluation scores — each with its
chart and CSV, computed from the signed reports and scores of the centers in view."""
from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import timedelta

import jdatetime
import pytest
from sqlalchemy import select

import engine
from office_support import base_time, licensed, national_id
from support import PIN, login, user
import web.dashboard
from web.extensions import db
from workflows import procedures, reporting
from workflows.cases import complete_task, deploy, start_case
from workflows.models import Center, ManagerTerm, User, tehran_today


def _report(center: Center, year: int, season: int, programmes: int, members: list[str], now) -> None:
    holder = db.session.get(User, center.applicant_id)
    case = start_case(db.session, process_key="activity_report", starter=holder, center=center, now=now)
    bands = {f"{g}_{b}": 5 for g in ("male", "female") for b in ("under_12", "12_17", "18_35", "over_35")}
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=holder, pin=PIN, now=now, data={
        "year": year, "season": str(season), "participants": bands,
        "programmes": [{"title": f"برنامه شماره {i}", "kind": "class", "held_on": tehran_today(now).isoformat(),
                        "participants": 40} for i in range(programmes)],
        "members": [{"full_name": f"عضو {code}", "national_id": code, "gender": "male", "birth_year": 1390}
                    for code in members]})
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user("arak_officer"), pin=PIN,
                  now=now + timedelta(minutes=30), data={"decision": "approve"})
    db.session.commit()


def _csv(client, table: str, query: str = "") -> list[dict]:
    response = client.get(f"/monitoring/{table}.csv{query}")
    assert response.status_code == 200, table
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_the_centers_activity_reach_compliance_and_young_managers_on_the_monitoring_page(app, client, monkeypatch):
    now = base_time()
    arak = dict(county="markazi-arak", county_officer="arak_officer", province_officer="markazi_officer", now=now)
    busy = licensed(app, "applicant1", mosque="مسجد پایش یک", manager_id=national_id(901), **arak)
    licensed(app, "applicant2", mosque="مسجد پایش دو", manager_id=national_id(902), seed=2, **arak)
    rule = next(r for r in reporting.rules(procedures.newest_tables(db.session)))
    later = tehran_today(now) + timedelta(days=400)  # the page is read a year and more after the licenses
    monkeypatch.setattr(web.dashboard, "tehran_today", lambda _moment: later)
    due = [p for p in reporting.due_periods(rule, later) if p.first_day >= tehran_today(now)]
    assert len(due) >= 2
    shared = national_id(903)
    _report(busy, due[0].year, due[0].number, 5, [shared, national_id(904)], now + timedelta(hours=4))
    _report(busy, due[1].year, due[1].number, 4, [shared], now + timedelta(hours=5))  # 9 programmes: «فعال»; the other: none
    running = reporting.period_containing(rule, later)  # filed before it is due: activity, not compliance
    _report(busy, running.year, running.number, 1, [shared], now + timedelta(hours=6))

    login(client, "markazi_officer")
    page = client.get("/monitoring?county=markazi-arak").get_data(as_text=True)
    for section in ("activity", "reach", "compliance", "youth-trend", "evaluations"):
        assert f'id="section-{section}"' in page and "<svg" in page.split(f'id="section-{section}"')[1][:3000] \
            or section == "evaluations", section

    activity = {row["شهرستان"]: row for row in _csv(client, "activity")}
    arak_row = activity["اراک"]
    assert arak_row["کانون‌ها"] == "2" and arak_row["فعال"] == "1" and arak_row["بی‌برنامه"] == "1"
    assert arak_row["پرکار"] == "0" and arak_row["برنامه‌ها"] == "10"
    reach = {row["شهرستان"]: row for row in _csv(client, "reach")}["اراک"]
    # the latest report's members (one ID), the three reports' participants (8 bands × 5 each)
    assert (reach["اعضا"], reach["شرکت‌کنندگان"], reach["جمعیت"]) == ("1", "120", "592000")
    assert reach["شرکت‌کنندگان در هر هزار نفر"] == str(round(120 * 1000 / 592000, 2))
    compliance = {row["شهرستان"]: row for row in _csv(client, "compliance")}["اراک"]
    assert (compliance["گزارش‌های موعدرسیده"], compliance["گزارش‌های امضاشده"]) == (str(2 * len(due)), "2")
    assert float(compliance["نسبت گزارش‌دهی"]) == round(2 / (2 * len(due)), 4)

    # the share of young managers in Arak: those in office at each year's end, by their age then
    terms = db.session.execute(select(ManagerTerm.start_date, ManagerTerm.end_date, ManagerTerm.age_at_start)
                               .join(Center, Center.id == ManagerTerm.center_id)
                               .where(Center.county_office_id == busy.county_office_id,
                                      ManagerTerm.interim.is_(False))).all()
    trend = {int(row["سال"]): row for row in _csv(client, "youth_trend", "?county=markazi-arak")}
    this_year = jdatetime.date.fromgregorian(date=later).year
    assert set(trend) == set(range(this_year - 4, this_year + 1))
    in_office = [age + (later - start).days * 4 // 1461 for start, end, age in terms if end is None or end > later]
    assert len(in_office) >= 2 and int(trend[this_year]["مدیران در کار"]) == len(in_office)
    young = sum(1 for age in in_office if age < 35)
    assert int(trend[this_year]["مدیران زیر ۳۵ سال"]) == young
    assert float(trend[this_year]["سهم مدیران زیر ۳۵ سال"]) == round(young / len(in_office), 4)
    start_year = jdatetime.date.fromgregorian(date=tehran_today(now)).year
    appointed = [age for start, _end, age in terms if jdatetime.date.fromgregorian(date=start).year == start_year]
    assert int(trend[start_year]["مدیران منصوب در سال"]) == len(appointed) >= 2

    # another province's people see none of it
    client.post("/logout")
    login(client, "isfahan_officer")
    assert "اراک" not in {row["شهرستان"] for row in _csv(client, "activity")}


def test_a_malformed_population_table_is_refused_at_deploy(app, tmp_path):
    folder = tmp_path / "bpmn"
    shutil.copytree(app.config["BPMN_DIR"], folder, ignore=shutil.ignore_patterns("scenarios"))
    (folder / "population.json").write_text(json.dumps({"counties": {"markazi-arak": "many"}}), "utf-8")
    with pytest.raises(engine.SpecError) as refused:
        deploy(db.session, folder, "activity_report")
    assert "population.json: counties.markazi-arak: a whole number of inhabitants above 0" in str(refused.value)
