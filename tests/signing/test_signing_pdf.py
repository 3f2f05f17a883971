"""PDF rendering: Persian RTL with Vazirmatn, a QR image, attachments, and no network."""

import base64
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader

from signing import (
    LocalURLFetcher,
    PdfError,
    ResourceRefusedError,
    canonical_bytes,
    qr_data_uri,
    render_pdf,
)

ROOT = Path(__file__).resolve().parents[2]
FONTS = ROOT / "node_modules" / "vazirmatn" / "fonts" / "ttf"

PAGE = """<!doctype html>
<html lang="fa" dir="rtl"><head><meta charset="utf-8"><style>
@font-face {{ font-family: Vazirmatn; src: url("{regular}"); }}
@font-face {{ font-family: Vazirmatn; font-weight: bold; src: url("{bold}"); }}
@page {{ size: A4; margin: 2cm; }}
body {{ font-family: Vazirmatn; direction: rtl; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #444; padding: 4px; }}
img.qr {{ width: 3cm; height: 3cm; image-rendering: pixelated; }}
</style></head><body>
<h1>مجوز کانون فرهنگی هنری مسجد</h1>
<p>کانون\u200cهای فرهنگی (نمونه) — شماره ۱۴۰۴/۷۷</p>
<table><tr><th>مرحله</th><th>اقدام</th></tr>
<tr><td>۱</td><td>ثبت درخواست</td></tr><tr><td>۲</td><td>تأیید شهرستان</td></tr></table>
<img class="qr" src="{qr}" alt="">
{extra}
</body></html>
"""


def page(extra: str = "") -> str:
    return PAGE.format(
        regular=(FONTS / "Vazirmatn-Regular.ttf").as_uri(),
        bold=(FONTS / "Vazirmatn-Bold.ttf").as_uri(),
        qr=qr_data_uri("https://verify.example/c/case-0001?h=ab12&i=42"),
        extra=extra,
    )


def embedded_files(pdf: bytes) -> dict[str, bytes]:
    reader = PdfFileReader(io.BytesIO(pdf))
    names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    return {
        str(names[i]): names[i + 1]["/EF"]["/F"].data
        for i in range(0, len(names), 2)
    }


def test_renders_persian_page_with_qr_and_attachment(no_network: list[object]) -> None:
    evidence = canonical_bytes({"case_id": "case-0001", "head": "ab" * 32, "records": []})
    pdf = render_pdf(
        page(),
        base_url=ROOT.as_uri() + "/",
        allowed_roots=[str(FONTS)],
        attachments=[("evidence.json", evidence), ("empty.bin", b"")],
    )
    assert pdf.startswith(b"%PDF-")
    assert embedded_files(pdf) == {"evidence.json": evidence, "empty.bin": b""}
    pages = PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Kids"]
    assert len(pages) == 1
    fonts = pages[0]["/Resources"]["/Font"]
    # Subset fonts are named "ABCDEF+<name>": both faces came from node_modules.
    assert sorted(str(fonts[name]["/BaseFont"]).split("+")[1] for name in fonts) == [
        "Vazirmatn",
        "Vazirmatn-Bold",
    ]
    assert no_network == []


def test_qr_data_uri_is_a_png() -> None:
    uri = qr_data_uri("case-0001:" + "ab" * 32)
    assert uri.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert image.format == "PNG"
    assert image.width == image.height


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbar-tools not installed")
def test_qr_code_decodes_back(tmp_path: Path) -> None:
    text = "https://verify.example/v/case-0001.0123456789abcdef0123"
    path = tmp_path / "qr.png"
    path.write_bytes(base64.b64decode(qr_data_uri(text).split(",", 1)[1]))
    result = subprocess.run(["zbarimg", "--raw", "-q", str(path)], capture_output=True, check=True)
    assert result.stdout.decode().strip() == text


def test_font_outside_the_allowed_roots_is_refused(tmp_path: Path, no_network: list[object]) -> None:
    with pytest.raises(ResourceRefusedError) as info:
        render_pdf(page(), base_url=tmp_path.as_uri() + "/", allowed_roots=[str(tmp_path)])
    assert "Vazirmatn-Regular.ttf" in str(info.value)


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PdfError):
        render_pdf("<p>x</p>", base_url=tmp_path.as_uri(), allowed_roots=[str(tmp_path / "missing")])
    with pytest.raises(PdfError):
        render_pdf("<p>x</p>", base_url=tmp_path.as_uri(), allowed_roots=[str(tmp_path)],
                   attachments=[("a.json", b"1"), ("a.json", b"2")])


def test_external_image_is_refused_without_network(no_network: list[object]) -> None:
    url = "http://example.com/x.png"
    with pytest.raises(ResourceRefusedError) as info:
        render_pdf(page(f'<img src="{url}">'), base_url=ROOT.as_uri() + "/", allowed_roots=[str(FONTS)])
    assert url in str(info.value)
    assert no_network == []


def test_relative_url_escaping_the_root_is_refused(no_network: list[object]) -> None:
    with pytest.raises(ResourceRefusedError):
        render_pdf(
            page('<img src="../../../../etc/passwd">'),
            base_url=FONTS.as_uri() + "/",
            allowed_roots=[str(FONTS)],
        )


@pytest.fixture
def fetcher(tmp_path: Path) -> LocalURLFetcher:
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.txt").write_text("fine")
    (tmp_path / "secret.txt").write_text("secret")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    return LocalURLFetcher([str(root)])


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/x.png",
        "https://example.com/x.png",
        "ftp://example.com/x.png",
        "HTTP://example.com/x.png",
        "//example.com/x.png",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "file://example.com/etc/passwd",
        "{root}/../secret.txt",
        "{root}/%2e%2e/secret.txt",
        "{root}/link.txt",
        "{root}/missing.txt",
        "{root}",
    ],
)
def test_fetcher_refuses(fetcher: LocalURLFetcher, no_network: list[object], url: str) -> None:
    url = url.format(root=fetcher.roots[0].as_uri())
    with pytest.raises(ResourceRefusedError):
        fetcher.fetch(url)
    assert fetcher.refused == [url]
    assert no_network == []


def test_fetcher_serves_files_under_root_and_data_uris(fetcher: LocalURLFetcher) -> None:
    response = fetcher.fetch(fetcher.roots[0].as_uri() + "/ok.txt")
    assert response.read() == b"fine"
    assert response.content_type == "text/plain"
    assert fetcher.fetch("data:text/plain;base64,aGk=").read() == b"hi"
    assert fetcher.refused == []
