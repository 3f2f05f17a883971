"""Helpers for the offices tests: cases driven through the operations at chosen times.

Times are explicit (``now=``) so durations are known; they lie after the seeding time (the demo
certificates start then) and within the CRLs' lifetime.
"""
from __future__ import annotations

import io
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from support import PIN, SCENARIO_DIR, application_fixture, pass_visit, user
from web.extensions import db
from workflows import documents, inquiries, procedures, training
from workflows.cases import complete_task, start_case
from workflows.demo import DEMO_ACCOUNTS
from workflows.models import Case, Center, Inquiry, utcnow

__all__ = ["national_id", "base_time", "founding", "answer", "decide", "licensed", "doc_bytes", "tokens_for",
           "with_training_rule", "TRAINING_BEFORE", "proposal", "renewal_at_province", "pass_training"]


def national_id(n: int) -> str:
    """A valid national ID made from a number (its check digit computed)."""
    body = f"{n:09d}"[-9:]
    remainder = sum(int(d) * (10 - i) for i, d in enumerate(body)) % 11
    return body + str(remainder if remainder < 2 else 11 - remainder)


def base_time() -> datetime:
    """A round time shortly after now (seeded certificates are valid from the seeding on)."""
    return (utcnow() + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)


def doc_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (seed % 256, (seed * 7) % 256, (seed * 13) % 256)).save(buffer, "PNG")
    return buffer.getvalue()


def founding(app, applicant: str, *, county: str, mosque: str, manager_id: str, now: datetime,
             birth_date: str | None = None, education: str | None = None, seed: int = 1,
             created: datetime | None = None) -> Case:
    """Start (at ``created``, default ``now``) and submit (at ``now``) a founding application."""
    actor = user(applicant)
    case = start_case(db.session, process_key="center_founding", starter=actor, now=created or now)
    data = application_fixture()
    data["mosque"]["county"], data["mosque"]["name"] = county, mosque
    data["manager"]["national_id"] = manager_id
    if birth_date:
        data["manager"]["birth_date"] = birth_date
    if education:
        data["manager"]["education"] = education
    data["documents"] = {
        field: documents.store_document(db.session, app.config["STORAGE_DIR"], case=case, user=actor, field=field,
                                        filename=f"{field}.png", content=doc_bytes(seed * 3 + i)).sha256
        for i, field in enumerate(("manager_id_copy", "manager_photo", "manager_degree"))}
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=actor, data=data, pin=PIN, now=now)
    db.session.commit()
    return case


def answer(case: Case, now: datetime, result: str = "clear", visit: bool = True) -> None:
    """Every pending inquiry of the case answered at ``now`` by the demo agencies; when that brings the
    case to its site visit, the county office passes it at the same time (``visit=False``: it waits)."""
    agencies = {a.agency: a for a in DEMO_ACCOUNTS if a.agency}
    pending = db.session.scalars(select(Inquiry.id).where(Inquiry.case_id == case.id, Inquiry.status == "pending")
                                 .order_by(Inquiry.id)).all()
    for inquiry_id in pending:
        inquiry = db.session.get(Inquiry, inquiry_id)
        inquiries.answer_inquiry(db.session, inquiry_id=inquiry.id, agency_user=user(agencies[inquiry.agency].username),
                                 data={"result": result, "reference": f"R-{inquiry.id}"}, pin=PIN, now=now)
    db.session.commit()
    if visit and any(t.name == "schedule_visit" for t in case.tasks):
        pass_visit(case, now)


def decide(case: Case, username: str, decision: str, now: datetime, reason: str | None = None):
    """The waiting review task completed with a decision at ``now``."""
    db.session.refresh(case)
    data = {"decision": decision, **({"reason": reason} if reason else {})}
    result = complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(username), data=data,
                           pin=PIN, now=now)
    db.session.commit()
    return result


