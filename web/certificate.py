"""The PDF certificate of a case: the data it shows, and its rendering."""
from __future__ import annotations

from flask import Response, current_app, render_template, request, url_for
from sqlalchemy import select

from signing import qr_data_uri
from web.extensions import db
from web.scope import case_application, latest_form_data, timeline, verification_summary
from workflows import evidence
from workflows.models import Case, License, ManagerTerm, utcnow
from workflows.verification import verification_token

__all__ = ["certificate_context", "certificate_html", "render_certificate", "pdf_response"]


#: the certificate's title for a case that reached this status in this procedure
TITLES = {("center_founding", "licensed"): "web.certificate.license_title",
          ("manager_change", "appointed"): "web.certificate.appointment_title",
          ("manager_retirement", "closed"): "web.certificate.retirement_title",
          ("manager_resignation", "closed"): "web.certificate.resignation_title"}


def certificate_context(case: Case) -> dict:
    """Everything the certificate shows, as data (tests check this, not text pulled from the PDF)."""
    entries = timeline(case)
    license_ = db.session.scalars(select(License).where(License.center_id == case.center_id)
                                  .order_by(License.issued_at.desc())).first() if case.center_id else None
    started = db.session.scalars(select(ManagerTerm).where(ManagerTerm.case_id == case.id)).first()
    deciding = [case.id, *db.session.scalars(select(Case.id).where(Case.linked_case_id == case.id))]
    ended = db.session.scalars(select(ManagerTerm).where(ManagerTerm.ended_by_case_id.in_(deciding))).first()
    token = verification_token(case, entries[-1]["hash"]) if entries else None
    base = current_app.config.get("PUBLIC_BASE_URL") or request.host_url.rstrip("/")
    verify_url = f"{base}{url_for('public.verify', token=token)}" if token else None
    county = case.county_office
    return {
        "case": case, "status": case.status, "entries": entries,
        "title_key": TITLES.get((case.process_key, case.status), "web.certificate.status_title"),
        "license_number": license_.number if license_ else None,
        "issued_at": license_.issued_at if license_ else None,
        "center_name": license_.center.name if license_ else None,
        "application": case_application(case),
        "request": latest_form_data(case, "term_end_request"),
        "manager_name": started.full_name if started else None,
        "manager_national_id": started.national_id if started else None,
        "manager_since": started.start_date if started else None,
        "manager_until": started.planned_end if started else None,
        "manager_interim": started.interim if started else False,
        "ended_term": ended,
        "county_name": county.name if county else None,
        "province_name": county.parent.name if county else None,
        "token": token, "verify_url": verify_url,
        "verification": verification_summary(case),
        "seal_office": evidence.seal_office(db.session, case),
        "issued_now": utcnow(),
    }


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
    db.session.commit()  # a checkpoint may have been signed to cover the case's records
    return pdf


def pdf_response(case: Case) -> Response:
    """The certificate as a download."""
    pdf = render_certificate(certificate_context(case))
    name = f"certificate-{case.public_id}.pdf"
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
