"""The JSON API: same validation, errors keyed by field, same signatures, clear 4xx answers."""
from __future__ import annotations

import io
import json
import re

import pytest
from sqlalchemy import select

from support import (
    PASSWORD, PIN, answer_all, application_fixture, pdf_bytes, png_bytes, schedule_visit, submitted_founding,
    visit_fixture,
)
from workflows.demo import DEMO_ACCOUNTS
from web.extensions import db
from workflows.models import Case, Record, utcnow


def token_for(client, username: str) -> dict:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.json['token']}"}


def upload_all(client, headers, case_id) -> dict:
    digests = {}
    for field, content in (("manager_id_copy", png_bytes("red")), ("manager_photo", png_bytes()),
                           ("manager_degree", pdf_bytes())):
        response = client.post(f"/api/v1/cases/{case_id}/documents", headers=headers,
                               data={"file": (io.BytesIO(content), f"{field}.bin")}, content_type="multipart/form-data")
        assert response.status_code == 201, response.json
        digests[field] = response.json["sha256"]
    return digests


@pytest.fixture
def applicant(client):
    return token_for(client, "applicant1")


def new_case(client, headers) -> dict:
    response = client.post("/api/v1/cases", json={"process_key": "center_founding"}, headers=headers)
    assert response.status_code == 201
    return response.json


def complete(client, headers, case, body):
    task_id = case["tasks"][0]["id"]
    return client.post(f"/api/v1/cases/{case['id']}/tasks/{task_id}/complete", json=body, headers=headers)


def test_full_founding_through_the_api(client, applicant):
    case = new_case(client, applicant)
    form = client.get(f"/api/v1/cases/{case['id']}/tasks/{case['tasks'][0]['id']}/form", headers=applicant)
    assert form.status_code == 200
    assert form.json["form_key"] == "founding_application"
    assert {f["name"] for f in form.json["form"]["fields"]} >= {"mosque", "manager", "documents"}
    assert any(c["value"] == "markazi-arak" for c in form.json["counties"])

    application = {**application_fixture(), "documents": upload_all(client, applicant, case["id"])}
    response = complete(client, applicant, case, {"data": application, "pin": "۱۴۰۵"})
    assert response.status_code == 200, response.json
    case = response.json["case"]
    # the answer is short: status, lock version, waiting tasks, the records just signed
    assert case["status"] == "inquiries" and case["lock_version"] > 1 and case["tasks"] == []
    assert "records" not in case and "verification" not in case
    assert [(r["seq"], r["action"], r["task_name"]) for r in response.json["records"]] == [
        (1, "submit", "submit_application")]
    assert len(client.get(f"/api/v1/cases/{case['id']}", headers=applicant).json["inquiries"]) == 4

    for account in (a for a in DEMO_ACCOUNTS if a.agency):
        agency = {"Authorization": f"Bearer {account.token}"}
        pending = client.get("/api/v1/inquiries", headers=agency).json["inquiries"]
        assert [i["subject"]["national_id"] for i in pending] == [application["manager"]["national_id"]]
        answer = client.post(f"/api/v1/inquiries/{pending[0]['id']}/answer", headers=agency,
                             json={"data": {"result": "clear", "reference": "۱۲۳-الف"}, "pin": PIN})
        assert answer.status_code == 200, answer.json
    case = client.get(f"/api/v1/cases/{case['id']}", headers=applicant).json
    assert case["status"] == "visit_scheduling"
    assert {i["status"] for i in case["inquiries"]} == {"answered"}

    # the county's head schedules the site visit and names its officer as the expert (people, not usernames)
    head, county = token_for(client, "arak_head"), token_for(client, "arak_officer")
    form = client.get(f"/api/v1/cases/{case['id']}/tasks/{case['tasks'][0]['id']}/form", headers=head).json
    assert {p["value"] for p in form["people"]["county"]} == {"arak_officer", "arak_head"}
    expert = next(f for f in form["form"]["fields"] if f["name"] == "expert")
    assert (expert["type"], expert["lane"]) == ("person", "county")
    schedule = {"visit_date": "2099-01-01", "expert": "saveh_officer"}
    refused = complete(client, head, case, {"data": schedule, "pin": PIN})
    assert refused.status_code == 422 and set(refused.json["errors"]) == {"expert"}  # not of this office
    case = complete(client, head, case, {"data": {**schedule, "expert": "arak_officer"}, "pin": PIN}).json["case"]
    assert case["status"] == "site_visit" and [t["name"] for t in case["tasks"]] == ["site_visit"]
    # the expert's photo from the visit, uploaded by the expert, then the signed checklist
    photo = client.post(f"/api/v1/cases/{case['id']}/documents", headers=county,
                        data={"file": (io.BytesIO(png_bytes("gray")), "space.png")}, content_type="multipart/form-data")
    assert photo.status_code == 201, photo.json
    _, sheet = visit_fixture()
    visited = complete(client, county, case, {"data": {**sheet, "documents": {"space_photo": photo.json["sha256"]}},
                                              "pin": PIN})
    assert visited.status_code == 200, visited.json
    case = visited.json["case"]
    assert case["status"] == "county_review"
    assert [t["case_id"] for t in client.get("/api/v1/tasks", headers=county).json["tasks"]] == [case["id"]]
    reviewed = complete(client, county, case, {"data": {"decision": "approve"}, "pin": PIN}).json
    assert reviewed["case"]["status"] == "province_review" and reviewed["case"]["lock_version"] > case["lock_version"]
    assert [t["name"] for t in reviewed["case"]["tasks"]] == ["province_review"]
    assert [r["action"] for r in reviewed["records"]] == ["approve"]
    case = reviewed["case"]
    province = token_for(client, "markazi_officer")
    response = complete(client, province, case, {"data": {"decision": "approve"}, "pin": PIN})
    assert response.status_code == 200
    assert response.json["case"]["status"] == "licensed" and response.json["case"]["tasks"] == []
    assert [(r["seq"], r["action"]) for r in response.json["records"]] == [(9, "approve"), (10, "issue_license")]
    case = client.get(f"/api/v1/cases/{case['id']}", headers=province).json
    assert case["status"] == "licensed" and case["license"]["number"]
    assert case["verification"]["ok"] and case["verification"]["count"] == 10
    assert [r["action"] for r in case["records"]] == ["submit"] + ["inquiry_answer"] * 4 + [
        "schedule_visit", "record_visit", "approve", "approve", "issue_license"]

    pdf = client.get(f"/api/v1/cases/{case['id']}/certificate.pdf", headers=applicant)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    token = f"{case['public_id']}.{case['records'][-1]['hash'][:20]}"
    verified = client.get(f"/api/v1/verify/{token}")
    answer = verified.json
    center = answer.pop("center")
    assert answer == {"status": "licensed", "chain_ok": True, "facts_ok": True, "problems": [],
                             "record_found": True, "is_head": True, "records": 10,
                             "license_number": case["license"]["number"]}
    assert center["license_number"] == case["license"]["number"] and center["license_status"] == "active"


