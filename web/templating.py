"""Template helpers: the Persian catalogue, Jalali dates and Persian digits."""
from __future__ import annotations

from datetime import date, datetime

from flask import Flask
from flask_wtf.csrf import generate_csrf
from werkzeug.local import LocalProxy

from forms import format_jalali, jalali_iso, t, to_persian_digits
from forms.messages import FA
from workflows.models import utcnow


def jalali(value: date | datetime | str | None, with_time: bool = True) -> str:
    """A date or time in the Jalali calendar with Persian digits ('' for None)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        return format_jalali(value, with_time=with_time)
    return format_jalali(value)


def jalali_input(value: object) -> str:
    """A stored ISO date as the Jalali text a person types; anything else as it was typed."""
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[:4].isdigit() and int(value[:4]) >= 1800:
        try:
            return jalali_iso(date.fromisoformat(value))
        except ValueError:
            return value
    return "" if value is None else str(value)


def fa(value: object) -> str:
    """Any value shown with Persian digits."""
    return to_persian_digits(str(value)) if value is not None else ""


def is_past(moment: datetime | None) -> bool:
    """True when the moment has passed."""
    if moment is None:
        return False
    return moment < utcnow()


def problem(code: str, fallback: str | None = None) -> str:
    """The Persian label of a verification problem code; one it has no words for reads as `fallback`,
    else as "another problem" (the codes themselves are for auditors, folded away where shown)."""
    key = f"web.verify.problem.{code}"
    if key in FA:
        return t(key)
    return t("web.verify.problem.other") if fallback is None else fallback


def init_app(app: Flask) -> None:
    from web.scope import deployed

    # the deployed procedures' words (titles, statuses, tasks), read once per request
    app.jinja_env.globals.update(t=t, csrf_token=generate_csrf, procedures=LocalProxy(deployed),
                                 choice=lambda choice_set, code: deployed().forms.choice_label(choice_set, code),
                                 action_label=lambda action: deployed().action_label(action))
    app.jinja_env.filters.update(jalali=jalali, fa=fa, jalali_input=jalali_input, is_past=is_past,
                              problem=problem)
