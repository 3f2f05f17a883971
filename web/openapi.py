"""The JSON API's contract: request bodies and the OpenAPI document built from them.

Every endpoint that takes a JSON body declares its marshmallow schema with ``@accepts``; the
same schema validates the request (Persian messages keyed by field, unknown fields refused) and
describes it in ``GET /api/v1/openapi.json``. The ``data`` of a task or an inquiry answer is
documented with the schemas of the deployed forms (``bpmn/forms/``, `forms.FormSet`), which validate
it in the domain operations. Paths, parameters and security come from the URL map, so an endpoint cannot
be added without appearing here.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from flask import Blueprint, Flask, current_app, jsonify, request
from marshmallow import Schema, ValidationError, validates_schema
from marshmallow.fields import Field
from werkzeug.routing import Rule

from forms import t
from forms.errors import FormError
from forms.fields import (
    Choice, Code, Email, FormField, JalaliDate, Mobile, NationalId, PostalCode, Section, SectionList, Sha256,
    StrictBool, StrictInt, Text,
)
from forms.persian import CONTROL_CHARACTERS, normalize_digits
from forms.declarations import FormSchema, load
from web.listing import MAX_PER_PAGE
from web.scope import deployed
from web.extensions import db
from workflows import inquiries, procedures
from workflows.errors import InvalidInput
from workflows.keys import SIGNING_SESSION_MINUTES

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

API_PREFIX = "/api/v1"
_MAX_ID = 2**31 - 1


# --- fields and bodies ----------------------------------------------------------------------

class JsonObject(FormField):
    """A JSON object passed on as it is: a form's data, validated by that form's own schema."""

    form_type = "object"

    def __init__(self, *, answer: bool = False, draft: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: an agency's answer to an inquiry (the form inquiries.json names), else the data of a task's form
        self.answer = answer
        #: a draft: any of the form's fields, as typed so far, none of them checked
        self.draft = draft

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, dict):
            raise _invalid("errors.not_an_object")
        return value


class Secret(FormField):
    """A password or signing PIN: a string kept as typed (a PIN's Persian digits made ASCII)."""

    form_type = "secret"

    def __init__(self, max_length: int, *, digits: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length
        self.digits = digits

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise _invalid("errors.not_text")
        if not value:
            raise self.make_error("required")
        if len(value) > self.max_length:
            raise _invalid("errors.text_too_long", max=str(self.max_length))
        return normalize_digits(value) if self.digits else value


def _invalid(key: str, **kwargs: str) -> ValidationError:
    return ValidationError(t(key, **kwargs))


def _id(required: bool = True) -> StrictInt:
    return StrictInt(1, _MAX_ID, required=required)


class TokenRequest(FormSchema):
    """Sign in: a bearer token for the API."""

    username = Text(64)
    password = Secret(256)
    label = Text(80, required=False)


class CaseRequest(FormSchema):
    """Start a procedure: founding without a center, the others on an existing center."""

    #: one of the deployed procedures (the document lists them: ``deployed_choice``)
    process_key = Code(64)
    center_id = _id(required=False)
    linked_case_id = _id(required=False)


class DraftRequest(FormSchema):
    """Save the task's form as a draft (not validated, not signed)."""

    data = JsonObject(draft=True)


class SignedRequest(FormSchema):
    """A body that is signed: the caller's key unlocked by the PIN, or open in a signing session
    (the handle POST /api/v1/signing-sessions answered). One of the two is required."""

    pin = Secret(32, digits=True, required=False)
    signing_session = Secret(80, required=False)
    #: at least one of these (documented as anyOf)
    one_of_required = ("pin", "signing_session")

    @validates_schema
    def _a_key(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not any(name in data for name in self.one_of_required):
            raise ValidationError(t("errors.required"), "pin")


class CompleteRequest(SignedRequest):
    """Complete a task: the form's data, signed with the caller's key."""

    data = JsonObject()
    lock_version = StrictInt(0, _MAX_ID, required=False)


class InquiryAnswerRequest(SignedRequest):
    """An agency's signed answer to an inquiry."""

    data = JsonObject(answer=True)


class InquiryResendRequest(SignedRequest):
    """Send an unanswered inquiry again; the reason is signed."""

    reason = Text(500)


class NoteRequest(SignedRequest):
    """Offices: an internal note (read by the offices only) or a message to the applicant, signed."""

    kind = Choice({"office_note": "یادداشت داخلی", "applicant_message": "پیام به متقاضی"})
    text = Text(2000, multiline=True)


class QuizRequest(FormSchema):
    """A quiz attempt: the choice code answered for each question, by the question's key."""

    answers = JsonObject()


class SigningSessionRequest(FormSchema):
    """Unlock the caller's key with the PIN for some minutes (default 15, at most 60)."""

    pin = Secret(32, digits=True)
    minutes = StrictInt(1, SIGNING_SESSION_MINUTES[1], required=False)


class ReassignRequest(FormSchema):
    """Give a waiting task to another person of the same office."""

    user_id = _id()


def accepts(schema: type[Schema]) -> Callable:
    """Declare the JSON body a view takes; the view loads it with `request_body` when it is ready
    (after its own scope checks, so a foreign id answers 404 whatever the body)."""
    def decorate(view: Callable) -> Callable:
        view.body_schema = schema  # type: ignore[attr-defined]
        return view
    return decorate


def accepts_upload(field: str) -> Callable:
    """Declare that a view takes one file, sent as multipart/form-data under ``field``."""
    def decorate(view: Callable) -> Callable:
        view.upload_field = field  # type: ignore[attr-defined]
        return view
    return decorate


def query(*parameters: dict[str, Any]) -> Callable:
    """Declare the query parameters a view reads (made with `parameter`); the view checks them itself."""
    def decorate(view: Callable) -> Callable:
        view.query_parameters = list(parameters)  # type: ignore[attr-defined]
        return view
    return decorate


def parameter(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    """One query parameter of `query`."""
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


#: the page of a list and its rows a page (web.listing.page_args)
PAGE = parameter("page", {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 999_999_999},
                                    {"type": "string", "maxLength": 0}]}, "the page (default 1; empty: as if absent)")
PER_PAGE = parameter("per_page", {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
                                            {"type": "string", "maxLength": 0}]},
                     "rows a page (default 25; empty: as if absent)")


def choice(name: str, choices, description: str) -> dict[str, Any]:
    """A choice of web.listing.choice_arg: empty is the same as absent (as a page's form sends it)."""
    return parameter(name, {"type": "string", "enum": ["", *choices]}, f"{description}; empty: as if absent")


#: the schema key a deployed choice carries until the document is built (then its enum)
_DEPLOYED = "x-deployed"


def deployed_choice(name: str, kind: str, description: str) -> dict[str, Any]:
    """A choice among what is deployed now: the procedures' keys (``kind`` "procedures") or their user
    tasks ("tasks"); the document lists them as they are when it is built."""
    return parameter(name, {"type": "string", _DEPLOYED: kind}, f"{description}; empty: as if absent")


def _deployed_enum(known: procedures.Catalogue, kind: str) -> list[str]:
    return list(known.current) if kind == "procedures" else list(known.task_names())


def text(name: str, description: str) -> dict[str, Any]:
    """A free text query parameter (web.listing.text_arg)."""
    return parameter(name, {"type": "string"}, description)


def flag(name: str, description: str) -> dict[str, Any]:
    """A yes/no query parameter (web.listing.bool_arg): any other value is no."""
    return parameter(name, {"type": "string"}, f"1, true, on or yes: {description}; anything else: all")


def answers(status: int, description: str, *errors: int) -> Callable:
    """Declare a view's success status when it is not 200 (201 created, 204 no content), and the
    error statuses it answers besides the ones every operation documents (401 or 429 of sign-in)."""
    def decorate(view: Callable) -> Callable:
        view.success = (status, description)  # type: ignore[attr-defined]
        view.extra_errors = errors  # type: ignore[attr-defined]
        return view
    return decorate


def returns(schema: str | None = None, *, media: str = "application/json") -> Callable:
    """Declare the body a view answers on success: ``schema`` names one of `RESPONSES` (JSON), or
    ``media`` says what else it sends (a PDF, a signed note as text)."""
    if schema is not None and schema not in RESPONSES:
        raise KeyError(f"no response schema {schema!r}")
    def decorate(view: Callable) -> Callable:
        view.response_body = (media, schema)  # type: ignore[attr-defined]
        return view
    return decorate


def refuses(reason: str) -> Callable:
    """Declare what a view checks beyond the body's schema, against what is stored or secret (the
    task's own form and its rules, a PIN): a schema-valid body may still answer 422 for it. The
    document says so in the 422 response, and under ``x-refused-beyond-schema``."""
    def decorate(view: Callable) -> Callable:
        view.refusal = reason  # type: ignore[attr-defined]
        return view
    return decorate


def request_body() -> dict[str, Any]:
    """The request's JSON object cleaned by the schema its view `accepts`; InvalidInput keyed by field."""
    schema = current_app.view_functions[request.endpoint].body_schema
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        body = None
    if not isinstance(body, dict):
        raise InvalidInput({"_body": [t("web.api.body_not_json")]})
    try:
        return load(schema, body)
    except FormError as error:
        raise InvalidInput(error.errors) from None


# --- response bodies ----------------------------------------------------------------------
#
# What each view answers on success, written from the dicts the handlers build (web.api's
# task_json, case_json, inquiry_json …, web.registry's center_json, web.scope's timeline). Objects
# list every key they have and require the ones always sent; they allow more, so that adding a key
# is not a breaking change of the document.

_STR: dict[str, Any] = {"type": "string"}
_INT: dict[str, Any] = {"type": "integer"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
_DAY: dict[str, Any] = {"type": "string", "format": "date"}
_HEX64: dict[str, Any] = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_ANY_OBJECT: dict[str, Any] = {"type": "object"}


def _null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or null."""
    if set(schema) >= {"type"} and isinstance(schema["type"], str):
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _object(properties: dict[str, Any], description: str | None = None, *,
            optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object of these keys, all of them always sent but ``optional``; more keys allowed."""
    result: dict[str, Any] = {"type": "object", "additionalProperties": True, "properties": properties,
                              "required": [name for name in properties if name not in optional]}
    if description:
        result["description"] = description
    return result


_TASK = {"id": _STR, "name": _STR, "title": _STR, "lane": _STR, "form_key": _STR, "case_id": _INT,
         "created_at": _TIME, "due_at": _null(_TIME), "claimed_by": _null(_STR), "can_act": _BOOL}
_CASE = {"id": _INT, "public_id": _STR, "process_key": _STR, "proved": _BOOL, "center_id": _null(_INT),
         "linked_case_id": _null(_INT), "status": _STR, "outcome": _null(_STR), "title": _null(_STR),
         "county": _null(_STR), "tracking_code": _null({"type": "string", "pattern": "^[0-9]{10}$",
                                                       "description": "the case's tracking code (کد رهگیری)"}),
         "lock_version": _INT, "spec_version": _STR, "created_at": _TIME,
         "updated_at": _TIME, "tasks": _list(_ref("Task"))}
_INQUIRY = {"id": _INT, "kind": _STR, "agency": _STR, "round": _INT, "status": _STR, "result": _null(_STR),
            "reference": _null(_STR), "sent_at": _TIME, "due_at": _TIME, "answered_at": _null(_TIME),
            "subject": _object({"national_id": _STR, "name": _STR})}
_LICENSE_STATUS = {"type": "string", "enum": ["active", "suspended", "revoked", "closed"],
                   "description": "the status today: a suspension past its last day is over"}
_LICENSE = _object({"number": _STR, "status": _LICENSE_STATUS, "issued_at": _TIME,
                    "status_since": _null(_DAY), "suspended_until": _null(_DAY), "status_reason": _null(_STR)})
_CENTER = {"id": _INT, "name": _null(_STR), "mosque_name": _null(_STR), "county": _null(_STR),
           "address": _null(_STR), "postal_code": _null(_STR), "license": _null(_LICENSE),
           "manager": _null(_ref("ManagerTerm")), "next_manager": _null(_ref("ManagerTerm")), "proved": _BOOL,
           "problems": _list({"type": "string", "description": "subject.field: code"})}
_FACT_CODE = _object({"subject": _STR, "field": _STR, "code": _STR})
_CHECKPOINT = _object({"checkpoint": _null(_ref("SignedCheckpoint")),
                       "note": _null({"type": "string", "description": "the C2SP signed note with its "
                                                                       "witness cosignatures (null before notes)"})},
                      "the checkpoint, or both null while the log has none")
_SIGNED_RECORD = _object({"seq": _INT, "action": _STR, "hash": _HEX64})

#: the success bodies views name with `returns`, served as components of the same names
RESPONSES: dict[str, dict[str, Any]] = {
    "OpenApiDocument": _object({"openapi": _STR, "info": _ANY_OBJECT, "paths": _ANY_OBJECT,
                                "components": _ANY_OBJECT}, "this document"),
    "Token": _object({"token": _STR, "expires_at": _TIME, "user": _object({"username": _STR, "role": _STR})}),
    "Me": _object({"id": _INT, "username": _STR, "full_name": _STR, "role": _STR, "office": _null(_STR)}),
    "Task": _object(_TASK, "a waiting task; can_act: the caller may complete it now"),
    "TaskPage": _object({"tasks": _list(_ref("Task")), "total": _INT, "page": _INT, "per_page": _INT,
                         "pages": _INT, "counts": {"type": "object", "additionalProperties": _INT,
                                                   "description": "tasks in each queue"}}),
    "ClaimedTask": _object({"task": _ref("Task")}),
    "TaskForm": _object({"task": _ref("Task"), "form_key": _STR,
                         "form": _object({"key": _STR, "title": _STR, "fields": _list(_ANY_OBJECT)},
                                         "the form's fields with their Persian labels and constraints"),
                         "counties": _null(_list(_object({"value": _STR, "label": _STR}))),
                         "people": _null({"type": "object", "additionalProperties": _list(
                             _object({"value": _STR, "label": _STR}))}),
                         "draft": _null(_ANY_OBJECT), "current": _null(_ANY_OBJECT), "lock_version": _INT}),
    "DraftSaved": _object({"saved": {"const": True}}),
    "Training": _object({
        "case_id": _INT, "package": _object({"key": _STR, "title": _STR, "version": _HEX64}),
        "trainee": _null(_object({"national_id": _STR, "full_name": _STR}, "whom it trains: the manager in office "
                                 "(term_id) or the proposed manager of the linked case (for_case)")),
        "may_take": _BOOL, "all_passed": _BOOL, "signed": _null(_ANY_OBJECT),
        "modules": _list(_object({
            "key": _STR, "title": _STR, "body": _list(_STR), "pass_mark": _INT,
            "media": _list(_object({"sha256": _HEX64, "caption": _STR, "url": _STR})),
            "questions": _list(_object({"key": _STR, "text": _STR,
                                        "choices": _list(_object({"value": _STR, "label": _STR}))})),
            "progress": _null(_object({"passed": _BOOL, "correct": _INT, "total": _INT, "attempts": _INT,
                                       "passed_at": _null(_TIME)}))}))},
        "a training case's modules with their quizzes (not the right answers) and the progress kept"),
    "QuizAttempt": _object({"correct": _INT, "total": _INT, "passed": _BOOL, "pass_mark": _INT,
                            "wrong": _list(_STR)},
                           "the attempt scored: the questions answered wrongly, not what was right"),
    "Case": _object(_CASE, "a case; proved: its stored facts are the ones its signed records say"),
    "CaseList": _object({"cases": _list(_ref("Case"))}),
    "CaseDetail": _object({
        **_CASE, "records": _list(_ref("TimelineRecord")), "verification": _ref("Verification"),
        "application": _null(_ANY_OBJECT), "inquiries": _list(_ref("Inquiry")), "license": _null(_LICENSE)},
        "a case with its signed timeline, verification, application, inquiries and license"),
    "TimelineRecord": _object({
        "seq": _INT, "action": _STR, "task_name": _null(_STR), "task_title": _null(_STR),
        "actor": _object({"user_id": _INT, "username": _STR, "role": _STR, "office": _null(_STR),
                          "full_name": _STR}),
        "time": _TIME, "hash": _HEX64, "key_id": _HEX64, "form_key": _null(_STR), "form_digest": _null(_STR),
        "rule_results": _null(_ANY_OBJECT), "details": _ANY_OBJECT, "reason": _null(_STR),
        "attachments": _list(_HEX64)}),
    "Verification": _object({
        "ok": _BOOL, "count": _INT, "head": _null(_HEX64),
        "problems": _list(_object({"seq": _INT, "code": _STR, "detail": _STR})), "facts_ok": _BOOL,
        "fact_problems": _list(_object({"subject": _STR, "field": _STR, "code": _STR, "detail": _STR}))}),
    "Completion": _object({"case": _ref("Case"), "records": _list(_object({
        "seq": _INT, "action": _STR, "task_name": _null(_STR), "created_at": _TIME, "hash": _HEX64}))}),
    "StoredDocument": _object({"sha256": _HEX64, "size": _INT, "content_type": _STR}),
    "Inquiry": _object({**_INQUIRY, "case_id": _INT, "note": _null(_STR)}, "an inquiry as its case shows it"),
    "AgencyInquiry": _object(_INQUIRY, "an inquiry as the agency it is addressed to sees it"),
    "AgencyInquiryList": _object({"inquiries": _list(_ref("AgencyInquiry"))}),
    "InquiryAnswered": _object({"records": _list(_SIGNED_RECORD)}),
    "SignedRecord": _SIGNED_RECORD,
    "SigningSession": _object({"signing_session": _STR, "id": _INT, "expires_at": _TIME}),
    "ManagerTerm": _object({"national_id": _STR, "full_name": _STR, "start_date": _DAY,
                            "planned_end": _null(_DAY), "end_date": _null(_DAY), "end_reason": _null(_STR),
                            "interim": _BOOL}),
    "Center": _object(_CENTER, "a center as its signed records say"),
    "CenterList": _object({"centers": _list(_ref("Center"))}),
    "CenterDetail": _object({**_CENTER, "terms": _list(_ref("ManagerTerm")),
                             "cases": _list(_object({"id": _INT, "process_key": _STR, "status": _STR}))}),
    "PublicCenter": _object({"center_name": _STR, "license_number": _STR, "license_status": _LICENSE_STATUS,
                             "issued_at": _TIME, "status_since": _null(_DAY), "suspended_until": _null(_DAY),
                             "manager_name": _null(_STR), "manager_interim": _BOOL,
                             "manager_since": _null(_DAY)}, "what anyone may read of a licensed center"),
    "CaseCheck": _object({"status": _null(_STR), "chain_ok": _BOOL, "facts_ok": _BOOL,
                          "problems": _list(_FACT_CODE), "record_found": _BOOL, "is_head": _BOOL,
                          "records": _INT, "license_number": _null(_STR), "center": _null(_ref("PublicCenter"))}),
    "LicenseCheck": _object({"facts_ok": _BOOL, "problems": _list(_FACT_CODE),
                             "center": _null(_ref("PublicCenter"))}),
    "SignedCheckpoint": _object({"log_id": _STR, "root": _HEX64, "time": _TIME, "tree_size": _INT,
                                 "signature": _STR, "key_id": _STR}),
    "Checkpoint": _CHECKPOINT,
    "InclusionProof": _object({"index": _INT, "tree_size": _INT, "leaf_hash": _HEX64, "proof": _list(_HEX64)}),
    "ConsistencyProof": _object({"first": _INT, "second": _INT, "proof": _list(_HEX64)}),
    "NotificationPage": _object({
        "notifications": _list(_object({"id": _INT, "kind": _STR, "case_id": _null(_INT), "center_id": _null(_INT), "text": _STR,
                                        "created_at": _TIME, "read": _BOOL})),
        "total": _INT, "page": _INT, "per_page": _INT, "unread": _INT}),
    "EvidenceBundle": _object({
        "format": _STR, "case_id": _STR,
        "records": _list(_object({"seq": _INT, "canonical": _STR, "signature": _STR, "key_id": _HEX64,
                                  "form_data": _null(_STR), "log_index": _INT, "inclusion_proof": _list(_HEX64)})),
        "signers": _list(_ANY_OBJECT), "log_signer": _ANY_OBJECT, "crls": _list(_STR),
        "checkpoint": {"type": "string", "description": "the checkpoint as a C2SP signed note"},
        "case_head": _ANY_OBJECT, "checkpoint_timestamp": _null(_STR)},
        "the case's evidence bundle (canonical JSON), verifiable offline with the HQ root"),
}

#: what a view that answers something other than JSON sends, by media type
_MEDIA_SCHEMAS: dict[str, dict[str, Any]] = {
    "application/pdf": {"type": "string", "contentMediaType": "application/pdf"},
    "text/plain": {"type": "string"},
    "application/octet-stream": {"type": "string", "format": "binary",
                                 "description": "a file: its Content-Type says which (an image, a PDF, a video)"},
}


# --- the document ---------------------------------------------------------------------------

# Input is normalized before it is checked (Persian and Arabic digits, spaces, +98), so these
# describe what is accepted and what is stored rather than constrain the raw string.
_STRING_FORMATS: dict[type, dict[str, Any]] = {
    NationalId: {"description": "national ID: 10 digits in any script, check digit verified; stored as ASCII digits"},
    PostalCode: {"description": "postal code: 10 digits in any script; stored as ASCII digits"},
    Mobile: {"description": "mobile number (09…, +98… or 98…, any digits); stored as 09xxxxxxxxx"},
    Sha256: {"description": "SHA-256 of a document uploaded to the case: 64 hex digits"},
    JalaliDate: {"description": "a Jalali date 1370/05/12 (any digits) or an ISO date 1991-08-03; stored as ISO"},
}


#: text without the control characters forms refuse (tab and line breaks aside)
_PRINTABLE = f"^[^{CONTROL_CHARACTERS}]*$"
#: the same with one character at least that is not a space
_SOMETHING_PRINTABLE = f"^[^{CONTROL_CHARACTERS}]*[^\\s{CONTROL_CHARACTERS}][^{CONTROL_CHARACTERS}]*$"


def field_schema(field: Field) -> dict[str, Any]:
    """The JSON Schema of one forms field."""
    if isinstance(field, SectionList):
        return {"type": "array", "items": schema_object(field.section.schema.__class__),
                "minItems": field.min_items, "maxItems": field.max_items}
    if isinstance(field, Section):
        return schema_object(field.schema.__class__)
    if isinstance(field, JsonObject):
        if field.draft:
            return {"type": "object", "propertyNames": {"pattern": _PRINTABLE},
                    "additionalProperties": {"$ref": "#/components/schemas/DraftValue"},
                    "description": "the task's form as typed so far: any of its fields, partial values, "
                                   "nothing checked but the characters (no control characters) and the size"}
        if field.answer:
            return {"$ref": "#/components/schemas/InquiryAnswerData"}
        return {"$ref": "#/components/schemas/TaskData"}
    if isinstance(field, Choice):
        return {"type": "string", "enum": list(field.choices)}
    if isinstance(field, StrictBool):
        return {"type": "boolean"}
    if isinstance(field, StrictInt):
        return {"type": "integer", "minimum": field.min_value, "maximum": field.max_value}
    if isinstance(field, Secret):
        return {"type": "string", "minLength": 1, "maxLength": field.max_length, "format": "password"}
    for kind, extra in _STRING_FORMATS.items():
        if isinstance(field, kind):
            return {"type": "string", **extra}
    if isinstance(field, Email):
        return {"type": "string", "format": "email", "maxLength": field.max_length}
    if isinstance(field, Code):
        return {"type": "string", "pattern": "^[a-z0-9_-]+$", "maxLength": field.max_length}
    if isinstance(field, Text):
        # at least min_length characters once spaces are tidied, so something other than a space
        pattern = _PRINTABLE if field.min_length == 0 else _SOMETHING_PRINTABLE
        return {"type": "string", "minLength": field.min_length, "maxLength": field.max_length, "pattern": pattern}
    raise TypeError(f"{type(field).__name__} has no JSON Schema")


def schema_object(schema: type[Schema]) -> dict[str, Any]:
    """The JSON Schema of a marshmallow schema: its fields, which are required, nothing else."""
    fields = schema().fields
    result: dict[str, Any] = {"type": "object", "additionalProperties": False,
                              "properties": {name: field_schema(field) for name, field in fields.items()}}
    required = [name for name, field in fields.items() if field.required]
    if required:
        result["required"] = required
    if getattr(schema, "one_of_required", None):
        result["anyOf"] = [{"required": [name]} for name in schema.one_of_required]
    if schema.__doc__:
        result["description"] = schema.__doc__.strip().splitlines()[0]
    return result


_ERROR = {"$ref": "#/components/schemas/Error"}
_ERRORS = {
    "400": "a write with the session cookie but without its X-CSRFToken header",
    "401": "not signed in, or the token is unknown",
    "403": "the caller may not do this",
    "404": "nothing of this id in the caller's jurisdiction",
    "409": "the case moved on meanwhile (stale lock_version, task already completed)",
    "413": "the request is larger than the server takes",
    "422": "invalid input: `errors` maps each field (dotted path) to Persian messages",
    "429": "too many attempts: wait the seconds of the Retry-After header",
}
#: what every operation may answer: (signed in, public)
_AUTHENTICATED_ERRORS = ("400", "401", "403", "404", "409", "422")
_PUBLIC_ERRORS = ("404", "422")
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def _path(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    parameters = []
    for converter, name in _CONVERTER.findall(rule.rule):
        kind = {"type": "integer", "minimum": 0} if converter == "int" else {"type": "string"}
        parameters.append({"name": name, "in": "path", "required": True, "schema": kind})
    return _CONVERTER.sub(lambda m: "{" + m.group(2) + "}", rule.rule), parameters


def build_document(app: Flask, known: procedures.Catalogue) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every ``/api/v1`` route of ``app``, with the ``known`` procedures."""
    paths: dict[str, dict[str, Any]] = {}
    bodies: dict[str, type[Schema]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(API_PREFIX + "/"):
            continue
        view = app.view_functions[rule.endpoint]
        path, parameters = _path(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            doc = (view.__doc__ or rule.endpoint).strip().splitlines()
            status, done = getattr(view, "success", (200, "done"))
            success: dict[str, Any] = {"description": done}
            media, body = getattr(view, "response_body", (None, None))
            if media is not None:
                success["content"] = {media: {"schema": _ref(body) if body else _MEDIA_SCHEMAS[media]}}
            operation: dict[str, Any] = {"operationId": rule.endpoint, "summary": doc[0],
                                         "responses": {str(status): success}}
            if len(doc) > 1:
                operation["description"] = "\n".join(line.strip() for line in doc[1:]).strip()
            if parameters or getattr(view, "query_parameters", None):
                operation["parameters"] = parameters + [
                    {**p, "schema": {"type": "string", "enum": ["", *_deployed_enum(known, p["schema"][_DEPLOYED])]}}
                    if _DEPLOYED in p["schema"] else p for p in getattr(view, "query_parameters", [])]
            schema = getattr(view, "body_schema", None)
            if schema is not None:
                bodies[schema.__name__] = schema
                operation["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": {"$ref": f"#/components/schemas/{schema.__name__}"}}}}
            upload = getattr(view, "upload_field", None)
            if upload is not None:
                operation["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": [upload],
                    "properties": {upload: {"type": "string", "contentMediaType": "application/octet-stream"}}}}}}
            errors = set(_PUBLIC_ERRORS) | {str(code) for code in getattr(view, "extra_errors", ())}
            if getattr(view, "requires_auth", False):
                operation["security"] = [{"bearer": []}, {"session": []}]
                errors |= set(_AUTHENTICATED_ERRORS)
            if "requestBody" in operation:
                errors.add("413")
            for code in sorted(errors):
                operation["responses"][code] = {"description": _ERRORS[code],
                                                "content": {"application/json": {"schema": _ERROR}}}
            refusal = getattr(view, "refusal", None)
            if refusal is not None:
                operation["responses"]["422"]["description"] += f"; also for a schema-valid body when {refusal}"
                operation["responses"]["422"]["x-refused-beyond-schema"] = refusal
            paths.setdefault(path, {})[method.lower()] = operation
    schemas: dict[str, Any] = {"Error": {
        "type": "object", "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                       "errors": {"type": "object", "additionalProperties": {
                           "type": "array", "items": {"type": "string"}}}}}}
    schemas["DraftValue"] = {"description": "a value of a draft: text, a number, true or false, null, or a list or "
                                            "an object of such values",
                             "anyOf": [{"type": "string", "pattern": _PRINTABLE},
                                       {"type": ["number", "boolean", "null"]},
                                       {"type": "array", "items": {"$ref": "#/components/schemas/DraftValue"}},
                                       {"type": "object", "propertyNames": {"pattern": _PRINTABLE},
                                        "additionalProperties": {"$ref": "#/components/schemas/DraftValue"}}]}
    schemas |= {name: schema_object(schema) for name, schema in sorted(bodies.items())}
    if "CaseRequest" in schemas:
        schemas["CaseRequest"]["properties"]["process_key"] = {"type": "string", "enum": list(known.current)}
    schemas |= RESPONSES
    declared = known.forms.forms
    schemas |= {f"form.{key}": schema_object(spec.schema) for key, spec in declared.items()}
    schemas["TaskData"] = {"oneOf": [{"$ref": f"#/components/schemas/form.{key}"} for key in declared],
                           "description": "the data of the task's form (its form_key)"}
    schemas["InquiryAnswerData"] = {"$ref": f"#/components/schemas/form.{inquiries.answer_form(db.session)}"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Mosque cultural-art centers: licensing API", "version": "1",
                 "description": "Signed workflows for founding a center and changing its manager. "
                                "JSON with ISO dates and ASCII digits; Persian or Arabic digits and "
                                "letters are accepted on input. Messages are Persian."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "a token from POST /api/v1/auth/token"},
            "session": {"type": "apiKey", "in": "cookie", "name": "session",
                        "description": "the pages' session; writes also need the X-CSRFToken header"}}},
    }


@bp.get("/openapi.json")
@returns("OpenApiDocument")
def openapi_document():
    """Public: this document."""
    known = deployed()
    versions = tuple(known.current.items())
    cached = current_app.extensions.get("openapi_document")
    if cached is None or cached[0] != versions:  # built again when a procedure is deployed
        cached = current_app.extensions["openapi_document"] = (versions, build_document(current_app, known))
    return jsonify(cached[1])
