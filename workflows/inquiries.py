"""Inquiries (استعلام) to other agencies about a proposed manager, and their signed answers."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import engine
import forms
from workflows import access, outcomes, procedures, transitions  # noqa: F401 (outcomes: its reactions)
from workflows.errors import Conflict, Forbidden, InvalidInput, NotFound
from workflows.keys import signer_for
from workflows.models import Case, Inquiry, ProcessDefinition, Record, User

__all__ = ["has_open_round", "open_round", "answer_inquiry", "resend_inquiry", "case_inquiries",
           "pending_in_latest_round", "agency_inquiries", "answer_form", "RESEND_DAYS"]

#: how long a resent inquiry is given
RESEND_DAYS = 7


def _config(spec: engine.ProcessSpec) -> dict:
    return spec.tables["inquiries"]


def answer_form(session: Session, spec: engine.ProcessSpec | None = None) -> str:
    """The form agencies answer with (``answer_form`` of inquiries.json): a version's, or the newest
    deployed one's (for a version stored before the form was named there too)."""
    name = _config(spec).get("answer_form") if spec is not None else None
    if name is None:
        newest = session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.deployed_at.desc(),
                                                                     ProcessDefinition.version)).first()
        name = _config(procedures.spec_of(newest))["answer_form"]
    return name


def has_open_round(session: Session, case: Case) -> bool:
    """True while an inquiry of the case is waiting for its answer."""
    return session.scalar(select(func.count()).select_from(Inquiry).where(
        Inquiry.case_id == case.id, Inquiry.status == "pending")) > 0


def _awaited(change: transitions.Transition) -> str | None:
    """The message the case waits for that the last answer of a round sends (its manifest says which)."""
    meanings = change.procedure.messages
    return next((m for m in change.instance.awaited_messages()
                 if m in meanings and meanings[m].sent_by == "inquiries"), None)


@transitions.on_waiting("inquiries")
def open_round(change: transitions.Transition, message: str) -> list[Inquiry]:
    """The case now waits for the inquiries' answers: send this procedure's inquiries about the proposed
    manager (unless a round is still out); when it sends none, send the awaited ``message`` at once."""
    session, case, spec, instance, now = change.session, change.case, change.spec, change.instance, change.now
    if has_open_round(session, case):
        return []
    config = _config(spec)
    kinds = config["procedures"].get(case.process_key, [])
    if not kinds:
        with change.engine():
            instance.send_message(message, {"all_clear": True, "results": []})
        return []
    application = transitions.latest_application(session, case)
    last_round = session.scalar(select(func.max(Inquiry.round)).where(Inquiry.case_id == case.id)) or 0
    due = next((t.fire_at for t in instance.timers() if t.name == "inquiries_overdue"), now + timedelta(days=10))
    manager = application["manager"]
    sent = [Inquiry(case_id=case.id, round=last_round + 1, kind=kind, agency=config["kinds"][kind]["agency"],
                    subject_national_id=manager["national_id"],
                    subject_name=f"{manager['first_name']} {manager['last_name']}",
                    status="pending", sent_at=now, due_at=due) for kind in kinds]
    session.add_all(sent)
    session.flush()
    return sent


def case_inquiries(session: Session, case: Case) -> list[Inquiry]:
    """Every inquiry of the case, newest round first."""
    return list(session.scalars(select(Inquiry).where(Inquiry.case_id == case.id)
                                .order_by(Inquiry.round.desc(), Inquiry.id)))


def pending_in_latest_round(session: Session, case: Case) -> list[Inquiry]:
    """Inquiries of the case's latest round still without an answer."""
    latest = select(func.max(Inquiry.round)).where(Inquiry.case_id == case.id).scalar_subquery()
    return list(session.scalars(select(Inquiry).where(
        Inquiry.case_id == case.id, Inquiry.round == latest, Inquiry.status == "pending")))