def test_validation_errors_are_keyed_by_field_and_nothing_is_written(client, applicant):
    case = new_case(client, applicant)
    application = application_fixture()
    application["documents"] = {"manager_id_copy": "0" * 64, "manager_photo": "1" * 64, "manager_degree": "x"}
    application["manager"]["national_id"] = "1111111111"
    application["extra"] = "?"
    response = complete(client, applicant, case, {"data": application, "pin": PIN})
    assert response.status_code == 422
    errors = response.json["errors"]
    assert set(errors) >= {"manager.national_id", "extra", "documents.manager_degree"}
    assert all(isinstance(m, str) for messages in errors.values() for m in messages)
    assert db.session.get(Case, case["id"]).lock_version == case["lock_version"]
    assert db.session.query(Record).count() == 0


def test_documents_must_belong_to_the_case(client, applicant):
    case = new_case(client, applicant)
    application = {**application_fixture(), "documents": {"manager_id_copy": "a" * 64, "manager_photo": "b" * 64,
                                                          "manager_degree": "c" * 64}}
    response = complete(client, applicant, case, {"data": application, "pin": PIN})
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"documents.manager_id_copy", "documents.manager_photo",
                                            "documents.manager_degree"}


def test_an_upload_too_large_is_refused_with_its_size_in_persian_digits(app, client, applicant, tmp_path):
    import re

    from web.extensions import db
    from workflows import documents
    from workflows.errors import InvalidInput
    from workflows.models import Case
    case = db.session.get(Case, new_case(client, applicant)["id"])
    with pytest.raises(InvalidInput) as refused:
        documents.store_document(db.session, tmp_path, case=case, user=case.applicant, field="file",
                                 filename="big.pdf", content=b"%PDF-1.4\n" + b"0" * documents.MAX_DOCUMENT_BYTES)
    message = refused.value.errors["file"][0]
    assert "۵" in message and not re.search("[0-9]", message)


