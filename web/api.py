"""The JSON API under /api/v1: the same operations, validation and signatures as the pages.

Authentication: ``Authorization: Bearer <token>`` (from POST /api/v1/auth/token, valid for
API_TOKEN_LIFETIME_SECONDS or until DELETE /api/v1/auth/token), or the page session cookie
together with an ``X-CSRFToken`` header on writes.
"""
from __future__ import annotations

import secrets
from datetime import timedelta
from functools import wraps
from typing import Any, Callable

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask_login import current_user
from flask_wtf.csrf import validate_csrf
from sqlalchemy import select
from wtforms.validators import ValidationError

import forms
from forms import normalize_license_number, t
from signing import canonical_bytes, parse_time
from web import certificate
from web.auth import LoginThrottled, check_credentials, token_row, user_for_token
from web.errors import error_body
from web.extensions import csrf, db
from web.openapi import (
    CaseRequest, CompleteRequest, DraftRequest, InquiryAnswerRequest, InquiryResendRequest, NoteRequest,
    QuizRequest, SigningSessionRequest,
    PAGE, PER_PAGE, TokenRequest, accepts, accepts_upload, answers, choice, deployed_choice, flag, parameter, query, refuses,
    request_body, returns, text,
)
from web.registry import center_json, center_or_404, checked, search_visible_centers
from web.listing import int_arg
from web.scope import (
    case_application, case_form, case_or_404, county_choices, county_filter_choices, people_choices, deployed, latest_form_data, storage_dir,
    task_filters, timeline, verification_summary,
)
from web.training import media_response, module_or_404, take_quiz, training_json
from web.transaction import commits
from workflows.inbox import QUEUES, SORTS, search_tasks
from workflows import access, documents, evidence, facts, inquiries, keys, log, notes, procedures
from workflows.cases import complete_task, load_draft, save_draft, start_case
from workflows.transitions import Transition
from workflows.errors import Conflict, Forbidden, InvalidInput, NotFound
from workflows.models import Case, CaseTask, Inquiry, LogLeaf, utcnow
from workflows.people import add_token
from workflows.verification import resolve_token

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def _fail(status: int, code: str, message_key: str, errors: dict | None = None):
    return jsonify(error_body(code, t(message_key), errors)), status


