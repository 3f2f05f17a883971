"""A center's holder takes the new manager's training through the pages (``bpmn/training.json``): reads
the modules and their media, fails and passes their quizzes, signs the completion once every module is
passed and downloads its certificate; offices see the progress but take no quiz; the county sees a
manager who is behind."""
from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from office_support import (TRAINING_BEFORE, answer, decide, pass_training, proposal, renewal_at_province, tokens_for,
                            with_training_rule)
from support import ACTORS, PIN, found_center, login, user
from test_web_procedures import post_task, start_from_center
from web.certificate import certificate_context
from web.extensions import db
import web.scope
from workflows import facts, procedures, training
from workflows.cases import complete_task, deploy
from workflows.models import Case, Record, tehran_today, utcnow


def _package() -> training.Package:
    return training.package_for(procedures.newest_tables(db.session), "manager_training")


def _answers(module: training.Module, right: bool) -> dict:
    return {f"q.{q.key}": q.answer if right else next(c for c, _ in q.choices if c != q.answer)
            for q in module.questions}


def test_the_holder_passes_the_modules_signs_the_completion_and_gets_the_certificate(app, client):
    center = found_center(app, ACTORS["applicant"])
    package = _package()
    login(client, ACTORS["applicant"])
    assert 'id="start-manager_training"' in client.get(f"/centers/{center.id}").get_data(as_text=True)
    case_id = start_from_center(client, center.id, "manager_training")
    task_page = client.get(f"/cases/{case_id}/tasks/{db.session.get(Case, case_id).tasks[0].task_id}")
    page = task_page.get_data(as_text=True)
    assert 'id="training-modules"' in page and all(m.title in page for m in package.modules)

    refused = post_task(client, case_id, {"declaration": "taken_by_manager"})
    assert refused.status_code == 422 and "پیش از امضای پایان دوره، آزمون این پودمان‌ها را بگذرانید" in \
        refused.get_data(as_text=True)
    assert db.session.query(Record).filter(Record.case_id == case_id).count() == 0

    first = package.modules[0]
    module_page = client.get(f"/cases/{case_id}/training/{first.key}").get_data(as_text=True)
    assert first.body[0] in module_page and 'id="quiz-form"' in module_page
    assert all(f'value="{q.answer}"' in module_page for q in first.questions)  # the choices, not which is right
    media = client.get(f"/training/media/{first.media[0][1]}")
    assert media.status_code == 200 and media.mimetype == "image/png"
    assert hashlib.sha256(media.get_data()).hexdigest() == first.media[0][1]
    assert client.get(f"/training/media/{'0' * 64}").status_code == 404

    failed = client.post(f"/cases/{case_id}/training/{first.key}", data=_answers(first, right=False))
    text = failed.get_data(as_text=True)
    assert failed.status_code == 200 and "۰ پاسخ از ۳ درست بود" in text and 'class="question wrong"' in text
    passed = client.post(f"/cases/{case_id}/training/{first.key}", data=_answers(first, right=True))
    assert "این پودمان گذرانده شد" in passed.get_data(as_text=True)
    for module in package.modules[1:]:
        client.post(f"/cases/{case_id}/training/{module.key}", data=_answers(module, right=True))
    progress = training.progress(db.session, db.session.get(Case, case_id))
    assert progress[first.key].attempts == 2 and all(row.passed_at for row in progress.values())

    client.post("/logout")  # an office in the county sees the progress, takes no quiz
    login(client, "arak_officer")
    seen = client.get(f"/cases/{case_id}/training/{first.key}").get_data(as_text=True)
    assert 'id="quiz-closed"' in seen and 'id="quiz-form"' not in seen
    assert client.post(f"/cases/{case_id}/training/{first.key}", data=_answers(first, True)).status_code == 403
    client.post("/logout")
    login(client, "kashan_officer")
    assert client.get(f"/cases/{case_id}/training/{first.key}").status_code == 404
    client.post("/logout")

    login(client, ACTORS["applicant"])
    assert post_task(client, case_id, {"declaration": "taken_by_manager"}).status_code == 302
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    assert case.outcome == "training_passed"
    signed = json.loads(db.session.query(Record).filter(Record.case_id == case_id).one().canonical)["details"]["training"]
    assert signed["package"] == "new_manager" and signed["version"] == package.version
    assert signed["modules"][first.key] == {"correct": 3, "of": 3, "attempts": 2,
                                            "passed_on": tehran_today(utcnow()).isoformat()}
    case_page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="training-passed"' in case_page and signed["manager"]["full_name"] in case_page
    certificate = client.get(f"/cases/{case_id}/certificate.pdf")
    assert certificate.status_code == 200 and certificate.get_data().startswith(b"%PDF")
    with app.test_request_context():
        context = certificate_context(db.session.get(Case, case_id))
    assert context["title"] == "گواهی پایان دوره آموزش مدیر کانون"
    assert context["training"]["title"] == package.title and context["training"]["manager"] == signed["manager"]
    assert [(m["title"], m["correct"], m["of"]) for m in context["training"]["modules"]] == [
        (m.title, len(m.questions), len(m.questions)) for m in package.modules]
    # passed: the quiz is closed, and the center's page and the province's monitoring count it
    assert client.post(f"/cases/{case_id}/training/{first.key}", data=_answers(first, True)).status_code == 403
    assert f'href="/cases/{case_id}"' in client.get(f"/centers/{center.id}").get_data(as_text=True).split(
        'id="manager-training"')[1]
    client.post("/logout")
    login(client, "markazi_officer")
    exported = client.get("/monitoring/training.csv?county=markazi-arak").get_data(as_text=True).splitlines()
    assert exported[1].split(",")[2:] == ["1", "1", "0", "1.0"]


