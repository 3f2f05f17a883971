"""Part 1: signed transitions through HTTP, against a baseline doing the same database write.

For each database (SQLite file, then a throwaway PostgreSQL): ``flask --app web init``, cases
prepared at county_review through the domain operations (pre-unlocked signers), then gunicorn
(2 sync workers) serving ``bench.wsgi:app`` (web.create_app() plus the baseline route) and 20
concurrent clients, each with its own bearer token from POST /api/v1/auth/token,
completing county reviews (approve). Three runs of ``--http-seconds`` each (the baseline's in two
halves, before and after the others), after a warm-up in which each client sends one request of
each kind; enough cases are prepared for each run from the in-process breakdown's speed:

  baseline   POST /bench/baseline/...   same writes, no engine, no signature (bench/wsgi.py)
  full       POST /api/v1/cases/<id>/tasks/<task_id>/complete   with the PIN typed at every request
  session    the same, with the PIN typed once per client: each client opens a signing session
             (POST /api/v1/signing-sessions, before the clock starts) and sends its handle

and an in-process breakdown of one completion (PIN unlock, complete_task, commit, JSON answer),
and the gunicorn workers' CPU time per baseline request.
"""
from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import (
    PASSWORD, PIN, ROOT, VENV_BIN, Driver, Row, Site, backend_site, create_site_app, free_port, log, median, pct,
    rss_of, sqlite_pragmas,
)

#: the demo county offices with people, and their officers
COUNTIES = [("markazi-arak", "arak_officer"), ("markazi-saveh", "saveh_officer"),
            ("isfahan-isfahan", "isfahan_city_officer"), ("isfahan-kashan", "kashan_officer")]
CLIENTS = 20


def prepare(site: Site, full: int, session: int, baseline: int, breakdown: int) -> dict[str, Any]:
    """Cases at county_review, spread over the four counties; an in-process breakdown on some."""
    app = create_site_app(site)
    started = time.perf_counter()
    made: dict[str, list[tuple[int, str, str]]] = {"full": [], "session": [], "baseline": [], "breakdown": []}
    with app.app_context():
        from web.extensions import db
        sqlite_pragmas(db.engine, synchronous="OFF")  # preparation only; the servers use the defaults
        with Driver(app) as driver:
            number = 0
            for kind, count in (("full", full), ("session", session), ("baseline", baseline),
                                ("breakdown", breakdown)):
                for _ in range(count):
                    county, officer = COUNTIES[number % len(COUNTIES)]
                    number += 1
                    case = driver.to_county_review(("applicant1", "applicant2")[number % 2], county, officer)
                    task = next(t for t in case.tasks if t.name == "county_review")
                    made[kind].append((case.id, task.task_id, officer))
                    if number % 100 == 0:
                        log(f"http: {number} cases at county_review")
                    db.session.expunge_all()
            prep_seconds = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()
    # the breakdown runs on an engine with the database's own settings (no preparation PRAGMAs)
    app = create_site_app(site)
    with app.app_context():
        from web.extensions import db
        with Driver(app) as driver:
            parts = _breakdown(app, driver, made["breakdown"])
        db.session.remove()
        db.engine.dispose()
    return {"cases": made, "prep_seconds": prep_seconds, "prep_cases": number, "breakdown": parts}


def _breakdown(app, driver: Driver, cases: list[tuple[int, str, str]]) -> dict[str, list[float]]:
    """One county approval in process, phase by phase, as the API handler does it."""
    from flask import g

    from web.api import completion_json
    from web.extensions import db
    from workflows.cases import complete_task
    from workflows.keys import unlock_signer
    from workflows.models import Case
    phases: dict[str, list[float]] = {"PIN unlock (scrypt)": [], "complete_task (engine, checks, sign, writes)": [],
                                      "commit": [], "JSON answer (completion_json: case status, tasks, new records)": []}
    for case_id, task_id, officer in cases:
        with app.test_request_context():
            user = driver.user(officer)
            g.api_user = user
            case = db.session.get(Case, case_id)
            t0 = time.perf_counter()
            signer = unlock_signer(db.session, user, PIN)
            t1 = time.perf_counter()
            transition = complete_task(db.session, case=case, task_id=task_id, actor=user,
                                       data={"decision": "approve"}, signer=signer)
            t2 = time.perf_counter()
            db.session.commit()
            t3 = time.perf_counter()
            json.dumps(completion_json(transition), default=str)
            t4 = time.perf_counter()
            for name, seconds in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                phases[name].append(seconds * 1000)
            db.session.expunge_all()
    return phases


