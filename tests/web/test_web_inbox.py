"""Inboxes: heads act for their office, claims, filters, search, sort, pages, counts; where an applicant's case is."""
from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlalchemy import select

from office_support import answer, base_time, decide, founding, licensed, national_id, tokens_for
from support import PIN, login, tick, user
from web.extensions import db
from workflows import access
from workflows.cases import complete_task, start_case
from workflows.models import Case, CaseTask, License, Record, utcnow


def _task(case_id: int) -> CaseTask:
    db.session.expire_all()
    return db.session.get(Case, case_id).tasks[0]


def test_office_heads_sign_the_offices_decisions(app):
    now = base_time()
    case = founding(app, "applicant1", county="markazi-arak", mosque="مسجد سر", manager_id=national_id(101), now=now)
    answer(case, now + timedelta(hours=1))
    assert access.may_act(user("arak_head"), case.tasks[0]) and access.may_act(user("arak_officer"), case.tasks[0])
    assert not access.may_act(user("markazi_head"), case.tasks[0])
    assert not access.may_act(user("saveh_officer"), case.tasks[0])
    decide(case, "arak_head", "approve", now + timedelta(hours=2))
    assert not access.may_act(user("arak_head"), case.tasks[0])
    assert access.may_act(user("markazi_head"), case.tasks[0])
    decide(case, "markazi_head", "approve", now + timedelta(hours=3))
    assert case.status == "licensed"
    roles = [json.loads(r.canonical)["actor"]["role"] for r in db.session.scalars(
        select(Record).where(Record.case_id == case.id, Record.action == "approve").order_by(Record.seq))]
    assert roles == ["county_head", "province_head"]
    # a county head may start an office-initiated retirement, like the officers of the county
    center = db.session.get(Case, case.id).center
    retirement = start_case(db.session, process_key="manager_retirement", starter=user("arak_head"), center=center,
                            now=now + timedelta(hours=4))
    assert retirement.tasks[0].name == "office_request"


def test_hq_signs_nothing_in_a_case(app, client):
    now = base_time()
    case = founding(app, "applicant1", county="markazi-arak", mosque="مسجد ستاد", manager_id=national_id(102), now=now)
    answer(case, now + timedelta(hours=1))
    headers = tokens_for("hq_auditor", "admin")
    task_id = case.tasks[0].task_id
    for username in ("hq_auditor", "admin"):
        assert client.get(f"/api/v1/cases/{case.id}", headers=headers[username]).status_code == 200
        response = client.post(f"/api/v1/cases/{case.id}/tasks/{task_id}/complete", headers=headers[username],
                               json={"data": {"decision": "approve"}, "pin": PIN})
        assert response.status_code == 403
        assert client.post(f"/api/v1/cases/{case.id}/tasks/{task_id}/claim",
                           headers=headers[username]).status_code == 403
    assert db.session.scalar(select(Record.id).where(Record.case_id == case.id, Record.action == "approve")) is None


