"""A county expert scores a center through the pages against the rubric of ``bpmn/evaluation.json``,
the province confirms it, and the score shows with its ranks on /evaluations, in its CSV and on the
center's page, for the offices whose center it is."""
from __future__ import annotations

import io
import json

from forms import jalali_iso, to_persian_digits
from office_support import doc_bytes
from support import ACTORS, found_center, login
from test_web_procedures import post_task, start_from_center
from web.certificate import certificate_context
from web.extensions import db
from workflows import evaluation
from workflows.models import Case, Record, tehran_today, utcnow


def _scorecard(year: int, **scores) -> dict:
    form = {"year": to_persian_digits(str(year)), "visited_on": to_persian_digits(jalali_iso(tehran_today(utcnow()))),
            "findings": "کانون فعال است؛ فضا کوچک و بی‌کپسول آتش‌نشانی است و امام جماعت همراهی می‌کند.",
            "file.documents.visit_photo": (io.BytesIO(doc_bytes(7)), "visit.png")}
    for key in ("programmes", "members", "youth", "reporting", "space", "mosque"):
        form[f"scores.{key}"] = to_persian_digits(str(scores.get(key, 0)))
    return form


def test_a_county_expert_scores_a_center_and_the_province_confirms_it(app, client):
    center = found_center(app, ACTORS["applicant"])
    year = evaluation.year_of(tehran_today(utcnow()))
    login(client, "arak_officer")
    assert 'id="start-center_evaluation"' in client.get(f"/centers/{center.id}").get_data(as_text=True)
    case_id = start_from_center(client, center.id, "center_evaluation")
    task_page = client.get(f"/cases/{case_id}/tasks/{db.session.get(Case, case_id).tasks[0].task_id}")
    desk = task_page.get_data(as_text=True)
    assert 'id="desk-evaluation"' in desk and 'id="evaluation-no-reports"' in desk
    assert "برنامه‌های فرهنگی، هنری و قرآنی" in desk and "۲۵" in desk.split('id="criterion-programmes"')[1][:400]

    refused = post_task(client, case_id, _scorecard(year, programmes=4, space=3))
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and f"کانون برای سال {to_persian_digits(str(year))} هیچ گزارش فعالیتی" in page
    assert db.session.query(Record).filter(Record.case_id == case_id).count() == 0
    assert post_task(client, case_id, _scorecard(year, space=4, mosque=5)).status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case_id).status == "province_confirm"
    signed = json.loads(db.session.query(Record).filter(Record.case_id == case_id).one().canonical)
    assert signed["details"]["evaluation"]["total_tenths"] == 270  # (15 × 4 + 15 × 5) / 5 = 27

    client.post("/logout")
    login(client, "markazi_officer")
    desk = client.get(f"/cases/{case_id}/tasks/{db.session.get(Case, case_id).tasks[0].task_id}").get_data(as_text=True)
    assert "نمره کل: <strong>۲۷</strong> از ۱۰۰ · نیازمند پشتیبانی" in desk
    refused = post_task(client, case_id, {"decision": "return"})
    assert refused.status_code == 422 and "دلیل را دست‌کم در ۵ نویسه" in refused.get_data(as_text=True)
    assert post_task(client, case_id, {"decision": "approve"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case_id).outcome == "evaluation_confirmed"

    with app.test_request_context():
        context = certificate_context(db.session.get(Case, case_id))
    assert context["evaluation"] == {"year": year, "total": "۲۷", "level": "نیازمند پشتیبانی"}
    listing = client.get("/evaluations").get_data(as_text=True)
    row = listing.split(f'id="evaluation-{center.id}"')[1].split("</tr>")[0]
    assert "۲۷" in row and "نیازمند پشتیبانی" in row and 'id="county-' in listing
    exported = client.get(f"/evaluations.csv?year={year}").get_data(as_text=True)
    line = next(line for line in exported.splitlines() if f",{center.id}," in line)
    assert ",27.0," in line and str(year) in line
    client.post("/logout")

    login(client, "arak_officer")  # its county sees it, and the center's page keeps the history
    assert f'id="evaluation-{center.id}"' in client.get("/evaluations").get_data(as_text=True)
    history = client.get(f"/centers/{center.id}").get_data(as_text=True).split('id="evaluation-history"')[1]
    assert f'id="evaluation-{year}"' in history and "۲۷" in history
    client.post("/logout")
    for other in ("saveh_officer", "isfahan_officer"):  # another county of the province, another province
        login(client, other)
        assert f'id="evaluation-{center.id}"' not in client.get("/evaluations").get_data(as_text=True)
        client.post("/logout")
    login(client, ACTORS["applicant"])
    assert client.get("/evaluations").status_code == 403
    assert 'id="evaluation-history"' in client.get(f"/centers/{center.id}").get_data(as_text=True)


def test_a_bad_year_or_county_on_the_evaluations_page_is_a_persian_message(app, client):
    login(client, "markazi_officer")
    for query, message in (("year=abc", "این مقدار باید عددی صحیح باشد."),
                           ("year=99999999999", "این مقدار باید عددی صحیح باشد."), ("county=no-such-county", "")):
        response = client.get(f"/evaluations?{query}")
        errors = response.get_data(as_text=True).split('id="filter-errors"')
        assert response.status_code == 422 and len(errors) == 2 and message in errors[1], query
    assert client.get("/evaluations.csv?year=abc").status_code == 422
