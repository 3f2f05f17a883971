"""The public verification page under damaged uploads and odd tokens: always a Persian verdict, never a 5xx.

A real certificate PDF is sealed once for the module (a licensed case on its own copy of the
seeded database); deterministic mutations of it are uploaded to POST /verify.
"""
from __future__ import annotations

import collections
import io
import os
import random
import re
import time
from urllib.parse import quote

import pytest
from sqlalchemy import select

from forms.messages import FA
from mutations import cms_meaning, layout, pdf_mutations
from support import ACTORS, ROOT, found_center, login
from web import create_app
from web.extensions import db
from workflows.models import Case, Record

pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

WEB_MUTATIONS = 200
REPORT = os.environ.get("VERIFY_FUZZ_REPORT") == "1"
PDF_OK, PDF_BAD = FA["web.verify.pdf_ok"], FA["web.verify.pdf_bad"]
UNKNOWN_TOKEN = FA["web.verify.unknown"]


@pytest.fixture(scope="module")
def site(seeded_db, tmp_path_factory):
    """An application with one licensed case, its certificate PDF and a token for it."""
    folder = tmp_path_factory.mktemp("verify-fuzz")
    url = seeded_db.copy(folder)
    app = create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": url, "STORAGE_DIR": folder / "documents"})
    with app.app_context():
        center = found_center(app, ACTORS["applicant"])
        case = db.session.scalars(select(Case).where(Case.center_id == center.id)).one()
        client = app.test_client()
        login(client, ACTORS["applicant"])
        response = client.get(f"/cases/{case.id}/certificate.pdf")
        assert response.status_code == 200
        last = db.session.scalars(select(Record).where(Record.case_id == case.id).order_by(Record.seq.desc())).first()
        yield {"app": app, "pdf": response.data, "token": f"{case.public_id}.{last.hash[:20]}"}
        db.session.remove()
        db.engine.dispose()
    seeded_db.databases.drop(url)


def upload(client, data: bytes) -> tuple[int, str]:
    page = client.post("/verify", data={"pdf": (io.BytesIO(data), "c.pdf")}, content_type="multipart/form-data")
    return page.status_code, page.get_data(as_text=True)


def verdict_of(status: int, html: str) -> tuple[bool, list[str]]:
    """Whether the page says the PDF holds, and the codes folded away for auditors; checks that
    every problem is in Persian and no code shows outside the folded part."""
    assert status == 200, status
    assert 'id="pdf-result"' in html
    ok, bad = PDF_OK in html, PDF_BAD in html
    assert ok != bad
    codes = re.findall(r'<details><summary>[^<]*</summary><code dir="ltr">([^<]*)</code></details>', html)
    codes = codes[0].split(", ") if codes else []
    assert ok == (codes == []), codes
    for code in codes:
        assert f"web.verify.problem.{code}" in FA, code
        assert FA[f"web.verify.problem.{code}"] in html, code
    shown = re.sub(r"<details>.*?</details>", "", html, flags=re.S)
    assert not any(re.search(rf"\b{re.escape(code)}\b", shown) for code in codes), codes
    assert FA["web.verify.problem.other"] not in html
    return ok, codes


def _result(html: str) -> str:
    return re.search(r'<dl class="facts" id="pdf-result">.*?</dl>', html, re.S).group()


def test_mutated_certificates_get_a_persian_verdict(site):
    client, pdf = site["app"].test_client(), site["pdf"]
    where = layout(pdf)
    status, html = upload(client, pdf)
    assert verdict_of(status, html) == (True, [])
    original_cms, original_result = cms_meaning(pdf, where), _result(html)
    counts, started = collections.Counter(), time.perf_counter()
    for name, mutated in pdf_mutations(pdf, random.Random(1404), WEB_MUTATIONS):
        status, html = upload(client, mutated)
        ok, codes = verdict_of(status, html)
        counts[codes[0] if codes else "OK"] += 1  # by the first problem, as the offline tally
        if ok:  # only an unsigned, ignored part changed, and the page says what it says of the original
            assert len(mutated) >= where.signed_end and where.covered_bytes(mutated) == where.covered_bytes(pdf), name
            assert cms_meaning(mutated, where) == original_cms, name
            assert _result(html) == original_result, name
    assert "verification_error" not in counts
    assert sum(counts.values()) >= WEB_MUTATIONS * 0.95 and counts["OK"] < WEB_MUTATIONS / 2
    if REPORT:
        print(f"\nweb: {WEB_MUTATIONS} mutations in {time.perf_counter() - started:.1f} s: {dict(counts.most_common())}")


