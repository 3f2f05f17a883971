"""A new manager's training on a 360 px phone: the center's holder starts it from the center's page, reads a
module with its picture, answers its quiz wrongly and then rightly, passes the other modules, signs the
completion with the PIN and gets the completion certificate."""
from __future__ import annotations

from browser_support import PIN, follow, no_problems, sign_in
from support import ACTORS, found_center
from web.extensions import db
from workflows import procedures, training
from workflows.models import Case


def test_a_manager_takes_a_modules_quiz_on_a_phone(app, browser_page, live_server, screens):
    page, problems = browser_page
    base = live_server
    center = found_center(app, ACTORS["applicant"])
    package = training.package_for(procedures.newest_tables(db.session), "manager_training")

    sign_in(page, base, ACTORS["applicant"])
    page.goto(f"{base}/centers/{center.id}")
    assert "آغاز نشده" in page.inner_text("#manager-training")
    follow(page, "#start-manager_training")
    case_id = int(page.url.split("/cases/")[1].split("/")[0])
    assert page.locator("#training-modules li").count() == len(package.modules)

    first = package.modules[0]
    follow(page, f"#module-{first.key} a")
    page.wait_for_function("document.querySelector('#media-1 img').complete "
                           "&& document.querySelector('#media-1 img').naturalWidth > 0")
    screens(page, "training-module")
    for q in first.questions:  # every answer wrong
        page.check(f"#q-{q.key}-{next(code for code, _ in q.choices if code != q.answer)}")
    follow(page, "#submit-quiz")
    assert "۰ پاسخ از ۳ درست بود" in page.inner_text("#attempt-result")
    assert page.locator("fieldset.question.wrong").count() == len(first.questions)
    for q in first.questions:
        page.check(f"#q-{q.key}-{q.answer}")
    follow(page, "#submit-quiz")
    assert "این پودمان گذرانده شد" in page.inner_text("#attempt-result")

    for module in package.modules[1:]:
        follow(page, "#next-module")
        for q in module.questions:
            page.check(f"#q-{q.key}-{q.answer}")
        follow(page, "#submit-quiz")
        assert "گذرانده شد" in page.inner_text("#attempt-result")
    follow(page, "#to-completion")
    assert page.is_visible("#training-ready")
    page.select_option("#f-declaration", "taken_by_manager")
    page.fill("#pin", PIN)
    follow(page, "#submit")
    page.wait_for_selector("#training-passed")
    db.session.expire_all()
    assert db.session.get(Case, case_id).outcome == "training_passed"
    with page.expect_download() as download:
        page.click("#certificate")
    assert download.value.suggested_filename.endswith(".pdf")
    screens(page, "training-passed")
    no_problems(problems)
