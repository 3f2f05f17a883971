"""Marshmallow fields that normalize Persian input and speak Persian errors.

Unlike marshmallow's own fields, these are required unless ``required=False``
is given, and an optional field left empty (``""``, as HTML forms send it) is
treated as absent. Cleaned values are JSON-safe: str, int, bool, list, dict.
"""

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, ClassVar, cast

from marshmallow import Schema, ValidationError, fields, missing
from marshmallow.types import ErrorMessages
from marshmallow.validate import Email as _EmailValidator

from forms.errors import InvalidValueError
from forms.messages import t
from forms.persian import (
    TEHRAN, has_forbidden_characters, normalize_digits, normalize_text, parse_jalali, to_persian_digits,
)
from forms.validators import (
    normalize_mobile,
    normalize_national_id,
    normalize_postal_code,
    normalize_sha256,
)

__all__ = [
    "Choice",
    "Code",
    "Email",
    "FormField",
    "JalaliDate",
    "Mobile",
    "NationalId",
    "PostalCode",
    "Section",
    "SectionList",
    "Sha256",
    "StrictBool",
    "StrictInt",
    "Text",
]

_BASE_ERRORS: ErrorMessages = {
    "forbidden_character": t("errors.forbidden_character"),
    "required": t("errors.required"),
    "null": t("errors.null"),
    "validator_failed": t("errors.invalid"),
}


def _fa(number: int) -> str:
    return to_persian_digits(str(number))


