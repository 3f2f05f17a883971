"""The yearly evaluation (``bpmn/evaluation.json``): the total a score signs, what the evidence allows,
the confirmed scores and their ranks, as the signed records say."""
from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest

import engine
from office_support import base_time, doc_bytes, licensed, national_id
from forms import to_persian_digits
from support import PIN, user
from web.extensions import db
from workflows import documents, evaluation, procedures
from workflows.cases import complete_task, deploy, start_case
from workflows.errors import InvalidInput
from workflows.models import Case, Center, Office, User, tehran_today

SCORES = {"programmes": 4, "members": 3, "youth": 5, "reporting": 4, "space": 3, "mosque": 4}


def _rubric() -> evaluation.Rubric:
    return evaluation.rubric_for(procedures.newest_tables(db.session), "center_evaluation")


def test_the_total_is_the_weighted_scores_of_100_in_tenths_rounded_half_up_with_its_level(app):
    rubric = _rubric()
    assert [c.weight for c in rubric.criteria] == [25, 20, 15, 10, 15, 15] and rubric.scale == 5

    def total(**scores):
        signed = evaluation.signed_score(rubric, {"year": 1405, "scores": {**dict.fromkeys(SCORES, 0), **scores}})
        return signed["total_tenths"], signed["level"]
    assert total(**SCORES) == (760, "good")
    assert total(**dict.fromkeys(SCORES, 5)) == (1000, "excellent")
    assert total() == (0, "weak")
    assert total(youth=1) == (30, "weak")  # 15 × 1 / 5 = 3.0
    # 25×5 + 20×5 + 15×5 + 10×5 + 15×5 + 15×2 = 455 of 500: 91.0; one point less on reporting: 89.0
    assert total(programmes=5, members=5, youth=5, reporting=5, space=5, mosque=2) == (910, "excellent")
    # a level's lowest total belongs to it: 85.0 is excellent, 84.0 good (weights × scores / 5)
    assert total(programmes=5, members=5, youth=5, reporting=5, space=5, mosque=0) == (850, "excellent")
    assert total(programmes=5, members=5, youth=5, reporting=3, space=5, mosque=1) == (840, "good")
    assert total(programmes=5, members=5, youth=5, reporting=5) == (700, "good")
    assert total(programmes=5, members=5, youth=5, reporting=4, space=0, mosque=0) == (680, "fair")


def test_half_a_tenth_rounds_up():
    rubric = evaluation.Rubric("p", "f", "year", "scores", 4, (evaluation.Criterion("a", 1, "visit"),
                                                                 evaluation.Criterion("b", 99, "visit")),
                               (("top", 0),), "", "end")
    # 1 × 1 / 4 = 0.25 → 0.3; 1 × 3 / 4 = 0.75 → 0.8; 99 × 1 / 4 = 24.75 → 24.8; 1 × 2 / 4 = 0.5
    assert evaluation.signed_score(rubric, {"year": 1, "scores": {"a": 1, "b": 0}})["total_tenths"] == 3
    assert evaluation.signed_score(rubric, {"year": 1, "scores": {"a": 3, "b": 0}})["total_tenths"] == 8
    assert evaluation.signed_score(rubric, {"year": 1, "scores": {"a": 0, "b": 1}})["total_tenths"] == 248
    assert evaluation.signed_score(rubric, {"year": 1, "scores": {"a": 2, "b": 0}})["total_tenths"] == 5


def test_equal_totals_share_a_rank_within_county_and_province_per_year():
    def e(case_id, county, province, total, year=1405):
        return evaluation.Evaluation(case_id, case_id, f"کانون {case_id}", county, f"شهرستان {county}", province,
                                     f"استان {province}", year, total, "good", tehran_today(base_time()))
    ranked = evaluation.ranked([e(1, 10, 1, 700), e(2, 10, 1, 800), e(3, 11, 1, 800), e(4, 10, 1, 800),
                                e(5, 11, 1, 500), e(6, 20, 2, 600), e(7, 10, 1, 900, year=1404)])
    by_case = {x.case_id: (x.county_rank, x.province_rank) for x in ranked}
    assert by_case == {2: (1, 1), 4: (1, 1), 3: (1, 1), 1: (3, 4), 5: (2, 5), 6: (1, 1), 7: (1, 1)}
    assert [x.year for x in ranked] == [1405] * 6 + [1404]  # newest year first, best first within it
    assert [x.case_id for x in ranked][:3] == [2, 3, 4]


