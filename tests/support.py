"""Helpers the tests share: demo accounts, sample uploads, the scenario fixture data."""
from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

from flask import current_app
from PIL import Image
from sqlalchemy import func, select

import engine
from web.cli import run_tick
from web.extensions import db
from workflows import access, documents, inquiries, procedures
from workflows.cases import complete_task, deploy, start_case
from workflows.demo import DEMO_ACCOUNTS
from workflows.models import Case, Center, Inquiry, Record, User, tehran_today, utcnow

ROOT = Path(__file__).resolve().parent.parent
BPMN_DIR = ROOT / "bpmn"
SCENARIO_DIR = BPMN_DIR / "scenarios"
PIN = "1405"
PASSWORD = "demo1234"
#: which demo account plays each actor of a scenario
ACTORS = {"applicant": "applicant1", "county": "arak_officer", "province": "markazi_officer"}
#: the manager of a second demo center (someone who already manages a center)
OTHER_MANAGER = "1234567891"


def shipped(process_key: str) -> procedures.Procedure:
    """The procedure as the bpmn folder declares it now (its manifest, checked against its diagram)."""
    spec = engine.spec_from_sources(process_key, engine.read_sources(BPMN_DIR, process_key))
    assert procedures.problems(spec) == []
    return procedures.parse(process_key, spec.manifest)


def user(username: str) -> User:
    return db.session.scalars(select(User).where(User.username == username)).one()


def login(client, username: str) -> None:
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def png_bytes(color: str = "green") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (30, 40), color).save(buffer, "PNG")
    return buffer.getvalue()


def pdf_bytes(text: str = "degree") -> bytes:
    body = f"%PDF-1.4\n% {text}\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    return body.encode()


def application_fixture() -> dict:
    return json.loads((SCENARIO_DIR / "center_founding" / "fixtures.json").read_text("utf-8"))["application"]


def upload_documents(app, case: Case) -> dict:
    files = {"manager_id_copy": png_bytes("red"), "manager_photo": png_bytes("blue"), "manager_degree": pdf_bytes()}
    return {field: documents.store_document(db.session, app.config["STORAGE_DIR"], case=case, user=case.applicant,
                                            field=field, filename=f"{field}.bin", content=content).sha256
            for field, content in files.items()}


def submitted_founding(app, applicant: str | None = None, manager_national_id: str | None = None) -> Case:
    """A founding application signed and submitted: its inquiries are out."""
    applicant = applicant or ACTORS["applicant"]
    case = start_case(db.session, process_key="center_founding", starter=user(applicant))
    data = application_fixture()
    data["documents"] = upload_documents(app, case)
    if manager_national_id:
        data["manager"]["national_id"] = manager_national_id
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(applicant), data=data, pin=PIN)
    db.session.commit()
    return case


def in_county_review(app, applicant: str | None = None, manager_national_id: str | None = None) -> Case:
    """A founding whose inquiries all came back clear: the county office's decision is waiting."""
    case = submitted_founding(app, applicant, manager_national_id)
    answer_all(case, "clear", utcnow())
    assert case.status == "county_review"
    return case


def found_center(app, applicant: str, manager_national_id: str | None = None) -> Center:
    """Run a founding through to its license (the setup of the center procedures)."""
    case = in_county_review(app, applicant, manager_national_id)
    for actor in ("county", "province"):
        complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(ACTORS[actor]),
                      data={"decision": "approve"}, pin=PIN)
    db.session.commit()
    assert case.status == "licensed"
    return db.session.get(Center, case.center_id)


def deploy_changed_founding(app, tmp_path, *, rename_province_review: bool = False) -> str:
    """Deploy a changed founding procedure (a relabelled status; optionally the province's review under
    another BPMN id) and return its version."""
    folder = tmp_path / "bpmn"
    shutil.copytree(app.config["BPMN_DIR"], folder, ignore=shutil.ignore_patterns("scenarios"))
    manifest_path = folder / "center_founding.procedure.json"
    manifest = json.loads(manifest_path.read_text("utf-8"))
    manifest["statuses"]["county_review"]["label"] = "نزد کارشناس شهرستان"
    if rename_province_review:
        manifest["tasks"]["province_decision"] = manifest["tasks"].pop("province_review")
        diagram = folder / "center_founding.bpmn"
        text = diagram.read_text("utf-8")
        for old in ('id="province_review"', ">province_review<", 'Ref="province_review"', 'Element="province_review'):
            text = text.replace(old, old.replace("province_review", "province_decision"))
        diagram.write_text(text, "utf-8")
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False), "utf-8")
    version = deploy(db.session, folder, "center_founding").version
    db.session.commit()
    return version


