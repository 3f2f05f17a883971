"""Part 4: how the inbox, the dashboard count and the case page grow with the number of cases
(PostgreSQL).

Running a million real cases is out of reach (real cases are made at ~20 signed records/s here),
so the database holds a few real cases made through the domain operations and, around them, rows
generated with SQL (INSERT ... SELECT generate_series) shaped like real ones:

  cases          the state text, spec version and columns of a real licensed case; statuses
                 70% licensed, 10% rejected, 6% county_review, 4% province_review, 5% inquiries,
                 3% correction, 2% draft; spread evenly over the 36 counties and four years
  case_tasks     one row per waiting case, as a transition saves it (office or applicant)
  records        the first 1 to 8 records of a real case (canonical text, signature, form data),
                 per status; unique random hashes; no log leaves (nothing here reads the log)
  inquiries      four per submitted case
  notifications  two per case (the applicant, an officer of the county where it has people)
  counters       case_counts, case_day_counts and record_timings for those rows, as transitions keep them

Measured at each size (median and p95 of ``--growth-repeats`` runs, as arak_officer unless said):
  inbox query     workflows.inbox.search_tasks (default filters: open queue, by deadline, page 1)
  dashboard count workflows.monitoring.cases_by_status for HQ (every case, by province/process/status;
                  read from the case_counts counters)
  case page       GET /cases/<id> of a real case waiting at county review (timeline, verification, nav)
  inbox page      GET /inbox (the query above, the counts, the nav)
  monitoring page GET /monitoring as hq_auditor (its default range, the last 30 days: about 2% of the
                  four years of synthetic history), fewer repeats
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Driver, Postgres, Row, create_site_app, log, make_site, median, pct

STATUS_SQL = """CASE
  WHEN g % 100 < 60 THEN 'licensed' WHEN g % 100 < 70 THEN 'rejected' WHEN g % 100 < 76 THEN 'county_review'
  WHEN g % 100 < 80 THEN 'province_review' WHEN g % 100 < 85 THEN 'inquiries' WHEN g % 100 < 88 THEN 'correction'
  WHEN g % 100 < 90 THEN 'draft' ELSE 'licensed' END"""
RECORDS_PER_STATUS = {"licensed": 10, "rejected": 8, "county_review": 7, "province_review": 8, "inquiries": 1,
                      "correction": 6, "draft": 0}
OPEN = ("county_review", "province_review", "inquiries", "correction", "draft")


def setup_templates(app) -> dict[str, Any]:
    """Real cases: two licensed ones (templates) and one waiting at county review in Arak (the page)."""
    from sqlalchemy import select
    from web.extensions import db
    from workflows.models import Case, CaseTask, Office, Record, User
    with Driver(app) as driver:
        licensed = driver.found_center("applicant1")
        driver.found_center("applicant2", county="isfahan-kashan", county_actor="kashan_officer",
                            province_actor="isfahan_officer")
        page = driver.to_county_review("applicant1", "markazi-arak")
    s = db.session
    template = s.get(Case, licensed.id)
    tasks = {t.name: t for t in s.scalars(select(CaseTask).where(CaseTask.case_id == page.id))}
    info = {
        "template_id": template.id, "page_id": page.id,
        "counties": list(s.scalars(select(Office.id).where(Office.kind == "county").order_by(Office.id))),
        "applicants": list(s.scalars(select(User.id).where(User.role == "applicant").order_by(User.id))),
        "officers": {row.office_id: row.id for row in s.execute(select(User.office_id, User.id).where(
            User.role == "county_officer"))},
        "review_task": {c: getattr(tasks["county_review"], c) for c in ("title", "lane", "form_key")},
        "records": len(list(s.scalars(select(Record.id).where(Record.case_id == template.id)))),
    }
    return info


def grow(connection, info: dict[str, Any], start: int, stop: int) -> None:
    """Synthetic cases numbered start+1..stop and their rows, in one transaction per table."""
    from sqlalchemy import text
    p = {"a": start + 1, "b": stop, "tpl": info["template_id"], "counties": info["counties"],
         "applicants": info["applicants"]}
    connection.execute(text(f"""
        INSERT INTO cases (public_id, process_key, spec_version, serializer_version, state, lock_version, status,
                           outcome, applicant_id, county_office_id, title, center_id, linked_case_id, wake_at,
                           notified_seq, created_at, updated_at)
        SELECT 'syn-' || g, t.process_key, t.spec_version, t.serializer_version, t.state, 3, {STATUS_SQL},
               CASE WHEN g % 100 < 60 OR g % 100 >= 90 THEN 'license_issued'
                    WHEN g % 100 < 70 THEN 'rejected_by_county' END,
               (CAST(:applicants AS int[]))[1 + g % cardinality(CAST(:applicants AS int[]))], (CAST(:counties AS int[]))[1 + g % cardinality(CAST(:counties AS int[]))],
               t.title || ' ' || g, NULL, NULL,
               CASE WHEN g % 100 BETWEEN 70 AND 89 THEN now() + ((g % 20) - 5) * interval '1 day' END,
               0, now() - (g % 1460) * interval '1 day' - (g % 86400) * interval '1 second',
               now() - (g % 1460) * interval '1 day' + interval '3 days'
        FROM generate_series(CAST(:a AS int), CAST(:b AS int)) AS g, (SELECT * FROM cases WHERE id = CAST(:tpl AS int)) AS t"""), p)
    connection.execute(text("""
        CREATE TEMP TABLE IF NOT EXISTS syn_cases AS SELECT id, public_id, status, county_office_id, applicant_id,
               created_at FROM cases WITH NO DATA"""))
    connection.execute(text("TRUNCATE syn_cases"))
    connection.execute(text("""
        INSERT INTO syn_cases SELECT id, public_id, status, county_office_id, applicant_id, created_at FROM cases
        WHERE public_id LIKE 'syn-%' AND substring(public_id from 5)::int BETWEEN CAST(:a AS int) AND CAST(:b AS int)"""), p)
    rt = info["review_task"]
    connection.execute(text("""
        INSERT INTO case_tasks (case_id, task_id, name, title, lane, form_key, office_id, assignee_id, created_at, due_at)
        SELECT c.id, md5(c.public_id)::uuid::text,
               CASE c.status WHEN 'county_review' THEN 'county_review' WHEN 'province_review' THEN 'province_review'
                             WHEN 'correction' THEN 'correct_application' ELSE 'submit_application' END,
               :title, CASE WHEN c.status IN ('county_review', 'province_review') THEN
                             CASE c.status WHEN 'county_review' THEN 'county' ELSE 'province' END ELSE 'applicant' END,
               CASE WHEN c.status IN ('county_review', 'province_review') THEN :form_key ELSE 'founding_application' END,
               CASE c.status WHEN 'county_review' THEN c.county_office_id
                             WHEN 'province_review' THEN (SELECT parent_id FROM offices WHERE id = c.county_office_id) END,
               CASE WHEN c.status IN ('correction', 'draft') THEN c.applicant_id END,
               c.created_at + interval '2 days',
               CASE WHEN c.status IN ('county_review', 'province_review') THEN now() + (c.id % 20 - 5) * interval '1 day' END
        FROM syn_cases c WHERE c.status IN ('county_review', 'province_review', 'correction', 'draft')"""),
        {"title": rt["title"], "form_key": rt["form_key"]})
    counts = " ".join(f"WHEN '{status}' THEN {n}" for status, n in RECORDS_PER_STATUS.items())
    connection.execute(text(f"""
        INSERT INTO records (case_id, seq, action, task_name, actor_user_id, created_at, canonical, hash, signature,
                             key_id, form_data, log_index)
        SELECT c.id, r.seq, r.action, r.task_name, r.actor_user_id, c.created_at + r.seq * interval '1 hour',
               r.canonical, md5(c.id || ':' || r.seq || random()::text) || md5(random()::text || c.id),
               r.signature, r.key_id, r.form_data, NULL
        FROM syn_cases c JOIN records r ON r.case_id = CAST(:tpl AS int)
             AND r.seq <= CASE c.status {counts} ELSE 0 END"""), p)
    # what transitions keep as cases move (the same statements as the migration's backfill)
    connection.execute(text("""
        INSERT INTO record_timings (record_id, case_id, process_key, county_office_id, task_name, action,
                                    created_at, seconds)
        SELECT r.id, r.case_id, c.process_key, c.county_office_id, r.task_name, r.action, r.created_at,
               EXTRACT(EPOCH FROM r.created_at - COALESCE(p.created_at, c.created_at))
        FROM syn_cases s JOIN cases c ON c.id = s.id JOIN records r ON r.case_id = c.id
             LEFT JOIN records p ON p.case_id = r.case_id AND p.seq = r.seq - 1"""))
    connection.execute(text("""
        INSERT INTO case_counts (county_office_id, process_key, status, cases)
        SELECT c.county_office_id, c.process_key, c.status, count(*) FROM syn_cases s JOIN cases c ON c.id = s.id
        WHERE c.county_office_id IS NOT NULL GROUP BY c.county_office_id, c.process_key, c.status
        ON CONFLICT (county_office_id, process_key, status) DO UPDATE SET cases = case_counts.cases + excluded.cases"""))
    connection.execute(text("""
        INSERT INTO case_day_counts (created_on, county_office_id, process_key, status, cases)
        SELECT CAST((c.created_at AT TIME ZONE 'UTC') + interval '210 minutes' AS date) AS day, c.county_office_id,
               c.process_key, c.status, count(*) FROM syn_cases s JOIN cases c ON c.id = s.id
        WHERE c.county_office_id IS NOT NULL GROUP BY day, c.county_office_id, c.process_key, c.status
        ON CONFLICT (created_on, county_office_id, process_key, status)
        DO UPDATE SET cases = case_day_counts.cases + excluded.cases"""))
    connection.execute(text("""
        INSERT INTO inquiries (case_id, round, kind, agency, subject_national_id, subject_name, status, result,
                               reference, sent_at, due_at, answered_at)
        SELECT c.id, 1, k.kind, k.agency, lpad(((c.id::bigint * 7919) % 1000000000)::text, 10, '0'), 'مدیر نمونه',
               CASE WHEN c.status = 'inquiries' THEN 'pending' ELSE 'answered' END,
               CASE WHEN c.status = 'inquiries' THEN NULL ELSE 'clear' END, 'REF', c.created_at,
               c.created_at + interval '10 days',
               CASE WHEN c.status = 'inquiries' THEN NULL ELSE c.created_at + interval '1 day' END
        FROM syn_cases c, (VALUES ('criminal_record', 'judiciary'), ('addiction_test', 'health'),
                                  ('education_verification', 'education'), ('security_opinion', 'basij')) AS k(kind, agency)
        WHERE c.status <> 'draft'"""))
    officers = info["officers"]
    connection.execute(text("""
        INSERT INTO notifications (user_id, case_id, kind, key, params, created_at, read_at)
        SELECT c.applicant_id, c.id, 'decision', c.public_id || ':record:7:decision', '{}', c.created_at,
               CASE WHEN c.id % 5 = 0 THEN NULL ELSE c.created_at + interval '1 day' END FROM syn_cases c
        UNION ALL
        SELECT o.user_id, c.id, 'task', c.public_id || '-task', '{}', c.created_at,
               CASE WHEN c.id % 5 = 0 THEN NULL ELSE c.created_at + interval '1 day' END
        FROM syn_cases c JOIN (SELECT unnest(CAST(:offices AS int[])) AS office_id,
                                      unnest(CAST(:users AS int[])) AS user_id) o ON o.office_id = c.county_office_id"""),
        {"offices": list(officers), "users": list(officers.values())})
    connection.commit()
    connection.execute(text("ANALYZE"))
    connection.commit()


class Capture:
    """The statements one operation sends, with their durations (for EXPLAIN of the slowest)."""

    def __init__(self, engine) -> None:
        self.engine, self.statements = engine, []

    def __enter__(self) -> "Capture":
        from sqlalchemy import event
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        conn.info["bench_start"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        self.statements.append((time.perf_counter() - conn.info.pop("bench_start"), statement, parameters))


def measure(app, info: dict[str, Any], repeats: int) -> dict[str, dict[str, Any]]:
    from flask import g
    from sqlalchemy import select
    from web.extensions import db
    from workflows import inbox, monitoring
    from workflows.models import User, utcnow
    session = db.session
    officer_id = session.scalar(select(User.id).where(User.username == "arak_officer"))
    auditor_id = session.scalar(select(User.id).where(User.username == "hq_auditor"))
    client = app.test_client()
    signed_in = {"uid": None}

    def sign_in(uid: int) -> None:
        """Who the test client's session is (switched only when it changes: not inside a timed run)."""
        if signed_in["uid"] != uid:
            with client.session_transaction(base_url="https://centers.example") as flask_session:
                flask_session["_user_id"], flask_session["_fresh"] = str(uid), True
            signed_in["uid"] = uid

    def inbox_query():
        page = inbox.search_tasks(session, session.get(User, officer_id), inbox.TaskFilters(), utcnow())
        return page.total

    def dashboard():
        return len(monitoring.cases_by_status(session, monitoring.MonitorFilters(), by_county=False))

    def page(uid, path):
        def get():
            sign_in(uid)
            # a request reuses the app context the benchmark holds open, and with it flask.g (where
            # Flask-Login and the nav counts cache per request): start each request with an empty g
            g.__dict__.clear()
            response = client.get(path, base_url="https://centers.example")
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.get_data(as_text=True)[-1500:]}")
            return len(response.data)
        return get

    operations = {"inbox query (search_tasks)": (inbox_query, repeats),
                  "dashboard count (cases_by_status, HQ)": (dashboard, repeats),
                  "case page (GET /cases/<id>)": (page(officer_id, f"/cases/{info['page_id']}"), repeats),
                  "inbox page (GET /inbox)": (page(officer_id, "/inbox"), repeats),
                  "monitoring page (GET /monitoring, HQ)": (page(auditor_id, "/monitoring"), max(3, repeats // 5))}
    results = {}
    for name, (action, times) in operations.items():
        session.remove()
        action()  # warm: caches, plans
        samples = []
        for _ in range(times):
            session.remove()
            start = time.perf_counter()
            action()
            samples.append((time.perf_counter() - start) * 1000)
        results[name] = {"median": median(samples), "p95": pct(samples, 0.95), "n": times, "action": action}
    return results


def explain(app, action) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the slowest read one run of the operation sends."""
    from web.extensions import db
    db.session.remove()
    with Capture(db.engine) as capture:
        action()
    db.session.remove()
    # a read only: EXPLAIN ANALYZE runs the statement again (a sign-in's INSERT would collide with itself)
    reads = [s for s in capture.statements if s[1].lstrip().upper().startswith(("SELECT", "WITH"))]
    seconds, statement, parameters = max(reads, key=lambda s: s[0])
    with db.engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters).fetchall()
        connection.rollback()
    return f"-- {seconds * 1000:.1f} ms in the run\n{statement}\n-- parameters: {parameters}\n" + "\n".join(r[0] for r in plan)


def run(args, data_dir: Path) -> tuple[list[Row], dict]:
    sizes = sorted(int(x) for x in args.growth_sizes.split(",") if x.strip())
    folder = Path(tempfile.mkdtemp(prefix="growth-", dir=data_dir))
    postgres = Postgres(fast=True, shared_buffers="1GB").start()
    results: dict[int, dict[str, Any]] = {}
    timings: dict[int, float] = {}
    try:
        site = make_site(postgres.create_database("bench_growth"), folder)
        app = create_site_app(site)
        with app.app_context():
            from web.extensions import db
            info = setup_templates(app)
            db.session.commit()
            current = 0
            for size in sizes:
                log(f"growth: generating cases {current + 1:,}..{size:,} with SQL")
                start = time.perf_counter()
                with db.engine.connect() as connection:
                    grow(connection, info, current, size)
                timings[size] = time.perf_counter() - start
                current = size
                log(f"growth: {size:,} cases in {timings[size]:.0f} s; measuring")
                results[size] = measure(app, info, args.growth_repeats)
                for name, r in results[size].items():
                    log(f"growth: {size:,} {name}: median {r['median']:.1f} ms")
            largest = results[sizes[-1]]
            slowest = max((n for n in largest if not n.startswith("monitoring")), key=lambda n: largest[n]["median"])
            plan = explain(app, largest[slowest]["action"])
            monitoring_plan = explain(app, largest["monitoring page (GET /monitoring, HQ)"]["action"])
            inbox_plan = explain(app, largest["inbox query (search_tasks)"]["action"])
            from sqlalchemy import text
            with db.engine.connect() as connection:
                table_sizes = connection.execute(text(
                    "SELECT relname, n_live_tup, pg_size_pretty(pg_total_relation_size(relid)) FROM pg_stat_user_tables "
                    "WHERE relname IN ('cases','case_tasks','records','inquiries','notifications') ORDER BY relname")).all()
            db.session.remove()
            db.engine.dispose()
    finally:
        postgres.stop()
        import shutil
        shutil.rmtree(folder, ignore_errors=True)
    small, large = sizes[0], sizes[-1]
    rows = []
    for name in results[large]:
        a, b = results[small][name]["median"], results[large][name]["median"]
        middle = ", ".join(f"{s:,}: {results[s][name]['median']:.1f} ms" for s in sizes[1:-1])
        monitoring_page = name.startswith("monitoring")
        rows.append(Row("4 growth [postgresql]", f"{name} at {large:,} cases", b, "ms", a, f"at {small:,} cases",
                        b / a, "" if monitoring_page else f"{large // small}x cases: <= 2x time",
                        None if monitoring_page else b / a <= 2.0,
                        (middle + "; " if middle else "") + f"p95 {results[large][name]['p95']:.1f} ms"))
    report = (f"Growth: slowest measured operation at {large:,} cases: {slowest}\n{plan}\n\n"
              f"Monitoring page, slowest statement at {large:,} cases:\n{monitoring_plan}\n\n"
              f"Inbox query, slowest statement at {large:,} cases:\n{inbox_plan}\n\n"
              "Table sizes at the end: " + "; ".join(f"{r[0]} {r[1]:,} rows {r[2]}" for r in table_sizes))
    return rows, {"sizes": sizes, "generation_seconds": timings,
                  "results": {s: {n: {k: v for k, v in r.items() if k != "action"} for n, r in res.items()}
                              for s, res in results.items()},
                  "slowest": slowest, "report": report, "table_sizes": [list(map(str, r)) for r in table_sizes]}
