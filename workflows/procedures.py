"""The four procedures as data: who starts them, what each form records, what each end means."""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Procedure", "PROCEDURES", "procedure", "action_for", "FORM_ACTIONS", "TASK_STATUS",
           "MESSAGE_STATUS", "OPEN_STATUSES"]

#: the signed action a completed form records (review decisions record the decision itself)
FORM_ACTIONS = {
    "term_end_request": "request",
    "term_end_acknowledgement": "acknowledge",
    "interim_appointment": "appoint_interim",
}
#: case status while the engine waits on this user task
TASK_STATUS = {
    "submit_application": "draft", "correct_application": "correction",
    "submit_change": "draft", "correct_change": "correction",
    "submit_request": "draft", "office_request": "draft",
    "county_review": "county_review", "escalated_county_review": "county_review",
    "province_review": "province_review",
    "county_acknowledge": "acknowledgement", "name_interim": "interim_needed",
}
#: case status while the engine waits on this message
MESSAGE_STATUS = {"inquiries_complete": "inquiries", "successor_confirmed": "awaiting_successor"}
#: statuses of a case still running
OPEN_STATUSES = ("draft", "inquiries", "county_review", "province_review", "correction", "acknowledgement",
                 "awaiting_successor", "interim_needed")
#: forms whose first completion in a case is a "submit" and later ones a "resubmit"
APPLICATION_FORMS = ("founding_application", "manager_change_application")


@dataclass(frozen=True)
class Procedure:
    key: str
    #: roles that may start it: "applicant" (the center's holder, or anyone for founding) or "county_officer"
    starters: tuple[str, ...]
    #: True when it needs an existing center with a current manager
    needs_center: bool
    #: case status for each end event reached
    outcomes: dict[str, str] = field(default_factory=dict)
    #: how the manager's term ends when this procedure ends it
    term_end_reason: str | None = None


PROCEDURES: dict[str, Procedure] = {
    "center_founding": Procedure(
        "center_founding", ("applicant",), needs_center=False,
        outcomes={"license_issued": "licensed", "rejected_by_county": "rejected",
                  "rejected_by_province": "rejected"}),
    "manager_change": Procedure(
        "manager_change", ("applicant",), needs_center=True,
        outcomes={"manager_appointed": "appointed", "rejected_by_county": "rejected",
                  "rejected_by_province": "rejected"},
        term_end_reason="replaced"),
    "manager_retirement": Procedure(
        "manager_retirement", ("applicant", "county_officer"), needs_center=True,
        outcomes={"interim_appointed": "closed", "successor_appointed": "closed"},
        term_end_reason="retired"),
    "manager_resignation": Procedure(
        "manager_resignation", ("applicant",), needs_center=True,
        outcomes={"interim_appointed": "closed", "successor_appointed": "closed"},
        term_end_reason="resigned"),
}


def procedure(process_key: str) -> Procedure:
    """The procedure of a process key (KeyError for an unknown one)."""
    return PROCEDURES[process_key]


def action_for(form_key: str, cleaned: dict, submitted_before: bool) -> str:
    """The action a completed form records."""
    if form_key == "review_decision":
        return cleaned["decision"]
    if form_key in APPLICATION_FORMS:
        return "resubmit" if submitted_before else "submit"
    return FORM_ACTIONS[form_key]
