"""The offices' pages on a 360-pixel-wide phone in Chromium: nothing wider than the screen, no script needed."""
from __future__ import annotations

from datetime import timedelta

from office_support import answer, base_time, decide, founding, licensed, national_id
from support import PASSWORD
from web.extensions import db

#: who opens which pages
PAGES = {
    "applicant1": ["/cases", "/inbox", "/notifications"],
    "arak_officer": ["/inbox", "/inbox?queue=office", "/notifications", "/cases"],
    "markazi_head": ["/monitoring", "/inbox"],
    "hq_auditor": ["/monitoring", "/audit", "/audit/log", "/audit/verify", "/audit/cases/{case}"],
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
