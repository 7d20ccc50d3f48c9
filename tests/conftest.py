"""Shared fixtures: every async test runs on asyncio and on trio."""

from __future__ import annotations

import pytest
from hypothesis import settings

# No per-example wall-clock deadline: on a loaded two-core machine a slow
# example is not a failing one, and where time matters the tests use a
# virtual clock.  Loaded before any test module builds its settings.
settings.register_profile("inngest", deadline=None)
settings.load_profile("inngest")

#: ``pytester`` runs the testing toolkit's pytest plugin in a subprocess.
pytest_plugins = ["pytester"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
