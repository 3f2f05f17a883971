"""Training packages (``bpmn/training.json``): a quiz scored on the server, the package refused at deploy
when it does not hold together, and who is enrolled — from an appointment, and again from a renewal —
and who has passed, as the signed records say."""
from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest

import engine
from office_support import (TRAINING_BEFORE, answer, decide, pass_training, proposal, renewal_at_province,
                            with_training_rule)
from support import ACTORS, PIN, found_center, in_county_review, user
from web.extensions import db
from workflows import documents, facts, procedures, scenarios, training
from workflows.cases import complete_task, deploy, start_case
from workflows.errors import Conflict, InvalidInput, NotFound
from workflows.models import Case, tehran_today, utcnow


def _package() -> training.Package:
    return training.package_for(procedures.newest_tables(db.session), "manager_training")


def _rule_rows(process_key: str = "center_founding") -> list:
    """The rows of the training rule table the procedure's newest version calls."""
    procedure = procedures.catalogue(db.session).current[process_key]
    return list(next(t for t in procedure.rules if t.variable == training.RULE_VARIABLE).rows)


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


def test_a_manager_is_enrolled_from_the_appointment_and_again_from_a_renewal(app):
    center = found_center(app, ACTORS["applicant"])
    holder = user(ACTORS["applicant"])
    today, days = tehran_today(utcnow()), int(_rule_rows()[0]["days"])
    enrolled = {e.center_id: e for e in training.enrollments(db.session, None, today)}[center.id]
    assert (enrolled.since, enrolled.due_on, enrolled.when, enrolled.passed_case) == (
        today, today + timedelta(days=days), "within", None)  # as the founding's application signed the rule
    assert not enrolled.behind(today) and enrolled.behind(enrolled.due_on + timedelta(days=1))

    trained = start_case(db.session, process_key="manager_training", starter=holder, center=center)
    assert {e.center_id: e for e in training.enrollments(db.session, None, today)}[center.id].open_case == trained.id
    pass_training(trained, holder, utcnow() + timedelta(hours=1))
    passed = {e.center_id: e for e in training.enrollments(db.session, None, today)}[center.id]
    assert passed.passed_case == trained.id and passed.open_case is None

    # a renewal three days on enrolls the manager again: the earlier completion does not count for it
    later = utcnow() + timedelta(days=3)
    renewal = renewal_at_province(app, center, holder, later)
    decide(renewal, "markazi_officer", "approve", later)
    assert renewal.status == "renewed"
    again = {e.center_id: e for e in training.enrollments(db.session, None, tehran_today(later))}[center.id]
    assert again.since == tehran_today(later) and again.passed_case is None


def test_the_days_a_manager_has_are_the_rule_tables_and_a_row_that_holds_for_none_enrolls_nobody(app, tmp_path):
    # headquarters gives 30 days instead of 60: a center founded on the new version signs 30
    deploy(db.session, with_training_rule(app, tmp_path, lambda text: text.replace("<text>60</text>", "<text>30</text>")
                                  .replace("تا ۶۰ روز", "تا ۳۰ روز")), "center_founding")
    db.session.commit()
    center = found_center(app, ACTORS["applicant"])
    today = tehran_today(utcnow())
    enrolled = {e.center_id: e for e in training.enrollments(db.session, None, today)}[center.id]
    assert enrolled.due_on == today + timedelta(days=30)
    record = documents.application_record(db.session, db.session.get(Case, _founding_case(center)))
    assert json.loads(record.canonical)["rule_results"]["decided"]["manager_training"]["days"] == 30

    # a rule only for managers over 100 holds for nobody: the next center's manager is not enrolled
    (tmp_path / "again").mkdir()
    deploy(db.session, with_training_rule(app, tmp_path / "again", lambda text: text.replace(
        '<inputEntry id="InputEntry_training_within_1">\n          <text>-</text>',
        '<inputEntry id="InputEntry_training_within_1">\n          <text>&gt; 100</text>').replace(
        "مدیر کانون باید", "مدیر بالای ۱۰۰ سال باید")), "center_founding")
    db.session.commit()
    other = found_center(app, "applicant2", manager_national_id="0013542419")
    assert other.id not in {e.center_id for e in training.enrollments(db.session, None, today)}


