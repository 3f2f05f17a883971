import pytest

import engine
from tests.engine.flow import EveryDayCalendar, load_spec


@pytest.fixture(autouse=True)
def every_day_works():
    """The engine's tests of the procedures count working days on EveryDayCalendar (the working calendar
    itself is workflows.working_time's, tested in tests/workflows/test_working_time.py)."""
    with engine.working_calendar(EveryDayCalendar()):
        yield


@pytest.fixture(scope="session")
def spec() -> engine.ProcessSpec:
    return load_spec()