def agency_inquiries(session: Session, agency_user: User, status: str | None = "pending") -> list[Inquiry]:
    """Inquiries addressed to the agency this account answers for."""
    if agency_user.role != "agency" or not agency_user.agency:
        return []
    query = select(Inquiry).where(Inquiry.agency == agency_user.agency).order_by(Inquiry.sent_at, Inquiry.id)
    if status:
        query = query.where(Inquiry.status == status)
    return list(session.scalars(query.limit(500)))


def answer_inquiry(session: Session, *, inquiry_id: int, agency_user: User, data: object, pin: str | None,
                   now: datetime, signing_session: str | None = None) -> list[Record]:
    """Record an agency's signed answer; the last answer of a round resumes the waiting case.
    The key is unlocked by the PIN, or taken from the open signing session the handle names."""
    inquiry = session.get(Inquiry, inquiry_id)
    if inquiry is None or agency_user.role != "agency" or inquiry.agency != agency_user.agency:
        raise NotFound("inquiry")
    if inquiry.status != "pending":
        raise Conflict("inquiry already answered or withdrawn")
    change = transitions.Transition.begin(session, inquiry.case, now)
    answer_key = answer_form(session, change.spec)
    try:
        cleaned = change.procedure.forms.validate(answer_key, data)
    except forms.FormError as error:
        raise InvalidInput(error.errors) from None
    signer = signer_for(session, agency_user, pin, signing_session)
    # Re-read under the case's lock: a concurrent answer to the same inquiry may have committed
    # since it was first read, and must not be answered (and signed) twice.
    session.refresh(inquiry)
    if inquiry.status != "pending":
        raise Conflict("inquiry already answered or withdrawn")
    case = change.case
    inquiry.status, inquiry.result = "answered", cleaned["result"]
    inquiry.reference, inquiry.note = cleaned["reference"], cleaned.get("note")
    inquiry.answered_at, inquiry.answered_by = now, agency_user.id
    session.flush()
    round_ = list(session.scalars(select(Inquiry).where(Inquiry.case_id == case.id, Inquiry.round == inquiry.round)))
    message = _awaited(change)
    if all(i.status == "answered" for i in round_) and message is not None:
        # the engine moves first, so that the answer's record signs where the case now stands
        with change.engine() as instance:
            instance.send_message(message, {
                "all_clear": all(i.result == "clear" for i in round_),
                "results": [{"kind": i.kind, "result": i.result, "reference": i.reference} for i in round_]})
    change.sign(signer, agency_user, action="inquiry_answer", form_key=answer_key, form_data=cleaned,
                details={"inquiry_id": inquiry.id, "kind": inquiry.kind, "round": inquiry.round,
                         "result": cleaned["result"]})
    return change.finish(signer, agency_user).records


def resend_inquiry(session: Session, *, inquiry_id: int, officer: User, reason: str, pin: str | None,
                   now: datetime, signing_session: str | None = None) -> Record:
    """An officer sends an unanswered inquiry again with a new deadline; the reason is signed."""
    inquiry = session.get(Inquiry, inquiry_id)
    if inquiry is None or not access.can_view(session, officer, inquiry.case):
        raise NotFound("inquiry")
    if not access.is_office_role(officer.role):
        raise Forbidden("only offices resend inquiries")
    if inquiry.status != "pending":
        raise Conflict("inquiry already answered")
    reason = forms.normalize_text(reason or "") if isinstance(reason, str) else ""
    if len(reason) < 5:
        raise InvalidInput({"reason": [forms.t("errors.reason_too_short", min="۵")]})
    signer = signer_for(session, officer, pin, signing_session)
    change = transitions.Transition.begin(session, inquiry.case, now)
    session.refresh(inquiry)  # an answer may have committed meanwhile (see answer_inquiry)
    if inquiry.status != "pending":
        raise Conflict("inquiry already answered")
    inquiry.sent_at, inquiry.due_at = now, now + timedelta(days=RESEND_DAYS)
    record = change.sign(signer, officer, action="resend_inquiry",
                         details={"inquiry_id": inquiry.id, "kind": inquiry.kind, "reason": reason})
    change.finish()
    return record
