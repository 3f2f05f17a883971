"""Headquarters changes procedures with data files alone: the README's interview example
(``examples/manager_interview.patch``) adds the county's interview with the proposed manager, with its own
form, to the founding procedure, and ``examples/annual_programme/`` is a whole new small procedure. Both are deployed
from a copy of ``bpmn/`` and run through the pages and the API."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

from support import PIN, answer_all, application_fixture, in_county_review, login, pdf_bytes, png_bytes
from web.extensions import db
from workflows.models import Case, Center, Office, ProcessDefinition, Record, utcnow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def changed_bpmn(tmp_path: Path) -> Path:
    """A copy of bpmn/ with the interview diff applied and the annual programme package added."""
    folder = tmp_path / "bpmn"
    shutil.copytree(ROOT / "bpmn", folder)
    subprocess.run(["git", "apply", "-p1", str(EXAMPLES / "manager_interview.patch")], cwd=folder, check=True,
                   capture_output=True)
    shutil.copytree(EXAMPLES / "annual_programme", folder, dirs_exist_ok=True)
    return folder


def form_fields(data: dict, prefix: str = "") -> dict:
    """Nested form data as the page posts it (dotted names, list items by index)."""
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= form_fields(value, f"{name}.")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                flat |= form_fields(item, f"{name}.{index}.")
        else:
            flat[name] = "true" if value is True else str(value)
    return flat


def waiting(case_id: int) -> tuple[str, str]:
    db.session.expire_all()
    task = db.session.get(Case, case_id).tasks[0]
    return task.name, task.task_id


def post_task(client, case_id: int, data: dict):
    _, task_id = waiting(case_id)
    return client.post(f"/cases/{case_id}/tasks/{task_id}", data={**data, "_action": "submit", "pin": PIN},
                       content_type="multipart/form-data")


def token(client, username: str) -> dict:
    answer = client.post("/api/v1/auth/token", json={"username": username, "password": "demo1234"})
    return {"Authorization": "Bearer " + answer.json["token"]}


def complete(client, headers, case: dict, data: dict):
    task_id = case["tasks"][0]["id"]
    return client.post(f"/api/v1/cases/{case['id']}/tasks/{task_id}/complete", json={"data": data, "pin": PIN},
                       headers=headers)


def test_the_interview_diff_and_a_new_procedure_deploy_and_run_through_pages_and_api(app, client, runner, tmp_path):
    app.config["BPMN_DIR"] = changed_bpmn(tmp_path)
    deployed = runner.invoke(args=["deploy"])
    assert deployed.exit_code == 0, deployed.output
    assert "annual_programme:" in deployed.output
    running = {row.process_key for row in db.session.query(ProcessDefinition)}
    assert {"center_founding", "annual_programme"} <= running

    # --- the founding, now with an interview, through the pages ---------------------------------------
    login(client, "applicant1")
    home = client.get("/cases").get_data(as_text=True)
    assert 'id="new-center_founding"' in home
    started = client.post("/cases/new", data={"process_key": "center_founding"})
    case_id = int(re.search(r"/cases/(\d+)", started.headers["Location"]).group(1))
    uploads = {"file.documents.manager_id_copy": (io.BytesIO(png_bytes("red")), "id.png"),
               "file.documents.manager_photo": (io.BytesIO(png_bytes("blue")), "photo.png"),
               "file.documents.manager_degree": (io.BytesIO(pdf_bytes()), "degree.pdf")}
    application = application_fixture()
    del application["documents"]
    assert post_task(client, case_id, {**form_fields(application), **uploads}).status_code == 302
    answer_all(db.session.get(Case, case_id), "clear", utcnow())
    client.post("/logout")
    login(client, "arak_officer")
    assert post_task(client, case_id, {"decision": "approve"}).status_code == 302
    assert waiting(case_id)[0] == "manager_interview"
    case_page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "در انتظار مصاحبه اداره شهرستان" in case_page  # the new status, labelled by the manifest
    county = db.session.query(Office).filter_by(code=application["mosque"]["county"]).one()
    shown = case_page.split('class="signed-form"')[1]
    assert county.name in shown and application["mosque"]["county"] not in shown  # the office by its name
    client.post("/logout")
    login(client, "applicant1")  # the new step in the applicant's progress
    assert "مرحله ۵ از ۶: مصاحبه با مدیر پیشنهادی" in client.get("/cases").get_data(as_text=True)
    client.post("/logout")
    login(client, "arak_officer")

    name, task_id = waiting(case_id)
    interview_page = client.get(f"/cases/{case_id}/tasks/{task_id}").get_data(as_text=True)
    assert "گزارش مصاحبه با مدیر پیشنهادی" in interview_page  # the new form's title
    assert "برنامه‌های فرهنگی و هنری که مدیر در مصاحبه برای سال نخست کانون برشمرد." in interview_page  # its help
    assert "برای اداره کانون آماده است" in interview_page  # its choices
    assert "مسجد" in interview_page and application["mosque"]["name"] in interview_page  # the application beside it
    refused = post_task(client, case_id, {"interviewed_on": "۱۴۰۵/۰۳/۱۰", "interviewer": "مهدی کریمی",
                                          "programme_ideas": "۶", "result": "return"})
    assert refused.status_code == 422
    assert "برای بازگشت، یافته‌های مصاحبه را دست‌کم در ۵ نویسه بنویسید." in refused.get_data(as_text=True)
    assert waiting(case_id)[0] == "manager_interview"
    done = post_task(client, case_id, {"interviewed_on": "۱۴۰۵/۰۳/۱۰", "interviewer": "مهدی کریمی",
                                       "programme_ideas": "۶", "result": "approve"})
    assert done.status_code == 302
    interview = db.session.query(Record).filter_by(case_id=case_id, task_name="manager_interview").one()
    assert interview.action == "approve"
    assert '"programme_ideas":6' in interview.form_data and '"interviewed_on":"2026-05-31"' in interview.form_data
    client.post("/logout")
    login(client, "markazi_officer")
    assert post_task(client, case_id, {"decision": "approve"}).status_code == 302
    case = db.session.get(Case, case_id)
    assert case.status == "licensed" and case.outcome == "license_issued"
    timeline = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "مصاحبه اداره شهرستان با مدیر پیشنهادی" in timeline  # the interview's signed record, named by its task

    # --- the new procedure, through the API ------------------------------------------------------------
    center = db.session.get(Center, case.center_id)
    client.post("/logout")
    openapi = client.get("/api/v1/openapi.json").json
    assert "annual_programme" in openapi["components"]["schemas"]["CaseRequest"]["properties"]["process_key"]["enum"]
    assert {"form.annual_programme", "form.manager_interview_report"} <= set(openapi["components"]["schemas"])
    applicant, county = token(client, "applicant1"), token(client, "arak_officer")
    started = client.post("/api/v1/cases", json={"process_key": "annual_programme", "center_id": center.id},
                          headers=applicant)
    assert started.status_code == 201, started.json
    programme = started.json
    form = client.get(f"/api/v1/cases/{programme['id']}/tasks/{programme['tasks'][0]['id']}/form", headers=applicant)
    assert form.json["form"]["title"] == "برنامه سالانه کانون"
    activities = next(f for f in form.json["form"]["fields"] if f["name"] == "activities")
    assert {c["label"] for c in activities["fields"][1]["choices"]} >= {"قرآنی", "هنری"}
    bad = complete(client, applicant, programme, {"year": "۱۳۹۰", "members": 40, "activities": []})
    assert bad.status_code == 422 and {"year", "activities"} <= set(bad.json["errors"])
    submitted = complete(client, applicant, programme, {
        "year": "۱۴۰۵", "members": "۴۰",
        "activities": [{"title": "حلقه تلاوت", "kind": "quran", "sessions": 30},
                       {"title": "کارگاه خوشنویسی", "kind": "art", "sessions": 12}]})
    assert submitted.status_code == 200, submitted.json
    programme = submitted.json["case"]
    assert programme["status"] == "programme_review"
    approved = complete(client, county, programme, {"decision": "approve"})
    assert approved.status_code == 200, approved.json
    assert approved.json["case"]["status"] == "programme_approved"
    detail = client.get(f"/api/v1/cases/{programme['id']}", headers=applicant).json
    assert detail["outcome"] == "programme_approved" and detail["verification"]["ok"]
    certificate = client.get(f"/api/v1/cases/{programme['id']}/certificate.pdf", headers=applicant)
    assert certificate.status_code == 200 and certificate.data.startswith(b"%PDF")


def test_the_readme_shows_the_interview_diff():
    readme = (ROOT / "README.md").read_text("utf-8")
    patch = (EXAMPLES / "manager_interview.patch").read_text("utf-8")
    shown = patch.split("diff -ruN a/scenarios")[0]  # the scenarios' new steps are left to the file
    assert shown.strip() in readme


def test_running_foundings_move_onto_the_interview_and_say_so_on_their_timeline(app, client, runner, tmp_path):
    running = [in_county_review(app) for _ in range(2)]
    old = running[0].spec_version
    app.config["BPMN_DIR"] = changed_bpmn(tmp_path)
    assert runner.invoke(args=["deploy"]).exit_code == 0
    planned = runner.invoke(args=["move-cases", "center_founding", "--admin", "admin", "--dry-run"])
    assert planned.exit_code == 0 and planned.output.count("would move: status county_review") == 2
    moved = runner.invoke(args=["move-cases", "center_founding", "--admin", "admin", "--pin", PIN])
    assert moved.exit_code == 0 and "2 case(s) moved, 0 cannot move" in moved.output
    login(client, "arak_officer")
    page = client.get(f"/cases/{running[0].id}").get_data(as_text=True)
    assert "انتقال به نسخه تازه فرایند" in page and old[:12] in page
    assert post_task(client, running[0].id, {"decision": "approve"}).status_code == 302
    assert waiting(running[0].id)[0] == "manager_interview"  # the moved case meets the new step


def test_deploy_refuses_a_change_its_own_scenarios_contradict_and_stores_nothing(app, runner, tmp_path):
    folder = changed_bpmn(tmp_path)
    # the interview without the scenarios' new step: after the county's approval they expect the province
    shutil.rmtree(folder / "scenarios" / "center_founding")
    shutil.copytree(ROOT / "bpmn" / "scenarios" / "center_founding", folder / "scenarios" / "center_founding")
    shutil.rmtree(folder / "scenarios" / "annual_programme")
    app.config["BPMN_DIR"] = folder
    before = db.session.query(ProcessDefinition).count()
    refused = runner.invoke(args=["deploy"])
    assert refused.exit_code != 0
    assert "nothing deployed: scenarios that do not hold: " in refused.output
    assert ("scenarios/center_founding/approve_approve.json step 5: "
            "status: expected 'province_review', got 'interview'") in refused.output
    assert db.session.query(ProcessDefinition).count() == before
    # a package without scenarios deploys, with a warning
    subprocess.run(["git", "apply", "-p1", "--include=scenarios/*", str(EXAMPLES / "manager_interview.patch")], cwd=folder,
                   check=True, capture_output=True)
    deployed = runner.invoke(args=["deploy"])
    assert deployed.exit_code == 0, deployed.output
    assert "warning: annual_programme has no scenario" in deployed.output


def test_an_administrator_moves_running_cases_from_the_web(app, client, runner, tmp_path):
    running = [in_county_review(app) for _ in range(3)]
    old = running[0].spec_version
    app.config["BPMN_DIR"] = changed_bpmn(tmp_path)
    assert runner.invoke(args=["deploy"]).exit_code == 0
    login(client, "arak_officer")
    assert client.get("/admin/procedures").status_code == 404  # administrators only
    client.post("/logout")
    login(client, "admin")
    listing = client.get("/admin/procedures").get_data(as_text=True)
    assert "تأسیس کانون" in listing and old[:12] in listing and 'id="plan-center_founding"' in listing
    new = db.session.query(ProcessDefinition).filter_by(process_key="center_founding").order_by(
        ProcessDefinition.deployed_at.desc()).first().version
    plan = client.get(f"/admin/procedures/center_founding/moves?to={new}").get_data(as_text=True)
    assert plan.count('name="case"') == 3 and "در بررسی اداره شهرستان" in plan
    assert client.get("/admin/procedures/center_founding/moves?to=abc123").status_code == 404
    chosen = [str(c.id) for c in running[:2]]
    seen = {f"seen-{c.id}": str(c.lock_version) for c in running}  # as the dry run's form carries them
    wrong = client.post("/admin/procedures/center_founding/moves", data={"to": new, "case": chosen, "pin": "0000",
                                                                          **seen})
    assert wrong.status_code == 422 and "رمز" in wrong.get_data(as_text=True)
    db.session.expire_all()
    assert {db.session.get(Case, c.id).spec_version for c in running} == {old}  # nothing moved
    none = client.post("/admin/procedures/center_founding/moves", data={"to": new, "pin": PIN})
    assert none.status_code == 422 and "هیچ پرونده‌ای انتخاب نشده است." in none.get_data(as_text=True)
    done = client.post("/admin/procedures/center_founding/moves", data={"to": new, "case": chosen, "pin": "۱۴۰۵",
                                                                         **seen})
    assert done.status_code == 200 and 'id="moves-done"' in done.get_data(as_text=True)
    db.session.expire_all()
    assert [db.session.get(Case, c.id).spec_version for c in running] == [new, new, old]  # the unticked one stays
    moved = db.session.query(Record).filter_by(case_id=running[0].id).order_by(Record.seq.desc()).first()
    assert moved.action == "migrate_version" and moved.actor.username == "admin"


def test_deploy_names_the_problems_of_every_package_at_once(app, runner, tmp_path):
    folder = tmp_path / "bpmn"
    shutil.copytree(ROOT / "bpmn", folder)
    for key, status in (("manager_retirement", "acknowledgement"), ("manager_resignation", "interim_needed")):
        path = folder / f"{key}.procedure.json"
        path.write_text(path.read_text("utf-8").replace(f'"{status}": {{"label"', f'"{status}_x": {{"label"', 1), "utf-8")
    app.config["BPMN_DIR"] = folder
    before = db.session.query(ProcessDefinition).count()
    refused = runner.invoke(args=["deploy"])
    assert refused.exit_code != 0
    assert "manager_retirement.procedure.json: tasks.county_acknowledge.status: 'acknowledgement' is not" in refused.output
    assert "manager_resignation.procedure.json: tasks.name_interim.status: 'interim_needed' is not" in refused.output
    assert db.session.query(ProcessDefinition).count() == before
