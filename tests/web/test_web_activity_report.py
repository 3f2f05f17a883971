"""A licensed center files its season's report through the pages — programmes, participants by age band
and gender, members with national IDs — and the county acknowledges it (``bpmn/activity_report.bpmn``)."""
from __future__ import annotations

import json

from office_support import national_id
from support import ACTORS, found_center, login
from test_web_procedures import post_task, start_from_center
from web.extensions import db
from workflows.models import Case, Record


def _report(members: list[str]) -> dict:
    form = {"year": "۱۴۰۵", "season": "3", "programmes.0.title": "کلاس قرآن نوجوانان", "programmes.0.kind": "class",
            "programmes.0.held_on": "1405/08/20", "programmes.0.participants": "۲۴"}
    for band in ("under_12", "12_17", "18_35", "over_35"):
        form[f"participants.male_{band}"] = form[f"participants.female_{band}"] = "5"
    for number, code in enumerate(members):
        form.update({f"members.{number}.full_name": f"عضو شماره {number + 1}", f"members.{number}.national_id": code,
                     f"members.{number}.gender": "female", f"members.{number}.birth_year": "1390"})
    return form


def test_the_holder_files_a_season_and_a_member_twice_or_a_wrong_id_is_refused_in_persian(app, client):
    center = found_center(app, ACTORS["applicant"])
    login(client, ACTORS["applicant"])
    assert 'id="start-activity_report"' in client.get(f"/centers/{center.id}").get_data(as_text=True)
    case_id = start_from_center(client, center.id, "activity_report")
    first, second = national_id(611), national_id(612)
    wrong = first[:-1] + str((int(first[-1]) + 1) % 10)
    for members, message in (([first, wrong], "کد ملی نامعتبر است."), ([first, first], "این مقدار در فهرست تکراری است.")):
        refused = post_task(client, case_id, _report(members))
        assert refused.status_code == 422 and message in refused.get_data(as_text=True), members
    assert db.session.query(Record).filter(Record.case_id == case_id).count() == 0
    assert post_task(client, case_id, _report([first, second])).status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case_id).status == "county_acknowledge"
    signed = json.loads(db.session.query(Record).filter(Record.case_id == case_id).one().form_data)
    assert signed["year"] == 1405 and [m["national_id"] for m in signed["members"]] == [first, second]
    assert signed["participants"]["female_12_17"] == 5 and signed["programmes"][0]["participants"] == 24

    client.post("/logout")
    login(client, "arak_officer")
    assert post_task(client, case_id, {"decision": "approve"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case_id).status == "acknowledged"

    client.post("/logout")
    login(client, ACTORS["applicant"])
    again = start_from_center(client, center.id, "activity_report")
    refused = post_task(client, again, _report([first, second]))
    page = refused.get_data(as_text=True)
    persian_id = str(case_id).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    assert refused.status_code == 422 and f"کانون همین را پیش‌تر در پرونده #{persian_id} فرستاده است" in page
    assert post_task(client, again, {**_report([first, second]), "season": "4"}).status_code == 302
