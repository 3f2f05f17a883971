"""Running cases move to a newer version in bulk; old engine states are upgraded on load."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

import engine
from support import (
    ACTORS, PIN, application_fixture, deploy_changed_founding, in_county_review, login, submitted_founding,
    upload_documents, user,
)
from web.extensions import db
from workflows import moves
from workflows.cases import case_records, complete_task, deploy, start_case
from workflows.errors import Forbidden, StalePlan
from workflows.models import Case, utcnow
from workflows.verification import verify_case


def _decide(case: Case, actor: str, decision: str = "approve") -> None:
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(ACTORS[actor]),
                  data={"decision": decision}, pin=PIN)
    db.session.commit()


def _at_province(app) -> Case:
    case = in_county_review(app)
    _decide(case, "county")
    assert case.status == "province_review"
    return case


def test_a_dry_run_lists_who_moves_and_the_real_run_moves_them_with_a_signed_record(app, client, tmp_path):
    draft = start_case(db.session, process_key="center_founding", starter=user(ACTORS["applicant"]))
    db.session.commit()
    waiting_answers = submitted_founding(app)
    at_county = in_county_review(app)
    at_province = _at_province(app)
    old = at_county.spec_version
    new = deploy_changed_founding(app, tmp_path, rename_province_review=True)

    plan = moves.plan_moves(db.session, "center_founding")
    assert plan.to_version == new
    by_case = {m.case_id: m for m in plan.moves}
    assert set(by_case) == {draft.id, waiting_answers.id, at_county.id, at_province.id}
    assert (by_case[draft.id].status, by_case[draft.id].waiting) == ("draft", ("submit_application",))
    assert (by_case[waiting_answers.id].status, by_case[waiting_answers.id].waiting) == ("inquiries", ())
    assert (by_case[at_county.id].status, by_case[at_county.id].waiting) == ("county_review", ("county_review",))
    stuck = by_case[at_province.id]
    assert not stuck.movable and stuck.code == "removed" and "بررسی و تصمیم استان" in stuck.reason
    assert all(db.session.get(Case, i).spec_version == old for i in by_case)  # a dry run changes nothing

    with pytest.raises(Forbidden):
        moves.move_cases(db.session, user(ACTORS["county"]), PIN, "center_founding", now=utcnow())
    report = moves.move_cases(db.session, user("admin"), PIN, "center_founding", now=utcnow())
    db.session.commit()
    assert {m.case_id for m in report.moved} == {draft.id, waiting_answers.id, at_county.id}
    assert [m.case_id for m in report.stuck] == [at_province.id]
    for case in (draft, waiting_answers, at_county):
        db.session.refresh(case)
        assert case.spec_version == new and case.serializer_version == engine.SERIALIZER_VERSION
        record = case_records(db.session, case)[-1]
        body = json.loads(record.canonical)
        assert record.action == "migrate_version" and body["actor"]["username"] == "admin"
        assert body["details"]["from"] == old and body["details"]["to"] == new and body["spec_version"] == new
        assert verify_case(db.session, case).ok
    db.session.refresh(at_province)
    assert at_province.spec_version == old and case_records(db.session, at_province)[-1].action != "migrate_version"
    assert moves.plan_moves(db.session, "center_founding").moves == (stuck,)  # the moved ones are done

    # the moved cases go on to their end on the new version; the one that stayed, on its own
    data = application_fixture()
    data["documents"] = upload_documents(app, draft)
    complete_task(db.session, case=draft, task_id=draft.tasks[0].task_id, actor=user(ACTORS["applicant"]),
                  data=data, pin=PIN)
    db.session.commit()
    assert draft.status == "inquiries"
    _decide(at_county, "county")
    assert at_county.status == "province_review" and at_county.tasks[0].name == "province_decision"
    _decide(at_county, "province")
    _decide(at_province, "province")
    assert at_county.status == at_province.status == "licensed"
    assert verify_case(db.session, at_county).ok and verify_case(db.session, at_province).ok

    login(client, ACTORS["applicant"])
    page = client.get(f"/cases/{waiting_answers.id}").get_data(as_text=True)
    assert "انتقال به نسخه تازه فرایند" in page


def test_a_relabelled_status_moves_every_running_case_through_the_cli(app, runner, tmp_path):
    at_county = in_county_review(app)
    other = in_county_review(app)
    new = deploy_changed_founding(app, tmp_path)

    dry = runner.invoke(args=["move-cases", "center_founding", "--admin", "admin", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"case {at_county.id}:" in dry.output and "would move: status county_review (نزد کارشناس شهرستان)" in dry.output
    assert "2 case(s) would move, 0 cannot move" in dry.output
    db.session.expire_all()
    assert db.session.get(Case, at_county.id).spec_version != new

    refused = runner.invoke(args=["move-cases", "center_founding", "--admin", ACTORS["county"], "--pin", PIN])
    assert refused.exit_code != 0 and "Forbidden" in refused.output
    moved = runner.invoke(args=["move-cases", "center_founding", "--admin", "admin", "--to", new,
                                "--case", str(at_county.id)], input=f"{PIN}\n")
    assert moved.exit_code == 0, moved.output
    assert "1 case(s) moved, 0 cannot move" in moved.output
    db.session.expire_all()
    assert db.session.get(Case, at_county.id).spec_version == new
    assert db.session.get(Case, other.id).spec_version != new
    verified = runner.invoke(args=["verify-all", "--quiet"])
    assert verified.exit_code == 0, verified.output


def test_a_state_written_by_an_older_spiff_serializer_is_upgraded_and_saved_in_the_current_format(app):
    case = in_county_review(app)
    state = json.loads(case.state)
    state["serializer_version"] = "spiff-1.4+nospec"
    case.state, case.serializer_version = json.dumps(state), "spiff-1.4+nospec"
    db.session.commit()
    _decide(case, "county")
    assert case.status == "province_review" and case.serializer_version == engine.SERIALIZER_VERSION
    assert json.loads(case.state)["serializer_version"] == engine.SERIALIZER_VERSION
    newer = json.loads(case.state)
    newer["serializer_version"] = "spiff-9.0+nospec"
    with pytest.raises(engine.StateError, match="upgrades"):
        engine.Instance.load(engine.spec_from_sources("center_founding", engine.read_sources(
            app.config["BPMN_DIR"], "center_founding")), json.dumps(newer))
    assert db.session.scalar(select(Case.id).where(Case.id == case.id)) == case.id


def test_a_move_refuses_a_plan_a_case_changed_since(app, tmp_path):
    first, second = in_county_review(app), in_county_review(app)
    old = first.spec_version
    deploy_changed_founding(app, tmp_path)
    plan = moves.plan_moves(db.session, "center_founding")
    seen = {m.case_id: m.lock_version for m in plan.moves}
    assert set(seen) == {first.id, second.id} and all(m.movable for m in plan.moves)
    _decide(first, "county")  # the county decides after the plan was read

    with pytest.raises(StalePlan) as refused:
        moves.move_cases(db.session, user("admin"), PIN, "center_founding", now=utcnow(), seen=seen)
    assert refused.value.case_ids == [first.id]
    db.session.rollback()
    assert {db.session.get(Case, c.id).spec_version for c in (first, second)} == {old}
    # a case named in the plan that no longer runs on another version is stale too
    with pytest.raises(StalePlan):
        moves.move_cases(db.session, user("admin"), PIN, "center_founding", None, [second.id], now=utcnow(),
                         seen={second.id: seen[second.id], 10**6: 1})
