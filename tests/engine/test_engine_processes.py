"""Every route of every process, straight and through serialize/load between every step."""

from datetime import timedelta

import pytest

import engine
from tests.engine.flow import (
    ACK_INTERIM,
    ACK_SUCCESSOR,
    INQUIRIES_CLEAR,
    INTERIM,
    NOW,
    REQUEST,
    SCHEDULE,
    STEP,
    SUCCESSOR,
    VISIT_FAILS,
    VISIT_PASSES,
    Route,
    load_spec,
    play,
)

ANSWERED = ("message:inquiries_complete", INQUIRIES_CLEAR)
INQUIRIES_LATE = ("timer:inquiries_overdue", None)
COUNTY_LATE = ("timer:county_overdue", None)
SUBMIT = ("submit", {})
CORRECT = ("correct", {})
SCHEDULED = ("schedule_visit", SCHEDULE)
VISITED = ("site_visit", VISIT_PASSES)


def with_visits(routes: dict[str, Route]) -> dict[str, Route]:
    """The routes with the county's site visit (scheduled, then passed) after every round of inquiries."""
    for route in routes.values():
        steps = []
        for step, following in zip(route.steps, [*route.steps[1:], None]):
            steps.append(step)
            if step in (ANSWERED, INQUIRIES_LATE) and following != SCHEDULED:  # unless the route visits itself
                steps += [SCHEDULED, VISITED]
        route.steps = steps
    return routes


def review_routes(done: str) -> dict[str, Route]:
    """Routes shared by center_founding and manager_change (`done` is the approving end event)."""
    return {
        "approve-approve": Route([SUBMIT, ANSWERED, ("county_review", "approve"), ("province_review", "approve")],
                                 done),
        "inquiries-overdue": Route([SUBMIT, INQUIRIES_LATE, ("county_review", "approve"),
                                    ("province_review", "approve")], done),
        "county-overdue-escalated-approve": Route([SUBMIT, ANSWERED, COUNTY_LATE,
                                                   ("escalated_county_review", "approve"),
                                                   ("province_review", "approve")], done),
        "county-overdue-escalated-reject": Route([SUBMIT, ANSWERED, COUNTY_LATE,
                                                  ("escalated_county_review", "reject")], "rejected_by_county"),
        "county-overdue-escalated-return": Route([SUBMIT, ANSWERED, COUNTY_LATE,
                                                  ("escalated_county_review", "return"), CORRECT, ANSWERED,
                                                  ("county_review", "approve"), ("province_review", "approve")],
                                                 done),
        "both-overdue-then-province-reject": Route([SUBMIT, INQUIRIES_LATE, COUNTY_LATE,
                                                    ("escalated_county_review", "approve"),
                                                    ("province_review", "reject")], "rejected_by_province"),
        "county-reject": Route([SUBMIT, ANSWERED, ("county_review", "reject")], "rejected_by_county"),
        "county-return-then-approve": Route([SUBMIT, ANSWERED, ("county_review", "return"), CORRECT, INQUIRIES_LATE,
                                             ("county_review", "approve"), ("province_review", "approve")], done),
        "province-reject": Route([SUBMIT, ANSWERED, ("county_review", "approve"), ("province_review", "reject")],
                                 "rejected_by_province"),
        "province-return-then-approve": Route([SUBMIT, ANSWERED, ("county_review", "approve"),
                                               ("province_review", "return"), CORRECT, ANSWERED,
                                               ("county_review", "approve"), ("province_review", "approve")], done),
        "rules-fail-then-pass": Route([("submit", {"manager_age": 55}), ("correct", {"manager_age": 56}), CORRECT,
                                       ANSWERED, ("county_review", "approve"), ("province_review", "approve")], done),
        "manager-already-managing-then-pass": Route([("submit", {"manager_current_centers": 1}), CORRECT, ANSWERED,
                                                     ("county_review", "reject")], "rejected_by_county"),
        "rules-pass-then-fail-after-return": Route([SUBMIT, ANSWERED, ("county_review", "return"),
                                                    ("correct", {"manager_education": "below_diploma"}), CORRECT,
                                                    INQUIRIES_LATE, ("county_review", "reject")],
                                                   "rejected_by_county"),
        "visit-fails-then-pass": Route([SUBMIT, ANSWERED, SCHEDULED, ("site_visit", VISIT_FAILS), CORRECT, ANSWERED,
                                        ("county_review", "approve"), ("province_review", "approve")], done),
    }


FOUNDING = with_visits({
    **review_routes("license_issued"),
    "center-rules-fail-then-pass": Route([("submit", {"founding_board_size": 4, "space_area_m2": 79}), CORRECT,
                                          ANSWERED, ("county_review", "approve"), ("province_review", "approve")],
                                         "license_issued"),
})
CHANGE = with_visits(review_routes("manager_appointed"))


