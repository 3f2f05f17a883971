"""PDF rendering with WeasyPrint from local files only, and QR code images."""

import base64
import io
import mimetypes
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import qrcode
import qrcode.constants
from weasyprint import HTML, Attachment
from weasyprint.urls import URLFetcher, URLFetcherResponse

from .errors import PdfError, ResourceRefusedError

__all__ = ["LocalURLFetcher", "qr_data_uri", "render_pdf"]


class LocalURLFetcher(URLFetcher):
    """A WeasyPrint URL fetcher serving data: URIs and file:// URLs under allowed roots only.

    Every other URL is refused before any network I/O and remembered in `refused`, as is any
    file that cannot be read; render_pdf then fails instead of printing a page that
    silently lacks a font or an image.
    """

    def __init__(self, allowed_roots: Sequence[str]) -> None:
        # The parent opener only ever sees data: URIs.
        super().__init__(allowed_protocols=("data",))
        try:
            self.roots = tuple(Path(root).resolve(strict=True) for root in allowed_roots)
        except OSError as exc:
            raise PdfError(f"allowed root does not exist: {exc}") from exc
        self.refused: list[str] = []

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        """Return the resource at `url`, or raise ResourceRefusedError."""
        try:
            scheme = urlsplit(url).scheme.lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file":
                path = self._local_path(url)
                content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(
                    path.as_uri(), path.read_bytes(), {"Content-Type": content_type}
                )
            raise ResourceRefusedError(f"scheme not allowed: {scheme or 'none'}")
        except Exception as exc:
            self.refused.append(url)
            if isinstance(exc, ResourceRefusedError):
                raise
            raise ResourceRefusedError(f"cannot read {url}: {exc}") from exc

    def _local_path(self, url: str) -> Path:
        parts = urlsplit(url)
        # A file URL naming another host is an FTP fetch to urllib: refuse it.
        if parts.netloc not in ("", "localhost"):
            raise ResourceRefusedError(f"file URL names a host: {parts.netloc}")
        path = Path(url2pathname(parts.path)).resolve(strict=True)  # url2pathname unquotes
        if not path.is_file() or not any(path.is_relative_to(root) for root in self.roots):
            raise ResourceRefusedError(f"not a file under the allowed roots: {path}")
        return path


def render_pdf(
    html: str,
    *,
    base_url: str,
    allowed_roots: Sequence[str],
    attachments: Sequence[tuple[str, bytes]] = (),
) -> bytes:
    """Render HTML to PDF bytes, fetching only local files under `allowed_roots`, with attachments."""
    names = [name for name, _ in attachments]
    if any(not name for name in names) or len(set(names)) != len(names):
        raise PdfError("attachment names must be non-empty and unique")
    fetcher = LocalURLFetcher(allowed_roots)
    files = [
        Attachment(string=bytes(data), name=name, url_fetcher=fetcher)
        for name, data in attachments
    ]
    pdf = HTML(string=html, base_url=base_url, url_fetcher=fetcher).write_pdf(attachments=files)
    if fetcher.refused:
        raise ResourceRefusedError(f"resources refused or unreadable: {fetcher.refused}")
    if not isinstance(pdf, bytes):
        raise PdfError("WeasyPrint returned no PDF")
    return pdf


def qr_data_uri(text: str) -> str:
    """Return a PNG data URI of a QR code (error correction M) encoding `text`."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
