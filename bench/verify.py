"""Part 2: audit verification over a database of real signed records.

1. Generate: real founding cases through the domain operations (workflows.cases.start_case,
   complete_task with a pre-unlocked signer, workflows.inquiries.answer_inquiry), in 1..N processes,
   until the database holds the requested number of signed records. The database is kept in the
   data folder and reused (and topped up) by later runs; the generation rate is measured.
2. Verify, against the raw ECDSA P-256 verification rate of this machine (cryptography's verify in
   a loop over a real record) on one and two cores:
   - the whole-database audit (workflows.verification.verify_cases, what ``flask verify-all``
     runs: every case streamed in id order, keys and certificates read once), on one core and in
     two processes (each an id range);
   - workflows.verification.verify_case case by case (what a case page and a token check run),
     on one core and in two processes (cases split between them).
3. Profile a slice of the verification with pyinstrument: where the time goes.
"""
from __future__ import annotations

import base64
import json
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

from bench.common import (
    Driver, Row, Site, create_site_app, log, make_site, run_flask, site_env, sqlite_pragmas,
)
from bench.profiling import format_summary, profile, summarize

#: the demo offices that have people: (county code, county officer, province officer)
OFFICES = [("markazi-arak", "arak_officer", "markazi_officer"), ("markazi-saveh", "saveh_officer", "markazi_officer"),
           ("isfahan-isfahan", "isfahan_city_officer", "isfahan_officer"),
           ("isfahan-kashan", "kashan_officer", "isfahan_officer")]
#: the mix of paths, by case number modulo 10: approve-approve (8 records), one county return then
#: approval (14 records), county rejection (6 records); about 9 records per case on average
MIX = ["approve"] * 7 + ["return"] * 2 + ["reject"]


def run_case(driver: Driver, n: int) -> int:
    """One real founding case on path MIX[n % 10]; returns how many records it signed."""
    county, county_actor, province_actor = OFFICES[n % len(OFFICES)]
    applicant = ("applicant1", "applicant2")[n % 2]
    path = MIX[n % len(MIX)]
    case = driver.start("center_founding", applicant)
    form = driver.application(case, applicant, county)
    records = len(driver.complete(case, "submit_application", applicant, form))
    records += len(driver.answer_inquiries(case))
    records += len(driver.site_visit(case, county_actor))
    if path == "return":
        records += len(driver.complete(case, "county_review", county_actor,
                                       {"decision": "return", "reason": "نشانی مسجد ناقص است؛ پلاک را بنویسید."}))
        records += len(driver.complete(case, "correct_application", applicant, form))
        records += len(driver.answer_inquiries(case))
        records += len(driver.site_visit(case, county_actor))
    if path == "reject":
        records += len(driver.complete(case, "county_review", county_actor,
                                       {"decision": "reject", "reason": "مسجد امام جماعت ثابت ندارد."}))
        return records
    records += len(driver.complete(case, "county_review", county_actor, {"decision": "approve"}))
    records += len(driver.complete(case, "province_review", province_actor, {"decision": "approve"}))
    return records


def _count_records(app) -> tuple[int, int]:
    from sqlalchemy import func, select
    from web.extensions import db
    from workflows.models import Case, Record
    return db.session.scalar(select(func.count()).select_from(Record)), db.session.scalar(
        select(func.count()).select_from(Case))


def _generator(site: Site, worker: int, target: int, counter, lock, out) -> None:
    """A generating process: real cases until the shared record counter reaches the target."""
    app = create_site_app(site)
    with app.app_context():
        from web.extensions import db
        sqlite_pragmas(db.engine, journal_mode="WAL", synchronous="OFF", busy_timeout="600000")
        made = cases = 0
        started = time.perf_counter()
        with Driver(app) as driver:
            n = worker * 10_000_000 + int(time.time()) % 1_000_000 * 7
            while True:
                with lock:
                    if counter.value >= target:
                        break
                records = run_case(driver, n)
                n += 1
                cases += 1
                made += records
                with lock:
                    counter.value += records
                db.session.expunge_all()
        out.put((worker, cases, made, time.perf_counter() - started))
        db.session.remove()
        db.engine.dispose()


