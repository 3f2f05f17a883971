"""The API's OpenAPI document, and the API fuzzed against it: never a 500, nothing written by a
rejected request.

The fuzzing is deterministic (hypothesis with ``derandomize``), so a failure reproduces on every
run; its budget is bounded by ``max_examples``.
"""
from __future__ import annotations

import json
import re

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from sqlalchemy import func, select

from support import PASSWORD, application_fixture
from web.extensions import db
from web.security import MAX_URL_ID
from workflows.models import ApiToken, Case, CaseTask, Document, Draft, Inquiry, LogLeaf, Record

#: what a rejected request must not have changed
WRITTEN = (Record, Case, CaseTask, Draft, Document, LogLeaf, Inquiry, ApiToken)
FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    return response.json


def token(client, username: str) -> dict:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.json['token']}"}


def counts() -> dict[str, int]:
    db.session.expire_all()
    return {model.__name__: db.session.scalar(select(func.count()).select_from(model)) for model in WRITTEN}


def test_the_document_is_valid_openapi_and_covers_every_api_route(app, document):
    validate(document)
    routes = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == routes and len(routes) > 25
    complete = document["paths"]["/api/v1/cases/{case_id}/tasks/{task_id}/complete"]["post"]
    assert complete["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CompleteRequest")
    assert {"bearer": []} in complete["security"] and "422" in complete["responses"]
    assert "security" not in document["paths"]["/api/v1/log/checkpoint"]["get"]  # public
    body = document["components"]["schemas"]["CompleteRequest"]
    assert body["required"] == ["data"] and body["additionalProperties"] is False
    assert body["anyOf"] == [{"required": ["pin"]}, {"required": ["signing_session"]}]  # the PIN or an open session
    upload = document["paths"]["/api/v1/cases/{case_id}/documents"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload


def test_the_forms_schemas_accept_what_the_forms_accept(document):
    """The documented JSON Schema of the founding form admits the valid application and refuses
    what the form refuses for its shape (a missing section, an unknown field)."""
    schemas = document["components"]["schemas"]
    founding = schemas["form.founding_application"]
    resolver = {"components": document["components"], **founding}
    valid = application_fixture()
    valid["documents"] = {name: "a" * 64 for name in ("manager_id_copy", "manager_photo", "manager_degree")}
    jsonschema.validate(valid, resolver)
    for broken in ({k: v for k, v in valid.items() if k != "manager"}, {**valid, "surprise": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, resolver)
    decision = schemas["form.review_decision"]
    assert set(decision["properties"]["decision"]["enum"]) == {"approve", "return", "reject"}


def _body_strategy(schema: dict) -> st.SearchStrategy:
    """Bodies shaped like ``schema`` (its own keys with any values) and anything else at all."""
    properties = schema.get("properties", {})
    required = {name: json_values for name in schema.get("required", [])}
    optional = {name: json_values for name in properties if name not in required}
    shaped = st.fixed_dictionaries(required, optional=optional)
    extra = st.dictionaries(st.sampled_from(["x", "data", "pin", "__proto__", "id"]), json_values, max_size=2)
    return st.one_of(shaped, json_values, st.builds(lambda a, b: {**a, **b}, shaped, extra))


@pytest.mark.parametrize("operation", ["api.issue_token", "api.create_case", "api.put_draft", "api.complete",
                                       "api.answer_inquiry", "api.resend_inquiry", "inbox_api.api_reassign"])
def test_fuzzed_bodies_never_fail_the_server_nor_write_when_refused(app, client, document, operation):
    headers = {"applicant": token(client, "applicant1"), "agency": token(client, "judiciary_agency"),
               "officer": token(client, "arak_officer")}
    case = client.post("/api/v1/cases", json={"process_key": "center_founding"}, headers=headers["applicant"]).json
    task_id = case["tasks"][0]["id"]
    path, method, schema = next(
        (path, method, op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema"))
        for path, item in document["paths"].items() for method, op in item.items() if op["operationId"] == operation)
    schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    url = path.format(case_id=case["id"], task_id=task_id, inquiry_id=1)
    who = "agency" if "inquiries" in path else "officer" if "reassign" in path else "applicant"

    @FUZZ
    @given(body=_body_strategy(schema), raw=st.booleans())
    def run(body, raw):
        before = counts()
        if raw:  # the same value sent as text: malformed JSON now and then
            text = json.dumps(body)[:-1] if isinstance(body, dict) and body else json.dumps(body)
            response = client.open(url, method=method.upper(), data=text,
                                   headers={**headers[who], "Content-Type": "application/json"})
        else:
            response = client.open(url, method=method.upper(), json=body, headers=headers[who])
        assert response.status_code < 500, (body, response.get_data(as_text=True)[:300])
        assert response.is_json and "error" in response.json or response.status_code < 300
        if response.status_code >= 400:
            assert counts() == before, (body, response.json)
            db.session.rollback()

    run()


def test_fuzzed_ids_and_query_strings_answer_4xx_not_500(app, client, document):
    headers = token(client, "markazi_officer")
    gets = [path for path, item in document["paths"].items() if "get" in item]
    names = ["status", "q", "page", "county", "index", "tree_size", "first", "second", "national_id",
             "license_number", "procedure", "step", "overdue", "sort", "queue", "per_page"]

    @FUZZ
    @given(path=st.sampled_from(gets), ident=st.integers(0, 10**30) | st.text(max_size=12),
           query=st.dictionaries(st.sampled_from(names), st.text(max_size=20) | st.integers(-10**20, 10**20).map(str),
                                 max_size=4))
    def run(path, ident, query):
        url = path.replace("{case_id}", str(ident)).replace("{center_id}", str(ident)) \
                  .replace("{task_id}", str(ident)).replace("{token}", str(ident) or "x")
        response = client.get(url, query_string=query, headers=headers)
        assert response.status_code < 500, (url, query, response.get_data(as_text=True)[:300])

    run()


def test_an_id_beyond_the_databases_range_is_not_found(client):
    headers = token(client, "hq_auditor")
    for url in (f"/api/v1/cases/{MAX_URL_ID + 1}", f"/api/v1/centers/{10**40}", f"/cases/{10**25}"):
        assert client.get(url, headers=headers).status_code == 404
    assert client.get(f"/api/v1/cases/{MAX_URL_ID}", headers=headers).status_code == 404


def test_the_document_states_parameters_statuses_and_drafts_as_the_api_answers(client, document):
    paths = document["paths"]
    inclusion = {p["name"]: p for p in paths["/api/v1/log/inclusion"]["get"]["parameters"]}
    assert inclusion["index"]["required"] and inclusion["index"]["schema"]["type"] == "integer"
    assert inclusion["tree_size"]["schema"]["minimum"] == 1 and inclusion["tree_size"]["in"] == "query"
    consistency = {p["name"] for p in paths["/api/v1/log/consistency"]["get"]["parameters"] if p["required"]}
    assert consistency == {"first", "second"}
    tasks = {p["name"]: p["schema"] for p in paths["/api/v1/tasks"]["get"]["parameters"]}
    assert {"queue", "page", "per_page", "county", "q", "sort"} <= set(tasks) and "mine" in tasks["queue"]["enum"]
    token = paths["/api/v1/auth/token"]
    assert {"201", "401", "429"} <= set(token["post"]["responses"]) and "200" not in token["post"]["responses"]
    assert "204" in token["delete"]["responses"] and "201" in paths["/api/v1/cases"]["post"]["responses"]
    draft = document["components"]["schemas"]["DraftRequest"]["properties"]["data"]
    assert draft["type"] == "object" and "oneOf" not in draft  # partial values, not the strict forms

    # a whole number written as a float is the integer JSON Schema says it is
    headers = {"Authorization": "Bearer " + client.post(
        "/api/v1/auth/token", json={"username": "arak_officer", "password": PASSWORD}).json["token"]}
    opened = client.post("/api/v1/signing-sessions", json={"pin": "۱۴۰۵", "minutes": 20.0}, headers=headers)
    assert opened.status_code == 201
    fraction = client.post("/api/v1/signing-sessions", json={"pin": "1405", "minutes": 20.5}, headers=headers)
    assert fraction.status_code == 422 and set(fraction.json["errors"]) == {"minutes"}
    # and so in a query string, as clients serialize it; a fraction is refused by its name
    assert client.get("/api/v1/tasks?page=1.0&per_page=۲.0", headers=headers).json["per_page"] == 2
    assert set(client.get("/api/v1/tasks?page=1.5", headers=headers).json["errors"]) == {"page"}
    assert client.get("/api/v1/log/consistency?first=1.0&second=1.5").json["errors"].keys() == {"second"}
    # a control character in a filter is dropped, as from a search, not sent to the database
    assert client.get("/api/v1/centers?county=markazi-arak%00", headers=headers).status_code == 200


def test_a_method_not_allowed_names_the_allowed_ones(client):
    response = client.patch("/api/v1/auth/token")
    assert response.status_code == 405 and response.is_json
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"POST", "DELETE"}
    assert "GET" in client.delete("/api/v1/me").headers["Allow"]


def test_every_operation_declares_its_success_body(document):
    """A new endpoint cannot skip its response schema: every success but 204 names what it sends,
    a JSON body by a schema of the document's components."""
    schemas = document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            status, success = next((code, r) for code, r in operation["responses"].items() if code.startswith("2"))
            if status == "204":
                assert "content" not in success, (method, path)
                continue
            assert success.get("content"), f"{method.upper()} {path} declares no success body"
            for media, content in success["content"].items():
                if media == "application/json":
                    assert content["schema"]["$ref"].rsplit("/", 1)[1] in schemas, (method, path)
                else:
                    assert content["schema"]["type"] == "string", (method, path)
    assert set(document["paths"]["/api/v1/cases/{case_id}/certificate.pdf"]["get"]["responses"]["200"]["content"]) \
        == {"application/pdf"}
