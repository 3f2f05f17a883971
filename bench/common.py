"""What every part of the benchmark suite shares: the machine, throwaway databases, a driver that
moves real cases through the domain operations with pre-unlocked signers, and small statistics.

Nothing here is imported by the application or the tests. See docs/benchmarks.md.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

VENV_BIN = ROOT / ".venv" / "bin"
SCENARIO_DIR = ROOT / "bpmn" / "scenarios"
PIN = "1405"
PASSWORD = "demo1234"
#: where throwaway databases live unless --data-dir says otherwise
DEFAULT_DATA_DIR = Path(tempfile.gettempdir()) / "mosque-bench"


# --- statistics -------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of the values; nan for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the machine -------------------------------------------------------------------------------

LIBRARIES = ("cryptography", "SpiffWorkflow", "SQLAlchemy", "Flask", "weasyprint", "pyHanko", "rfc8785",
             "psycopg", "gunicorn", "psutil", "pyinstrument")


def machine_info() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    info = {"nproc": str(os.cpu_count()), "cpu": cpu, "memory": memory, "python": platform.python_version(),
            "kernel": platform.release(), "sqlite": __import__("sqlite3").sqlite_version}
    postgres = shutil.which("postgres") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))), None)
    if postgres:
        with contextlib.suppress(Exception):
            text = subprocess.run([str(postgres), "--version"], capture_output=True, text=True, check=True).stdout
            info["postgresql"] = text.split("(PostgreSQL)")[-1].split()[0]
    info.update({f"lib:{k}": v for k, v in versions.items()})
    return info


# --- throwaway PostgreSQL ----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A PostgreSQL server of Debian's package in a temporary folder on 127.0.0.1 and a random port.

    Run as root: initdb and the server run as the ``postgres`` user. Durability settings are
    left at their defaults (fsync on, synchronous_commit on) unless ``fast=True``.
    """

    def __init__(self, *, fast: bool = False, shared_buffers: str = "512MB") -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name)
        if not bins:
            raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql")
        self.bin = bins[-1]
        self.dir = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
        self.port = free_port()
        self.password = secrets.token_hex(16)
        self.fast, self.shared_buffers = fast, shared_buffers
        self._root = os.geteuid() == 0

    def _as_postgres(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
        command = ["runuser", "-u", "postgres", "--", *args] if self._root else list(args)
        return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)

    def start(self) -> "Postgres":
        if self._root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.dir.chmod(0o700)
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres", "-E", "UTF8",
                          "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c shared_buffers={self.shared_buffers}"
                   f" -c max_connections=200 -c work_mem=16MB -c maintenance_work_mem=256MB")
        if self.fast:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "server.log"),
                          "-w", "-t", "60", "start", "-o", options)
        self.psql(f"CREATE ROLE bench LOGIN CREATEDB PASSWORD '{self.password}'")
        return self

    def psql(self, sql: str, database: str = "postgres") -> str:
        return self._as_postgres(str(self.bin / "psql"), "-h", str(self.dir), "-p", str(self.port), "-U", "postgres",
                                 "-d", database, "-q", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql).stdout

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}" OWNER bench')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://bench:{self.password}@127.0.0.1:{self.port}/{name}"

    def version(self) -> str:
        return self.psql("SHOW server_version").strip()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Postgres":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- an application on a database ----------------------------------------------------------------

@dataclass
class Site:
    """A database made by ``flask --app web init`` and the environment that serves it."""

    url: str
    folder: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        return "postgresql" if self.url.startswith("postgresql") else "sqlite"


def site_env(url: str, folder: Path) -> dict[str, str]:
    """Production settings with fresh secrets (the app refuses weak ones in production)."""
    folder.mkdir(parents=True, exist_ok=True)
    secrets_file = folder / "secrets.json"
    if secrets_file.exists():
        values = json.loads(secrets_file.read_text())
    else:
        values = {"SECRET_KEY": secrets.token_hex(32), "SYSTEM_SIGNING_PIN": secrets.token_hex(16),
                  "CA_KEY_PASSPHRASE": secrets.token_hex(16)}
        secrets_file.write_text(json.dumps(values))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "TEST_DATABASE_URL"))}
    env.update(values)
    env.update({"APP_ENV": "production", "DATABASE_URL": url, "INSTANCE_PATH": str(folder / "instance"),
                "PUBLIC_BASE_URL": "https://centers.example", "OUTBOX_SENDER": "workflows.outbox:ConsoleSender"})
    return env


