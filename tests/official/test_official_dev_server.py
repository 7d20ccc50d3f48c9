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

_PYDANTIC_CONFIG = "Support for class-based `config` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _PYDANTIC_CONFIG, DeprecationWarning)
    for _name in ("inngest", "flask", "werkzeug"):
        pytest.importorskip(_name)

ROOT = Path(__file__).parents[2]

CONFTEST = """
import pytest

from inngest_proto.experimental import dev_server


def pytest_configure(config: pytest.Config) -> None:
    dev_server.server.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    dev_server.server.stop()
"""

SUITE = """
import threading
import time
import warnings

import flask
import httpx
import werkzeug.serving

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import inngest
    import inngest.flask

from inngest_proto.experimental import dev_server

client = inngest.Inngest(
    api_base_url=dev_server.server.origin,
    app_id="suite",
    event_api_base_url=dev_server.server.origin,
    is_production=False,
)


@client.create_function(fn_id="double", trigger=inngest.TriggerEvent(event="t/double"))
def double(ctx: inngest.ContextSync) -> int:
    half = ctx.step.run("half", lambda: ctx.event.data["n"])
    return half * 2


def test_the_server_is_where_origin_says() -> None:
    assert dev_server.server.origin == f"http://127.0.0.1:{dev_server.server.port}"
    assert httpx.get(f"{dev_server.server.origin}/health").status_code == 200


def test_an_official_app_runs_on_it() -> None:
    web = flask.Flask(__name__)
    inngest.flask.serve(web, client, [double])
    server = werkzeug.serving.make_server("127.0.0.1", 0, web, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/api/inngest"
        # What the official suites do to register: PUT to the app.
        assert httpx.put(url).status_code == 200
        (event_id,) = client.send_sync(inngest.Event(name="t/double", data={"n": 21}))
        deadline = time.monotonic() + 15
        while True:
            runs = httpx.get(
                f"{dev_server.server.origin}/v1/events/{event_id}/runs"
            ).json()["data"]
            if runs and runs[0]["status"] != "Running":
                break
            assert time.monotonic() < deadline, runs
            time.sleep(0.05)
        assert runs[0]["status"] == "Completed"
        assert runs[0]["output"] == 42
    finally:
        server.shutdown()
        thread.join(10)
        client._http_client._http_client_sync.close()
"""


def test_an_official_suite_runs_on_our_dev_server_helper(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), *sys.path]))
    monkeypatch.setenv("DEV_SERVER_PORT", "0")  # a free port: suites run at once
    for name in ("INNGEST_DEV", "INNGEST_BASE_URL", "INNGEST_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
