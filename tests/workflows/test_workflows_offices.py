"""The office tree and the roles are data: the shipped files, their checks, and what the demo loads from them."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from office_support import base_time, licensed, national_id
from support import BPMN_DIR, shipped
from web.extensions import db
from workflows import access
from workflows.models import ROLES, Office, User
from workflows.offices import OFFICES_FILE, OfficeTreeError, load_offices, read_office_tree
from workflows.procedures import package_keys

PERSIAN = re.compile("[\u0600-\u06ff]")


def test_the_shipped_tree_has_headquarters_and_all_31_provinces():
    specs = read_office_tree()
    provinces = [s for s in specs if s.kind == "province"]
    assert [s.code for s in specs if s.kind == "hq"] == ["hq"]
    assert len(provinces) == 31 and sorted(p.number for p in provinces) == list(range(31))
    numbers = {p.code: p.number for p in provinces}
    assert numbers["markazi"] == 0 and numbers["isfahan"] == 10 and numbers["tehran"] == 23
    assert all(PERSIAN.search(s.name) and "ي" not in s.name and "ك" not in s.name for s in specs)
    counties: dict[str, list[str]] = {s.code: [] for s in provinces}
    for s in specs:
        if s.kind == "county":
            counties[s.parent_code].append(s.name)
    assert {"اراک", "ساوه", "خمین", "محلات"} <= set(counties["markazi"])
    assert {"اصفهان", "کاشان", "نجف‌آباد", "خمینی‌شهر"} <= set(counties["isfahan"])
    codes = {s.code for s in specs}
    assert {"hq", "markazi", "isfahan", "markazi-arak", "markazi-saveh", "isfahan-isfahan", "isfahan-kashan"} <= codes


@pytest.mark.parametrize("change, message", [
    (lambda t: t["provinces"][1].update(number=0), "number"),
    (lambda t: t["provinces"][1].update(code="markazi"), "duplicate"),
    (lambda t: t["provinces"][0]["counties"][0].update(code="Arak City"), "code"),
    (lambda t: t["provinces"][0].update(name=" "), "name"),
    (lambda t: t.pop("headquarters"), "headquarters"),
])
def test_a_malformed_tree_is_refused(tmp_path, change, message):
    tree = json.loads(OFFICES_FILE.read_text("utf-8"))
    change(tree)
    path = tmp_path / "offices.json"
    path.write_text(json.dumps(tree, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(OfficeTreeError, match=message):
        read_office_tree(path)


def test_the_demo_loads_the_tree_and_loading_again_adds_nothing(app):
    specs = read_office_tree()
    assert db.session.scalar(select(func.count()).select_from(Office)) == len(specs)
    arak = db.session.scalars(select(Office).where(Office.code == "markazi-arak")).one()
    assert arak.parent.code == "markazi" and arak.parent.parent.code == "hq" and arak.parent.number == 0
    load_offices(db.session, specs)
    assert db.session.scalar(select(func.count()).select_from(Office)) == len(specs)
    heads = {u.username: (u.role, u.office.code) for u in db.session.scalars(
        select(User).where(User.role.in_(("county_head", "province_head"))))}
    assert heads == {"arak_head": ("county_head", "markazi-arak"), "markazi_head": ("province_head", "markazi")}


def test_license_numbers_carry_the_provinces_number(app):
    t = base_time()
    center = licensed(app, "applicant2", county="isfahan-kashan", mosque="مسجد شماره", manager_id=national_id(901),
                      now=t + timedelta(hours=1), county_officer="kashan_officer", province_officer="isfahan_officer")
    from workflows.models import License
    number = db.session.scalars(select(License.number).where(License.center_id == center.id)).one()
    assert number.startswith("10-")


def test_roles_file_and_the_database_constraint_agree():
    assert set(access.ROLE_DEFS) == set(ROLES)
    assert access.LANE_ROLES == {"applicant": ("applicant",), "county": ("county_officer", "county_head"),
                                 "province": ("province_officer", "province_head")}
    for role, definition in access.ROLE_DEFS.items():
        for lane in definition.lanes:
            expected = {"county": "county", "province": "province", "applicant": None}[lane]
            assert definition.office_kind == expected, role
    assert access.READ_ALL_ROLES == ("hq_auditor", "admin")
    assert access.is_office_role("county_head") and not access.is_office_role("hq_auditor")


def test_a_roles_file_with_an_unknown_capability_or_role_is_refused(tmp_path):
    data = json.loads(access.ROLES_FILE.read_text("utf-8"))
    data["roles"]["county_head"]["capabilities"].append("sign_for_everyone")
    path = tmp_path / "roles.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="capabilit"):
        access.load_roles(path)
    data = json.loads(access.ROLES_FILE.read_text("utf-8"))
    data["lanes"]["county"].append("county_deputy")
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="undefined roles"):
        access.load_roles(path)


@pytest.mark.parametrize("process_key, status, expected", [
    ("center_founding", "draft", (1, 5, "application")),
    ("center_founding", "correction", (1, 5, "application")),
    ("center_founding", "inquiries", (2, 5, "inquiries")),
    ("center_founding", "visit_scheduling", (3, 5, "site_visit")),
    ("center_founding", "site_visit", (3, 5, "site_visit")),
    ("center_founding", "county_review", (4, 5, "county_review")),
    ("center_founding", "province_review", (5, 5, "province_review")),
    ("center_founding", "licensed", (5, 5, None)),
    ("manager_change", "draft", (1, 5, "proposal")),
    ("manager_retirement", "acknowledgement", (2, 3, "acknowledgement")),
    ("manager_resignation", "awaiting_successor", (3, 3, "continuity")),
    ("manager_resignation", "closed", (3, 3, None)),
])
def test_step_n_of_m(process_key, status, expected):
    number, steps, step = shipped(process_key).step_of(status)
    assert (number, steps, step.name if step else None) == expected


def test_every_waiting_status_of_every_procedure_has_a_step():
    assert package_keys(BPMN_DIR) == ("activity_report", "center_closure", "center_evaluation", "center_founding", "license_revocation",
                                      "license_suspension", "manager_change", "manager_resignation", "manager_retirement", "manager_training",
                                      "service_request", "signboard", "suspension_lift", "term_renewal")
    for key in package_keys(BPMN_DIR):
        proc = shipped(key)
        covered = {status for step in proc.steps for status in step.statuses}
        waiting = {m.status for m in proc.tasks.values()} | {m.status for m in proc.messages.values()}
        assert "draft" in covered, key
        assert covered == waiting | {"draft"}, key  # every case is a draft until its first signed record
        assert not covered & {end.status for end in proc.ends.values()}, key