class Server:
    """gunicorn with ``workers`` sync workers serving bench.wsgi:app on 127.0.0.1."""

    def __init__(self, site: Site, workers: int = 2) -> None:
        self.site, self.workers, self.port = site, workers, free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> "Server":
        self.log = open(self.site.folder / "gunicorn.log", "ab")
        self.process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-w", str(self.workers), "-k", "sync", "-b", f"127.0.0.1:{self.port}",
             "--timeout", "300", "--backlog", "2048", "bench.wsgi:app"],
            cwd=ROOT, env=self.site.env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                status, _ = request(self.port, "GET", "/api/v1/log/checkpoint")
                if status == 200:
                    return self
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.site.folder / 'gunicorn.log'}")
            time.sleep(0.5)
        raise RuntimeError("gunicorn did not answer in 120 s")

    def worker_pids(self) -> list[int]:
        import psutil
        return [child.pid for child in psutil.Process(self.process.pid).children()]

    def worker_rss(self) -> list[int]:
        return [rss_of(pid) for pid in self.worker_pids()]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()


def request(port: int, method: str, path: str, body: Any = None, token: str | None = None,
            timeout: float = 300) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def token_for(port: int, username: str) -> str:
    status, body = request(port, "POST", "/api/v1/auth/token", {"username": username, "password": PASSWORD})
    if status != 201:
        raise RuntimeError(f"token for {username}: {status} {body[:200]!r}")
    return json.loads(body)["token"]


def load(port: int, jobs: list[list[tuple[str, dict, str]]], seconds: float | None = None) -> dict[str, Any]:
    """One thread per client, each sending its jobs (path, body, token) one after another; with
    ``seconds``, no client starts a job once that long has passed (the run ends with its last answers)."""
    latencies: list[float] = []
    errors: dict[int, int] = {}
    guard = threading.Lock()
    barrier = threading.Barrier(len(jobs) + 1)
    deadline: list[float] = []

    def client(mine: list[tuple[str, dict, str]]) -> None:
        barrier.wait()
        for path, body, token in mine:
            if seconds is not None and time.perf_counter() >= deadline[0]:
                break
            start = time.perf_counter()
            try:
                status, _ = request(port, "POST", path, body, token)
            except OSError:
                status = 599
            elapsed = time.perf_counter() - start
            with guard:
                if 200 <= status < 300:
                    latencies.append(elapsed * 1000)
                else:
                    errors[status] = errors.get(status, 0) + 1

    threads = [threading.Thread(target=client, args=(mine,)) for mine in jobs]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    deadline.append(started + (seconds or 0))
    barrier.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    left = sum(len(mine) for mine in jobs) - len(latencies) - sum(errors.values())
    return {"ok": len(latencies), "errors": errors, "wall": wall, "throughput": len(latencies) / wall,
            "p50": median(latencies), "p95": pct(latencies, 0.95), "p99": pct(latencies, 0.99),
            "latencies": latencies, "ran_out": seconds is not None and left == 0 and wall < seconds}


def _spread(items: list, clients: int) -> list[list]:
    return [items[i::clients] for i in range(clients)]


#: what a request costs on top of the in-process completion (HTTP, JSON, token), for sizing the runs
REQUEST_OVERHEAD_MS = 10.0
#: prepared cases per expected completion (a run must not run out of cases before its time)
MARGIN = 1.6


def _cpu_seconds(server: "Server") -> float:
    import psutil
    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in server.worker_pids())