def test_claim_release_and_reassign_within_the_office(app, client):
    now = base_time()
    case = founding(app, "applicant1", county="markazi-arak", mosque="مسجد برداشت", manager_id=national_id(103), now=now)
    answer(case, now + timedelta(hours=1))
    headers = tokens_for("arak_officer", "arak_head", "saveh_officer", "markazi_officer")
    base = f"/api/v1/cases/{case.id}/tasks/{case.tasks[0].task_id}"
    officer, head = user("arak_officer"), user("arak_head")

    # the officer takes it through the page; then only the officer may complete it
    login(client, "arak_officer")
    response = client.post(f"/cases/{case.id}/tasks/{case.tasks[0].task_id}/claim", data={"next": "/inbox?queue=mine"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox?queue=mine")
    task = _task(case.id)
    assert task.claimed_by_id == officer.id and task.claimed_at is not None
    mine = client.get("/inbox?queue=mine").get_data(as_text=True)
    assert f'data-case="{case.id}"' in mine and "release" in mine
    assert client.post(f"{base}/claim", headers=headers["arak_head"]).status_code == 409
    refused = client.post(f"{base}/complete", headers=headers["arak_head"], json={"data": {"decision": "approve"}, "pin": PIN})
    assert refused.status_code == 403
    assert client.get("/api/v1/tasks", headers=headers["arak_head"]).json["counts"] == {
        "open": 0, "mine": 0, "unclaimed": 0, "office": 1}
    # another office's officer cannot touch it; the province is not this task's office
    assert client.post(f"{base}/claim", headers=headers["saveh_officer"]).status_code == 404
    assert client.post(f"{base}/claim", headers=headers["markazi_officer"]).status_code == 403
    # a colleague cannot release it; the head of the office can hand it over, only within the office
    assert client.post(f"{base}/release", headers=headers["arak_head"]).status_code == 200
    assert _task(case.id).claimed_by_id is None
    client.post(f"{base}/claim", headers=headers["arak_officer"])
    bad = client.post(f"{base}/reassign", headers=headers["arak_head"], json={"user_id": user("saveh_officer").id})
    assert bad.status_code == 422 and "user_id" in bad.json["errors"]
    moved = client.post(f"{base}/reassign", headers=headers["arak_head"], json={"user_id": head.id})
    assert moved.status_code == 200 and moved.json["task"]["claimed_by"] == "arak_head"
    assert client.post(f"{base}/reassign", headers=headers["arak_officer"],
                       json={"user_id": officer.id}).status_code == 403
    refused = client.post(f"{base}/complete", headers=headers["arak_officer"],
                          json={"data": {"decision": "approve"}, "pin": PIN})
    assert refused.status_code == 403
    done = client.post(f"{base}/complete", headers=headers["arak_head"], json={"data": {"decision": "approve"}, "pin": PIN})
    assert done.status_code == 200 and done.json["case"]["status"] == "province_review"
    assert client.post(f"{base}/claim", headers=headers["arak_head"]).status_code == 409  # no longer waiting


def test_a_claim_survives_other_transitions_of_the_case(app):
    """Inquiries time out, the county takes the visit's scheduling, then a late answer arrives: the claim stays."""
    now = base_time()
    case = founding(app, "applicant1", county="markazi-arak", mosque="مسجد دیرکرد", manager_id=national_id(104), now=now)
    overdue = case.wake_at  # the inquiries' ten working days
    tick(app, overdue)
    case = db.session.get(Case, case.id)
    assert case.status == "visit_scheduling"
    from workflows import inbox
    inbox.claim(db.session, case.tasks[0], user("arak_head"), overdue + timedelta(hours=1))
    db.session.commit()
    answer(case, overdue + timedelta(hours=2), visit=False)
    task = _task(case.id)
    assert task.name == "schedule_visit" and task.claimed_by_id == user("arak_head").id


def _review_cases(app, now):
    """Five cases waiting on the county office of Arak (one a manager change), one on Saveh."""
    cases = []
    for i, name in enumerate(("مسجد الف", "مسجد ب", "مسجد پ", "مسجد ت")):
        case = founding(app, "applicant1", county="markazi-arak", mosque=name, manager_id=national_id(200 + i),
                        now=now + timedelta(hours=i), seed=10 + i)
        answer(case, now + timedelta(hours=i, minutes=30))
        cases.append(case)
    center = licensed(app, "applicant2", county="markazi-arak", mosque="مسجد کانون قدیم", manager_id=national_id(210),
                      now=now + timedelta(hours=5), county_officer="arak_officer", province_officer="markazi_officer")
    change = start_case(db.session, process_key="manager_change", starter=user("applicant2"), center=center,
                        now=now + timedelta(hours=9))
    from office_support import doc_bytes
    from workflows import documents
    digests = {field: documents.store_document(db.session, app.config["STORAGE_DIR"], case=change, user=user("applicant2"),
                                               field=field, filename="x.png", content=doc_bytes(90 + k)).sha256
               for k, field in enumerate(("manager_id_copy", "manager_photo", "manager_degree"))}
    complete_task(db.session, case=change, task_id=change.tasks[0].task_id, actor=user("applicant2"), pin=PIN,
                  now=now + timedelta(hours=9), data={
                      "manager": {"first_name": "سارا", "last_name": "نیک", "national_id": national_id(211),
                                  "birth_date": "1378/01/15", "gender": "female", "education": "master",
                                  "mobile": "09121110000"},
                      "reason": "جابه‌جایی مدیر", "documents": digests})
    db.session.commit()
    answer(change, now + timedelta(hours=10))
    cases.append(change)
    saveh = founding(app, "applicant2", county="markazi-saveh", mosque="مسجد ساوه", manager_id=national_id(212),
                     now=now, seed=40)
    answer(saveh, now + timedelta(minutes=30))
    return cases, center, saveh


def test_inbox_filters_search_sort_and_pages(app, client):
    now = base_time()
    cases, center, saveh = _review_cases(app, now)
    headers = tokens_for("arak_officer", "markazi_officer")
    license_number = db.session.scalars(select(License.number).where(License.center_id == center.id)).one()
    # one task is past its deadline
    overdue = _task(cases[2].id)
    overdue.due_at = utcnow() - timedelta(hours=1)
    db.session.commit()

    def ids(query: str, who: str = "arak_officer") -> list[int]:
        response = client.get(f"/api/v1/tasks?{query}", headers=headers[who])
        assert response.status_code == 200, response.json
        return [task["case_id"] for task in response.json["tasks"]]

    everything = client.get("/api/v1/tasks?per_page=100", headers=headers["arak_officer"]).json
    assert everything["total"] == 5 and everything["counts"]["open"] == 5 and saveh.id not in ids("")
    # sorted by deadline, soonest first (the overdue one leads), by arrival on request
    assert ids("") == [cases[2].id, cases[0].id, cases[1].id, cases[3].id, cases[4].id]
    assert ids("sort=newest") == [c.id for c in reversed(cases)]
    assert ids("sort=oldest") == [c.id for c in cases]
    # filters
    assert ids("overdue=1") == [cases[2].id]
    assert ids("process_key=manager_change") == [cases[4].id]
    assert ids("step=county_review&process_key=center_founding") == [c.id for c in (cases[2], cases[0], cases[1], cases[3])]
    assert ids("step=province_review") == []
    # search: mosque name, the proposed manager's national ID (Persian digits too), the center's license number
    assert ids("q=مسجد ب") == [cases[1].id]
    assert ids("q=" + national_id(203).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))) == [cases[3].id]
    assert ids(f"q={license_number}") == [cases[4].id]
    assert ids(f"q={national_id(210)}") == [cases[4].id]  # the center's current manager
    # pages
    first = client.get("/api/v1/tasks?per_page=2", headers=headers["arak_officer"]).json
    third = client.get("/api/v1/tasks?per_page=2&page=3", headers=headers["arak_officer"]).json
    assert (first["pages"], len(first["tasks"]), len(third["tasks"])) == (3, 2, 1)
    # the province: county filter within its province only
    decide(db.session.get(Case, cases[0].id), "arak_officer", "approve", now + timedelta(hours=12))
    decide(db.session.get(Case, saveh.id), "saveh_officer", "approve", now + timedelta(hours=12))
    assert sorted(ids("", "markazi_officer")) == sorted([cases[0].id, saveh.id])
    assert ids("county=markazi-saveh", "markazi_officer") == [saveh.id]
    bad = client.get("/api/v1/tasks?county=isfahan-kashan", headers=headers["markazi_officer"])
    assert bad.status_code == 404 and "county" in bad.json["errors"]  # no such county in its jurisdiction
    # bad parameters: a clear Persian message, never a 500
    for query, field in (("page=abc", "page"), ("page=0", "page"), ("per_page=1000", "per_page"),
                         ("sort=random", "sort"), ("queue=x", "queue"), ("process_key=x", "process_key")):
        response = client.get(f"/api/v1/tasks?{query}", headers=headers["arak_officer"])
        assert response.status_code == 422 and field in response.json["errors"], query
        assert re.search("[\u0600-\u06ff]", response.json["errors"][field][0])


