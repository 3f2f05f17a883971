"""The headquarters audit: decisions across the country, read-only cases, whole-database verification, the read log."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from forms import jalali_iso, to_persian_digits
from office_support import answer, base_time, decide, founding, licensed, national_id, tokens_for
from support import login
from web.extensions import db
from workflows.audit import AuditEvent
from workflows.models import Record, tehran_today


@pytest.fixture
def country(app):
    """A license in Arak, one in Kashan, a refusal in Saveh, and a case waiting in Arak."""
    t = base_time()
    arak = licensed(app, "applicant1", county="markazi-arak", mosque="مسجد حسابرسی اراک", manager_id=national_id(601),
                    now=t, county_officer="arak_officer", province_officer="markazi_officer", seed=1)
    kashan = licensed(app, "applicant2", county="isfahan-kashan", mosque="مسجد حسابرسی کاشان",
                      manager_id=national_id(602), now=t, county_officer="kashan_officer",
                      province_officer="isfahan_officer", seed=2)
    saveh = founding(app, "applicant2", county="markazi-saveh", mosque="مسجد حسابرسی ساوه", manager_id=national_id(603),
                     now=t, seed=3)
    answer(saveh, t + timedelta(hours=1))
    decide(saveh, "saveh_officer", "reject", t + timedelta(hours=2), reason="فضای آموزشی کافی نیست.")
    waiting = founding(app, "applicant1", county="markazi-arak", mosque="مسجد حسابرسی منتظر", manager_id=national_id(604),
                       now=t, seed=4)
    return {"t": t, "arak": arak, "kashan": kashan, "saveh": saveh, "waiting": waiting}


def _rows(html: str) -> int:
    return len(re.findall(r"<tr data-record=", html))


def test_signed_decisions_across_the_country_with_filters(country, client):
    login(client, "hq_auditor")
    everything = client.get("/audit").get_data(as_text=True)
    # two approvals and a license in each licensed case, one refusal
    assert _rows(everything) == 7 and "مسجد حسابرسی کاشان" in everything and "مسجد حسابرسی منتظر" not in everything
    assert _rows(client.get("/audit?office=markazi").get_data(as_text=True)) == 4
    assert _rows(client.get("/audit?office=isfahan-kashan").get_data(as_text=True)) == 3
    assert _rows(client.get("/audit?action=reject").get_data(as_text=True)) == 1
    assert _rows(client.get("/audit?person=kashan_officer").get_data(as_text=True)) == 1
    assert _rows(client.get("/audit?person=کریمی").get_data(as_text=True)) == 2  # Isfahan: approval and license
    assert _rows(client.get("/audit?action=submit").get_data(as_text=True)) == 4
    assert _rows(client.get("/audit?process_key=manager_change").get_data(as_text=True)) == 0
    day = tehran_today(country["t"])
    assert _rows(client.get(f"/audit?from={to_persian_digits(jalali_iso(day))}").get_data(as_text=True)) == 7
    before = jalali_iso(day - timedelta(days=1))
    assert _rows(client.get(f"/audit?to={before}").get_data(as_text=True)) == 0
    assert _rows(client.get("/audit?per_page=2&page=4").get_data(as_text=True)) == 1
    for query in ("page=abc", "from=1405/02/40", "office=atlantis", "action=dance"):
        response = client.get(f"/audit?{query}")
        assert response.status_code == 422 and 'id="filter-errors"' in response.get_data(as_text=True), query


def test_only_headquarters_audits(country, client):
    for username in ("markazi_head", "arak_officer", "applicant1"):
        login(client, username)
        for path in ("/audit", f"/audit/cases/{country['saveh'].id}", "/audit/log", "/audit/verify"):
            assert client.get(path).status_code == 404, (username, path)
        assert client.post("/audit/verify").status_code == 404
        client.post("/logout")


def test_a_case_read_only_with_its_verification_and_the_read_is_logged(country, client):
    saveh = country["saveh"]
    login(client, "hq_auditor")
    page = client.get(f"/audit/cases/{saveh.id}").get_data(as_text=True)
    assert "همه امضاها و پیوند زنجیره درست است" in page and "فضای آموزشی کافی نیست." in page
    assert "<form" not in page.split("<main")[1].split("</main>")[0]  # nothing to sign or submit
    # the process diagram, as on the case page; fetching its XML is not logged as a read of the case
    assert 'id="diagram"' in page and f'data-src="/cases/{saveh.id}/diagram.bpmn"' in page
    assert client.get(f"/cases/{saveh.id}/diagram.bpmn").status_code == 200
    headers = tokens_for("hq_auditor")["hq_auditor"]
    assert client.get(f"/api/v1/cases/{country['waiting'].id}", headers=headers).status_code == 200
    assert client.get(f"/cases/{country['waiting'].id}").status_code == 200
    assert client.get("/centers/export.csv").status_code == 200
    assert client.get("/monitoring/cases.csv").status_code == 200
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.action, e.target) for e in events] == [
        ("view", f"case:{saveh.id}"), ("view", f"case:{country['waiting'].id}"),
        ("view", f"case:{country['waiting'].id}"), ("export", "export:registry.export"),
        ("export", "export:monitoring.export")]
    assert json.loads(events[1].details)["endpoint"] == "api.read_case"
    log = client.get("/audit/log").get_data(as_text=True)
    assert log.count("<tr>") == 1 + 5  # the header row and five reads
    # in Persian words, each naming the page it went through and linking the case read; the codes
    # stay for an auditor, folded away
    shown = re.sub(r"<details>.*?</details>", "", log.split('id="read-log"')[1], flags=re.S)
    assert "خروجی جدول نظارت" in shown and "پرونده از راه API" in shown and "صفحه پرونده" in shown
    assert f'<a href="/audit/cases/{saveh.id}">پرونده #{to_persian_digits(str(saveh.id))}</a>' in shown
    assert not re.search("[a-z]+[:._][a-z0-9]", re.sub(r"<[^>]+>", "", shown)), shown
    assert "monitoring.export" in log  # folded
    # reads by anyone else are not headquarters' and are not logged; nothing was signed by reading
    client.post("/logout")
    login(client, "arak_officer")
    client.get(f"/cases/{country['waiting'].id}")
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 5  # neither the log page nor Arak read
    assert db.session.scalar(select(func.count()).select_from(Record).where(
        Record.actor_user_id.in_(select(AuditEvent.user_id)))) == 0


def test_whole_database_verification_finds_a_tampered_case(country, client, runner):
    login(client, "hq_auditor")
    result = runner.invoke(args=["verify-all"])
    assert result.exit_code == 0, result.output
    assert ("4 case(s) verified, 0 failed; registry and case facts: 0 problem(s); log: 0 problem(s); admin log ok"
            " (0 record(s)); PKI: 0 problem(s)." in result.output)
    assert "verified 4/4 case(s), 0 failed" in result.output  # the progress line (on stderr)
    page = client.post("/audit/verify").get_data(as_text=True)
    assert "۴ پرونده بررسی شد؛ ۰ پرونده" in page

    record = db.session.scalars(select(Record).where(Record.case_id == country["saveh"].id, Record.action == "reject")).one()
    record.canonical = record.canonical.replace('"reject"', '"approve"')
    db.session.commit()
    result = runner.invoke(args=["verify-all", "--quiet"])
    assert result.exit_code == 1
    assert f"case {country['saveh'].id} " in result.output and "1 failed" in result.output
    page = client.post("/audit/verify").get_data(as_text=True)
    assert "۴ پرونده بررسی شد؛ ۱ پرونده" in page and f"/audit/cases/{country['saveh'].id}" in page
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "verify_all")).all()
    assert [json.loads(e.details)["failed"] for e in events] == [0, 1]
    assert "زنجیره امضاها معتبر نیست" in client.get(f"/audit/cases/{country['saveh'].id}").get_data(as_text=True)
