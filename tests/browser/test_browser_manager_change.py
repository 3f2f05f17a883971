"""A manager change in the browser: the center's holder proposes a new manager (the birth date chosen with the
keyboard in the Jalali picker), the agencies answer the inquiries through the JSON API, county and province
approve, and the center's page names the new manager."""
from __future__ import annotations

from browser_support import CHAIN_OK, attach_documents, decide, diagram_markers, follow, no_problems, sign_in, visit
from support import ACTORS, PIN, found_center

#: the demo agencies' API tokens (workflows/demo.py)
AGENCY_TOKENS = ("demo-judiciary-token", "demo-health-token", "demo-education-token", "demo-basij-token")


def answer_through_the_api(browser, base: str, national_id: str) -> list[str]:
    """Each agency lists its pending inquiries and answers the one about this person with a signed JSON answer."""
    api = browser.new_context(base_url=base)
    references = []
    try:
        for token in AGENCY_TOKENS:
            headers = {"Authorization": f"Bearer {token}"}
            listed = api.request.get("/api/v1/inquiries?status=pending", headers=headers)
            assert listed.status == 200, listed.text()
            mine = [i for i in listed.json()["inquiries"] if i["subject"]["national_id"] == national_id]
            assert len(mine) == 1, listed.json()
            reference = f"{token.split('-')[1].upper()}-1405-77"
            answered = api.request.post(f"/api/v1/inquiries/{mine[0]['id']}/answer", headers=headers,
                                        data={"data": {"result": "clear", "reference": reference}, "pin": PIN})
            assert answered.status == 200, answered.text()
            references.append(reference)
    finally:
        api.close()
    return references


def test_manager_change_with_inquiries_answered_through_the_api(app, browser, browser_page, live_server, tmp_path,
                                                                 screens):
    center = found_center(app, ACTORS["applicant"])
    page, problems = browser_page
    base = live_server

    sign_in(page, base, "applicant1")
    page.goto(f"{base}/centers/{center.id}")
    assert "فاطمه محمدی‌نیا" in page.inner_text("#current-manager")
    follow(page, "#start-manager_change")
    assert page.inner_text("h1") == "پیشنهاد مدیر جدید"
    page.fill("#f-manager-first_name", "محمدحسین")
    page.fill("#f-manager-last_name", "صالحی")
    page.fill("#f-manager-national_id", "۰۰۱۳۵۴۲۴۱۹")
    page.select_option("#f-manager-gender", "male")
    page.select_option("#f-manager-education", "seminary_2")
    page.fill("#f-manager-mobile", "09121110000")
    page.fill("#f-reason", "مدیر پیشین به شهر دیگری رفته است.")
    attach_documents(page, tmp_path)

    # a typed date, then the picker by keyboard: it opens on that date; the next day is to the left
    page.fill("#f-manager-birth_date", "1378/1/15")
    page.focus("#f-manager-birth_date-picker")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')").startswith("۱۵ فروردین ۱۳۷۸")
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')").startswith("۱۶ فروردین ۱۳۷۸")
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')").startswith("۹ فروردین ۱۳۷۸")
    page.keyboard.press("Escape")
    assert page.locator(".picker").count() == 0
    assert page.evaluate("document.activeElement.id") == "f-manager-birth_date-picker"
    page.keyboard.press("Enter")
    page.keyboard.press("PageUp")  # the month before: Esfand 1377
    assert page.evaluate("document.activeElement.getAttribute('aria-label')").startswith("۱۵ اسفند ۱۳۷۷")
    page.keyboard.press("PageDown")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    assert page.input_value("#f-manager-birth_date") == "۱۳۷۸/۰۱/۱۶"
    assert page.evaluate("document.activeElement.id") == "f-manager-birth_date"
    screens(page, "manager-change-form")

    # a draft keeps everything but the PIN, the uploaded documents too
    follow(page, "#save-draft")
    assert page.inner_text(".flash") == "پیش‌نویس ذخیره شد."
    page.goto(page.url)
    assert page.input_value("#f-manager-birth_date") == "۱۳۷۸/۰۱/۱۶"
    assert page.input_value("#f-reason") == "مدیر پیشین به شهر دیگری رفته است."
    assert page.input_value("#f-manager-education") == "seminary_2"
    assert page.locator("[data-field^='documents.'] .hint.ok").count() == 3
    assert page.inner_text("#progress-text") == "۲ از ۲ بخش کامل شده است"

    page.fill("#pin", PIN)
    follow(page, "#submit")
    assert page.inner_text("#case-status") == "در انتظار پاسخ استعلام‌ها"
    assert "inquiries_complete" in diagram_markers(page)["current"]

    references = answer_through_the_api(browser, base, "0013542419")
    page.reload()
    assert page.inner_text("#case-status") == "در انتظار تعیین زمان بازدید میدانی"
    case_url = page.url
    visit(page, base, tmp_path)  # the county's site visit, scheduled and passed on the pages
    sign_in(page, base, "applicant1")
    page.goto(case_url)
    assert page.inner_text("#case-status") == "در بررسی اداره شهرستان"
    inquiries = page.inner_text("#inquiries")
    for reference in references:
        assert reference in inquiries
    assert page.locator("#inquiries tr.inquiry-answered").count() == 4
    assert "پاسخ استعلام" in page.inner_text("#timeline")

    decide(page, base, "arak_officer", "approve")
    decide(page, base, "markazi_officer", "approve")
    assert page.inner_text("#case-status") == "مدیر جدید منصوب شد"
    assert CHAIN_OK in page.inner_text("#verification")
    markers = diagram_markers(page)
    assert markers["current"] == [] and {"county_review", "province_review"} <= set(markers["done"])
    screens(page, "manager-change-appointed")

    with page.expect_download() as download:
        page.click("#certificate")
    assert download.value.path().read_bytes().startswith(b"%PDF")
    page.goto(f"{base}/centers/{center.id}")
    assert "محمدحسین صالحی" in page.inner_text("#current-manager")
    assert "فاطمه محمدی‌نیا" in page.inner_text("#terms")
    no_problems(problems)
