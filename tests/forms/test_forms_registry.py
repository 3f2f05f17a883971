import copy
import dataclasses
import json
import re
from datetime import date
from pathlib import Path

import pytest

from forms import FormError, FormsError, FormSet, UnknownFormError
from tests.forms.examples import (
    VALID_APPLICATION,
    VALID_APPLICATION_CLEANED,
    national_id_with_check_digit,
)

#: the forms the product ships (bpmn/forms/), as deploy reads them
SHIPPED = FormSet.read(Path(__file__).resolve().parents[2] / "bpmn" / "forms")
FORMS = SHIPPED.forms
validate, describe, get_form = SHIPPED.validate, SHIPPED.describe, SHIPPED.get


def eligibility_facts(cleaned, on_date):
    return get_form("founding_application").workflow_variables(cleaned, on_date)["facts"]


REQUIRED = "این فیلد الزامی است."
UNKNOWN = "این فیلد در فرم تعریف نشده است."
NOT_AN_OBJECT = "ساختار داده نامعتبر است؛ مجموعه‌ای از فیلدها انتظار می‌رفت."
ZWNJ = "\u200c"


def application(**sections):
    """A deep copy of VALID_APPLICATION with some sections replaced."""
    data = copy.deepcopy(VALID_APPLICATION)
    data.update(sections)
    return data


def form_errors(key, data):
    with pytest.raises(FormError) as caught:
        validate(key, data)
    return caught.value.errors


def leaf_paths(data, prefix=""):
    """Yield the dotted path of every scalar in nested dicts and lists."""
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in items:
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, (dict, list)):
            yield from leaf_paths(value, path)
        else:
            yield path


def set_at(data, path, value):
    """Replace the value at a dotted path (list indexes as numbers)."""
    *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
    for part in parents:
        data = data[part]
    data[last] = value


def assert_json_safe(value):
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str) and key != "typename"
            assert_json_safe(item)
    elif isinstance(value, list):
        for item in value:
            assert_json_safe(item)
    else:
        assert type(value) in (str, int, bool), value


# --- founding_application: valid input -------------------------------------------


def test_valid_application_cleans_to_expected_data():
    cleaned = validate("founding_application", VALID_APPLICATION)
    assert cleaned == VALID_APPLICATION_CLEANED
    assert_json_safe(cleaned)
    assert json.loads(json.dumps(cleaned)) == cleaned


def test_application_typed_in_persian_digits_and_arabic_letters_cleans_to_the_same_data():
    docs = VALID_APPLICATION["documents"]
    typed = {
        "mosque": {
            "name": " مسجد جامع امام حسن مجتبی (ع) ",
            "county": "qom-central",
            "address": "قم،  بلوار امين، كوچه ۱۲، پلاک ۸",
            "postal_code": "۳۷۱۵۶-۱۴۵۸۱",
        },
        "imam": {
            "full_name": "سيد محمدرضا حسيني",
            "national_id": "۰۴۹۹۳۷۰۸۹۹",
            "mobile": "+۹۸ ۹۱۲ ۱۲۳ ۴۵۶۷",
            "consent": "on",
        },
        "trustees": {
            "head_full_name": f"علي{ZWNJ}اكبر  رضايي",
            "head_national_id": "٠٧٩٠٤١٩٩٠٤",
            "consent": "true",
        },
        "founding_board": [
            {
                "full_name": "سيد محمدرضا حسيني",
                "national_id": "۰۴۹۹۳۷۰۸۹۹",
                "mobile": "۰۹۱۲۱۲۳۴۵۶۷",
                "role": "imam",
            },
            {
                "full_name": f"علي{ZWNJ}اكبر رضايي",
                "national_id": "٠٧٩٠٤١٩٩٠٤",
                "mobile": "00989193456789",
                "role": "trustee",
            },
            {
                "full_name": "زهرا كريمي",
                "national_id": "۰۰۳۰۱۰۴۵۶۴",
                "mobile": "9351234567",
                "role": "cultural",
            },
            {
                "full_name": f"مهدي نيك{ZWNJ}نام",
                "national_id": "۱۲۷۸۴۵۶۳۱۷",
                "mobile": "۰۹۹۰-۱۲۳-۴۵۶۷",
                "role": "cultural",
            },
            {
                "full_name": "حسين يوسفي",
                "national_id": "۴۴۵۵۶۶۷۷۸۴",
                "mobile": "989131234567",
                "role": "basij",
            },
        ],
        "manager": {
            "first_name": "فاطمه",
            "last_name": f"محمدي{ZWNJ}نيا",
            "national_id": "۲۳۸۹۰۰۱۱۲۲",
            "birth_date": "۱۳۷۵/۰۳/۱۴",
            "gender": "female",
            "education": "bachelor",
            "mobile": "۰۹۱۲ ۳۳۳ ۴۴۵۵",
            "email": " f.mohammadi@example.ir ",
        },
        "space": {"location": "in_mosque", "area_m2": "۱۲۰"},
        "documents": {name: digest.upper() for name, digest in docs.items()},
    }
    assert validate("founding_application", typed) == VALID_APPLICATION_CLEANED


