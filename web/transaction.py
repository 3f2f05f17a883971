"""Where a transaction ends: once per request or command, committed when it succeeds, rolled back
when it raises.

Operations in ``workflows/`` only flush. A view that writes carries ``@commits``; a CLI command
runs its work in ``with transaction():``. Nothing else commits, except on purpose, each said where
it is done:

- a wrong PIN (``workflows.keys._write_now``) and a sign-in attempt (``web.auth._claim_attempt``) are
  counted in short transactions of their own before the key or password is tried, so that the
  count stands whatever becomes of the request;
- the scheduler tick fires each due case in a transaction of its own (a case another tick holds is
  skipped, not the whole run), ``answer-inquiries`` signs each answer in its own, and the outbox
  sender commits each message it takes before sending it (``web.cli``, ``web.office_cli``);
- a sealed certificate refused for unproved facts is logged before the request fails
  (``web.certificate.pdf_response``), and what headquarters reads is logged once the answer is
  known, on a session of its own (``web.audit.record_hq_reads``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

from forms import t
from web.extensions import db
from workflows.errors import InvalidInput, WrongPin

__all__ = ["commits", "refusal", "transaction"]

Result = TypeVar("Result")


@contextmanager
def transaction() -> Iterator[None]:
    """Commit what the block wrote when it ends; roll it back when it raises."""
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()


def commits(view: Callable) -> Callable:
    """The view's one transaction: committed when the view answers (an error page it renders
    itself too: it rolled back what it did not keep), rolled back when it raises."""
    @wraps(view)
    def committing(*args: Any, **kwargs: Any) -> Any:
        with transaction():
            return view(*args, **kwargs)
    committing.commits = True  # type: ignore[attr-defined]
    return committing


def refusal(change: Callable[[], Result]) -> tuple[Result | None, dict[str, list[str]] | None]:
    """Run a change signed from a posted form: its result, or (a refusal of what was sent or a wrong PIN)
    the request's writes rolled back and the field-keyed Persian errors for the page to show again."""
    try:
        return change(), None
    except InvalidInput as error:
        db.session.rollback()
        return None, error.errors
    except WrongPin:
        db.session.rollback()
        return None, {"pin": [t("web.error.wrong_pin")]}
