"""Procedures as data: a manifest beside each diagram says what the procedure means; deploy refuses one
that does not fit, and a change made in the manifest alone reaches new cases, not running ones."""
from __future__ import annotations

import json
import shutil

import pytest
import engine
from support import ACTORS, PIN, application_fixture, login, shipped, upload_documents, user
from web.extensions import db
from workflows import procedures
from workflows.cases import case_records, complete_task, deploy, start_case
from workflows.models import ProcessDefinition


def _copy(app, tmp_path):
    folder = tmp_path / "bpmn"
    shutil.copytree(app.config["BPMN_DIR"], folder, ignore=shutil.ignore_patterns("scenarios"))
    return folder


def _edit_manifest(folder, process_key, change):
    path = folder / f"{process_key}.procedure.json"
    manifest = json.loads(path.read_text("utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), "utf-8")


def _drop(mapping, key):
    mapping.pop(key)


@pytest.mark.parametrize("change, expected", [
    (lambda m: _drop(m["tasks"], "county_review"),
     ["tasks.county_review: the diagram has it, the manifest gives it no meaning"]),
    (lambda m: m["tasks"].update(interview={"status": "draft", "action": "visit"}),
     ["tasks.interview: the manifest names it, the diagram has no such task",
      "tasks.interview.action: 'visit' has no words: give them in \"actions\""]),
    (lambda m: m.update(actions={"visit": ""}), ["actions.visit: must be a non-empty text"]),
    (lambda m: _drop(m["messages"], "inquiries_complete"),
     ["messages.inquiries_complete: the diagram has it, the manifest gives it no meaning"]),
    (lambda m: _drop(m["ends"], "rejected_by_province"),
     ["ends.rejected_by_province: the diagram has it, the manifest gives it no meaning"]),
    (lambda m: m["tasks"]["province_review"].update(status="waiting_for_godot"),
     ["tasks.province_review.status: 'waiting_for_godot' is not one of the manifest's statuses"]),
    (lambda m: m["ends"]["license_issued"].update(effect="print_money"),
     ["ends.license_issued.effect: 'print_money' is not one of issue_license, appoint_manager, appoint_interim, "
      "renew_term, suspend_license, lift_suspension, revoke_license, close_center, approve_signboard"]),
    (lambda m: m["messages"]["inquiries_complete"].update(sent_by="post"),
     ["messages.inquiries_complete.sent_by: 'post' is not one of inquiries, successor"]),
    (lambda m: m["start"].update(by=["mayor"]), ["start.by: 'mayor' is not one of applicant, county, province"]),
    (lambda m: _drop(m["statuses"], "draft"),
     ["statuses: must give 'draft' (every case until its first signed record) a label",
      "tasks.submit_application.status: 'draft' is not one of the manifest's statuses",
      "steps[1].statuses: 'draft' is not one of the manifest's statuses"]),
    (lambda m: m["tasks"]["county_review"].update(action="approve"),
     ["tasks.county_review: give either an action or the action_field that holds it"]),
    (lambda m: m["statuses"].update({"Bad Status": {"label": "x"}}),
     ["statuses.Bad Status: a status is a lowercase letter, then up to 31 letters, digits or _"]),
    (lambda m: m.update(colour="green"), ["colour: not a manifest entry"]),
    (lambda m: m["tasks"]["province_review"].update(action_field="verdict"),
     ["tasks.province_review.action_field: 'verdict' is not a field of the form 'review_decision'"]),
])
def test_deploy_refuses_a_manifest_that_does_not_fit_and_names_every_problem(app, tmp_path, change, expected):
    folder = _copy(app, tmp_path)
    _edit_manifest(folder, "center_founding", change)
    before = db.session.query(ProcessDefinition).count()
    with pytest.raises(engine.SpecError) as refused:
        deploy(db.session, folder, "center_founding")
    assert str(refused.value) == "; ".join(f"center_founding.procedure.json: {p}" for p in expected)
    assert db.session.query(ProcessDefinition).count() == before


def test_a_task_whose_form_does_not_exist_is_refused(app, tmp_path):
    folder = _copy(app, tmp_path)
    diagram = folder / "center_founding.bpmn"
    text = diagram.read_text("utf-8")
    assert text.count('value="review_decision"') >= 1
    diagram.write_text(text.replace('value="review_decision"', 'value="site_visit_sheet"', 1), "utf-8")
    with pytest.raises(engine.SpecError, match=r"task [a-z_]+: its form 'site_visit_sheet' is not declared \(forms/site_visit_sheet\.form\.json\)"):
        deploy(db.session, folder, "center_founding")


def test_a_procedure_without_a_manifest_is_refused(app, tmp_path):
    folder = _copy(app, tmp_path)
    (folder / "center_founding.procedure.json").unlink()
    with pytest.raises(engine.SpecError, match=r"center_founding\.procedure\.json: missing"):
        deploy(db.session, folder, "center_founding")


def test_the_cli_deploys_one_procedure_per_manifest_and_refuses_a_folder_without_any(app, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["deploy"])
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.output.splitlines()] == list(
        procedures.package_keys(app.config["BPMN_DIR"]))
    empty = tmp_path / "empty"
    empty.mkdir()
    app.config["BPMN_DIR"] = empty
    result = runner.invoke(args=["deploy"])
    assert result.exit_code == 1 and "nothing deployed" in result.output and "no procedure" in result.output


def test_a_status_and_its_words_changed_in_the_manifest_reach_new_cases_only(app, client, tmp_path):
    applicant = user(ACTORS["applicant"])
    running = start_case(db.session, process_key="center_founding", starter=applicant)
    db.session.commit()

    folder = _copy(app, tmp_path)

    def rename(manifest):
        manifest["statuses"]["with_agencies"] = {"label": "نزد دستگاه‌های استعلام‌شونده"}
        del manifest["statuses"]["inquiries"]
        manifest["messages"]["inquiries_complete"]["status"] = "with_agencies"
        manifest["steps"][1] = {"name": "agencies", "label": "پاسخ دستگاه‌ها", "statuses": ["with_agencies"]}
        manifest["title"] = "تأسیس کانون (نسخه تازه)"

    _edit_manifest(folder, "center_founding", rename)
    new_version = deploy(db.session, folder, "center_founding").version
    db.session.commit()
    assert new_version != running.spec_version
    fresh = start_case(db.session, process_key="center_founding", starter=applicant)
    db.session.commit()

    for case in (running, fresh):
        data = application_fixture()
        data["documents"] = upload_documents(app, case)
        complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=applicant, data=data, pin=PIN)
        db.session.commit()
    assert running.status == "inquiries" and fresh.status == "with_agencies"
    signed = json.loads(case_records(db.session, fresh)[-1].canonical)
    assert signed["details"]["case"]["status"] == "with_agencies"  # the new status is signed like any other

    login(client, ACTORS["applicant"])
    page = client.get("/cases").get_data(as_text=True)
    assert "مرحله ۲ از ۵: پاسخ دستگاه‌ها" in page and "مرحله ۲ از ۵: استعلام‌ها" in page
    assert client.get(f"/cases/{fresh.id}").get_data(as_text=True).count("تأسیس کانون (نسخه تازه)") >= 1
    assert "در انتظار پاسخ استعلام‌ها" in client.get(f"/cases/{running.id}").get_data(as_text=True)
    assert "نزد دستگاه‌های استعلام‌شونده" in client.get(f"/cases/{fresh.id}").get_data(as_text=True)