def generate(site: Site, target: int, processes: int) -> dict[str, Any]:
    """Top the database up to ``target`` signed records with real cases; the generation rate."""
    app = create_site_app(site)
    with app.app_context():
        existing, _ = _count_records(app)
        from web.extensions import db
        db.session.remove()
        db.engine.dispose()
    if existing >= target:
        return {"existing": existing, "made": 0, "cases": 0, "seconds": 0.0, "rate": None, "processes": 0}
    context = mp.get_context("spawn")
    counter, lock, out = context.Value("q", existing), context.Lock(), context.Queue()
    log(f"verify: generating {target - existing:,} signed records with real cases in {processes} process(es)")
    started = time.perf_counter()
    workers = [context.Process(target=_generator, args=(site, i, target, counter, lock, out)) for i in range(processes)]
    for w in workers:
        w.start()
    last = existing
    while any(w.is_alive() for w in workers):
        time.sleep(15)
        value = counter.value
        if value != last:
            elapsed = time.perf_counter() - started
            log(f"verify: {value:,}/{target:,} records, {(value - existing) / elapsed:,.0f} records/s")
            last = value
    for w in workers:
        w.join()
    if any(w.exitcode for w in workers):
        raise RuntimeError("a generating process failed (see its traceback above)")
    results = [out.get(timeout=30) for _ in workers]
    seconds = time.perf_counter() - started
    made = sum(r[2] for r in results)
    cases = sum(r[1] for r in results)
    return {"existing": existing, "made": made, "cases": cases, "seconds": seconds, "rate": made / seconds,
            "processes": processes}


def replicate(site: Site, target: int, real_cases: int | None = None) -> dict[str, Any]:
    """Top the database up to ``target`` records with re-signed replicas of its real cases.

    A replica is a new case row (a new public id) whose records are the template case's record
    bodies with the new case id and the recomputed hash chain, each signed again by the same
    actor's key (unlocked here with its PIN) and appended to the Merkle log: every replica record
    is a valid signed record of the same shape, signer, certificate chain and size as a real one,
    which verify_case checks in full. Replicas carry no task rows, inquiries or notifications
    (verification reads none of them). They exist because real cases are generated at ~20 records/s
    on this machine (~3 h for 200,000); run with --verify-real-only to generate only real cases.
    """
    import secrets as _secrets

    from sqlalchemy import func, insert, select, update

    from signing import merkle, sign_record
    app = create_site_app(site)
    with app.app_context():
        from web.extensions import db
        from workflows.keys import unlock_signer
        from workflows.models import Case, LogLeaf, LogNode, LogState, Record, SigningKey, User
        sqlite_pragmas(db.engine, journal_mode="WAL", synchronous="OFF")
        session = db.session
        existing = session.scalar(select(func.count()).select_from(Record))
        if existing >= target:
            return {"made": 0, "cases": 0, "seconds": 0.0, "rate": None}
        system_pin = app.config["SYSTEM_SIGNING_PIN"]
        signers = {}
        for key in session.scalars(select(SigningKey).where(SigningKey.active)):
            user = session.get(User, key.user_id)
            pin = system_pin if user.role == "system" else "1405"
            signers[key.key_id] = unlock_signer(session, user, pin)
        templates = list(session.scalars(select(Case).where(Case.public_id.not_like("replica-%")).order_by(Case.id)))
        templates = [t for t in templates if t.status in ("licensed", "rejected")][: real_cases or None]
        records_of = {t.id: list(session.scalars(select(Record).where(Record.case_id == t.id).order_by(Record.seq)))
                      for t in templates}
        case_columns = [c.name for c in Case.__table__.columns if c.name not in ("id", "public_id")]
        template_rows = {t.id: {c: getattr(t, c) for c in case_columns} for t in templates}
        next_case = session.scalar(select(func.max(Case.id))) + 1
        next_record = session.scalar(select(func.max(Record.id))) + 1
        state = session.get(LogState, 1)
        log_size, frontier = state.size, [bytes(state.frontier)[i:i + 32] for i in range(0, len(state.frontier), 32)]
        session.commit()
        made = cases = 0
        started = time.perf_counter()
        batch_cases, batch_records, batch_leaves, batch_nodes = [], [], [], []
        number = 0
        while existing + made < target:
            template = templates[number % len(templates)]
            number += 1
            public_id = "replica-" + _secrets.token_urlsafe(9)
            batch_cases.append({**template_rows[template.id], "id": next_case, "public_id": public_id,
                                "tracking_code": None})  # a case's tracking code is its own
            prev = None
            for row in records_of[template.id]:
                body = json.loads(row.canonical)
                body["case_id"], body["prev_hash"] = public_id, prev
                signed = sign_record(body, signers[body["key_id"]])
                batch_records.append({
                    "id": next_record, "case_id": next_case, "seq": row.seq, "action": row.action,
                    "task_name": row.task_name, "actor_user_id": row.actor_user_id, "created_at": row.created_at,
                    "canonical": signed.canonical, "hash": signed.hash, "signature": signed.signature,
                    "key_id": signed.key_id, "form_data": row.form_data, "log_index": log_size})
                leaf = merkle.record_leaf_hash(signed.hash)
                batch_leaves.append({"index": log_size, "leaf_hash": leaf, "record_id": next_record})
                frontier, completed = merkle.frontier_append(frontier, log_size, leaf)
                batch_nodes += [{"level": level, "index": at, "hash": value} for level, at, value in completed]
                prev = signed.hash
                next_record += 1
                log_size += 1
                made += 1
            next_case += 1
            cases += 1
            if len(batch_records) >= 5000 or existing + made >= target:
                session.execute(insert(Case), batch_cases)
                session.execute(insert(Record), batch_records)
                session.execute(insert(LogLeaf), batch_leaves)
                if batch_nodes:
                    session.execute(insert(LogNode), batch_nodes)
                session.execute(update(LogState).where(LogState.id == 1).values(size=log_size,
                                                                                 frontier=b"".join(frontier)))
                session.commit()
                batch_cases, batch_records, batch_leaves, batch_nodes = [], [], [], []
                log(f"verify: replicas {existing + made:,}/{target:,} records")
        seconds = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()
    return {"made": made, "cases": cases, "seconds": seconds, "rate": made / seconds, "templates": len(templates)}


