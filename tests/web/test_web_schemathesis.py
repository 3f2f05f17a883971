"""Schemathesis against the served OpenAPI document: every operation, as an officer, an applicant
and an agency, with all of its default checks (no server error, status codes, content types,
headers and response bodies as documented, schema-valid data accepted, invalid data refused,
authentication not ignored).

Bounded and deterministic: ``EXAMPLES`` positive and ``EXAMPLES`` negative examples per operation
(hypothesis with ``derandomize``), no shrinking, and a time limit for each role. The summary line
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

from support import PASSWORD

#: the roles and the demo account each one signs in as
ROLES = {"officer": "arak_officer", "applicant": "applicant1", "agency": "judiciary_agency"}
#: examples per operation and generation mode (positive, negative)
EXAMPLES = 25
#: seconds one role's run may take before it stops and fails
TIME_LIMIT = 150
RUN = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
               phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


#: 422s whose cause no document can state: whether a PIN or a signing-session handle is the right one
SECRET_REFUSALS = {"wrongpin", "signingsessionended"}


def positive_data_accepted(ctx, response, case):
    """Schemathesis's positive_data_acceptance, but for a schema-valid PIN or signing session that is
    not the caller's: refused with 422 keyed by that field, which the check would count as valid data
    rejected."""
    if response.status_code == 422 and _error_code(response) in SECRET_REFUSALS:
        return None
    return positive_data_acceptance(ctx, response, case)


def _error_code(response) -> str | None:
    try:
        return response.json().get("error")
    except (ValueError, AttributeError):
        return None


class CountingApp:
    """WSGI middleware counting the requests that reach the application (checks send some of their own)."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app
        self.requests = 0

    def __call__(self, environ, start_response):
        self.requests += 1
        return self.wsgi_app(environ, start_response)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_operation_conforms_to_the_document(app, client, role):
    applicant = client.post("/api/v1/auth/token", json={"username": "applicant1", "password": PASSWORD}).json
    created = client.post("/api/v1/cases", json={"process_key": "center_founding"},
                          headers={"Authorization": f"Bearer {applicant['token']}"})
    assert created.status_code == 201  # a case with a waiting task, so small ids find something
    signed_in = client.post("/api/v1/auth/token", json={"username": ROLES[role], "password": PASSWORD})
    headers = {"Authorization": f"Bearer {signed_in.json['token']}"}

    counter = CountingApp(app.wsgi_app)
    app.wsgi_app = counter
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    deadline = time.monotonic() + TIME_LIMIT
    failures: Counter[str] = Counter()
    examples = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = st.one_of(operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                             operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))

        @RUN
        @given(case=strategy)
        def run(case):
            if time.monotonic() > deadline:
                pytest.fail(f"schemathesis ({role}) ran over its {TIME_LIMIT} s at {operation.label}")
            try:
                # DELETE /auth/token would sign the role out for the operations after it
                sent = headers if operation.label != "DELETE /api/v1/auth/token" else {}
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
