"""The administrator moves running cases to a newer procedure version in Chromium: from the admin page
to the procedures' versions, the dry run, and the move signed with the PIN."""
from __future__ import annotations

from browser_support import fa, follow, latin_digits, no_problems, sign_in
from support import ACTORS, PIN, deploy_changed_founding, in_county_review, user
from web.extensions import db
from workflows.cases import complete_task


def test_an_administrator_moves_running_cases_to_the_newest_version(app, browser_page, live_server, screens,
                                                                     tmp_path):
    movable = [in_county_review(app) for _ in range(2)]
    stuck = in_county_review(app)
    complete_task(db.session, case=stuck, task_id=stuck.tasks[0].task_id, actor=user(ACTORS["county"]),
                  data={"decision": "approve"}, pin=PIN)
    db.session.commit()
    new = deploy_changed_founding(app, tmp_path, rename_province_review=True)
    page, problems = browser_page
    base = live_server

    sign_in(page, base, "admin")
    page.goto(f"{base}/admin")
    follow(page, "#admin-procedures")
    assert page.inner_text("h1") == "فرایندها و نسخه‌ها"
    assert latin_digits(page) == []
    screens(page, "admin-procedures")
    follow(page, "#plan-center_founding")
    assert page.input_value("#to") == new
    assert page.locator("#moves input[name=case]").count() == 2
    assert "منتقل نمی‌شود" in page.inner_text(f"#move-{stuck.id}")
    assert latin_digits(page) == []
    screens(page, "admin-moves-plan")

    page.uncheck(f"#move-{movable[1].id} input[name=case]")
    page.fill("#pin", PIN)
    follow(page, "#move-submit")
    assert page.inner_text("#moves-done") == f"{fa(1)} پرونده منتقل شد"
    assert "✓" in page.inner_text(f"#move-{movable[0].id}")
    screens(page, "admin-moves-done")
    db.session.expire_all()
    assert [db.session.get(type(c), c.id).spec_version for c in (*movable, stuck)] == [
        new, movable[1].spec_version, stuck.spec_version]
    no_problems(problems)
