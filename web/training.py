"""The training pages: a training case's modules (text, media and quiz) for the center's holder, its
progress for everyone who may see the case, and the modules' media files.

A quiz is scored on the server (``workflows.training.answer``); the right answers never reach the page
before an attempt, and an attempt shows which questions were wrong, not what was right.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from forms import normalize_text, t, to_persian_digits
from web.extensions import db
from web.scope import case_or_404
from web.transaction import commits
from workflows import facts, procedures, training
from workflows.cases import start_case
from workflows.errors import Forbidden, NotFound
from workflows.models import Case, tehran_today, utcnow

__all__ = ["bp", "training_view", "rule_view", "training_json", "module_or_404", "take_quiz", "media_response"]

bp = Blueprint("training", __name__)


def _package(case: Case) -> training.Package | None:
    return training.package_for(procedures.spec_of_case(db.session, case).tables, case.process_key)


def training_view(case: Case) -> dict | None:
    """A training case's package and progress (None: the case is no training): each module passed or not,
    with its best result and attempts, and what the completion signed once it is signed."""
    package = _package(case)
    if package is None:
        return None
    done = training.progress(db.session, case)
    modules = []
    for number, module in enumerate(package.modules, 1):
        row = done.get(module.key)
        modules.append({"key": module.key, "title": module.title, "number": to_persian_digits(str(number)),
                        "passed": row is not None and row.passed_at is not None,
                        "result": t("web.training.result", correct=to_persian_digits(str(row.correct)),
                                    total=to_persian_digits(str(row.total)),
                                    attempts=to_persian_digits(str(row.attempts))) if row else None})
    return {"title": package.title, "modules": modules, "all_passed": all(m["passed"] for m in modules),
            "signed": facts.latest_detail(db.session, case, "training"),
            "trainee": training.trainee(db.session, case) if case.outcome is None else None,
            "may_take": _may_take(case)}


def rule_view(case: Case) -> dict | None:
    """The training rule an appointing case's latest application signed, as the applicant was told it,
    and, when it wants the proposed manager trained before the confirmation, where that training stands:
    the case that passed it, the open training case, or whether this person may start one (None: the case
    signed no rule)."""
    appointment = training.appointment_of(db.session, case)
    if appointment is None:
        return None
    view = {"message": appointment.rule.message, "before": appointment.rule.when == "before",
            "name": appointment.full_name}
    if view["before"]:
        package = training.package_named(procedures.newest_tables(db.session), appointment.rule.package)
        view["passed_case"] = training.passed_since(db.session, appointment.rule.package, appointment.national_id,
                                                    tehran_today(case.created_at))
        view["open_case"] = db.session.scalar(select(Case.id).where(
            Case.linked_case_id == case.id, Case.process_key == (package.procedure if package else ""),
            Case.outcome.is_(None)))
        view["may_start"] = (package is not None and case.outcome is None and view["passed_case"] is None
                             and view["open_case"] is None and current_user.id == case.applicant_id)
    return view


@bp.route("/cases/<int:case_id>/training", methods=["POST"])
@login_required
@commits
def start_for(case_id: int):
    """Start the training of an open case's proposed manager, whom the signed rule wants trained before the
    appointment is confirmed (``workflows.cases.start_case`` refuses anyone but the case's holder)."""
    case = case_or_404(current_user, case_id)
    appointment = training.trains_before(db.session, case)
    package = training.package_named(procedures.newest_tables(db.session), appointment.rule.package) \
        if appointment is not None else None
    if package is None:
        raise NotFound("training")
    started = start_case(db.session, process_key=package.procedure, starter=current_user, center=case.center,
                         linked_case=case)
    return redirect(url_for("pages.case", case_id=started.id))


def _may_take(case: Case, user=None) -> bool:
    """Only the case's holder takes its quizzes, and only while its completion is still to be signed."""
    return case.applicant_id == (user or current_user).id and case.outcome is None and bool(case.tasks)


def module_or_404(case: Case, module_key: str) -> tuple[training.Package, training.Module]:
    """A training case's package and one of its modules (404: the case is no training, or has no such module)."""
    package = _package(case)
    found = package.module(module_key) if package is not None else None
    if found is None:
        raise NotFound("module")
    return package, found


def take_quiz(case: Case, module: training.Module, chosen: dict, user) -> training.Attempt:
    """Score an attempt of the holder's (403 for anyone else, or once the completion is signed)."""
    if not _may_take(case, user):
        raise Forbidden("only the center's holder takes the quiz, while the training is open")
    return training.answer(db.session, case, module, chosen, utcnow())


def training_json(case: Case, user) -> dict:
    """A training case for the API: each module's text, media and quiz (the choices, not which is right)
    and the progress kept, whom it trains and what its completion signed (404: no training case)."""
    package = _package(case)
    if package is None:
        raise NotFound("training")
    done = training.progress(db.session, case)
    modules = []
    for module in package.modules:
        row = done.get(module.key)
        modules.append({
            "key": module.key, "title": module.title, "body": list(module.body), "pass_mark": module.pass_mark,
            "media": [{"sha256": digest, "caption": caption, "url": url_for("api.training_media", sha256=digest)}
                      for _name, digest, caption in module.media],
            "questions": [{"key": q.key, "text": q.text, "choices": [{"value": c, "label": label} for c, label in q.choices]}
                          for q in module.questions],
            "progress": {"passed": row.passed_at is not None, "correct": row.correct, "total": row.total,
                         "attempts": row.attempts, "passed_at": row.passed_at.isoformat() if row.passed_at else None}
            if row else None})
    return {"case_id": case.id, "package": {"key": package.key, "title": package.title, "version": package.version},
            "trainee": training.trainee(db.session, case), "may_take": _may_take(case, user),
            "all_passed": all(m["progress"] and m["progress"]["passed"] for m in modules),
            "signed": facts.latest_detail(db.session, case, "training"), "modules": modules}


@bp.route("/cases/<int:case_id>/training/<module_key>", methods=["GET", "POST"])
@login_required
@commits
def module(case_id: int, module_key: str):
    case = case_or_404(current_user, case_id)
    package, found = module_or_404(case, module_key)
    attempt, chosen = None, {}
    if request.method == "POST":
        chosen = {q.key: normalize_text(request.form.get(f"q.{q.key}", "")) for q in found.questions}
        attempt = take_quiz(case, found, chosen, current_user)
    index = [m.key for m in package.modules].index(found.key)
    following = package.modules[index + 1] if index + 1 < len(package.modules) else None
    return render_template("training_module.html", case=case, package=package, module=found, attempt=attempt,
                           chosen=chosen, following=following, view=training_view(case),
                           number=to_persian_digits(str(index + 1)),
                           pass_mark=to_persian_digits(str(found.pass_mark)),
                           questions=to_persian_digits(str(len(found.questions))))


@bp.route("/training/media/<sha256>")
@login_required
def media(sha256: str):
    """A module's media file, found by the SHA-256 the current packages list it by."""
    return media_response(sha256)


def media_response(sha256: str) -> Response:
    """The media file the current packages list by this SHA-256 (404: none), for the pages and the API."""
    found = training.media_file(current_app.config["BPMN_DIR"], procedures.newest_tables(db.session), sha256)
    if found is None:
        raise NotFound("media")
    content, content_type = found
    return Response(content, mimetype=content_type,
                    headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"})
