"""Part 5: what a case costs in storage, and how much memory a process holds after many transitions.

Stored bytes: every scenario file of bpmn/scenarios is run by the project's scenario runner
(``workflows.scenarios.run_file``), each on its own copy of one seeded database on a throwaway
PostgreSQL; for each procedure its longest path (the scenario whose case signed the
most records) is reported: the state (stored, i.e. after PostgreSQL's compression, and raw), the
case row, its task rows, its signed records, their log leaves with the log subtree hashes they
completed, and the inquiries, notifications and outgoing messages it made. Row sizes are pg_column_size of the whole row (indexes not counted).

Memory: one process (as a worker would) runs ``--rss-transitions`` real transitions (founding
cases: submit, four inquiry answers, the site visit, county and province decisions) through the domain operations
with pre-unlocked signers on SQLite, and its resident set size is read every 1,000 transitions.
Part 1 also reports the gunicorn workers' RSS after its requests.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Driver, Postgres, Row, create_site_app, log, make_site, rss_of, sqlite_pragmas

SIZE_SQL = """
SELECT
  (SELECT pg_column_size(state) FROM cases WHERE id = :id) AS state_stored,
  (SELECT octet_length(state) FROM cases WHERE id = :id) AS state_raw,
  (SELECT pg_column_size(c.*) FROM cases c WHERE id = :id) AS case_row,
  (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM case_tasks t WHERE case_id = :id) AS tasks,
  (SELECT count(*) FROM records WHERE case_id = :id) AS records_n,
  (SELECT coalesce(sum(pg_column_size(r.*)), 0) FROM records r WHERE case_id = :id) AS records,
  (SELECT coalesce(sum(octet_length(canonical) + coalesce(octet_length(form_data), 0) + octet_length(signature)), 0)
     FROM records WHERE case_id = :id) AS records_raw,
  (SELECT coalesce(sum(pg_column_size(l.*)), 0) FROM log_leaves l JOIN records r ON r.id = l.record_id
     WHERE r.case_id = :id)
  + (SELECT coalesce(sum(pg_column_size(n.*)), 0) FROM log_nodes n
     WHERE ((n.index + 1) << n.level) - 1 IN (SELECT log_index FROM records WHERE case_id = :id)) AS leaves,
  (SELECT coalesce(sum(pg_column_size(i.*)), 0) FROM inquiries i WHERE case_id = :id) AS inquiries,
  (SELECT coalesce(sum(pg_column_size(n.*)), 0) FROM notifications n WHERE case_id = :id) AS notifications,
  (SELECT coalesce(sum(pg_column_size(o.*)), 0) FROM outbox_messages o JOIN notifications n ON n.id = o.notification_id
     WHERE n.case_id = :id) AS outbox
