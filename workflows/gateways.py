"""The real senders of the outbox: SMS through Kavenegar's web service with its own client library
(``kavenegar`` on PyPI), email through SMTP (``smtplib``). Chosen by configuration:

    OUTBOX_SENDER=workflows.gateways:GatewaySender

and each reads its settings from the environment (the sender is built with no arguments):

- ``KAVENEGAR_API_KEY`` and ``KAVENEGAR_SENDER`` (the line number SMS leave from);
  ``KAVENEGAR_HOST`` only to point the client at another server speaking the same protocol
  (the tests' stand-in); it speaks HTTPS, and trusts what ``REQUESTS_CA_BUNDLE`` names besides the
  usual authorities;
- ``SMTP_HOST``, ``SMTP_PORT`` (587), ``SMTP_STARTTLS`` (1), ``SMTP_USERNAME``, ``SMTP_PASSWORD``,
  ``SMTP_FROM``, ``SMTP_TIMEOUT`` (seconds, 20), ``SMTP_CA_FILE`` (the authority of a mail server
  whose certificate the usual authorities do not vouch for).

No message is sent twice: the outbox hands a message to one sender once per attempt (``take``),
and when an attempt fails after the gateway may have taken the message (an answer lost on the
way back), the next attempt carries the same identity: Kavenegar's ``localid`` (it answers a
repeated ``localid`` with the message it already has, and sends nothing), and the email's
``Message-ID``. A channel with no settings fails its messages with a clear reason, and they wait.
"""
from __future__ import annotations

import hashlib
import os
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from workflows.outbox import OutgoingMessage, SendError

__all__ = ["GatewaySender", "KavenegarSms", "SmtpEmail", "local_id"]


def local_id(key: str) -> str:
    """The message's identity as the SMS gateway takes it (digits, the same on every attempt)."""
    return str(int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:13], 16))


class KavenegarSms:
    """SMS through Kavenegar's ``sms/send`` with the ``kavenegar`` client."""

    def __init__(self) -> None:
        self.api_key = os.environ.get("KAVENEGAR_API_KEY", "")
        self.line = os.environ.get("KAVENEGAR_SENDER", "")
        self.host = os.environ.get("KAVENEGAR_HOST", "")

    def send(self, message: OutgoingMessage) -> str:
        if not self.api_key:
            raise SendError("no SMS gateway: KAVENEGAR_API_KEY is not set")
        from kavenegar import APIException, HTTPException, KavenegarAPI

        api = KavenegarAPI(self.api_key)
        if self.host:
            api.host = self.host
        params = {"receptor": message.address, "message": message.body, "localid": local_id(message.key)}
        if self.line:
            params["sender"] = self.line
        try:
            entries = api.sms_send(params)
        except (APIException, HTTPException) as error:
            raise SendError(f"Kavenegar: {error}") from None
        if not isinstance(entries, list) or not entries or "messageid" not in entries[0]:
            raise SendError(f"Kavenegar: unexpected answer {str(entries)[:200]}")
        return str(entries[0]["messageid"])


class SmtpEmail:
    """Email through an SMTP server (STARTTLS and a login when configured)."""

    def __init__(self) -> None:
        self.host = os.environ.get("SMTP_HOST", "")
        self.port = int(os.environ.get("SMTP_PORT", "587"))
        self.starttls = os.environ.get("SMTP_STARTTLS", "1") not in ("0", "false", "")
        self.username = os.environ.get("SMTP_USERNAME", "")
        self.password = os.environ.get("SMTP_PASSWORD", "")
        self.sender = os.environ.get("SMTP_FROM", "")
        self.timeout = float(os.environ.get("SMTP_TIMEOUT", "20"))
        self.ca_file = os.environ.get("SMTP_CA_FILE") or None

    def send(self, message: OutgoingMessage) -> str:
        if not self.host or not self.sender:
            raise SendError("no email gateway: SMTP_HOST and SMTP_FROM are not set")
        email = EmailMessage()
        domain = self.sender.rpartition("@")[2] or "localhost"
        message_id = f"<{local_id(message.key)}.{hashlib.sha256(message.key.encode()).hexdigest()[:16]}@{domain}>"
        email["Message-ID"] = message_id
        email["Date"] = formatdate(localtime=False)
        email["From"] = self.sender
        email["To"] = message.address
        email["Subject"] = message.subject
        email.set_content(message.body)  # UTF-8, as Persian text needs
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=self.ca_file))
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(email)
        except (smtplib.SMTPException, OSError, socket.timeout) as error:
            raise SendError(f"SMTP: {type(error).__name__}: {error}") from None
        return message_id


class GatewaySender:
    """Each message through the gateway of its channel."""

    def __init__(self) -> None:
        self.channels = {"sms": KavenegarSms(), "email": SmtpEmail()}

    def send(self, message: OutgoingMessage) -> str:
        gateway = self.channels.get(message.channel)
        if gateway is None:
            raise SendError(f"no gateway for the channel {message.channel!r}")
        return gateway.send(message)
