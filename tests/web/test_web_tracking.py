"""Following a case without signing in: its tracking code and a national id its application names."""
from __future__ import annotations

import re

from forms import to_persian_digits
from support import ACTORS, application_fixture, in_county_review, login, submitted_founding
from web.extensions import db
from workflows.models import Case


def track(client, code: str, national_id: str):
    return client.post("/track", data={"code": code, "national_id": national_id})


def test_the_applicant_follows_a_case_with_its_code_and_a_national_id_of_its_application(app, client):
    case = in_county_review(app)
    imam = application_fixture()["imam"]["national_id"]
    trustee = application_fixture()["trustees"]["head_national_id"]
    assert re.fullmatch(r"\d{10}", case.tracking_code)
    # the case page shows the code to those who may see the case
    login(client, ACTORS["applicant"])
    assert to_persian_digits(case.tracking_code) in client.get(f"/cases/{case.id}").get_data(as_text=True)
    client.post("/logout")
    # typed in Persian digits with spaces, with either applicant's national id
    typed = " ".join(to_persian_digits(case.tracking_code)[i:i + 5] for i in (0, 5))
    for person in (imam, to_persian_digits(trustee)):
        response = track(client, typed, person)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, html[:2000]
        result = html.split('id="track-result"')[1]
        assert "تأسیس کانون" in result and "بررسی" in result and "اداره" in result
        # where it is, never what the application says
        assert application_fixture()["mosque"]["address"] not in html and imam not in html
    # a wrong national id or code answers the same «not found»; bad input gets its own message
    other = submitted_founding(app, manager_national_id="0013542419")
    for code, person in ((case.tracking_code, "0013542419"), (other.tracking_code, "1111111111"),
                         ("0000000000", imam)):
        response = track(client, code, person)
        assert response.status_code == 404 and "یافت نشد" in response.get_data(as_text=True)
    response = track(client, "12345", "")
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and "کد رهگیری ده رقم است." in text and 'id="err-track-national_id"' in text


def test_guessing_codes_is_limited(app, client):
    case = in_county_review(app)
    imam = application_fixture()["imam"]["national_id"]
    statuses = [track(client, f"{n:010d}", imam).status_code for n in range(app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] + 1)]
    assert statuses[-1] == 429 and set(statuses[:-1]) == {404}
    assert "دقیقه دیگر" in track(client, case.tracking_code, imam).get_data(as_text=True)
    assert db.session.get(Case, case.id).status == "county_review"
