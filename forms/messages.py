"""The Persian (fa-IR) catalogue: every string a user reads, in one place.

Keys are dotted and name where a string is used, not what it says:

- ``errors.<kind>``: validation errors (``{min}``/``{max}`` placeholders take
  numbers already written in Persian digits);
- ``warnings.<kind>``: advice that does not block a submission;
- ``forms.<form_key>.title``: a form's title;
- ``forms.<form_key>.<path>``: the label of a section or field, ``<path>`` being
  its dotted name in the form without list indexes
  (``forms.founding_application.founding_board.national_id``);
- ``choices.<set>.<code>``: the label of one choice of a choice field;
- ``web.<area>.<name>``: strings of the web UI (added by ``web/``).

Add new keys to the section they belong to; a dict literal silently keeps the
last of two equal keys, and a test guards against that.
"""

__all__ = ["FA", "t"]

FA: dict[str, str] = {
    # ------------------------------------------------------------------
    # Validation errors
    # ------------------------------------------------------------------
    "errors.required": "این فیلد الزامی است.",
    "errors.null": "این فیلد نمی‌تواند تهی باشد.",
    "errors.invalid": "مقدار نامعتبر است.",
    "errors.unknown_field": "این فیلد در فرم تعریف نشده است.",
    "errors.not_an_object": "ساختار داده نامعتبر است؛ مجموعه‌ای از فیلدها انتظار می‌رفت.",
    "errors.not_a_list": "ساختار داده نامعتبر است؛ فهرستی از موارد انتظار می‌رفت.",
    "errors.list_too_short": "دست‌کم {min} مورد لازم است.",
    "errors.list_too_long": "حداکثر {max} مورد مجاز است.",
    "errors.duplicate": "این مقدار در فهرست تکراری است.",
    "errors.not_text": "مقدار باید متن باشد.",
    "errors.text_too_short": "دست‌کم {min} نویسه لازم است.",
    "errors.text_too_long": "حداکثر {max} نویسه مجاز است.",
    "errors.code_invalid": "فقط حروف کوچک لاتین، رقم، خط تیره و زیرخط مجاز است.",
    "errors.national_id_invalid": "کد ملی نامعتبر است.",
    "errors.postal_code_invalid": "کد پستی باید ۱۰ رقم باشد.",
    "errors.mobile_invalid": "شماره همراه نامعتبر است؛ نمونه درست: ۰۹۱۲۳۴۵۶۷۸۹.",
    "errors.email_invalid": "نشانی رایانامه نامعتبر است.",
    "errors.date_invalid": "تاریخ نامعتبر است؛ نمونه درست: ۱۳۷۰/۰۵/۱۲.",
    "errors.date_out_of_range": "تاریخ خارج از بازه پذیرفتنی است.",
    "errors.date_in_future": "تاریخ نمی‌تواند در آینده باشد.",
    "errors.sha256_invalid": "چکیده سند باید ۶۴ نویسه شانزده‌شانزدهی (SHA-256) باشد.",
    "errors.choice_invalid": "گزینه انتخاب‌شده معتبر نیست.",
    "errors.boolean_invalid": "مقدار باید بله یا خیر باشد.",
    "errors.must_be_true": "پذیرفتن این مورد الزامی است.",
    "errors.integer_invalid": "مقدار باید عدد صحیح باشد.",
    "errors.integer_too_small": "مقدار باید دست‌کم {min} باشد.",
    "errors.integer_too_large": "مقدار باید حداکثر {max} باشد.",
    "errors.space_distance_required": "برای فضای خارج از مسجد، فاصله تا مسجد را وارد کنید.",
    "errors.space_distance_not_allowed": "برای فضای داخل مسجد، فاصله باید خالی یا صفر باشد.",
    "errors.review_reason_required": "برای بازگشت یا رد، دلیل را دست‌کم در {min} نویسه بنویسید.",
    # ------------------------------------------------------------------
    # Warnings (shown, never blocking)
    # ------------------------------------------------------------------
    "warnings.postal_code_pattern": (
        "این کد پستی با الگوی رایج کدهای پستی هم‌خوانی ندارد؛ لطفاً دوباره بررسی کنید."
    ),
    # ------------------------------------------------------------------
    # Form: founding_application (فرم یکپارچه تأسیس کانون)
    # ------------------------------------------------------------------
    "forms.founding_application.title": "درخواست تأسیس کانون فرهنگی هنری مسجد",
    "forms.founding_application.mosque": "مشخصات مسجد",
    "forms.founding_application.mosque.name": "نام مسجد",
    "forms.founding_application.mosque.county": "شهرستان",
    "forms.founding_application.mosque.address": "نشانی مسجد",
    "forms.founding_application.mosque.postal_code": "کد پستی مسجد",
    "forms.founding_application.imam": "امام جماعت",
    "forms.founding_application.imam.full_name": "نام و نام خانوادگی امام جماعت",
    "forms.founding_application.imam.national_id": "کد ملی امام جماعت",
    "forms.founding_application.imam.mobile": "شماره همراه امام جماعت",
    "forms.founding_application.imam.consent": "امام جماعت با تأسیس کانون موافق است",
    "forms.founding_application.trustees": "هیئت امنای مسجد",
    "forms.founding_application.trustees.head_full_name": "نام و نام خانوادگی رئیس هیئت امنا",
    "forms.founding_application.trustees.head_national_id": "کد ملی رئیس هیئت امنا",
    "forms.founding_application.trustees.consent": "هیئت امنا با تأسیس کانون موافق است",
    "forms.founding_application.founding_board": "هیئت مؤسس",
    "forms.founding_application.founding_board.full_name": "نام و نام خانوادگی",
    "forms.founding_application.founding_board.national_id": "کد ملی",
    "forms.founding_application.founding_board.mobile": "شماره همراه",
    "forms.founding_application.founding_board.role": "سمت در هیئت مؤسس",
    "forms.founding_application.manager": "مدیر پیشنهادی کانون",
    "forms.founding_application.manager.first_name": "نام",
    "forms.founding_application.manager.last_name": "نام خانوادگی",
    "forms.founding_application.manager.national_id": "کد ملی",
    "forms.founding_application.manager.birth_date": "تاریخ تولد",
    "forms.founding_application.manager.gender": "جنسیت",
    "forms.founding_application.manager.education": "مدرک تحصیلی",
    "forms.founding_application.manager.mobile": "شماره همراه",
    "forms.founding_application.manager.email": "رایانامه",
    "forms.founding_application.space": "فضای آموزشی",
    "forms.founding_application.space.location": "محل فضا",
    "forms.founding_application.space.area_m2": "مساحت مفید (متر مربع)",
    "forms.founding_application.space.distance_m": "فاصله تا مسجد (متر)",
    "forms.founding_application.documents": "مدارک",
    "forms.founding_application.documents.manager_id_copy": "تصویر کارت ملی مدیر",
    "forms.founding_application.documents.manager_photo": "عکس ۳×۴ مدیر",
    "forms.founding_application.documents.manager_degree": "تصویر آخرین مدرک تحصیلی مدیر",
    # ------------------------------------------------------------------
    # Form: review_decision (تصمیم کارشناس یا مدیر اداره)
    # ------------------------------------------------------------------
    "forms.review_decision.title": "بررسی و تصمیم",
    "forms.review_decision.decision": "تصمیم",
    "forms.review_decision.reason": "دلیل",
    "forms.review_decision.note": "یادداشت",
    # ------------------------------------------------------------------
    # Choice labels
    # ------------------------------------------------------------------
    "choices.education.below_diploma": "زیر دیپلم",
    "choices.education.diploma": "دیپلم",
    "choices.education.associate": "کاردانی",
    "choices.education.bachelor": "کارشناسی",
    "choices.education.master": "کارشناسی ارشد",
    "choices.education.doctorate": "دکتری",
    "choices.education.seminary_1": "سطح ۱ حوزه",
    "choices.education.seminary_2": "سطح ۲ حوزه",
    "choices.education.seminary_3": "سطح ۳ حوزه",
    "choices.education.seminary_4": "سطح ۴ حوزه",
    "choices.gender.male": "مرد",
    "choices.gender.female": "زن",
    "choices.board_role.imam": "امام جماعت",
    "choices.board_role.trustee": "عضو هیئت امنا",
    "choices.board_role.cultural": "فعال فرهنگی",
    "choices.board_role.basij": "نماینده پایگاه بسیج",
    "choices.board_role.other": "سایر",
    "choices.space_location.in_mosque": "داخل مسجد",
    "choices.space_location.outside": "خارج از مسجد",
    "choices.review_decision.approve": "تأیید",
    "choices.review_decision.return": "بازگشت برای اصلاح",
    "choices.review_decision.reject": "رد",
    # ------------------------------------------------------------------
    # Web UI (web/ adds its strings below, as web.<area>.<name>)
    # ------------------------------------------------------------------
}


def t(key: str, **kwargs: str) -> str:
    """Return the Persian text for ``key``, formatted with ``kwargs``."""
    text = FA[key]
    return text.format(**kwargs) if kwargs else text