class FormField(fields.Field[Any]):
    """Base of the scalar fields: required by default, Persian errors, empty optional = absent."""

    form_type: ClassVar[str]
    default_error_messages = _BASE_ERRORS

    def __init__(self, *, required: bool = True, **kwargs: Any) -> None:
        super().__init__(required=required, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and has_forbidden_characters(value):
            raise self.make_error("forbidden_character")
        if isinstance(value, str) and not normalize_text(value):
            if self.required:
                raise self.make_error("required")
            return missing
        return self._clean(value)

    def _clean(self, value: Any) -> Any:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Return the JSON-able type and constraints of this field."""
        return {"type": self.form_type, "required": self.required}


class Text(FormField):
    """A string normalized with `normalize_text`, of ``min_length`` to ``max_length`` characters."""

    form_type = "text"

    def __init__(
        self, max_length: int, *, min_length: int = 1, multiline: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length
        self.min_length = min_length
        self.multiline = multiline

    def _clean(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(t("errors.not_text"))
        text = normalize_text(value, multiline=self.multiline)
        if len(text) < self.min_length:
            raise ValidationError(t("errors.text_too_short", min=_fa(self.min_length)))
        if len(text) > self.max_length:
            raise ValidationError(t("errors.text_too_long", max=_fa(self.max_length)))
        return text

    def describe(self) -> dict[str, Any]:
        """Return the JSON-able type and constraints of this field."""
        return super().describe() | {
            "min_length": self.min_length,
            "max_length": self.max_length,
            "multiline": self.multiline,
        }


class Code(Text):
    """A machine code such as an office code: lowercase ASCII letters, digits, ``_`` and ``-``."""

    form_type = "code"
    _PATTERN = re.compile(r"[a-z0-9_-]+")

    def _clean(self, value: Any) -> str:
        text = super()._clean(value)
        if self._PATTERN.fullmatch(text) is None:
            raise ValidationError(t("errors.code_invalid"))
        return text


class Person(Text):
    """A person of one of the case's offices, by username: the office of the ``lane`` the form's case
    has there (the caller checks that such a person works there: ``FormSpec.people``)."""

    form_type = "person"
    _PATTERN = re.compile(r"[a-z0-9_.]{3,64}")

    def __init__(self, lane: str, **kwargs: Any) -> None:
        super().__init__(64, min_length=3, **kwargs)
        self.lane = lane

    def _clean(self, value: Any) -> str:
        text = super()._clean(value)
        if self._PATTERN.fullmatch(text) is None:
            raise ValidationError(t("errors.person_unknown"))
        return text

    def describe(self) -> dict[str, Any]:
        """Return the JSON-able type and the lane whose office's people it names."""
        return {"type": self.form_type, "required": self.required, "lane": self.lane}


class Email(Text):
    """An e-mail address of at most 254 characters."""

    form_type = "email"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(254, min_length=3, **kwargs)
        self._validate_email = _EmailValidator(error=t("errors.email_invalid"))

    def _clean(self, value: Any) -> str:
        return self._validate_email(super()._clean(value))


class _Normalized(FormField):
    """A string turned into its stored form by one of the `forms.validators` normalizers."""

    @staticmethod
    def normalize(s: str) -> str:
        raise NotImplementedError

    def _clean(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(t("errors.not_text"))
        try:
            return self.normalize(value)
        except InvalidValueError as error:
            raise ValidationError(str(error)) from error


class NationalId(_Normalized):
    """A national ID (کد ملی): 10 ASCII digits with a valid check digit."""

    form_type = "national_id"
    normalize = staticmethod(normalize_national_id)


class PostalCode(_Normalized):
    """A postal code: 10 ASCII digits."""

    form_type = "postal_code"
    normalize = staticmethod(normalize_postal_code)


class Mobile(_Normalized):
    """A mobile number, stored as ``09xxxxxxxxx``."""

    form_type = "mobile"
    normalize = staticmethod(normalize_mobile)


class Sha256(_Normalized):
    """A SHA-256 digest of an uploaded document, 64 lowercase hex digits; ``camera``: a photo the page
    asks the phone's camera for (an image, not a scan or a PDF)."""

    form_type = "document"
    normalize = staticmethod(normalize_sha256)

    def __init__(self, *, camera: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.camera = camera

    def describe(self) -> dict[str, Any]:
        """Return the JSON-able type and constraints of this field."""
        return super().describe() | {"camera": self.camera}


class JalaliDate(FormField):
    """A Jalali (``1370/05/12``, any digits) or ISO Gregorian (``1991-08-03``) date, cleaned to ISO.

    A year of 1800 or more means ISO Gregorian, anything else Jalali. With
    ``past=True`` (birth dates) a date after today, in Tehran, is refused; with ``future=True``
    (a date something is to happen) a date before today.
    """

    form_type = "date"
    GREGORIAN_FROM_YEAR = 1800
    EARLIEST = date(1900, 1, 1)
    LATEST = date(2100, 12, 31)
    _ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

    def __init__(self, *, past: bool = False, future: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if past and future:
            raise ValueError("a date is either past or future")
        self.past = past
        self.future = future

    def _clean(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(t("errors.date_invalid"))
        text = normalize_text(value)
        try:
            if text[:4].isdigit() and int(text[:4]) >= self.GREGORIAN_FROM_YEAR:
                if self._ISO.fullmatch(text) is None:
                    raise ValueError(text)
                day = date.fromisoformat(text)
            else:
                day = parse_jalali(text)
        except ValueError as error:
            raise ValidationError(t("errors.date_invalid")) from error
        if not self.EARLIEST <= day <= self.LATEST:
            raise ValidationError(t("errors.date_out_of_range"))
        if self.past and day > datetime.now(TEHRAN).date():
            raise ValidationError(t("errors.date_in_future"))
        if self.future and day < datetime.now(TEHRAN).date():
            raise ValidationError(t("errors.date_in_past"))
        return day.isoformat()

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value.isoformat() if isinstance(value, date) else value

    def describe(self) -> dict[str, Any]:
        """Return the JSON-able type and constraints of this field."""
        return super().describe() | {"calendar": "jalali", "past": self.past, "future": self.future}


class Choice(FormField):
    """One code out of ``choices``, a mapping of code to its Persian label."""

    form_type = "choice"

    def __init__(self, choices: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.choices = choices

    def _clean(self, value: Any) -> str:
        if not isinstance(value, str) or value.strip() not in self.choices:
            raise ValidationError(t("errors.choice_invalid"))
        return value.strip()

    def describe(self) -> dict[str, Any]:
        """Return the JSON-able type and constraints of this field, with Persian choice labels."""
        choices = [{"value": code, "label": label} for code, label in self.choices.items()]
        return super().describe() | {"choices": choices}


class StrictBool(FormField):
    """JSON ``true``/``false``, or the HTML form strings on/true/1 and false/0/"" (empty).

    With ``must_be_true=True`` (a consent) only true is accepted.
    """

    form_type = "boolean"
    _TRUE = frozenset({"on", "true", "1"})
    _FALSE = frozenset({"false", "0", ""})

    def __init__(self, *, must_be_true: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.must_be_true = must_be_true

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, str):
            value = normalize_digits(value).strip().lower()
            if value not in self._TRUE | self._FALSE:
                raise ValidationError(t("errors.boolean_invalid"))
            value = value in self._TRUE
        if not isinstance(value, bool):
            raise ValidationError(t("errors.boolean_invalid"))
        if self.must_be_true and not value:
            raise ValidationError(t("errors.must_be_true"))
        return value

    def describe(self) -> dict[str, Any]:
        """Return the JSON-able type and constraints of this field."""
        return super().describe() | {"must_be_true": self.must_be_true}


class StrictInt(FormField):
    """An integer from ``min_value`` to ``max_value``: a JSON integer or digits in any script.

    A number with no fraction (``120.0``) is the integer it equals, as JSON Schema's ``integer``
    says; booleans and fractions (``120.5``) are refused.
    """

    form_type = "integer"
    _DIGITS = re.compile(r"-?[0-9]{1,15}")

    def __init__(self, min_value: int, max_value: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_value = min_value
        self.max_value = max_value

    def _clean(self, value: Any) -> int:
        if isinstance(value, str) and self._DIGITS.fullmatch(normalize_text(value)):
            value = int(normalize_text(value))
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(t("errors.integer_invalid"))
        if value < self.min_value:
            raise ValidationError(t("errors.integer_too_small", min=_fa(self.min_value)))
        if value > self.max_value:
            raise ValidationError(t("errors.integer_too_large", max=_fa(self.max_value)))
        return value

    def describe(self) -> dict[str, Any]:
        """Return the JSON-able type and constraints of this field."""
        return super().describe() | {"min": self.min_value, "max": self.max_value}


class Section(fields.Nested):
    """A nested section of a form, loaded with its own schema."""

    form_type = "section"
    default_error_messages = _BASE_ERRORS

    def __init__(self, schema: type[Schema], *, required: bool = True, **kwargs: Any) -> None:
        super().__init__(schema, required=required, **kwargs)

    def describe(self) -> dict[str, Any]:
        """Return the JSON-able type of this section."""
        return {"type": self.form_type, "required": self.required}


class SectionList(fields.List[Any]):
    """A list of ``min_items`` to ``max_items`` sections; fields in ``unique`` may not repeat."""

    form_type = "list"
    default_error_messages: ErrorMessages = _BASE_ERRORS | {"invalid": t("errors.not_a_list")}

    def __init__(
        self,
        schema: type[Schema],
        *,
        min_items: int,
        max_items: int,
        unique: tuple[str, ...] = (),
        item_label: str | None = None,
        required: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(Section(schema), required=required, **kwargs)
        self.min_items = min_items
        self.max_items = max_items
        self.unique = unique
        self.item_label = item_label

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, (list, tuple)):
            raise self.make_error("invalid")
        # Checked before the items, so a huge list costs nothing.
        if len(value) < self.min_items:
            raise ValidationError(t("errors.list_too_short", min=_fa(self.min_items)))
        if len(value) > self.max_items:
            raise ValidationError(t("errors.list_too_long", max=_fa(self.max_items)))
        items: list[Any] = []
        errors: dict[int, Any] = {}
        for index, raw in enumerate(value):
            try:
                items.append(self.inner.deserialize(raw, **kwargs))
            except ValidationError as error:
                errors[index] = error.messages
                # Keep indexes aligned; the valid part still takes part in the unique check.
                items.append(error.valid_data if isinstance(error.valid_data, dict) else {})
        for name in self.unique:
            seen: set[Any] = set()
            for index, item in enumerate(items):
                if name not in item:
                    continue
                if item[name] in seen:
                    errors.setdefault(index, {}).setdefault(name, []).append(t("errors.duplicate"))
                seen.add(item[name])
        if errors:
            raise ValidationError(errors, valid_data=items)
        return items

    @property
    def section(self) -> Section:
        """The section each item is loaded with."""
        return cast(Section, self.inner)

    def describe(self) -> dict[str, Any]:
        """Return the JSON-able type and size limits of this list."""
        described = {
            "type": self.form_type,
            "required": self.required,
            "min_items": self.min_items,
            "max_items": self.max_items,
        }
        if self.item_label:
            described["item_label"] = self.item_label
        return described
