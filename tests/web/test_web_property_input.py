"""Property: whatever text a client sends (any Unicode, control characters, lone surrogates, bidi
overrides, formula prefixes, Persian and Arabic letters and digits) in any query parameter, path
segment, page form field or form value of the API, the answer is never a 500, and no case is left
half-written or stuck: every refused submission leaves the case as it was and still completable,
every accepted one goes on to its license, and the whole store audits clean afterwards.

Hypothesis draws the values (derandomized: the same examples on every run). The routes, query
parameters and form fields are read from the application itself (its URL map and its source), so a
new page or parameter is swept without editing this file.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from office_support import national_id
from support import ACTORS, PASSWORD, PIN, answer_all, application_fixture, found_center, in_county_review, \
    upload_documents, user
from web.extensions import db
from web.formdata import META_FIELDS, flatten
from workflows.cases import complete_task
from workflows.verification import verification_token
from workflows.models import Case, CaseTask, Center, Inquiry, License, Record, utcnow

WEB = Path(__file__).resolve().parents[2] / "web"

#: values a hostile or careless client sends on purpose
SPECIALS = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\ud800", "\udfff", "\udc80abc", "\u202e", "\u200f", "\u200c",
            "\ufeff", "\uffff", "\U0010ffff", "ي", "ك", "۱۴۰۵", "١٤٠٥", "=HYPERLINK(\"http://x\",\"x\")", "+1", "-1",
            "0", "1", "1.5", "962.0", "99999999999999999999", "1e308", "../../etc/passwd", "%00", "%ED%A0%80",
            "<script>alert(1)</script>", "' OR 1=1 --", "true", "null", "[]", "{}", "\n", "\r\n", " ", "", "x" * 5000,
            "۱۴۰۳/۰۲/۳۱", "1403-13-40", "0499370899", "09121234567"]

hostile_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=40),  # every category, surrogates (Cs) included
    st.sampled_from(SPECIALS),
    st.lists(st.one_of(st.sampled_from(SPECIALS), st.text(max_size=4)), min_size=1, max_size=5).map("".join),
)

#: every example is the same on every run; the store is shared by a test's examples (that is the point:
#: what one example leaves behind, the next one meets)
SWEEP = settings(derandomize=True, database=None, deadline=None, print_blob=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                        HealthCheck.data_too_large, HealthCheck.large_base_example])


def wire(value: str) -> str:
    """Percent-encoded as a client sends it; a lone surrogate goes out as the invalid UTF-8 bytes a
    careless encoder writes for it."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def form_body(fields: dict[str, str]) -> bytes:
    return "&".join(f"{wire(name)}={wire(value)}" for name, value in fields.items()).encode("ascii")


def _names(pattern: str) -> set[str]:
    found: set[str] = set()
    for source in WEB.glob("*.py"):
        found.update(re.findall(pattern, source.read_text("utf-8")))
    return found


#: query parameters the application reads (``args.get("q")``, ``text_arg(args, "q")``, ``_int_arg("index")``),
#: with those read under names given elsewhere (page_args, date_range)
QUERY_PARAMETERS = sorted(_names(r'args(?:\.get|\.getlist)?\(\s*"([a-z_]+)"') | _names(r'_arg\(\s*(?:request\.)?args,\s*"([a-z_]+)"')
                          | _names(r'_int_arg\(\s*"([a-z_]+)"') | {"page", "per_page", "from", "to"})
#: page form fields the application reads outside the task forms
FORM_FIELDS = sorted(_names(r'form\.get(?:list)?\(\s*"([a-z_]+)"') | META_FIELDS)


def test_the_sweep_reads_the_parameters_and_fields_the_application_reads():
    """If the patterns above stopped matching, the sweeps below would quietly send nothing."""
    assert {"q", "page", "per_page", "status", "process_key", "next", "token", "index", "tree_size", "first",
            "second", "county", "from", "to", "on", "person"} <= set(QUERY_PARAMETERS)
    assert {"username", "password", "pin", "_action", "lock_version", "reason"} <= set(FORM_FIELDS)