@pytest.mark.parametrize("change, problem", [
    (lambda r: r["criteria"][0].update(weight=30), "evaluation.center_evaluation.criteria: the weights add up to 105, not 100"),
    (lambda r: r["criteria"][1].update(evidence="rumour"),
     "evaluation.center_evaluation.criteria.1.evidence: one of reports, visit"),
    (lambda r: r.update(levels=[{"code": "good", "min": 50}, {"code": "top", "min": 80}, {"code": "weak", "min": 0}]),
     "evaluation.center_evaluation.levels: from the highest minimum down"),
    (lambda r: r["criteria"].append({"key": "safety", "weight": 0, "evidence": "visit"}),
     "evaluation.center_evaluation.criteria.6.weight: a whole number above 0"),
    (lambda r: r["criteria"].insert(0, r["criteria"].pop()),
     "the section 'scores' of 'evaluation_score' must have one field per criterion, in order: mosque, programmes"),
    (lambda r: r.update(scale=10), "evaluation_score.scores.programmes must be a required whole number from 0 to 10"),
    (lambda r: r.update(form="no_such_form"), "evaluation.center_evaluation.form: 'no_such_form' is not declared"),
])
def test_a_rubric_that_does_not_fit_is_refused_at_deploy_with_what_is_wrong(app, tmp_path, change, problem):
    folder = tmp_path / "bpmn"
    shutil.copytree(app.config["BPMN_DIR"], folder, ignore=shutil.ignore_patterns("scenarios"))
    table = json.loads((folder / "evaluation.json").read_text("utf-8"))
    change(table["center_evaluation"])
    (folder / "evaluation.json").write_text(json.dumps(table), "utf-8")
    with pytest.raises(engine.SpecError) as refused:
        deploy(db.session, folder, "center_evaluation")
    assert problem in str(refused.value)


def _score(app, center: Center, now, *, year: int, scores: dict, officer: str = "arak_officer") -> Case:
    expert = user(officer)
    case = start_case(db.session, process_key="center_evaluation", starter=expert, center=center, now=now)
    photo = documents.store_document(db.session, app.config["STORAGE_DIR"], case=case, user=expert,
                                     field="documents.visit_photo", filename="visit.png", content=doc_bytes(case.id))
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=expert, pin=PIN, now=now, data={
        "year": year, "visited_on": tehran_today(now).isoformat(), "scores": scores,
        "findings": "کانون فعال است و برنامه‌های منظم دارد؛ فضا کوچک است.",
        "documents": {"visit_photo": photo.sha256}})
    return case


def _confirm(case: Case, officer: str, now) -> None:
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(officer), pin=PIN, now=now,
                  data={"decision": "approve"})


