"""Part 6: the lists that prove every center in view against its signed records, as the county's and
province's pages show them, by how many licensed centers the county has (SQLite).

Licensed centers are founded through the domain operations in Arak on a fresh database, in two
steps (``--lists-sizes``). At each size, under the application (the Flask test client, signed in),
pages are read in alternation for ``--lists-seconds`` each, against the case list as baseline:

  baseline        GET /cases as arak_officer (a page list of cases: no center proved)
  county inbox    GET /inbox as arak_officer: the tasks, the centers that missed reports and the managers
                  behind on training (every licensed center of the county proved once: facts.check_centers)
  province inbox  GET /inbox as markazi_officer (the province's flagged and late ones)
  monitoring      GET /monitoring as markazi_officer: besides its aggregates, the missed reports, the
                  centers' activity and reach, and training (the same centers, proved once)
  evaluations     GET /evaluations as markazi_officer (the confirmed scores: none here)
"""
from __future__ import annotations

import time
from pathlib import Path

from bench.common import PASSWORD, Driver, Row, create_site_app, log, make_site, median, temporary_folder

PAGES = (("county inbox", "arak_officer", "/inbox"), ("province inbox", "markazi_officer", "/inbox"),
         ("monitoring", "markazi_officer", "/monitoring"), ("evaluations", "markazi_officer", "/evaluations"))


def _national_id(n: int) -> str:
    body = f"{n:09d}"[-9:]
    remainder = sum(int(d) * (10 - i) for i, d in enumerate(body)) % 11
    return body + str(remainder if remainder < 2 else 11 - remainder)


def _read(client, path: str, seconds: float, baseline: str = "/cases") -> tuple[list[float], list[float]]:
    """Read the page and the baseline in alternation for about ``seconds``: their times in ms."""
    page, base = [], []
    client.get(path), client.get(baseline)  # warm-up
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop or len(page) < 5:
        for url, times in ((path, page), (baseline, base)):
            start = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (url, response.status_code)
    return page, base


def run(args, data_dir: Path) -> tuple[list[Row], dict]:
    sizes = [int(s) for s in args.lists_sizes.split(",")]
    rows, details = [], {}
    with temporary_folder(data_dir, "lists-") as folder:
        site = make_site(f"sqlite:///{folder}/app.db", folder)
        app = create_site_app(site)
        app.config.update(WTF_CSRF_ENABLED=False, SESSION_COOKIE_SECURE=False)
        made = 0
        for size in sizes:
            log(f"lists: founding centers up to {size}")
            started = time.perf_counter()
            with app.app_context(), Driver(app) as driver:
                while made < size:
                    driver.found_center("applicant1" if made % 2 else "applicant2",
                                        manager_id=_national_id(700_000 + made))
                    made += 1
            log(f"lists: {size} centers in {time.perf_counter() - started:.0f} s")
            client = app.test_client()
            found = {}
            for name, username, path in PAGES:
                client.post("/logout")
                client.post("/login", data={"username": username, "password": PASSWORD})
                page, base = _read(client, path, args.lists_seconds)
                found[name] = {"page_ms": median(page), "baseline_ms": median(base), "n": len(page)}
                rows.append(Row("6 lists [sqlite]", f"{name}, {size} licensed centers in the county", median(page), "ms",
                                median(base), "GET /cases", median(page) / median(base),
                                note=f"{len(page)} reads of each over {args.lists_seconds:.0f} s"))
            details[size] = found
    return rows, {"sizes": details}
