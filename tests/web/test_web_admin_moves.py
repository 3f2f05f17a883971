"""The administration page that moves running cases to a newer version of their procedure: the versions
with their running cases, the dry run case by case, the move signed with the administrator's PIN, and
what it refuses (a wrong PIN, an unknown version, a plan a case changed since) without writing anything."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from forms import to_persian_digits
from support import ACTORS, PIN, deploy_changed_founding, in_county_review, login, user
from web.extensions import db
from workflows.cases import complete_task
from workflows.models import Case, ProcessDefinition, Record

MOVES = "/admin/procedures/center_founding/moves"


def _at_province(app) -> Case:
    case = in_county_review(app)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(ACTORS["county"]),
                  data={"decision": "approve"}, pin=PIN)
    db.session.commit()
    assert case.status == "province_review"
    return case


def _fleet(app, tmp_path) -> tuple[list[Case], Case, str, str]:
    """Two cases in the county's review (they can move) and one at the province's (its task is renamed in
    the new version: it cannot), then the new version deployed."""
    county = [in_county_review(app) for _ in range(2)]
    province = _at_province(app)
    old = province.spec_version
    new = deploy_changed_founding(app, tmp_path, rename_province_review=True)
    return county, province, old, new


def _form(html: str) -> dict:
    """What the dry run's form posts as it stands: the target version, the ticked cases and the lock
    version each was judged at."""
    form = html[html.index('id="move-form"'):]
    data: dict = {"to": re.search(r'name="to" value="([0-9a-f]{64})"', form).group(1)}
    data["case"] = re.findall(r'name="case" value="(\d+)"[^>]*checked', form)
    data |= dict(re.findall(r'name="(seen-\d+)" value="(\d+)"', form))
    return data


def _versions() -> dict[int, str]:
    db.session.expire_all()
    return {c.id: c.spec_version for c in db.session.scalars(select(Case))}


def _migrations() -> int:
    return db.session.scalar(select(func.count()).select_from(Record).where(Record.action == "migrate_version"))


def test_the_page_lists_each_procedures_versions_with_their_running_cases(app, client, tmp_path):
    _, _, old, new = _fleet(app, tmp_path)
    login(client, "admin")
    assert 'id="admin-procedures"' in client.get("/admin").get_data(as_text=True)
    page = client.get("/admin/procedures").get_data(as_text=True)
    founding = page[page.index('id="procedure-center_founding"'):]
    founding = founding[:founding.index("</table>")]
    assert "تأسیس کانون" in page
    assert founding.index(new[:12]) < founding.index(old[:12])  # newest first
    rows = re.findall(r"<tr><td[^>]*><bdi[^>]*>([0-9a-f]{12})</bdi>.*?</td>\s*<td[^>]*>(.*?)</td>\s*"
                      r'<td[^>]*class="num">(.*?)</td>', founding, re.S)
    assert [(v, n) for v, _, n in rows] == [(new[:12], "۰"), (old[:12], "۳")]
    deployed_at = rows[0][1]
    assert re.search("[۰-۹]{4}/[۰-۹]{2}/[۰-۹]{2}", deployed_at) and not re.search("[0-9]", deployed_at)
    assert deployed_at.startswith("۱۴")  # a Jalali year
    assert f'href="/admin/procedures/center_founding/moves?to={new}"' in founding


def test_the_dry_run_shows_where_each_case_lands_or_why_it_cannot_move(app, client, tmp_path):
    county, province, old, new = _fleet(app, tmp_path)
    login(client, "admin")
    page = client.get(MOVES).get_data(as_text=True)  # the newest version by default
    assert f'<option value="{new}" selected>' in page
    for case in county:
        row = re.search(rf'<tr class="ok" id="move-{case.id}">.*?</tr>', page, re.S).group(0)
        assert 'name="case"' in row and "در بررسی اداره شهرستان" in row  # where it is now
        assert "نزد کارشناس شهرستان" in row  # the status the new version gives it
    stuck = re.search(rf'<tr class="bad" id="move-{province.id}">.*?</tr>', page, re.S).group(0)
    assert 'name="case"' not in stuck
    assert "منتقل نمی‌شود" in stuck
    assert "«بررسی و تصمیم استان» که پرونده اکنون در انتظار آن است در نسخه تازه نیست" in stuck
    assert set(_versions().values()) == {old}  # a dry run changes nothing
    # the older version chosen as the target: every running case is on it already
    assert 'id="nothing-to-move"' in client.get(f"{MOVES}?to={old}").get_data(as_text=True)


def test_a_move_signed_with_the_pin_records_each_case_and_its_timeline_shows_it(app, client, tmp_path):
    county, province, old, new = _fleet(app, tmp_path)
    login(client, "admin")
    data = _form(client.get(MOVES).get_data(as_text=True))
    assert sorted(data["case"]) == sorted(str(c.id) for c in county)
    done = client.post(MOVES, data={**data, "pin": "۱۴۰۵"})
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and 'id="moves-done"' in html and "۲ پرونده منتقل شد" in html
    assert _versions() == {county[0].id: new, county[1].id: new, province.id: old}
    for case in county:
        record = db.session.scalars(select(Record).where(Record.case_id == case.id)
                                    .order_by(Record.seq.desc())).first()
        assert (record.action, record.actor.username) == ("migrate_version", "admin")
    client.post("/logout")
    login(client, "applicant1")
    timeline = client.get(f"/cases/{county[0].id}").get_data(as_text=True)
    assert "انتقال به نسخه تازه فرایند" in timeline and f"{old[:12]} → {new[:12]}" in timeline
    # the dry run again: nothing left to move but the stuck one
    client.post("/logout")
    login(client, "admin")
    again = client.get(MOVES).get_data(as_text=True)
    assert 'name="case"' not in again and f'id="move-{province.id}"' in again


def test_a_wrong_pin_moves_nothing(app, client, tmp_path):
    county, province, old, new = _fleet(app, tmp_path)
    login(client, "admin")
    data = _form(client.get(MOVES).get_data(as_text=True))
    wrong = client.post(MOVES, data={**data, "pin": "0000"})
    assert wrong.status_code == 422 and 'id="err-pin"' in wrong.get_data(as_text=True)
    assert set(_versions().values()) == {old} and _migrations() == 0
    nothing = client.post(MOVES, data={"to": new, "pin": PIN})
    assert nothing.status_code == 422 and "هیچ پرونده‌ای انتخاب نشده است." in nothing.get_data(as_text=True)


def test_a_case_that_changed_since_the_dry_run_stops_the_whole_move(app, client, tmp_path):
    county, province, old, new = _fleet(app, tmp_path)
    login(client, "admin")
    data = _form(client.get(MOVES).get_data(as_text=True))
    complete_task(db.session, case=county[0], task_id=county[0].tasks[0].task_id, actor=user(ACTORS["county"]),
                  data={"decision": "approve"}, pin=PIN)  # the county decides after the plan was read
    db.session.commit()
    stale = client.post(MOVES, data={**data, "pin": PIN})
    html = stale.get_data(as_text=True)
    assert stale.status_code == 409, html[:2000]
    assert f"#{to_persian_digits(str(county[0].id))}" in html
    assert "هیچ پرونده‌ای منتقل نشد" in html
    assert set(_versions().values()) == {old} and _migrations() == 0  # not even the unchanged one
    # the page shows the fresh plan: the decided case now waits at the province and cannot move
    assert f'<tr class="bad" id="move-{county[0].id}">' in html
    # a form that names no lock version is a plan nobody read
    blind = client.post(MOVES, data={"to": new, "case": [str(county[1].id)], "pin": PIN})
    assert blind.status_code == 409 and _migrations() == 0


def test_unknown_procedures_and_versions_get_a_clear_answer(app, client, tmp_path):
    county, province, old, new = _fleet(app, tmp_path)
    other = db.session.scalars(select(ProcessDefinition.version)
                               .where(ProcessDefinition.process_key != "center_founding")).first()
    login(client, "admin")
    for to in ("abc123", "0" * 64, other, new.upper(), new + "\x00", "' OR 1=1 --"):
        answer = client.get(MOVES, query_string={"to": to})
        assert answer.status_code == 404, to
        assert "نسخه‌ای با این شناسه از این فرایند مستقر نشده است" in answer.get_data(as_text=True)
        posted = client.post(MOVES, data={"to": to, "case": [str(county[0].id)], f"seen-{county[0].id}": "1",
                                          "pin": PIN})
        assert posted.status_code == 404, to
    for key in ("no_such_procedure", "center_founding\x00"):
        answer = client.get(f"/admin/procedures/{key}/moves")
        assert answer.status_code == 404 and "فرایندی با این نام مستقر نشده است." in answer.get_data(as_text=True)
    assert set(_versions().values()) == {old} and _migrations() == 0


def test_only_administrators_see_or_use_the_page(app, client, tmp_path):
    county, province, old, new = _fleet(app, tmp_path)
    login(client, "admin")
    data = _form(client.get(MOVES).get_data(as_text=True))
    client.post("/logout")
    for username in ("arak_officer", "markazi_officer", "hq_auditor", "applicant1"):
        login(client, username)
        # administration answers as if it were not there, like the other admin pages
        assert client.get("/admin/procedures").status_code == 404, username
        assert client.get(MOVES).status_code == 404, username
        assert client.post(MOVES, data={**data, "pin": PIN}).status_code == 404, username
        client.post("/logout")
    assert client.get(MOVES).status_code in (302, 401)
    assert set(_versions().values()) == {old} and _migrations() == 0


def test_the_move_needs_the_forms_csrf_token(app, client, tmp_path):
    county, province, old, new = _fleet(app, tmp_path)
    login(client, "admin")
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get(MOVES).get_data(as_text=True)
    data = _form(page)
    refused = client.post(MOVES, data={**data, "pin": PIN})
    assert refused.status_code == 400 and set(_versions().values()) == {old}
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(MOVES, data={**data, "pin": PIN, "csrf_token": token}).status_code == 200
    assert _migrations() == 2
