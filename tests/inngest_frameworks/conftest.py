"""Fixtures the async host modules share (see ``_async_hosts``).

A module that runs :data:`~tests.inngest_frameworks._async_hosts.CHECKS`
defines ``FRAMEWORK`` (the ``X-Inngest-Framework`` it answers with) and a
module-scoped ``url`` fixture: its server, serving ``make_functions`` with
the ``transport`` below; ``host`` puts the two together for the checks.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fakes import FakeTransport
from tests.inngest_frameworks._async_hosts import Host, client_for, register_ok


@pytest.fixture(scope="module")
def transport() -> FakeTransport:
    return register_ok()


@pytest.fixture
def http(url: str) -> Iterator[httpx.Client]:
    with client_for(url) as http:
        yield http


@pytest.fixture
def host(
    request: pytest.FixtureRequest,
    url: str,
    http: httpx.Client,
    transport: FakeTransport,
    caplog: pytest.LogCaptureFixture,
) -> Host:
    return Host(request.module.FRAMEWORK, url, http, transport, caplog)