def test_schema_does_not_enforce_eligibility_rules():
    # A 70-year-old manager without a diploma, a three-person board, a tiny room far away:
    # content-valid; whether it is eligible is the DMN rule table's decision.
    data = application(
        founding_board=VALID_APPLICATION["founding_board"][:3],
        space={"location": "outside", "area_m2": 1, "distance_m": 5000},
    )
    data["manager"].update(birth_date="1335/01/01", education="below_diploma", gender="male")
    cleaned = validate("founding_application", data)
    assert cleaned["manager"]["birth_date"] == "1956-03-21"
    assert eligibility_facts(cleaned, date(2026, 11, 22)) == {
        "manager_age": 70,
        "manager_education": "below_diploma",
        "manager_gender": "male",
        "founding_board_size": 3,
        "space_area_m2": 1,
        "space_distance_m": 5000,
    }


def test_optional_email_may_be_left_out_or_empty():
    for email in (None, ""):
        data = application()
        if email is None:
            del data["manager"]["email"]
        else:
            data["manager"]["email"] = email
        assert "email" not in validate("founding_application", data)["manager"]


# --- founding_application: invalid input -----------------------------------------


@pytest.mark.parametrize("body", [[VALID_APPLICATION], "founding", None, 12, True])
def test_non_object_body_is_a_whole_form_error(body):
    assert form_errors("founding_application", body) == {"_schema": [NOT_AN_OBJECT]}


def test_unknown_fields_are_keyed_by_the_field():
    data = application()
    data["is_admin"] = True
    data["manager"]["nickname"] = "x"
    data["founding_board"][2]["age"] = 30
    assert form_errors("founding_application", data) == {
        "is_admin": [UNKNOWN],
        "manager.nickname": [UNKNOWN],
        "founding_board.2.age": [UNKNOWN],
    }


@pytest.mark.parametrize("bad", [[], {}, None, 1.5, ["x"], {"a": 1}])
def test_any_wrong_type_at_any_leaf_is_a_field_error_never_an_exception(bad):
    for path in leaf_paths(VALID_APPLICATION):
        data = copy.deepcopy(VALID_APPLICATION)
        set_at(data, path, bad)
        errors = form_errors("founding_application", data)
        assert list(errors) == [path], (path, bad, errors)
        assert all(isinstance(message, str) and message for message in errors[path])


@pytest.mark.parametrize("bad", ["x", 1, True, None, []])
def test_wrong_type_for_a_section_is_keyed_by_the_section(bad):
    for section in ("mosque", "imam", "trustees", "manager", "space", "documents"):
        errors = form_errors("founding_application", application(**{section: bad}))
        assert list(errors) == [section]


def test_errors_are_flattened_to_dotted_keys():
    data = application()
    data["mosque"]["postal_code"] = "123"
    data["manager"]["national_id"] = "0499370898"
    data["founding_board"][2]["national_id"] = "۱۱۱۱۱۱۱۱۱۱"
    data["founding_board"][4]["role"] = "chair"
    del data["documents"]["manager_photo"]
    assert form_errors("founding_application", data) == {
        "mosque.postal_code": ["کد پستی باید ۱۰ رقم باشد."],
        "manager.national_id": ["کد ملی نامعتبر است."],
        "founding_board.2.national_id": ["کد ملی نامعتبر است."],
        "founding_board.4.role": ["گزینه انتخاب‌شده معتبر نیست."],
        "documents.manager_photo": [REQUIRED],
    }


def test_missing_sections_are_required():
    errors = form_errors("founding_application", {})
    assert errors == {name: [REQUIRED] for name in VALID_APPLICATION}


