"""Jurisdiction everywhere: every role × every route (read from app.url_map) × own / foreign object.

An object outside the user's jurisdiction answers 404 on every route that names it, pages and
API alike, whatever the method; lists never show it; an object inside answers anything but 404
on a read. A route added to the application without a line in ROUTES fails the suite: say
what it exposes there.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from flask import url_for
from sqlalchemy import select

from office_support import base_time, founding, answer, licensed, national_id, tokens_for
from support import PASSWORD, user
from web import create_app
from web.extensions import db
from workflows.models import Case, CaseDocument, Inquiry, SigningSession, utcnow
from workflows.notifications import Notification

# --- what each route exposes ------------------------------------------------------------------
PUBLIC = "public"      # anyone, nothing of a jurisdiction
SESSION = "session"    # ends the session the matrix runs in: checked elsewhere
LIST = "list"          # signed in, no object in the address: must not show the foreign case
CASE = "case"          # names a case (and its task, document or inquiry)
CENTER = "center"      # names a center
AGENCY_INQUIRY = "agency_inquiry"  # an inquiry an agency answers
NOTIFICATION = "notification"      # a person's own notification
SIGNING_SESSION = "signing_session"  # a person's own open signing session
USER = "user"          # administrators only
AUDIT_CASE = "audit_case"          # headquarters' read-only view of any case

ROUTES = {
    "static": PUBLIC, "public.home": PUBLIC, "public.verify_form": PUBLIC, "public.verify": PUBLIC,
    "public.font": PUBLIC, "public.favicon": PUBLIC, "public.root_pem": PUBLIC, "public.crls_pem": PUBLIC,
    "public.log_key_pem": PUBLIC, "public.vendor": PUBLIC,
    "auth.login": PUBLIC, "api.issue_token": PUBLIC, "api.verify": PUBLIC, "api.verify_license": PUBLIC,
    "public.verify_license": PUBLIC, "public.track": PUBLIC,
    "api.log_checkpoint": PUBLIC, "api.log_consistency": PUBLIC, "api.log_inclusion": PUBLIC,
    "api.log_checkpoint_note": PUBLIC, "api.log_checkpoint_of_size": PUBLIC, "api.log_checkpoint_note_of_size": PUBLIC,
    "openapi.openapi_document": PUBLIC, "tsa.timestamp": PUBLIC, "tsa.certificate": PUBLIC,
    "auth.logout": SESSION, "api.revoke_token": SESSION,
    "pages.cases": LIST, "pages.new_case": LIST, "inbox.index": LIST, "registry.centers": LIST,
    "registry.export": LIST, "notifications.index": LIST, "notifications.read_all": LIST,
    "monitoring.index": LIST, "monitoring.export": LIST, "evaluations.index": LIST, "evaluations.export": LIST,
    "audit.decisions": LIST, "audit.log": LIST,
    "audit.verify": LIST, "admin.index": LIST, "admin.log": LIST, "admin.add_office": LIST, "admin.add_user": LIST,
    "account.choose_pin": LIST, "api.me": LIST, "api.my_tasks": LIST, "api.list_cases": LIST,
    "api.list_centers": LIST, "api.list_inquiries": LIST, "notifications_api.api_index": LIST,
    "api.sign_log_checkpoint": LIST,
    "api.create_case": CENTER,  # names the center in its body
    "pages.case": CASE, "pages.task": CASE, "pages.document": CASE, "pages.certificate_pdf": CASE,
    "pages.case_diagram": CASE,
    "pages.resend_inquiry": CASE, "pages.add_note": CASE, "inbox.claim": CASE, "inbox.release": CASE, "inbox.reassign": CASE,
    "api.read_case": CASE, "api.task_form": CASE, "api.put_draft": CASE, "api.complete": CASE,
    "api.upload_document": CASE, "api.certificate_pdf": CASE, "api.case_evidence": CASE,
    "api.resend_inquiry": CASE, "api.add_note": CASE, "inbox_api.api_claim": CASE, "inbox_api.api_release": CASE,
    "inbox_api.api_reassign": CASE,
    "registry.center": CENTER, "registry.start": CENTER, "registry.signboard_file": CENTER, "api.read_center": CENTER,
    "api.answer_inquiry": AGENCY_INQUIRY,
    "notifications.open_one": NOTIFICATION,
    "api.open_signing_session": LIST, "api.close_signing_session": SIGNING_SESSION, "auth.lock_signing": LIST,
    "admin.assign_role": USER, "admin.deactivate": USER,
    "admin.procedure_versions": LIST, "admin.plan_moves": LIST, "admin.move_cases": LIST,
    # the working calendar, closures, leave and substitutes: of the person's own office (and those it heads)
    "calendar.index": LIST, "calendar.days_off": LIST, "calendar.declare": LIST, "calendar.leave": LIST,
    "calendar.record_leave": LIST, "calendar.name_substitute": LIST,
    "audit.case": AUDIT_CASE,
    # a training case's module, and the training of a case's proposed manager that its rule wants first (no
    # case of the world is a training, nor signed such a rule: its own answer 404 too, a foreign one must);
    # the modules' media are the same for everyone signed in
    "training.module": CASE, "training.start_for": CASE, "training.media": LIST,
    "api.read_training": CASE, "api.answer_quiz": CASE, "api.training_media": LIST,
}
#: routes naming a part only some cases have: an own case without it answers 404 like a foreign one
ONLY_SOME_CASES = {"training.module", "training.start_for", "api.read_training", "api.answer_quiz"}
#: reads that must succeed (200) on an object the user may see
MUST_READ = {"pages.case", "registry.center", "api.read_case", "api.read_center", "pages.document", "audit.case"}
#: harmless bodies that pass each API endpoint's shape check, so the answer is about the object
API_BODIES = {
    "api.complete": {"data": {}, "pin": "0000"},
    "api.put_draft": {"data": {"note": "x"}},
    "api.resend_inquiry": {"reason": "آزمون دسترسی ماتریس", "pin": "0000"},
    "api.add_note": {"kind": "office_note", "text": "آزمون دسترسی ماتریس", "pin": "0000"},
    "api.answer_inquiry": {"data": {"result": "clear", "reference": "M-1"}, "pin": "0000"},
    "inbox_api.api_reassign": {"user_id": 0},
    "api.answer_quiz": {"answers": {}},
}

#: role → the demo account playing it
ACCOUNTS = {"applicant": "applicant1", "county_officer": "arak_officer", "county_head": "arak_head",
            "province_officer": "markazi_officer", "province_head": "markazi_head", "hq_auditor": "hq_auditor",
            "admin": "admin", "agency": "judiciary_agency", "anonymous": None}


def _rules():
    app = create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return sorted({(rule.endpoint, method) for rule in app.url_map.iter_rules()
                   for method in rule.methods - {"HEAD", "OPTIONS"}})


RULES = _rules()


def test_every_route_is_classified():
    unclassified = sorted({endpoint for endpoint, _ in RULES} - set(ROUTES))
    assert not unclassified, f"say what these routes expose in ROUTES of {__file__}: {unclassified}"


# --- the world: cases and centers in Arak, Saveh (same province) and Kashan (another) -----------------

@dataclass
class World:
    """Ids only: each request below runs in an application context of its own, as in production."""

    app: object
    #: key → (case id, public id)
    cases: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: key → center id
    centers: dict[str, int] = field(default_factory=dict)
    clients: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    ids: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(seeded_db, tmp_path_factory):
    folder = tmp_path_factory.mktemp("jurisdiction")
    url = seeded_db.copy(folder)
    app = create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": url, "STORAGE_DIR": folder / "documents"})
    w = World(app)
    with app.app_context():
        now = base_time()
        centers = {}
        centers["arak"] = licensed(app, "applicant1", county="markazi-arak", mosque="مسجد مرکز اراک",
                                     manager_id=national_id(11), now=now, county_officer="arak_officer",
                                     province_officer="markazi_officer", seed=1)
        centers["saveh"] = licensed(app, "applicant2", county="markazi-saveh", mosque="مسجد مرکز ساوه",
                                      manager_id=national_id(12), now=now, county_officer="saveh_officer",
                                      province_officer="markazi_officer", seed=2)
        centers["kashan"] = licensed(app, "applicant2", county="isfahan-kashan", mosque="مسجد مرکز کاشان",
                                       manager_id=national_id(13), now=now, county_officer="kashan_officer",
                                       province_officer="isfahan_officer", seed=3)
        for key, applicant, county, seed in (("arak", "applicant1", "markazi-arak", 4),
                                              ("saveh", "applicant2", "markazi-saveh", 5),
                                              ("kashan", "applicant2", "isfahan-kashan", 6)):
            case = founding(app, applicant, county=county, mosque=f"مسجد پرونده {key}", seed=seed,
                            manager_id=national_id(20 + seed), now=now + timedelta(hours=4))
            answer(case, now + timedelta(hours=5))
            assert case.status == "county_review"
            w.cases[key] = (case.id, case.public_id)
        w.centers = {key: center.id for key, center in centers.items()}
        for username in ACCOUNTS.values():
            if username is None:
                continue
            person = user(username)
            db.session.add(Notification(user_id=person.id, kind="task", key=f"matrix:{username}", params=json.dumps(
                {"case": "x", "process": "x", "step": "x"})))
        db.session.commit()
        w.headers = tokens_for(*[u for u in ACCOUNTS.values() if u])
        w.ids = {"saveh_officer": user("saveh_officer").id, "kashan_officer": user("kashan_officer").id}
        db.session.remove()
    for role, username in ACCOUNTS.items():  # each sign-in in a request context of its own
        client = app.test_client()
        if username:
            response = client.post("/login", data={"username": username, "password": PASSWORD})
            assert response.status_code == 302 and "/login" not in response.headers["Location"]
            assert client.get("/api/v1/me").json["username"] == username
        w.clients[role] = client
    yield w
    with app.app_context():
        db.engine.dispose()
    seeded_db.databases.drop(url)


def own_and_foreign(role: str) -> tuple[str, str]:
    """The case/center keys inside and outside this role's jurisdiction (county roles: another county of
    the same province; province and applicant roles: another province's)."""
    if role in ("county_officer", "county_head"):
        return "arak", "saveh"
    return "arak", "kashan"


