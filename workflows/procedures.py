"""The four procedures as data: who starts them, what each form records, what each end means."""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Procedure", "PROCEDURES", "procedure", "action_for", "FORM_ACTIONS", "TASK_STATUS",
           "MESSAGE_STATUS", "OPEN_STATUSES", "DECISION_ACTIONS", "OUTCOME_ACTIONS", "step_of"]

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
#: signed actions that decide at one level (the people concerned are told of each)
DECISION_ACTIONS = ("approve", "return", "reject")
#: signed actions that change the registry at the end of a case
OUTCOME_ACTIONS = ("issue_license", "appoint_manager", "appoint_interim")


@dataclass(frozen=True)
class Procedure:
    key: str
    #: lanes whose people may start it: "applicant" (the center's holder, or anyone for founding) or
    #: "county" (the center's county office; roles per lane are in workflows/data/roles.json)
    starters: tuple[str, ...]
    #: True when it needs an existing center with a current manager
    needs_center: bool
    #: case status for each end event reached
    outcomes: dict[str, str] = field(default_factory=dict)
    #: how the manager's term ends when this procedure ends it
    term_end_reason: str | None = None
    #: the steps of the main path as applicants see them («step N of M»), each with the case
    #: statuses that mean the case is at that step
    steps: tuple[tuple[str, tuple[str, ...]], ...] = ()


PROCEDURES: dict[str, Procedure] = {
    "center_founding": Procedure(
        "center_founding", ("applicant",), needs_center=False,
        outcomes={"license_issued": "licensed", "rejected_by_county": "rejected",
                  "rejected_by_province": "rejected"},
        steps=(("application", ("draft", "correction")), ("inquiries", ("inquiries",)),
               ("county_review", ("county_review",)), ("province_review", ("province_review",)))),
    "manager_change": Procedure(
        "manager_change", ("applicant",), needs_center=True,
        outcomes={"manager_appointed": "appointed", "rejected_by_county": "rejected",
                  "rejected_by_province": "rejected"},
        term_end_reason="replaced",
        steps=(("proposal", ("draft", "correction")), ("inquiries", ("inquiries",)),
               ("county_review", ("county_review",)), ("province_review", ("province_review",)))),
    "manager_retirement": Procedure(
        "manager_retirement", ("applicant", "county"), needs_center=True,
        outcomes={"interim_appointed": "closed", "successor_appointed": "closed"},
        term_end_reason="retired",
        steps=(("request", ("draft",)), ("acknowledgement", ("acknowledgement",)),
               ("continuity", ("awaiting_successor", "interim_needed")))),
    "manager_resignation": Procedure(
        "manager_resignation", ("applicant",), needs_center=True,
        outcomes={"interim_appointed": "closed", "successor_appointed": "closed"},
        term_end_reason="resigned",
        steps=(("request", ("draft",)), ("acknowledgement", ("acknowledgement",)),
               ("continuity", ("awaiting_successor", "interim_needed")))),
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


def step_of(process_key: str, status: str) -> tuple[int, int, str | None]:
    """(N, M, step name) of a case in this status: step N of the procedure's M steps; a finished
    case is at step M with no step name."""
    steps = procedure(process_key).steps
    for number, (name, statuses) in enumerate(steps, start=1):
        if status in statuses:
            return number, len(steps), name
    return len(steps), len(steps), None
