"""Whole-database verification split across worker processes finds what one process finds."""
from __future__ import annotations

from sqlalchemy import select

from support import found_center
from web.extensions import db
from workflows.models import Case, Record
from workflows.verification import verify_case, verify_cases, verify_cases_in_processes


def test_verify_all_in_two_processes(app, runner):
    found_center(app, "applicant1")
    found_center(app, "applicant2", manager_national_id="1234567891")
    cases = db.session.scalars(select(Case).order_by(Case.id)).all()
    assert len(cases) >= 2
    result = runner.invoke(args=["verify-all", "--processes", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"{len(cases)} case(s) verified, 0 failed" in result.output

    found = list(verify_cases_in_processes(db.session, 2, chunk=1))
    assert [f[0] for f in found] == [c.id for c in cases]  # every case once, in id order
    assert all(report.ok for *_, report in found)

    victim = cases[-1]
    record = db.session.scalars(select(Record).where(Record.case_id == victim.id).order_by(Record.seq)).first()
    record.canonical = record.canonical.replace('"v":1', '"v":2')
    db.session.commit()
    found = {case_id: report for case_id, _, _, report in verify_cases_in_processes(db.session, 2, chunk=1)}
    assert not found[victim.id].ok and all(r.ok for case_id, r in found.items() if case_id != victim.id)
    assert found[victim.id] == verify_case(db.session, db.session.get(Case, victim.id))
    result = runner.invoke(args=["verify-all", "--processes", "2", "--quiet"])
    assert result.exit_code == 1 and f"case {victim.id} " in result.output and "1 failed" in result.output


def test_the_streamed_audit_leaves_the_session_writable(app):
    """The audit streams its rows; what comes after it in the same transaction still writes (on
    PostgreSQL a connection left streaming would run the next INSERT through a server-side cursor)."""
    found_center(app, "applicant1")
    reports = [report for *_, report in verify_cases(db.session)]
    assert reports and all(report.ok for report in reports)
    center = found_center(app, "applicant2", manager_national_id="1234567891")
    assert center.id is not None and all(report.ok for *_, report in verify_cases(db.session))


def test_the_cases_are_handed_out_in_ranges_small_enough_for_every_worker():
    from workflows.verification import MAX_RANGE, MIN_RANGE, RANGES_PER_WORKER, id_ranges
    ids = list(range(1, 2201))  # the database: 2,200 cases, once handed out as 2,000 + 200
    ranges = id_ranges(ids, 2)
    assert len(ranges) >= 2 * RANGES_PER_WORKER
    sizes = [last - first + 1 for first, last in ranges]
    assert max(sizes) <= -(-len(ids) // (2 * RANGES_PER_WORKER)) and sum(sizes) == len(ids)
    assert ranges[0][0] == 1 and ranges[-1][1] == 2200
    assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:]))  # no case left out or twice
    assert id_ranges(list(range(1, 11)), 2) == [(1, 10)] and MIN_RANGE >= 10  # a few cases: one range
    assert max(last - first + 1 for first, last in id_ranges(list(range(1, 1_000_001)), 2)) == MAX_RANGE
    assert id_ranges([], 2) == []