# --- the world the sweeps run in: a licensed center, a case under review, open tasks and inquiries --


class World:
    """Real ids and names to put in paths, and a signed-in client and token per role."""

    ROLES = ("applicant1", "arak_officer", "markazi_officer", "judiciary_agency", "admin", "hq_auditor")

    def __init__(self, app):
        self.app = app
        found_center(app, "applicant2")
        in_county_review(app, "applicant1", national_id(699))
        self.pages = {None: app.test_client()}
        self.tokens = {None: {}}
        for username in self.ROLES:
            client = app.test_client()
            assert client.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
            self.pages[username] = client
            token = client.post("/api/v1/auth/token",
                         json={"username": username, "password": PASSWORD}).json["token"]
            self.tokens[username] = {"Authorization": f"Bearer {token}"}
        self.refresh()

    def refresh(self) -> None:
        session = db.session
        cases = session.scalars(select(Case)).all()
        # real ids first (Hypothesis leans to the first), then ids of nothing
        self.ids = sorted({case.id for case in cases} | set(session.scalars(select(Center.id)))
                          | set(session.scalars(select(Inquiry.id))) | {len(session.scalars(select(Record.id)).all())},
                          reverse=True) + [0, 10**9]
        self.strings = sorted({case.public_id for case in cases}
                              | {verification_token(case, last) for case in cases
                                 if (last := session.scalars(select(Record.hash).where(Record.case_id == case.id)
                                                             .order_by(Record.seq.desc())).first())} | {task.task_id for case in cases for task in case.tasks}
                              | set(session.scalars(select(License.number)))
                              | {"csv", "json", "cases", "offices", "bootstrap/css/bootstrap.min.css", "Vazirmatn.woff2"})

    def path(self, rule, draw) -> str:
        values = {}
        for name, converter in rule._converters.items():
            if converter.__class__.__name__ == "IdConverter":
                values[name] = str(draw(st.sampled_from(self.ids)))
            else:
                values[name] = wire(draw(st.one_of(st.sampled_from(self.strings), hostile_text)))
        return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: values[m.group(1)], rule.rule)


@pytest.fixture
def world(app):
    return World(app)


def _rules(app, methods: set[str]):
    return [rule for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule) if rule.methods & methods]


def assert_no_case_half_written_or_stuck(runner) -> None:
    """Every case still open waits on someone (a task, an inquiry or a deadline), and every record,
    fact and leaf of the store verifies."""
    for case in db.session.scalars(select(Case).where(Case.outcome.is_(None))):
        waiting = (db.session.scalar(select(func.count()).select_from(CaseTask).where(CaseTask.case_id == case.id))
                   or db.session.scalar(select(func.count()).select_from(Inquiry).where(
                       Inquiry.case_id == case.id, Inquiry.status == "pending"))
                   or case.wake_at is not None)
        assert waiting, f"case {case.id} ({case.status}) waits on no one"
    result = runner.invoke(args=["verify-all"])
    assert result.exit_code == 0, result.output[-2000:]


# --- every query parameter and path segment of every page and endpoint ---------------------------


def test_any_text_in_any_query_parameter_or_path_segment_is_never_a_500(world, runner):
    rules = _rules(world.app, {"GET"})

    @settings(SWEEP, max_examples=15)
    @given(data=st.data())
    def sweep(data):
        for rule in rules:
            params = data.draw(st.dictionaries(st.sampled_from(QUERY_PARAMETERS), hostile_text, max_size=6),
                               label="query")
            url = world.path(rule, data.draw) + "?" + form_body(params).decode()
            api = rule.rule.startswith("/api/")
            for role in (None,) + World.ROLES:
                client = world.pages[None] if api else world.pages[role]
                response = client.get(url, headers=world.tokens[role] if api else {})
                assert response.status_code < 500, (url, role, response.get_data(as_text=True)[:300])
                if api and response.status_code >= 400:
                    assert response.is_json and "error" in response.json, (url, response.get_data(as_text=True)[:300])
        db.session.rollback()

    sweep()
    assert_no_case_half_written_or_stuck(runner)


