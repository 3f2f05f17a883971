"""The registry from a user task's form key to its form: validate, describe, map to variables."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any

from marshmallow import Schema, ValidationError
from marshmallow.exceptions import SCHEMA
from marshmallow.fields import Field

from forms.errors import FormError, UnknownFormError
from forms.fields import FormField, Section, SectionList, Sha256
from forms.messages import t
from forms.persian import age_on
from forms.schemas import (
    FoundingApplicationSchema,
    InquiryAnswerSchema,
    InterimAppointmentSchema,
    ManagerChangeApplicationSchema,
    ReviewDecisionSchema,
    TermEndAcknowledgementSchema,
    TermEndRequestSchema,
)

__all__ = ["FORMS", "FormSpec", "describe", "document_fields", "eligibility_facts", "get_form", "load", "manager_facts", "validate"]


@dataclass(frozen=True)
class FormSpec:
    """A form a user task shows, found by the task's form key."""

    #: The form key, as written on the BPMN user task.
    key: str
    #: The marshmallow schema that cleans submitted data.
    schema: type[Schema]
    #: Catalogue key of the form's Persian title.
    title_key: str
    #: Maps cleaned data and the day of submission to the few variables that BPMN gateways
    #: and DMN tables read.
    workflow_variables: Callable[[dict[str, Any], date], dict[str, Any]]


def manager_facts(manager: dict[str, Any], on_date: date) -> dict[str, Any]:
    """Return the facts the manager rule table decides on, from a cleaned manager section."""
    return {
        "manager_age": age_on(date.fromisoformat(manager["birth_date"]), on_date),
        "manager_education": manager["education"],
        "manager_gender": manager["gender"],
    }


def eligibility_facts(application: dict[str, Any], on_date: date) -> dict[str, Any]:
    """Return the facts the rule tables decide on, from a cleaned founding application."""
    space = application["space"]
    return {
        **manager_facts(application["manager"], on_date),
        "founding_board_size": len(application["founding_board"]),
        "space_area_m2": space["area_m2"],
        "space_distance_m": space.get("distance_m", 0),
    }


def _founding_variables(cleaned: dict[str, Any], on_date: date) -> dict[str, Any]:
    return {"facts": eligibility_facts(cleaned, on_date)}


def _manager_change_variables(cleaned: dict[str, Any], on_date: date) -> dict[str, Any]:
    return {"facts": manager_facts(cleaned["manager"], on_date)}


def _review_variables(cleaned: dict[str, Any], on_date: date) -> dict[str, Any]:
    return {"decision": cleaned["decision"]}


def _term_end_variables(cleaned: dict[str, Any], on_date: date) -> dict[str, Any]:
    return {"effective_date": cleaned["effective_date"]}


def _acknowledgement_variables(cleaned: dict[str, Any], on_date: date) -> dict[str, Any]:
    return {"continuity": cleaned["continuity"]}


def _no_variables(cleaned: dict[str, Any], on_date: date) -> dict[str, Any]:
    return {}


#: Every registered form, by form key (read-only).
FORMS: Mapping[str, FormSpec] = MappingProxyType(
    {
        spec.key: spec
        for spec in (
            FormSpec(
                key="founding_application",
                schema=FoundingApplicationSchema,
                title_key="forms.founding_application.title",
                workflow_variables=_founding_variables,
            ),
            FormSpec(
                key="review_decision",
                schema=ReviewDecisionSchema,
                title_key="forms.review_decision.title",
                workflow_variables=_review_variables,
            ),
            FormSpec(
                key="manager_change_application",
                schema=ManagerChangeApplicationSchema,
                title_key="forms.manager_change_application.title",
                workflow_variables=_manager_change_variables,
            ),
            FormSpec(
                key="term_end_request",
                schema=TermEndRequestSchema,
                title_key="forms.term_end_request.title",
                workflow_variables=_term_end_variables,
            ),
            FormSpec(
                key="term_end_acknowledgement",
                schema=TermEndAcknowledgementSchema,
                title_key="forms.term_end_acknowledgement.title",
                workflow_variables=_acknowledgement_variables,
            ),
            FormSpec(
                key="interim_appointment",
                schema=InterimAppointmentSchema,
                title_key="forms.interim_appointment.title",
                workflow_variables=_no_variables,
            ),
            FormSpec(
                key="inquiry_answer",
                schema=InquiryAnswerSchema,
                title_key="forms.inquiry_answer.title",
                workflow_variables=_no_variables,
            ),
        )
    }
)


def get_form(key: str) -> FormSpec:
    """Return the form registered under ``key``, or raise `UnknownFormError`."""
    try:
        return FORMS[key]
    except KeyError:
        raise UnknownFormError(key) from None


def _flatten(messages: Any, path: str, flat: dict[str, list[str]]) -> None:
    # marshmallow nests errors ({"founding_board": {2: {"national_id": [...]}}});
    # a section's own "_schema" errors belong to the section's path.
    if isinstance(messages, dict):
        for name, nested in messages.items():
            child = path if name == SCHEMA else f"{path}.{name}" if path else str(name)
            _flatten(nested, child, flat)
    elif isinstance(messages, list):
        for item in messages:
            _flatten(item, path, flat)
    else:
        flat.setdefault(path or SCHEMA, []).append(str(messages))


def load(schema: type[Schema], data: Any) -> dict[str, Any]:
    """Return ``data`` cleaned by ``schema``, or raise `FormError` (dotted keys, Persian messages)."""
    try:
        cleaned: dict[str, Any] = schema().load(data)
    except ValidationError as error:
        errors: dict[str, list[str]] = {}
        _flatten(error.messages, "", errors)
        raise FormError(errors) from None
    return cleaned


def validate(key: str, data: Any) -> dict[str, Any]:
    """Return the cleaned, JSON-safe data of form ``key``, or raise `FormError` (dotted keys)."""
    return load(get_form(key).schema, data)


def _describe_fields(schema: Schema, form_key: str, path: str) -> list[dict[str, Any]]:
    described = []
    for name, field in schema.fields.items():
        field_path = f"{path}.{name}" if path else name
        described.append(_describe_field(field, name, form_key, field_path))
    return described


def _describe_field(field: Field[Any], name: str, form_key: str, path: str) -> dict[str, Any]:
    label_key = f"forms.{form_key}.{path.replace('.*', '')}"
    entry: dict[str, Any] = {"name": name, "path": path, "label": t(label_key)}
    if isinstance(field, SectionList):
        entry |= field.describe()
        entry["fields"] = _describe_fields(field.section.schema, form_key, f"{path}.*")
    elif isinstance(field, Section):
        entry |= field.describe()
        entry["fields"] = _describe_fields(field.schema, form_key, path)
    elif isinstance(field, FormField):
        entry |= field.describe()
    else:
        raise TypeError(f"{path}: {type(field).__name__} is not a forms field")
    return entry


def document_fields(key: str) -> tuple[str, ...]:
    """The files a form's ``documents`` section asks for (each a digest field; empty: none)."""
    section = get_form(key).schema().fields.get("documents")
    if not isinstance(section, Section):
        return ()
    return tuple(name for name, field in section.schema.fields.items() if isinstance(field, Sha256))


def describe(key: str) -> dict[str, Any]:
    """Return a JSON-able description of form ``key``: title and fields with Persian labels."""
    spec = get_form(key)
    return {
        "key": spec.key,
        "title": t(spec.title_key),
        "fields": _describe_fields(spec.schema(), spec.key, ""),
    }
