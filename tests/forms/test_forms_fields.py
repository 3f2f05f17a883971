from datetime import date, timedelta

import pytest
from marshmallow import ValidationError

from forms import jalali_iso
from forms.fields import (
    Choice,
    Code,
    Email,
    JalaliDate,
    Mobile,
    NationalId,
    PostalCode,
    Sha256,
    StrictBool,
    StrictInt,
    Text,
)
from forms import FormSchema

ZWNJ = "\u200c"
ABSENT = object()
REQUIRED = "این فیلد الزامی است."
NOT_TEXT = "مقدار باید متن باشد."


def clean(field, value):
    """Load ``value`` through a one-field form; return the cleaned value, or ABSENT when dropped."""
    schema = FormSchema.from_dict({"value": field})()
    return schema.load({"value": value}).get("value", ABSENT)


def errors(field, value):
    """Load ``value`` through a one-field form and return the field's error messages."""
    schema = FormSchema.from_dict({"value": field})()
    with pytest.raises(ValidationError) as caught:
        schema.load({"value": value})
    return caught.value.messages["value"]


def test_fields_are_required_by_default():
    schema = FormSchema.from_dict({"value": Text(10)})()
    with pytest.raises(ValidationError) as caught:
        schema.load({})
    assert caught.value.messages == {"value": [REQUIRED]}


# --- Text ----------------------------------------------------------------------


def test_text_normalizes_letters_digits_and_spaces_keeping_zwnj():
    assert clean(Text(80), "  علي  كريمي ") == "علی کریمی"
    assert clean(Text(80), f"محمد{ZWNJ}رضا") == f"محمد{ZWNJ}رضا"
    assert clean(Text(80), "پلاک ۱۲") == "پلاک 12"


def test_text_lengths_are_checked_after_normalization():
    assert clean(Text(5, min_length=2), "  ab  ") == "ab"
    assert errors(Text(5, min_length=4), " a   b ") == ["دست‌کم ۴ نویسه لازم است."]  # "a b"
    assert errors(Text(5), "abcdef") == ["حداکثر ۵ نویسه مجاز است."]
    assert clean(Text(5), "ab    cd") == "ab cd"


@pytest.mark.parametrize("value", [["علی"], 12, 1.5, True, {"a": "b"}])
def test_text_rejects_non_strings(value):
    assert errors(Text(80), value) == [NOT_TEXT]


def test_text_null_and_empty():
    assert errors(Text(80), None) == ["این فیلد نمی‌تواند تهی باشد."]
    assert errors(Text(80), "   ") == [REQUIRED]
    assert clean(Text(80, required=False), "") is ABSENT
    assert clean(Text(80, required=False), " \u200f ") is ABSENT


def test_text_multiline():
    assert clean(Text(100, multiline=True), "الف\r\nب") == "الف\nب"
    assert clean(Text(100), "الف\r\nب") == "الف ب"


def test_code():
    assert clean(Code(32, min_length=2), " qom-central_1 ") == "qom-central_1"
    for bad in ("Qom", "قم", "qom central", "qom/1"):
        assert errors(Code(32, min_length=2), bad) == [
            "فقط حروف کوچک لاتین، رقم، خط تیره و زیرخط مجاز است."
        ]
    assert errors(Code(32, min_length=2), "q") == ["دست‌کم ۲ نویسه لازم است."]


def test_email():
    assert clean(Email(), " ali@example.ir ") == "ali@example.ir"
    assert errors(Email(), "ali@") == ["نشانی رایانامه نامعتبر است."]
    assert clean(Email(required=False), "") is ABSENT


# --- identifiers ---------------------------------------------------------------


def test_national_id_field():
    assert clean(NationalId(), "۰۴۹۹۳۷۰۸۹۹") == "0499370899"
    assert clean(NationalId(), "٠٧٩٠٤١٩٩٠٤") == "0790419904"
    assert errors(NationalId(), "0499370898") == ["کد ملی نامعتبر است."]
    assert errors(NationalId(), "1111111111") == ["کد ملی نامعتبر است."]
    # A number loses its leading zero: national IDs must be strings.
    assert errors(NationalId(), 499370899) == [NOT_TEXT]
    assert errors(NationalId(), ["0499370899"]) == [NOT_TEXT]


def test_postal_code_field():
    assert clean(PostalCode(), "۳۷۱۵۶-۱۴۵۸۱") == "3715614581"
    assert clean(PostalCode(), "2000000000") == "2000000000"  # odd, but only a warning
    assert errors(PostalCode(), "12345") == ["کد پستی باید ۱۰ رقم باشد."]


def test_mobile_field():
    assert clean(Mobile(), "+۹۸ ۹۱۲ ۱۲۳ ۴۵۶۷") == "09121234567"
    assert errors(Mobile(), "12345") == ["شماره همراه نامعتبر است؛ نمونه درست: ۰۹۱۲۳۴۵۶۷۸۹."]
    assert errors(Mobile(), 9121234567) == [NOT_TEXT]


def test_sha256_field():
    assert clean(Sha256(), "AB" * 32) == "ab" * 32
    assert errors(Sha256(), "ab" * 20) == ["چکیده سند باید ۶۴ نویسه شانزده‌شانزدهی (SHA-256) باشد."]
    assert errors(Sha256(), 123) == [NOT_TEXT]