def test_inbox_page_queues_counts_and_navigation(app, client):
    now = base_time()
    cases, _, _ = _review_cases(app, now)
    login(client, "arak_officer")
    page = client.get("/inbox").get_data(as_text=True)
    assert 'id="nav-inbox"' in page and "کارتابل" in page
    assert re.search(r'id="queue-open"[^>]*>[^<]*<span class="badge">۵</span>', page)
    assert page.count('data-case="') == 5
    client.post(f"/cases/{cases[0].id}/tasks/{cases[0].tasks[0].task_id}/claim")
    page = client.get("/inbox?queue=mine").get_data(as_text=True)
    assert re.search(r'id="queue-mine"[^>]*>[^<]*<span class="badge">۱</span>', page)
    assert re.search(r'class="badge mine"[^>]*>[^<]*۱</span>', page)
    assert page.count('data-case="') == 1
    two = client.get("/inbox?per_page=2&page=2").get_data(as_text=True)
    assert two.count('data-case="') == 2 and "صفحه ۲ از ۳" in two
    for query in ("page=abc", "per_page=-1", "sort=x", "county=isfahan-kashan"):
        response = client.get(f"/inbox?{query}")
        assert response.status_code == 422, query
        assert 'id="filter-errors"' in response.get_data(as_text=True)
    found = client.get("/inbox?q=مسجد پ").get_data(as_text=True)
    assert found.count('data-case="') == 1 and f'data-case="{cases[2].id}"' in found