def test_board_national_ids_must_be_unique_whatever_the_digits():
    data = application()
    data["founding_board"][3]["national_id"] = "۰۴۹۹۳۷۰۸۹۹"  # same as member 0
    data["founding_board"][4]["full_name"] = "x"  # another error does not hide the duplicate
    assert form_errors("founding_application", data) == {
        "founding_board.3.national_id": ["این مقدار در فهرست تکراری است."],
        "founding_board.4.full_name": ["دست‌کم ۲ نویسه لازم است."],
    }


def test_board_size_limits():
    assert form_errors("founding_application", application(founding_board=[])) == {
        "founding_board": ["دست‌کم ۱ مورد لازم است."]
    }
    member = VALID_APPLICATION["founding_board"][0]
    board = [
        {**member, "national_id": national_id_with_check_digit(f"{100000000 + i * 7919:09d}")}
        for i in range(21)
    ]
    assert form_errors("founding_application", application(founding_board=board)) == {
        "founding_board": ["حداکثر ۲۰ مورد مجاز است."]
    }
    assert (
        len(
            validate("founding_application", application(founding_board=board[:20]))[
                "founding_board"
            ]
        )
        == 20
    )


def test_board_must_be_a_list_of_objects():
    member = VALID_APPLICATION["founding_board"][0]
    assert form_errors("founding_application", application(founding_board=member)) == {
        "founding_board": ["ساختار داده نامعتبر است؛ فهرستی از موارد انتظار می‌رفت."]
    }
    assert form_errors("founding_application", application(founding_board=["x"])) == {
        "founding_board.0": [NOT_AN_OBJECT]
    }


def test_consents_must_be_given():
    data = application()
    data["imam"]["consent"] = False
    data["trustees"]["consent"] = ""
    assert form_errors("founding_application", data) == {
        "imam.consent": ["پذیرفتن این مورد الزامی است."],
        "trustees.consent": ["پذیرفتن این مورد الزامی است."],
    }


def test_county_is_an_office_code():
    data = application()
    data["mosque"]["county"] = "قم"
    assert list(form_errors("founding_application", data)) == ["mosque.county"]


def test_space_distance_depends_on_location():
    outside = application(space={"location": "outside", "area_m2": 90})
    assert form_errors("founding_application", outside) == {
        "space.distance_m": ["برای فضای خارج از مسجد، فاصله تا مسجد را وارد کنید."]
    }
    outside["space"]["distance_m"] = "۱۵۰"
    assert validate("founding_application", outside)["space"] == {
        "location": "outside",
        "area_m2": 90,
        "distance_m": 150,
    }
    in_mosque = application(space={"location": "in_mosque", "area_m2": 90, "distance_m": 30})
    assert form_errors("founding_application", in_mosque) == {
        "space.distance_m": ["برای فضای داخل مسجد، فاصله باید خالی یا صفر باشد."]
    }
    in_mosque["space"]["distance_m"] = 0
    assert validate("founding_application", in_mosque)["space"]["distance_m"] == 0


def test_space_integers_reject_bools_and_fractions_and_take_whole_floats():
    errors = form_errors(
        "founding_application",
        application(space={"location": "outside", "area_m2": True, "distance_m": 12.5}),
    )
    assert errors == {
        "space.area_m2": ["مقدار باید عدد صحیح باشد."],
        "space.distance_m": ["مقدار باید عدد صحیح باشد."],
    }
    # JSON Schema's integer: 962.0 is 962, stored as the integer
    whole = validate("founding_application", application(space={"location": "outside", "area_m2": 962.0,
                                                                "distance_m": 12.0}))["space"]
    assert (whole["area_m2"], whole["distance_m"]) == (962, 12) and type(whole["area_m2"]) is int


def test_future_birth_date_is_rejected():
    data = application()
    data["manager"]["birth_date"] = "1470/01/01"
    assert form_errors("founding_application", data) == {
        "manager.birth_date": ["تاریخ نمی‌تواند در آینده باشد."]
    }


def test_name_length_limits():
    data = application()
    data["manager"]["first_name"] = "ع" * 81
    data["mosque"]["name"] = "م" * 121
    data["mosque"]["address"] = "قم"
    assert form_errors("founding_application", data) == {
        "manager.first_name": ["حداکثر ۸۰ نویسه مجاز است."],
        "mosque.name": ["حداکثر ۱۲۰ نویسه مجاز است."],
        "mosque.address": ["دست‌کم ۵ نویسه لازم است."],
    }


