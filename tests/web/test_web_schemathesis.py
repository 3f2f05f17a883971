"""Schemathesis against the served OpenAPI document: every operation, as an officer, an applicant
and an agency, with all of its default checks (no server error, status codes, content types,
headers and response bodies as documented, schema-valid data accepted, invalid data refused,
authentication not ignored).

Bounded and deterministic: ``EXAMPLES`` examples per operation, drawn from schemathesis's positive
and negative modes, some on the role's own case, task or inquiry (hypothesis with ``derandomize``),
no shrinking, and a time limit for each role. The summary line
(requests and failures per role) is printed for the run's closing note.
"""
from __future__ import annotations

import time
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance

from sqlalchemy import select

from support import PASSWORD, in_county_review, submitted_founding, user
from web.extensions import db
from workflows.cases import start_case
from workflows.models import Inquiry

#: the roles and the demo account each one signs in as
ROLES = {"officer": "arak_officer", "applicant": "applicant1", "agency": "judiciary_agency"}
#: examples per operation and generation mode (positive, negative)
EXAMPLES = 40
#: seconds one role's run may take before it stops and fails: a hang, not a busy machine (a role
#: takes about 25 s on an idle two-core machine, and over 100 s when other jobs share it)
TIME_LIMIT = 300
RUN = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
               phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


def positive_data_accepted(ctx, response, case):
    """Schemathesis's positive_data_acceptance, but for a 422 the document announces beyond the
    body's schema (``x-refused-beyond-schema``: a PIN that is not the caller's, data not valid for
    the task's own form, a file that is no PDF …), which no JSON Schema can state."""
    if response.status_code == 422:
        declared = case.operation.definition.raw["responses"].get("422", {})
        if "x-refused-beyond-schema" in declared:
            return None
    return positive_data_acceptance(ctx, response, case)


class CountingApp:
    """WSGI middleware counting the requests that reach the application (checks send some of their own)."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app
        self.requests = 0

    def __call__(self, environ, start_response):
        self.requests += 1
        return self.wsgi_app(environ, start_response)


def own_things(app, role: str) -> dict[str, object]:
    """Path parameters naming something the role may act on, so that some requests get past the
    lookup to the body: the applicant's new founding and its form, the county office's decision
    waiting on another founding, the agency's pending inquiry."""
    if role == "applicant":
        case = start_case(db.session, process_key="center_founding", starter=user("applicant1"))
    elif role == "officer":
        case = in_county_review(app, "applicant1")
    else:
        case = submitted_founding(app, "applicant1", manager_national_id="0013542419")
    db.session.commit()
    things: dict[str, object] = {"case_id": case.id, "task_id": case.tasks[0].task_id if case.tasks else "none"}
    if role == "agency":
        things["inquiry_id"] = db.session.scalars(select(Inquiry.id).where(
            Inquiry.case_id == case.id, Inquiry.agency == "judiciary")).first()
    return things


def sign_in(client, role: str) -> dict[str, str]:
    signed_in = client.post("/api/v1/auth/token", json={"username": ROLES[role], "password": PASSWORD})
    return {"Authorization": f"Bearer {signed_in.json['token']}"}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_operation_conforms_to_the_document(app, client, role):
    fixed = own_things(app, role)
    headers = sign_in(client, role)

    counter = CountingApp(app.wsgi_app)
    app.wsgi_app = counter
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    deadline = time.monotonic() + TIME_LIMIT
    failures: Counter[str] = Counter()
    examples = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        strategies = [operation.as_strategy(mode) for mode in schemathesis.GenerationMode]
        own = {name: value for name, value in fixed.items() if "{" + name + "}" in operation.path}
        if own:  # and on the role's own case, task or inquiry
            strategies += [operation.as_strategy(mode, path_parameters=own) for mode in schemathesis.GenerationMode]
        strategy = st.one_of(strategies)

        @RUN
        @given(case=strategy)
        def run(case):
            if time.monotonic() > deadline:
                pytest.fail(f"schemathesis ({role}) ran over its {TIME_LIMIT} s at {operation.label}")
            try:
                # DELETE /auth/token signs out: a token of its own, so the operations after it keep theirs
                sent = sign_in(client, role) if operation.label == "DELETE /api/v1/auth/token" else headers
                case.call_and_validate(headers=sent, excluded_checks=[positive_data_acceptance],
                                       additional_checks=[positive_data_accepted])
            except FailureGroup as group:
                for failure in group.exceptions:
                    key = f"{operation.label}: {failure.title}"
                    failures[key] += 1
                    examples.setdefault(key, str(group)[:1500])

        run()
    elapsed = time.monotonic() - deadline + TIME_LIMIT
    print(f"\nschemathesis {role}: {counter.requests} requests, {sum(failures.values())} failures, {elapsed:.0f} s")
    assert not failures, "\n\n".join(f"{key} (x{count})\n{examples[key]}" for key, count in failures.items())
