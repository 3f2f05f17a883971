"""A founding, end to end in a real browser: apply, return for correction, resubmit, approve twice, download."""
from __future__ import annotations

from support import PASSWORD, PIN, answer_all, application_fixture, pdf_bytes, png_bytes
from web.extensions import db
from web.formdata import flatten
from web.scope import timeline as timeline_of
from workflows.models import Case, utcnow
from workflows.verification import verification_token


def sign_in(page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/cases")


def fill_application(page, tmp_path) -> None:
    for name, value in flatten(application_fixture()).items():
        if name.startswith("documents"):
            continue
        selector = "#f-" + name.replace(".", "-")
        kind = page.eval_on_selector(selector, "e => e.tagName + ':' + (e.type || '')")
        if kind.startswith("SELECT"):
            page.select_option(selector, str(value))
        elif kind == "INPUT:checkbox":
            page.check(selector)
        else:
            page.fill(selector, str(value))
    files = {"manager_id_copy": ("id.png", png_bytes("red")), "manager_photo": ("photo.png", png_bytes("blue")),
             "manager_degree": ("degree.pdf", pdf_bytes())}
    for field, (filename, content) in files.items():
        path = tmp_path / filename
        path.write_bytes(content)
        page.set_input_files(f"#f-documents-{field}", str(path))


def answer_inquiries(case_url: str) -> None:
    """The agencies answer through their own channel (here: the domain operation, as the API does)."""
    db.session.expire_all()
    answer_all(db.session.get(Case, int(case_url.rsplit("/", 1)[-1])), "clear", utcnow())


def decide(page, base: str, officer: str, decision: str, reason: str = "") -> None:
    sign_in(page, base, officer)
    page.click("#inbox a.button")
    page.check(f"input[name=decision][value={decision}]")
    if reason:
        page.fill("#f-reason", reason)
    page.fill("#pin", PIN)
    page.click("#submit")
    page.wait_for_selector("#case-status")


def test_founding_in_the_browser(browser, live_server, tmp_path, screenshot):
    context = browser.new_context(viewport={"width": 390, "height": 844}, accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    base = live_server

    sign_in(page, base, "applicant1")
    page.click("#new-founding")
    fill_application(page, tmp_path)
    screenshot(page, "phone-application-form")
    page.fill("#pin", PIN)
    page.click("#submit")
    assert page.inner_text("#case-status") == "در انتظار پاسخ استعلام‌ها"
    case_url = page.url
    answer_inquiries(case_url)
    page.reload()
    assert page.inner_text("#case-status") == "در بررسی اداره شهرستان"
    assert page.locator("#inquiries tr.inquiry-answered").count() == 4

    reason = "کد پستی مسجد با نشانی نمی‌خواند؛ اصلاح کنید."
    decide(page, base, "arak_officer", "return", reason)
    assert page.inner_text("#case-status") == "بازگشت برای اصلاح"

    sign_in(page, base, "applicant1")
    page.goto(case_url)
    page.click("#open-task")
    assert reason in page.inner_text("#return-reason")
    assert page.input_value("#f-mosque-name") == application_fixture()["mosque"]["name"]
    page.fill("#f-mosque-postal_code", "3813645780")
    page.fill("#pin", PIN)
    page.click("#submit")
    answer_inquiries(case_url)

    decide(page, base, "arak_officer", "approve")
    decide(page, base, "markazi_officer", "approve")
    assert page.inner_text("#case-status") == "مجوز صادر شد"
    assert "همه امضاها و پیوند زنجیره درست است" in page.inner_text("#verification")
    timeline = page.inner_text("#timeline")
    for action in ("ثبت و امضای درخواست", "بازگشت برای اصلاح", "ارسال دوباره پس از اصلاح", "صدور مجوز"):
        assert action in timeline
    screenshot(page, "phone-case-licensed")

    with page.expect_download() as download:
        page.click("#certificate")
    pdf = download.value.path().read_bytes()
    assert pdf.startswith(b"%PDF")

    case = db.session.get(Case, int(case_url.rsplit("/", 1)[-1]))
    token = verification_token(case, timeline_of(case)[-1]["hash"])
    page.context.clear_cookies()
    page.goto(f"{base}/verify")
    page.fill("#token", token)
    page.click("form.row button")
    result = page.inner_text("#verify-result")
    assert "همه امضاها و پیوند زنجیره درست است" in result and "مجوز صادر شد" in result
    screenshot(page, "phone-public-verification")
    assert problems == []
    context.close()