# --- every page form, with any text in any field ------------------------------------------------


def test_any_text_in_any_page_form_field_is_never_a_500_and_leaves_no_case_stuck(world, runner):
    rules = [rule for rule in _rules(world.app, {"POST"})
             if not rule.rule.startswith("/api/") and rule.endpoint not in ("auth.logout", "tsa.timestamp")]
    fields = FORM_FIELDS + sorted(flatten(application_fixture()))

    @settings(SWEEP, max_examples=8)
    @given(data=st.data())
    def sweep(data):
        for rule in rules:
            form = data.draw(st.dictionaries(st.sampled_from(fields), hostile_text, max_size=8), label="form")
            url = world.path(rule, data.draw)
            for role in (None,) + World.ROLES:
                response = world.pages[role].post(url, data=form_body(form),
                                content_type="application/x-www-form-urlencoded")
                assert response.status_code < 500, (url, role, form, response.get_data(as_text=True)[:300])
        db.session.rollback()
        world.refresh()

    sweep()
    assert_no_case_half_written_or_stuck(runner)


# --- every field of the application and the review, through the pages ---------------------------


def test_any_text_in_any_field_of_a_task_page_is_refused_by_its_field_or_signed_whole(app, runner):
    """The founding application's page and the county office's review page, submitted with any text in
    one field (the rest as a person would fill them): what signs nothing (a refusal, a draft) leaves the
    case as it was with its task open; what signs moves the case on."""
    applicant, officer = app.test_client(), app.test_client()
    for client, username in ((applicant, ACTORS["applicant"]), (officer, ACTORS["county"])):
        assert client.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    application = {name: str(value).lower() if isinstance(value, bool) else str(value)
                   for name, value in flatten(application_fixture()).items() if not name.startswith("documents")}
    review = {"decision": "approve", "comment": "بررسی شد"}
    managers = iter(range(2000, 3000))
    outcomes = {"refused": 0, "accepted": 0}

    @settings(SWEEP, max_examples=16)
    @given(page=st.sampled_from(["application", "review"]), data=st.data())
    def sweep(page, data):
        if page == "application":
            started = applicant.post("/cases/new", data={"process_key": "center_founding"})
            case = db.session.get(Case, int(started.headers["Location"].split("/")[2]))
            client, valid = applicant, dict(application, **{"manager.national_id": national_id(next(managers))})
            valid.update({f"documents.{name}": digest for name, digest in upload_documents(app, case).items()})
            db.session.commit()
        else:
            case = in_county_review(app, "applicant2", national_id(next(managers)))
            client, valid = officer, dict(review)
        field = data.draw(st.sampled_from(sorted(valid) + sorted(FORM_FIELDS)), label="field")
        form = dict(valid, _action="submit", pin=PIN, lock_version=str(case.lock_version))
        form[field] = data.draw(hostile_text, label="value")
        task_id, before, status = case.tasks[0].task_id, _records(), case.status
        response = client.post(f"/cases/{case.id}/tasks/{task_id}", data=form_body(form),
                        content_type="application/x-www-form-urlencoded")
        assert response.status_code < 500, (page, field, form[field], response.get_data(as_text=True)[:300])
        db.session.expire_all()
        if _records() > before:
            outcomes["accepted"] += 1
            assert response.status_code == 302 and case.status != status, (page, field, form[field])
            assert task_id not in {task.task_id for task in case.tasks}
        else:
            outcomes["refused"] += 1
            assert _records() == before and case.status == status, (page, field, form[field])
            assert case.tasks and case.tasks[0].task_id == task_id, "a refused submission closed the task"

    sweep()
    assert outcomes["refused"] and outcomes["accepted"], outcomes
    assert_no_case_half_written_or_stuck(runner)


