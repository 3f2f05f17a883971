"""Part 0: one signed transition in process, beside its floor, and the SQL statements it issues.

For each database (a SQLite file, then a throwaway PostgreSQL), cases are brought to county_review
(``flask --app web init``, then the domain operations), and for each case in turn:

  transition   ``workflows.cases.complete_task`` (approve) + commit, as the API handler runs it with
               a signer already unlocked; its SQL statements are counted
  floor        what no transition can avoid, on the same case: the bare engine (load the stored
               state, complete the task, run, serialize), one ECDSA P-256 signature of a record's
               size, and one record row inserted plus the case's state row updated, committed

The figure is the median transition over the median floor. The run lasts at least ``--transition-seconds``
(cases are prepared in batches until it has), after a warm-up of a few cases.
"""
from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import Driver, Row, backend_site, create_site_app, log
from bench.http_load import COUNTIES

#: cases prepared per batch, and cases timed before the clock starts
BATCH, WARM_UP = 40, 5
#: the issue's targets: transition / floor, and statements per transition
TARGET_RATIO = {"postgresql": 3.0, "sqlite": 1.5}
TARGET_STATEMENTS = 12


def _prepare(app, driver: Driver, count: int, offset: int) -> list[tuple[int, str, str]]:
    from web.extensions import db
    made = []
    for number in range(offset, offset + count):
        county, officer = COUNTIES[number % len(COUNTIES)]
        case = driver.to_county_review(("applicant1", "applicant2")[number % 2], county, officer)
        made.append((case.id, next(t for t in case.tasks if t.name == "county_review").task_id, officer))
        db.session.expunge_all()
    return made


def _floor(app, driver: Driver, case_id: int, task_id: str, officer: str) -> dict[str, float]:
    """The floor of one county approval on this case, each part timed alone (milliseconds)."""
    from sqlalchemy import text

    import engine
    from signing import sign_record
    from web.extensions import db
    from workflows import procedures, working_time
    from workflows.models import Case, ProcessDefinition, Record, utcnow
    case = db.session.get(Case, case_id)
    spec = procedures.spec_of(db.session.get(ProcessDefinition, case.spec_version))
    state = case.state
    calendar = working_time.calendar_for(db.session, case.county_office)
    with engine.working_calendar(calendar):
        started = time.perf_counter()
        instance = engine.Instance.load(spec, state)
        task = next(t for t in instance.ready_user_tasks() if t.name == "county_review")
        instance.complete(task.id, {"decision": "approve", "reason": "", "note": ""}, lane=task.lane)
        instance.serialize()
        engine_ms = (time.perf_counter() - started) * 1000
    last = db.session.query(Record).filter(Record.case_id == case_id).order_by(Record.seq.desc()).first()
    body = {**json.loads(last.canonical), "seq": last.seq + 1, "prev_hash": last.hash}
    signer = driver.signer(driver.user(officer))
    started = time.perf_counter()
    signed = sign_record(body, signer)
    sign_ms = (time.perf_counter() - started) * 1000
    db.session.rollback()
    with db.engine.connect() as connection:
        started = time.perf_counter()
        connection.execute(text("INSERT INTO bench_floor_records (case_id, seq, canonical, hash, signature, created_at) "
                                "VALUES (:case_id, :seq, :canonical, :hash, :signature, :created_at)"),
                           {"case_id": case_id, "seq": last.seq + 1, "canonical": signed.canonical,
                            "hash": signed.hash, "signature": signed.signature, "created_at": utcnow()})
        connection.execute(text("UPDATE cases SET state = :state, updated_at = :now WHERE id = :id"),
                           {"state": state, "now": utcnow(), "id": case_id})
        connection.commit()
        write_ms = (time.perf_counter() - started) * 1000
    return {"engine": engine_ms, "sign": sign_ms, "write": write_ms}