def authenticated(view: Callable) -> Callable:
    """Resolve the caller from a bearer token or the session (with CSRF on writes)."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        user = user_for_token(request.headers.get("Authorization"))
        if user is None and request.headers.get("Authorization"):
            return _fail(401, "unauthorized", "web.error.http_401")
        if user is None and current_user.is_authenticated:
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                try:
                    validate_csrf(request.headers.get("X-CSRFToken", ""))
                except ValidationError:
                    return _fail(400, "csrf", "web.error.csrf")
            user = current_user._get_current_object()
        if user is None:
            return _fail(401, "unauthorized", "web.error.http_401")
        g.api_user = user
        return view(*args, **kwargs)
    wrapper.requires_auth = True  # type: ignore[attr-defined]
    return wrapper


# --- query parameters (documented in the OpenAPI document; each view checks its own) -----------

_INDEX = {"type": "integer", "minimum": 0, "maximum": 10**12 - 1}
_SIZE = {"type": "integer", "minimum": 1, "maximum": 10**12 - 1}


def task_json(task: CaseTask) -> dict:
    return {"id": task.task_id, "name": task.name, "title": task.title, "lane": task.lane,
            "form_key": task.form_key, "case_id": task.case_id,
            "created_at": task.created_at.isoformat(),
            "due_at": task.due_at.isoformat() if task.due_at else None,
            "claimed_by": task.claimed_by.username if task.claimed_by else None,
            "can_act": access.may_act(g.api_user, task)}


def case_json(case: Case, *, full: bool = False, proved: bool | None = None) -> dict:
    """A case as the API shows it; ``proved`` says whether its stored status, end event, center,
    county and title are the ones its head record signed (checked here unless the caller did, for a
    list)."""
    if proved is None:
        proved = not facts.unproved_cases(db.session, [case.id])
    data = {"id": case.id, "public_id": case.public_id, "process_key": case.process_key, "proved": proved,
            "center_id": case.center_id, "linked_case_id": case.linked_case_id,
            "status": case.status, "outcome": case.outcome, "title": case.title,
            "county": case.county_office.code if case.county_office else None, "tracking_code": case.tracking_code,
            "lock_version": case.lock_version, "spec_version": case.spec_version,
            "created_at": case.created_at.isoformat(), "updated_at": case.updated_at.isoformat(),
            "tasks": [task_json(task) for task in case.tasks]}
    if full:
        proof = facts.prove_case(db.session, case)
        proved = proof.center
        license_ = proved.license if proved and proved.founding_case == case.public_id else None
        data.update(records=timeline(case, g.api_user), verification=verification_summary(case, proof),
                    application=case_application(case),
                    inquiries=[inquiry_json(i) for i in inquiries.case_inquiries(db.session, case)],
                    license={"number": license_["number"], "status": license_["status"],
                             "issued_at": parse_time(license_["issued_at"]).isoformat()}
                    if license_ and proof.ok else None)
    return data


def _waiting_task(case: Case, task_id: str) -> CaseTask:
    task = next((row for row in case.tasks if row.task_id == task_id), None)
    if task is None:
        raise NotFound("task")
    return task


@bp.post("/auth/token")
@accepts(TokenRequest)
@answers(201, "a token, its expiry and the user", 401, 429)
@returns("Token")
@commits
def issue_token():
    """Public: a bearer token for the username and password (sign-in is throttled like the pages')."""
    body = request_body()
    try:
        user = check_credentials(body["username"], body["password"])
    except LoginThrottled as throttled:
        response = jsonify(error_body("too_many_attempts", t("web.auth.throttled", minutes=str(throttled.minutes))))
        return response, 429, {"Retry-After": str(throttled.seconds)}
    if user is None:
        return _fail(401, "bad_credentials", "web.auth.bad_credentials")
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(seconds=current_app.config["API_TOKEN_LIFETIME_SECONDS"])
    add_token(db.session, user, token, label=str(body.get("label", "")), expires_at=expires_at)
    return jsonify({"token": token, "expires_at": expires_at.isoformat(),
                    "user": {"username": user.username, "role": user.role}}), 201


@bp.delete("/auth/token")
@authenticated
@answers(204, "signed out")
@commits
def revoke_token():
    """Sign out: the bearer token of this request opens nothing from now on."""
    row = token_row(request.headers.get("Authorization"))
    if row is None:
        raise NotFound("token")  # signed in with a session, not a token
    db.session.delete(row)
    return "", 204


@bp.get("/me")
@authenticated
@returns("Me")
def me():
    user = g.api_user
    return jsonify({"id": user.id, "username": user.username, "full_name": user.full_name,
                    "role": user.role, "office": user.office.code if user.office else None})


@bp.get("/tasks")
@authenticated
@query(choice("queue", QUEUES, "which tasks (default open)"),
       deployed_choice("process_key", "procedures", "only this procedure's"),
       deployed_choice("step", "tasks", "only this step's (the BPMN task name)"),
       text("county", "only this county office's cases (its code); 404 for a county outside the caller's"),
       flag("overdue", "only tasks past their deadline"),
       text("q", "a national ID, a center or mosque name, or a license number"),
       choice("sort", SORTS, "the order (default deadline)"),
       PAGE, PER_PAGE)
@returns("TaskPage")
def my_tasks():
    """The caller's inbox: ?queue=open|mine|unclaimed|office, process_key, step, county, overdue, q, sort, page."""
    county = (request.args.get("county") or "").strip()
    if county and county not in {office.code for office in county_filter_choices(g.api_user)}:
        return _fail(404, "unknown_county", "web.error.not_found", {"county": [t("errors.choice_invalid")]})
    page = search_tasks(db.session, g.api_user, task_filters(request.args, g.api_user), utcnow())
    return jsonify({"tasks": [task_json(task) for task in page.items], "total": page.total, "page": page.page,
                    "per_page": page.per_page, "pages": page.pages, "counts": page.counts})


@bp.get("/cases")
@authenticated
@returns("CaseList")
def list_cases():
    rows = db.session.scalars(access.visible_cases(db.session, g.api_user)
                              .order_by(Case.updated_at.desc()).limit(200)).all()
    unproved = facts.unproved_cases(db.session, [case.id for case in rows])
    return jsonify({"cases": [case_json(case, proved=case.id not in unproved) for case in rows]})


@bp.post("/cases")
@authenticated
@accepts(CaseRequest)
@answers(201, "the case started")
@refuses("the procedure needs a center (all but founding) or the center has a case of it under way")
@returns("CaseDetail")
@commits
def create_case():
    """Start a founding case, or (with center_id) a procedure on an existing center."""
    body = request_body()
    if body["process_key"] not in deployed().current:
        raise InvalidInput({"process_key": [t("errors.choice_invalid")]})
    center = linked = None
    if body.get("center_id") is not None:
        center = center_or_404(g.api_user, body["center_id"])
    if body.get("linked_case_id") is not None:
        linked = case_or_404(g.api_user, body["linked_case_id"])
    case = start_case(db.session, process_key=body["process_key"], starter=g.api_user, center=center,
                      linked_case=linked)
    return jsonify(case_json(case, full=True)), 201


@bp.get("/cases/<int:case_id>")
@authenticated
@returns("CaseDetail")
def read_case(case_id: int):
    return jsonify(case_json(case_or_404(g.api_user, case_id), full=True))


@bp.get("/cases/<int:case_id>/tasks/<task_id>/form")
@authenticated
@returns("TaskForm")
def task_form(case_id: int, task_id: str):
    case = case_or_404(g.api_user, case_id)
    task = _waiting_task(case, task_id)
    form = case_form(case, task.form_key)
    return jsonify({"task": task_json(task), "form_key": task.form_key, "form": form.describe(),
                    "counties": county_choices() if "county" in form.offices.values() else None,
                    "people": people_choices(case, form) if form.people and access.may_act(g.api_user, task) else None,
                    "draft": load_draft(db.session, case=case, form_key=task.form_key, user=g.api_user),
                    "current": latest_form_data(case, task.form_key),
                    "lock_version": case.lock_version})


@bp.put("/cases/<int:case_id>/tasks/<task_id>/draft")
@authenticated
@accepts(DraftRequest)
@returns("DraftSaved")
@commits
def put_draft(case_id: int, task_id: str):
    """Save the task's form as a draft of the caller's (kept as typed, not signed)."""
    case = case_or_404(g.api_user, case_id)
    save_draft(db.session, case=case, task_id=task_id, user=g.api_user, data=request_body()["data"])
    return jsonify({"saved": True})


@bp.post("/cases/<int:case_id>/tasks/<task_id>/complete")
@authenticated
@accepts(CompleteRequest)
@refuses("data is not valid for the task's own form (its form_key), breaks its rules across fields, names "
          "documents not uploaded to the case, or the PIN or signing session is not the caller's")
@returns("Completion")
@commits
def complete(case_id: int, task_id: str):
    """Complete a task with its form's data, signed; lock_version guards against a stale page.

    Answers with the case's status, lock version and waiting tasks and the records just signed;
    GET /api/v1/cases/{case_id} gives its timeline, inquiries and verification.
    """
    case = case_or_404(g.api_user, case_id)
    body = request_body()
    transition = complete_task(db.session, case=case, task_id=task_id, actor=g.api_user, data=body["data"],
                               pin=body.get("pin"), signing_session=body.get("signing_session"),
                               lock_version=body.get("lock_version"))
    return jsonify(completion_json(transition))


def completion_json(transition: Transition) -> dict:
    """What a completion answers: the case's short form and the records just signed.

    Not ``case_json(full=True)``: rebuilding the timeline and verifying the whole chain again after
    every completion cost more than the completion itself.
    """
    return {"case": case_json(transition.case),
            "records": [{"seq": r.seq, "action": r.action, "task_name": r.task_name,
                         "created_at": r.created_at.isoformat(), "hash": r.hash} for r in transition.records]}


@bp.post("/cases/<int:case_id>/documents")
@authenticated
@accepts_upload("file")
@answers(201, "the document stored: its SHA-256, size and type")
@refuses("the file is not a PDF, JPEG or PNG by its content, or is too large")
@returns("StoredDocument")
@commits
def upload_document(case_id: int):
    """Upload a document (PDF, JPEG or PNG, checked by content) to an open case the caller applied for or holds a
    step of (an expert's visit photos); answers its SHA-256."""
    case = case_or_404(g.api_user, case_id)
    procedure = procedures.of_version(db.session, case.spec_version)
    if case.applicant_id != g.api_user.id and not any(
            access.may_act(g.api_user, task) and procedure.forms.get(task.form_key).documents for task in case.tasks):
        raise Forbidden("only the applicant, or who holds a step of the case whose form takes documents, uploads")
    if not case.tasks:
        raise Conflict("the case is closed")
    upload = request.files.get("file")
    if upload is None:
        raise InvalidInput({"file": [t("errors.required")]})
    link = documents.store_document(db.session, storage_dir(), case=case, user=g.api_user, field="file",
                                    filename=upload.filename or "",
                                    content=upload.read(documents.MAX_DOCUMENT_BYTES + 1))
    return jsonify({"sha256": link.sha256, "size": link.document.size,
                    "content_type": link.document.content_type}), 201


@bp.get("/cases/<int:case_id>/certificate.pdf")
@authenticated
@returns(media="application/pdf")
@commits  # sealing may sign a log checkpoint that covers the case's records
def certificate_pdf(case_id: int):
    return certificate.pdf_response(case_or_404(g.api_user, case_id), g.api_user)


def inquiry_json(inquiry: Inquiry, *, for_agency: bool = False) -> dict:
    data = {"id": inquiry.id, "kind": inquiry.kind, "agency": inquiry.agency, "round": inquiry.round,
            "status": inquiry.status, "result": inquiry.result, "reference": inquiry.reference,
            "sent_at": inquiry.sent_at.isoformat(), "due_at": inquiry.due_at.isoformat(),
            "answered_at": inquiry.answered_at.isoformat() if inquiry.answered_at else None,
            "subject": {"national_id": inquiry.subject_national_id, "name": inquiry.subject_name}}
    if not for_agency:
        data.update(case_id=inquiry.case_id, note=inquiry.note)
    return data


@bp.get("/inquiries")
@authenticated
@query(parameter("status", {"type": "string", "enum": ["pending", "answered", "all"]}, "which (default pending)"))
@returns("AgencyInquiryList")
def list_inquiries():
    """Agencies: the inquiries addressed to them (pending unless ?status=answered or all)."""
    status = request.args.get("status", "pending")
    if status not in ("pending", "answered", "all"):
        raise InvalidInput({"status": [t("errors.choice_invalid")]})
    rows = inquiries.agency_inquiries(db.session, g.api_user, None if status == "all" else status)
    return jsonify({"inquiries": [inquiry_json(i, for_agency=True) for i in rows]})


@bp.post("/inquiries/<int:inquiry_id>/answer")
@authenticated
@accepts(InquiryAnswerRequest)
@refuses("the answer breaks the form's rules, or the PIN or signing session is not the caller's")
@returns("InquiryAnswered")
@commits
def answer_inquiry(inquiry_id: int):
    """Agencies: answer an inquiry (clear / not_clear, reference, note), signed with the agency's key."""
    body = request_body()
    records = inquiries.answer_inquiry(db.session, inquiry_id=inquiry_id, agency_user=g.api_user,
                                       data=body["data"], pin=body.get("pin"),
                                       signing_session=body.get("signing_session"), now=utcnow())
    return jsonify({"records": [{"seq": r.seq, "action": r.action, "hash": r.hash} for r in records]})


@bp.post("/inquiries/<int:inquiry_id>/resend")
@authenticated
@accepts(InquiryResendRequest)
@refuses("the PIN or signing session is not the caller's")
@returns("SignedRecord")
@commits
def resend_inquiry(inquiry_id: int):
    """Offices: send an unanswered inquiry again with a new deadline; the reason is signed."""
    body = request_body()
    record = inquiries.resend_inquiry(db.session, inquiry_id=inquiry_id, officer=g.api_user, reason=body["reason"],
                                      pin=body.get("pin"), signing_session=body.get("signing_session"),
                                      now=utcnow())
    return jsonify({"seq": record.seq, "action": record.action, "hash": record.hash})


@bp.post("/cases/<int:case_id>/notes")
@authenticated
@accepts(NoteRequest)
@answers(201, "the signed record")
@refuses("the PIN or signing session is not the caller's")
@returns("SignedRecord")
@commits
def add_note(case_id: int):
    """Offices: sign an internal note on the case (read by the offices only; the record signs the
    digest of its words) or a message to the applicant (who is notified)."""
    case = case_or_404(g.api_user, case_id)
    body = request_body()
    record = notes.add_note(db.session, case=case, author=g.api_user, action=body["kind"], text=body["text"],
                            now=utcnow(), pin=body.get("pin"), signing_session=body.get("signing_session"))
    return jsonify({"seq": record.seq, "action": record.action, "hash": record.hash}), 201


@bp.get("/cases/<int:case_id>/training")
@authenticated
@returns("Training")
def read_training(case_id: int):
    """A training case: each module's Persian text, media (GET its url) and quiz, the pass mark, the
    progress kept, whom it trains and, once signed, what its completion signed. The right answers are
    never sent. Complete the training with the task's form (POST …/complete) once every module is passed."""
    return jsonify(training_json(case_or_404(g.api_user, case_id), g.api_user))


@bp.get("/training/media/<sha256>")
@authenticated
@returns(media="application/octet-stream")
def training_media(sha256: str):
    """A training module's media file (PNG, JPEG, PDF, MP4 or WebM, as its Content-Type says), by the
    SHA-256 its module lists (GET …/training gives each file's url)."""
    return media_response(sha256)


@bp.post("/cases/<int:case_id>/training/<module_key>")
@authenticated
@accepts(QuizRequest)
@refuses("an answer for a question the module does not ask, or one that is not text")
@returns("QuizAttempt")
@commits
def answer_quiz(case_id: int, module_key: str):
    """The center's holder answers a module's quiz ({"answers": {question key: choice value}}; a question
    left out is wrong). Any number of attempts; the best result and the first pass are kept. 403 for
    anyone else, or once the completion is signed."""
    case = case_or_404(g.api_user, case_id)
    _package, module = module_or_404(case, module_key)
    answers = request_body()["answers"]
    asked = {q.key for q in module.questions}
    errors = {f"answers.{key}": [t("errors.unknown_field") if key not in asked else t("errors.not_text")]
              for key, value in answers.items() if key not in asked or not isinstance(value, str)}
    if errors:
        raise InvalidInput(errors)
    attempt = take_quiz(case, module, {key: forms.normalize_text(value) for key, value in answers.items()}, g.api_user)
    return jsonify({"correct": attempt.correct, "total": attempt.total, "passed": attempt.passed,
                    "pass_mark": module.pass_mark, "wrong": list(attempt.wrong)})


@bp.post("/signing-sessions")
@authenticated
@accepts(SigningSessionRequest)
@answers(201, "the handle and its expiry")
@refuses("the PIN is not the caller's")
@returns("SigningSession")
@commits
def open_signing_session():
    """Unlock the caller's key with the PIN for some minutes: answers a handle to send as
    ``signing_session`` instead of the PIN until ``expires_at``. Only the caller keeps the handle;
    the server keeps the key wrapped under it."""
    body = request_body()
    handle, opened = keys.open_signing_session(db.session, g.api_user, body["pin"], minutes=body.get("minutes"))
    return jsonify({"signing_session": handle, "id": opened.id, "expires_at": opened.expires_at.isoformat()}), 201


@bp.delete("/signing-sessions/<int:session_id>")
@authenticated
@answers(204, "the key is locked again")
@commits
def close_signing_session(session_id: int):
    """Lock the key of one of the caller's signing sessions again."""
    if not keys.close_signing_session(db.session, g.api_user, session_id):
        raise NotFound("signing session")
    return "", 204


@bp.get("/centers")
@authenticated
@query(text("q", "a center or mosque name"), text("license_number", "a license number (any digits)"),
       text("national_id", "the current manager's national ID (any digits)"),
       text("county", "a county office's code (an unknown code filters nothing)"))
@returns("CenterList")
def list_centers():
    """The registry: centers in the caller's jurisdiction, with filters q, license_number, national_id, county."""
    found = search_visible_centers(g.api_user, request.args)
    checks = checked(found)
    return jsonify({"centers": [center_json(c, checks[c.id]) for c in found]})


@bp.get("/centers/<int:center_id>")
@authenticated
@returns("CenterDetail")
def read_center(center_id: int):
    """One center with its licenses and every manager term."""
    center = center_or_404(g.api_user, center_id)
    return jsonify(center_json(center, facts.prove_center(db.session, center.id), full=True))


@bp.get("/verify/<token>")
@returns("CaseCheck")
def verify(token: str):
    """A verification token's case: its chain, and its facts only when the signed records prove them."""
    check = resolve_token(db.session, token)
    if check is None:
        return _fail(404, "unknown_token", "web.verify.unknown")
    proof = facts.prove_case(db.session, check.case, check.report)
    public = facts.public_view(proof.center) if proof.ok and proof.center else None
    return jsonify({"status": check.case.status if proof.ok else None, "chain_ok": check.report.ok,
                    "facts_ok": proof.ok, "problems": _fact_codes(proof.problems),
                    "record_found": check.record_found, "is_head": check.is_head,
                    "records": check.report.count, "license_number": public["license_number"] if public else None,
                    "center": _public_json(public)})


@bp.get("/verify/license/<number>")
@returns("LicenseCheck")
def verify_license(number: str):
    """A license by its number (Persian or Latin digits): the center, its license and current manager,
    from the signed records; ``facts_ok`` false when the stored registry disagrees with them."""
    normalized = normalize_license_number(number)
    center_id = facts.license_center(db.session, normalized) if normalized else None
    if center_id is None:
        return _fail(404, "unknown_license", "web.verify.unknown_license")
    proved, problems = facts.prove_center(db.session, center_id)
    return jsonify({"facts_ok": not problems, "problems": _fact_codes(problems),
                    "center": _public_json(facts.public_view(proved))})


def _fact_codes(problems) -> list[dict]:
    return [{"subject": p.subject, "field": p.field, "code": p.code} for p in problems]


def _public_json(public: dict | None) -> dict | None:
    if public is None:
        return None
    return {**public, "issued_at": public["issued_at"].isoformat(),
            **{day: public[day].isoformat() if public[day] else None
               for day in ("manager_since", "status_since", "suspended_until")}}


# --- evidence and the transparency log ---------------------------------------------------

@bp.get("/cases/<int:case_id>/evidence.json")
@authenticated
@returns("EvidenceBundle")
def case_evidence(case_id: int):
    """The case's evidence bundle: verify it offline with `python -m signing.verify_cli --root hq-root.pem`.

    A read: it signs nothing and writes nothing. Its checkpoint is the log's newest; until one covers
    the case's last record (one is signed every scheduler tick, or by POST /api/v1/log/checkpoint)
    the answer is 409 (error `notcheckpointed`).
    """
    case = case_or_404(g.api_user, case_id)
    data = evidence.bundle(db.session, case, current_app.config["CA_KEY_PASSPHRASE"], sign_checkpoint=False)
    return Response(canonical_bytes(data), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="evidence-{case.public_id}.json"'})


def _checkpoint_json(row) -> dict:
    """A checkpoint as JSON: the signed fields (as before notes) and, when it has one, its C2SP
    signed note with every witness cosignature collected for it."""
    if row is None:
        return {"checkpoint": None, "note": None}
    return {"checkpoint": log.signed(row).as_dict(), "note": log.cosigned_note(db.session, row)}


def _note_response(row) -> Response:
    note = log.cosigned_note(db.session, row) if row is not None else None
    if note is None:
        raise NotFound("checkpoint")
    return Response(note, mimetype="text/plain", headers={"Cache-Control": "no-cache"})


@bp.get("/log/checkpoint")
@returns("Checkpoint")
def log_checkpoint():
    """Public: the latest signed checkpoint (tree size, root, time, signature) and its signed note."""
    return jsonify(_checkpoint_json(log.latest_checkpoint(db.session)))


@bp.get("/log/checkpoint/note")
@returns(media="text/plain")
def log_checkpoint_note():
    """Public: the latest checkpoint as a C2SP signed note (text/plain), with witness cosignatures."""
    return _note_response(log.latest_checkpoint(db.session))


@bp.get("/log/checkpoints/<int:tree_size>")
@returns("Checkpoint")
def log_checkpoint_of_size(tree_size: int):
    """Public: the checkpoint signed at exactly ``tree_size`` leaves (every one is kept)."""
    row = log.checkpoint_at(db.session, tree_size) if tree_size < 2**62 else None
    if row is None:
        raise NotFound("checkpoint")
    return jsonify(_checkpoint_json(row))


@bp.get("/log/checkpoints/<int:tree_size>/note")
@returns(media="text/plain")
def log_checkpoint_note_of_size(tree_size: int):
    """Public: the checkpoint of ``tree_size`` leaves as a C2SP signed note (text/plain)."""
    return _note_response(log.checkpoint_at(db.session, tree_size) if tree_size < 2**62 else None)


@bp.post("/log/checkpoint")
@authenticated
@returns("Checkpoint")
@commits
def sign_log_checkpoint():
    """HQ auditors and administrators: sign a checkpoint of the log now (witnesses are asked to cosign it)."""
    if g.api_user.role not in access.READ_ALL_ROLES:
        raise Forbidden("only headquarters signs checkpoints")
    row = log.checkpoint(db.session, current_app.config["CA_KEY_PASSPHRASE"],
                         witnesses=current_app.config["WITNESS_ENDPOINTS"])
    return jsonify(_checkpoint_json(row))


def _int_arg(name: str) -> int:
    """A required whole number of the log's proofs (a leaf or tree size)."""
    value = int_arg(request.args, name, None, minimum=0, maximum=_INDEX["maximum"], message="errors.integer_invalid")
    if value is None:
        raise InvalidInput({name: [t("errors.integer_invalid")]})
    return value


def _beyond(name: str, maximum: int):
    """404: no tree (or leaf) that large in the log yet."""
    return _fail(404, "not_in_log", "web.error.not_found",
                 {name: [t("errors.integer_too_large", max=forms.to_persian_digits(str(maximum)))]})


@bp.get("/log/inclusion")
@query(parameter("index", _INDEX, "the leaf", required=True),
       parameter("tree_size", _SIZE, "the tree's size (404 beyond the log's, or not above index)", required=True))
@returns("InclusionProof")
def log_inclusion():
    """Public: the inclusion proof of leaf ``index`` in the tree of ``tree_size`` leaves."""
    index, size = _int_arg("index"), _int_arg("tree_size")
    if size == 0:
        raise InvalidInput({"tree_size": [t("errors.integer_too_small", min=forms.to_persian_digits("1"))]})
    if size > log.size(db.session):
        return _beyond("tree_size", log.size(db.session))
    if index >= size:
        return _beyond("index", size - 1)
    leaf = db.session.scalar(select(LogLeaf.leaf_hash).where(LogLeaf.index == index))
    return jsonify({"index": index, "tree_size": size, "leaf_hash": bytes(leaf).hex(),
                    "proof": [node.hex() for node in log.inclusion_proofs(db.session, [index], size)[0]]})


@bp.get("/log/consistency")
@query(parameter("first", _SIZE, "the older tree's size (404 above second)", required=True),
       parameter("second", _SIZE, "the newer tree's size (404 beyond the log's)", required=True))
@returns("ConsistencyProof")
def log_consistency():
    """Public: the consistency proof between the trees of ``first`` and ``second`` leaves."""
    first, second = _int_arg("first"), _int_arg("second")
    errors = {name: [t("errors.integer_too_small", min=forms.to_persian_digits("1"))]
              for name, value in (("first", first), ("second", second)) if value == 0}
    if errors:
        raise InvalidInput(errors)
    if second > log.size(db.session):
        return _beyond("second", log.size(db.session))
    if first > second:
        return _beyond("first", second)
    return jsonify({"first": first, "second": second,
                    "proof": [node.hex() for node in log.consistency_proof(db.session, first, second)]})