# --- every field of a submitted application, through the API --------------------------------------


def _set(data: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for part in parents:
        data = data[int(part)] if part.isdigit() else data[part]
    data[int(last) if last.isdigit() else last] = value


def _records() -> int:
    return db.session.scalar(select(func.count()).select_from(Record))


def test_any_text_in_any_field_of_an_application_is_refused_by_its_field_or_goes_all_the_way(app, runner):
    client = app.test_client()
    token = client.post("/api/v1/auth/token",
                 json={"username": ACTORS["applicant"], "password": PASSWORD}).json["token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    fields = sorted(flatten(application_fixture()))
    managers = iter(range(1000))
    outcomes = {"refused": 0, "accepted": 0}
    officer = app.test_client()
    officer.post("/login", data={"username": ACTORS["county"], "password": PASSWORD})

    @settings(SWEEP, max_examples=24, phases=[Phase.generate])  # an example runs a whole founding
    @given(field=st.sampled_from(fields), value=hostile_text)
    def sweep(field, value):
        case_id = client.post("/api/v1/cases", json={"process_key": "center_founding"}, headers=headers).json["id"]
        case = db.session.get(Case, case_id)
        valid = application_fixture()
        valid["manager"]["national_id"] = national_id(700 + next(managers))  # each center its own manager
        valid["documents"] = upload_documents(app, case)
        db.session.commit()
        submitted = copy.deepcopy(valid)
        _set(submitted, field, value)
        task_id = case.tasks[0].task_id
        before, status = _records(), case.status
        draft = client.put(f"/api/v1/cases/{case_id}/tasks/{task_id}/draft", headers=headers,
                           data=json.dumps({"data": submitted}))  # a lone surrogate travels as a \ud800 escape
        assert draft.status_code < 500, (field, value, draft.get_data(as_text=True)[:300])
        response = client.post(f"/api/v1/cases/{case_id}/tasks/{task_id}/complete", headers=headers,
                        data=json.dumps({"data": submitted, "pin": PIN}))
        assert response.status_code < 500, (field, value, response.get_data(as_text=True)[:300])
        db.session.expire_all()
        if response.status_code >= 400:
            outcomes["refused"] += 1
            assert response.is_json and response.json.get("errors"), response.json
            assert _records() == before and case.status == status, f"{field}={value!r} refused, yet written"
            # the applicant corrects the field and goes on: nothing was left half-written
            response = client.post(f"/api/v1/cases/{case_id}/tasks/{task_id}/complete", headers=headers,
                            data=json.dumps({"data": valid, "pin": PIN}))
            assert response.status_code == 200, (field, value, response.json)
        else:
            outcomes["accepted"] += 1
        # as written or as corrected, the case goes on to its license and its certificate is sealed
        db.session.expire_all()
        answer_all(case, "clear", utcnow())
        for actor in ("county", "province"):
            complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(ACTORS[actor]),
                          data={"decision": "approve"}, pin=PIN)
            db.session.commit()
        assert case.status == "licensed", (field, value, case.status)

        token = verification_token(case, db.session.scalars(select(Record.hash).where(Record.case_id == case_id)
                                                            .order_by(Record.seq.desc())).first())
        number = db.session.scalars(select(License.number).where(License.case_id == case_id)).one()
        for path in (f"/cases/{case_id}/certificate.pdf", f"/centers/{case.center_id}", "/centers/export.csv",
                     f"/verify/{token}", f"/api/v1/verify/{token}", f"/verify/license/{number}"):
            assert officer.get(path).status_code == 200, (path, field, value)

    sweep()
    assert outcomes["refused"] and outcomes["accepted"], outcomes  # the sweep met both kinds
    assert_no_case_half_written_or_stuck(runner)