def term_end_routes(first_task: str, initiator: str) -> dict[str, Route]:
    return {
        "interim-now": Route([(first_task, REQUEST), ("county_acknowledge", ACK_INTERIM)], "interim_appointed",
                             initiator),
        "successor-confirmed": Route([(first_task, REQUEST), ("county_acknowledge", ACK_SUCCESSOR),
                                      ("message:successor_confirmed", SUCCESSOR)], "successor_appointed", initiator),
        "successor-overdue": Route([(first_task, REQUEST), ("county_acknowledge", ACK_SUCCESSOR),
                                    ("timer:successor_overdue", None), ("name_interim", INTERIM)],
                                   "interim_appointed", initiator),
    }


RETIREMENT = {
    **{f"office-{name}": route for name, route in term_end_routes("office_request", "office").items()},
    **{f"applicant-{name}": route for name, route in term_end_routes("submit_request", "applicant").items()},
}
RESIGNATION = {
    **term_end_routes("submit_request", "applicant"),
    # the initiator does not matter here: the manager always asks
    "office-started-still-asks-the-manager": term_end_routes("submit_request", "office")["successor-confirmed"],
}

ROUTES = {"center_founding": FOUNDING, "manager_change": CHANGE, "manager_retirement": RETIREMENT,
          "manager_resignation": RESIGNATION}
CASES = [(process, name) for process, routes in ROUTES.items() for name in routes]


@pytest.fixture(scope="module")
def specs() -> dict[str, engine.ProcessSpec]:
    return {process: load_spec(process) for process in ROUTES}


@pytest.mark.parametrize("process, name", CASES, ids=[f"{p}:{n}" for p, n in CASES])
def test_every_route(specs, process, name):
    route = ROUTES[process][name]
    played = play(specs[process], route, reload=False)
    instance = played.instance
    assert instance.is_completed()
    assert instance.end_event() == route.end
    assert instance.ready_user_tasks() == [] and instance.awaited_messages() == [] and instance.timers() == []


@pytest.mark.parametrize("process, name", CASES, ids=[f"{p}:{n}" for p, n in CASES])
def test_reloading_between_steps_gives_the_same_result(specs, process, name):
    route = ROUTES[process][name]
    straight = play(specs[process], route, reload=False)
    reloaded = play(specs[process], route, reload=True)
    assert reloaded.waits == straight.waits
    assert reloaded.instance.end_event() == straight.instance.end_event() == route.end
    assert reloaded.instance.data() == straight.instance.data()
    assert reloaded.instance.completed_task_names() == straight.instance.completed_task_names()


@pytest.mark.parametrize("process", ["center_founding", "manager_change"])
def test_each_step_waits_for_what_comes_next(specs, process):
    """Deadlines count from the moment their wait began: the `now` of the call that began it."""
    played = play(specs[process], ROUTES[process]["county-overdue-escalated-approve"], reload=True)
    submit = "submit_application" if process == "center_founding" else "submit_change"
    submitted, visited = NOW + STEP, NOW + 4 * STEP
    assert played.waits == [
        ((submit,), (), ()),
        ((), ("inquiries_complete",), (("inquiries_overdue", submitted + timedelta(days=10), None),)),
        (("schedule_visit",), (), ()),
        (("site_visit",), (), ()),
        (("county_review",), (), (("county_overdue", visited + timedelta(days=5), "county_review"),)),
        (("escalated_county_review",), (), ()),
        (("province_review",), (), ()),
    ]


VISIT_TRACE = ("schedule_visit", "site_visit", "check_visit", "Gateway_visit")
TRACES = {
    ("center_founding", "approve-approve"): [
        "StartEvent_application", "submit_application", "Gateway_merge", "check_center", "check_manager",
        "Gateway_eligible", "decide_training", "await_inquiries", "inquiries_complete", *VISIT_TRACE, "county_review",
        "Gateway_county",
        "province_review", "Gateway_province", "license_issued",
    ],
    ("center_founding", "county-overdue-escalated-reject"): [
        "StartEvent_application", "submit_application", "Gateway_merge", "check_center", "check_manager",
        "Gateway_eligible", "decide_training", "await_inquiries", "inquiries_complete", *VISIT_TRACE, "county_overdue",
        "escalated_county_review",
        "Gateway_county", "rejected_by_county",
    ],
    ("manager_change", "inquiries-overdue"): [
        "StartEvent_change", "submit_change", "Gateway_merge", "check_manager", "Gateway_eligible", "decide_training",
        "await_inquiries", "inquiries_overdue", *VISIT_TRACE, "county_review", "Gateway_county", "province_review",
        "Gateway_province", "manager_appointed",
    ],
    ("manager_retirement", "office-interim-now"): [
        "StartEvent_retirement", "Gateway_initiator", "office_request", "county_acknowledge", "Gateway_continuity",
        "interim_appointed",
    ],
    ("manager_retirement", "applicant-successor-overdue"): [
        "StartEvent_retirement", "Gateway_initiator", "submit_request", "county_acknowledge", "Gateway_continuity",
        "await_successor", "successor_overdue", "name_interim", "interim_appointed",
    ],
    ("manager_resignation", "successor-confirmed"): [
        "StartEvent_resignation", "submit_request", "county_acknowledge", "Gateway_continuity", "await_successor",
        "successor_confirmed", "successor_appointed",
    ],
}


