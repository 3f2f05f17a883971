"""Digits typed in Persian are stored normalized but read back in Persian wherever a person reads text:
the pages, the license PDF and the registry's CSV."""
from __future__ import annotations

import re

from support import ACTORS, PIN, answer_all, application_fixture, csv_rows, login, upload_documents, user
from web.certificate import certificate_context, certificate_html
from web.extensions import db
from workflows.cases import complete_task, start_case
from workflows.models import Case, Center, utcnow

MOSQUE = "مسجد جامع امام رضا ۲۴۳۲"


def licensed_with_digits(app) -> Case:
    case = start_case(db.session, process_key="center_founding", starter=user(ACTORS["applicant"]))
    data = application_fixture()
    data["mosque"]["name"], data["mosque"]["address"] = MOSQUE, "اراک، کوچه ۱۲، پلاک ۸"
    data["documents"] = upload_documents(app, case)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(ACTORS["applicant"]), data=data,
                  pin=PIN)
    db.session.commit()
    answer_all(case, "clear", utcnow())
    for actor in ("county", "province"):
        complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(ACTORS[actor]),
                      data={"decision": "approve"}, pin=PIN)
    db.session.commit()
    return case


def without_hashes(html: str) -> str:
    """The page less its hex digests (record hashes, key ids), which may hold any run of ASCII digits."""
    return re.sub(r"[0-9a-f]{12,}", "", html)


def test_digits_typed_in_persian_are_stored_normalized_and_shown_in_persian(app, client):
    case = licensed_with_digits(app)
    center = db.session.get(Center, case.center_id)
    assert "2432" in case.title and "۲۴۳۲" not in case.title  # stored for search, in one form
    login(client, ACTORS["county"])
    for path in (f"/cases/{case.id}", "/cases", f"/centers/{center.id}", "/centers", "/inbox?queue=all"):
        html = client.get(path).get_data(as_text=True)
        assert "2432" not in without_hashes(html), path
    assert "۲۴۳۲" in client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "۲۴۳۲" in client.get("/centers").get_data(as_text=True)
    # found by either digits
    for q in ("2432", "۲۴۳۲"):
        assert f"/centers/{center.id}\"" in client.get(f"/centers?q={q}").get_data(as_text=True), q
    row = csv_rows(client.get("/centers/export.csv"))[0]
    assert "۲۴۳۲" in row["نام مسجد"] and "کوچه ۱۲" in row["نشانی"]
    with app.test_request_context(base_url="http://127.0.0.1:5000"):
        html = certificate_html(certificate_context(case))
    assert "۲۴۳۲" in html and "2432" not in without_hashes(html.split("<body", 1)[1])
