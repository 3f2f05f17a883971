"""Forms: Persian normalizers and validators, marshmallow schemas and the form-key registry.

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
    to_persian_digits,
)
from forms.registry import FORMS, FormSpec, describe, document_fields, eligibility_facts, get_form, validate
from forms.schemas import FoundingApplicationSchema, ReviewDecisionSchema
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
    "FORMS",
    "TEHRAN",
    "FormError",
    "FormSpec",
    "FormsError",
    "FoundingApplicationSchema",
    "InvalidValueError",
    "ReviewDecisionSchema",
    "UnknownFormError",
    "age_on",
    "describe",
    "document_fields",
    "eligibility_facts",
    "format_jalali",
    "get_form",
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
    "to_persian_digits",
    "validate",
]
