"""What the browser tests do as people do it: sign in, fill the unified form, decide, read the diagram."""
from __future__ import annotations

from support import PASSWORD, PIN, png_bytes
from workflows.demo import DEMO_ACCOUNTS
from web.formdata import flatten

#: the widths pages are looked at: a small phone and a desktop
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
#: what a person sees when a chain verifies
CHAIN_OK = "همه امضاها و پیوند زنجیره درست است"


def sign_in(page, base: str, username: str) -> None:
    """Sign in as a demo account, and make sure the pages then speak for it: a response of the previous
    person's page still in flight can set their session cookie again after it was cleared."""
    full_name = next(account.full_name for account in DEMO_ACCOUNTS if account.username == username)
    for _attempt in range(3):
        page.goto("about:blank")  # ends the page's requests in flight, which could set the session cookie again
        page.context.clear_cookies()
        response = page.goto(f"{base}/login")
        assert response.status == 200 and page.url.startswith(f"{base}/login"), (response.status, page.url)
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/cases")
        page.goto(f"{base}/cases")  # a second page of the session: whose it is now
        if (page.locator(".who").first.text_content() or "").strip().startswith(full_name):
            return
    raise AssertionError(f"signed in as {username}, but the pages speak for someone else")


def follow(page, selector: str) -> None:
    """Click a link or button that loads another page, and wait for that page; a link of the header's
    menu is reached by opening the menu first, as on a phone."""
    if page.locator(f"#menu nav {selector}").count() and not page.locator(selector).first.is_visible():
        page.click("#menu-button")
    with page.expect_navigation():
        page.click(selector)


def fill_in_row(page, selector: str) -> None:
    """Show the list row a field is in with the list's «add» button, as a person adds a row."""
    while not page.locator(selector).is_visible():
        section = page.locator(selector).locator("xpath=ancestor::fieldset[contains(@class, 'form-section')]")
        section.locator(".add-row").click()


def fill_form(page, data: dict, skip: tuple[str, ...] = ()) -> None:
    """Type a form's data into its fields, as the unified form names them (#f-section-field)."""
    for name, value in flatten(data).items():
        if name.startswith("documents") or name in skip:
            continue
        selector = "#f-" + name.replace(".", "-")
        fill_in_row(page, selector)
        kind = page.eval_on_selector(selector, "e => e.tagName + ':' + (e.type || '')")
        if kind.startswith("SELECT"):
            page.select_option(selector, str(value))
        elif kind == "INPUT:checkbox":
            page.check(selector)
        else:
            page.fill(selector, str(value))


def degree_pdf() -> bytes:
    """A real two-page PDF, as a scanned degree would be (pdf.js draws its pages on the desk)."""
    from weasyprint import HTML
    return HTML(string="<html><body><h1>Diploma</h1><p style='page-break-after: always'>page one</p>"
                       "<p>page two</p></body></html>").write_pdf()


def attach_documents(page, tmp_path) -> None:
    files = {"manager_id_copy": ("id.png", png_bytes("red")), "manager_photo": ("photo.png", png_bytes("blue")),
             "manager_degree": ("degree.pdf", degree_pdf())}
    for field, (filename, content) in files.items():
        path = tmp_path / filename
        path.write_bytes(content)
        page.set_input_files(f"#f-documents-{field}", str(path))


def pick_date(page, field_id: str, year: int, month: int, day: int) -> None:
    """Choose a date with the Jalali picker: open it, choose the year and month, press the day."""
    page.click(f"#{field_id}-picker")
    picker = page.locator(".picker")
    picker.locator("select.picker-year").select_option(str(year))
    picker.locator("select.picker-month").select_option(str(month))
    picker.locator("button.picker-day", has_text=fa(day)).first.click()
    assert page.locator(".picker").count() == 0


def fa(value: object) -> str:
    return str(value).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))


def decide(page, base: str, officer: str, decision: str, reason: str = "") -> None:
    """An officer opens the first task of their inbox and signs a decision."""
    sign_in(page, base, officer)
    follow(page, "#inbox a.button")
    page.check(f"input[name=decision][value={decision}]")
    if reason:
        page.fill("#f-reason", reason)
    page.fill("#pin", PIN)
    follow(page, "#submit")
    page.wait_for_selector("#case-status")


