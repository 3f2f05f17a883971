"""Monitoring and evaluation: figures checked against values computed by hand from cases with known times.

Five foundings (times in hours after T):

    case  county   submit  answers  county decision     province decision   manager age
    C1    Arak     +1      +3       approve +27 (24h)   approve +51 (24h)   25
    C2    Arak     +2      +4       approve +52 (48h)   approve +124 (72h)  35
    C3    Arak     +3      +5       return +17 (12h); resubmit +23 (6h); answers +24; reject +120 (96h)
    C4    Saveh    +4      +6       approve +12 (6h)    reject +22 (10h)
    C5    Kashan   +5      +7       approve +107 (100h) approve +108 (1h)   21

and C6, waiting in Arak's county review. Every case was created at T.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from forms import jalali_iso, to_persian_digits
from office_support import answer, base_time, decide, founding, national_id
from support import assert_nothing_inline, csv_rows, login, user
from web.extensions import db
from workflows import monitoring
from workflows.cases import case_records, complete_task
from workflows.models import Case, Office, tehran_today, utcnow

H = 3600.0


def _birth(years: int, days: int, on) -> str:
    return jalali_iso(on - timedelta(days=365 * years + days))


@pytest.fixture
def fleet(app):
    t = base_time()
    on = tehran_today(t)

    def at(hours: float):
        return t + timedelta(hours=hours)

    def found(key, applicant, county, submit, *, birth=None, education=None, seed):
        return founding(app, applicant, county=county, mosque=f"مسجد سنجش {key}", manager_id=national_id(500 + seed),
                        now=at(submit), created=t, birth_date=birth, education=education, seed=seed)

    c1 = found("1", "applicant1", "markazi-arak", 1, birth=_birth(25, 40, on), education="bachelor", seed=1)
    c2 = found("2", "applicant1", "markazi-arak", 2, birth=_birth(35, 60, on), education="master", seed=2)
    c3 = found("3", "applicant2", "markazi-arak", 3, seed=3)
    c4 = found("4", "applicant2", "markazi-saveh", 4, seed=4)
    c5 = found("5", "applicant2", "isfahan-kashan", 5, birth=_birth(21, 30, on), education="seminary_2", seed=5)
    for case, hours in ((c1, 3), (c2, 4), (c3, 5), (c4, 6), (c5, 7)):
        answer(case, at(hours))
    decide(c1, "arak_officer", "approve", at(27))
    decide(c1, "markazi_officer", "approve", at(51))
    decide(c2, "arak_head", "approve", at(52))
    decide(c2, "markazi_head", "approve", at(124))
    decide(c3, "arak_officer", "return", at(17), reason="مدارک ناقص است.")
    data = json.loads(case_records(db.session, c3)[0].form_data)
    db.session.refresh(c3)
    complete_task(db.session, case=c3, task_id=c3.tasks[0].task_id, actor=user("applicant2"), data=data, pin="1405",
                  now=at(23))
    db.session.commit()
    answer(c3, at(24))
    decide(c3, "arak_officer", "reject", at(120), reason="فضای آموزشی کافی نیست.")
    decide(c4, "saveh_officer", "approve", at(12))
    decide(c4, "markazi_officer", "reject", at(22), reason="مدیر پیشنهادی مناسب نیست.")
    decide(c5, "kashan_officer", "approve", at(107))
    decide(c5, "isfahan_officer", "approve", at(108))
    c6 = found("6", "applicant1", "markazi-arak", 2, seed=6)
    answer(c6, at(3))
    assert [c.status for c in (c1, c2, c3, c4, c5, c6)] == [
        "licensed", "licensed", "rejected", "rejected", "licensed", "county_review"]
    return {"t": t, "cases": (c1, c2, c3, c4, c5, c6)}


def _counties(*codes: str) -> tuple[int, ...]:
    return tuple(db.session.scalars(select(Office.id).where(Office.code.in_(codes))))


def _by(rows, **match):
    return next(row for row in rows if all(row[k] == v for k, v in match.items()))


def test_step_and_end_to_end_times_match_hand_computed_values(fleet):
    everywhere = monitoring.MonitorFilters()
    steps = monitoring.step_times(db.session, everywhere)
    county = _by(steps, process_key="center_founding", step="county_review")
    # 6, 12, 24, 48, 96, 100 hours: median between 24 and 48, p90 at 4.5 → between 96 and 100
    assert county["n"] == 6 and county["p50"] == pytest.approx(36 * H) and county["p90"] == pytest.approx(98 * H)
    submit = _by(steps, step="submit_application")
    # 1, 2, 3, 4, 5 hours (C6 too: 2) → 1, 2, 2, 3, 4, 5: median 2.5, p90 at 4.5 → 4.5
    assert submit["n"] == 6 and submit["p50"] == pytest.approx(2.5 * H) and submit["p90"] == pytest.approx(4.5 * H)
    province = _by(steps, step="province_review")
    # 1, 10, 24, 72: median 17, p90 at 2.7 → 24 + 0.7 × 48
    assert province["n"] == 4 and province["p50"] == pytest.approx(17 * H)
    assert province["p90"] == pytest.approx((24 + 0.7 * 48) * H)
    assert _by(steps, step="correct_application")["p50"] == pytest.approx(6 * H)

    ends = monitoring.end_to_end_times(db.session, everywhere)
    # first to last signed record of the finished cases: 18, 50, 103, 117, 122 hours
    founding_row = _by(ends, process_key="center_founding")
    assert founding_row["n"] == 5 and founding_row["p50"] == pytest.approx(103 * H)
    assert founding_row["p90"] == pytest.approx(120 * H)

    markazi = monitoring.MonitorFilters(county_ids=_counties("markazi-arak", "markazi-saveh"))
    county = _by(monitoring.step_times(db.session, markazi), step="county_review")
    # without Kashan: 6, 12, 24, 48, 96 → median 24, p90 at 3.6 → 48 + 0.6 × 48
    assert county["n"] == 5 and county["p50"] == pytest.approx(24 * H)
    assert county["p90"] == pytest.approx((48 + 0.6 * 48) * H)


def test_counts_backlog_rates_and_youth_profile(fleet):
    c1, c2, c3, c4, c5, c6 = fleet["cases"]
    everywhere = monitoring.MonitorFilters()
    by_province = {(r["province"], r["status"]): r["cases"]
                   for r in monitoring.cases_by_status(db.session, everywhere, by_county=False)}
    assert by_province == {("markazi", "licensed"): 2, ("markazi", "rejected"): 2,
                           ("markazi", "county_review"): 1, ("isfahan", "licensed"): 1}
    by_county = {(r["county"], r["status"]): r["cases"] for r in monitoring.cases_by_status(
        db.session, monitoring.MonitorFilters(county_ids=_counties("markazi-arak", "markazi-saveh")), by_county=True)}
    assert by_county == {("markazi-arak", "licensed"): 2, ("markazi-arak", "rejected"): 1,
                         ("markazi-arak", "county_review"): 1, ("markazi-saveh", "rejected"): 1}

    task = db.session.get(Case, c6.id).tasks[0]
    backlog = monitoring.backlog(db.session, everywhere, utcnow())
    assert [(r["office"], r["open"], r["overdue"]) for r in backlog] == [("markazi-arak", 1, 0)]
    task.due_at = utcnow() - timedelta(minutes=5)  # its deadline passed and no tick has run yet
    db.session.commit()
    assert [(r["office"], r["open"], r["overdue"]) for r in monitoring.backlog(db.session, everywhere, utcnow())] == [
        ("markazi-arak", 1, 1)]

    rates = monitoring.decision_rates(db.session, everywhere)
    county = _by(rates, step="county_review")
    assert (county["approve"], county["return"], county["reject"], county["decisions"]) == (4, 1, 1, 6)
    assert county["approve_rate"] == pytest.approx(4 / 6) and county["return_rate"] == pytest.approx(1 / 6)
    province = _by(rates, step="province_review")
    assert (province["approve"], province["reject"], province["decisions"]) == (3, 1, 4)
    total = _by(rates, step=None)
    assert total["decisions"] == 10 and total["reject_rate"] == pytest.approx(0.2)

    youth = monitoring.youth_profile(db.session, everywhere)
    assert {b["band"]: b["n"] for b in youth["bands"]} == {
        "-25": 2, "26-30": 0, "31-35": 1, "36-41": 0, "42-": 0, "unknown": 0}
    assert {e["education"]: e["n"] for e in youth["education"]} == {"bachelor": 1, "master": 1, "seminary_2": 1}
    assert youth["total"] == 3 and youth["median_age"] == pytest.approx(25)
    assert youth["p90_age"] == pytest.approx(25 + 0.8 * 10)  # ages 21, 25, 35


def test_dashboard_pages_filters_scope_and_csv(fleet, client):
    t = fleet["t"]
    login(client, "hq_auditor")
    page = client.get("/monitoring")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'dir="rtl"' in html
    # cases, steps, backlog, decisions, ages; the centers' activity, reach, report compliance and young managers
    # (no evaluation confirmed and nobody enrolled in training here: those two draw none)
    assert html.count('<svg class="chart"') == 9
    assert_nothing_inline(html, "/monitoring")  # the charts are drawn on the server, nothing inline
    assert "۱ روز و ۱۲ ساعت" in html  # the county review's median, 36 hours
    rows = csv_rows(client.get("/monitoring/steps.csv"))
    county = next(r for r in rows if r["کد فرایند"] == "center_founding" and r["کد مرحله"] == "county_review")
    assert (county["فرایند"], county["مرحله"]) == ("تأسیس کانون", "بررسی اداره شهرستان")
    assert (county["تعداد"], county["میانه (ساعت)"], county["صدک ۹۰ (ساعت)"]) == ("6", "36.0", "98.0")
    isfahan = csv_rows(client.get("/monitoring/cases.csv?province=isfahan"))
    assert [(r["کد شهرستان"], r["شهرستان"], r["کد وضعیت"], r["تعداد"]) for r in isfahan] == [
        ("isfahan-kashan", "کاشان", "licensed", "1")]
    saveh = csv_rows(client.get("/monitoring/decisions.csv?county=markazi-saveh"))
    assert [(r["کد مرحله"], r["تأیید"], r["رد"]) for r in saveh if r["کد مرحله"]] == [
        ("county_review", "1", "0"), ("province_review", "0", "1")]
    for table in ("cases", "steps", "end_to_end", "backlog", "decisions", "ages", "education", "activity", "reach",
                  "compliance", "youth_trend", "evaluations", "training"):
        response = client.get(f"/monitoring/{table}.csv")
        assert response.status_code == 200 and response.mimetype == "text/csv", table
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8", table
        header = response.get_data(as_text=True).lstrip("\ufeff").splitlines()[0]
        assert not re.search("[A-Za-z]", header), (table, header)  # Persian headers only
    backlog = csv_rows(client.get("/monitoring/backlog.csv"))
    assert backlog and all(re.fullmatch("[۰-۹]{4}/[۰-۹]{2}/[۰-۹]{2} [۰-۹]{2}:[۰-۹]{2}", r["قدیمی‌ترین کار از"])
                           for r in backlog if r["کارهای باز"] != "0"), backlog
    assert {r["نوع"] for r in backlog} <= {"اداره شهرستان", "ستاد استان"}
    assert client.get("/monitoring/nothing.csv").status_code == 404

    # Jalali date ranges, in Persian digits; a range before the cases shows nothing
    day = to_persian_digits(jalali_iso(tehran_today(t)))
    before = to_persian_digits(jalali_iso(tehran_today(t) - timedelta(days=1)))
    assert client.get(f"/monitoring?from={day}").status_code == 200
    rows = csv_rows(client.get(f"/monitoring/steps.csv?from={day}"))
    assert any(r["کد مرحله"] == "county_review" and r["تعداد"] == "6" for r in rows)
    empty = csv_rows(client.get(f"/monitoring/steps.csv?to={before}"))
    assert empty == []
    for query in ("from=1405/13/01", "to=abc", f"from={day}&to={before}", "province=nowhere", "process_key=x"):
        response = client.get(f"/monitoring?{query}")
        text = response.get_data(as_text=True)
        assert response.status_code == 422 and 'id="filter-errors"' in text, query
        assert re.search("تاریخ|گزینه", text), query
        assert client.get(f"/monitoring/steps.csv?{query}").status_code == 422


def test_province_sees_its_province_and_counties_see_no_dashboard(fleet, client):
    login(client, "markazi_head")
    html = client.get("/monitoring").get_data(as_text=True)
    assert "استان مرکزی" in html and "کاشان" not in html
    rows = csv_rows(client.get("/monitoring/steps.csv"))
    county = next(r for r in rows if r["کد مرحله"] == "county_review")
    assert (county["تعداد"], county["میانه (ساعت)"]) == ("5", "24.0")
    assert client.get("/monitoring?province=isfahan").status_code == 422
    assert client.get("/monitoring?county=isfahan-kashan").status_code == 422
    client.post("/logout")
    login(client, "arak_officer")
    assert client.get("/monitoring").status_code == 403
    assert client.get("/monitoring/cases.csv").status_code == 403
    assert 'id="nav-monitoring"' not in client.get("/cases").get_data(as_text=True)


def test_percentiles_agree_with_percentile_cont(app):
    """The SQLite ordered-offset computation against Python's reference on awkward sizes."""
    import statistics
    from sqlalchemy import Float, literal, union_all

    for values in ([5.0], [1.0, 2.0], [3.0, 1.0, 2.0, 10.0], [float(v) for v in range(1, 12)],
                   [0.5, 7.25, 7.25, 100.0, 3.0, 42.0, 8.0]):
        rows = union_all(*[select(literal("g").label("g"), literal(v, Float).label("d")) for v in values]).subquery()
        result = monitoring.percentiles(db.session, rows, ["g"])[0]
        ordered = sorted(values)

        def cont(p):
            position = (len(ordered) - 1) * p
            low = int(position)
            high = min(low + 1, len(ordered) - 1)
            return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

        assert result["n"] == len(values)
        assert result["p50"] == pytest.approx(statistics.median(values))
        assert result["p90"] == pytest.approx(cont(0.9))