def run_flask(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([str(VENV_BIN / "flask"), "--app", "web", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"flask --app web {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def schema_drift(url: str, *, create_all: bool = False) -> list[str]:
    """What the database's schema lacks compared with the models (alembic's autogenerate comparison)."""
    import warnings

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    import web  # noqa: F401  (imports every module that declares tables)
    from web import create_app
    from workflows.models import Base
    create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": url})  # registers every model module
    engine = create_engine(url)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if create_all:
                Base.metadata.create_all(engine)
                return []
            with engine.connect() as connection:
                diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    out = []
    for item in diff:
        entry = item[0] if isinstance(item, list) else item
        name = getattr(entry[1], "name", None) or (entry[3] if len(entry) > 3 else "")
        out.append(f"{entry[0]} {name}")
    return out


#: how the schema is made in this run: "migrations" (flask --app web init), or "create_all" when the
#: migrations in this checkout lag the models (decided once per run on a scratch SQLite database)
SCHEMA_MODE: dict[str, Any] = {}


def decide_schema_mode(scratch: Path) -> dict[str, Any]:
    if SCHEMA_MODE:
        return SCHEMA_MODE
    scratch.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{scratch / 'schema-check.db'}"
    run_flask(site_env(url, scratch), "db", "upgrade")
    drift = schema_drift(url)
    SCHEMA_MODE.update(mode="create_all" if drift else "migrations", drift=drift)
    if drift:
        log(f"WARNING: the migrations in this checkout lag the models ({len(drift)} differences: "
            f"{', '.join(drift[:6])}...); databases are built with Base.metadata.create_all + "
            "'flask db stamp head', then 'flask --app web init' seeds them")
    return SCHEMA_MODE


def make_site(url: str, folder: Path) -> Site:
    """Migrate and seed a database as the README says (``flask --app web init``); when the checkout's
    migrations lag its models, build the schema from the models first and stamp it (see SCHEMA_MODE)."""
    env = site_env(url, folder)
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    mode = decide_schema_mode(folder.parent / "schema-check")["mode"]
    if mode == "create_all":
        schema_drift(url, create_all=True)
        run_flask(env, "db", "stamp", "head")
    run_flask(env, "init")
    if url.startswith("sqlite:///"):
        import sqlite3
        with contextlib.closing(sqlite3.connect(url[len("sqlite:///"):])) as connection:
            env["BENCH_SQLITE_JOURNAL"] = connection.execute("PRAGMA journal_mode").fetchone()[0]
    return Site(url, folder, env)


@contextlib.contextmanager
def backend_site(backend: str, folder: Path, name: str) -> Iterator[tuple[Site, "Postgres | None"]]:
    """A site made by ``flask --app web init`` on a SQLite file in ``folder``, or on a throwaway
    PostgreSQL server (stopped when the block ends); with the server, if any."""
    postgres = None
    try:
        if backend == "sqlite":
            yield make_site(f"sqlite:///{folder / 'sqlite' / 'app.db'}", folder / "sqlite"), None
        else:
            postgres = Postgres().start()
            yield make_site(postgres.create_database(name), folder / "postgresql"), postgres
    finally:
        if postgres is not None:
            postgres.stop()


def create_site_app(site: Site):
    """The application on the site's database, configured as its server is."""
    from web import create_app
    env = site.env
    return create_app({"APP_ENV": "production", "SQLALCHEMY_DATABASE_URI": site.url, "SECRET_KEY": env["SECRET_KEY"],
                       "SYSTEM_SIGNING_PIN": env["SYSTEM_SIGNING_PIN"], "CA_KEY_PASSPHRASE": env["CA_KEY_PASSPHRASE"],
                       "STORAGE_DIR": Path(env["INSTANCE_PATH"]) / "documents",
                       "PUBLIC_BASE_URL": env["PUBLIC_BASE_URL"]})


# --- sample uploads and forms --------------------------------------------------------------------

def png_bytes(color: str = "green") -> bytes:
    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (30, 40), color).save(buffer, "PNG")
    return buffer.getvalue()


def pdf_bytes(text: str = "degree") -> bytes:
    return f"%PDF-1.4\n% {text}\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".encode()


def scenario_fixtures(folder: str) -> dict:
    return json.loads((SCENARIO_DIR / folder / "fixtures.json").read_text("utf-8"))


def application_form() -> dict:
    return copy.deepcopy(scenario_fixtures("center_founding")["application"])


def national_id(n: int) -> str:
    """The n-th valid national ID (check digit included) of a series the demo data does not use."""
    body = f"{(700_000_000 + n) % 1_000_000_000:09d}"
    remainder = sum(int(body[i]) * (10 - i) for i in range(9)) % 11
    return body + str(remainder if remainder < 2 else 11 - remainder)


# --- driving cases through the domain operations ------------------------------------------------

class Driver:
    """Runs real cases through workflows.cases / workflows.inquiries with signers unlocked once.

    ``complete_task(signer=...)`` takes a pre-unlocked signer; agencies answer inquiries through a
    signing session each opens once (``workflows.keys.open_signing_session``), as an agency's client
    would: the records are the same ones, signed by the same keys, without paying the ~60 ms
    scrypt unlock for each of them. Call within an app context; leaving the block closes them.
    """

    def __init__(self, app) -> None:
        from web.extensions import db
        self.app, self.db = app, db
        self.session = db.session
        self._signers: dict[tuple[int, str], Any] = {}
        self._users: dict[str, int] = {}
        self._uploads: dict[str, bytes] = {"manager_id_copy": png_bytes("red"), "manager_photo": png_bytes("blue"),
                                           "manager_degree": pdf_bytes()}
        from workflows import keys
        self._keys = keys
        self._handles: dict[int, tuple[str, datetime]] = {}
        #: each founding proposes a new manager: national IDs from a random point of the series
        self._managers = secrets.randbelow(900_000_000)

    def __enter__(self) -> "Driver":
        return self

    def __exit__(self, *exc: object) -> None:
        from workflows.models import User
        self.session.rollback()
        for user_id, (handle, _) in self._handles.items():
            self._keys.close_signing_session(self.session, self.session.get(User, user_id),
                                             self._keys.signing_session_id(handle))
        self.session.commit()
        self._handles.clear()

    def signing_session(self, user, pin: str) -> str:
        """A handle of the user's open signing session (opened, or opened again near its end)."""
        from workflows.models import as_utc, utcnow
        handle, ends = self._handles.get(user.id, (None, None))
        if handle is None or ends - timedelta(minutes=5) < utcnow():
            handle, opened = self._keys.open_signing_session(self.session, user, pin, minutes=60)
            self.session.commit()
            self._handles[user.id] = (handle, as_utc(opened.expires_at))
        return handle

    def user(self, username: str):
        from sqlalchemy import select
        from workflows.models import User
        if username not in self._users:
            self._users[username] = self.session.scalars(select(User).where(User.username == username)).one().id
        return self.session.get(User, self._users[username])

    def signer(self, user, pin: str = PIN):
        key = (user.id, pin)
        if key not in self._signers:
            self._signers[key] = self._keys.unlock_signer(self.session, user, pin)
        return self._signers[key]

    def upload(self, case, user) -> dict[str, str]:
        from workflows import documents
        storage = self.app.config["STORAGE_DIR"]
        return {name: documents.store_document(self.session, storage, case=case, user=user, field=name,
                                               filename=f"{name}.bin", content=content).sha256
                for name, content in self._uploads.items()}

    def start(self, process_key: str, starter: str, *, center=None, linked=None, now: datetime | None = None):
        from workflows.cases import start_case
        case = start_case(self.session, process_key=process_key, starter=self.user(starter), center=center,
                          linked_case=linked, now=now)
        self.session.commit()
        return case

    def complete(self, case, task_name: str, actor: str, data: dict, now: datetime | None = None):
        from workflows.cases import complete_task
        task = next((t for t in case.tasks if t.name == task_name), None)
        if task is None:
            raise RuntimeError(f"{task_name} is not waiting on case {case.id} (waiting: {[t.name for t in case.tasks]})")
        user = self.user(actor)
        transition = complete_task(self.session, case=case, task_id=task.task_id, actor=user, data=data,
                                   signer=self.signer(user), now=now)
        self.session.commit()
        return transition.records

    def answer_inquiries(self, case, result: Any = "clear", now: datetime | None = None) -> list:
        from sqlalchemy import select
        from workflows import inquiries
        from workflows.demo import DEMO_ACCOUNTS
        from workflows.models import Inquiry, utcnow
        agencies = {a.agency: a for a in DEMO_ACCOUNTS if a.agency}
        records = []
        for inquiry in self.session.scalars(select(Inquiry).where(Inquiry.case_id == case.id,
                                                                  Inquiry.status == "pending").order_by(Inquiry.id)).all():
            outcome = result if isinstance(result, str) else result.get(inquiry.kind, "clear")
            account = agencies[inquiry.agency]
            agency = self.user(account.username)
            records += inquiries.answer_inquiry(self.session, inquiry_id=inquiry.id, agency_user=agency,
                                                data={"result": outcome, "reference": f"REF-{inquiry.id}"},
                                                pin=None, signing_session=self.signing_session(agency, account.pin),
                                                now=now or utcnow())
            self.session.commit()
        return records

    def application(self, case, applicant: str, county: str = "markazi-arak", manager_id: str | None = None) -> dict:
        form = application_form()
        form["mosque"]["county"] = county
        form["documents"] = self.upload(case, self.user(applicant))
        if manager_id is None:  # one manager manages one center: each founding proposes a new person
            self._managers += 1
            manager_id = national_id(self._managers)
        form["manager"]["national_id"] = manager_id
        return form

    def site_visit(self, case, expert: str = "arak_officer") -> list:
        """The county schedules the case's site visit today and its expert signs a checklist that passes;
        the records signed (none when the case does not wait for a visit)."""
        if not any(t.name == "schedule_visit" for t in case.tasks):
            return []
        from workflows import documents
        from workflows.models import tehran_today, utcnow
        fixtures = json.loads((SCENARIO_DIR / "center_founding" / "fixtures.json").read_text("utf-8"))
        records = self.complete(case, "schedule_visit", expert, {**fixtures["visit_schedule"], "expert": expert,
                                                                "visit_date": tehran_today(utcnow()).isoformat()})
        photo = documents.store_document(self.session, self.app.config["STORAGE_DIR"], case=case,
                                         user=self.user(expert), field="documents.space_photo", filename="space.bin",
                                         content=png_bytes("gray")).sha256  # the expert's own photo
        return records + self.complete(case, "site_visit", expert, {**fixtures["visit"], "documents": {"space_photo": photo}})

    def to_county_review(self, applicant: str = "applicant1", county: str = "markazi-arak",
                         expert: str = "arak_officer"):
        """A founding case submitted, answered by every agency and visited: waiting at county_review."""
        case = self.start("center_founding", applicant)
        self.complete(case, "submit_application", applicant, self.application(case, applicant, county))
        self.answer_inquiries(case)
        self.site_visit(case, expert)
        return case

    def found_center(self, applicant: str = "applicant1", manager_id: str | None = None,
                     county: str = "markazi-arak", county_actor: str = "arak_officer",
                     province_actor: str = "markazi_officer"):
        """A founding case run to its license (10 signed records); returns the case."""
        case = self.start("center_founding", applicant)
        self.complete(case, "submit_application", applicant, self.application(case, applicant, county, manager_id))
        self.answer_inquiries(case)
        self.site_visit(case, county_actor)
        self.complete(case, "county_review", county_actor, {"decision": "approve"})
        self.complete(case, "province_review", province_actor, {"decision": "approve"})
        return case


# --- processes ------------------------------------------------------------------------------------

@contextlib.contextmanager
def temporary_folder(data_dir: Path, prefix: str, keep: bool = False) -> Iterator[Path]:
    data_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=data_dir))
    try:
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def rss_of(pid: int) -> int:
    """Resident set size of a process in bytes (psutil when installed, /proc otherwise)."""
    try:
        import psutil
        return psutil.Process(pid).memory_info().rss
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- results --------------------------------------------------------------------------------------

