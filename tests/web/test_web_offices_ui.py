"""The offices' pages: Persian from the catalogue, right to left, no script or inline style, and a clear
Persian message (never a 500) for a bad page number or a date that does not exist."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from forms.messages import FA
from support import assert_nothing_inline, login

ROOT = Path(__file__).resolve().parents[2]
PAGES = {
    "applicant1": ["/cases", "/inbox", "/notifications"],
    "arak_officer": ["/inbox", "/inbox?queue=mine", "/notifications"],
    "markazi_head": ["/monitoring", "/inbox?queue=office"],
    "hq_auditor": ["/monitoring", "/audit", "/audit/log", "/audit/verify"],
    "admin": ["/admin", "/admin/log", "/monitoring", "/audit"],
}
#: list pages and the bad queries each must answer with a Persian message
BAD_QUERIES = {
    "arak_officer": ["/inbox?page=abc", "/inbox?per_page=۰", "/notifications?page=-1"],
    "markazi_head": ["/monitoring?from=1405/07/31", "/monitoring?to=۱۴۰۵/۱۳/۰۱", "/monitoring?from=yesterday"],
    "hq_auditor": ["/audit?page=abc", "/audit?to=1405/02/32", "/audit/log?page=x"],
    "admin": ["/admin?page=abc", "/admin/log?per_page=1000"],
}


@pytest.mark.parametrize("username", list(PAGES))
def test_pages_are_persian_rtl_and_script_free(client, username):
    login(client, username)
    for path in PAGES[username]:
        response = client.get(path)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert '<html lang="fa" dir="rtl">' in html and 'name="viewport"' in html, path
        # scripts only as files of the application (progressive enhancement), nothing inline
        scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S | re.I)
        assert len(scripts) == html.lower().count("<script"), path
        assert_nothing_inline(html, path)
        assert not re.search(r"\b(None|Undefined)\b", re.sub(r"<[^>]+>", " ", html)), path


@pytest.mark.parametrize("username", list(BAD_QUERIES))
def test_bad_query_parameters_get_a_persian_message(client, username):
    login(client, username)
    for path in BAD_QUERIES[username]:
        response = client.get(path)
        html = response.get_data(as_text=True)
        assert response.status_code == 422, path
        errors = re.search(r'id="filter-errors">(.*?)</div>', html, re.S)
        assert errors and re.search("[\u0600-\u06ff]{3}", errors.group(1)), path


def test_api_lists_answer_bad_parameters_in_persian(client):
    login(client, "arak_officer")
    for path in ("/api/v1/tasks?page=abc", "/api/v1/notifications?per_page=9999"):
        response = client.get(path)
        assert response.status_code == 422 and response.json["error"] == "invalidinput"
        assert all(re.search("[\u0600-\u06ff]", m) for ms in response.json["errors"].values() for m in ms)


def test_every_catalogue_key_the_offices_code_names_exists():
    files = [*ROOT.glob("web/templates/*.html"), *(ROOT / "web").glob("*.py"), *(ROOT / "workflows").glob("*.py")]
    missing = set()
    for path in files:
        for key in re.findall(r"""\bt\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""", path.read_text("utf-8")):
            if key not in FA and not key.endswith("_"):  # a prefix the template completes ("…sort_" ~ name)
                missing.add(f"{path.name}: {key}")
    assert not missing, sorted(missing)


def test_dynamic_catalogue_keys_exist():
    from workflows.inbox import QUEUES, SORTS
    from workflows.notifications import KINDS
    from workflows.admin import ASSIGNABLE_ROLES
    keys = [f"web.inbox.queue.{q}" for q in QUEUES] + [f"web.inbox.sort_{s}" for s in SORTS]
    keys += [f"web.notify.{k}" for k in KINDS]
    keys += [f"web.role.{r}" for r in ASSIGNABLE_ROLES]
    keys += [f"web.admin.action.{a}" for a in ("add_office", "add_user", "assign_role", "deactivate_user")]
    keys += [f"web.admin.done.{a}" for a in ("office", "user", "role", "deactivate")]
    keys += [f"web.audit.event.{a}" for a in ("view", "export", "verify_all")]
    assert [key for key in keys if key not in FA] == []