def test_a_damaged_evidence_stream_is_a_verdict_not_a_500(site):
    """The report that opened this: a zlib error in the attached evidence.json answered 500."""
    client, pdf = site["app"].test_client(), site["pdf"]
    start, end = layout(pdf).evidence_stream
    for damaged in (pdf[:start + 30] + bytes(end - start - 30) + pdf[end:],
                    pdf[:start] + b"\xff" * (end - start) + pdf[end:]):
        ok, codes = verdict_of(*upload(client, damaged))
        # the stream does not inflate, or (no longer its declared length) the object around it does not parse
        assert not ok and codes and set(codes) <= {"pdf_attachment_unreadable", "pdf_signature_invalid"}, codes


def test_uploads_that_are_no_pdf_at_all(site):
    client = site["app"].test_client()
    for data in (b"", b"%PDF", b"%PDF-", b"%PDF-1.7\n" + b"<<" * 50_000, b"\x00" * 100, "%PDF-ب".encode()):
        ok, codes = verdict_of(*upload(client, data))
        assert not ok and codes and set(codes) <= {"not_a_pdf", "pdf_unreadable"}, (data[:10], codes)
    page = client.post("/verify", data={"pdf": "not a file"}, content_type="multipart/form-data")
    assert verdict_of(page.status_code, page.get_data(as_text=True)) == (False, ["not_a_pdf"])


def test_every_code_the_page_can_show_is_in_persian():
    """Each code the verdict can carry, read from the sources that make them, has a Persian label."""
    from signing import errors

    sources = {name: (ROOT / "signing" / f"{name}.py").read_text("utf-8")
               for name in ("records", "bundle", "pades", "verdict", "pki")}
    codes = {cls.code for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.SigningError)}
    path_codes = {cls.code for cls in vars(errors).values()
                  if isinstance(cls, type) and issubclass(cls, errors.CertificatePathError)}
    codes |= {f"checkpoint_{code}" for code in path_codes}
    codes |= set(re.findall(r'found\.append\(\("([a-z_]+)"', sources["records"]))
    codes |= set(re.findall(r'return \[?\(?\*?(?:found, )?\("([a-z_]+)"', sources["records"]))
    codes |= set(re.findall(r'BundleProblem\((?:None|seq), "([a-z_]+)"', sources["bundle"]))
    codes |= set(re.findall(r'problems\.append\("([a-z_]+)"\)', sources["pades"]))
    codes |= set(re.findall(r'Finding\("([a-z_]+)"', sources["verdict"]))
    codes |= {"not_a_pdf"}  # the page's own, for an upload that is no PDF
    assert {"unknown_key", "malformed", "bundle_malformed", "pdf_modified", "seal_before_checkpoint"} <= codes
    assert sorted(code for code in codes if f"web.verify.problem.{code}" not in FA) == []


ODD_TOKENS = [
    "x", ".", "..", "a.b", "a" * 10_000, "\x00", "a\x00b.0123456789abcdef0123", "پرونده.0123456789abcdef0123",
    "\ud800", "abc.0123456789ABCDEF0123", "abc.0123456789abcdef012", "../../etc/passwd", "a/b.0123456789abcdef0123",
    "<script>alert(1)</script>", "' OR 1=1 --.0123456789abcdef0123", "%00", "%ff%fe", "\u202eabc.0123456789abcdef0123",
    "A" * 33 + ".0123456789abcdef0123", " abc.0123456789abcdef0123", "abc.0123456789abcdef0123\n",
]


@pytest.mark.parametrize("how", ["path", "query"])
def test_odd_tokens_are_not_found_never_a_500(site, how):
    client = site["app"].test_client()
    assert client.get(f"/verify/{site['token']}").status_code == 200  # the real one resolves
    for token in ODD_TOKENS:
        quoted = quote(token.encode("utf-8", "surrogatepass"), safe="")
        if how == "path":
            page = client.get(f"/verify/{quoted}")
        else:
            page = client.get(f"/verify?token={quoted}", follow_redirects=True)
        html = page.get_data(as_text=True)
        assert page.status_code in (200, 404), (token[:40], page.status_code)
        # a Persian "not found": the page's own verdict, or the site's 404 page; or, for a query
        # that normalises to nothing, the empty form
        assert UNKNOWN_TOKEN in html or FA["web.error.http_404"] in html or (
            how == "query" and page.status_code == 200 and 'id="verify-result"' not in html), (token[:40], html[:300])
        assert "<script>alert" not in html
    # the raw bytes a browser could send: a path that is not UTF-8
    for raw in ("/verify/%ff%fe.0123456789abcdef0123", "/verify/%00", "/verify?token=%00%ff"):
        page = client.get(raw, follow_redirects=True)
        assert page.status_code in (200, 404), raw
