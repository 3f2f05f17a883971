"""Signing sessions: the PIN typed once unlocks the key for a while, and only for the client that
holds the handle; a copy of the database, another user, a changed key or the clock lock it again."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from signing import WrongPinError, unwrap_private_key
from support import PIN, in_county_review, login, user
from web.cli import run_tick
from web.extensions import db
from workflows import keys
from workflows.models import Case, Inquiry, Record, SigningKey, SigningSession, utcnow
from workflows.verification import verify_case

from office_support import tokens_for


@pytest.fixture
def waiting(app):
    """A founding waiting for the Arak county officer, who uses the API."""
    case = in_county_review(app)
    headers = tokens_for("arak_officer", "saveh_officer")
    return case, headers["arak_officer"], headers["saveh_officer"]


def open_session(client, headers, **body):
    return client.post("/api/v1/signing-sessions", json={"pin": PIN, **body}, headers=headers)


def approve(client, headers, case, **credential):
    task_id = db.session.get(Case, case.id).tasks[0].task_id
    return client.post(f"/api/v1/cases/{case.id}/tasks/{task_id}/complete",
                       json={"data": {"decision": "approve"}, **credential}, headers=headers)


def records_of(case) -> int:
    return db.session.scalar(select(func.count()).select_from(Record).where(Record.case_id == case.id))


def test_a_pin_typed_once_signs_later_transitions(app, client, waiting):
    case, officer, _ = waiting
    opened = open_session(client, officer, minutes=10)
    assert opened.status_code == 201, opened.json
    handle = opened.json["signing_session"]
    ends = opened.json["expires_at"]
    assert handle.startswith(f"{opened.json['id']}.") and ends > utcnow().isoformat()
    before = records_of(case)
    response = approve(client, officer, case, signing_session=handle)
    assert response.status_code == 200, response.json
    db.session.expire_all()
    record = db.session.scalars(select(Record).where(Record.case_id == case.id).order_by(Record.seq.desc())).first()
    key = db.session.scalars(select(SigningKey).where(SigningKey.user_id == user("arak_officer").id,
                                                      SigningKey.active)).one()
    assert records_of(case) > before and record.key_id == key.key_id and record.actor_user_id == key.user_id
    assert verify_case(db.session, db.session.get(Case, case.id)).ok


def test_the_server_keeps_nothing_that_signs_without_the_client(app, client, waiting):
    case, officer, _ = waiting
    handle = open_session(client, officer).json["signing_session"]
    row = db.session.scalars(select(SigningSession)).one()
    secret_part = handle.split(".")[1]
    assert secret_part not in repr(row.__dict__)  # the secret is the client's alone
    with pytest.raises(WrongPinError):  # what a copy of the database holds does not open with a guess
        unwrap_private_key(row.wrapped_key, bytes(32), f"signing-session:{row.id}:{row.user_id}:{row.key_id}".encode())
    forged = f"{row.id}.{'A' * len(secret_part)}"
    response = approve(client, officer, case, signing_session=forged)
    assert response.status_code == 422 and set(response.json["errors"]) == {"signing_session"}


@pytest.mark.parametrize("how", ["expired", "other_user", "closed", "key_replaced", "unknown"])
def test_an_ended_session_signs_nothing_and_asks_for_the_pin(app, client, waiting, how):
    case, officer, other = waiting
    opened = open_session(client, officer).json
    handle = opened["signing_session"]
    headers = officer
    if how == "expired":
        db.session.get(SigningSession, opened["id"]).expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    elif how == "other_user":  # a handle is its owner's only, even with a token of the same office
        headers = other
    elif how == "closed":
        assert client.delete(f"/api/v1/signing-sessions/{opened['id']}", headers=officer).status_code == 204
        assert client.delete(f"/api/v1/signing-sessions/{opened['id']}", headers=officer).status_code == 404
    elif how == "key_replaced":
        keys.issue_key(db.session, user("arak_officer"), PIN)
        db.session.commit()
    else:
        handle = "999999.abc"
    status, lock = db.session.get(Case, case.id).status, db.session.get(Case, case.id).lock_version
    before = records_of(case)
    response = approve(client, headers, case, signing_session=handle)
    if how == "other_user":
        assert response.status_code in (403, 404, 422), response.json  # not their task either
    else:
        assert response.status_code == 422, response.json
        assert response.json["errors"] == {"signing_session": ["کلید امضای شما دوباره قفل شده است؛ رمز امضا را وارد کنید."]}
    db.session.expire_all()
    assert (records_of(case), db.session.get(Case, case.id).status, db.session.get(Case, case.id).lock_version) == (
        before, status, lock)
    # an ended session is not a wrong PIN: nothing counts toward the lockout
    assert [k.failed_pins for k in db.session.scalars(select(SigningKey).where(
        SigningKey.user_id == user("arak_officer").id))] in ([0], [0, 0])


def test_another_users_handle_cannot_sign_their_own_task(app, client, waiting):
    """Saveh's officer holds a handle of Arak's officer: it does not unlock anything for Saveh's officer."""
    case, officer, other = waiting
    handle = open_session(client, officer).json["signing_session"]
    with pytest.raises(Exception) as error:
        keys.session_signer(db.session, user("saveh_officer"), handle)
    assert type(error.value).__name__ == "SigningSessionEnded"


