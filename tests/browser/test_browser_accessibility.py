"""Accessibility of the main pages, checked by axe-core (WCAG 2 A and AA: labels, contrast, names, landmarks)
at phone and desktop width, and the keyboard path through the sign-in page."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from browser_support import DESKTOP, PHONE, diagram_markers, follow, no_problems, sign_in
from office_support import answer, base_time, founding, national_id
from web.extensions import db

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
#: drawn by bpmn-js inside the diagram's frame (its own SVG markup; the page's text tells the same)
EXCLUDE = ["#diagram"]


def axe_violations(page) -> list[str]:
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text("utf-8"))  # evaluated by the test driver, not by the page (no CSP relaxation)
    result = page.evaluate("""exclude => axe.run({exclude: exclude.map(s => [s])},
        {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}, resultTypes: ["violations"]})""",
                           EXCLUDE)
    return [f"{v['id']}: {v['help']} — " + json.dumps([n["target"] for n in v["nodes"]][:5], ensure_ascii=False)
            for v in result["violations"]]


def check(page, url: str) -> list[str]:
    found = []
    page.goto(url)
    page.wait_for_load_state("networkidle")
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        found += [f"{url} at {size['width']}px: {v}" for v in axe_violations(page)]
    page.set_viewport_size(PHONE)
    return found


@pytest.fixture
def waiting_case(app):
    t = base_time()
    case = founding(app, "applicant1", county="markazi-arak", mosque="مسجد امام رضا (ع)",
                    manager_id=national_id(611), now=t, seed=61)
    answer(case, t + timedelta(hours=1))
    db.session.commit()
    return case.id


def test_main_pages_pass_axe(browser_page, live_server, waiting_case):
    if not AXE.exists():
        pytest.fail("axe-core is needed (npm ci installs it from package.json)")
    page, problems = browser_page
    base = live_server
    violations = []
    violations += check(page, f"{base}/login")
    violations += check(page, f"{base}/verify")
    violations += check(page, f"{base}/track")
    sign_in(page, base, "applicant1")
    violations += check(page, f"{base}/cases/{waiting_case}")
    violations += check(page, f"{base}/cases")
    follow(page, "#new-center_founding")
    violations += check(page, page.url)
    sign_in(page, base, "arak_officer")
    violations += check(page, f"{base}/inbox")
    follow(page, "#inbox a.button")
    violations += check(page, page.url)
    sign_in(page, base, "markazi_head")
    violations += check(page, f"{base}/monitoring")
    violations += check(page, f"{base}/evaluations")
    sign_in(page, base, "hq_auditor")  # headquarters' read-only case view draws the diagram too
    violations += check(page, f"{base}/audit/cases/{waiting_case}")
    assert diagram_markers(page)["current"], "the audit view's diagram marks no current step"
    assert violations == [], "\n".join(violations)
    no_problems(problems)


def test_signing_in_with_the_keyboard_alone(browser_page, live_server, screens):
    page, problems = browser_page
    page.goto(live_server)
    screens(page, "home")
    page.goto(f"{live_server}/login")
    screens(page, "sign-in")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    focused = []
    for _ in range(6):
        focused.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
        if focused[-1] == "username":
            break
        page.keyboard.press("Tab")
    assert focused[-1] == "username", focused
    page.keyboard.type("applicant1")
    page.keyboard.press("Tab")
    page.keyboard.type("demo1234")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/cases*")  # "#main" stays on the URL from the skip link
    assert page.is_visible("#new-center_founding")
    no_problems(problems)