def test_the_shipped_procedures_mean_what_their_pages_say():
    founding = shipped("center_founding")
    assert founding.starters == ("applicant",) and not founding.needs_center
    assert founding.ends["license_issued"].effect == "issue_license"
    assert founding.action_for("county_review", {"decision": "return"}) == "return"
    assert founding.action_for("correct_application", {}) == "resubmit"
    assert [t for t, m in founding.tasks.items() if m.decides_inquiries] == ["county_review",
                                                                            "escalated_county_review"]
    retirement = shipped("manager_retirement")
    assert retirement.starters == ("applicant", "county") and retirement.needs_manager
    assert retirement.term_end_reason == "retired"
    assert retirement.waiting_sender(["successor_confirmed"]) == "successor"
    assert shipped("manager_change").names_successor and not retirement.names_successor


def test_the_catalogue_names_a_shared_task_as_each_procedure_names_it(app):
    known = procedures.catalogue(db.session)
    assert list(known.current) == ["activity_report", "center_closure", "center_evaluation", "center_founding", "license_revocation",
                                   "license_suspension", "manager_change", "manager_resignation", "manager_retirement", "manager_training",
                                   "service_request", "signboard", "suspension_lift", "term_renewal"]
    assert known.task_title("county_report") == "گزارش اداره شهرستان"
    assert known.task_title("province_review") == "بررسی و تصمیم استان / تأیید نهایی استان"
    assert known.task_title("county_review") == "بررسی اداره شهرستان"
    assert known.title("manager_change") == "تغییر مدیر" and known.status_label("licensed") == "مجوز صادر شد"


def test_form_declarations_that_do_not_build_are_refused_with_the_file_and_field(app, tmp_path):
    folder = _copy(app, tmp_path)
    before = db.session.query(ProcessDefinition).count()
    review = folder / "forms" / "review_decision.form.json"
    text = review.read_text("utf-8")
    review.write_text(text.replace('"type": "choice"', '"type": "radio"', 1), "utf-8")
    with pytest.raises(engine.SpecError, match=r"forms/review_decision\.form\.json: decision: unknown type 'radio'"):
        deploy(db.session, folder, "center_founding")
    review.write_text('{"title": "a", "title": "b"}', "utf-8")
    with pytest.raises(engine.SpecError, match=r"forms/review_decision\.form\.json.*duplicate key 'title'"):
        deploy(db.session, folder, "center_founding")
    assert db.session.query(ProcessDefinition).count() == before


def test_a_form_that_looks_up_what_the_product_cannot_is_refused(app, tmp_path):
    folder = _copy(app, tmp_path)
    path = folder / "forms" / "manager_change_application.form.json"
    path.write_text(path.read_text("utf-8").replace('"lookup": "centers_managed"', '"lookup": "horoscope"'), "utf-8")
    with pytest.raises(engine.SpecError, match=r"the product cannot look up 'horoscope' \(it can: centers_managed, is_current_manager\)"):
        deploy(db.session, folder, "manager_change")
