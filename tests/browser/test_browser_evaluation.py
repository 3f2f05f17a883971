"""A county expert scores a center on a 360 px phone: starts its yearly evaluation from the center's page,
reads the rubric and the center's reports on the desk, is refused a score the reports do not allow, signs
a score with a photo from the phone's camera; the province confirms it and the ranks show on
/evaluations and on the center's page."""
from __future__ import annotations

from browser_support import PIN, fa, follow, no_problems, rejected_once, sign_in
from support import ACTORS, found_center, png_bytes
from web.extensions import db
from forms import jalali_iso
from workflows import evaluation
from workflows.models import Case, Record, tehran_today, utcnow


def test_a_county_expert_scores_a_center_on_a_phone(app, browser_page, live_server, screens, tmp_path):
    page, problems = browser_page
    base = live_server
    center = found_center(app, ACTORS["applicant"])
    year = evaluation.year_of(tehran_today(utcnow()))

    sign_in(page, base, "arak_officer")
    page.goto(f"{base}/centers/{center.id}")
    follow(page, "#start-center_evaluation")
    page.wait_for_selector("#desk-evaluation")
    weights = page.eval_on_selector_all("#evaluation-criteria tbody tr", "rows => rows.map(r => r.cells[1].innerText)")
    assert weights == [fa(w) for w in (25, 20, 15, 10, 15, 15)]
    assert page.is_visible("#evaluation-no-reports")  # no report this year: the reports' criteria stay 0
    assert page.get_attribute("#f-documents-visit_photo", "capture") == "environment"
    screens(page, "evaluation-scorecard")

    photo = tmp_path / "visit.png"
    photo.write_bytes(png_bytes("green"))

    def fill(scores: dict) -> None:
        page.fill("#f-year", fa(year))
        page.fill("#f-visited_on", fa(jalali_iso(tehran_today(utcnow()))))
        for key, value in scores.items():
            page.fill(f"#f-scores-{key}", fa(value))
        page.fill("#f-findings", "فضا پاکیزه است و امام جماعت در بازدید همراه بود؛ کپسول آتش‌نشانی ندارد.")
        page.set_input_files("#f-documents-visit_photo", str(photo))
        page.fill("#pin", PIN)

    case_id = int(page.url.split("/cases/")[1].split("/")[0])
    fill({"programmes": 4, "members": 0, "youth": 0, "reporting": 0, "space": 4, "mosque": 5})
    page.click("#submit")
    rejected_once(page, problems)
    assert "هیچ گزارش فعالیتی امضا نکرده است" in page.inner_text("#error-summary")
    assert db.session.query(Record).filter(Record.case_id == case_id).count() == 0

    fill({"programmes": 0, "members": 0, "youth": 0, "reporting": 0, "space": 4, "mosque": 5})
    follow(page, "#submit")
    page.wait_for_selector("#case-status")
    db.session.expire_all()
    assert db.session.get(Case, case_id).status == "province_confirm"

    sign_in(page, base, "markazi_officer")
    page.goto(f"{base}/inbox")
    follow(page, f"#inbox a.button[href*='/cases/{case_id}/']")
    assert page.inner_text("#evaluation-total").startswith("نمره کل: ۲۷ از ۱۰۰")
    page.check("input[name=decision][value=approve]")
    page.fill("#pin", PIN)
    follow(page, "#submit")
    page.wait_for_selector("#case-status")
    db.session.expire_all()
    assert db.session.get(Case, case_id).outcome == "evaluation_confirmed"

    follow(page, "#nav-evaluations")
    row = page.inner_text(f"#evaluation-{center.id}")
    assert "۲۷" in row and "نیازمند پشتیبانی" in row
    screens(page, "evaluations")
    page.goto(f"{base}/centers/{center.id}")
    assert "۲۷" in page.inner_text(f"#evaluation-{year}")
    no_problems(problems)