def visible(role: str, kind: str, which: str) -> bool:
    if role == "anonymous":
        return False
    if kind in (CASE, CENTER):
        return role in ("hq_auditor", "admin") or (role != "agency" and which == "own")
    if kind == AGENCY_INQUIRY:
        return role == "agency" and which == "own"
    if kind in (NOTIFICATION, SIGNING_SESSION):
        return which == "own"
    if kind == USER:
        return role == "admin"
    if kind == AUDIT_CASE:
        return role in ("hq_auditor", "admin")
    raise AssertionError(kind)


def build(w: World, role: str, endpoint: str, kind: str, which: str) -> tuple[dict, dict | None]:
    """The URL arguments (and JSON body) naming the own or foreign object."""
    own, foreign = own_and_foreign(role)
    key = own if which == "own" else foreign
    case = db.session.get(Case, w.cases[key][0])
    username = ACCOUNTS[role] or "applicant1"
    values = {"case_id": case.id, "center_id": w.centers[key], "fmt": "csv", "table": "cases",
              "token": "x.y", "number": "00-1405-00001", "name": "Vazirmatn-Regular.woff2", "filename": "app.css", "package": "bpmn-js",
              "tree_size": 1, "process_key": "center_founding", "size": "sign_100x70",
              "user_id": w.ids["saveh_officer" if which == "own" else "kashan_officer"], "module_key": "mission"}
    if case.tasks:
        values["task_id"] = case.tasks[0].task_id
    values["sha256"] = db.session.scalar(select(CaseDocument.sha256).where(CaseDocument.case_id == case.id).limit(1))
    if kind == AGENCY_INQUIRY:  # an inquiry addressed to the judiciary (the agency playing), or to another agency
        inquiry = select(Inquiry.id).where(Inquiry.case_id == w.cases["arak"][0],
                                           Inquiry.agency == ("judiciary" if which == "own" else "health"))
    else:
        inquiry = select(Inquiry.id).where(Inquiry.case_id == case.id)
    values["inquiry_id"] = db.session.scalar(inquiry.limit(1))
    owner = username if which == "own" else ("hq_auditor" if username != "hq_auditor" else "admin")
    values["notification_id"] = db.session.scalar(select(Notification.id).where(Notification.key == f"matrix:{owner}"))
    if kind == SIGNING_SESSION:  # a fresh one each time: closing the own one must not hide the next
        opened = SigningSession(user_id=user(owner).id, key_id="0" * 64, wrapped_key=b"", created_at=utcnow(),
                                expires_at=utcnow() + timedelta(minutes=5))
        db.session.add(opened)
        db.session.commit()
        values["session_id"] = opened.id
    if endpoint == "registry.signboard_file":
        values["fmt"] = "svg"
    body = dict(API_BODIES.get(endpoint, {}))
    if endpoint == "api.create_case":
        body = {"process_key": "manager_resignation", "center_id": w.centers[key]}
    return values, body or None


