"""Errors of the licensing domain; the web layer maps each to an HTTP answer."""
from __future__ import annotations

from forms import t

__all__ = [
    "WorkflowError", "NotFound", "Forbidden", "Conflict", "LicenseEnded", "StalePlan", "NotCheckpointed", "UnprovedFacts", "InvalidInput",
    "WrongPin", "SigningLocked", "ProcessFailed",
]


class WorkflowError(Exception):
    """Base of every error an operation raises on purpose."""

    #: catalogue key of the Persian message shown to people
    message_key = "web.error.generic"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.message_key)
        self.detail = detail


class NotFound(WorkflowError):
    """The thing does not exist, or the user may not know that it does."""

    message_key = "web.error.not_found"


class Forbidden(WorkflowError):
    """The user sees the case but may not do this."""

    message_key = "web.error.forbidden"


class Conflict(WorkflowError):
    """The case changed since the user loaded it, or the task is no longer waiting."""

    message_key = "web.error.conflict"


class LicenseEnded(Conflict):
    """The center's license was revoked or closed while the case ran: nothing is appointed, renewed or
    approved for it (the office rejects the case instead)."""

    message_key = "web.error.license_ended"


class StalePlan(Conflict):
    """Cases changed, finished or moved since the plan of a move was read (``case_ids``: which)."""

    message_key = "web.error.stale_plan"

    def __init__(self, case_ids: list[int]) -> None:
        super().__init__("changed since the plan: " + ", ".join(map(str, case_ids)))
        self.case_ids = case_ids


class NotCheckpointed(Conflict):
    """The case's newest records are in no signed checkpoint yet (one is signed every scheduler tick)."""

    message_key = "web.error.not_checkpointed"


class UnprovedFacts(Conflict):
    """A fact to be shown, sealed or exported is not what the signed records say
    (``problems``: the ``workflows.facts.FactProblem`` list)."""

    message_key = "web.error.unproved_facts"

    def __init__(self, problems: list) -> None:
        super().__init__("; ".join(f"{p.subject}.{p.field}: {p.code}" for p in problems))
        self.problems = problems
        self.errors = {"facts": [f"{p.subject}.{p.field}: {p.code}" for p in problems]}


class ProcessFailed(Conflict):
    """The process definition failed at run time (an expression raised, a bound was passed): the case
    cannot move this way until an administrator deploys a fixed version; ``detail`` says what failed."""

    message_key = "web.error.process_failed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.errors = {"process": [t("errors.process_failed")]}


class InvalidInput(WorkflowError):
    """Input failed validation; ``errors`` maps dotted field names to messages."""

    message_key = "web.error.invalid_input"

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("invalid input")
        self.errors = errors


class WrongPin(WorkflowError):
    """The signing PIN did not unlock the actor's key."""

    message_key = "web.error.wrong_pin"


class SigningSessionEnded(WorkflowError):
    """The key unlocked for a while is locked again (expired, signed out, or another key now):
    the PIN is needed."""

    message_key = "web.error.signing_session_ended"


class SigningLocked(Forbidden):
    """Too many wrong PINs: the key signs nothing until an administrator resets the count."""

    message_key = "web.error.signing_locked"