def _founding_case(center) -> int:
    return db.session.scalar(db.select(Case.id).where(Case.center_id == center.id,
                                                      Case.process_key == "center_founding"))


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


def test_a_rule_that_wants_training_before_holds_the_appointment_until_the_proposed_manager_passes(app, tmp_path):
    center = found_center(app, ACTORS["applicant"])
    holder = user(ACTORS["applicant"])
    # headquarters edits one cell of the rule table: a new manager passes the package before the province confirms
    deploy(db.session, with_training_rule(app, tmp_path, TRAINING_BEFORE), "manager_change")
    db.session.commit()
    now = utcnow() + timedelta(hours=1)
    change = start_case(db.session, process_key="manager_change", starter=holder, center=center, now=now)
    complete_task(db.session, case=change, task_id=change.tasks[0].task_id, actor=holder, pin=PIN, now=now,
                  data=proposal(app, change, holder))
    db.session.commit()
    appointment = training.trains_before(db.session, change)
    assert (appointment.national_id, appointment.full_name, appointment.rule.when) == (
        "0013542419", "محمدحسین صالحی", "before")
    answer(change, now)
    decide(change, "arak_officer", "approve", now)
    with pytest.raises(InvalidInput) as refused:
        decide(change, "markazi_officer", "approve", now)
    assert "محمدحسین صالحی" in refused.value.errors["decision"][0] and _package().title in refused.value.errors[
        "decision"][0]
    db.session.rollback()
    assert change.status == "province_review"  # nothing signed

    # only the case's holder trains the proposed manager, once while the case is open
    with pytest.raises(NotFound):
        start_case(db.session, process_key="manager_training", starter=user("applicant2"), center=center,
                   linked_case=change)
    trained = start_case(db.session, process_key="manager_training", starter=holder, center=center,
                         linked_case=change, now=now)
    with pytest.raises(Conflict):
        start_case(db.session, process_key="manager_training", starter=holder, center=center, linked_case=change)
    pass_training(trained, holder, now + timedelta(hours=1))
    signed = facts.latest_detail(db.session, trained, "training")
    assert signed["manager"] == {"national_id": "0013542419", "full_name": "محمدحسین صالحی",
                                 "for_case": change.public_id}

    decide(change, "markazi_officer", "approve", now + timedelta(hours=2))
    assert change.status == "appointed"
    enrolled = {e.center_id: e for e in training.enrollments(db.session, None, tehran_today(now))}[center.id]
    assert (enrolled.national_id, enrolled.when, enrolled.passed_case) == ("0013542419", "before", trained.id)


def test_a_rule_for_training_before_does_not_let_another_procedure_link_to_the_case(app, tmp_path):
    center = found_center(app, ACTORS["applicant"])
    holder = user(ACTORS["applicant"])
    change = start_case(db.session, process_key="manager_change", starter=holder, center=center)
    complete_task(db.session, case=change, task_id=change.tasks[0].task_id, actor=holder, pin=PIN,
                  data=proposal(app, change, holder))
    db.session.commit()
    assert training.trains_before(db.session, change) is None  # the shipped rule says within 60 days
    with pytest.raises(Conflict):  # and the manager in office already has a training case of its own to start
        start_case(db.session, process_key="manager_training", starter=holder, center=center, linked_case=change)


