"""Part 3: one sealed PDF certificate against a bare WeasyPrint render of the same HTML.

Licensed cases are made through the domain operations on a fresh SQLite database. For each
case, under an app and request context, alternately:

  sealed  web.certificate.render_certificate(context): the evidence bundle (records, certificates,
          CRLs, inclusion proofs over the whole log, a signed checkpoint when the log grew), the
          WeasyPrint render with the bundle attached, the PAdES seal (pyHanko)
  bare    web.certificate.certificate_html(context) + weasyprint.HTML(string=...).write_pdf()

The context (web.certificate.certificate_context, which verifies the case) is built before
either clock starts and timed apart. Then a batch: context + sealed PDF for every case in one
process, and split between two processes: certificates per minute. When part 2's database
exists, one certificate is also made there, where the log holds its 200,000 leaves.
"""
from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

from bench.common import (
    Driver, Row, Site, create_site_app, log, make_site, median, pct, run_flask, site_env, sqlite_pragmas,
)
from bench.profiling import format_summary, profile, summarize


def _contexts(app, case_ids: list[int]):
    from web.certificate import certificate_context
    from web.extensions import db
    from workflows.models import Case
    for case_id in case_ids:
        with app.test_request_context(base_url="https://centers.example"):
            case = db.session.get(Case, case_id)
            start = time.perf_counter()
            context = certificate_context(case)
            yield case_id, context, time.perf_counter() - start


def compare(site: Site, case_ids: list[int]) -> dict[str, list[float]]:
    import weasyprint

    from web.certificate import certificate_html, render_certificate
    app = create_site_app(site)
    times: dict[str, list[float]] = {"sealed": [], "bare": [], "context": [], "sealed_bytes": [], "bare_bytes": []}
    with app.app_context():
        font_dir = app.config["FONT_DIR"]
        # warm-up: fonts, the seal key, the specs
        for _, context, _ in _contexts(app, case_ids[:1]):
            with app.test_request_context(base_url="https://centers.example"):
                render_certificate(context)
        for number, (case_id, context, context_seconds) in enumerate(_contexts(app, case_ids)):
            with app.test_request_context(base_url="https://centers.example"):
                def bare() -> bytes:
                    html = certificate_html(context)
                    return weasyprint.HTML(string=html, base_url=font_dir.as_uri() + "/").write_pdf()

                order = [("bare", bare), ("sealed", lambda: render_certificate(context))]
                for name, action in (order if number % 2 == 0 else order[::-1]):
                    start = time.perf_counter()
                    pdf = action()
                    times[name].append(time.perf_counter() - start)
                    times[f"{name}_bytes"].append(len(pdf))
                times["context"].append(context_seconds)
        from web.extensions import db
        db.session.remove()
        db.engine.dispose()
    return times


def repeated(site: Site, case_ids: list[int], times: int = 5) -> dict[str, list[float]]:
    """A download as the page serves it (``pdf_response``: the facts proved, then the kept certificate of
    the chain's head, or a new one rendered, sealed and kept): the first of each case, then repeated."""
    from sqlalchemy import select

    from web.certificate import pdf_response
    from web.extensions import db
    from workflows.models import Case, User
    app = create_site_app(site)
    found: dict[str, list[float]] = {"first": [], "repeated": []}
    with app.app_context():
        for case_id in case_ids:
            with app.test_request_context(base_url="https://centers.example"):
                case = db.session.get(Case, case_id)
                applicant = db.session.scalars(select(User).where(User.id == case.applicant_id)).one()
                for number in range(times + 1):
                    start = time.perf_counter()
                    pdf_response(case, applicant)
                    db.session.commit()
                    found["first" if number == 0 else "repeated"].append(time.perf_counter() - start)
        db.session.remove()
        db.engine.dispose()
    return found


def _batch_worker(site: Site, case_ids: list[int], out) -> None:
    from web.certificate import render_certificate
    app = create_site_app(site)
    with app.app_context():
        start = time.perf_counter()
        for _, context, _ in _contexts(app, case_ids):
            with app.test_request_context(base_url="https://centers.example"):
                render_certificate(context)
        out.put((len(case_ids), time.perf_counter() - start))
        from web.extensions import db
        db.session.remove()
        db.engine.dispose()


def batch(site: Site, case_ids: list[int], processes: int) -> float:
    """Certificates per minute (context + sealed PDF) with the cases split among the processes."""
    context = mp.get_context("spawn")
    out = context.Queue()
    workers = [context.Process(target=_batch_worker, args=(site, case_ids[i::processes], out))
               for i in range(processes)]
    for w in workers:
        w.start()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    return sum(n / seconds for n, seconds in results) * 60


def profile_sealed(site: Site, case_id: int, times: int = 3) -> str:
    from web.certificate import render_certificate
    app = create_site_app(site)
    with app.app_context():
        text = ""
        for _, context, _ in _contexts(app, [case_id]):
            with app.test_request_context(base_url="https://centers.example"):
                _, session = profile(lambda: [render_certificate(context) for _ in range(times)])
                text = format_summary(summarize(session, top=12), f"render_certificate x{times}")
        from web.extensions import db
        db.session.remove()
        db.engine.dispose()
    return text


