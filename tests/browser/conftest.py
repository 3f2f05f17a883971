"""A live server on loopback and Debian's Chromium driven by Playwright."""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from browser_support import DESKTOP, PHONE, latin_digits

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
#: flags for a closed network: no background connections, no first-run pages
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: the policy every page must satisfy; the application's own header wins when it sends one
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'; form-action 'self'")
#: reports every Content-Security-Policy violation on the console, where the tests collect errors
REPORT_CSP = """document.addEventListener("securitypolicyviolation", e =>
  console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile + ":" + e.lineNumber));"""


def with_policy(app):
    """The WSGI app, sending CONTENT_SECURITY_POLICY on responses that have none of their own.

    Each body is read whole and its iterable closed here: werkzeug's development server closes it
    only after draining the socket, and a browser that drops the connection first (a favicon fetch
    cut short when the page moves on) makes that drain raise, leaving a static file open until the
    garbage collector reports it during some later test."""
    def wrapped(environ, start_response):
        def start(status, headers, exc_info=None):
            if not any(name.lower() == "content-security-policy" for name, _ in headers):
                headers = [*headers, ("Content-Security-Policy", CONTENT_SECURITY_POLICY)]
            return start_response(status, headers, exc_info)
        body = app(environ, start)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()
    return wrapped


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, with_policy(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module; Playwright's event loop ends with it (pyHanko needs asyncio.run later)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is needed for the browser tests (make test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def screenshot():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    return take


@pytest.fixture
def screens(screenshot):
    """Screenshots of the page as it is, at phone and at desktop width (phone-NAME.png, desktop-NAME.png);
    the page is left at the width it had. Fails if the page is wider than the phone's screen or shows
    Latin digits where Persian ones belong."""
    def take(page, name: str) -> None:
        assert latin_digits(page) == [], name
        before = page.viewport_size
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(150)
        width = page.evaluate("document.documentElement.scrollWidth")
        screenshot(page, f"phone-{name}")
        page.set_viewport_size(DESKTOP)
        page.wait_for_timeout(150)
        screenshot(page, f"desktop-{name}")
        page.set_viewport_size(before)
        assert width <= PHONE["width"], f"{name} is {width}px wide on a {PHONE['width']}px phone"
    return take


def watch(page) -> list[str]:
    """Collects console errors (a resource that failed to load is one), uncaught exceptions, CSP violations
    and requests that failed for another reason than being aborted (by a navigation or a download)."""
    problems: list[str] = []
    page.add_init_script(REPORT_CSP)
    page.on("console", lambda message: problems.append(f"console: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"exception: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url} {request.failure}")
            if request.failure != "net::ERR_ABORTED" else None)
    return problems


@pytest.fixture
def browser_page(browser):
    """A page at phone width that downloads files, with the list its problems are collected in."""
    context = browser.new_context(viewport=PHONE, accept_downloads=True, locale="fa-IR", timezone_id="Asia/Tehran")
    page = context.new_page()
    problems = watch(page)
    yield page, problems
    context.close()
