"""Training packages (``bpmn/training.json``): a quiz scored on the server, the package refused at deploy
when it does not hold together, and who is enrolled — from an appointment, and again from a renewal —
and who has passed, as the signed records say."""
from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest

import engine
from office_support import answer, decide, doc_bytes
from support import ACTORS, PIN, SCENARIO_DIR, found_center, user
from web.extensions import db
from workflows import documents, procedures, training
from workflows.cases import complete_task, deploy, start_case
from workflows.errors import InvalidInput
from workflows.models import Case, tehran_today, utcnow


def _renewal_form(app, case: Case, holder) -> dict:
    fixture = json.loads((SCENARIO_DIR / "term_renewal" / "fixtures.json").read_text("utf-8"))["renewal"]
    return {**fixture, "documents": {
        field: documents.store_document(db.session, app.config["STORAGE_DIR"], case=case, user=holder, field=field,
                                        filename=f"{field}.png", content=doc_bytes(i)).sha256
        for i, field in enumerate(("manager_id_copy", "manager_photo", "manager_degree"))}}


def _package() -> training.Package:
    return training.package_for(procedures.newest_tables(db.session), "manager_training")


def test_a_quiz_keeps_the_best_result_and_the_first_time_it_passed(app):
    center = found_center(app, ACTORS["applicant"])
    holder = user(ACTORS["applicant"])
    case = start_case(db.session, process_key="manager_training", starter=holder, center=center)
    module = _package().modules[0]
    right = {q.key: q.answer for q in module.questions}
    now = utcnow()
    one_wrong = {**right, module.questions[0].key: "nonsense"}
    attempt = training.answer(db.session, case, module, one_wrong, now)
    assert (attempt.correct, attempt.total, attempt.passed, attempt.wrong) == (2, 3, True, (module.questions[0].key,))
    later = training.answer(db.session, case, module, {}, now + timedelta(hours=1))
    assert (later.correct, later.passed) == (0, False)
    row = training.progress(db.session, case)[module.key]
    assert (row.attempts, row.correct, row.passed_at) == (2, 2, now)  # the best kept, passed the first time


def _completion(case: Case, holder, now) -> None:
    for module in _package().modules:
        training.answer(db.session, case, module, {q.key: q.answer for q in module.questions}, now)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=holder, pin=PIN, now=now,
                  data={"declaration": "taken_by_manager"})
    db.session.commit()


def test_a_manager_is_enrolled_from_the_appointment_and_again_from_a_renewal(app):
    center = found_center(app, ACTORS["applicant"])
    holder = user(ACTORS["applicant"])
    package, today = _package(), tehran_today(utcnow())
    enrolled = {e.center_id: e for e in training.enrollments(db.session, None, today)}[center.id]
    assert (enrolled.since, enrolled.due_on, enrolled.passed_case) == (today, today + timedelta(days=package.within_days),
                                                                        None)
    assert not enrolled.behind(today) and enrolled.behind(enrolled.due_on + timedelta(days=1))

    trained = start_case(db.session, process_key="manager_training", starter=holder, center=center)
    assert {e.center_id: e for e in training.enrollments(db.session, None, today)}[center.id].open_case == trained.id
    _completion(trained, holder, utcnow() + timedelta(hours=1))
    passed = {e.center_id: e for e in training.enrollments(db.session, None, today)}[center.id]
    assert passed.passed_case == trained.id and passed.open_case is None

    # a renewal three days on enrolls the manager again: the earlier completion does not count for it
    later = utcnow() + timedelta(days=3)
    renewal = start_case(db.session, process_key="term_renewal", starter=user("arak_officer"), center=center, now=later)
    complete_task(db.session, case=renewal, task_id=renewal.tasks[0].task_id, actor=holder, pin=PIN, now=later,
                  data=_renewal_form(app, renewal, holder))
    db.session.commit()
    answer(renewal, later)
    decide(renewal, "arak_officer", "approve", later)
    decide(renewal, "markazi_officer", "approve", later)
    assert renewal.status == "renewed"
    again = {e.center_id: e for e in training.enrollments(db.session, None, tehran_today(later))}[center.id]
    assert again.since == tehran_today(later) and again.passed_case is None


def test_a_training_package_from_before_a_manager_was_appointed_enrolls_them_not(app, tmp_path):
    center = found_center(app, ACTORS["applicant"])
    folder = tmp_path / "bpmn"
    shutil.copytree(app.config["BPMN_DIR"], folder, ignore=shutil.ignore_patterns("scenarios"))
    table = json.loads((folder / "training.json").read_text("utf-8"))
    table["packages"]["new_manager"]["published_on"] = (tehran_today(utcnow()) + timedelta(days=1)).isoformat()
    (folder / "training.json").write_text(json.dumps(table, ensure_ascii=False), "utf-8")
    deploy(db.session, folder, "manager_training")
    db.session.commit()
    assert center.id not in {e.center_id for e in training.enrollments(db.session, None, tehran_today(utcnow()))}


def test_the_completion_is_refused_until_every_module_is_passed(app):
    center = found_center(app, ACTORS["applicant"])
    holder = user(ACTORS["applicant"])
    case = start_case(db.session, process_key="manager_training", starter=holder, center=center)
    first = _package().modules[0]
    training.answer(db.session, case, first, {q.key: q.answer for q in first.questions}, utcnow())
    with pytest.raises(InvalidInput) as refused:
        complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=holder, pin=PIN,
                      data={"declaration": "taken_by_manager"})
    message = refused.value.errors["declaration"][0]
    assert first.title not in message and all(m.title in message for m in _package().modules[1:])


@pytest.mark.parametrize("change, problem", [
    (lambda p: p["modules"][0]["quiz"].update(pass_mark=4),
     "training.new_manager.modules.0.quiz.pass_mark: a whole number from 1 to the number of questions"),
    (lambda p: p["modules"][0]["quiz"]["questions"][0].update(answer="nowhere"),
     "training.new_manager.modules.0.quiz.questions.0.answer: one of its choices"),
    (lambda p: p["modules"][1].update(key="mission"), "training.new_manager.modules: each an object with its own key"),
    (lambda p: p.update(published_on="1405/01/01"), "training.new_manager.published_on: a day, YYYY-MM-DD"),
    (lambda p: p["modules"][0]["media"][0].update(sha256="0" * 64),
     "training.new_manager.mission: media 'structure.png' does not digest to its sha256"),
    (lambda p: p["modules"][0]["media"][0].update(file="../terms.json"),
     "training.new_manager.modules.0.media: a list of {file, sha256, caption}"),
])
def test_a_training_package_that_does_not_hold_together_is_refused_at_deploy(app, tmp_path, change, problem):
    folder = tmp_path / "bpmn"
    shutil.copytree(app.config["BPMN_DIR"], folder, ignore=shutil.ignore_patterns("scenarios"))
    table = json.loads((folder / "training.json").read_text("utf-8"))
    change(table["packages"]["new_manager"])
    (folder / "training.json").write_text(json.dumps(table, ensure_ascii=False), "utf-8")
    with pytest.raises(engine.SpecError) as refused:
        deploy(db.session, folder, "manager_training")
    assert problem in str(refused.value)