# --- review_decision -------------------------------------------------------------

REASON_REQUIRED = "برای بازگشت یا رد، دلیل را دست‌کم در ۵ نویسه بنویسید."


def test_approve_needs_no_reason():
    assert validate("review_decision", {"decision": "approve"}) == {"decision": "approve"}
    assert validate(
        "review_decision", {"decision": "approve", "reason": "", "note": " خوب  است "}
    ) == {
        "decision": "approve",
        "note": "خوب است",
    }


@pytest.mark.parametrize("decision", ["return", "reject"])
def test_return_and_reject_need_a_reason(decision):
    assert form_errors("review_decision", {"decision": decision}) == {"reason": [REASON_REQUIRED]}
    assert form_errors("review_decision", {"decision": decision, "reason": " نقص "}) == {
        "reason": [REASON_REQUIRED]
    }
    cleaned = validate("review_decision", {"decision": decision, "reason": "كد پستي\r\nنادرست است"})
    assert cleaned == {"decision": decision, "reason": "کد پستی\nنادرست است"}


def test_review_decision_invalid_input():
    assert form_errors("review_decision", {"decision": "maybe"}) == {
        "decision": ["گزینه انتخاب‌شده معتبر نیست."]
    }
    assert form_errors("review_decision", {"decision": "approve", "note": "x" * 2001}) == {
        "note": ["حداکثر ۲۰۰۰ نویسه مجاز است."]
    }
    assert form_errors("review_decision", {"decision": "approve", "signature": "x"}) == {
        "signature": [UNKNOWN]
    }
    assert form_errors("review_decision", {"decision": ["approve"], "reason": 5}) == {
        "decision": ["گزینه انتخاب‌شده معتبر نیست."],
        "reason": ["مقدار باید متن باشد."],
    }


# --- registry --------------------------------------------------------------------


def test_get_form_and_unknown_keys():
    bpmn_form_keys = set()
    for path in (Path(__file__).resolve().parents[2] / "bpmn").glob("*.bpmn"):
        bpmn_form_keys |= set(re.findall(r'name="formKey" value="([a-z_]+)"', path.read_text("utf-8")))
    # every form a BPMN user task names is registered, plus the agencies' answer form; nothing else
    assert set(FORMS) == bpmn_form_keys | {"inquiry_answer"}
    assert get_form("review_decision").key == "review_decision"
    for call in (get_form, describe, lambda key: validate(key, {})):
        with pytest.raises(UnknownFormError) as caught:
            call("no_such_form")
        assert isinstance(caught.value, FormsError)


def test_form_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_form("review_decision").key = "other"


def test_form_error_is_a_forms_error():
    with pytest.raises(FormsError):
        validate("review_decision", {})


def test_workflow_variables():
    cleaned = validate("founding_application", VALID_APPLICATION)
    variables = get_form("founding_application").workflow_variables(cleaned, date(2026, 6, 4))
    assert variables == {
        "facts": {
            "manager_age": 30,
            "manager_education": "bachelor",
            "manager_gender": "female",
            "founding_board_size": 5,
            "space_area_m2": 120,
            "space_distance_m": 0,
        }
    }
    assert eligibility_facts(cleaned, date(2026, 6, 3))["manager_age"] == 29  # 1405/03/13
    review = validate("review_decision", {"decision": "return", "reason": "مدارک ناقص است"})
    assert get_form("review_decision").workflow_variables(review, date(2026, 6, 4)) == {
        "decision": "return"
    }


# --- describe --------------------------------------------------------------------

PERSIAN = re.compile("[\u0600-\u06ff]")

FOUNDING_PATHS = {
    "mosque",
    "mosque.name",
    "mosque.county",
    "mosque.address",
    "mosque.postal_code",
    "imam",
    "imam.full_name",
    "imam.national_id",
    "imam.mobile",
    "imam.consent",
    "trustees",
    "trustees.head_full_name",
    "trustees.head_national_id",
    "trustees.consent",
    "founding_board",
    "founding_board.*.full_name",
    "founding_board.*.national_id",
    "founding_board.*.mobile",
    "founding_board.*.role",
    "manager",
    "manager.first_name",
    "manager.last_name",
    "manager.national_id",
    "manager.birth_date",
    "manager.gender",
    "manager.education",
    "manager.mobile",
    "manager.email",
    "space",
    "space.location",
    "space.area_m2",
    "space.distance_m",
    "documents",
    "documents.manager_id_copy",
    "documents.manager_photo",
    "documents.manager_degree",
}