"""


def stored_bytes(data_dir: Path) -> dict[str, Any]:
    """Every scenario of every procedure package, each run by the project's own runner
    (``workflows.scenarios.run_file``: its clock, working days, uploads by the step's actor, checks) on
    its own copy of one seeded database, and the bytes its cases hold."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from workflows import procedures, scenarios
    bpmn_dir = ROOT / "bpmn"
    folder = Path(tempfile.mkdtemp(prefix="size-", dir=data_dir))
    postgres = Postgres(fast=True).start()
    measured, failed = [], []
    try:
        site = make_site(postgres.create_database("bench_size"), folder)
        paths = [path for key in procedures.package_keys(bpmn_dir) for path in scenarios.scenario_files(bpmn_dir, key)]
        for number, path in enumerate(paths):
            name = f"bench_size_{number}"
            postgres.psql(f'CREATE DATABASE "{name}" OWNER bench TEMPLATE "bench_size"')
            engine = create_engine(postgres.url(name))
            try:
                with Session(engine) as session:
                    run = scenarios.run_file(session, bpmn_dir, path, folder / f"documents-{number}",
                                             site.env["SYSTEM_SIGNING_PIN"], site.env["CA_KEY_PASSPHRASE"])
                    for role, case in run.cases.items():
                        row = session.execute(text(SIZE_SQL), {"id": case.id}).mappings().one()
                        measured.append({"scenario": f"{path.parent.name}/{path.stem}", "case": role,
                                         "process": case.process_key, "status": case.status, **dict(row)})
            except scenarios.ScenarioFailed as failure:
                failed.append(str(failure))
            finally:
                engine.dispose()
                postgres.drop_database(name)
    finally:
        postgres.stop()
        import shutil
        shutil.rmtree(folder, ignore_errors=True)
    if failed:
        raise RuntimeError("scenarios failed: " + "; ".join(failed))
    return {"cases": measured, "scenarios": len(paths)}


def rss_run(data_dir: Path, transitions: int) -> dict[str, Any]:
    from bench.verify import OFFICES
    folder = Path(tempfile.mkdtemp(prefix="rss-", dir=data_dir))
    site = make_site(f"sqlite:///{folder / 'app.db'}", folder)
    app = create_site_app(site)
    samples: list[tuple[int, int]] = []
    started = time.perf_counter()
    with app.app_context():
        from web.extensions import db
        sqlite_pragmas(db.engine, synchronous="OFF")
        done = 0
        next_sample = 0
        with Driver(app) as driver:
            number = 0
            while done < transitions:
                county, county_actor, province_actor = OFFICES[number % len(OFFICES)]
                applicant = ("applicant1", "applicant2")[number % 2]
                number += 1
                case = driver.start("center_founding", applicant)
                driver.complete(case, "submit_application", applicant, driver.application(case, applicant, county))
                answered = len(driver.answer_inquiries(case)) + len(driver.site_visit(case, county_actor))
                driver.complete(case, "county_review", county_actor, {"decision": "approve"})
                driver.complete(case, "province_review", province_actor, {"decision": "approve"})
                done += 3 + answered
                db.session.expunge_all()
                if done >= next_sample:
                    samples.append((done, rss_of(os.getpid())))
                    if next_sample == 0:
                        log(f"size: RSS {samples[-1][1] / 2**20:.0f} MiB after the first case")
                    next_sample += 1000
            samples.append((done, rss_of(os.getpid())))
        db.session.remove()
        db.engine.dispose()
    seconds = time.perf_counter() - started
    import shutil
    shutil.rmtree(folder, ignore_errors=True)
    return {"samples": samples, "transitions": done, "seconds": seconds}


def run(args, data_dir: Path) -> tuple[list[Row], dict]:
    log("size: every scenario on PostgreSQL")
    sizes = stored_bytes(data_dir)
    rows = []
    longest: dict[str, dict] = {}
    for entry in sizes["cases"]:
        if entry["records_n"] >= longest.get(entry["process"], {}).get("records_n", -1):
            longest[entry["process"]] = entry
    for process, e in sorted(longest.items()):
        total = (e["case_row"] + e["tasks"] + e["records"] + e["leaves"] + e["inquiries"] + e["notifications"]
                 + e["outbox"])
        rows.append(Row("5 size [postgresql]", f"bytes per case, {process} longest path ({e['scenario']}, "
                        f"{e['records_n']} records)", total / 1024, "KiB",
                        note=(f"state {e['state_stored'] / 1024:.1f} KiB stored ({e['state_raw'] / 1024:.1f} raw); "
                              f"case row {e['case_row'] / 1024:.1f}; tasks {e['tasks'] / 1024:.1f}; records "
                              f"{e['records'] / 1024:.1f} ({e['records_raw'] / 1024:.1f} raw); log leaves and subtrees "
                              f"{e['leaves'] / 1024:.1f}; inquiries {e['inquiries'] / 1024:.1f}; notifications "
                              f"{e['notifications'] / 1024:.1f}; outbox {e['outbox'] / 1024:.1f} KiB")))
    log(f"size: RSS over {args.rss_transitions:,} transitions")
    rss = rss_run(data_dir, args.rss_transitions)
    first, last = rss["samples"][0], rss["samples"][-1]
    after_1k = next((s for s in rss["samples"] if s[0] >= 1000), last)
    per_1k = (last[1] - after_1k[1]) / max(1, (last[0] - after_1k[0]) / 1000)
    rows.append(Row("5 size [sqlite]", f"process RSS after {last[0]:,} transitions (domain operations)",
                    last[1] / 2**20, "MiB", first[1] / 2**20, "after the first case", last[1] / first[1],
                    note=f"{per_1k / 2**20:+.1f} MiB per 1,000 transitions after the first 1,000; "
                         f"{last[0] / rss['seconds']:.0f} transitions/s"))
    report = "Stored bytes per case (every scenario, PostgreSQL, KiB):\n" + "\n".join(
        f"  {e['scenario']:<52} {e['case']:<6} {e['status']:<13} records {e['records_n']:>3}  state "
        f"{e['state_stored'] / 1024:6.1f} ({e['state_raw'] / 1024:6.1f} raw)  records {e['records'] / 1024:6.1f}  "
        f"tasks {e['tasks'] / 1024:4.1f}  other {(e['leaves'] + e['inquiries'] + e['notifications'] + e['outbox']) / 1024:5.1f}"
        for e in sizes["cases"]) + "\nRSS samples (transitions, MiB): " + ", ".join(
        f"{n}: {b / 2**20:.0f}" for n, b in rss["samples"])
    return rows, {"stored": sizes, "rss": rss, "report": report}
