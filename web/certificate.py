"""The PDF certificate of a case: the data it shows, and its rendering.

A sealed certificate is kept once made (``STORAGE_DIR/certificates``), named by the case, the head of
its verified chain and the PDF's own digest. A download proves the case's facts against its chain every
time (``certificate_context``); it renders and seals again only when the chain has grown since (a new
head), so a repeated download costs the proof, not the render. A kept file whose bytes no longer match
its digest is made again. The certificate then says when it was first issued for that head.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import date
from pathlib import Path

from flask import Response, current_app, render_template, url_for
from sqlalchemy import select

from signing import parse_time, qr_data_uri
from web.extensions import db
from web.scope import case_application, case_request, score_text, timeline, verification_summary
from forms import t
from workflows import evaluation, evidence, facts, procedures, training, transitions
from workflows.audit import record_read
from workflows.errors import UnprovedFacts
from workflows.models import Case, User, utcnow
from workflows.verification import verification_token

__all__ = ["certificate_context", "certificate_html", "render_certificate", "pdf_response"]


def _title(case: Case) -> str:
    """The certificate's title: the one the manifest gives the end the case reached (proved with the rest
    of its facts), else a plain status certificate's."""
    end = procedures.of_version(db.session, case.spec_version).ends.get(case.outcome or "")
    return end.certificate if end and end.certificate else t("web.certificate.status_title")


def certificate_context(case: Case) -> dict:
    """Everything the certificate shows, as data (tests check this, not text pulled from the PDF).

    Every fact comes from the verified signed records (``facts.prove_case``); when a stored row
    disagrees with them, or the chain does not verify, ``UnprovedFacts`` is raised: nothing is sealed.
    """
    proof = facts.prove_case(db.session, case)
    if not proof.ok:
        raise UnprovedFacts(list(proof.problems))
    entries = timeline(case)
    center = proof.center
    license_ = center.license if center is not None else None
    started = next((t for t in center.terms if t["case"] == case.public_id), None) if center else None
    deciding = {case.public_id, *db.session.scalars(select(Case.public_id).where(Case.linked_case_id == case.id))}
    ended = next((t for t in center.terms if t["ended_by"] in deciding), None) if center else None
    # what a license procedure set, as this case's own verified record signed it
    license_change = next((body["details"]["license"] for body in proof.report.bodies if body
                           if body.get("action") in procedures.LICENSE_EFFECTS), None)
    renewal = next((body["details"]["renewed_term"] for body in proof.report.bodies if body
                    if body.get("action") == "renew_term"), None)
    renewed = center.term(renewal["id"]) if renewal and center else None
    token = verification_token(case, entries[-1]["hash"]) if entries else None
    # the configured address only: the request's Host header is the client's to choose
    base = current_app.config["PUBLIC_BASE_URL"]
    verify_url = f"{base}{url_for('public.verify', token=token)}" if token and base else None
    county = case.county_office
    return {
        "case": case, "status": case.status,
        # the signed steps (the notes on a case are no steps, and an office's internal note is the offices' only)
        "entries": [e for e in entries if e["action"] not in transitions.SIDE_ACTIONS],
        "title": _title(case),
        "license_number": license_["number"] if license_ else None,
        "issued_at": parse_time(license_["issued_at"]) if license_ else None,
        "center_name": center.center["name"] if license_ else None,
        "application": case_application(case),
        "request": case_request(case),
        "manager_name": started["full_name"] if started else None,
        "manager_national_id": started["national_id"] if started else None,
        "manager_since": _day(started["start_date"]) if started else None,
        "manager_until": _day(started["planned_end"]) if started else None,
        "manager_interim": started["interim"] if started else False,
        "license_change": {"status": license_change["status"], "since": _day(license_change.get("status_since")),
                           "until": _day(license_change.get("suspended_until")),
                           "reason": license_change.get("status_reason")} if license_change else None,
        "renewed_from": _day(renewal["previous_planned_end"]) if renewal else None,
        "renewed_until": _day(renewal["planned_end"]) if renewal else None,
        "renewed_manager": renewed["full_name"] if renewed else None,
        "renewed_national_id": renewed["national_id"] if renewed else None,
        "ended_term": {"full_name": ended["full_name"], "national_id": ended["national_id"], "end_date": _day(ended["end_date"]),
                       "end_reason": ended["end_reason"]} if ended else None,
        "county_name": county.name if county else None,
        "province_name": county.parent.name if county else None,
        "token": token, "verify_url": verify_url, "head": proof.report.head,
        "verification": verification_summary(case, proof),
        "seal_office": evidence.seal_office(db.session, case),
        "issued_now": utcnow(),
        **_signed_results(case, proof.report.bodies),
    }