def test_confirmed_scores_are_read_from_the_signed_records_and_ranked(app):
    now = base_time()
    arak = dict(county="markazi-arak", county_officer="arak_officer", province_officer="markazi_officer", now=now)
    first = licensed(app, "applicant1", mosque="مسجد ارزیابی یک", manager_id=national_id(801), **arak)
    second = licensed(app, "applicant2", mosque="مسجد ارزیابی دو", manager_id=national_id(802), seed=2, **arak)
    unconfirmed = licensed(app, "applicant1", mosque="مسجد ارزیابی سه", manager_id=national_id(803), seed=3, **arak)
    year = evaluation.year_of(tehran_today(now))
    visit_only = {**dict.fromkeys(SCORES, 0), "space": 5, "mosque": 4}  # no reports this year: visit criteria only
    a = _score(app, first, now + timedelta(hours=4), year=year, scores=visit_only)
    _confirm(a, "markazi_officer", now + timedelta(hours=5))
    b = _score(app, second, now + timedelta(hours=4), year=year, scores={**visit_only, "mosque": 5})
    _confirm(b, "markazi_officer", now + timedelta(hours=5))
    waiting = _score(app, unconfirmed, now + timedelta(hours=4), year=year, scores=visit_only)
    db.session.commit()

    arak_id = db.session.query(Office.id).filter(Office.code == "markazi-arak").scalar()
    found = [e for e in evaluation.confirmed_evaluations(db.session, [arak_id], year)
             if e.center_id in (first.id, second.id, unconfirmed.id)]
    assert [(e.center_id, e.total_tenths, e.level, e.county_rank) for e in found] == [
        (second.id, 300, "weak", 1), (first.id, 270, "weak", 2)]
    assert found[0].center_name == second.name and found[0].county_name == "اراک"
    assert found[0].province_name == "استان مرکزی" and found[0].confirmed_on == tehran_today(now + timedelta(hours=5))
    assert evaluation.confirmed_evaluations(db.session, [arak_id], year - 1) == []

    # rows edited in the database: a waiting case marked confirmed is not listed, a renamed center keeps its signed name
    db.session.get(Case, waiting.id).outcome = "evaluation_confirmed"
    db.session.get(Center, second.id).name = "نام ساختگی"
    db.session.commit()
    again = {e.center_id: e for e in evaluation.confirmed_evaluations(db.session, None, year)}
    assert unconfirmed.id not in again and again[second.id].center_name == found[0].center_name


def test_criteria_scored_from_reports_need_a_report_of_the_year_and_the_year_must_have_begun(app):
    now = base_time()
    center = licensed(app, "applicant1", county="markazi-arak", mosque="مسجد ارزیابی چهار", manager_id=national_id(804),
                      now=now, county_officer="arak_officer", province_officer="markazi_officer")
    year = evaluation.year_of(tehran_today(now))
    with pytest.raises(InvalidInput) as refused:
        _score(app, center, now + timedelta(hours=4), year=year, scores=SCORES)
    assert set(refused.value.errors) == {"scores.programmes", "scores.members", "scores.youth", "scores.reporting"}
    assert "هیچ گزارش فعالیتی امضا نکرده است" in refused.value.errors["scores.youth"][0]
    db.session.rollback()
    with pytest.raises(InvalidInput) as future:
        _score(app, db.session.get(Center, center.id), now + timedelta(hours=4), year=year + 1,
               scores=dict.fromkeys(SCORES, 0))
    assert list(future.value.errors) == ["year"]
    db.session.rollback()
    holder = db.session.get(User, center.applicant_id)
    report = start_case(db.session, process_key="activity_report", starter=holder,
                        center=db.session.get(Center, center.id), now=now + timedelta(hours=4))
    bands = {f"{g}_{b}": 0 for g in ("male", "female") for b in ("under_12", "12_17", "18_35", "over_35")}
    complete_task(db.session, case=report, task_id=report.tasks[0].task_id, actor=holder, pin=PIN,
                  now=now + timedelta(hours=4), data={"year": year, "season": "1", "participants": bands})
    case = _score(app, db.session.get(Center, center.id), now + timedelta(hours=5), year=year, scores=SCORES)
    assert case.status == "province_confirm"  # a report signed, even before the county acknowledged it


def test_a_center_is_scored_once_a_year_and_not_for_a_year_before_its_license(app):
    now = base_time()
    center = licensed(app, "applicant1", county="markazi-arak", mosque="مسجد ارزیابی پنج", manager_id=national_id(805),
                      now=now, county_officer="arak_officer", province_officer="markazi_officer")
    year = evaluation.year_of(tehran_today(now))
    visit_only = {**dict.fromkeys(SCORES, 0), "space": 3}
    first = _score(app, center, now + timedelta(hours=4), year=year, scores=visit_only)
    _confirm(first, "markazi_officer", now + timedelta(hours=4, minutes=30))
    db.session.commit()
    for asked, message in ((year, f"#{to_persian_digits(str(first.id))}"), (year - 1, "هنوز مجوز نداشت")):
        with pytest.raises(InvalidInput) as refused:
            _score(app, db.session.get(Center, center.id), now + timedelta(hours=5), year=asked, scores=visit_only)
        assert list(refused.value.errors) == ["year"] and message in refused.value.errors["year"][0]
        db.session.rollback()