def _counters(session) -> tuple[dict, dict, dict]:
    """Every row of the counter tables and the record timings, as plain values (zero counts left out)."""
    from workflows.models import CaseCount, CaseDayCount, RecordTiming

    totals = {(r.county_office_id, r.process_key, r.status): r.cases
              for r in session.scalars(select(CaseCount)) if r.cases}
    days = {(r.created_on, r.county_office_id, r.process_key, r.status): r.cases
            for r in session.scalars(select(CaseDayCount)) if r.cases}
    timings = {r.record_id: (r.case_id, r.process_key, r.county_office_id, r.task_name, r.action,
                             r.created_at.replace(tzinfo=None), round(r.seconds, 6))
               for r in session.scalars(select(RecordTiming))}
    return totals, days, timings


def test_counters_and_timings_follow_the_cases_and_records(fleet):
    """What transitions keep equals what the cases and records say, counted again from scratch."""
    from collections import Counter

    from workflows.models import Record, as_utc

    totals, days, timings = _counters(db.session)
    cases = [c for c in db.session.scalars(select(Case)) if c.county_office_id is not None]
    assert totals == Counter((c.county_office_id, c.process_key, c.status) for c in cases)
    assert days == Counter((tehran_today(as_utc(c.created_at)), c.county_office_id, c.process_key, c.status)
                           for c in cases)
    records = list(db.session.scalars(select(Record).order_by(Record.case_id, Record.seq)))
    assert set(timings) == {r.id for r in records} and len(records) > 40
    for record in records:
        case = db.session.get(Case, record.case_id)
        before = next((r for r in records if r.case_id == record.case_id and r.seq == record.seq - 1), None)
        since = as_utc(before.created_at if before else case.created_at)
        assert timings[record.id][-1] == pytest.approx((as_utc(record.created_at) - since).total_seconds())
        assert timings[record.id][:5] == (case.id, case.process_key, case.county_office_id, record.task_name,
                                          record.action)

    # a transition moves the case from one count to the other, in its own transaction
    c6 = fleet["cases"][5]
    arak = _counties("markazi-arak")[0]
    decide(c6, "arak_officer", "approve", fleet["t"] + timedelta(hours=30))
    moved, _, _ = _counters(db.session)
    waiting = (arak, "center_founding", "county_review")
    assert totals[waiting] == 1 and waiting not in moved  # its count went to zero
    assert moved[(arak, "center_founding", "province_review")] == 1
    assert sum(moved.values()) == sum(totals.values())