def _signed_results(case: Case, bodies: list) -> dict:
    """What the case's verified records signed of a training completion (the package, the manager, each
    module's result) and of an evaluation (the year, the total and level of the latest score)."""
    trained = next((b["details"]["training"] for b in reversed(bodies) if b and isinstance(b.get("details"), dict)
                    and isinstance(b["details"].get("training"), dict)), None)
    scored = next((b["details"]["evaluation"] for b in reversed(bodies) if b and isinstance(b.get("details"), dict)
                   and isinstance(b["details"].get("evaluation"), dict)), None)
    found: dict = {"training": None, "evaluation": None}
    spec = procedures.spec_of_case(db.session, case)
    if trained is not None:
        package = training.package_for(spec.tables, case.process_key)
        titles = {m.key: m.title for m in package.modules} if package else {}
        found["training"] = {"title": package.title if package else trained.get("package"),
                             "manager": trained.get("manager") or {},
                             "modules": [{"title": titles.get(key, key), **result}
                                         for key, result in (trained.get("modules") or {}).items()]}
    if scored is not None:
        rubric = evaluation.rubric_for(spec.tables, case.process_key)
        found["evaluation"] = {"year": scored["year"], "total": score_text(scored["total_tenths"]),
                               "level": procedures.of_version(db.session, case.spec_version).forms.choice_label(
                                   rubric.levels_choices, scored["level"]) if rubric else scored["level"]}
    return found


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def certificate_html(context: dict) -> str:
    """The certificate page: the case's data, the QR code and the visible seal block."""
    return render_template("certificate.html", font_dir=current_app.config["FONT_DIR"].as_uri(),
                           qr=qr_data_uri(context["verify_url"]) if context["verify_url"] else None, **context)


def render_certificate(context: dict) -> bytes:
    """The sealed PDF: rendered with its evidence bundle attached, then signed by the office seal."""
    font_dir = current_app.config["FONT_DIR"]
    pdf = evidence.sealed_pdf(db.session, context["case"], certificate_html(context), base_url=font_dir.as_uri() + "/",
                              allowed_roots=[str(font_dir)], passphrase=current_app.config["CA_KEY_PASSPHRASE"],
                              witnesses=current_app.config["WITNESS_ENDPOINTS"])
    return pdf  # a checkpoint may have been signed to cover the case's records: the view commits it


def pdf_response(case: Case, user: User) -> Response:
    """The certificate as a download; refused (409, and an audit event) when a fact it would print
    is not what the signed records say."""
    try:
        context = certificate_context(case)
    except UnprovedFacts as error:
        db.session.rollback()
        record_read(db.session, db.session.merge(user), "seal_refused", f"case:{case.id}",
                    {"problems": [f"{p.subject}.{p.field}: {p.code} ({p.detail})" for p in error.problems]})
        db.session.commit()  # the refusal is logged although the request fails (see web.transaction)
        raise
    pdf = kept_certificate(case, context["head"])
    if pdf is None:
        pdf = keep_certificate(case, context["head"], render_certificate(context))
    name = f"certificate-{case.public_id}.pdf"
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _kept_folder() -> Path:
    return Path(current_app.config["STORAGE_DIR"]) / "certificates"


def _kept_name(case: Case, head: str = "*", digest: str = "*") -> str:
    """A kept certificate's file name: its case, its chain's head and its bytes' SHA-256 (``*`` patterns)."""
    return f"case{case.id}-{head}-{digest}.pdf"


def kept_certificate(case: Case, head: str | None) -> bytes | None:
    """The certificate sealed for this head of the case's chain, if one is kept and its bytes are intact."""
    if head is None:
        return None
    for path in _kept_folder().glob(_kept_name(case, head)):
        pdf = path.read_bytes()
        if path.stem.rsplit("-", 1)[1] == hashlib.sha256(pdf).hexdigest():
            return pdf
        path.unlink(missing_ok=True)  # changed on disk: made again
    return None


def keep_certificate(case: Case, head: str | None, pdf: bytes) -> bytes:
    """Keep a certificate just sealed for this head, in place of those of older heads; returns it."""
    if head is None:
        return pdf
    folder = _kept_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for older in folder.glob(_kept_name(case)):
        older.unlink(missing_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".part")
    with os.fdopen(handle, "wb") as out:
        out.write(pdf)
    os.replace(temporary, folder / _kept_name(case, head, hashlib.sha256(pdf).hexdigest()))
    return pdf