@dataclass
class Row:
    """One line of the results table: a figure beside the baseline measured in the same run."""

    part: str
    measure: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    #: value / baseline, or as the target defines it
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if value != value:  # nan
        return "n/a"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def table(rows: list[Row]) -> str:
    header = ["part", "measure", "value", "baseline (same run)", "ratio", "target", "met"]
    lines = [[r.part, r.measure, fmt(r.value, r.unit),
              (f"{fmt(r.baseline, r.unit)} ({r.baseline_label})" if r.baseline is not None else (r.baseline_label or "-")),
              "-" if r.ratio is None else f"{r.ratio:.2f}", r.target or "-",
              "-" if r.met is None else ("yes" if r.met else "NO")] for r in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths)), "-+-".join("-" * w for w in widths)]
    out += [" | ".join(str(x).ljust(w) for x, w in zip(line, widths)) for line in lines]
    return "\n".join(out)


def markdown_table(rows: list[Row]) -> str:
    header = "| part | measure | value | baseline (same run) | ratio | target | met |\n|---|---|---|---|---|---|---|"
    body = [f"| {r.part} | {r.measure} | {fmt(r.value, r.unit)} | "
            f"{(fmt(r.baseline, r.unit) + ' (' + r.baseline_label + ')') if r.baseline is not None else (r.baseline_label or '-')} | "
            f"{'-' if r.ratio is None else f'{r.ratio:.2f}'} | {r.target or '-'} | "
            f"{'-' if r.met is None else ('yes' if r.met else '**no**')} |" for r in rows]
    return "\n".join([header, *body])


def sqlite_pragmas(engine, **pragmas: str) -> None:
    """Set PRAGMAs on every new SQLite connection of this engine (bench processes only)."""
    from sqlalchemy import event
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _set(dbapi_connection, _record):  # noqa: ANN001
        cursor = dbapi_connection.cursor()
        for name, value in pragmas.items():
            cursor.execute(f"PRAGMA {name}={value}")
        cursor.close()

    engine.dispose()