def test_case_counts_for_a_date_range_read_the_day_counters(fleet):
    t = fleet["t"]
    day = tehran_today(t)
    every = {(r["province"], r["status"]): r["cases"]
             for r in monitoring.cases_by_status(db.session, monitoring.MonitorFilters(), by_county=False)}
    that_day = {(r["province"], r["status"]): r["cases"] for r in monitoring.cases_by_status(
        db.session, monitoring.MonitorFilters(date_from=day, date_to=day), by_county=False)}
    assert that_day == every == {("markazi", "licensed"): 2, ("markazi", "rejected"): 2,
                                 ("markazi", "county_review"): 1, ("isfahan", "licensed"): 1}
    assert monitoring.cases_by_status(db.session, monitoring.MonitorFilters(date_to=day - timedelta(days=1)),
                                      by_county=True) == []
    assert monitoring.cases_by_status(db.session, monitoring.MonitorFilters(date_from=day + timedelta(days=1)),
                                      by_county=False) == []
    saveh = monitoring.cases_by_status(db.session, monitoring.MonitorFilters(
        date_from=day, county_ids=_counties("markazi-saveh"), process_key="center_founding"), by_county=True)
    assert [(r["county"], r["status"], r["cases"]) for r in saveh] == [("markazi-saveh", "rejected", 1)]