def run_backend(site, seconds: float) -> dict[str, Any]:
    from sqlalchemy import event, text

    app = create_site_app(site)
    with app.app_context():
        from web.extensions import db
        from workflows.cases import complete_task
        from workflows.models import Case
        kind = "BLOB" if site.backend == "sqlite" else "BYTEA"
        with db.engine.begin() as connection:
            connection.execute(text("CREATE TABLE IF NOT EXISTS bench_floor_records (id {} PRIMARY KEY, case_id INTEGER, "
                                    "seq INTEGER, canonical TEXT, hash VARCHAR(64), signature {}, created_at TIMESTAMP)"
                                    .format("INTEGER" if site.backend == "sqlite" else "SERIAL", kind)))
        statements: list[str] = []
        counting = [False]

        @event.listens_for(db.engine, "before_cursor_execute")
        def count(_conn, _cursor, statement, _params, _context, _many):  # noqa: ANN001
            if counting[0]:
                statements.append(" ".join(statement.split())[:90])

        transitions, floors, counts, per_statement = [], [], [], Counter()
        timed_seconds, prepared, number = 0.0, 0, 0
        with Driver(app) as driver:
            while timed_seconds < seconds:
                batch = _prepare(app, driver, BATCH, prepared)
                prepared += len(batch)
                for case_id, task_id, officer in batch:
                    floor = _floor(app, driver, case_id, task_id, officer)
                    user = driver.user(officer)
                    signer = driver.signer(user)
                    case = db.session.get(Case, case_id)
                    statements.clear()
                    counting[0] = True
                    started = time.perf_counter()
                    complete_task(db.session, case=case, task_id=task_id, actor=user, data={"decision": "approve"},
                                  signer=signer)
                    db.session.commit()
                    elapsed = time.perf_counter() - started
                    counting[0] = False
                    db.session.expunge_all()
                    number += 1
                    if number <= WARM_UP:
                        continue
                    timed_seconds += elapsed + sum(floor.values()) / 1000
                    transitions.append(elapsed * 1000)
                    floors.append(floor)
                    counts.append(len(statements))
                    per_statement.update(statements)
                log(f"transition[{site.backend}]: {number} cases, {timed_seconds:.1f} s timed")
        db.session.remove()
        db.engine.dispose()
    parts = {name: statistics.median(f[name] for f in floors) for name in ("engine", "sign", "write")}
    return {"transition_ms": statistics.median(transitions), "floor_ms": sum(parts.values()), "floor_parts": parts,
            "statements": statistics.median(counts), "statements_max": max(counts), "cases": len(transitions),
            "timed_seconds": timed_seconds,
            "per_transition": {s: n / len(counts) for s, n in per_statement.most_common()}}


def rows_for(backend: str, result: dict[str, Any]) -> list[Row]:
    part = f"0 transition [{backend}]"
    ratio = result["transition_ms"] / result["floor_ms"]
    parts = result["floor_parts"]
    return [
        Row(part, "one county approval in process (complete_task + commit), median", result["transition_ms"], "ms",
            result["floor_ms"], "floor", ratio, f"<= {TARGET_RATIO[backend]:.1f}x floor", ratio <= TARGET_RATIO[backend],
            f"n={result['cases']}, {result['timed_seconds']:.0f} s timed"),
        Row(part, "floor: engine / signature / record + state row + commit", result["floor_ms"], "ms",
            note=f"{parts['engine']:.2f} / {parts['sign']:.2f} / {parts['write']:.2f} ms"),
        Row(part, "SQL statements per transition (median)", result["statements"], "", None,
            f"max {result['statements_max']}", None, f"<= {TARGET_STATEMENTS}", result["statements"] <= TARGET_STATEMENTS),
    ]


def report(details: dict[str, Any]) -> str:
    lines = []
    for backend, result in details.items():
        if not isinstance(result, dict) or "per_transition" not in result:
            continue
        lines.append(f"Statements of one transition [{backend}] (per transition, by kind):")
        lines += [f"  {n:4.1f}  {statement}" for statement, n in result["per_transition"].items()]
    return "\n".join(lines)


def run(args, data_dir: Path) -> tuple[list[Row], dict]:
    import shutil
    import tempfile
    rows, details = [], {}
    folder = Path(tempfile.mkdtemp(prefix="transition-", dir=data_dir))
    for backend in [b.strip() for b in args.http_backends.split(",") if b.strip()]:
        with backend_site(backend, folder, "bench_transition") as (site, _):
            result = run_backend(site, args.transition_seconds)
        details[backend] = result
        rows += rows_for(backend, result)
    details["report"] = report(details)
    shutil.rmtree(folder, ignore_errors=True)
    return rows, details
