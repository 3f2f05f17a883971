"""The offices' pages in Chromium: nothing wider than a 360-pixel phone without script; an officer's inbox
filters and queues; the monitoring dashboard's charts."""
from __future__ import annotations

from datetime import timedelta

from browser_support import follow, no_problems, pick_date, sign_in
from office_support import answer, base_time, decide, founding, licensed, national_id
from support import PASSWORD
from web.extensions import db
from workflows.models import Case

#: who opens which pages
PAGES = {
    "applicant1": ["/cases", "/inbox", "/notifications"],
    "arak_officer": ["/inbox", "/inbox?queue=office", "/notifications", "/cases", "/evaluations"],
    "markazi_head": ["/monitoring", "/inbox", "/evaluations"],
    "hq_auditor": ["/monitoring", "/evaluations", "/audit", "/audit/log", "/audit/verify", "/audit/cases/{case}"],
    "admin": ["/admin", "/admin/log"],
}


def test_pages_fit_a_360_pixel_screen(app, live_server, browser, screenshot):
    t = base_time()
    licensed(app, "applicant1", county="markazi-arak", mosque="مسجد امام حسن مجتبی (ع) محله شهید بهشتی",
             manager_id=national_id(801), now=t, county_officer="arak_officer", province_officer="markazi_officer")
    case = founding(app, "applicant1", county="markazi-arak", mosque="مسجد جامع بزرگ شهرستان اراک و حومه",
                    manager_id=national_id(802), now=t, seed=5)
    answer(case, t + timedelta(hours=1))
    returned = founding(app, "applicant1", county="markazi-arak", mosque="مسجد بازگشتی", manager_id=national_id(803),
                        now=t, seed=9)
    answer(returned, t + timedelta(hours=1))
    decide(returned, "arak_officer", "return", t + timedelta(hours=2), reason="نشانی مسجد را کامل بنویسید.")
    db.session.commit()
    context = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)
    page = context.new_page()
    try:
        for username, paths in PAGES.items():
            context.clear_cookies()
            page.goto(f"{live_server}/login")
            page.fill("#username", username)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            for path in paths:
                url = live_server + path.format(case=case.id)
                response = page.goto(url)
                assert response.status == 200, (username, path)
                width = page.evaluate("document.documentElement.scrollWidth")
                name = f"360-{username}-{path.strip('/').replace('/', '-').replace('?', '-').replace('=', '-') or 'home'}"
                screenshot(page, name.format(case=case.id))
                assert width <= 360, f"{path} for {username} is {width}px wide at 360px"
    finally:
        context.close()


#: the mosques of the inbox fleet: two in Arak's county review, one each of Arak and Saveh at the province
MOSQUES = {"a": "مسجد النبی (ص)", "b": "مسجد الزهرا (س)", "c": "مسجد الغدیر", "d": "مسجد المهدی (عج)"}


def inbox_fleet(app) -> dict[str, int]:
    t = base_time()
    ids = {}
    for seed, (key, county) in enumerate((("a", "markazi-arak"), ("b", "markazi-arak"), ("c", "markazi-arak"),
                                          ("d", "markazi-saveh")), start=1):
        case = founding(app, "applicant1" if key != "d" else "applicant2", county=county, mosque=MOSQUES[key],
                        manager_id=national_id(900 + seed), now=t, seed=20 + seed)
        answer(case, t + timedelta(hours=1))
        ids[key] = case.id
    decide(db.session.get(Case, ids["c"]), "arak_officer", "approve", t + timedelta(hours=2))
    decide(db.session.get(Case, ids["d"]), "saveh_officer", "approve", t + timedelta(hours=2))
    licensed(app, "applicant2", county="markazi-arak", mosque="مسجد جامع اراک", manager_id=national_id(950), now=t,
             county_officer="arak_officer", province_officer="markazi_officer", seed=40)
    db.session.commit()
    return ids


def inbox_titles(page) -> list[str]:
    if page.locator("#inbox-empty").count():
        return []
    return sorted(page.locator("#inbox tbody tr td:first-child a").all_inner_texts())