def test_applicant_sees_where_each_case_is(app, client):
    now = base_time()
    draft = start_case(db.session, process_key="center_founding", starter=user("applicant1"), now=now)
    db.session.commit()
    waiting = founding(app, "applicant1", county="markazi-arak", mosque="مسجد منتظر", manager_id=national_id(301), now=now)
    review = founding(app, "applicant1", county="markazi-arak", mosque="مسجد بررسی", manager_id=national_id(302), now=now)
    answer(review, now + timedelta(hours=1))
    returned = founding(app, "applicant1", county="markazi-arak", mosque="مسجد بازگشتی", manager_id=national_id(303), now=now)
    answer(returned, now + timedelta(hours=1))
    decide(returned, "arak_officer", "return", now + timedelta(hours=2), reason="نشانی مسجد کامل نیست.")
    done = licensed(app, "applicant1", county="markazi-arak", mosque="مسجد پایانی", manager_id=national_id(304),
                    now=now, county_officer="arak_officer", province_officer="markazi_officer")
    login(client, "applicant1")
    page = client.get("/cases").get_data(as_text=True)

    def item(case_id: int) -> str:
        return re.search(rf'<li data-case="{case_id}">(.*?)</li>', page, re.S).group(1)

    assert "مرحله ۱ از ۵" in item(draft.id) and "شما" in item(draft.id) and "کامل و امضا" in item(draft.id)
    assert "مرحله ۲ از ۵" in item(waiting.id) and "استعلام" in item(waiting.id)
    assert 'class="deadline"' in item(waiting.id)  # the inquiries' deadline
    review_item = item(review.id)
    assert "مرحله ۴ از ۵" in review_item and "اراک" in review_item and 'class="deadline"' in review_item
    assert "در دست بررسی اداره" in review_item
    assert "مرحله ۱ از ۵" in item(returned.id) and "اصلاح" in item(returned.id)
    assert "مجوز صادر شد" in item(db.session.scalar(select(License.case_id).where(License.center_id == done.id)))
    # the applicant's inbox holds exactly their two waiting forms
    tasks = client.get("/api/v1/tasks", headers=tokens_for("applicant1")["applicant1"]).json
    assert sorted(t["case_id"] for t in tasks["tasks"]) == sorted([draft.id, returned.id])