def schedule_visit(page, base: str, officer: str, expert: str, day: str) -> None:
    """A county officer opens the visit's scheduling from their inbox and names its day and expert."""
    sign_in(page, base, officer)
    follow(page, "#inbox a.button")
    page.fill("#f-visit_date", day)
    page.fill("#f-visit_time", "۱۰ صبح")
    page.select_option("#f-expert", expert)
    page.fill("#pin", PIN)
    follow(page, "#submit")
    page.wait_for_selector("#case-status")


def fill_visit(page, photo, *, area: int = 120, imam_present: bool = True) -> None:
    """The expert fills in the visit's checklist on the page, the photo from the phone's camera."""
    page.fill("#f-area_m2", str(area))
    page.select_option("#f-placement", "outside")
    page.fill("#f-distance_m", "۴۰")
    for box in ("lighting_ventilation", "fire_extinguisher", "restroom"):
        page.check(f"#f-facilities-{box}")
    if imam_present:
        page.check("#f-imam_present")
    page.set_input_files("#f-documents-space_photo", str(photo))
    page.fill("#f-findings", "فضا با درخواست می‌خواند و امام جماعت حاضر بود.")


def visit(page, base: str, tmp_path, officer: str = "arak_officer", expert: str = "arak_officer") -> None:
    """The county schedules the site visit for today and its expert signs a checklist that passes."""
    from forms import jalali_iso
    from workflows.models import tehran_today, utcnow
    schedule_visit(page, base, officer, expert, fa(jalali_iso(tehran_today(utcnow()))))
    photo = tmp_path / "space.png"
    photo.write_bytes(png_bytes("gray"))
    sign_in(page, base, expert)
    follow(page, "#inbox a.button")
    fill_visit(page, photo)
    page.fill("#pin", PIN)
    follow(page, "#submit")
    page.wait_for_selector("#case-status")


def diagram_markers(page) -> dict[str, list[str]]:
    """The BPMN element ids the case page's diagram highlights, once bpmn-js has drawn it."""
    page.wait_for_selector("#diagram[data-state=ready]")
    return page.evaluate("""() => ({
      done: [...document.querySelectorAll('#diagram .djs-shape.step-done')].map(e => e.dataset.elementId),
      current: [...document.querySelectorAll('#diagram .djs-shape.step-current')].map(e => e.dataset.elementId),
      flows: [...document.querySelectorAll('#diagram .djs-connection.flow-done')].map(e => e.dataset.elementId),
      lanes: [...document.querySelectorAll('#diagram .djs-shape[data-element-id^=Lane_] text')].map(e => e.textContent),
    })""")


def no_problems(problems: list[str]) -> None:
    """Nothing went wrong on the pages: no console error, exception, CSP violation or failed request."""
    assert problems == [], "\n".join(problems)


def enhanced(page) -> None:
    """Wait until the page's script has enhanced it (date pickers, form progress, error summary)."""
    page.wait_for_selector("body[data-enhanced]", state="attached")


def rejected_once(page, problems: list[str]) -> None:
    """The one problem a page rejected by the server shows (its 422 status) and nothing else; then forgotten."""
    page.wait_for_selector("#error-summary")
    enhanced(page)
    for _ in range(40):  # the console event may come a moment after the page
        if problems:
            break
        page.wait_for_timeout(50)
    assert [p for p in problems if "422" not in p] == [] and len(problems) == 1, problems
    problems.clear()


#: text a person reads with Latin digits on purpose: codes shown left to right (hashes, references, usernames)
LATIN_ALLOWED = "[dir=ltr], bdi, .hash, code, kbd, script, style, noscript, svg, #diagram"


def latin_digits(page) -> list[str]:
    """Visible text that shows Latin digits where Persian ones belong."""
    return page.evaluate("""allowed => {
      const found = [];
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const parent = node.parentElement;
        if (!/[0-9]/.test(node.textContent) || parent.closest(allowed) || !parent.offsetParent) continue;
        found.push(node.textContent.trim().slice(0, 80));
      }
      return found;
    }""", LATIN_ALLOWED)
