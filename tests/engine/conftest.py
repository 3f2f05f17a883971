import pytest

import engine
from tests.engine.flow import load_spec


@pytest.fixture(scope="session")
def spec() -> engine.ProcessSpec:
    return load_spec()
