"""Reading list filters from query strings: pages, Jalali dates, choices; Persian errors, never a 500.

Every parser raises ``InvalidInput`` keyed by the parameter's name; pages show the messages next
to their filter form (status 422), the API answers them as JSON.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import date, datetime

from flask import Response
from werkzeug.datastructures import MultiDict

import forms
from forms import t
from workflows.errors import InvalidInput

__all__ = ["csv_cell", "csv_text", "csv_response", "page_args", "int_arg", "jalali_arg", "date_range", "choice_arg", "bool_arg", "text_arg", "collect",
           "query_without", "error_messages"]

_WHOLE = re.compile(r"([0-9]+)(?:\.0+)?")
DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100


def int_arg(args: MultiDict, name: str, default: int | None, *, minimum: int = 1,
            maximum: int | None = None, message: str = "web.list.number_invalid") -> int | None:
    """A whole number typed with any digits, also written ``5.0`` (JSON Schema's integer, as clients
    serialize it); ``default`` when absent or empty."""
    raw = forms.normalize_digits((args.get(name) or "").strip())
    if not raw:
        return default
    match = _WHOLE.fullmatch(raw)
    if match is None or len(match.group(1)) > max(9, len(str(maximum or 0))):  # no int() of a huge text
        raise InvalidInput({name: [t(message)]})
    value = int(match.group(1))
    if value < minimum or (maximum is not None and value > maximum):
        raise InvalidInput({name: [t(message)]})
    return value


def page_args(args: MultiDict, per_page: int = DEFAULT_PER_PAGE) -> tuple[int, int]:
    """(page, per_page) from ``page`` and ``per_page``."""
    errors: dict[str, list[str]] = {}
    page = size = None
    try:
        page = int_arg(args, "page", 1, message="web.list.page_invalid")
    except InvalidInput as error:
        errors.update(error.errors)
    try:
        size = int_arg(args, "per_page", per_page, maximum=MAX_PER_PAGE, message="web.list.per_page_invalid")
    except InvalidInput:
        errors["per_page"] = [t("web.list.per_page_invalid", max=forms.to_persian_digits(str(MAX_PER_PAGE)))]
    if errors:
        raise InvalidInput(errors)
    return page, size


def jalali_arg(args: MultiDict, name: str) -> date | None:
    """A Jalali date (``1405/01/15``, Persian or Arabic digits too); None when absent."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return forms.parse_jalali(raw)
    except ValueError:
        raise InvalidInput({name: [t("errors.date_invalid")]}) from None


def date_range(args: MultiDict, start: str = "from", end: str = "to") -> tuple[date | None, date | None]:
    """Both ends of a Jalali date range, checked to be in order."""
    errors: dict[str, list[str]] = {}
    values = []
    for name in (start, end):
        try:
            values.append(jalali_arg(args, name))
        except InvalidInput as error:
            errors.update(error.errors)
            values.append(None)
    if not errors and values[0] and values[1] and values[0] > values[1]:
        errors[end] = [t("web.list.range_invalid")]
    if errors:
        raise InvalidInput(errors)
    return values[0], values[1]


def choice_arg(args: MultiDict, name: str, choices: tuple[str, ...] | list[str] | set[str],
               default: str | None = None) -> str | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return default
    if raw not in choices:
        raise InvalidInput({name: [t("errors.choice_invalid")]})
    return raw


def bool_arg(args: MultiDict, name: str) -> bool:
    return (args.get(name) or "").strip().lower() in ("1", "true", "on", "yes")


def text_arg(args: MultiDict, name: str, max_length: int = 100) -> str:
    return forms.normalize_text(args.get(name) or "")[:max_length]


def query_without(args: MultiDict, *names: str) -> dict[str, str]:
    """The query's parameters (first value each) without these names, for links that change them."""
    return {key: value for key, value in args.items() if key not in names and value != ""}


def error_messages(errors: dict[str, list[str]]) -> list[str]:
    return [message for messages in errors.values() for message in messages]


def collect(*parsers) -> list:
    """Run parsers (callables) and raise one InvalidInput with all their errors, or return their results."""
    errors: dict[str, list[str]] = {}
    results = []
    for parse in parsers:
        try:
            results.append(parse())
        except InvalidInput as error:
            errors.update(error.errors)
            results.append(None)
    if errors:
        raise InvalidInput(errors)
    return results


#: what a spreadsheet reads as the start of a formula (OWASP's list for CSV injection)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A cell as a spreadsheet will not run it: text starting like a formula gets a leading
    apostrophe (numbers stay numbers); digits with a leading zero (a national ID, a postal code) are
    written ``="0012345678"``, which a spreadsheet shows as that text rather than the number 12345678."""
    if isinstance(value, str) and len(value) > 1 and value.startswith("0") and value.isascii() and value.isdigit():
        return f'="{value}"'
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_text(value: object) -> object:
    """A value as a person reads it in a spreadsheet: dates and times in the Jalali calendar (to the
    minute, Tehran time), yes or no in Persian, Persian digits in Persian text; codes (ASCII text)
    and numbers stay as a machine reads them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return t("web.form.yes") if value else t("web.form.no")
    if isinstance(value, datetime):
        return forms.format_jalali(value, with_time=True)
    if isinstance(value, date):
        return forms.format_jalali(value)
    if isinstance(value, str) and not value.isascii():
        return forms.to_persian_digits(value)
    return value


def csv_response(columns: Sequence[tuple[str, str]], rows, filename: str) -> Response:
    """Rows (dicts) as a UTF-8 CSV download with a byte-order mark (for Excel): ``columns`` are
    (key, Persian header) pairs, values as ``csv_text`` shows them, formulas neutralized."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([header for _, header in columns])
    writer.writerows([csv_cell(csv_text(row.get(key))) for key, _ in columns] for row in rows)
    return Response("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