@pytest.mark.parametrize("which", ["own", "foreign"])
@pytest.mark.parametrize("endpoint, method", RULES, ids=[f"{e}-{m}" for e, m in RULES])
@pytest.mark.parametrize("role", list(ACCOUNTS))
def test_jurisdiction(world, role, endpoint, method, which):
    kind = ROUTES.get(endpoint)
    if kind is None:
        pytest.fail(f"unclassified route {endpoint}: add it to ROUTES")
    if kind == SESSION:
        pytest.skip("ends the session: tests/web/test_web_pages.py signs out")
    rule = next(r for r in world.app.url_map.iter_rules() if r.endpoint == endpoint and method in r.methods)
    with world.app.app_context():
        values, body = build(world, role, endpoint, kind, which)
        db.session.remove()
    with world.app.test_request_context():
        url = url_for(endpoint, **{name: values[name] for name in rule.arguments})
    client = world.clients[role]
    api = url.startswith("/api/")
    headers = world.headers.get(ACCOUNTS[role], {}) if api else {}
    response = client.open(url, method=method, headers=headers,
                           **({"json": body} if api and body is not None and method != "GET" else {}))
    status, text = response.status_code, response.get_data().decode("utf-8", "replace")
    response.close()  # file downloads hold their file open until closed
    assert status < 500, text[:500]
    if kind == PUBLIC:
        return
    if role == "anonymous":
        assert status in ((401,) if api else (302,)), status
        return
    own, foreign = own_and_foreign(role)
    if kind == LIST:
        if role not in ("hq_auditor", "admin") and method == "GET":
            for marker in (f"مسجد پرونده {foreign}", world.cases[foreign][1], f"مسجد مرکز {foreign}"):
                assert marker not in text, f"{endpoint} shows {marker!r} to {role}"
        return
    if not visible(role, kind, which):
        assert status == 404, f"{endpoint} {method} answered {status} to {role} for a {which} object"
    elif method == "GET" and endpoint not in ONLY_SOME_CASES:
        assert status != 404, f"{endpoint} hid a {which} object from {role}"
        if endpoint in MUST_READ:
            assert status == 200, f"{endpoint} answered {status} to {role}"


def test_a_guessed_case_id_is_404_for_pages_and_api_alike(world):
    """The plain statement of the rule, for the county officer of Arak and a case of Saveh."""
    saveh, arak = world.cases["saveh"][0], world.cases["arak"][0]
    client, headers = world.clients["county_officer"], world.headers["arak_officer"]
    assert client.get(f"/cases/{saveh}").status_code == 404
    assert client.get(f"/api/v1/cases/{saveh}", headers=headers).status_code == 404
    assert client.get(f"/cases/{saveh + 1000}").status_code == 404
    assert client.get(f"/api/v1/cases/{saveh + 1000}", headers=headers).status_code == 404
    assert client.get(f"/cases/{arak}").status_code == 200
    listed = client.get("/api/v1/cases", headers=headers).json["cases"]
    assert arak in [c["id"] for c in listed] and saveh not in [c["id"] for c in listed]