def _case_ids(site: Site) -> list[int]:
    app = create_site_app(site)
    with app.app_context():
        from sqlalchemy import select
        from web.extensions import db
        from workflows.models import Case
        ids = list(db.session.scalars(select(Case.id).order_by(Case.id)))
        db.session.remove()
        db.engine.dispose()
    return ids


def _verify_worker(site: Site, case_ids: list[int], budget: float, out) -> None:
    def reports(session):
        from workflows.models import Case
        from workflows.verification import verify_case
        for number, case_id in enumerate(case_ids, 1):
            yield verify_case(session, session.get(Case, case_id))
            if number % 200 == 0:
                session.expunge_all()

    _count_reports(site, case_ids[0], reports, budget, out)


def _count_reports(site: Site, first_case: int, reports, budget: float, out) -> None:
    """Put (records, bad cases, seconds, cases) of ``reports(session)`` on ``out``, stopping after
    ``budget`` seconds; the database is connected before the clock starts."""
    app = create_site_app(site)
    with app.app_context():
        from web.extensions import db
        from workflows.models import Case
        db.session.get(Case, first_case)
        records = bad = cases = 0
        started = time.perf_counter()
        for report in reports(db.session):
            records += report.count
            bad += not report.ok
            cases += 1
            if time.perf_counter() - started > budget:
                break
        elapsed = time.perf_counter() - started
        out.put((records, bad, elapsed, cases))
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()


def verify_all(site: Site, case_ids: list[int], processes: int, budget: float = 1e9) -> dict[str, Any]:
    """verify_case over the cases (interleaved among the processes), each process stopping after
    ``budget`` seconds; the rate is the sum of each process's records per second."""
    return _in_processes(_verify_worker, [(site, case_ids[i::processes], budget) for i in range(processes)])


def _in_processes(target, jobs: list[tuple]) -> dict[str, Any]:
    """``target(*job, out)`` in a spawned process per job, each putting (records, bad cases,
    seconds, cases) on ``out``; the rate is the sum of each process's records per second."""
    context = mp.get_context("spawn")
    out = context.Queue()
    workers = [context.Process(target=target, args=(*job, out)) for job in jobs]
    for w in workers:
        w.start()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    return {"records": sum(r[0] for r in results), "bad_cases": sum(r[1] for r in results),
            "seconds": max(r[2] for r in results), "rate": sum(r[0] / r[2] for r in results),
            "cases": sum(r[3] for r in results)}


