"""What an end event writes to the registry: the reactions to the effects a manifest may name.

Each effect (``procedures.OUTCOME_ACTIONS``) is registered with ``transitions.on_end`` and signs
what it wrote as a record of its own (the action is the effect's name), so that the registry's
facts are proved by the chain like the rest. A manager change linked to a case that waits for a
successor tells that case, in the same transaction, that one was appointed.
"""
from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select

from signing import Signer
from workflows import facts, procedures, registry, transitions
from workflows.errors import Conflict, LicenseEnded, NotFound
from workflows.models import Case, License, Record, User, tehran_today
from workflows.transitions import Transition

__all__ = ["issue_license", "appoint_manager", "appoint_interim", "renew_term", "approve_signboard", "set_license_status"]


@transitions.on_end("issue_license")
def issue_license(change: Transition, signer: Signer, actor: User) -> None:
    """The center, its license and its first manager's term, from the latest signed application."""
    session, case = change.session, change.case
    license_ = registry.issue_license(session, case, transitions.latest_application(session, case), change.now,
                                      change.spec.tables["terms"])
    term = registry.current_manager(session, license_.center_id)
    change.sign(signer, actor, action="issue_license",
                details={"license_number": license_.number, "center_id": license_.center_id,
                         **facts.founding_facts(license_.center, license_, term)})


@transitions.on_end("appoint_manager")
def appoint_manager(change: Transition, signer: Signer, actor: User) -> None:
    """The proposed manager's term starts today and the current one ends; a linked case waiting for a
    successor is told (its procedure says how the term ended: retired, resigned)."""
    session, case = change.session, change.case
    _license_not_ended(change)
    linked = session.get(Case, case.linked_case_id) if case.linked_case_id else None
    reason = (procedures.of_version(session, linked.spec_version) if linked else change.procedure).term_end_reason
    start = handover_day(session, tehran_today(change.now), linked)
    manager = transitions.latest_application(session, case)["manager"]
    ended = registry.current_manager(session, case.center_id)
    term = registry.appoint_manager(session, case.center, case=case, national_id=manager["national_id"],
                                    full_name=f"{manager['first_name']} {manager['last_name']}",
                                    start=start, end_reason=reason, terms=change.spec.tables["terms"],
                                    profile=registry.manager_profile(manager, start))
    change.sign(signer, actor, action="appoint_manager",
                details={"term_id": term.id, "national_id": term.national_id, "start_date": start.isoformat(),
                         "previous_term_end": reason, **facts.appointment_facts(term, ended)})
    if linked is not None:
        _confirm_successor(change, linked, signer, actor)


@transitions.on_end("appoint_interim")
def appoint_interim(change: Transition, signer: Signer, actor: User) -> None:
    """The interim manager named in the case starts for the interim term on the day the current term
    ends: today, or the later day the signed request asked for."""
    session, case = change.session, change.case
    _license_not_ended(change)
    start = handover_day(session, tehran_today(change.now), case)
    interim = _interim_from_records(change)
    ended = registry.current_manager(session, case.center_id)
    term = registry.appoint_manager(session, case.center, case=case, national_id=interim["national_id"],
                                    full_name=interim["full_name"], start=start,
                                    end_reason=change.procedure.term_end_reason, terms=change.spec.tables["terms"],
                                    interim=True)
    change.sign(signer, actor, action="appoint_interim",
                details={"term_id": term.id, "national_id": term.national_id, "start_date": start.isoformat(),
                         **facts.appointment_facts(term, ended)})


@transitions.on_end("renew_term")
def renew_term(change: Transition, signer: Signer, actor: User) -> None:
    """The current manager's term runs a new full term from its planned end (from today, when that has
    passed): the term goes on, its planned end moves. Refused (nothing signed) when the application no
    longer names the manager in office, as when another was appointed while the renewal ran."""
    session, case = change.session, change.case
    _license_not_ended(change)
    manager = transitions.latest_application(session, case)["manager"]
    term = registry.current_manager(session, case.center_id)
    if term is None or term.interim or term.national_id != manager["national_id"]:
        raise Conflict("the renewal names someone who is not the center's manager now")
    previous = term.planned_end
    start = max(previous, tehran_today(change.now)) if previous else tehran_today(change.now)
    term.planned_end = registry.planned_end(start, change.spec.tables["terms"])
    session.flush()
    change.sign(signer, actor, action="renew_term", details=facts.renewal_facts(term, previous))


