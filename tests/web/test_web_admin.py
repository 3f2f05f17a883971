"""Administration: offices, people, roles and deactivation through pages and CLI, each a signed admin-log record."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from office_support import answer, base_time, founding, national_id, tokens_for
from support import PASSWORD, PIN, login, pass_visit, user
from web.extensions import db
from workflows import admin
from workflows.admin import AdminRecord
from workflows.models import CaseTask, Office, SigningKey, User
from workflows.offices import OFFICES_FILE


def records() -> list[AdminRecord]:
    db.session.expire_all()
    return db.session.scalars(select(AdminRecord).order_by(AdminRecord.seq)).all()


def test_an_administrator_adds_an_office_and_a_person_who_then_signs_there(app, client):
    login(client, "admin")
    page = client.get("/admin").get_data(as_text=True)
    assert 'id="add-office"' in page and 'id="add-user"' in page and "استان البرز" in page
    response = client.post("/admin/offices", data={"code": "markazi-shazand2", "name": "شازند نو", "kind": "county",
                                                   "parent": "markazi", "pin": PIN})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    county = db.session.scalars(select(Office).where(Office.code == "markazi-shazand2")).one()
    assert county.parent.code == "markazi"
    response = client.post("/admin/users", data={
        "username": "shazand_officer", "full_name": "کاظم امینی", "role": "county_officer", "office": "markazi-shazand2",
        "password": "a-long-password", "mobile": "۰۹۱۲۳۴۵۶۷۸۹", "email": "k.amini@example.org", "pin": "۱۴۰۵"})
    assert response.status_code == 302
    person = db.session.scalars(select(User).where(User.username == "shazand_officer")).one()
    assert (person.role, person.office_id, person.mobile) == ("county_officer", county.id, "09123456789")
    assert db.session.scalar(select(SigningKey.key_id).where(SigningKey.user_id == person.id)) is None
    assert [(r.seq, r.action) for r in records()] == [(1, "add_office"), (2, "add_user")]
    assert "a-long-password" not in records()[1].form_data and "a-long-password" not in records()[1].canonical
    client.post("/logout")

    # the new officer chooses a PIN (the key is made and certified under the new county's CA) and signs
    client.post("/login", data={"username": "shazand_officer", "password": "a-long-password"})
    assert 'id="needs-pin"' in client.get("/cases").get_data(as_text=True)
    mismatch = client.post("/account/pin", data={"pin": "2468", "pin_again": "2469"})
    assert mismatch.status_code == 422 and 'id="err-pin_again"' in mismatch.get_data(as_text=True)
    assert client.post("/account/pin", data={"pin": "12", "pin_again": "12"}).status_code == 422
    assert client.post("/account/pin", data={"pin": "۲۴۶۸", "pin_again": "2468"}).status_code == 302
    assert 'id="needs-pin"' not in client.get("/cases").get_data(as_text=True)
    now = base_time()
    case = founding(app, "applicant1", county="markazi-shazand2", mosque="مسجد شازند نو", manager_id=national_id(701),
                    now=now)
    answer(case, now + timedelta(hours=1), visit=False)
    pass_visit(case, now + timedelta(hours=1), pin="2468")  # the new officer, alone in the office, visits too
    from workflows.cases import complete_task
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user("shazand_officer"),
                  data={"decision": "approve"}, pin="2468", now=now + timedelta(hours=2))
    db.session.commit()
    assert case.status == "province_review"
    verified = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "همه امضاها و پیوند زنجیره درست است" in verified


def test_roles_deactivation_and_the_signed_log(app, client):
    now = base_time()
    case = founding(app, "applicant1", county="markazi-arak", mosque="مسجد مدیریت", manager_id=national_id(702), now=now)
    answer(case, now + timedelta(hours=1))
    headers = tokens_for("arak_officer")
    client.post(f"/api/v1/cases/{case.id}/tasks/{case.tasks[0].task_id}/claim", headers=headers["arak_officer"])
    officer = user("arak_officer")
    assert db.session.get(CaseTask, case.tasks[0].id).claimed_by_id == officer.id

    login(client, "admin")
    saveh = user("saveh_officer")
    moved = client.post(f"/admin/users/{saveh.id}/role", data={"role": "county_head", "office": "markazi-saveh",
                                                               "pin": PIN})
    assert moved.status_code == 302 and user("saveh_officer").role == "county_head"
    wrong = client.post(f"/admin/users/{saveh.id}/role", data={"role": "province_officer", "office": "markazi-saveh",
                                                               "pin": PIN})
    assert wrong.status_code == 422 and "ستاد استان" in wrong.get_data(as_text=True)
    gone = client.post(f"/admin/users/{officer.id}/deactivate", data={"reason": "پایان همکاری با اداره", "pin": PIN})
    assert gone.status_code == 302
    db.session.expire_all()
    assert not user("arak_officer").active
    assert db.session.get(CaseTask, case.tasks[0].id).claimed_by_id is None  # back to the office's queue
    assert client.get("/api/v1/me", headers=headers["arak_officer"]).status_code == 401
    again = client.post(f"/admin/users/{officer.id}/deactivate", data={"reason": "دوباره غیرفعال", "pin": PIN})
    assert again.status_code == 302 and "پیش‌تر غیرفعال" in client.get("/admin").get_data(as_text=True)
    assert client.post(f"/admin/users/{user('admin').id}/deactivate",
                       data={"reason": "خودم را غیرفعال کنم", "pin": PIN}).status_code == 422
    client.post("/logout")
    assert client.post("/login", data={"username": "arak_officer", "password": PASSWORD}).status_code == 401

    login(client, "hq_auditor")
    assert client.get("/admin").status_code == 404
    assert client.post(f"/admin/users/{saveh.id}/deactivate", data={"reason": "بی‌اجازه", "pin": PIN}).status_code == 404
    client.post("/logout")
    login(client, "admin")
    log = client.get("/admin/log").get_data(as_text=True)
    assert "همه امضاها و پیوند زنجیره درست است" in log and log.count('<li class="action-') == 2
    report = admin.verify_admin_log(db.session)
    assert report.ok and report.count == 2
    body = json.loads(records()[0].canonical)
    assert (body["case_id"], body["action"], body["actor"]["username"]) == ("admin-log", "assign_role", "admin")

    tampered = records()[1]
    tampered.form_data = tampered.form_data.replace("پایان همکاری", "پایان دوستی")
    db.session.commit()
    assert not admin.verify_admin_log(db.session).ok
    assert "زنجیره امضاها معتبر نیست" in client.get("/admin/log").get_data(as_text=True)


def test_bad_changes_are_refused_and_sign_nothing(app, client):
    login(client, "admin")
    cases = [
        ("/admin/offices", {"code": "Bad Code", "name": "x", "kind": "county", "parent": "markazi", "pin": PIN}, "code"),
        ("/admin/offices", {"code": "markazi-arak", "name": "x", "kind": "county", "parent": "markazi", "pin": PIN}, "code"),
        ("/admin/offices", {"code": "new-county", "name": "x", "kind": "county", "parent": "hq", "pin": PIN}, "parent"),
        ("/admin/offices", {"code": "new-prov", "name": "استان نو", "kind": "province", "parent": "hq", "number": "10",
                            "pin": PIN}, "number"),
        ("/admin/users", {"username": "arak_officer", "full_name": "x", "role": "applicant", "password": "longenough",
                          "pin": PIN}, "username"),
        ("/admin/users", {"username": "new_one", "full_name": "x", "role": "county_officer", "office": "markazi",
                          "password": "longenough", "pin": PIN}, "office"),
        ("/admin/users", {"username": "new_one", "full_name": "x", "role": "system", "password": "longenough",
                          "pin": PIN}, "role"),
        ("/admin/users", {"username": "new_one", "full_name": "x", "role": "applicant", "password": "short",
                          "pin": PIN}, "password"),
        ("/admin/users", {"username": "new_one", "full_name": "x", "role": "applicant", "password": "longenough",
                          "mobile": "12345", "pin": PIN}, "mobile"),
        ("/admin/users", {"username": "new_one", "full_name": "x", "role": "applicant", "password": "longenough",
                          "pin": "0000"}, "pin"),
    ]
    for path, data, field in cases:
        response = client.post(path, data=data)
        page = response.get_data(as_text=True)
        assert response.status_code == 422, (data, page[:300])
        assert f'-{field}"' in page and "field-error" in page, (field, data)
    assert records() == []
    assert db.session.scalar(select(func.count()).select_from(User).where(User.username == "new_one")) == 0


def test_the_admin_commands(app, runner, tmp_path):
    def run(*args):
        result = runner.invoke(args=["admin", *args, "--as", "admin", "--pin", PIN])
        assert result.exit_code == 0, result.output
        return result.output

    assert "office alborz-karaj added (admin log record #1)" in run(
        "add-office", "--code", "alborz-karaj", "--name", "کرج", "--kind", "county", "--parent", "alborz")
    result = runner.invoke(args=["admin", "add-user", "--as", "admin", "--pin", PIN, "--username", "karaj_head",
                                 "--full-name", "مهدی کرجی", "--role", "county_head", "--office", "alborz-karaj"],
                           input="a-long-password\na-long-password\n")
    assert result.exit_code == 0 and "record #2" in result.output, result.output
    assert "record #3" in run("assign-role", "karaj_head", "--role", "county_officer", "--office", "alborz-karaj")
    assert "record #4" in run("deactivate-user", "karaj_head", "--reason", "جابه‌جایی به اداره دیگر")
    refused = runner.invoke(args=["admin", "deactivate-user", "kashan_officer", "--as", "arak_head", "--pin", PIN,
                                  "--reason", "بدون اختیار"])
    assert refused.exit_code != 0 and "Forbidden" in refused.output
    wrong = runner.invoke(args=["admin", "add-office", "--as", "admin", "--pin", "9999", "--code", "alborz-x",
                                "--name", "x", "--kind", "county", "--parent", "alborz"])
    assert wrong.exit_code != 0 and "WrongPin" in wrong.output
    assert [r.action for r in records()] == ["add_office", "add_user", "assign_role", "deactivate_user"]
    verify = runner.invoke(args=["verify-all"])
    assert verify.exit_code == 0 and "admin log ok (4 record(s))" in verify.output

    tree = json.loads(OFFICES_FILE.read_text("utf-8"))
    tree["provinces"][-1]["counties"].append({"code": "alborz-nazarabad", "name": "نظرآباد"})
    custom = tmp_path / "offices.json"
    custom.write_text(json.dumps(tree, ensure_ascii=False), encoding="utf-8")
    loaded = runner.invoke(args=["load-offices", "--file", str(custom)])
    assert loaded.exit_code == 0 and "1 office(s) added" in loaded.output, loaded.output
    assert "0 office(s) added" in runner.invoke(args=["load-offices", "--file", str(custom)]).output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"headquarters": {"code": "hq", "name": "ستاد"}, "provinces": [
        {"code": "aa", "name": "الف", "number": 1}, {"code": "bb", "name": "ب", "number": 1}]}), encoding="utf-8")
    assert runner.invoke(args=["load-offices", "--file", str(bad)]).exit_code != 0


def test_offices_are_chosen_by_their_persian_names(client):
    import re
    login(client, "admin")
    page = client.get("/admin").get_data(as_text=True)
    parent = re.search(r'<select id="office-parent" name="parent">(.*?)</select>', page, re.S).group(1)
    option = re.search(r'<option value="markazi"[^>]*>([^<]+)</option>', parent)
    assert option and re.search("[\u0600-\u06ff]", option.group(1)) and "markazi" not in option.group(1)
    office = re.search(r'<select id="user-office" name="office">(.*?)</select>', page, re.S).group(1)
    assert '<option value="markazi-arak">' in office and "(" in office  # a county is named with its province
