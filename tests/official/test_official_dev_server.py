"""A test suite written for the official dev server helper, run on ours.

The official SDK's own suites start the Go dev server from their conftest
(``dev_server.server.start()`` in ``pytest_configure``, ``stop()`` in
``pytest_unconfigure``) and point their clients at ``server.origin``.  Here
such a suite, an app written with the official SDK (``inngest==0.5.19``)
served by Flask, runs in a pytest subprocess with one import changed:
``inngest.experimental.dev_server`` -> ``inngest_proto.experimental.dev_server``.
No Node, no npx.  Skipped where the official SDK or Flask is absent.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pytest

from ._dev_server_suite import dev_server_conftest, dev_server_suite

_PYDANTIC_CONFIG = "Support for class-based `config` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _PYDANTIC_CONFIG, DeprecationWarning)
    for _name in ("inngest", "flask", "werkzeug"):
        pytest.importorskip(_name)

ROOT = Path(__file__).parents[2]

OURS = "inngest_proto.experimental"
#: A test of ours besides the suite's own (same imports).
ORIGIN_TEST = """

def test_the_server_is_where_origin_says() -> None:
    assert dev_server.server.origin == f"http://127.0.0.1:{dev_server.server.port}"
    assert httpx.get(f"{dev_server.server.origin}/health").status_code == 200
"""


def test_an_official_suite_runs_on_our_dev_server_helper(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), *sys.path]))
    monkeypatch.setenv("DEV_SERVER_PORT", "0")  # a free port: suites run at once
    for name in ("INNGEST_DEV", "INNGEST_BASE_URL", "INNGEST_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(dev_server_conftest(OURS))
    pytester.makepyfile(test_suite=dev_server_suite(OURS) + ORIGIN_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
