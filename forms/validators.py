"""Iranian identifiers: normalize what a person typed, check it, return the stored form."""

import re

from forms.errors import InvalidValueError
from forms.messages import t
from forms.persian import normalize_numeric

__all__ = [
    "is_valid_national_id",
    "normalize_mobile",
    "normalize_national_id",
    "normalize_postal_code",
    "normalize_sha256",
    "postal_code_warning",
]

_TEN_DIGITS = re.compile(r"[0-9]{10}")
_MOBILE = re.compile(r"(?:(?:\+|00)?98)?0?(9[0-9]{9})")
# A widely copied pattern of undocumented origin: it only ever produces a warning.
_POSTAL_CODE_STRICT = re.compile(r"(?!(\d)\1{3})[13-9]{4}[1346-9][013-9]{5}", re.ASCII)
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _national_id_checksum_ok(digits: str) -> bool:
    total = sum(int(digits[i]) * (10 - i) for i in range(9))
    remainder = total % 11
    expected = remainder if remainder < 2 else 11 - remainder
    return int(digits[9]) == expected


def is_valid_national_id(s: str) -> bool:
    """Tell whether ``s`` is a valid national ID (کد ملی) once normalized."""
    digits = normalize_numeric(s)
    return (
        _TEN_DIGITS.fullmatch(digits) is not None
        and len(set(digits)) > 1  # the checksum alone accepts 0000000000 … 9999999999
        and _national_id_checksum_ok(digits)
    )


def normalize_national_id(s: str) -> str:
    """Return the national ID as 10 ASCII digits, or raise `InvalidValueError`."""
    if not is_valid_national_id(s):
        raise InvalidValueError(t("errors.national_id_invalid"))
    return normalize_numeric(s)


def normalize_mobile(s: str) -> str:
    """Return a mobile number (+98, 0098, 98, 0 or no prefix) as ``09xxxxxxxxx``, or raise."""
    match = _MOBILE.fullmatch(normalize_numeric(s))
    if match is None:
        raise InvalidValueError(t("errors.mobile_invalid"))
    return "0" + match.group(1)


def normalize_postal_code(s: str) -> str:
    """Return the postal code as 10 ASCII digits, or raise `InvalidValueError`."""
    digits = normalize_numeric(s)
    if _TEN_DIGITS.fullmatch(digits) is None:
        raise InvalidValueError(t("errors.postal_code_invalid"))
    return digits


def postal_code_warning(s: str) -> str | None:
    """Return a Persian warning if the postal code fails the stricter common pattern, else None."""
    if _POSTAL_CODE_STRICT.fullmatch(normalize_numeric(s)) is None:
        return t("warnings.postal_code_pattern")
    return None


def normalize_sha256(s: str) -> str:
    """Return a SHA-256 hex digest in lowercase, or raise `InvalidValueError`."""
    digest = s.strip().lower()
    if _SHA256.fullmatch(digest) is None:
        raise InvalidValueError(t("errors.sha256_invalid"))
    return digest
