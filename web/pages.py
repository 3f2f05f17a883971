"""Pages for signed-in people: their cases or inbox, case pages, task forms, downloads."""
from __future__ import annotations

import json

from flask import (
    Blueprint, Response, abort, current_app, flash, redirect, render_template, request, send_file, session, url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select

import forms
from forms import t
from web import certificate
from web.auth import SIGNING_SESSION, signing_credentials, signing_open_until
from web.errors import domain_error_answer
from web.security import local_target
from web.extensions import db
from web.formdata import flatten, unflatten
from web.scope import (
    agency_names, application_view, people_choices, case_documents, case_form, case_or_404, county_choices, deployed, desk_view,
    diagram_state, latest_form_data, storage_dir,
    tasks_for, timeline,
    verification_summary,
)
from web.training import rule_view, training_view
from web.transaction import commits, refusal
from workflows import access, documents, facts, inquiries, keys, notes, procedures
from workflows.inbox import case_progress
from workflows.cases import complete_task, load_draft, save_draft, start_case
from workflows.errors import (
    Forbidden, InvalidInput, NotFound, ProcessFailed, SigningSessionEnded, WorkflowError, WrongPin,
)
from workflows.models import Case, CaseDocument, CaseTask, ProcessDefinition, utcnow

bp = Blueprint("pages", __name__)



@bp.route("/cases")
@login_required
def cases():
    """An applicant's cases, or an office's inbox and the cases in its jurisdiction."""
    if current_user.role == "agency":
        return render_template("agency.html", inquiries=inquiries.agency_inquiries(db.session, current_user))
    visible = db.session.scalars(access.visible_cases(db.session, current_user)
                                 .order_by(Case.updated_at.desc()).limit(200)).all()
    progress = {case.id: case_progress(db.session, case, current_user)
                for case in visible} if current_user.role == "applicant" else {}
    return render_template("cases.html", cases=visible, tasks=tasks_for(current_user), progress=progress,
                           unproved=facts.unproved_cases(db.session, [case.id for case in visible]))


@bp.route("/cases/new", methods=["POST"])
@login_required
@commits
def new_case():
    new = [proc.key for proc in deployed().startable(with_center=False)]
    process_key = request.form.get("process_key") or (new[0] if len(new) == 1 else "")
    if process_key not in new:
        raise InvalidInput({"process_key": [t("errors.choice_invalid")]})
    case = start_case(db.session, process_key=process_key, starter=current_user)
    return redirect(url_for("pages.task", case_id=case.id, task_id=case.tasks[0].task_id))


@bp.route("/cases/<int:case_id>")
@login_required
def case(case_id: int):
    case = case_or_404(current_user, case_id)
    entries = timeline(case, current_user)
    proof = facts.prove_case(db.session, case)
    licensed = proof.center.license if proof.ok and proof.center is not None else None
    return render_template(
        "case.html", case=case, entries=entries, verification=verification_summary(case, proof),
        license_number=licensed["number"] if licensed else None,
        my_tasks=[task for task in case.tasks if access.may_act(current_user, task)],
        application=application_view(case),
        inquiries=inquiries.case_inquiries(db.session, case), agencies=agency_names(),
        notes=notes.case_notes(db.session, case, current_user), can_note=access.is_office_role(current_user.role),
        can_resend=access.is_office_role(current_user.role) and case.outcome is None,
        linked=db.session.get(Case, case.linked_case_id) if case.linked_case_id else None,
        violations=_last_violations(entries), diagram=diagram_state(case), successor_procedures=_successors(case),
        signing_until=signing_open_until() if case.outcome is None else None, training=training_view(case),
        training_rule=rule_view(case))


def _successors(case: Case) -> list[procedures.Procedure]:
    """The procedures that may name the successor a case now waits for (none when it waits for none)."""
    waiting = procedures.of_version(db.session, case.spec_version).messages.values()
    if case.outcome is not None or not any(m.sent_by == "successor" and m.status == case.status for m in waiting):
        return []
    return [p for p in deployed().current.values() if p.names_successor]


@bp.route("/cases/<int:case_id>/diagram.bpmn")
@login_required
def case_diagram(case_id: int):
    """The BPMN XML of the process version this case runs on (for the diagram on the case page)."""
    case = case_or_404(current_user, case_id)
    definition = db.session.get(ProcessDefinition, case.spec_version)
    xml = json.loads(definition.sources)[f"{definition.process_key}.bpmn"]
    return Response(xml, mimetype="application/xml", headers={
        "Cache-Control": "private, max-age=3600",
        "Content-Disposition": f'attachment; filename="{definition.process_key}.bpmn"'})


def _last_violations(entries: list[dict]) -> list[dict]:
    """Rule violations of the latest application submission, if it failed the rules."""
    for entry in reversed(entries):
        if entry["rule_results"] is not None:
            return entry["rule_results"]["violations"]
    return []


@bp.route("/cases/<int:case_id>/tasks/<task_id>", methods=["GET", "POST"])
@login_required
@commits
def task(case_id: int, task_id: str):
    case = case_or_404(current_user, case_id)
    task = next((row for row in case.tasks if row.task_id == task_id), None)
    if task is None:
        flash(t("web.task.no_longer_waiting"), "error")
        return redirect(url_for("pages.case", case_id=case.id))
    if not access.may_act(current_user, task):
        raise Forbidden("not your task")
    form = case_form(case, task.form_key)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data = unflatten(request.form)
        errors.update(_store_uploads(case, form, data))
        # the uploads and the draft are kept whatever becomes of a submit (committed with the request)
        save_draft(db.session, case=case, task_id=task_id, user=current_user, data=data)
        if request.form.get("_action") == "submit" and not errors:
            reviewed, kept = _reviewed_only(data)
            try:
                _complete(case, task, form, reviewed)
                flash(form.done or t("web.task.done"), "success")
                if task.lane == "applicant" and case.tracking_code:
                    flash(t("web.track.yours", code=forms.to_persian_digits(case.tracking_code)), "success")
                return redirect(url_for("pages.case", case_id=case.id))
            except InvalidInput as error:
                errors.update(_review_errors_in_place(error.errors, kept))
            except WrongPin:
                errors["pin"] = [t("web.error.wrong_pin")]
            except SigningSessionEnded:
                session.pop(SIGNING_SESSION, None)
                errors["pin"] = [t("web.error.signing_session_ended")]
            except ProcessFailed as error:  # the draft is kept; the case stays where it was
                current_app.logger.error("process definition failed at run time on case %s: %s",
                                         case.id, error.detail)
                flash(t("web.error.process_failed"), "error")
                return redirect(url_for("pages.task", case_id=case.id, task_id=task_id))
            except WorkflowError as error:  # a conflict, a locked key …: its error page, the draft kept
                return domain_error_answer(error)
        elif not errors:
            flash(t("web.task.draft_saved"), "success")
            return redirect(url_for("pages.task", case_id=case.id, task_id=task_id))
        values = flatten(data)
        status = 422
    else:
        saved = load_draft(db.session, case=case, form_key=task.form_key, user=current_user)
        if saved is None and form.documents:
            saved = latest_form_data(case, task.form_key)
        values = flatten(saved or {})
        status = 200
    if errors:
        flash(t("web.task.has_errors"), "error")
    entries = timeline(case, current_user)
    described = form.describe()
    office = task.lane != "applicant"
    application = application_view(case) if office or not form.documents else None
    # an office deciding sees the whole case on this page; an applicant correcting sees what was rejected
    desk = desk_view(case, entries, application) if office else None
    return render_template(
        "task.html", case=case, task=task, form=described, values=values,
        errors=errors, error_list=_error_list(form, described, errors),
        rules=procedures.of_version(db.session, case.spec_version).rules if task.lane == "applicant" else (),
        counties=county_choices(), people=people_choices(case, form), entries=entries, desk=desk,
        application=application,
        review={path: {**r, "label": form.label(path)} for path, r in documents.open_review(db.session, case).items()}
        if form.documents else {},
        inquiries=inquiries.case_inquiries(db.session, case), agencies=agency_names(),
        notes=notes.case_notes(db.session, case, current_user), can_note=access.is_office_role(current_user.role),
        signing_until=signing_open_until(),
        uploaded={sha: d["name"] for sha, d in case_documents(case).items()} if form.documents else {},
        training=training_view(case),
    ), status


def _error_list(form: forms.FormSpec, described: dict, errors: dict[str, list[str]]) -> list[dict]:
    """Every error of a submission for the summary above the form: a name that says whose field it
    is, the messages, and the address of the field (or of its section, or of the document it reviews)."""
    groups = set()

    def walk(fields: list[dict], prefix: str = "") -> None:
        for f in fields:
            if f["type"] in ("section", "list"):
                groups.add(prefix + f["name"])
                walk(f["fields"], prefix + f["name"] + ".")
    walk(described["fields"])
    found = []
    for key, messages in errors.items():
        if key == "_schema":
            continue
        parts = key.split(".")
        if key == "pin":
            name, anchor = t("web.form.pin"), "#pin"
        elif parts[0] == documents.REVIEW_FIELD and len(parts) > 1 and parts[1].isdigit():
            name, anchor = form.whose(key), f"#review-reason-{parts[1]}"
        elif ".".join(p for p in parts if not p.isdigit()) in groups and not parts[-1].isdigit():
            name, anchor = form.whose(key), "#section-" + key
        else:
            name, anchor = form.whose(key), "#f-" + key.replace(".", "-")
        found.append({"name": name, "anchor": anchor, "messages": messages})
    return found


def _reviewed_only(data: dict) -> tuple[dict, list[int]]:
    """The data without the rows of the document review the officer left blank (neither a verdict nor a
    reason: a document not reviewed), and the page's row number of each row kept."""
    rows = data.get(documents.REVIEW_FIELD)
    if not isinstance(rows, list):
        return data, []
    kept = [i for i, row in enumerate(rows) if not isinstance(row, dict) or row.get("verdict") or row.get("reason")]
    reviewed = {key: value for key, value in data.items() if key != documents.REVIEW_FIELD}
    if kept:
        reviewed[documents.REVIEW_FIELD] = [rows[i] for i in kept]
    return reviewed, kept


def _review_errors_in_place(errors: dict[str, list[str]], kept: list[int]) -> dict[str, list[str]]:
    """Errors of the review's rows keyed by the page's row numbers, where the inputs are."""
    prefix = f"{documents.REVIEW_FIELD}."
    placed = {}
    for key, messages in errors.items():
        number, _, rest = key[len(prefix):].partition(".")
        if key.startswith(prefix) and number.isdigit() and int(number) < len(kept):
            key = f"{prefix}{kept[int(number)]}" + (f".{rest}" if rest else "")
        placed[key] = messages
    return placed


def _complete(case: Case, task: CaseTask, form: forms.FormSpec, data: dict) -> None:
    """Sign and complete the task in a savepoint of the request's transaction: when the transition
    fails, it alone is undone, and the draft and uploads written before it stay.

    The form is checked before the key is tried, as ``complete_task`` does. The key is unlocked
    before the savepoint: where a wrong PIN is counted in the request's transaction (on SQLite,
    once the request has written), its count is not undone with the transition.
    """
    try:
        form.validate(data)
    except forms.FormError as error:
        raise InvalidInput(error.errors) from None
    signer = keys.signer_for(db.session, current_user, **signing_credentials(request.form))
    with db.session.begin_nested():
        complete_task(db.session, case=case, task_id=task.task_id, actor=current_user, data=data, signer=signer,
                      lock_version=_int(request.form.get("lock_version")))


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _store_uploads(case: Case, form: forms.FormSpec, data: dict) -> dict[str, list[str]]:
    """Store the files posted with a form (``file.<field path>``) and put their digests into its data."""
    errors: dict[str, list[str]] = {}
    for path in form.documents:
        upload = request.files.get(f"file.{path}")
        if upload is None or not upload.filename:
            continue
        try:
            link = documents.store_document(db.session, storage_dir(), case=case, user=current_user,
                                            field=path, filename=upload.filename,
                                            content=upload.read(documents.MAX_DOCUMENT_BYTES + 1))
        except InvalidInput as error:
            errors.update(error.errors)
            continue
        *sections, name = path.split(".")
        target = data
        for section in sections:
            if not isinstance(target.get(section), dict):
                target[section] = {}
            target = target[section]
        target[name] = link.sha256
    return errors


@bp.route("/cases/<int:case_id>/inquiries/<int:inquiry_id>/resend", methods=["POST"])
@login_required
@commits
def resend_inquiry(case_id: int, inquiry_id: int):
    case = case_or_404(current_user, case_id)
    _sign_from_the_case_page(lambda: inquiries.resend_inquiry(
        db.session, inquiry_id=inquiry_id, officer=current_user, reason=request.form.get("reason", ""),
        **signing_credentials(request.form), now=utcnow()), t("web.inquiry.resent"))
    return redirect(url_for("pages.case", case_id=case.id))


@bp.route("/cases/<int:case_id>/notes", methods=["POST"])
@login_required
@commits
def add_note(case_id: int):
    """An office's signed note on the case (read by the offices) or message to the applicant."""
    case = case_or_404(current_user, case_id)
    kind = request.form.get("kind", "")
    _sign_from_the_case_page(lambda: notes.add_note(
        db.session, case=case, author=current_user, action=kind, text=request.form.get("text", ""), now=utcnow(),
        **signing_credentials(request.form)), t(f"web.notes.added.{kind}") if kind in notes.NOTE_ACTIONS else "")
    return redirect(local_target(request.form.get("next"), url_for("pages.case", case_id=case.id)) + "#notes")


def _sign_from_the_case_page(sign, done: str) -> None:
    """Sign something a case page's small form asks for; its outcome told as a flash message (a refusal
    undoes the request's writes)."""
    try:
        _, errors = refusal(sign)
    except SigningSessionEnded:
        db.session.rollback()
        session.pop(SIGNING_SESSION, None)
        flash(t("web.error.signing_session_ended"), "error")
        return
    if errors:
        flash(" ".join(m for messages in errors.values() for m in messages), "error")
    else:
        flash(done, "success")


@bp.route("/cases/<int:case_id>/documents/<sha256>")
@login_required
def document(case_id: int, sha256: str):
    case = case_or_404(current_user, case_id)
    if not documents.is_sha256(sha256):  # never reaches the database (PostgreSQL refuses a NUL in a query)
        raise NotFound("document")
    link = db.session.scalars(select(CaseDocument).where(
        CaseDocument.case_id == case.id, CaseDocument.sha256 == sha256)).first()
    if link is None:
        raise NotFound("document")
    path = documents.document_path(storage_dir(), link.sha256)
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype=link.document.content_type, as_attachment=False,
                     download_name=f"{link.sha256[:12]}.{link.document.content_type.split('/')[-1]}")


@bp.route("/cases/<int:case_id>/certificate.pdf")
@login_required
@commits  # sealing may sign a log checkpoint that covers the case's records
def certificate_pdf(case_id: int):
    case = case_or_404(current_user, case_id)
    return certificate.pdf_response(case, current_user)