def test_a_manager_behind_on_training_is_listed_for_the_county(app, client, monkeypatch):
    center = found_center(app, ACTORS["applicant"])
    due = {e.center_id: e for e in training.enrollments(db.session, None, tehran_today(utcnow()))}[center.id].due_on
    later = due + timedelta(days=1)
    monkeypatch.setattr(web.scope, "tehran_today", lambda _moment: later)
    enrolled = {e.center_id: e for e in training.enrollments(db.session, None, later)}
    assert enrolled[center.id].behind(later) and not enrolled[center.id].behind(later - timedelta(days=2))
    login(client, "arak_officer")
    inbox = client.get("/inbox").get_data(as_text=True)
    assert 'id="training-behind"' in inbox and f'id="behind-{center.id}"' in inbox
    client.post("/logout")
    login(client, "saveh_officer")
    assert f'id="behind-{center.id}"' not in client.get("/inbox").get_data(as_text=True)


def test_the_case_page_says_the_training_rule_and_the_holder_trains_the_proposed_manager_before_it_is_confirmed(
        app, client, tmp_path):
    center = found_center(app, ACTORS["applicant"])
    holder = user(ACTORS["applicant"])
    deploy(db.session, with_training_rule(app, tmp_path, TRAINING_BEFORE), "manager_change")
    db.session.commit()
    login(client, ACTORS["applicant"])
    case_id = start_from_center(client, center.id, "manager_change")
    change = db.session.get(Case, case_id)
    complete_task(db.session, case=change, task_id=change.tasks[0].task_id, actor=holder, pin=PIN,
                  data=proposal(app, change, holder))
    db.session.commit()
    now = utcnow()
    answer(change, now)
    decide(change, "arak_officer", "approve", now)

    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="training-rule"' in page and "مدیر پیشنهادی باید پیش از تأیید انتصاب" in page
    assert 'id="training-rule-missing"' in page and 'id="start-proposed-training"' in page
    client.post("/logout")
    login(client, "markazi_officer")  # the province sees the rule, the row that held, and cannot confirm yet
    desk = client.get(f"/cases/{case_id}/tasks/{change.tasks[0].task_id}").get_data(as_text=True)
    assert 'class="rule-decided"' in desk and "مدیر پیشنهادی باید پیش از تأیید انتصاب" in desk
    refused = post_task(client, case_id, {"decision": "approve"})
    assert refused.status_code == 422 and "هنوز دوره «آموزش مدیران تازه‌منصوب کانون» را نگذرانده است" in \
        refused.get_data(as_text=True)
    assert 'id="start-proposed-training"' not in client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert client.post(f"/cases/{case_id}/training").status_code == 403  # only the holder starts it
    client.post("/logout")

    login(client, ACTORS["applicant"])
    started = client.post(f"/cases/{case_id}/training")
    assert started.status_code == 302
    trained = db.session.get(Case, int(started.headers["Location"].rsplit("/", 1)[1]))
    assert (trained.process_key, trained.linked_case_id, trained.center_id) == ("manager_training", case_id, center.id)
    assert 'id="training-rule-open"' in client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "این دوره برای محمدحسین صالحی است (مدیر پیشنهادی" in client.get(f"/cases/{trained.id}").get_data(as_text=True)
    assert client.post(f"/cases/{case_id}/training").status_code == 409  # one open training for the case
    pass_training(trained, holder, utcnow())
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="training-rule-passed"' in page and f"/cases/{trained.id}" in page
    certificate = client.get(f"/cases/{trained.id}").get_data(as_text=True)
    assert "دوره برای محمدحسین صالحی گذرانده و امضا شد" in certificate
    client.post("/logout")

    login(client, "markazi_officer")
    assert post_task(client, case_id, {"decision": "approve"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case_id).status == "appointed"


def test_through_the_api_the_holder_starts_the_proposed_managers_training_and_the_province_is_refused_by_field(
        app, client, tmp_path):
    center = found_center(app, ACTORS["applicant"])
    other = found_center(app, "applicant2", manager_national_id="0499370899")
    holder = user(ACTORS["applicant"])
    deploy(db.session, with_training_rule(app, tmp_path, TRAINING_BEFORE), "term_renewal")
    db.session.commit()
    now = utcnow()
    renewal = renewal_at_province(app, center, holder, now)
    headers = tokens_for(ACTORS["applicant"], "markazi_officer")

    refused = client.post(f"/api/v1/cases/{renewal.id}/tasks/{renewal.tasks[0].task_id}/complete",
                          json={"data": {"decision": "approve"}, "pin": PIN}, headers=headers["markazi_officer"])
    assert refused.status_code == 422 and "نگذرانده است" in refused.get_json()["errors"]["decision"][0]
    mismatched = client.post("/api/v1/cases", json={"process_key": "manager_training", "linked_case_id": renewal.id,
                                                    "center_id": other.id}, headers=headers[ACTORS["applicant"]])
    assert mismatched.status_code == 404  # another holder's center
    started = client.post("/api/v1/cases", json={"process_key": "manager_training", "linked_case_id": renewal.id},
                          headers=headers[ACTORS["applicant"]])
    assert started.status_code == 201 and started.get_json()["linked_case_id"] == renewal.id
    trained = db.session.get(Case, started.get_json()["id"])
    pass_training(trained, holder, utcnow())
    assert facts.latest_detail(db.session, trained, "training")["manager"]["for_case"] == renewal.public_id
    db.session.expire_all()
    confirmed = client.post(f"/api/v1/cases/{renewal.id}/tasks/{renewal.tasks[0].task_id}/complete",
                            json={"data": {"decision": "approve"}, "pin": PIN}, headers=headers["markazi_officer"])
    assert confirmed.status_code == 200, confirmed.get_json()
    assert db.session.get(Case, renewal.id).status == "renewed"


def test_a_module_quiz_through_the_api_scores_on_the_server_and_never_sends_the_answers(app, client):
    center = found_center(app, ACTORS["applicant"])
    headers = tokens_for(ACTORS["applicant"], "arak_officer")
    started = client.post("/api/v1/cases", json={"process_key": "manager_training", "center_id": center.id},
                          headers=headers[ACTORS["applicant"]])
    case_id = started.get_json()["id"]
    read = client.get(f"/api/v1/cases/{case_id}/training", headers=headers[ACTORS["applicant"]])
    body = read.get_json()
    package = _package()
    assert read.status_code == 200 and body["may_take"] and body["trainee"]["full_name"] == "فاطمه محمدی‌نیا"
    assert [m["key"] for m in body["modules"]] == [m.key for m in package.modules]
    assert '"answer"' not in read.get_data(as_text=True)  # the questions and choices, never which is right
    first = package.modules[0]
    assert client.get(body["modules"][0]["media"][0]["url"], headers=headers[ACTORS["applicant"]]).status_code == 200

    url = f"/api/v1/cases/{case_id}/training/{first.key}"
    unknown = client.post(url, json={"answers": {"nope": "x", first.questions[0].key: 3}},
                          headers=headers[ACTORS["applicant"]])
    assert unknown.status_code == 422 and set(unknown.get_json()["errors"]) == {"answers.nope",
                                                                                f"answers.{first.questions[0].key}"}
    one_right = {first.questions[0].key: first.questions[0].answer}
    attempt = client.post(url, json={"answers": one_right}, headers=headers[ACTORS["applicant"]]).get_json()
    assert (attempt["correct"], attempt["total"], attempt["passed"]) == (1, len(first.questions), False)
    assert attempt["wrong"] == [q.key for q in first.questions[1:]]
    passed = client.post(url, json={"answers": {q.key: q.answer for q in first.questions}},
                         headers=headers[ACTORS["applicant"]]).get_json()
    assert passed["passed"] and passed["wrong"] == []
    progress = client.get(f"/api/v1/cases/{case_id}/training", headers=headers[ACTORS["applicant"]]).get_json()
    assert progress["modules"][0]["progress"]["attempts"] == 2 and progress["modules"][0]["progress"]["passed"]

    office = client.get(f"/api/v1/cases/{case_id}/training", headers=headers["arak_officer"]).get_json()
    assert not office["may_take"]
    assert client.post(url, json={"answers": one_right}, headers=headers["arak_officer"]).status_code == 403
    assert client.post(f"/api/v1/cases/{case_id}/training/nowhere", json={"answers": {}},
                       headers=headers[ACTORS["applicant"]]).status_code == 404
    founding = db.session.scalar(db.select(Case.id).where(Case.center_id == center.id,
                                                          Case.process_key == "center_founding"))
    assert client.get(f"/api/v1/cases/{founding}/training", headers=headers[ACTORS["applicant"]]).status_code == 404
