"""Pages anyone can open: the home page and the public verification of a certificate."""
from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, send_from_directory, url_for
from flask_login import current_user
from sqlalchemy import select

from forms import normalize_license_number, normalize_text, t, to_persian_digits
from web.auth import LoginThrottled, counted_guess, guessed_right
from web.config import PROJECT_ROOT
from web.extensions import db
from signing import pki as x
from signing.verdict import check_pdf
from web.transaction import commits
from workflows import documents, facts, pki, tracking
from workflows.inbox import case_progress
from workflows.models import Case, Office, ServiceKey
from workflows.verification import resolve_token

bp = Blueprint("public", __name__)


@bp.route("/")
def home():
    if current_user.is_authenticated:
        return redirect(url_for("pages.cases"))
    return render_template("home.html")


@bp.route("/verify", methods=["GET", "POST"])
def verify_form():
    """A token typed or scanned, or a certificate PDF uploaded, checked without signing in."""
    if request.method == "POST":
        return render_template("verify.html", check=None, token="", pdf=check_uploaded_pdf(request.files.get("pdf")))
    token = normalize_text(request.args.get("token", ""))[:100]
    if token and normalize_license_number(token) and "." not in token:
        return redirect(url_for("public.verify_license", number=normalize_license_number(token)))
    if token:
        return redirect(url_for("public.verify", token=token))
    return render_template("verify.html", check=None, token="")


def check_uploaded_pdf(upload) -> dict:
    """Validate an uploaded certificate PDF's seal and its attached evidence against the HQ root.

    Always a verdict: a damaged or hostile file yields problem codes (signing.verdict), never an error.
    """
    content = upload.read(documents.MAX_DOCUMENT_BYTES + 1) if upload is not None else b""
    if not content.startswith(b"%PDF-") or len(content) > documents.MAX_DOCUMENT_BYTES:
        return {"ok": False, "problems": ["not_a_pdf"], "bundle": None}
    root = pki.root_certificate(db.session).pem
    crls = [x.load_crl(c.pem) for c in pki.current_crls(db.session)]
    verdict = check_pdf(content, root, crls, require_evidence=True, policy=current_app.config.get("WITNESS_POLICY"))
    result = {"ok": verdict.ok, "problems": list(verdict.codes), "bundle": None, "status": None}
    if verdict.seal is not None:
        # the time a person reads is the time-stamp's; the time the seal states is only a claim
        result.update(signer=verdict.seal.signer_common_name,
                      signing_time=verdict.seal.timestamp_time or verdict.seal.signing_time,
                      timestamped=verdict.seal.timestamp_time is not None)
    report = verdict.report
    if report is not None:
        result["bundle"] = {"ok": report.ok, "count": report.count, "case_id": report.case_id,
                            "cosigned_by": len(report.cosigned_by), "quorum": report.quorum}
        if verdict.ok and isinstance(report.case_id, str):  # the status of a proved case only
            case = db.session.scalars(select(Case).where(Case.public_id == report.case_id)).first()
            result["status"] = case.status if case else None
    return result


@bp.route("/track", methods=["GET", "POST"])
@commits
def track():
    """Where a case is, for anyone with its tracking code and the national id its application names."""
    if request.method == "GET":
        return render_template("track.html", code="", errors={})
    code, person = request.form.get("code", ""), request.form.get("national_id", "")
    normalized = tracking.normalize_code(code)
    errors: dict[str, list[str]] = {}
    if normalized is None:
        errors["code"] = [t("web.track.code_invalid")]
    if not isinstance(person, str) or not person.strip():
        errors["national_id"] = [t("errors.required")]
    if errors:
        return render_template("track.html", code=code, errors=errors), 422
    try:
        attempt = counted_guess(f"track:{normalized}")
    except LoginThrottled as throttled:
        return render_template("track.html", code=code, errors={
            "code": [t("web.track.throttled", minutes=to_persian_digits(str(throttled.minutes)))]}), 429
    case = tracking.find(db.session, normalized, person)
    if case is None:
        return render_template("track.html", code=code, errors={"code": [t("web.track.not_found")]}), 404
    guessed_right(attempt)
    return render_template("track.html", code=code, errors={}, case=case,
                           p=case_progress(db.session, case, case.applicant))


@bp.route("/pki/root.pem")
def root_pem():
    """The HQ root certificate: the only thing an offline verifier needs."""
    return Response(pki.root_certificate(db.session).pem, mimetype="application/x-pem-file",
                    headers={"Content-Disposition": 'attachment; filename="hq-root.pem"'})


@bp.route("/pki/log-key.pem")
def log_key_pem():
    """HQ's log key (public), for auditors who check checkpoints and consistency proofs."""
    hq = db.session.scalars(select(Office).where(Office.kind == "hq")).one()
    key = db.session.scalars(select(ServiceKey).where(ServiceKey.purpose == "log", ServiceKey.office_id == hq.id)).one()
    public = x.load_certificate(key.certificate.pem).public_key()
    return Response(public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo), mimetype="application/x-pem-file")


@bp.route("/pki/crls.pem")
def crls_pem():
    """The current CRL of every CA."""
    return Response("".join(c.pem for c in pki.current_crls(db.session)), mimetype="application/x-pem-file")


@bp.route("/verify/<token>")
def verify(token: str):
    check = resolve_token(db.session, token)
    proof = facts.prove_case(db.session, check.case, check.report) if check is not None else None
    return render_template("verify.html", check=check, token=token, proof=proof,
                           public=facts.public_view(proof.center) if proof and proof.center else None), (200 if check else 404)


@bp.route("/verify/license/<number>")
def verify_license(number: str):
    """A license looked up by its number: the center, its license, its current manager, as the signed
    records say (and only when the stored registry agrees with them)."""
    number = normalize_license_number(number)
    center_id = facts.license_center(db.session, number) if number else None
    if center_id is None:
        return render_template("verify.html", check=None, token=number or "", license_lookup=True), 404
    proved, problems = facts.prove_center(db.session, center_id)
    return render_template("verify.html", check=None, token=number, license_lookup=True,
                           public=facts.public_view(proved), problems=problems)


@bp.route("/fonts/<path:name>")
def font(name: str):
    """Vazirmatn web fonts from the npm package (never committed)."""
    directory = current_app.config["FONT_DIR"].parent / "webfonts"
    return send_from_directory(directory, name, max_age=86400)


NODE_MODULES = PROJECT_ROOT / "node_modules"
#: npm packages whose built files the pages load: URL name → folder under node_modules
VENDOR = {"bpmn-js": ("bpmn-js", "dist"), "pdfjs-dist": ("pdfjs-dist", "legacy", "build")}


@bp.route("/vendor/<package>/<path:name>")
def vendor(package: str, name: str):
    """Built files of front-end npm packages (installed by npm ci, never committed), like the fonts."""
    if package not in VENDOR:
        abort(404)
    directory = NODE_MODULES.joinpath(*VENDOR[package])
    return send_from_directory(directory, name, max_age=86400)


@bp.route("/favicon.ico")
def favicon():
    return redirect(url_for("static", filename="favicon.svg"), code=301)