@pytest.mark.parametrize("process, name", list(TRACES), ids=[f"{p}:{n}" for p, n in TRACES])
def test_traces(specs, process, name):
    instance = play(specs[process], ROUTES[process][name], reload=True).instance
    assert instance.completed_task_names() == TRACES[(process, name)]


# --- loops reset -------------------------------------------------------------------------------------

@pytest.mark.parametrize("process", ["center_founding", "manager_change"])
def test_a_correction_runs_rules_and_inquiries_again_and_clears_the_last_pass(specs, process):
    correct = "correct_application" if process == "center_founding" else "correct_change"
    route = Route([SUBMIT, ANSWERED, SCHEDULED, VISITED, ("county_review", "return"), CORRECT], "")
    instance = play(specs[process], route, reload=True).instance
    data = instance.data()
    # the second pass waits for fresh answers; nothing of the first pass's review survives the correction
    assert instance.awaited_messages() == ["inquiries_complete"]
    assert not {"inquiry_results", "visit_schedule", "visit", "visit_violations", "county_review",
                "province_review"} & set(data)
    names = instance.completed_task_names()
    assert names.count("check_manager") == 2 and names.count("await_inquiries") == 1
    assert names.count(correct) == 1
    # this time the inquiries run late: the county reviews without any inquiry results
    played = play(specs[process], Route([*route.steps, INQUIRIES_LATE], ""), reload=True)
    assert "inquiry_results" not in played.instance.data()
    assert [task.name for task in played.instance.ready_user_tasks()] == ["schedule_visit"]


@pytest.mark.parametrize("process", ["center_founding", "manager_change"])
def test_a_failed_visit_returns_the_case_with_the_checklists_reasons_and_the_next_pass_starts_clean(specs, process):
    correct = "correct_application" if process == "center_founding" else "correct_change"
    played = play(specs[process], Route([SUBMIT, ANSWERED, SCHEDULED, ("site_visit", VISIT_FAILS)], ""),
                  reload=True)
    assert [task.name for task in played.instance.ready_user_tasks()] == [correct]
    assert [v["rule"] for v in played.instance.data()["visit_violations"]] == ["visit_area", "visit_imam_absent"]
    played = play(specs[process], ROUTES[process]["visit-fails-then-pass"], reload=True)
    assert played.instance.data()["visit_violations"] == []
    assert played.instance.completed_task_names().count("site_visit") == 2


def test_answers_of_the_current_pass_are_kept(specs):
    played = play(specs["center_founding"], Route([SUBMIT, INQUIRIES_LATE, SCHEDULED, VISITED,
                                                   ("county_review", "return"), CORRECT,
                                                   ANSWERED], ""), reload=True)
    assert played.instance.data()["inquiry_results"] == INQUIRIES_CLEAR


def test_rules_that_failed_before_do_not_steer_a_later_pass(specs):
    played = play(specs["center_founding"], FOUNDING["rules-fail-then-pass"], reload=True)
    data = played.instance.data()
    assert data["manager_violations"] == [] and data["center_violations"] == []
    names = played.instance.completed_task_names()
    assert names.count("check_center") == 3 and names.count("correct_application") == 2
    assert names.count("await_inquiries") == 1


def test_an_escalated_review_replaces_the_county_decision(specs):
    played = play(specs["center_founding"], FOUNDING["county-overdue-escalated-approve"], reload=True)
    data = played.instance.data()
    assert data["county_review"]["decision"] == "approve"
    assert "county_review" not in played.instance.completed_task_names()  # the county's task was cancelled


# --- the term-end processes ----------------------------------------------------------------------------

def test_retirement_starts_where_the_initiator_is(specs):
    from tests.engine.flow import only_task, start
    spec = specs["manager_retirement"]
    office = only_task(start(spec, initiator="office"))
    applicant = only_task(start(spec, initiator="applicant"))
    assert (office.name, office.lane, office.title) == ("office_request", "county", "اعلام بازنشستگی از سوی اداره")
    assert (applicant.name, applicant.lane, applicant.title) == ("submit_request", "applicant", "درخواست بازنشستگی")
    assert office.form_key == applicant.form_key == "term_end_request"
    assert office.data_key == applicant.data_key == "request"


def test_successor_wait_and_its_deadline(specs):
    for process in ("manager_retirement", "manager_resignation"):
        played = play(specs[process], ROUTES[process]["applicant-successor-confirmed" if process ==
                                                      "manager_retirement" else "successor-confirmed"], reload=True)
        acknowledged = NOW + 2 * STEP
        assert played.waits[-1] == ((), ("successor_confirmed",),
                                    (("successor_overdue", acknowledged + timedelta(days=30), None),))
        assert played.instance.data()["successor"] == SUCCESSOR


def test_interim_named_after_the_successor_deadline(specs):
    played = play(specs["manager_resignation"], RESIGNATION["successor-overdue"], reload=True)
    data = played.instance.data()
    assert data["interim"] == INTERIM and "successor" not in data
    assert played.waits[-1][0] == ("name_interim",)
