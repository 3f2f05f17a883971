"""HQ's time-stamping authority over HTTP (RFC 3161 section 3.4): part of the application, no
service of its own.

    POST /tsa            application/timestamp-query  →  application/timestamp-reply
    GET  /tsa/certificate.pem                           the TSA certificate and its issuing CA

Every answer to a POST is a TimeStampResp: a granted token, or a rejection whose failInfo says
why (badDataFormat for anything that is not a well-formed request). Tokens are made from the
server's clock and the TSA key; the database is only read.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from signing import pki as x
from signing.timestamps import MAX_REQUEST, rejection
from web.extensions import csrf, db
from workflows import pki
from workflows.errors import WorkflowError

__all__ = ["bp", "QUERY_TYPE", "REPLY_TYPE"]

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"

bp = Blueprint("tsa", __name__, url_prefix="/tsa")
csrf.exempt(bp)  # machine clients post DER; nothing here acts for a signed-in person


def _reply(body: bytes, status: int = 200) -> Response:
    return Response(body, status=status, mimetype=REPLY_TYPE, headers={"Cache-Control": "no-store"})


@bp.route("", methods=["POST"])
def timestamp():
    """Answer one RFC 3161 time-stamp request."""
    if request.mimetype != QUERY_TYPE:
        return _reply(rejection("bad_request", f"send {QUERY_TYPE}"), 415)
    if request.content_length is not None and request.content_length > MAX_REQUEST:
        return _reply(rejection("bad_data_format", "the request is too large"), 413)
    body = request.stream.read(MAX_REQUEST + 1)
    try:
        authority = pki.timestamp_authority(db.session, current_app.config["CA_KEY_PASSPHRASE"])
    except WorkflowError as error:
        current_app.logger.error("time-stamping unavailable: %s", error)
        return _reply(rejection("system_failure", "time-stamping is unavailable"), 503)
    finally:
        db.session.rollback()  # read only: end the transaction before signing
    return _reply(authority.respond(body))


@bp.route("/certificate.pem")
def certificate():
    """The TSA certificate and the CA certificates above it (not the root), PEM."""
    authority = pki.timestamp_authority(db.session, current_app.config["CA_KEY_PASSPHRASE"])
    pem = "".join(x.certificate_pem(item) for item in (authority.cert, *authority.chain))
    return Response(pem, mimetype="application/x-pem-file",
                    headers={"Content-Disposition": 'attachment; filename="hq-tsa.pem"'})