# --- dates ---------------------------------------------------------------------

DATE_INVALID = ["تاریخ نامعتبر است؛ نمونه درست: ۱۳۷۰/۰۵/۱۲."]


@pytest.mark.parametrize(
    "value", ["1370/05/12", "1370/5/12", "۱۳۷۰/۰۵/۱۲", "١٣٧٠/٠٥/١٢", "1370-05-12", "1991-08-03"]
)
def test_jalali_date_accepts_jalali_or_iso_gregorian(value):
    assert clean(JalaliDate(), value) == "1991-08-03"


def test_jalali_date_leap_years():
    assert clean(JalaliDate(), "1403/12/30") == "2025-03-20"
    assert clean(JalaliDate(), "1399/12/30") == "2021-03-20"
    assert errors(JalaliDate(), "1402/12/30") == DATE_INVALID


@pytest.mark.parametrize(
    "value",
    [
        "1991/08/03",
        "19910803",
        "1991-W31-6",
        "1991-02-30",
        "1370/05",
        "دیروز",
        13700512,
        ["1370/05/12"],
    ],
)
def test_jalali_date_rejects_malformed_input(value):
    assert errors(JalaliDate(), value) == DATE_INVALID


def test_jalali_date_range():
    assert errors(JalaliDate(), "1250/01/01") == ["تاریخ خارج از بازه پذیرفتنی است."]
    assert errors(JalaliDate(), "1850-01-01") == ["تاریخ خارج از بازه پذیرفتنی است."]


def test_jalali_date_past():
    future = date.today() + timedelta(days=3)
    assert errors(JalaliDate(past=True), jalali_iso(future)) == ["تاریخ نمی‌تواند در آینده باشد."]
    assert errors(JalaliDate(past=True), future.isoformat()) == ["تاریخ نمی‌تواند در آینده باشد."]
    assert clean(JalaliDate(), jalali_iso(future)) == future.isoformat()
    yesterday = date.today() - timedelta(days=3)
    assert clean(JalaliDate(past=True), jalali_iso(yesterday)) == yesterday.isoformat()


def test_jalali_date_serializes_iso_gregorian():
    schema = FormSchema.from_dict({"value": JalaliDate()})()
    assert schema.dump({"value": date(1991, 8, 3)}) == {"value": "1991-08-03"}
    assert schema.dump({"value": "1991-08-03"}) == {"value": "1991-08-03"}


# --- choices, booleans, integers -----------------------------------------------

COLORS = {"red": "قرمز", "blue": "آبی"}


def test_choice():
    assert clean(Choice(COLORS), "red") == "red"
    assert clean(Choice(COLORS), " blue ") == "blue"
    for bad in ("green", "RED", ["red"], {"red": 1}, 1, True):
        assert errors(Choice(COLORS), bad) == ["گزینه انتخاب‌شده معتبر نیست."]
    assert Choice(COLORS).describe()["choices"] == [
        {"value": "red", "label": "قرمز"},
        {"value": "blue", "label": "آبی"},
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("on", True),
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("۱", True),
        ("false", False),
        ("0", False),
        ("", False),
    ],
)
def test_strict_bool_accepts(value, expected):
    assert clean(StrictBool(), value) is expected


@pytest.mark.parametrize("value", [1, 0, "yes", "off", "2", ["true"], 1.0])
def test_strict_bool_rejects(value):
    assert errors(StrictBool(), value) == ["مقدار باید بله یا خیر باشد."]


def test_strict_bool_must_be_true():
    assert clean(StrictBool(must_be_true=True), "on") is True
    for value in (False, "", "0", "false"):
        assert errors(StrictBool(must_be_true=True), value) == ["پذیرفتن این مورد الزامی است."]


@pytest.mark.parametrize("value", [120, "120", "۱۲۰", "١٢٠", " 120 ", 120.0])
def test_strict_int_accepts(value):
    # 120.0 is the integer JSON Schema's "integer" says it is
    assert clean(StrictInt(1, 1000), value) == 120 and type(clean(StrictInt(1, 1000), value)) is int


@pytest.mark.parametrize(
    "value", [True, False, 12.5, float("nan"), float("inf"), 1e300, "12.5", "12.0", "12a", "1" * 5000, ["12"], {"n": 1}]
)
def test_strict_int_rejects_bools_fractions_and_junk(value):
    assert errors(StrictInt(0, 1000), value) == ["مقدار باید عدد صحیح باشد."]


def test_strict_int_range_messages_use_persian_digits():
    assert errors(StrictInt(1, 100_000), 0) == ["مقدار باید دست‌کم ۱ باشد."]
    assert errors(StrictInt(1, 100_000), "100001") == ["مقدار باید حداکثر ۱۰۰۰۰۰ باشد."]
    assert errors(StrictInt(1, 100_000), 10**30) == ["مقدار باید حداکثر ۱۰۰۰۰۰ باشد."]
    assert clean(StrictInt(0, 10, required=False), "") is ABSENT
    assert clean(StrictInt(0, 10), "0") == 0
