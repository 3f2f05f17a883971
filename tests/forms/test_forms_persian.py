from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from forms import (
    FormsError,
    InvalidValueError,
    age_on,
    format_jalali,
    jalali_iso,
    normalize_digits,
    normalize_numeric,
    normalize_text,
    parse_jalali,
    to_persian_digits,
)

ZWNJ = "\u200c"


def test_normalize_digits_persian_and_arabic():
    assert normalize_digits("۰۱۲۳۴۵۶۷۸۹") == "0123456789"
    assert normalize_digits("٠١٢٣٤٥٦٧٨٩") == "0123456789"
    assert normalize_digits("پلاک ۱٢3") == "پلاک 123"


def test_normalize_text_arabic_letters_become_persian():
    assert normalize_text("علي") == "علی"
    assert normalize_text("مصطفى") == "مصطفی"
    assert normalize_text("كريمي") == "کریمی"


def test_normalize_text_keeps_zwnj_and_tidies_spaces():
    assert normalize_text(f"  علی{ZWNJ}اکبر   رضا\tیی  ") == f"علی{ZWNJ}اکبر رضا یی"
    assert normalize_text("می\u200cروم") == "می\u200cروم"


def test_normalize_text_nfc_digits_and_invisible_marks():
    assert normalize_text("\u0627\u0653ب") == "آب"
    assert normalize_text("\u200fکوچه ۱۲\u200e\ufeff") == "کوچه 12"


def test_normalize_text_multiline_keeps_line_breaks_only_when_asked():
    raw = " سطر  اول \r\n  سطر دوم "
    assert normalize_text(raw) == "سطر اول سطر دوم"
    assert normalize_text(raw, multiline=True) == "سطر اول\nسطر دوم"


def test_normalize_numeric_strips_zwnj_spaces_and_dashes():
    assert normalize_numeric(f"۰۹۱۲ ۱۲۳{ZWNJ}-۴۵۶۷") == "09121234567"
    assert normalize_numeric("12345–67890") == "1234567890"
    assert normalize_numeric("\u200f٠٤٩٩٣٧٠٨٩٩") == "0499370899"


def test_to_persian_digits():
    assert to_persian_digits("1405/09/01") == "۱۴۰۵/۰۹/۰۱"
    assert to_persian_digits("٣") == "۳"


@pytest.mark.parametrize(
    "text",
    ["1370/5/12", "1370/05/12", "۱۳۷۰/۰۵/۱۲", "١٣٧٠/٠٥/١٢", "1370-05-12", " 1370/05/12 "],
)
def test_parse_jalali_accepts_common_spellings(text):
    assert parse_jalali(text) == date(1991, 8, 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1403/12/30", date(2025, 3, 20)),  # 1403 is a leap year
        ("1399/12/30", date(2021, 3, 20)),  # 1399 is a leap year
        ("1395/12/30", date(2017, 3, 20)),
        ("1400/01/01", date(2021, 3, 21)),
    ],
)
def test_parse_jalali_leap_years(text, expected):
    assert parse_jalali(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1402/12/30",
        "1404/12/30",
        "1370/13/01",
        "1370/00/10",
        "1370/01/32",
        "1370/05",
        "137/05/12",
        "1370/05-12",
        "1370.05.12",
        "",
        "سیزده",
        "1370/05/12/1",
    ],
)
def test_parse_jalali_rejects_impossible_or_malformed_dates(text):
    with pytest.raises(InvalidValueError) as caught:
        parse_jalali(text)
    assert isinstance(caught.value, FormsError)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == "تاریخ نامعتبر است؛ نمونه درست: ۱۳۷۰/۰۵/۱۲."


def test_format_jalali_date():
    assert format_jalali(date(2026, 11, 22)) == "۱۴۰۵/۰۹/۰۱"
    assert format_jalali(date(2025, 3, 20)) == "۱۴۰۳/۱۲/۳۰"


def test_format_jalali_converts_utc_to_tehran():
    utc = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    assert format_jalali(utc, with_time=True) == "۱۴۰۵/۰۹/۰۱ ۰۶:۳۰"
    # 21:00 UTC is already the next day in Tehran.
    late = datetime(2026, 11, 21, 21, 0, tzinfo=UTC)
    assert format_jalali(late, with_time=True) == "۱۴۰۵/۰۹/۰۱ ۰۰:۳۰"
    assert format_jalali(late) == "۱۴۰۵/۰۹/۰۱"


def test_format_jalali_other_timezones_and_naive_utc():
    berlin = datetime(2026, 11, 22, 4, 0, tzinfo=timezone(timedelta(hours=1)))
    assert format_jalali(berlin, with_time=True) == "۱۴۰۵/۰۹/۰۱ ۰۶:۳۰"
    naive = datetime(2026, 11, 22, 3, 0)  # stored UTC, read back without tzinfo
    assert format_jalali(naive, with_time=True) == "۱۴۰۵/۰۹/۰۱ ۰۶:۳۰"


def test_format_jalali_with_time_needs_a_datetime():
    with pytest.raises(TypeError):
        format_jalali(date(2026, 11, 22), with_time=True)


def test_jalali_iso_uses_ascii_digits():
    assert jalali_iso(date(2026, 11, 22)) == "1405/09/01"
    assert jalali_iso(date(1991, 8, 3)) == "1370/05/12"
    assert parse_jalali(jalali_iso(date(2024, 2, 29))) == date(2024, 2, 29)


def test_age_on_counts_full_jalali_years():
    birth = parse_jalali("1375/03/14")  # 1996-06-03
    assert age_on(birth, parse_jalali("1405/03/13")) == 29
    assert age_on(birth, parse_jalali("1405/03/14")) == 30
    # 2026-06-03 is the Gregorian anniversary but still 1405/03/13 in the Jalali calendar.
    assert age_on(birth, date(2026, 6, 3)) == 29
    assert age_on(birth, birth) == 0
    assert age_on(parse_jalali("1335/01/01"), parse_jalali("1405/09/01")) == 70