def walk(fields):
    for field in fields:
        yield field
        yield from walk(field.get("fields", []))


def test_describe_lists_every_field_with_a_persian_label():
    description = describe("founding_application")
    assert description["key"] == "founding_application"
    assert description["title"] == "درخواست تأسیس کانون فرهنگی هنری مسجد"
    fields = list(walk(description["fields"]))
    assert {field["path"] for field in fields} == FOUNDING_PATHS
    for field in fields:
        assert PERSIAN.search(field["label"]), field["path"]
        assert isinstance(field["required"], bool)
    assert json.loads(json.dumps(description)) == description


def test_describe_types_and_constraints():
    fields = {field["path"]: field for field in walk(describe("founding_application")["fields"])}
    assert fields["manager.first_name"] == {
        "name": "first_name",
        "path": "manager.first_name",
        "label": "نام",
        "type": "text",
        "required": True,
        "min_length": 2,
        "max_length": 80,
        "multiline": False,
    }
    assert fields["manager.email"]["required"] is False
    assert (
        fields["manager.birth_date"]["type"] == "date"
        and fields["manager.birth_date"]["past"] is True
    )
    assert fields["space.area_m2"] == {
        "name": "area_m2",
        "path": "space.area_m2",
        "label": "مساحت مفید (متر مربع)",
        "type": "integer",
        "required": True,
        "min": 1,
        "max": 100000,
    }
    assert fields["imam.consent"]["must_be_true"] is True
    assert fields["founding_board"]["type"] == "list"
    assert (fields["founding_board"]["min_items"], fields["founding_board"]["max_items"]) == (1, 20)
    assert [f["name"] for f in fields["founding_board"]["fields"]] == [
        "full_name",
        "national_id",
        "mobile",
        "role",
    ]
    assert fields["mosque"]["type"] == "section"
    assert {
        fields[p]["type"]
        for p in (
            "mosque.postal_code",
            "imam.national_id",
            "imam.mobile",
            "documents.manager_photo",
            "mosque.county",
        )
    } == {"postal_code", "national_id", "mobile", "document", "code"}
    assert fields["manager.education"]["choices"] == [
        {"value": "below_diploma", "label": "زیر دیپلم"},
        {"value": "diploma", "label": "دیپلم"},
        {"value": "associate", "label": "کاردانی"},
        {"value": "bachelor", "label": "کارشناسی"},
        {"value": "master", "label": "کارشناسی ارشد"},
        {"value": "doctorate", "label": "دکتری"},
        {"value": "seminary_1", "label": "سطح ۱ حوزه"},
        {"value": "seminary_2", "label": "سطح ۲ حوزه"},
        {"value": "seminary_3", "label": "سطح ۳ حوزه"},
        {"value": "seminary_4", "label": "سطح ۴ حوزه"},
    ]


def test_describe_review_decision():
    description = describe("review_decision")
    assert description["title"] == "بررسی و تصمیم"
    decision, reason, note, review = description["fields"]
    assert (review["type"], review["required"], [f["name"] for f in review["fields"]]) == (
        "list", False, ["document", "verdict", "reason"])
    assert review["fields"][1]["choices"] == [{"value": "accepted", "label": "پذیرفته"},
                                              {"value": "rejected", "label": "نپذیرفته"}]
    with pytest.raises(FormError) as rejected:
        validate("review_decision", {"decision": "return", "reason": "مدارک ناقص است.",
                                     "document_review": [{"document": "documents.manager_degree",
                                                          "verdict": "rejected"}]})
    assert "document_review.0.reason" in rejected.value.errors
    assert decision["choices"] == [
        {"value": "approve", "label": "تأیید"},
        {"value": "return", "label": "بازگشت برای اصلاح"},
        {"value": "reject", "label": "رد"},
    ]
    assert (reason["name"], reason["required"], reason["max_length"], reason["multiline"]) == (
        "reason",
        False,
        2000,
        True,
    )
    assert (note["name"], note["required"], note["max_length"]) == ("note", False, 2000)
