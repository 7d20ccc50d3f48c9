"""Shared fixtures: every async test runs on asyncio and on trio."""

from __future__ import annotations

import pytest

#: ``pytester`` runs the testing toolkit's pytest plugin in a subprocess.
pytest_plugins = ["pytester"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
