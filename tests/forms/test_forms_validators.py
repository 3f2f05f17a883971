import pytest

from forms import (
    InvalidValueError,
    is_valid_national_id,
    normalize_mobile,
    normalize_national_id,
    normalize_postal_code,
    normalize_sha256,
    postal_code_warning,
)
from tests.forms.examples import national_id_with_check_digit

# Literals checked against the algorithm below (test_literals_agree_with_the_algorithm).
VALID_NATIONAL_IDS = ["0499370899", "0790419904", "0030104564", "1278456317", "4455667784"]


def reference_check(national_id: str) -> bool:
    """The published algorithm, written independently of forms.validators."""
    digits = [int(c) for c in national_id]
    remainder = sum(d * (10 - i) for i, d in enumerate(digits[:9])) % 11
    return digits[9] == (remainder if remainder < 2 else 11 - remainder)


def test_literals_agree_with_the_algorithm():
    for national_id in VALID_NATIONAL_IDS:
        assert reference_check(national_id), national_id
        assert national_id_with_check_digit(national_id[:9]) == national_id


@pytest.mark.parametrize("national_id", VALID_NATIONAL_IDS)
def test_valid_national_ids(national_id):
    assert is_valid_national_id(national_id)
    assert normalize_national_id(national_id) == national_id


@pytest.mark.parametrize(
    "first_nine", ["123456789", "000000012", "987654321", "410203040", "555555556"]
)
def test_generated_national_ids_are_valid(first_nine):
    national_id = national_id_with_check_digit(first_nine)
    assert is_valid_national_id(national_id)


def test_national_id_in_persian_and_arabic_digits_with_separators():
    assert normalize_national_id("۰۴۹۹۳۷۰۸۹۹") == "0499370899"
    assert normalize_national_id("٠٧٩٠٤١٩٩٠٤") == "0790419904"
    assert normalize_national_id("049-937089-9") == "0499370899"
    assert normalize_national_id(" ۰۴۹ ۹۳۷\u200c۰۸۹۹ ") == "0499370899"


@pytest.mark.parametrize(
    "national_id",
    [
        "0499370898",  # wrong check digit
        "0499370890",  # wrong check digit
        "499370899",  # nine digits (leading zero dropped)
        "04993708990",  # eleven digits
        "0000000000",  # passes the checksum, but ten equal digits
        "1111111111",  # passes the checksum, but ten equal digits
        "049937089a",
        "abcdefghij",
        "",
        "¹²³⁴⁵⁶⁷⁸⁹⁰",  # isdigit() is true for these; they are not digits here
    ],
)
def test_invalid_national_ids(national_id):
    assert not is_valid_national_id(national_id)
    with pytest.raises(InvalidValueError, match="کد ملی نامعتبر است"):
        normalize_national_id(national_id)


def test_every_equal_digit_id_is_rejected_even_when_the_checksum_passes():
    for digit in "0123456789":
        assert not is_valid_national_id(digit * 10)
    assert reference_check("1111111111") and reference_check("0000000000")


@pytest.mark.parametrize(
    "mobile",
    [
        "09121234567",
        "9121234567",
        "+989121234567",
        "00989121234567",
        "989121234567",
        "+98 912 123 4567",
        "0912-123-4567",
        "+9809121234567",  # +98 followed by the domestic 0
        "۰۹۱۲۱۲۳۴۵۶۷",
        "٠٩١٢١٢٣٤٥٦٧",
        "+۹۸۹۱۲۱۲۳۴۵۶۷",
    ],
)
def test_mobile_prefixes(mobile):
    assert normalize_mobile(mobile) == "09121234567"


def test_mobile_operator_prefixes_are_not_hard_coded():
    assert normalize_mobile("09901234567") == "09901234567"
    assert normalize_mobile("9981234567") == "09981234567"


@pytest.mark.parametrize(
    "mobile",
    [
        "0912123456",
        "091212345678",
        "08121234567",
        "02112345678",
        "+9708121234567",
        "+09121234567",
        "0098",
        "",
        "0912abc4567",
    ],
)
def test_invalid_mobiles(mobile):
    with pytest.raises(InvalidValueError, match="شماره همراه نامعتبر است"):
        normalize_mobile(mobile)


def test_postal_code_ten_digits_in_any_script():
    assert normalize_postal_code("3715614581") == "3715614581"
    assert normalize_postal_code("۳۷۱۵۶-۱۴۵۸۱") == "3715614581"
    assert normalize_postal_code("٣٧١٥٦١٤٥٨١") == "3715614581"


@pytest.mark.parametrize("postal_code", ["371561458", "37156145811", "37156a4581", ""])
def test_invalid_postal_codes(postal_code):
    with pytest.raises(InvalidValueError, match="کد پستی باید ۱۰ رقم باشد"):
        normalize_postal_code(postal_code)


def test_postal_code_stricter_pattern_only_warns():
    assert postal_code_warning("3715614581") is None
    assert postal_code_warning("۳۷۱۵۶۱۴۵۸۱") is None
    # Fails the stricter pattern (a 2 and a 0 in the first block; four equal leading digits) ...
    for code in ("2715614581", "3705614581", "1111614581", "3715624581"):
        assert (
            postal_code_warning(code)
            == "این کد پستی با الگوی رایج کدهای پستی هم‌خوانی ندارد؛ لطفاً دوباره بررسی کنید."
        )
        # ... yet is accepted.
        assert normalize_postal_code(code) == code


def test_sha256_is_lowercased():
    digest = "AB" * 32
    assert normalize_sha256(digest) == "ab" * 32
    assert normalize_sha256(f" {'0f' * 32}\n") == "0f" * 32


@pytest.mark.parametrize("digest", ["ab" * 31, "ab" * 33, "g" * 64, "", "۰" * 64])
def test_invalid_sha256(digest):
    with pytest.raises(InvalidValueError):
        normalize_sha256(digest)
