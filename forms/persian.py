"""Persian text, digits and Jalali dates: normalize what users type, format what they read."""

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone

import jdatetime  # type: ignore[import-untyped]

from forms.errors import InvalidValueError
from forms.messages import t

__all__ = [
    "CONTROL_CHARACTERS",
    "TEHRAN",
    "age_on",
    "format_jalali",
    "jalali_iso",
    "normalize_digits",
    "normalize_numeric",
    "has_forbidden_characters",
    "forbidden_path",
    "normalize_license_number",
    "normalize_text",
    "parse_jalali",
    "persian_sort_key",
    "to_persian_digits",
]

#: Iran Standard Time; Iran has observed no daylight saving time since 2022.
TEHRAN = timezone(timedelta(hours=3, minutes=30), "Asia/Tehran")

_PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
_ARABIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"
_TO_ASCII = str.maketrans(_PERSIAN_DIGITS + _ARABIC_DIGITS, "0123456789" * 2)
_TO_PERSIAN = str.maketrans("0123456789" + _ARABIC_DIGITS, _PERSIAN_DIGITS * 2)
_LETTERS = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک"})
# Invisible formatting characters that copy-paste brings in (zero-width space,
# direction marks and embeddings, BOM, soft hyphen). ZWNJ (U+200C) is not among
# them: it is part of Persian spelling.
_INVISIBLE = re.compile("[\u00ad\u061c\u200b\u200d-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
#: control characters (but tab, line feed and carriage return, which normalizing turns into spaces
#: and line breaks), as the body of a regular-expression class (the OpenAPI document states it too)
CONTROL_CHARACTERS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
#: those and lone surrogates: nothing a person types, and nothing a database should store
_FORBIDDEN = re.compile(f"[{CONTROL_CHARACTERS}\ud800-\udfff]")
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_LINE_BREAK_SPACE = re.compile(r" ?\n ?")
# Removed from numeric input: ZWNJ, any whitespace and dash-like characters.
_NUMERIC_NOISE = re.compile(r"[\s\u200c\-\u2010-\u2015\u2212\u0640]")
_JALALI = re.compile(r"([0-9]{4})([/-])([0-9]{1,2})\2([0-9]{1,2})")


def normalize_digits(s: str) -> str:
    """Replace Persian and Arabic-Indic digits with ASCII digits."""
    return s.translate(_TO_ASCII)


def normalize_text(s: str, *, multiline: bool = False) -> str:
    """Normalize user text: NFC, Persian ی and ک, ASCII digits, tidy spaces; ZWNJ is kept.

    Runs of spaces become one space and the ends are trimmed; line breaks are
    kept (as ``\\n``) only when ``multiline`` is true.
    """
    s = _FORBIDDEN.sub("", s)  # what forms refuse (has_forbidden_characters) is never kept elsewhere either
    s = unicodedata.normalize("NFC", s).translate(_LETTERS).translate(_TO_ASCII)
    s = _INVISIBLE.sub("", s)
    if not multiline:
        return " ".join(s.split())
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    s = _HORIZONTAL_SPACE.sub(" ", s)
    return _LINE_BREAK_SPACE.sub("\n", s).strip()


def has_forbidden_characters(s: str) -> bool:
    """True when the text holds a control character (other than tab and line breaks) or a lone
    surrogate: forms refuse such input instead of signing it."""
    return _FORBIDDEN.search(s) is not None


def forbidden_path(value: object, path: str = "") -> str | None:
    """The dotted path of the first string (key or value) in a JSON-like value that holds a
    forbidden character (``has_forbidden_characters``), or None."""
    if isinstance(value, str):
        return path if has_forbidden_characters(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and has_forbidden_characters(key):
                return path or "_schema"
            found = forbidden_path(item, inner)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = forbidden_path(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def normalize_numeric(s: str) -> str:
    """Normalize a typed identifier: `normalize_text`, then drop ZWNJ, spaces and dashes."""
    return _NUMERIC_NOISE.sub("", normalize_text(s))


def normalize_license_number(s: str) -> str | None:
    """A license number as typed (Persian, Arabic or Latin digits, with or without its dashes) in its
    stored form ``PP-YYYY-NNNNN``; None when it is not one."""
    digits = normalize_numeric(s)[:40]
    if len(digits) != 11 or not (digits.isascii() and digits.isdigit()):
        return None
    return f"{digits[:2]}-{digits[2:6]}-{digits[6:]}"


#: the Persian alphabet in its dictionary order (آ sorts with ا; letters outside it follow, by code point)
_ALPHABET = "اآبپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی"
_RANK = {letter: rank for rank, letter in enumerate(_ALPHABET)} | {"آ": 0, "أ": 0, "إ": 0, "ئ": 31, "ؤ": 29, "ة": 30}


def persian_sort_key(text: str) -> tuple:
    """A key that sorts Persian text in dictionary order (پ after ب, ک and گ after ق, ی last), which
    code points do not; zero-width non-joiners and spaces are ignored, digits come first."""
    text = normalize_digits(normalize_text(text or "")).translate(_LETTERS)
    return tuple((0, ord(c)) if c.isdigit() else (1, _RANK[c]) if c in _RANK else (2, ord(c))
                 for c in text if c not in "\u200c ")


def to_persian_digits(s: str) -> str:
    """Replace ASCII and Arabic-Indic digits with Persian digits."""
    return s.translate(_TO_PERSIAN)


def parse_jalali(s: str) -> date:
    """Parse a Jalali date (``1370/5/12``, ``۱۳۷۰/۰۵/۱۲``, ``1370-05-12``) to a Gregorian date."""
    match = _JALALI.fullmatch(normalize_text(s))
    if match is None:
        raise InvalidValueError(t("errors.date_invalid"))
    year, _, month, day = match.groups()
    try:
        gregorian: date = jdatetime.date(int(year), int(month), int(day)).togregorian()
    except ValueError as error:
        raise InvalidValueError(t("errors.date_invalid")) from error
    return gregorian


def _to_jalali(d: date | datetime) -> jdatetime.datetime:
    # Naive datetimes are taken as UTC: the project stores UTC.
    if isinstance(d, datetime):
        aware = d if d.tzinfo is not None else d.replace(tzinfo=UTC)
        return jdatetime.datetime.fromgregorian(datetime=aware.astimezone(TEHRAN))
    return jdatetime.datetime.fromgregorian(date=d)


def jalali_iso(d: date | datetime) -> str:
    """Return the Jalali date as ``1405/09/01`` in ASCII digits (to prefill form inputs)."""
    j = _to_jalali(d)
    return f"{j.year:04d}/{j.month:02d}/{j.day:02d}"


def format_jalali(d: date | datetime, with_time: bool = False) -> str:
    """Return the Jalali date (and Tehran time) in Persian digits, e.g. ``۱۴۰۵/۰۹/۰۱ ۰۶:۳۰``."""
    if with_time and not isinstance(d, datetime):
        raise TypeError("with_time needs a datetime, not a date")
    text = jalali_iso(d)
    if with_time:
        j = _to_jalali(d)
        text = f"{text} {j.hour:02d}:{j.minute:02d}"
    return to_persian_digits(text)


def age_on(birth: date, on: date) -> int:
    """Return the age in full years on ``on``, counted on the Jalali calendar as Iran does."""
    b, o = _to_jalali(birth), _to_jalali(on)
    return int(o.year - b.year - ((o.month, o.day) < (b.month, b.day)))