def test_the_migration_backfills_counters_and_timings_from_existing_rows(fleet):
    """Existing databases get the same counters and timings from the migration as transitions keep."""
    import importlib.util
    from pathlib import Path

    from sqlalchemy import delete

    from workflows.models import CaseCount, CaseDayCount, RecordTiming

    kept = _counters(db.session)
    for table in (CaseCount, CaseDayCount, RecordTiming):
        db.session.execute(delete(table))
    db.session.commit()
    assert _counters(db.session) == ({}, {}, {})
    path = next((Path(__file__).parents[2] / "migrations" / "versions").glob("*_d3db5834628c_*.py"))
    spec = importlib.util.spec_from_file_location("counters_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    migration.backfill(db.session.connection())
    db.session.commit()
    assert _counters(db.session) == kept
    test_step_and_end_to_end_times_match_hand_computed_values(fleet)


def test_the_dashboard_defaults_to_the_last_thirty_days(fleet, client):
    from urllib.parse import parse_qs, urlsplit

    from web.dashboard import DEFAULT_DAYS

    def csv_query(html: str) -> dict:
        href = re.search(r'id="csv-steps" href="([^"]+)"', html).group(1).replace("&amp;", "&")
        return parse_qs(urlsplit(href).query, keep_blank_values=True)

    login(client, "hq_auditor")
    since = to_persian_digits(jalali_iso(tehran_today(utcnow()) - timedelta(days=DEFAULT_DAYS - 1)))
    html = client.get("/monitoring").get_data(as_text=True)
    assert f'name="from" value="{since}"' in html and csv_query(html) == {"from": [since]}
    every = client.get("/monitoring?from=&to=").get_data(as_text=True)
    assert 'name="from" value=""' in every and csv_query(every) == {"from": [""]}
    assert "۱ روز و ۱۲ ساعت" in every
    for query in ("", "?from="):
        rows = csv_rows(client.get(f"/monitoring/steps.csv{query}"))
        assert any(r["کد مرحله"] == "county_review" and r["تعداد"] == "6" for r in rows), query
    # the default range starts thirty days ago: a day before it is outside
    outside = to_persian_digits(jalali_iso(tehran_today(utcnow()) - timedelta(days=DEFAULT_DAYS)))
    rows = csv_rows(client.get(f"/monitoring/cases.csv?to={outside}"))
    assert rows == []
