"""How long one signed transition and one certificate PDF take, on a real SQLite database.

Run: .venv/bin/python bench/founding.py [cases]
Prints medians and 95th percentiles; the PIN-unlock (KDF) share of a transition is measured apart.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from tests.forms.examples import national_id_with_check_digit  # noqa: E402
from support import ACTORS, PIN, answer_all, application_fixture, pdf_bytes, png_bytes, user  # noqa: E402
from web import create_app  # noqa: E402
from web.certificate import certificate_context, render_certificate  # noqa: E402
from web.cli import deploy_all  # noqa: E402
from web.extensions import db  # noqa: E402
from workflows import documents  # noqa: E402
from workflows.cases import complete_task, start_case  # noqa: E402
from workflows.demo import seed_demo  # noqa: E402
from workflows.keys import unlock_signer  # noqa: E402
from workflows.models import utcnow  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(cases: int) -> None:
    folder = Path(tempfile.mkdtemp())
    app = create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'b.db'}",
                      "STORAGE_DIR": folder / "docs"})
    timings: dict[str, list[float]] = {"submit": [], "county approve": [], "province approve + issue": [],
                                       "PIN unlock alone": [], "certificate PDF": []}
    with app.app_context(), app.test_request_context(base_url="http://127.0.0.1:5000"):
        db.create_all()
        deploy_all(run_scenarios=False)  # the benchmark measures cases, not deploy
        seed_demo(db.session, app.config["SYSTEM_SIGNING_PIN"], app.config["CA_KEY_PASSPHRASE"])
        db.session.commit()
        applicant = user(ACTORS["applicant"])
        for number in range(cases):
            case = start_case(db.session, process_key="center_founding", starter=applicant)
            digests = {f: documents.store_document(db.session, folder / "docs", case=case, user=applicant, field=f,
                                                   filename=f, content=c).sha256
                       for f, c in (("manager_id_copy", png_bytes()), ("manager_photo", png_bytes("red")),
                                    ("manager_degree", pdf_bytes()))}
            db.session.commit()
            application = {**application_fixture(), "documents": digests}
            # a different manager each time: one person manages one center at most (a rule)
            application["manager"] = {**application["manager"],
                                      "national_id": national_id_with_check_digit(f"{500000000 + number:09d}")}
            steps = [("submit", "applicant", application),
                     ("county approve", "county", {"decision": "approve"}),
                     ("province approve + issue", "province", {"decision": "approve"})]
            for label, actor, data in steps:
                start = time.perf_counter()
                complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(ACTORS[actor]),
                              data=data, pin=PIN)
                db.session.commit()
                timings[label].append(time.perf_counter() - start)
                if label == "submit":
                    answer_all(case, "clear", utcnow())
            start = time.perf_counter()
            unlock_signer(db.session, applicant, PIN)
            timings["PIN unlock alone"].append(time.perf_counter() - start)
        for case_id in range(1, min(cases, 10) + 1):
            from workflows.models import Case
            case = db.session.get(Case, case_id)
            start = time.perf_counter()
            render_certificate(certificate_context(case))
            timings["certificate PDF"].append(time.perf_counter() - start)
    print(f"{'operation':<28}{'n':>5}{'median ms':>12}{'p95 ms':>10}")
    for label, values in timings.items():
        print(f"{label:<28}{len(values):>5}{statistics.median(values) * 1000:>12.1f}{pct(values, 0.95) * 1000:>10.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
