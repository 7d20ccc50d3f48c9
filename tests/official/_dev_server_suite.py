"""A test suite as the official SDK's own are written, for a pytest subprocess.

The official suites start the dev server from their conftest
(``dev_server.server.start()`` in ``pytest_configure``, ``stop()`` in
``pytest_unconfigure``) and point their clients at ``server.origin``.  The
suite here serves an app written with the official SDK (``inngest==0.5.19``)
with Flask and runs a function on that server; only the package its
``dev_server`` comes from changes (``inngest.experimental`` or ours,
``inngest_proto.experimental``).
"""

from __future__ import annotations

_CONFTEST = """
import pytest

from {package} import dev_server


def pytest_configure(config: pytest.Config) -> None:
    dev_server.server.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    dev_server.server.stop()
"""

_SUITE = """
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
    from {package} import dev_server

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


def test_an_official_app_runs_on_the_server_origin_names() -> None:
    web = flask.Flask(__name__)
    inngest.flask.serve(web, client, [double])
    server = werkzeug.serving.make_server("127.0.0.1", 0, web, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{{server.server_port}}/api/inngest"
        # What the official suites do to register: PUT to the app.
        assert httpx.put(url).status_code == 200
        (event_id,) = client.send_sync(inngest.Event(name="t/double", data={{"n": 21}}))
        runs_url = f"{{dev_server.server.origin}}/v1/events/{{event_id}}/runs"
        deadline = time.monotonic() + 15
        while True:
            runs = httpx.get(runs_url).json()["data"]
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


def dev_server_conftest(package: str) -> str:
    """The suite's conftest: starts and stops ``package.dev_server.server``."""
    return _CONFTEST.format(package=package)


def dev_server_suite(package: str) -> str:
    """The suite: one test, an official app's function run on the server."""
    return _SUITE.format(package=package)
