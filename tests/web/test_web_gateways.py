"""SMS and email leave through real gateway adapters, each tested against a local server speaking its
protocol: Kavenegar's web service over HTTPS with its own client library, SMTP with STARTTLS and a
login. A failed attempt is retried on the next run; a message whose answer was lost is not sent twice."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway_standins import KavenegarStandIn, SmtpStandIn
from support import in_county_review
from web.extensions import db
from web.office_cli import deliver_outbox
from workflows import gateways, outbox
from workflows.models import utcnow
from workflows.notifications import OutboxMessage


@pytest.fixture
def standins(tmp_path, monkeypatch):
    for folder in ("sms", "smtp"):
        (tmp_path / folder).mkdir()
    with KavenegarStandIn(tmp_path / "sms") as sms, SmtpStandIn(tmp_path / "smtp") as smtp:
        bundle = tmp_path / "trusted.pem"
        bundle.write_bytes(sms.cert.read_bytes() + smtp.cert.read_bytes())
        for name, value in {"KAVENEGAR_API_KEY": sms.api_key, "KAVENEGAR_SENDER": "10004346",
                            "KAVENEGAR_HOST": sms.host, "REQUESTS_CA_BUNDLE": str(bundle),
                            "SMTP_CA_FILE": str(smtp.cert), "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port),
                            "SMTP_USERNAME": "notify", "SMTP_PASSWORD": "secret",
                            "SMTP_FROM": "notify@mosques.example", "SMTP_TIMEOUT": "5"}.items():
            monkeypatch.setenv(name, value)
        yield sms, smtp


def messages(channel: str | None = None) -> list[OutboxMessage]:
    db.session.expire_all()
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if channel:
        query = query.where(OutboxMessage.channel == channel)
    return db.session.scalars(query).all()


def test_notifications_leave_through_kavenegar_and_smtp_once_each(app, standins):
    sms, smtp = standins
    in_county_review(app)
    waiting = messages()
    assert {m.channel for m in waiting} == {"sms", "email"} and all(m.status == "pending" for m in waiting)
    sent, failed = deliver_outbox(gateways.GatewaySender(), limit=1000)
    assert (sent, failed) == (len(waiting), 0)
    texts = {(m.address, m.body) for m in messages("sms")}
    assert {(r["receptor"], r["message"]) for r in sms.received} == texts and len(sms.received) == len(texts)
    assert all(r["sender"] == "10004346" for r in sms.received)
    assert sorted(m.provider_id for m in messages("sms")) == sorted(str(r["messageid"]) for r in sms.received)
    emails = messages("email")
    assert sorted(to[0] for to, _ in smtp.received) == sorted(m.address for m in emails)
    subjects = {m.subject for m in emails}
    for to, email in smtp.received:
        assert email["Subject"] in subjects and "پرونده" in email.get_content()
        assert email["Message-ID"] == next(m.provider_id for m in emails if m.address == to[0] and
                                           m.subject == email["Subject"] and m.body.strip() == email.get_content().strip())
    # a second run has nothing left to send
    assert deliver_outbox(gateways.GatewaySender(), limit=1000) == (0, 0)
    assert len(sms.received) == len(texts) and len(smtp.received) == len(emails)


def test_a_gateway_error_is_retried_and_a_lost_answer_sends_nothing_twice(app, standins):
    sms, smtp = standins
    in_county_review(app)
    first = messages("sms")[0]
    sms.fail(1, "error")       # the gateway refuses the first attempt
    sms.fail(1, "drop")        # takes the second and the answer is lost
    sender = gateways.KavenegarSms()
    errors = []
    for expected_status in ("pending", "pending", "sent"):
        message = outbox.take(db.session)
        assert message.id == first.id
        db.session.commit()
        try:
            outbox.mark_sent(db.session, message, sender.send(outbox.as_outgoing(message)), utcnow())
        except outbox.SendError as error:
            errors.append(str(error))
            outbox.mark_failed(db.session, message, str(error))
        db.session.commit()
        assert messages("sms")[0].status == expected_status
    row = messages("sms")[0]
    assert row.attempts == 3 and row.last_error is None
    assert "418" in errors[0] and "Kavenegar" in errors[1]  # refused, then the answer lost
    taken = [r for r in sms.received if r["localid"] == gateways.local_id(row.key)]
    assert len(taken) == 1 and row.provider_id == str(taken[0]["messageid"])  # sent once, as the gateway knows it


def test_a_missing_or_unreachable_gateway_fails_the_attempt_and_the_message_waits(app, standins, monkeypatch):
    sms, smtp = standins
    in_county_review(app)
    monkeypatch.setenv("SMTP_PORT", "1")  # nothing listens there
    monkeypatch.delenv("KAVENEGAR_API_KEY")
    sent, failed = deliver_outbox(gateways.GatewaySender(), limit=1000)
    assert sent == 0 and failed == len(messages())
    assert all(m.status == "pending" and m.attempts == 1 for m in messages())
    assert "KAVENEGAR_API_KEY" in messages("sms")[0].last_error and "SMTP" in messages("email")[0].last_error
    monkeypatch.setenv("SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("KAVENEGAR_API_KEY", sms.api_key)
    sent, failed = deliver_outbox(gateways.GatewaySender(), limit=1000)
    assert failed == 0 and sent == len(messages()) and all(m.status == "sent" for m in messages())