def test_opening_needs_the_right_pin_and_counts_wrong_ones(app, client, waiting):
    _, officer, _ = waiting
    response = client.post("/api/v1/signing-sessions", json={"pin": "0000"}, headers=officer)
    assert response.status_code == 422 and set(response.json["errors"]) == {"pin"}
    key = db.session.scalars(select(SigningKey).where(SigningKey.user_id == user("arak_officer").id)).one()
    db.session.refresh(key)
    assert key.failed_pins == 1 and db.session.scalar(select(func.count()).select_from(SigningSession)) == 0
    for body, field in (({"pin": PIN, "minutes": 0}, "minutes"), ({"pin": PIN, "minutes": 61}, "minutes"),
                        ({"pin": PIN, "minutes": "x"}, "minutes"), ({}, "pin"), ({"pin": PIN, "extra": 1}, "extra")):
        response = client.post("/api/v1/signing-sessions", json=body, headers=officer)
        assert response.status_code == 422 and field in response.json["errors"], (body, response.json)
    assert client.post("/api/v1/signing-sessions", json={"pin": PIN}).status_code == 401


def test_a_signed_body_needs_the_pin_or_a_session(app, client, waiting):
    case, officer, _ = waiting
    response = approve(client, officer, case)
    assert response.status_code == 422 and set(response.json["errors"]) == {"pin"}
    assert approve(client, officer, case, pin="").status_code == 422


def test_the_tick_forgets_ended_sessions(app, client, waiting):
    _, officer, _ = waiting
    first = open_session(client, officer).json
    second = open_session(client, officer, minutes=60).json
    db.session.get(SigningSession, first["id"]).expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    run_tick(utcnow())
    db.session.expire_all()
    assert [row.id for row in db.session.scalars(select(SigningSession))] == [second["id"]]


# --- the pages: a box to keep the key open, a button to lock it, sign-out locks it --------------

def decide_on_page(client, case, **fields):
    task_id = db.session.get(Case, case.id).tasks[0].task_id
    return client.post(f"/cases/{case.id}/tasks/{task_id}",
                       data={"decision": "approve", "_action": "submit", **fields})


def test_an_officer_types_the_pin_once_for_several_approvals(app, client):
    first, second, third = (in_county_review(app, "applicant1"),
                            in_county_review(app, "applicant2", manager_national_id="1234567891"),
                            in_county_review(app, "applicant1", manager_national_id="0013542419"))
    login(client, "arak_officer")
    page = client.get(f"/cases/{first.id}/tasks/{first.tasks[0].task_id}").get_data(as_text=True)
    assert 'id="keep_unlocked"' in page and 'id="signing-open"' not in page
    assert decide_on_page(client, first, pin=PIN, keep_unlocked="1").status_code == 302
    page = client.get(f"/cases/{second.id}/tasks/{second.tasks[0].task_id}").get_data(as_text=True)
    assert 'id="signing-open"' in page and 'id="keep_unlocked"' not in page and 'id="lock-signing"' in page
    assert decide_on_page(client, second).status_code == 302  # no PIN typed
    db.session.expire_all()
    for case in (first, second):
        assert db.session.get(Case, case.id).status == "province_review" and verify_case(db.session, case).ok
    # locking it again: the next approval needs the PIN, and the session is gone from the database
    assert client.post("/signing/lock", data={"next": f"/cases/{third.id}"}).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(SigningSession)) == 0
    response = decide_on_page(client, third)
    assert response.status_code == 422 and "رمز امضا" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Case, third.id).status == "county_review"


def test_signing_out_locks_the_key(app, client):
    case = in_county_review(app)
    login(client, "arak_officer")
    response = decide_on_page(client, in_county_review(app, "applicant2", manager_national_id="1234567891"),
                              pin=PIN, keep_unlocked="1")
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(SigningSession)) == 1
    client.post("/logout")
    assert db.session.scalar(select(func.count()).select_from(SigningSession)) == 0
    login(client, "arak_officer")
    assert decide_on_page(client, case).status_code == 422


def test_a_wrong_pin_with_the_box_ticked_opens_nothing(app, client):
    case = in_county_review(app)
    login(client, "arak_officer")
    response = decide_on_page(client, case, pin="0000", keep_unlocked="1")
    assert response.status_code == 422 and "رمز امضا نادرست است" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(SigningSession)) == 0
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == "county_review"


def test_a_forgotten_pin_is_asked_for_and_not_counted_as_wrong(app, client):
    case = in_county_review(app)
    login(client, "arak_officer")
    for _ in range(keys.MAX_WRONG_PINS + 1):  # more than the lock allows, had these counted
        response = decide_on_page(client, case)
        assert response.status_code == 422 and "این فیلد الزامی است." in response.get_data(as_text=True)
    key = db.session.scalars(select(SigningKey).where(SigningKey.user_id == user("arak_officer").id)).one()
    db.session.refresh(key)
    assert key.failed_pins == 0
    assert decide_on_page(client, case, pin=PIN).status_code == 302


def test_an_open_key_signs_an_inquiry_resend_without_the_pin(app, client):
    from support import submitted_founding

    decided = in_county_review(app)
    pending = submitted_founding(app, "applicant2", manager_national_id="1234567891")
    inquiry = db.session.scalars(select(Inquiry).where(Inquiry.case_id == pending.id)).first()
    login(client, "arak_officer")
    assert 'id="signing-open-' not in client.get(f"/cases/{pending.id}").get_data(as_text=True)
    assert decide_on_page(client, decided, pin=PIN, keep_unlocked="1").status_code == 302
    assert f'id="signing-open-{inquiry.id}"' in client.get(f"/cases/{pending.id}").get_data(as_text=True)
    response = client.post(f"/cases/{pending.id}/inquiries/{inquiry.id}/resend", data={"reason": "پاسخی نرسیده است"})
    assert response.status_code == 302
    db.session.expire_all()
    resent = db.session.scalars(select(Record).where(Record.case_id == pending.id, Record.action == "resend_inquiry")).one()
    assert resent.actor_user_id == user("arak_officer").id and verify_case(db.session, pending).ok