def run_backend(site: Site, args) -> dict[str, Any]:
    seconds, warm = args.http_seconds, CLIENTS
    # the baseline's pool and the in-process breakdown first: the breakdown says how fast completions
    # will go, so that enough cases are prepared for runs of ``seconds``
    pilot = prepare(site, 0, 0, CLIENTS, args.http_breakdown)
    parts = list(pilot["breakdown"].values())
    unlock, per = median(parts[0]), median(parts[1]) + median(parts[2]) + median(parts[3]) + REQUEST_OVERHEAD_MS
    workers = 2
    full_n = int(workers * 1000 / (unlock + per) * seconds * MARGIN) + warm
    session_n = int(workers * 1000 / per * seconds * MARGIN) + warm
    log(f"http[{site.backend}]: {per:.0f} ms a completion in process ({unlock:.0f} ms more with the PIN): "
        f"preparing {full_n} + {session_n} cases for runs of {seconds:.0f} s")
    prep = prepare(site, full_n, session_n, 0, 0)
    prep["cases"]["baseline"] = pilot["cases"]["baseline"]
    prep["breakdown"] = pilot["breakdown"]
    prep["prep_seconds"] += pilot["prep_seconds"]
    prep["prep_cases"] += pilot["prep_cases"]
    log(f"http[{site.backend}]: {prep['prep_cases']} cases prepared in {prep['prep_seconds']:.0f} s; starting gunicorn")
    server = Server(site).start()
    try:
        rss_boot = server.worker_rss()
        tokens = {officer: [token_for(server.port, officer) for _ in range(CLIENTS // len(COUNTIES))]
                  for _, officer in COUNTIES}
        body = {"data": {"decision": "approve"}, "pin": PIN}
        handles = {}  # a signing session per client token, opened with the PIN once
        for token in (token for officer_tokens in tokens.values() for token in officer_tokens):
            status, answer = request(server.port, "POST", "/api/v1/signing-sessions", {"pin": PIN, "minutes": 60}, token)
            if status != 201:
                raise RuntimeError(f"signing session: {status} {answer[:200]!r}")
            handles[token] = json.loads(answer)["signing_session"]

        def jobs_for(route: str, cases: list[tuple[int, str, str]], repeat: int = 1) -> list[list]:
            per_client: list[list] = [[] for _ in range(CLIENTS)]
            used: dict[str, int] = {}
            for number, (case_id, task_id, officer) in enumerate(cases * repeat):
                # each case's requests go to one client (no two clients race on a case)
                client = (cases.index((case_id, task_id, officer))) % CLIENTS if repeat > 1 else number % CLIENTS
                index = used.get(officer, 0)
                used[officer] = index + 1
                token = tokens[officer][index % len(tokens[officer])]
                prefix = "/bench/baseline" if route == "baseline" else "/api/v1"
                sent = {"data": body["data"], "signing_session": handles[token]} if route == "session" else body
                per_client[client].append((f"{prefix}/cases/{case_id}/tasks/{task_id}/complete", sent, token))
            return per_client

        cases = prep["cases"]
        # warm-up: every worker parses the specs and fills its caches, each client once (results discarded)
        load(server.port, jobs_for("full", cases["full"][:warm]))
        load(server.port, jobs_for("session", cases["session"][:warm]))
        load(server.port, jobs_for("baseline", cases["baseline"], 1))
        runs = {}
        # the baseline's pool is used again and again; far more jobs than half a run can send
        base_jobs = jobs_for("baseline", cases["baseline"], max(1, int(400 * seconds / len(cases["baseline"]))))
        cpu_before = _cpu_seconds(server)
        log(f"http[{site.backend}]: baseline (first half, {seconds / 2:.0f} s)")
        first = load(server.port, base_jobs, seconds / 2)
        cpu_first = _cpu_seconds(server) - cpu_before
        log(f"http[{site.backend}]: full path with the PIN, {seconds:.0f} s, {CLIENTS} clients")
        runs["full"] = load(server.port, jobs_for("full", cases["full"][warm:]), seconds)
        log(f"http[{site.backend}]: full path, PIN typed once per client (signing session), {seconds:.0f} s")
        runs["session"] = load(server.port, jobs_for("session", cases["session"][warm:]), seconds)
        log(f"http[{site.backend}]: baseline (second half, {seconds / 2:.0f} s)")
        cpu_before = _cpu_seconds(server)
        second = load(server.port, base_jobs, seconds / 2)
        cpu_second = _cpu_seconds(server) - cpu_before
        latencies = first["latencies"] + second["latencies"]
        wall = first["wall"] + second["wall"]
        runs["baseline"] = {"ok": len(latencies), "errors": {k: first["errors"].get(k, 0) + second["errors"].get(k, 0)
                                                             for k in {*first["errors"], *second["errors"]}},
                            "wall": wall, "throughput": len(latencies) / wall, "p50": median(latencies),
                            "p95": pct(latencies, 0.95), "p99": pct(latencies, 0.99), "latencies": latencies,
                            "halves": (first["throughput"], second["throughput"]),
                            "cpu_ms": (cpu_first + cpu_second) * 1000 / max(1, len(latencies)),
                            "ran_out": first["ran_out"] or second["ran_out"]}
        rss_after = server.worker_rss()
    finally:
        server.stop()
    for run in runs.values():
        run.pop("latencies", None)
    return {"runs": runs, "prep": {k: v for k, v in prep.items() if k != "cases"}, "rss_boot": rss_boot,
            "rss_after": rss_after, "journal": site.env.get("BENCH_SQLITE_JOURNAL"), "seconds": seconds}


def unlock_alone(site: Site, times: int = 20) -> list[float]:
    app = create_site_app(site)
    with app.app_context():
        from sqlalchemy import select

        from web.extensions import db
        from workflows.keys import unlock_signer
        from workflows.models import User
        user = db.session.scalars(select(User).where(User.username == "arak_officer")).one()
        samples = []
        for _ in range(times):
            start = time.perf_counter()
            unlock_signer(db.session, user, PIN)
            samples.append((time.perf_counter() - start) * 1000)
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    return samples


def rows_for(backend: str, result: dict[str, Any], unlock_ms: float) -> list[Row]:
    runs = result["runs"]
    base, full, pre = runs["baseline"], runs["full"], runs["session"]
    part = f"1 http [{backend}]"
    errors = lambda run: (f"{sum(run['errors'].values())} non-2xx {run['errors']}" if run["errors"] else "")  # noqa: E731
    def timed(run: dict) -> str:  # how long the run lasted, and whether it ran out of cases first
        return f"{run['wall']:.0f} s" + (" (ran out of cases)" if run.get("ran_out") else "")

    long_enough = all(run["wall"] >= 20 and not run.get("ran_out") for run in (base, full, pre))
    rows = [
        Row(part, "throughput, full path (PIN typed)", full["throughput"], "req/s", base["throughput"], "baseline",
            full["throughput"] / base["throughput"], ">= 0.50 of baseline", full["throughput"] / base["throughput"] >= 0.5,
            " ".join(filter(None, [timed(full), errors(full)]))),
        Row(part, "throughput, full path, PIN typed once (signing session)", pre["throughput"], "req/s", base["throughput"],
            "baseline", pre["throughput"] / base["throughput"], ">= 0.80 of baseline, runs >= 20 s",
            pre["throughput"] / base["throughput"] >= 0.8 and long_enough, " ".join(filter(None, [timed(pre), errors(pre)]))),
        Row(part, "baseline: CPU per request (gunicorn workers)", base["cpu_ms"], "ms", target="<= 5 ms",
            met=base["cpu_ms"] <= 5, note=timed(base)),
    ]
    for name, run in (("full path (PIN)", full), ("full path, signing session", pre)):
        for q in ("p50", "p95", "p99"):
            target = "< 50 ms" if q == "p95" else ""
            rows.append(Row(part, f"{q} latency, {name}", run[q], "ms", base[q], "baseline", run[q] / base[q], target,
                            (run[q] < 50) if q == "p95" else None))
    rows.append(Row(part, "baseline: throughput / p95", base["throughput"], "req/s", None,
                    f"p95 {base['p95']:.0f} ms, halves {base['halves'][0]:.0f} and {base['halves'][1]:.0f} req/s",
                    note=errors(base)))
    for phase, values in result["prep"]["breakdown"].items():
        rows.append(Row(part, f"one approval in process: {phase} (median)", median(values), "ms",
                        note=f"n={len(values)}"))
    rows.append(Row(part, "PIN unlock alone (scrypt, median of 20)", unlock_ms, "ms"))
    served = sum(run["ok"] + sum(run["errors"].values()) for run in runs.values())
    rows.append(Row(f"5 size [{backend}]", f"gunicorn worker RSS after part 1 (~{served + 40} requests, 2 workers), largest",
                    max(result["rss_after"]) / 2**20, "MiB", max(result["rss_boot"]) / 2**20, "same worker at boot",
                    max(result["rss_after"]) / max(result["rss_boot"]),
                    note="per worker: " + ", ".join(f"{a / 2**20:.0f}" for a in result["rss_after"]) + " MiB"))
    return rows


def run(args, data_dir: Path) -> tuple[list[Row], dict]:
    rows, details = [], {}
    unlock_ms = None
    backends = [b.strip() for b in args.http_backends.split(",") if b.strip()]
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="http-", dir=data_dir))
    for backend in backends:
        with backend_site(backend, folder, "bench_http") as (site, postgres):
            if postgres is not None:
                details["postgresql_version"] = postgres.version()
            if unlock_ms is None:
                unlock_ms = median(unlock_alone(site))
            result = run_backend(site, args)
            details[backend] = result
            rows += rows_for(backend, result, unlock_ms)
    import shutil
    shutil.rmtree(folder, ignore_errors=True)
    return rows, details
