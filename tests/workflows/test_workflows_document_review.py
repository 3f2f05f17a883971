"""An office reviews each document of an application in its signed decision; a return for correction
asks the applicant to replace the rejected documents only, and the older files stay in the history."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from support import ACTORS, PIN, application_fixture, in_county_review, pdf_bytes, png_bytes, user
from web.extensions import db
from workflows import documents
from workflows.cases import complete_task
from workflows.errors import InvalidInput
from workflows.models import Case, CaseDocument, Record

DEGREE, PHOTO, ID_COPY = "documents.manager_degree", "documents.manager_photo", "documents.manager_id_copy"


def decide(case: Case, decision: str, review: list[dict], reason: str = "مدرک تحصیلی خوانا نیست.") -> None:
    data = {"decision": decision, "document_review": review}
    if decision != "approve":
        data["reason"] = reason
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(ACTORS["county"]), data=data,
                  pin=PIN)
    db.session.commit()


def resubmit(case: Case, documents_: dict) -> None:
    data = application_fixture()
    data["documents"] = documents_
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(ACTORS["applicant"]), data=data,
                  pin=PIN)
    db.session.commit()


def signed_documents(case: Case) -> dict:
    record = db.session.scalars(select(Record).where(Record.case_id == case.id, Record.action.in_(
        documents.APPLICATION_ACTIONS)).order_by(Record.seq.desc())).first()
    return json.loads(record.form_data)["documents"]


def reviewed(verdicts: dict) -> list[dict]:
    return [{"document": path, "verdict": verdict, **({"reason": "تصویر تار است و خوانده نمی‌شود."}
                                                    if verdict == "rejected" else {})}
            for path, verdict in verdicts.items()]


def test_a_return_lists_rejected_documents_and_only_those_are_replaced(app):
    case = in_county_review(app)
    first = signed_documents(case)
    decide(case, "return", reviewed({DEGREE: "rejected", PHOTO: "accepted", ID_COPY: "accepted"}))
    assert case.status == "correction"
    review = documents.open_review(db.session, case)
    assert {path: r["verdict"] for path, r in review.items()} == {DEGREE: "rejected", PHOTO: "accepted",
                                                                  ID_COPY: "accepted"}
    assert review[DEGREE]["sha256"] == first["manager_degree"] and "تار" in review[DEGREE]["reason"]

    # sending the rejected file again, or changing an accepted one, is refused at that field; nothing is signed
    before = db.session.scalar(select(Record.seq).where(Record.case_id == case.id).order_by(Record.seq.desc()))
    with pytest.raises(InvalidInput) as same:
        resubmit(case, first)
    assert set(same.value.errors) == {DEGREE} and "نپذیرفته" in same.value.errors[DEGREE][0]
    db.session.rollback()
    new_degree = documents.store_document(db.session, app.config["STORAGE_DIR"], case=case, user=case.applicant,
                                          field="manager_degree", filename="مدرک تازه.pdf",
                                          content=pdf_bytes("a clearer scan")).sha256
    new_photo = documents.store_document(db.session, app.config["STORAGE_DIR"], case=case, user=case.applicant,
                                         field="manager_photo", filename="photo2.png", content=png_bytes("pink")).sha256
    db.session.commit()  # uploads are kept whatever becomes of the submission, as the pages keep them
    with pytest.raises(InvalidInput) as changed:
        resubmit(case, {**first, "manager_degree": new_degree, "manager_photo": new_photo})
    assert set(changed.value.errors) == {PHOTO}
    db.session.rollback()
    assert db.session.scalar(select(Record.seq).where(Record.case_id == case.id)
                             .order_by(Record.seq.desc())) == before

    resubmit(case, {**first, "manager_degree": new_degree})
    assert case.status == "inquiries" and documents.open_review(db.session, case) == {}
    assert signed_documents(case)["manager_degree"] == new_degree
    # the rejected file stays linked to the case, as the signed return names it
    assert first["manager_degree"] in {d.sha256 for d in db.session.scalars(
        select(CaseDocument).where(CaseDocument.case_id == case.id))}


def test_an_approval_cannot_reject_a_document_and_a_review_names_only_the_applications_documents(app):
    case = in_county_review(app)
    with pytest.raises(InvalidInput) as approve:
        decide(case, "approve", reviewed({DEGREE: "rejected"}))
    assert set(approve.value.errors) == {"decision"}
    db.session.rollback()
    with pytest.raises(InvalidInput) as unknown:
        decide(case, "return", reviewed({"documents.passport": "rejected"}))
    assert set(unknown.value.errors) == {"document_review.0.document"}
    db.session.rollback()
    with pytest.raises(InvalidInput) as no_reason:
        decide(case, "return", [{"document": DEGREE, "verdict": "rejected"}])
    assert set(no_reason.value.errors) == {"document_review.0.reason"}
    db.session.rollback()
    assert case.status == "county_review"
    decide(case, "approve", reviewed({DEGREE: "accepted", PHOTO: "accepted"}))
    assert case.status == "province_review"


def test_a_return_without_a_review_asks_for_nothing_in_particular(app):
    case = in_county_review(app)
    decide(case, "return", [])
    assert documents.open_review(db.session, case) == {}
    resubmit(case, signed_documents(case))  # the same files may be sent again
    assert case.status == "inquiries"