@pytest.mark.parametrize("edit, problem", [
    (lambda text: text.replace('<text>"new_manager"</text>', '<text>"old_manager"</text>'),
     "manager_training: rule 1: package 'old_manager' is not a package of training.json"),
    (lambda text: text.replace('<text>"within"</text>', '<text>"soon"</text>'),
     "manager_training: rule 1: when must be \"before\" or \"within\", not 'soon'"),
    (lambda text: text.replace("<text>60</text>", "<text>0</text>"),
     "manager_training: rule 1: days must be a whole number from 1 to 3660 when within"),
    (lambda text: text.replace("<text>60</text>", "<text>90</text>"),
     "manager_training: rule 1: its message does not state 90, the days it gives"),
    (lambda text: text.replace('hitPolicy="UNIQUE"', 'hitPolicy="COLLECT"'),
     "manager_training: decides one rule: its hit policy is UNIQUE"),
])
def test_a_training_rule_that_does_not_hold_together_is_refused_at_deploy(app, tmp_path, edit, problem):
    with pytest.raises(engine.SpecError) as refused:
        deploy(db.session, with_training_rule(app, tmp_path, edit), "manager_change")
    assert problem in str(refused.value)


def test_a_founder_trains_the_first_manager_before_the_license_when_the_rule_says_so(app, tmp_path):
    deploy(db.session, with_training_rule(app, tmp_path, TRAINING_BEFORE), "center_founding")
    db.session.commit()
    founding = in_county_review(app)
    founder = user(ACTORS["applicant"])
    complete_task(db.session, case=founding, task_id=founding.tasks[0].task_id, actor=user(ACTORS["county"]),
                  data={"decision": "approve"}, pin=PIN)
    db.session.commit()
    with pytest.raises(InvalidInput):
        complete_task(db.session, case=founding, task_id=founding.tasks[0].task_id, actor=user(ACTORS["province"]),
                      data={"decision": "approve"}, pin=PIN)
    db.session.rollback()
    # the founding has no center yet: the training case is the founding's, in its county, for its manager
    trained = start_case(db.session, process_key="manager_training", starter=founder, linked_case=founding)
    assert (trained.center_id, trained.county_office_id, trained.applicant_id) == (
        None, founding.county_office_id, founder.id)
    pass_training(trained, founder, utcnow())
    appointment = training.appointment_of(db.session, founding)
    assert facts.latest_detail(db.session, trained, "training")["manager"]["national_id"] == appointment.national_id
    complete_task(db.session, case=founding, task_id=founding.tasks[0].task_id, actor=user(ACTORS["province"]),
                  data={"decision": "approve"}, pin=PIN)
    db.session.commit()
    assert founding.status == "licensed"
    enrolled = {e.center_id: e for e in training.enrollments(db.session, None, tehran_today(utcnow()))}
    assert (enrolled[founding.center_id].when, enrolled[founding.center_id].passed_case) == ("before", trained.id)


def test_the_appointing_procedures_scenarios_hold_when_headquarters_makes_training_come_first(app, tmp_path):
    folder = tmp_path / "bpmn"
    shutil.copytree(app.config["BPMN_DIR"], folder)
    source = folder / "manager_training.dmn"
    source.write_text(TRAINING_BEFORE(source.read_text("utf-8")), "utf-8")
    # the renewal's scenarios as flask deploy runs them (each on a throwaway database), and the change's approval
    # here: before each confirmation the runner trains the proposed manager, as a holder would
    assert scenarios.check_packages(folder, ["term_renewal"]) == []
    for key in ("center_founding", "manager_change"):
        deploy(db.session, folder, key)
    db.session.commit()
    run = scenarios.run_file(db.session, folder, folder / "scenarios" / "manager_change" / "approve.json",
                             app.config["STORAGE_DIR"], app.config["SYSTEM_SIGNING_PIN"], app.config["CA_KEY_PASSPHRASE"])
    db.session.commit()
    change = run.cases["main"]
    trained = db.session.scalars(db.select(Case).where(Case.linked_case_id == change.id)).one()
    assert (trained.process_key, trained.outcome, change.status) == ("manager_training", "training_passed", "appointed")