def _stream_worker(site: Site, first: int, last: int, budget: float, out) -> None:
    def reports(session):
        from workflows.verification import verify_cases
        return (report for *_, report in verify_cases(session, first, last))

    _count_reports(site, first, reports, budget, out)


def audit_all(site: Site, case_ids: list[int], processes: int, budget: float = 1e9) -> dict[str, Any]:
    """verify_cases over the database, split into ``processes`` id ranges, each process stopping after
    ``budget`` seconds; the rate is the sum of each process's records per second."""
    size = -(-len(case_ids) // processes)
    return _in_processes(_stream_worker, [(site, case_ids[i], case_ids[min(i + size, len(case_ids)) - 1], budget)
                                          for i in range(0, len(case_ids), size)])


def _sample_record(site: Site) -> tuple[str, bytes, bytes]:
    """A real record: its signer's public key, the signed message and the signature."""
    app = create_site_app(site)
    with app.app_context():
        from sqlalchemy import select
        from signing import DOMAIN
        from web.extensions import db
        from workflows.models import Record, SigningKey
        record = db.session.scalars(select(Record).where(Record.action == "submit").limit(1)).one()
        pem = db.session.get(SigningKey, record.key_id).public_key_pem
        sample = (pem, DOMAIN + record.canonical.encode("utf-8"), base64.b64decode(record.signature))
        db.session.remove()
        db.engine.dispose()
    return sample


def _raw_worker(sample: tuple[str, bytes, bytes], seconds: float, out) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    pem, message, signature = sample
    key = serialization.load_pem_public_key(pem.encode())
    algorithm = ec.ECDSA(hashes.SHA256())
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(200):
            key.verify(signature, message, algorithm)
        count += 200
    out.put(count / (time.perf_counter() - started))


def raw_rate(sample: tuple[str, bytes, bytes], processes: int, seconds: float = 5.0) -> float:
    """ECDSA P-256 verifications per second: cryptography's verify of a real record in a loop."""
    context = mp.get_context("spawn")
    out = context.Queue()
    workers = [context.Process(target=_raw_worker, args=(sample, seconds, out)) for _ in range(processes)]
    for w in workers:
        w.start()
    rates = [out.get() for _ in workers]
    for w in workers:
        w.join()
    return sum(rates)


def profile_verification(site: Site, case_ids: list[int]) -> tuple[str, dict]:
    app = create_site_app(site)
    with app.app_context():
        from web.extensions import db
        from workflows.models import Case
        from workflows.verification import verify_case
        cases = [db.session.get(Case, i) for i in case_ids]

        def run() -> int:
            return sum(verify_case(db.session, case).count for case in cases)

        _, session = profile(run)
        summary = summarize(session)
        db.session.remove()
        db.engine.dispose()
    return format_summary(summary, f"verify_case over {len(case_ids)} cases"), summary


def run(args, data_dir: Path) -> tuple[list[Row], dict]:
    target = args.verify_records
    real_target = target if args.verify_real_only else min(target, args.verify_real_records)
    folder = data_dir / f"verify-{target}-{'real' if args.verify_real_only else 'mixed'}"
    url = f"sqlite:///{folder / 'records.db'}"
    if (folder / "records.db").exists() and not args.fresh:
        site = Site(url, folder, site_env(url, folder))
        log(f"verify: reusing {folder} (pass --fresh to start over); migrating it to this checkout")
        run_flask(site.env, "db", "upgrade")
    else:
        if folder.exists():
            import shutil
            shutil.rmtree(folder)
        log(f"verify: new database in {folder}")
        site = make_site(url, folder)
    history_file = folder / "generation.json"
    history = json.loads(history_file.read_text()) if history_file.exists() else {"real": [], "replica": []}
    gen = generate(site, real_target, args.gen_processes)
    if gen["made"]:
        history["real"].append(gen)
    rep = replicate(site, target)
    if rep["made"]:
        history["replica"].append(rep)
    history_file.write_text(json.dumps(history, indent=1))
    case_ids = _case_ids(site)
    # a sample spread evenly over the whole database (ids interleave real cases and replicas)
    log(f"verify: {len(case_ids):,} cases; raw ECDSA rate on 1 and 2 cores")
    sample = _sample_record(site)
    raw1, raw2 = raw_rate(sample, 1), raw_rate(sample, 2)
    step = max(1, len(case_ids) // 20_000)
    spread = case_ids[::step]
    log(f"verify: whole-database audit (verify_cases) on one core ({args.verify_seconds:.0f} s budget)")
    stream1 = audit_all(site, case_ids, 1, args.verify_seconds)
    log(f"verify: {stream1['rate']:,.0f} records/s on one core; now two processes")
    stream2 = audit_all(site, case_ids, 2, args.verify_seconds)
    log(f"verify: {stream2['rate']:,.0f} records/s in two processes")
    log(f"verify: verify_case on one core ({args.verify_seconds:.0f} s budget)")
    one = verify_all(site, spread, 1, args.verify_seconds)
    log(f"verify: {one['rate']:,.0f} records/s on one core; now two processes")
    two = verify_all(site, spread, 2, args.verify_seconds)
    log(f"verify: {two['rate']:,.0f} records/s in two processes; profiling")
    text, summary = profile_verification(site, spread[: min(len(spread), args.profile_cases)])
    real_made = sum(g["made"] for g in history["real"])
    real_seconds = sum(g["seconds"] for g in history["real"])
    rep_made = sum(g["made"] for g in history["replica"])
    rep_seconds = sum(g["seconds"] for g in history["replica"])
    rows = []
    if real_made:
        rows.append(Row("2 verify", f"generation, real cases ({history['real'][-1]['processes']} procs, pre-unlocked signers)",
                        real_made / real_seconds, "records/s",
                        note=f"{real_made:,} records, {sum(g['cases'] for g in history['real']):,} cases in {real_seconds / 60:.1f} min"))
    if rep_made:
        rows.append(Row("2 verify", "generation, re-signed replicas of real cases (1 proc)", rep_made / rep_seconds,
                        "records/s", note=f"{rep_made:,} records in {rep_seconds / 60:.1f} min"))
    rows += [
        Row("2 verify", f"audit (verify_cases), 1 core ({stream1['records']:,} records, {stream1['cases']:,} cases)",
            stream1["rate"], "records/s", raw1, "raw ECDSA verify, 1 core", stream1["rate"] / raw1, ">= 0.70 of raw",
            stream1["rate"] / raw1 >= 0.70, note=f"{stream1['bad_cases']} cases failed verification"),
        Row("2 verify", f"audit (verify_cases), 2 processes ({stream2['records']:,} records)", stream2["rate"],
            "records/s", raw2, "raw ECDSA verify, 2 procs", stream2["rate"] / raw2, ">= 0.70 of raw",
            stream2["rate"] / raw2 >= 0.70, note=f"{stream2['bad_cases']} cases failed verification"),
        Row("2 verify", "scaling 1 -> 2 processes, audit", stream2["rate"] / stream1["rate"], "x", raw2 / raw1,
            "raw ECDSA 1 -> 2", None, "near-linear (>= 1.8x)", stream2["rate"] / stream1["rate"] >= 1.8),
        Row("2 verify", f"verify_case, 1 core ({one['records']:,} records, {one['cases']:,} cases verified)",
            one["rate"], "records/s", raw1, "raw ECDSA verify, 1 core", one["rate"] / raw1, ">= 0.70 of raw",
            one["rate"] / raw1 >= 0.70, note=f"{one['bad_cases']} cases failed verification"),
        Row("2 verify", f"verify_case, 2 processes ({two['records']:,} records)", two["rate"], "records/s", raw2,
            "raw ECDSA verify, 2 procs", two["rate"] / raw2, ">= 0.70 of raw", two["rate"] / raw2 >= 0.70,
            note=f"{two['bad_cases']} cases failed verification"),
        Row("2 verify", "scaling 1 -> 2 processes, verify_case", two["rate"] / one["rate"], "x", raw2 / raw1,
            "raw ECDSA 1 -> 2", None, "near-linear (>= 1.8x)", two["rate"] / one["rate"] >= 1.8),
    ]
    details = {"generation": history, "stream1": stream1, "stream2": stream2, "one": one, "two": two, "raw1": raw1, "raw2": raw2, "profile": text,
               "database": str(folder), "cases_in_db": len(case_ids), "records_in_db": None}
    app = create_site_app(site)
    with app.app_context():
        details["records_in_db"] = _count_records(app)[0]
        from web.extensions import db
        db.session.remove()
        db.engine.dispose()
    return rows, details