@transitions.on_end("approve_signboard")
def approve_signboard(change: Transition, signer: Signer, actor: User) -> None:
    """The installed signboard the county office approved: the photo of the latest signed application,
    which the center's page then shows."""
    _license_not_ended(change)
    application = transitions.latest_application(change.session, change.case)
    change.sign(signer, actor, action="approve_signboard",
                details=facts.signboard_facts(change.case.center_id, application, tehran_today(change.now)))


def set_license_status(change: Transition, signer: Signer, actor: User) -> None:
    """The center's license takes the status its end event's effect sets (``procedures.LICENSE_EFFECTS``),
    from today, for the reason the province's signed decision gives (a suspension until the last day it
    set); a revoked or closed license ends the manager's term in force."""
    session, case = change.session, change.case
    effect = change.procedure.ends[change.instance.end_event()].effect
    status = procedures.LICENSE_EFFECTS[effect]
    decision = _latest_form(change, "decision")
    today = tehran_today(change.now)
    license_ = session.scalars(select(License).where(License.center_id == case.center_id)).one()
    license_.status, license_.status_since, license_.status_case_id = status, today, case.id
    license_.suspended_until = date.fromisoformat(decision["suspended_until"]) if status == "suspended" else None
    license_.status_reason = decision.get("reason") or None
    ended = None
    if status in ("revoked", "closed"):
        ended = registry.end_term(session, case.center_id, today, status, case)
    session.flush()
    change.sign(signer, actor, action=effect, details=facts.license_facts(license_, ended))


for _effect in procedures.LICENSE_EFFECTS:
    transitions.on_end(_effect)(set_license_status)


def _license_not_ended(change: Transition) -> None:
    """Nothing is appointed, renewed or approved for a center whose license was revoked or closed while
    the case ran: the decision is refused (409, nothing signed) and the office rejects the case instead."""
    status = registry.license_status(change.session, change.case.center_id, tehran_today(change.now))
    if status in ("revoked", "closed"):
        raise LicenseEnded(f"the center's license was {status} while this case ran")


def _latest_form(change: Transition, field: str) -> dict:
    """The latest signed form of the case that has this field (the decision a license procedure ended on)."""
    for record in change.session.scalars(select(Record).where(Record.case_id == change.case.id,
                                                              Record.form_data.is_not(None))
                                         .order_by(Record.seq.desc())):
        data = json.loads(record.form_data)
        if field in data:
            return data
    raise NotFound(f"no signed form gives {field!r}")


def handover_day(session, today: date, request_case: Case | None) -> date:
    """The day one term ends and the next starts: today, or the later effective date the signed
    request of a retirement or resignation asked for (a date already past was refused when signed)."""
    if request_case is None:
        return today
    record = session.scalars(select(Record).where(Record.case_id == request_case.id, Record.action == "request",
                                                  Record.form_data.is_not(None))
                             .order_by(Record.seq.desc()).limit(1)).first()
    asked = json.loads(record.form_data).get("effective_date") if record is not None else None
    return max(today, date.fromisoformat(asked)) if asked else today


@transitions.on_waiting("successor")
def _successor_comes_from_a_manager_change(change: Transition, message: str) -> None:
    """Nothing to send: the manager change linked to the case sends it when it appoints (``appoint_manager``)."""


def _interim_from_records(change: Transition) -> dict:
    """The interim manager named in the latest signed acknowledgement or interim appointment."""
    for record in change.session.scalars(select(Record).where(Record.case_id == change.case.id,
                                                              Record.form_data.is_not(None))
                                         .order_by(Record.seq.desc())):
        data = json.loads(record.form_data)
        if "interim" in data:
            return data["interim"]
    raise NotFound("no interim manager was named")


def _confirm_successor(change: Transition, linked: Case, signer: Signer, actor: User) -> None:
    """Tell the case waiting for a successor that one was appointed (a transition of that case)."""
    waiting = Transition.begin(change.session, linked, change.now)
    meanings = waiting.procedure.messages
    message = next((m for m in waiting.instance.awaited_messages()
                    if m in meanings and meanings[m].sent_by == "successor"), None)
    if message is None:
        return  # it already ended another way (an interim was named); the term change stands
    with waiting.engine() as instance:
        instance.send_message(message, {"case_id": change.case.public_id})
    waiting.sign(signer, actor, action="successor_confirmed", details={"manager_change_case": change.case.public_id})
    waiting.finish(signer, actor)