def licensed(app, applicant: str, *, county: str, mosque: str, manager_id: str, now: datetime,
             county_officer: str, province_officer: str, seed: int = 1) -> Center:
    case = founding(app, applicant, county=county, mosque=mosque, manager_id=manager_id, now=now, seed=seed)
    answer(case, now + timedelta(hours=1))
    decide(case, county_officer, "approve", now + timedelta(hours=2))
    decide(case, province_officer, "approve", now + timedelta(hours=3))
    assert case.status == "licensed", case.status
    return db.session.get(Center, case.center_id)


def tokens_for(*usernames: str) -> dict[str, dict]:
    """Bearer headers for demo accounts, registered straight in the database (no password check)."""
    from workflows.people import add_token

    headers = {}
    for username in usernames:
        token = f"test-token-{username}"
        add_token(db.session, user(username), token, label="test")
        headers[username] = {"Authorization": f"Bearer {token}"}
    db.session.commit()
    return headers


class RecordingSender:
    """A gateway stand-in that keeps what it was given (``office_support:RecordingSender``)."""

    sent: list = []

    def send(self, message):
        RecordingSender.sent.append(message)
        return f"id-{len(RecordingSender.sent)}"


class FailingSender:
    """A gateway that is down (``office_support:FailingSender``)."""

    def send(self, message):
        raise ConnectionError("gateway unreachable")


def with_training_rule(app, tmp_path: Path, edit) -> Path:
    """A copy of the shipped folder whose training rule table (``manager_training.dmn``) is edited by
    ``edit(text) -> text``, as headquarters would edit it."""
    folder = tmp_path / "bpmn"
    shutil.copytree(app.config["BPMN_DIR"], folder, ignore=shutil.ignore_patterns("scenarios"))
    source = folder / "manager_training.dmn"
    source.write_text(edit(source.read_text("utf-8")), "utf-8")
    return folder


#: the one edit that makes the shipped rule say "pass the package before the province confirms"
TRAINING_BEFORE = (lambda text: text.replace("<text>\"within\"</text>", "<text>\"before\"</text>").replace(
    "مدیر کانون باید تا ۶۰ روز پس از آغاز دوره مدیریت،", "مدیر پیشنهادی باید پیش از تأیید انتصاب،"))


def proposal(app, case: Case, holder) -> dict:
    """The manager change's fixture (a new manager, 0013542419), with its documents uploaded to the case."""
    return _application(app, case, holder, "manager_change", "manager_change")


def renewal_at_province(app, center: Center, holder, now: datetime) -> Case:
    """A renewal of the manager in office the county started at ``now``: the holder signs the fixture
    (with its documents), the agencies answer and the county approves; the province's review waits."""
    renewal = start_case(db.session, process_key="term_renewal", starter=user("arak_officer"), center=center, now=now)
    complete_task(db.session, case=renewal, task_id=renewal.tasks[0].task_id, actor=holder, pin=PIN, now=now,
                  data=_application(app, renewal, holder, "term_renewal", "renewal"))
    db.session.commit()
    answer(renewal, now)
    decide(renewal, "arak_officer", "approve", now)
    return renewal


def _application(app, case: Case, holder, scenarios: str, key: str) -> dict:
    fixture = json.loads((SCENARIO_DIR / scenarios / "fixtures.json").read_text("utf-8"))[key]
    return {**fixture, "documents": {
        field: documents.store_document(db.session, app.config["STORAGE_DIR"], case=case, user=holder, field=field,
                                        filename=f"{field}.png", content=doc_bytes(i)).sha256
        for i, field in enumerate(("manager_id_copy", "manager_photo", "manager_degree"))}}


def pass_training(case: Case, holder, now: datetime) -> None:
    """Every module of the training case's package passed, and its completion signed, at ``now``."""
    package = training.package_for(procedures.spec_of_case(db.session, case).tables, case.process_key)
    for module in package.modules:
        training.answer(db.session, case, module, {q.key: q.answer for q in module.questions}, now)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=holder, pin=PIN, now=now,
                  data={"declaration": "taken_by_manager"})
    db.session.commit()
