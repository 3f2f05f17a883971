"""Forms: Persian normalizers and validators, and forms declared as data that become marshmallow schemas.

Shape and content only: no database, no Flask, no eligibility rules.
"""

from forms.errors import FormError, FormsError, InvalidValueError, UnknownFormError
from forms.messages import FA, t
from forms.persian import (
    TEHRAN,
    age_on,
    format_jalali,
    jalali_iso,
    normalize_digits,
    normalize_numeric,
    has_forbidden_characters,
    forbidden_path,
    normalize_license_number,
    normalize_text,
    parse_jalali,
    persian_sort_key,
    to_persian_digits,
)
from forms.declarations import FORM_SUFFIX, DeclarationError, FormSchema, FormSet, FormSpec, load
from forms.validators import (
    is_valid_national_id,
    normalize_mobile,
    normalize_national_id,
    normalize_postal_code,
    normalize_sha256,
    postal_code_warning,
)

__all__ = [
    "FA",
    "DeclarationError",
    "FORM_SUFFIX",
    "FormSchema",
    "FormSet",
    "load",
    "TEHRAN",
    "FormError",
    "FormSpec",
    "FormsError",
    "InvalidValueError",
    "UnknownFormError",
    "age_on",
    "format_jalali",
    "is_valid_national_id",
    "jalali_iso",
    "normalize_digits",
    "normalize_mobile",
    "normalize_national_id",
    "normalize_numeric",
    "has_forbidden_characters",
    "forbidden_path",
    "normalize_postal_code",
    "normalize_sha256",
    "normalize_text",
    "parse_jalali",
    "postal_code_warning",
    "t",
    "persian_sort_key",
    "to_persian_digits",
]