def big_log(data_dir: Path) -> dict[str, Any] | None:
    """One sealed certificate on part 2's database (a log of about 200,000 leaves), if it exists."""
    folders = sorted(data_dir.glob("verify-*/records.db"), key=lambda p: p.stat().st_size)
    if not folders:
        return None
    folder = folders[-1].parent
    url = f"sqlite:///{folders[-1]}"
    site = Site(url, folder, site_env(url, folder))
    run_flask(site.env, "db", "upgrade")  # a database kept from an older checkout
    from sqlalchemy import func, select
    app = create_site_app(site)
    with app.app_context():
        from web.extensions import db
        from workflows.models import Case, LogLeaf
        leaves = db.session.scalar(select(func.count()).select_from(LogLeaf))
        case_id = db.session.scalar(select(Case.id).where(Case.status == "licensed", Case.public_id.not_like("replica-%"))
                                    .order_by(Case.id).limit(1))
        db.session.remove()
        db.engine.dispose()
    if case_id is None:  # a database left by a part 2 that did not finish
        return None
    times = compare(site, [case_id] * 3)
    return {"leaves": leaves, "sealed": median(times["sealed"]), "bare": median(times["bare"]),
            "context": median(times["context"])}


def run(args, data_dir: Path) -> tuple[list[Row], dict]:
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="certs-", dir=data_dir))
    site = make_site(f"sqlite:///{folder / 'app.db'}", folder)
    app = create_site_app(site)
    with app.app_context():
        from web.extensions import db
        sqlite_pragmas(db.engine, synchronous="OFF")
        with Driver(app) as driver:
            from bench.verify import OFFICES
            case_ids = []
            for number in range(args.cert_count):
                county, county_actor, province_actor = OFFICES[number % len(OFFICES)]
                case_ids.append(driver.found_center(("applicant1", "applicant2")[number % 2], county=county,
                                                    county_actor=county_actor, province_actor=province_actor).id)
        db.session.remove()
        db.engine.dispose()
    log(f"certificates: {len(case_ids)} licensed cases; sealed vs bare")
    times = compare(site, case_ids)
    log("certificates: batch in 1 and 2 processes")
    per_minute_1 = batch(site, case_ids, 1)
    per_minute_2 = batch(site, case_ids, 2)
    log("certificates: a download, then repeated (the kept certificate)")
    downloads = repeated(site, case_ids)
    profile_text = profile_sealed(site, case_ids[0])
    log("certificates: on the verification database (large log), if present")
    large = big_log(data_dir)
    sealed, bare = median(times["sealed"]), median(times["bare"])
    rows = [
        Row("3 certificates", f"sealed PDF, render_certificate (median of {len(times['sealed'])})", sealed * 1000, "ms",
            bare * 1000, "bare WeasyPrint, same HTML", sealed / bare, "<= 1.3x bare", sealed / bare <= 1.3,
            f"p95 {pct(times['sealed'], 0.95) * 1000:.0f} ms vs {pct(times['bare'], 0.95) * 1000:.0f} ms; "
            f"{median(times['sealed_bytes']) / 1024:.0f} KB vs {median(times['bare_bytes']) / 1024:.0f} KB"),
        Row("3 certificates", "certificate_context (data, verify_case), before either", median(times["context"]) * 1000,
            "ms"),
        Row("3 certificates", f"repeated download, kept certificate (pdf_response, median of {len(downloads['repeated'])})",
            median(downloads["repeated"]) * 1000, "ms", median(downloads["first"]) * 1000, "first download",
            median(downloads["repeated"]) / median(downloads["first"]), "<= 20 ms",
            median(downloads["repeated"]) * 1000 <= 20, f"p95 {pct(downloads['repeated'], 0.95) * 1000:.0f} ms"),
        Row("3 certificates", "batch, 1 process (context + sealed PDF)", per_minute_1, "per min",
            60 / (bare + median(times["context"])), "bare + context, 1 proc",
            per_minute_1 / (60 / (bare + median(times["context"])))),
        Row("3 certificates", "batch, 2 processes", per_minute_2, "per min", per_minute_1, "1 process",
            per_minute_2 / per_minute_1),
    ]
    if large:
        rows.append(Row("3 certificates", f"sealed PDF with a log of {large['leaves']:,} leaves", large["sealed"] * 1000,
                        "ms", large["bare"] * 1000, "bare, same case", large["sealed"] / large["bare"], "<= 1.3x bare",
                        large["sealed"] / large["bare"] <= 1.3))
    import shutil
    shutil.rmtree(folder, ignore_errors=True)
    return rows, {"times": {k: [round(x, 4) for x in v] for k, v in times.items()}, "large_log": large,
                  "report": profile_text}