def test_an_officers_inbox_filters(app, browser_page, live_server, screens):
    ids = inbox_fleet(app)
    page, problems = browser_page
    base = live_server

    sign_in(page, base, "arak_officer")
    page.goto(f"{base}/inbox")
    assert inbox_titles(page) == sorted([MOSQUES["a"], MOSQUES["b"]])
    assert page.inner_text("#queue-open .badge") == "۲"
    screens(page, "inbox-county-officer")

    page.fill("#q", "الزهرا")
    follow(page, "#inbox-filters button[type=submit]")
    assert inbox_titles(page) == [MOSQUES["b"]]
    assert page.input_value("#q") == "الزهرا"

    page.fill("#q", "")
    follow(page, "#inbox-filters button[type=submit]")
    follow(page, f"#inbox tr[data-case='{ids['a']}'] button.claim")
    assert "محمد حسینی" in page.inner_text(f"#inbox tr[data-case='{ids['a']}']")
    follow(page, "#queue-mine")
    assert inbox_titles(page) == [MOSQUES["a"]]
    assert page.inner_text("#queue-mine .badge") == "۱"
    follow(page, "#queue-unclaimed")
    assert inbox_titles(page) == [MOSQUES["b"]]

    follow(page, "#queue-open")
    page.check("input[name=overdue]")
    follow(page, "#inbox-filters button[type=submit]")
    assert inbox_titles(page) == [] and page.is_visible("#inbox-empty")

    sign_in(page, base, "markazi_officer")
    page.goto(f"{base}/inbox")
    assert inbox_titles(page) == sorted([MOSQUES["c"], MOSQUES["d"]])
    page.select_option("#county", "markazi-saveh")
    follow(page, "#inbox-filters button[type=submit]")
    assert inbox_titles(page) == [MOSQUES["d"]]
    assert "ساوه" in page.inner_text("#inbox tbody tr")
    page.select_option("#county", "")
    page.select_option("#step", "province_review")
    follow(page, "#inbox-filters button[type=submit]")
    assert inbox_titles(page) == sorted([MOSQUES["c"], MOSQUES["d"]])
    page.select_option("#process_key", "manager_change")
    follow(page, "#inbox-filters button[type=submit]")
    assert inbox_titles(page) == []
    screens(page, "inbox-province-filtered")
    no_problems(problems)


def test_the_dashboard_draws_its_charts(app, browser_page, live_server, screens):
    inbox_fleet(app)
    page, problems = browser_page
    base = live_server

    sign_in(page, base, "markazi_head")
    follow(page, "#nav-monitoring")
    assert page.inner_text("h1") == "نظارت و ارزیابی"
    assert "مرکزی" in page.inner_text("#scope")
    charts = page.locator("svg.chart")
    assert charts.count() >= 4
    for index in range(charts.count()):
        chart = charts.nth(index)
        assert chart.get_attribute("role") == "img" and chart.get_attribute("aria-label")
        box = chart.bounding_box()
        assert box["width"] > 200 and box["height"] > 20, box
    # the cases chart: a bar per area with its count written in Persian digits
    cases_chart = page.locator("#section-cases svg.chart")
    assert cases_chart.locator("rect").count() >= 1
    assert any(ch in cases_chart.text_content() for ch in "۱۲۳۴۵")
    assert "اراک" in page.inner_text("#table-cases")
    screens(page, "dashboard")

    # a Jalali date range chosen with the picker filters the figures
    pick_date(page, "from", 1300, 1, 1)
    assert page.input_value("#from") == "۱۳۰۰/۰۱/۰۱"
    follow(page, "#monitor-filters button[type=submit]")
    assert "from=" in page.url
    assert page.input_value("#from") == "۱۳۰۰/۰۱/۰۱"
    assert page.locator("svg.chart").count() >= 4
    page.select_option("#county", "markazi-saveh")
    follow(page, "#monitor-filters button[type=submit]")
    assert "ساوه" in page.inner_text("#scope")
    no_problems(problems)
