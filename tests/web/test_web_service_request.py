"""A licensed center asks its county office for a service through the pages, and the county's signed
answer, with the letter it attaches, reaches the holder (``bpmn/service_request.bpmn``)."""
from __future__ import annotations

import hashlib
import io

from support import ACTORS, found_center, login, png_bytes
from test_web_procedures import post_task, start_from_center
from web.extensions import db
from workflows.models import Case, Record


def test_the_holder_asks_for_a_letter_and_the_county_answers_with_it_signed(app, client):
    center = found_center(app, ACTORS["applicant"])
    login(client, ACTORS["applicant"])
    page = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert 'id="start-service_request"' in page
    case_id = start_from_center(client, center.id, "service_request")
    asked = {"kind": "introduction_letter", "subject": "معرفی‌نامه اردوی نوجوانان",
             "description": "برای اردوی یک‌روزه نوجوانان کانون، معرفی‌نامه به اداره منابع طبیعی لازم است."}
    refused = post_task(client, case_id, asked)
    assert refused.status_code == 422
    assert "برای معرفی‌نامه بنویسید خطاب به چه سازمان یا چه کسی است." in refused.get_data(as_text=True)
    assert db.session.query(Record).filter(Record.case_id == case_id).count() == 0  # nothing signed
    assert post_task(client, case_id, {**asked, "addressee": "اداره منابع طبیعی اراک"}).status_code == 302
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    assert case.status == "county_answer" and [t.name for t in case.tasks] == ["county_answer"]
    assert case.tasks[0].due_at is not None  # the county's seven working days

    client.post("/logout")
    login(client, "arak_officer")
    assert f"/cases/{case_id}" in client.get("/inbox").get_data(as_text=True)
    letter = png_bytes("blue")
    answered = post_task(client, case_id, {"decision": "approve", "answer": "معرفی‌نامه شماره ۴۵۱۲ صادر شد.",
                                           "file.documents.letter": (io.BytesIO(letter), "letter.png")})
    assert answered.status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case_id).status == "granted"

    client.post("/logout")
    login(client, ACTORS["applicant"])
    shown = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "خدمت انجام شد" in shown and "پاسخ: معرفی‌نامه شماره ۴۵۱۲ صادر شد." in shown
    link = f"/cases/{case_id}/documents/{hashlib.sha256(letter).hexdigest()}"
    assert link in shown  # the letter the county attached, for the holder to print
    with client.get(link) as got:
        assert got.status_code == 200 and got.get_data() == letter