def add_counties_signed(runner, codes=("alborz-karaj", "alborz-nazarabad")) -> None:
    """The administrator adds county offices through the CLI: signed records of the admin log."""
    for code in codes:
        result = runner.invoke(args=["admin", "add-office", "--as", "admin", "--pin", PIN, "--code", code,
                                     "--name", "اداره تازه", "--kind", "county", "--parent", "alborz"])
        assert result.exit_code == 0, result.output


def visit_fixture() -> tuple[dict, dict]:
    """The site visit's schedule and a checklist that passes, as the scenarios fill them in."""
    fixtures = json.loads((SCENARIO_DIR / "center_founding" / "fixtures.json").read_text("utf-8"))
    return fixtures["visit_schedule"], fixtures["visit"]


def pass_visit(case: Case, now, expert: str | None = None, pin: str = PIN, **checklist) -> None:
    """The county office schedules the case's site visit and its expert (the office's first officer
    unless named) signs a checklist that passes, both at ``now`` (with the expert's ``pin``);
    ``checklist`` overrides its fields."""
    if expert is None:
        expert = access.office_people(db.session, case.county_office_id, "county")[0].username
    schedule_visit(case, now, expert, expert, pin)
    record_visit(case, now, expert, pin, **checklist)


def schedule_visit(case: Case, now, scheduler: str, expert: str, pin: str = PIN) -> None:
    """A county officer names today as the site visit's day and ``expert`` as its expert."""
    db.session.refresh(case)
    schedule = {**visit_fixture()[0], "visit_date": tehran_today(utcnow()).isoformat(), "expert": expert}
    task = next(t for t in case.tasks if t.name == "schedule_visit")
    complete_task(db.session, case=case, task_id=task.task_id, actor=user(scheduler), data=schedule, pin=pin, now=now)
    db.session.commit()


def record_visit(case: Case, now, expert: str, pin: str = PIN, **checklist) -> None:
    """The expert signs the visit's checklist (one that passes, changed by ``checklist``) with a photo."""
    db.session.refresh(case)
    photo = documents.store_document(db.session, current_app.config["STORAGE_DIR"], case=case, user=user(expert),
                                     field="documents.space_photo", filename="space.png", content=png_bytes("gray"))
    sheet = {**visit_fixture()[1], **checklist, "documents": {"space_photo": photo.sha256}}
    task = next(t for t in case.tasks if t.name == "site_visit")
    complete_task(db.session, case=case, task_id=task.task_id, actor=user(expert), data=sheet, pin=pin, now=now)
    db.session.commit()


def answer_all(case: Case, results, now, visit: bool = True) -> list[Record]:
    """The demo agencies answer every pending inquiry of the case; when that brings it to its site visit,
    the county office passes the visit at the same time (``visit=False`` leaves it waiting for it)."""
    records = []
    agencies = {a.agency: a for a in DEMO_ACCOUNTS if a.agency}
    for inquiry in db.session.scalars(select(Inquiry).where(Inquiry.case_id == case.id, Inquiry.status == "pending")
                                      .order_by(Inquiry.id)).all():
        result = results if isinstance(results, str) else results.get(inquiry.kind, "clear")
        records += inquiries.answer_inquiry(db.session, inquiry_id=inquiry.id, agency_user=user(agencies[inquiry.agency].username),
                                            data={"result": result, "reference": f"REF-{inquiry.id}"},
                                            pin=agencies[inquiry.agency].pin, now=now)
    db.session.commit()
    if visit and any(t.name == "schedule_visit" for t in case.tasks):
        pass_visit(case, now)
    return records


def tick(app, now) -> list[Record]:
    """Run the deadline tick as the CLI does; returns the records it signed."""
    before = db.session.scalar(select(func.max(Record.id))) or 0
    run_tick(now)
    return list(db.session.scalars(select(Record).where(Record.id > before).order_by(Record.id)))


def assert_nothing_inline(html: str, where: str) -> None:
    """What the Content-Security-Policy forbids is absent from a served page: scripts only as
    files of the application, no inline script or style, no event attribute, nothing third-party."""
    tags = re.findall(r"<script\b[^>]*>", html, re.I)
    assert all(re.fullmatch(r'<script src="/(static|vendor)/[^"]+\.js" defer>', tag) for tag in tags), where
    assert all(body.strip() == "" for body in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S | re.I)), where
    assert not re.search(r"\son[a-z]+\s*=", html), f"event handler attribute in {where}"
    assert not re.search(r"<[^>]+\sstyle\s*=", html), f"style attribute in {where}"
    assert not re.search(r"<style[\s>]", html), f"style element in {where}"
    assert not re.search(r"(src|href)=\"(https?:)?//", html), f"third-party resource in {where}"


def csv_rows(response) -> list[dict[str, str]]:
    """The rows of a CSV download, keyed by the Persian headers a person reads."""
    import csv
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/csv; charset=utf-8"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))
