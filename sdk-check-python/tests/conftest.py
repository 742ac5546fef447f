import pytest

from sidecar import MODES


@pytest.fixture(params=MODES)
def mode(request) -> str:
    """Every test that takes `mode` runs with the sync and the async client (the tests are async
    functions; a sync client simply blocks the event loop it runs on)."""
    return request.param
