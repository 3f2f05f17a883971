"""Example form data shared by the tests: a realistic founding application and helpers."""

from hashlib import sha256

__all__ = [
    "VALID_APPLICATION",
    "VALID_APPLICATION_CLEANED",
    "national_id_with_check_digit",
]


def national_id_with_check_digit(first_nine: str) -> str:
    """Complete nine digits into a national ID by appending its check digit."""
    total = sum(int(first_nine[i]) * (10 - i) for i in range(9))
    remainder = total % 11
    return first_nine + str(remainder if remainder < 2 else 11 - remainder)


def _placeholder_digest(name: str) -> str:
    return sha256(f"placeholder document: {name}".encode()).hexdigest()


#: A founding application as the applicant's form submits it: valid, already
#: tidy (ASCII digits, Persian letters), so it cleans to itself except for the
#: birth date, which becomes ISO Gregorian.
VALID_APPLICATION: dict = {
    "mosque": {
        "name": "مسجد جامع امام حسن مجتبی (ع)",
        "county": "qom-central",
        "address": "قم، بلوار امین، کوچه 12، پلاک 8",
        "postal_code": "3715614581",
    },
    "imam": {
        "full_name": "سید محمدرضا حسینی",
        "national_id": "0499370899",
        "mobile": "09121234567",
        "consent": True,
    },
    "trustees": {
        "head_full_name": "علی‌اکبر رضایی",
        "head_national_id": "0790419904",
        "consent": True,
    },
    "founding_board": [
        {
            "full_name": "سید محمدرضا حسینی",
            "national_id": "0499370899",
            "mobile": "09121234567",
            "role": "imam",
        },
        {
            "full_name": "علی‌اکبر رضایی",
            "national_id": "0790419904",
            "mobile": "09193456789",
            "role": "trustee",
        },
        {
            "full_name": "زهرا کریمی",
            "national_id": "0030104564",
            "mobile": "09351234567",
            "role": "cultural",
        },
        {
            "full_name": "مهدی نیک‌نام",
            "national_id": "1278456317",
            "mobile": "09901234567",
            "role": "cultural",
        },
        {
            "full_name": "حسین یوسفی",
            "national_id": "4455667784",
            "mobile": "09131234567",
            "role": "basij",
        },
    ],
    "manager": {
        "first_name": "فاطمه",
        "last_name": "محمدی‌نیا",
        "national_id": "2389001122",
        "birth_date": "1375/03/14",
        "gender": "female",
        "education": "bachelor",
        "mobile": "09123334455",
        "email": "f.mohammadi@example.ir",
    },
    "space": {"location": "in_mosque", "area_m2": 120},
    "documents": {
        "manager_id_copy": _placeholder_digest("manager ID copy"),
        "manager_photo": _placeholder_digest("manager photo"),
        "manager_degree": _placeholder_digest("manager degree"),
    },
}

#: What `forms.validate("founding_application", VALID_APPLICATION)` returns.
VALID_APPLICATION_CLEANED: dict = {
    **VALID_APPLICATION,
    "manager": {**VALID_APPLICATION["manager"], "birth_date": "1996-06-03"},
}
