"""The application as gunicorn serves it, plus the baseline route that exists only in the benchmark.

    gunicorn -w 2 -b 127.0.0.1:PORT bench.wsgi:app     (from the project root, with the app's env)

``POST /bench/baseline/cases/<id>/tasks/<task_id>/complete`` — the baseline: the same
authentication (bearer token), the same case look-up within the caller's jurisdiction and the
same database writes as a county review decision, without the engine and without signatures:
the case row locked (SELECT … FOR UPDATE) and rewritten (its state text written back, status,
time, lock version), the task rows deleted and written again, the next record row of the case
(a JSON body of the real record's size, no signature), a Merkle log leaf under the locked log
state row, and the notifications and outgoing messages a county approval makes (a decision for
the applicant, a task for each person of the province office: ``notifications.add_all``, as a
transition writes them). One commit. The case stays at
county review, so a pool of 20 cases serves any number of requests.

Nothing in web/ is changed: the routes are added to the app object built here.
"""
from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flask import g, jsonify  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import joinedload  # noqa: E402
from sqlalchemy.orm.attributes import flag_modified  # noqa: E402

from web import create_app  # noqa: E402

BASELINE_RECORD_BYTES = 1100  # about the size of a county decision's canonical record


def build_app():
    app = create_app()
    from web.api import authenticated
    from web.openapi import CompleteRequest, accepts, request_body
    from web.extensions import csrf, db
    from web.scope import case_or_404
    from workflows import access, log
    from workflows.errors import Conflict, InvalidInput
    from workflows import notifications, procedures
    from workflows.models import Case, CaseTask, Office, Record, utcnow

    @authenticated
    @accepts(CompleteRequest)
    def baseline(case_id: int, task_id: str):
        case = case_or_404(g.api_user, case_id)
        body = request_body()
        data = body["data"]
        if not isinstance(data, dict) or data.get("decision") not in ("approve", "return", "reject"):
            raise InvalidInput({"decision": ["required"]})
        case = db.session.scalars(select(Case).where(Case.id == case.id).with_for_update(of=Case)
                                  .options(joinedload(Case.county_office).joinedload(Office.parent),
                                           joinedload(Case.applicant))
                                  .execution_options(populate_existing=True)).one()  # loaded as a transition does
        task = next((t for t in case.tasks if t.task_id == task_id), None)
        if task is None:
            raise Conflict("task is not waiting")
        if not access.may_act(g.api_user, task):
            raise Conflict("not your task")
        now = utcnow()
        last = db.session.execute(select(Record.seq, Record.key_id).where(Record.case_id == case.id)
                                  .order_by(Record.seq.desc()).limit(1)).first()
        seq = (last.seq + 1) if last else 1
        text = json.dumps({"case_id": case.public_id, "seq": seq, "action": data["decision"], "task_id": task_id,
                           "pad": "x" * BASELINE_RECORD_BYTES}, sort_keys=True)
        record = Record(case_id=case.id, seq=seq, action="baseline", task_name=task.name, actor_user_id=g.api_user.id,
                        created_at=now, canonical=text, hash=secrets.token_hex(32), signature="-",
                        key_id=last.key_id, form_data=json.dumps(data, sort_keys=True))
        db.session.add(record)
        db.session.flush()
        log.append(db.session, record)
        flag_modified(case, "state")  # written back whole, as a transition does
        case.updated_at, case.status = now, "county_review"
        kept = [CaseTask(task_id=t.task_id, name=t.name, title=t.title, lane=t.lane, form_key=t.form_key,
                         office_id=t.office_id, assignee_id=t.assignee_id, due_at=t.due_at, created_at=t.created_at)
                for t in case.tasks]
        case.tasks.clear()
        db.session.flush()
        case.tasks.extend(kept)
        province_id = case.county_office.parent_id if case.county_office else None
        people = [case.applicant] + (access.office_people(db.session, province_id, "province") if province_id else [])
        key = f"{case.public_id}:baseline:{seq}"
        params = {"case": notifications.case_label(case), "step": task.title,
                  "process": procedures.of_version(db.session, case.spec_version).title}
        notifications.add_all(db.session, [(person, "task", key, params) for person in people], now, case=case)
        db.session.commit()
        return jsonify({"case": {"id": case.id, "status": case.status, "lock_version": case.lock_version},
                        "records": [{"seq": seq, "action": "baseline", "hash": record.hash}]})

    app.add_url_rule("/bench/baseline/cases/<int:case_id>/tasks/<task_id>/complete", "bench_baseline", baseline,
                     methods=["POST"])
    csrf.exempt(baseline)
    return app


app = build_app()
