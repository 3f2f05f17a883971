"""Response headers every page and API answer carries, and trusted reverse proxies.

The Content-Security-Policy allows nothing inline: every script and style sheet is a file the
application serves itself (templates use no ``<script>`` bodies, event attributes or ``style``
attributes; the browser tests fail on any CSP violation). The certificate template is rendered to
PDF by WeasyPrint and never served as a page, so its inline styles are outside this policy.
"""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

#: the largest id a URL may name: ids are 32-bit integers in the database, so a longer number is
#: a page that does not exist (404), not a database error
MAX_URL_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: a non-negative id the database can hold."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 (werkzeug's name)
        kwargs.setdefault("max", MAX_URL_ID)
        super().__init__(map, *args, **kwargs)

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
))

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def local_target(value: object, fallback: str) -> str:
    """Where to go after a form (a ``next`` field or parameter): the value only when it is a path of
    this application itself (no scheme, no host, no control character, space or backslash that a
    browser would strip or turn into a host, and a route of ours answers it), else ``fallback``."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 2000:
        return fallback
    if any(ord(char) < 0x21 or ord(char) == 0x7F or char == "\\" for char in value):
        return fallback
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return fallback
    try:
        current_app.url_map.bind("localhost").match(parts.path, method="GET")
    except HTTPException:
        return fallback
    return urlunsplit(("", "", parts.path, parts.query, ""))


def init_app(app: Flask) -> None:
    """Call before any blueprint is registered (the id converter applies to rules added later)."""
    app.url_map.converters["int"] = IdConverter
    if app.config.get("PROXY_COUNT"):
        # the client address (sign-in throttling counts by it) and scheme from the last PROXY_COUNT
        # entries of X-Forwarded-For/-Proto, the ones our proxies wrote; X-Forwarded-Host is not
        # taken (deploy/nginx.conf.template passes the Host header itself, and a client could send one)
        count = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=0)
    secure = bool(app.config.get("SESSION_COOKIE_SECURE"))

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if not request.path.startswith(("/static/", "/fonts/", "/vendor/", "/pki/")):
            # pages and answers may hold personal data: never kept by a shared cache or the back button
            response.headers.setdefault("Cache-Control", "no-store")
        return response
