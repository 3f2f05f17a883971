"""The form schemas: shape and content of what users submit, never eligibility.

Eligibility (the manager's age and education, the board's size, the space's
area and distance) is decided by the DMN rule tables in ``bpmn/``; a schema
here accepts a 70-year-old manager or a three-person board.
"""

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, validates_schema

from forms.fields import (
    Choice,
    Code,
    Email,
    JalaliDate,
    Mobile,
    NationalId,
    PostalCode,
    Section,
    SectionList,
    Sha256,
    StrictBool,
    StrictInt,
    Text,
)
from forms.messages import t
from forms.persian import to_persian_digits

__all__ = [
    "BOARD_ROLES",
    "EDUCATION_LEVELS",
    "GENDERS",
    "REVIEW_DECISIONS",
    "SPACE_LOCATIONS",
    "FormSchema",
    "FoundingApplicationSchema",
    "InquiryAnswerSchema",
    "InterimAppointmentSchema",
    "ManagerChangeApplicationSchema",
    "ReviewDecisionSchema",
    "TermEndAcknowledgementSchema",
    "TermEndRequestSchema",
]


def _choices(choice_set: str, *codes: str) -> dict[str, str]:
    return {code: f"choices.{choice_set}.{code}" for code in codes}


EDUCATION_LEVELS = _choices(
    "education",
    "below_diploma",
    "diploma",
    "associate",
    "bachelor",
    "master",
    "doctorate",
    "seminary_1",
    "seminary_2",
    "seminary_3",
    "seminary_4",
)
GENDERS = _choices("gender", "male", "female")
BOARD_ROLES = _choices("board_role", "imam", "trustee", "cultural", "basij", "other")
SPACE_LOCATIONS = _choices("space_location", "in_mosque", "outside")
REVIEW_DECISIONS = _choices("review_decision", "approve", "return", "reject")
CONTINUITY = _choices("continuity", "successor", "interim")
INQUIRY_RESULTS = _choices("inquiry_result", "clear", "not_clear")


def _name() -> Text:
    return Text(80, min_length=2)


class FormSchema(Schema):
    """Base of every form schema: unknown fields are errors, messages are Persian."""

    class Meta:
        unknown = RAISE

    error_messages: dict[str, str] = {
        "type": t("errors.not_an_object"),
        "unknown": t("errors.unknown_field"),
    }


# --- founding_application ----------------------------------------------------


class MosqueSchema(FormSchema):
    name = Text(120, min_length=2)
    county = Code(32, min_length=2)  # an office code; whether it exists is checked elsewhere
    address = Text(400, min_length=5)
    postal_code = PostalCode()


class ImamSchema(FormSchema):
    full_name = _name()
    national_id = NationalId()
    mobile = Mobile()
    consent = StrictBool(must_be_true=True)


class TrusteesSchema(FormSchema):
    head_full_name = _name()
    head_national_id = NationalId()
    consent = StrictBool(must_be_true=True)


class BoardMemberSchema(FormSchema):
    full_name = _name()
    national_id = NationalId()
    mobile = Mobile()
    role = Choice(BOARD_ROLES)


class ManagerSchema(FormSchema):
    first_name = _name()
    last_name = _name()
    national_id = NationalId()
    birth_date = JalaliDate(past=True)
    gender = Choice(GENDERS)
    education = Choice(EDUCATION_LEVELS)
    mobile = Mobile()
    email = Email(required=False)


class SpaceSchema(FormSchema):
    location = Choice(SPACE_LOCATIONS)
    area_m2 = StrictInt(1, 100_000)
    distance_m = StrictInt(0, 100_000, required=False)

    @validates_schema
    def _distance_matches_location(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["location"] == "outside" and "distance_m" not in data:
            raise ValidationError(t("errors.space_distance_required"), "distance_m")
        if data["location"] == "in_mosque" and data.get("distance_m", 0) != 0:
            raise ValidationError(t("errors.space_distance_not_allowed"), "distance_m")


class DocumentsSchema(FormSchema):
    manager_id_copy = Sha256()
    manager_photo = Sha256()
    manager_degree = Sha256()


class FoundingApplicationSchema(FormSchema):
    """The unified e-form a mosque files to found a center."""

    mosque = Section(MosqueSchema)
    imam = Section(ImamSchema)
    trustees = Section(TrusteesSchema)
    founding_board = SectionList(
        BoardMemberSchema, min_items=1, max_items=20, unique=("national_id",)
    )
    manager = Section(ManagerSchema)
    space = Section(SpaceSchema)
    documents = Section(DocumentsSchema)


# --- review_decision ---------------------------------------------------------


class ReviewDecisionSchema(FormSchema):
    """An officer's or office head's decision on a case; a return or a rejection needs a reason."""

    REASON_MIN_LENGTH = 5

    decision = Choice(REVIEW_DECISIONS)
    reason = Text(2000, required=False, multiline=True)
    note = Text(2000, required=False, multiline=True)

    @validates_schema
    def _reason_given(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["decision"] != "approve" and len(data.get("reason", "")) < self.REASON_MIN_LENGTH:
            minimum = to_persian_digits(str(self.REASON_MIN_LENGTH))
            raise ValidationError(t("errors.review_reason_required", min=minimum), "reason")


# --- manager_change_application ----------------------------------------------


class ManagerChangeApplicationSchema(FormSchema):
    """The unified e-form that proposes a new manager for a licensed center."""

    manager = Section(ManagerSchema)
    reason = Text(2000, min_length=5, multiline=True)
    documents = Section(DocumentsSchema)


# --- term end: retirement and resignation -------------------------------------


class TermEndRequestSchema(FormSchema):
    """A dated request (or an office's notice) that the manager's term ends."""

    effective_date = JalaliDate()
    reason = Text(2000, min_length=5, multiline=True)


class InterimSchema(FormSchema):
    full_name = _name()
    national_id = NationalId()
    mobile = Mobile()


class TermEndAcknowledgementSchema(FormSchema):
    """The county office acknowledges and says how the center keeps a manager."""

    continuity = Choice(CONTINUITY)
    interim = Section(InterimSchema, required=False)
    note = Text(2000, required=False, multiline=True)

    @validates_schema
    def _interim_named(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["continuity"] == "interim" and "interim" not in data:
            raise ValidationError(t("errors.interim_required"), "interim")
        if data["continuity"] == "successor" and "interim" in data:
            raise ValidationError(t("errors.interim_not_allowed"), "interim")


class InterimAppointmentSchema(FormSchema):
    """The county office names an interim manager when no successor came in time."""

    interim = Section(InterimSchema)
    note = Text(2000, required=False, multiline=True)


# --- inquiry_answer (agencies, through the API) --------------------------------


class InquiryAnswerSchema(FormSchema):
    """An agency's answer to an inquiry about a proposed manager."""

    result = Choice(INQUIRY_RESULTS)
    reference = Text(64, min_length=1)
    note = Text(2000, required=False, multiline=True)