@pytest.mark.parametrize("body, field", [
    (None, "_body"), ([], "_body"), ({"pin": PIN}, "data"), ({"data": {}, "pin": PIN, "x": 1}, "x"),
    ({"data": "text", "pin": PIN}, "data"), ({"data": {"decision": "approve"}, "pin": 1405}, "pin"),
    ({"data": {}, "pin": PIN, "lock_version": "one"}, "lock_version"),
    ({"data": {}, "pin": PIN, "lock_version": True}, "lock_version"), ({"data": {}, "pin": ""}, "pin"),
])
def test_malformed_bodies_get_a_clear_4xx(client, applicant, body, field):
    case = new_case(client, applicant)
    task_id = case["tasks"][0]["id"]
    url = f"/api/v1/cases/{case['id']}/tasks/{task_id}/complete"
    response = client.post(url, json=body, headers=applicant) if body is not None else \
        client.post(url, data="{not json", headers={**applicant, "Content-Type": "application/json"})
    assert response.status_code in (400, 422)
    assert field in response.json["errors"]


def test_wrong_pin_is_a_field_error(client, applicant):
    case = new_case(client, applicant)
    application = {**application_fixture(), "documents": upload_all(client, applicant, case["id"])}
    response = complete(client, applicant, case, {"data": application, "pin": "9999"})
    assert response.status_code == 422 and "pin" in response.json["errors"]
    assert db.session.query(Record).count() == 0


def test_double_completion_is_a_conflict_with_one_record(client, applicant):
    case = new_case(client, applicant)
    application = {**application_fixture(), "documents": upload_all(client, applicant, case["id"])}
    assert complete(client, applicant, case, {"data": application, "pin": PIN}).status_code == 200
    again = complete(client, applicant, case, {"data": application, "pin": PIN})
    assert again.status_code == 409
    assert db.session.query(Record).count() == 1


def test_stale_lock_version_is_a_conflict(client, applicant):
    case = new_case(client, applicant)
    application = {**application_fixture(), "documents": upload_all(client, applicant, case["id"])}
    response = complete(client, applicant, case, {"data": application, "pin": PIN,
                                                  "lock_version": case["lock_version"] - 1})
    assert response.status_code == 409
    assert db.session.query(Record).count() == 0


def test_task_of_another_office_is_forbidden(client, applicant):
    case = new_case(client, applicant)
    application = {**application_fixture(), "documents": upload_all(client, applicant, case["id"])}
    complete(client, applicant, case, {"data": application, "pin": PIN})
    answer_all(db.session.get(Case, case["id"]), "clear", utcnow())
    case = client.get(f"/api/v1/cases/{case['id']}", headers=applicant).json
    saveh = token_for(client, "saveh_officer")
    assert client.get(f"/api/v1/cases/{case['id']}", headers=saveh).status_code == 404
    assert complete(client, saveh, case, {"data": {"decision": "approve"}, "pin": PIN}).status_code == 404
    province = token_for(client, "markazi_officer")  # sees the case, but it is the county's turn
    assert complete(client, province, case, {"data": {"decision": "approve"}, "pin": PIN}).status_code == 403
    assert db.session.query(Record).count() == 7  # the application, four answers, the visit's schedule and sheet


def test_other_applicant_sees_nothing(client, applicant):
    case = new_case(client, applicant)
    other = token_for(client, "applicant2")
    assert client.get(f"/api/v1/cases/{case['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/cases", headers=other).json["cases"] == []


def test_authentication_is_required(client):
    assert client.get("/api/v1/tasks").status_code == 401
    assert client.get("/api/v1/tasks", headers={"Authorization": "Bearer nope"}).status_code == 401
    bad = client.post("/api/v1/auth/token", json={"username": "applicant1", "password": "wrong"})
    assert bad.status_code == 401


