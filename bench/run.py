"""The benchmark suite: one command, one table. Not part of the test suite.

    .venv/bin/python bench/run.py [--quick] [--only NAME[,NAME]] [size flags]

Parts (``--only``): transition, http, verify, certificates, growth, size, lists. Every figure is printed beside a
baseline measured in the same run, so ratios hold on a noisy machine. docs/benchmarks.md explains
each part, the flags and the results measured on the reference machine. PostgreSQL parts start a
throwaway server (Debian's package, as root: initdb as the postgres user) on 127.0.0.1 and a
random port and stop it at the end.
"""
from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
# bench/signing.py and bench/engine.py would shadow the project's packages: never import from bench/ by
# bare name, only as the namespace package ``bench``
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

PARTS = ("transition", "http", "verify", "certificates", "growth", "size", "lists")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes everywhere (a few minutes in all)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts: {', '.join(PARTS)}")
    parser.add_argument("--data-dir", type=Path, default=None, help="where databases are made (default /tmp/mosque-bench)")
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached verification database")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure and detail to this JSON file")
    g = parser.add_argument_group("0 transition")
    g.add_argument("--transition-seconds", type=float, default=20.0,
                   help="timed seconds of transitions and floors per database (default 20)")
    g = parser.add_argument_group("1 http")
    g.add_argument("--http-seconds", type=float, default=None, help="seconds per run (default 20, quick 10)")
    g.add_argument("--http-backends", default="sqlite,postgresql", help="sqlite, postgresql or both")
    g.add_argument("--http-breakdown", type=int, default=None, help="in-process phase breakdown cases (default 20)")
    g = parser.add_argument_group("2 verify")
    g.add_argument("--verify-records", type=int, default=None, help="signed records in the database (default 200000, quick 20000)")
    g.add_argument("--verify-real-records", type=int, default=None,
                   help="of which made by running real cases (default 3000, quick 1000); the rest are re-signed replicas")
    g.add_argument("--verify-real-only", action="store_true", help="every record from real cases (about 20 records/s here)")
    g.add_argument("--gen-processes", type=int, default=2, help="processes generating real cases")
    g.add_argument("--verify-seconds", type=float, default=None, help="time budget per verification run (default 120, quick 30)")
    g.add_argument("--profile-cases", type=int, default=None, help="cases verified under the profiler (default 150)")
    g = parser.add_argument_group("3 certificates")
    g.add_argument("--cert-count", type=int, default=None, help="certificates in the batch (default 30, quick 8)")
    g = parser.add_argument_group("4 growth")
    g.add_argument("--lists-sizes", default=None, help="licensed centers in the county (default 100,300, quick 30,90)")
    g.add_argument("--lists-seconds", type=float, default=None, help="seconds each page is read (default 20, quick 5)")
    g.add_argument("--growth-sizes", default=None, help="case counts (default 10000,100000; add 1000000 for the full run)")
    g.add_argument("--growth-repeats", type=int, default=None, help="timed repetitions per query (default 15)")
    g = parser.add_argument_group("5 size")
    g.add_argument("--rss-transitions", type=int, default=None, help="transitions before worker RSS (default 10000, quick 700)")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {"http_seconds": (20.0, 10.0), "http_breakdown": (20, 8), "verify_records": (200_000, 20_000),
                "verify_real_records": (3000, 1000), "verify_seconds": (120.0, 30.0), "profile_cases": (150, 60),
                "cert_count": (30, 8), "growth_sizes": ("10000,100000", "10000,30000"), "growth_repeats": (15, 7),
                "rss_transitions": (10_000, 700), "lists_sizes": ("100,300", "30,90"), "lists_seconds": (20.0, 5.0)}
    for name, (full, small) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    args.parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from bench.common import DEFAULT_DATA_DIR, SCHEMA_MODE, log, machine_info, markdown_table, table
    data_dir = args.data_dir or DEFAULT_DATA_DIR
    data_dir.mkdir(parents=True, exist_ok=True)
    info = machine_info()
    log("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    rows, details, failures = [], {"machine": info, "args": {k: str(v) for k, v in vars(args).items()}}, {}
    for part in PARTS:
        if part not in args.parts:
            continue
        module = __import__(f"bench.{ {'http': 'http_load'}.get(part, part) }", fromlist=["run"])
        load_before = os.getloadavg()
        started = time.perf_counter()
        log(f"=== part {part} (load average {load_before[0]:.2f})")
        try:
            part_rows, part_details = module.run(args, data_dir)
        except Exception as error:  # a failed part is reported; the others still run
            traceback.print_exc()
            failures[part] = f"{type(error).__name__}: {error}"
            continue
        seconds = time.perf_counter() - started
        rows += part_rows
        details[part] = {**part_details, "seconds": seconds, "load_before": load_before, "load_after": os.getloadavg()}
        log(f"=== part {part} done in {seconds / 60:.1f} min (load average {os.getloadavg()[0]:.2f})")
    details["schema"] = dict(SCHEMA_MODE)
    print()
    print(f"Machine: {info['nproc']} cores, {info['cpu']}, {info['memory']}, Python {info['python']}")
    if SCHEMA_MODE.get("mode") == "create_all":
        print(f"Schema: built from the models (the checkout's migrations lag them: {len(SCHEMA_MODE['drift'])} differences)")
    print(table(rows))
    for part in ("transition", "verify", "certificates", "growth", "size"):
        extra = details.get(part, {}).get("report")
        if extra:
            print()
            print(extra)
    if "verify" in details:
        print()
        print(details["verify"]["profile"])
    for part, message in failures.items():
        print(f"\nPART {part} FAILED: {message}")
    if args.json:
        details["markdown"] = markdown_table(rows)
        details["rows"] = [vars(r) for r in rows]
        args.json.write_text(json.dumps(details, indent=1, default=str, ensure_ascii=False))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