def test_session_writes_need_the_csrf_header(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    client.post("/login", data={"username": "applicant1", "password": PASSWORD,
                                "csrf_token": _csrf(client, "/login")})
    assert client.post("/api/v1/cases", json={"process_key": "center_founding"}).status_code == 400
    response = client.post("/api/v1/cases", json={"process_key": "center_founding"},
                           headers={"X-CSRFToken": _csrf(client, "/cases")})
    assert response.status_code == 201


def _csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_draft_round_trip(client, applicant):
    case = new_case(client, applicant)
    task_id = case["tasks"][0]["id"]
    draft = {"mosque": {"name": "مسجد"}, "manager": {"birth_date": "۱۳۷۰"}}
    assert client.put(f"/api/v1/cases/{case['id']}/tasks/{task_id}/draft", json={"data": draft},
                      headers=applicant).status_code == 200
    form = client.get(f"/api/v1/cases/{case['id']}/tasks/{task_id}/form", headers=applicant).json
    assert form["draft"] == draft


def test_deeply_nested_json_is_a_clear_400(client, applicant):
    case = new_case(client, applicant)
    url = f"/api/v1/cases/{case['id']}/tasks/{case['tasks'][0]['id']}/complete"
    body = "[" * 100000 + "]" * 100000
    response = client.post(url, data=body, headers={**applicant, "Content-Type": "application/json"})
    assert response.status_code in (400, 422) and "_body" in response.json["errors"]


def test_api_tokens_expire_and_can_be_revoked(app, client):
    from datetime import timedelta

    from sqlalchemy import select

    from web.cli import run_tick
    from workflows.models import ApiToken

    issued = client.post("/api/v1/auth/token", json={"username": "arak_officer", "password": PASSWORD})
    assert issued.status_code == 201
    lifetime = app.config["API_TOKEN_LIFETIME_SECONDS"]
    expires = issued.json["expires_at"]
    assert (utcnow() + timedelta(seconds=lifetime - 60)).isoformat() < expires < (
        utcnow() + timedelta(seconds=lifetime + 60)).isoformat()
    headers = {"Authorization": f"Bearer {issued.json['token']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    for row in db.session.scalars(select(ApiToken).where(ApiToken.label == "")):
        row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401  # expired
    run_tick(utcnow())
    db.session.expire_all()
    assert db.session.scalars(select(ApiToken).where(ApiToken.label == "")).all() == []  # and forgotten

    second = {"Authorization": f"Bearer {token_for(client, 'arak_officer')['Authorization'][7:]}"}
    assert client.get("/api/v1/me", headers=second).status_code == 200
    assert client.delete("/api/v1/auth/token", headers=second).status_code == 204
    assert client.get("/api/v1/me", headers=second).status_code == 401  # revoked
    assert client.delete("/api/v1/auth/token", headers=second).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer demo-judiciary-token"}).status_code == 200


def test_an_office_step_signs_only_files_its_signer_uploaded_and_a_step_without_files_uploads_none(app, client):
    case = submitted_founding(app)
    answer_all(case, "clear", utcnow(), visit=False)
    # the county's review of the schedule takes no files: a head deciding it may not upload through the API
    head = token_for(client, "arak_head")
    refused = client.post(f"/api/v1/cases/{case.id}/documents", headers=head,
                          data={"file": (io.BytesIO(png_bytes("gray")), "x.png")}, content_type="multipart/form-data")
    assert refused.status_code == 403
    schedule_visit(case, utcnow(), "arak_head", "arak_officer")
    expert = token_for(client, "arak_officer")
    task = db.session.get(Case, case.id).tasks[0]
    founders = db.session.scalars(select(Record).where(Record.case_id == case.id, Record.action == "submit")).one()
    photo = json.loads(founders.form_data)["documents"]["manager_photo"]  # the founder's file, not the expert's
    sheet = {**visit_fixture()[1], "documents": {"space_photo": photo}}
    answer = client.post(f"/api/v1/cases/{case.id}/tasks/{task.task_id}/complete", headers=expert,
                         json={"data": sheet, "pin": PIN})
    assert answer.status_code == 422
    assert answer.json["errors"] == {"documents.space_photo": [
        "این پرونده را خودتان در این مرحله بارگذاری نکرده‌اید؛ عکس یا پرونده تازه‌ای بارگذاری کنید."]}
    uploaded = client.post(f"/api/v1/cases/{case.id}/documents", headers=expert,
                           data={"file": (io.BytesIO(png_bytes("gray")), "space.png")},
                           content_type="multipart/form-data")
    assert uploaded.status_code == 201
    done = client.post(f"/api/v1/cases/{case.id}/tasks/{task.task_id}/complete", headers=expert,
                       json={"data": {**sheet, "documents": {"space_photo": uploaded.json["sha256"]}}, "pin": PIN})
    assert done.status_code == 200, done.json
