"""Apps of the official SDK (``inngest==0.5.19``) run unchanged on our dev server.

Each framework (FastAPI on uvicorn, Flask on werkzeug) serves the app of
:mod:`.official_app` from a background thread; our :class:`DevServer` runs
on an anyio blocking portal.  The test only does what a user would: point
the official client at the dev server with environment variables, send
events with the official client, and read statuses and outputs back over
HTTP from the ``/v1`` API.  The official SDK pulls in pydantic and more, so
it lives in its own tox env; elsewhere this module is skipped.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

#: The official SDK's pydantic models use v1-style ``class Config``; pydantic
#: warns at import, and our ``filterwarnings = error`` would make it fatal.
_PYDANTIC_CONFIG = "Support for class-based `config` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _PYDANTIC_CONFIG, DeprecationWarning)
    # Skipped, not failed, where the official SDK or a framework is absent.
    for _name in ("inngest", "fastapi", "flask", "uvicorn"):
        pytest.importorskip(_name)
    # Imported by name (not importorskip's module object) for mypy.
    import fastapi
    import flask
    import inngest
    from inngest import fast_api as inngest_fast_api
    from inngest import flask as inngest_flask

import anyio.from_thread  # noqa: E402
import httpx  # noqa: E402
import werkzeug.serving  # noqa: E402

from inngest_transports.devserver import DevServer  # noqa: E402
from tests.inngest_frameworks._async_hosts import uvicorn_server  # noqa: E402

from .official_app import (  # noqa: E402
    APP_ID,
    BIG,
    DOOMED_FAILURE_ID,
    OfficialApp,
    async_app,
    sync_app,
)

#: Retry backoff of seconds becomes milliseconds: the retry test stays fast.
RETRY_SCALE = 0.0001
#: Seconds a run may take; the longest scenario (a 1 s wait timeout) is far below.
RUN_TIMEOUT = 15.0
HOST = "127.0.0.1"


class Compat:
    """A running dev server and official app, driven as a user would."""

    def __init__(
        self,
        dev: DevServer,
        portal: anyio.from_thread.BlockingPortal,
        app: OfficialApp,
    ) -> None:
        self.dev = dev
        self.portal = portal
        self.app = app
        self.http = httpx.Client(base_url=dev.url, timeout=5)

    def send(self, name: str, data: dict[str, Any] | None = None) -> str:
        (event_id,) = self.app.client.send_sync(
            inngest.Event(name=name, data=data or {})
        )
        assert isinstance(event_id, str)
        return event_id

    def get(self, path: str) -> Any:
        resp = self.http.get(path)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def finished_run(self, event_id: str) -> dict[str, Any]:
        """The one run of ``event_id`` once finished, as ``/v1/runs`` shows it.

        Polls ``/v1/events/{id}/runs`` (our server caches nothing, so polling
        is cheap) instead of reaching into the dev server.
        """
        deadline = time.monotonic() + RUN_TIMEOUT
        while True:
            runs = self.get(f"/v1/events/{event_id}/runs")["data"]
            if runs and all(r["status"] != "Running" for r in runs):
                break
            assert time.monotonic() < deadline, f"runs of {event_id}: {runs}"
            time.sleep(0.02)
        (run,) = runs
        body: dict[str, Any] = self.get(f"/v1/runs/{run['run_id']}")["data"]
        assert body["run_id"] == run["run_id"]
        return body

    def events(self, name: str) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.get(f"/v1/events?name={name}")["data"]
        return data

    def wait_until_waiting(self, event_id: str) -> None:
        """Block until the run of ``event_id`` sits in ``wait_for_event``.

        The ``/v1`` API does not show pending waits, so this one
        synchronization reads the dev server itself (in its own thread).
        """

        def waiting() -> bool:
            return any(r.waits for r in self.dev.runs_for_event(event_id))

        self.portal.call(self.dev.driver.wait_until, waiting, RUN_TIMEOUT)


@contextmanager
def _dev_server() -> Iterator[tuple[DevServer, anyio.from_thread.BlockingPortal]]:
    dev = DevServer(host=HOST, port=0, poll=False, retry_scale=RETRY_SCALE)
    with anyio.from_thread.start_blocking_portal() as portal:
        serving, _url = portal.start_task(dev.serve)
        try:
            yield dev, portal
        finally:
            portal.call(dev.shutdown)
            serving.result(timeout=10)


@contextmanager
def _serve_fastapi(app: OfficialApp) -> Iterator[str]:
    web = fastapi.FastAPI()
    inngest_fast_api.serve(web, app.client, app.functions)
    with uvicorn_server(web, lifespan="off") as base_url:
        yield f"{base_url}/api/inngest"


@contextmanager
def _serve_flask(app: OfficialApp) -> Iterator[str]:
    web = flask.Flask(__name__)
    inngest_flask.serve(web, app.client, app.functions)
    # Threaded: a step's request may be in flight while another arrives.
    server = werkzeug.serving.make_server(HOST, 0, web, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="werkzeug", daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_port}/api/inngest"
    finally:
        server.shutdown()
        thread.join(10)


Framework = tuple[
    Callable[[inngest.Inngest], OfficialApp],
    Callable[[OfficialApp], Any],
]
FRAMEWORKS: dict[str, Framework] = {
    "fastapi": (async_app, _serve_fastapi),
    "flask": (sync_app, _serve_flask),
}


@pytest.fixture(scope="module", params=sorted(FRAMEWORKS))
def compat(request: pytest.FixtureRequest) -> Iterator[Compat]:
    """One dev server and one synced official app per framework.

    Scenarios share it: each sends its own events and reads only their runs.
    """
    build, serve = FRAMEWORKS[request.param]
    with _dev_server() as (dev, portal), pytest.MonkeyPatch.context() as mp:
        # What a user of the official SDK sets to use a local dev server;
        # read when the client is created, so set before.
        mp.setenv("INNGEST_DEV", "1")
        mp.setenv("INNGEST_BASE_URL", dev.url)
        for name in (
            "INNGEST_API_BASE_URL",
            "INNGEST_EVENT_API_BASE_URL",
            "INNGEST_EVENT_KEY",
            "INNGEST_SIGNING_KEY",
            "INNGEST_ENV",
        ):
            mp.delenv(name, raising=False)
        client = inngest.Inngest(app_id=APP_ID, is_production=False)
        app = build(client)
        with serve(app) as url:
            synced = portal.call(dev.sync_app, url)
            assert synced["state"] == "synced", synced
            compat = Compat(dev, portal, app)
            try:
                yield compat
            finally:
                compat.http.close()
                _close_official_client(client)


def _close_official_client(client: inngest.Inngest) -> None:
    """Close the official client's keep-alive connections.

    inngest 0.5.19 has no ``close()``: its ``httpx.Client`` (``send_sync``,
    ``/fn/register``, and steps' ``send_event`` off the creating thread) would
    be garbage-collected with a socket open, a ResourceWarning that our
    ``filterwarnings = error`` turns into a failure of the whole session.
    """
    client._http_client._http_client_sync.close()


def test_app_synced(compat: Compat) -> None:
    (app,) = compat.get("/v1/apps")["data"]
    assert (app["name"], app["sdk"]) == (APP_ID, "py:v0.5.19")
    fns = compat.get(f"/v1/apps/{APP_ID}/functions")
    slugs = {f["slug"] for f in fns}
    local = (
        "two",
        "nap",
        "waiter",
        "child",
        "parent",
        "heard",
        "flaky",
        "doomed",
        "big",
    )
    assert slugs == {f"{APP_ID}-{fn}" for fn in local} | {DOOMED_FAILURE_ID}


def test_two_steps_and_a_sleep(compat: Compat) -> None:
    run = compat.finished_run(compat.send("t/two", {"n": 7}))
    assert run["status"] == "Completed"
    assert run["output"] == {"a": "A", "b": "AB", "n": 7}
    assert run["ended_at"] is not None

    run = compat.finished_run(compat.send("t/nap"))
    assert (run["status"], run["output"]) == ("Completed", "rested")


def test_wait_for_event_matched_and_timed_out(compat: Compat) -> None:
    event_id = compat.send("t/w", {"key": "k1", "timeout": 10_000})
    compat.wait_until_waiting(event_id)
    compat.send("t/answer", {"key": "other", "v": "no"})
    compat.send("t/answer", {"key": "k1", "v": "yes"})
    run = compat.finished_run(event_id)
    assert (run["status"], run["output"]) == ("Completed", "yes")

    # 1 s: the official SDK refuses shorter (whole seconds only).
    run = compat.finished_run(compat.send("t/w", {"key": "k2", "timeout": 1000}))
    assert (run["status"], run["output"]) == ("Completed", None)


def test_invoke_parallel_and_send_event(compat: Compat) -> None:
    run = compat.finished_run(compat.send("t/p"))
    assert run["status"] == "Completed"
    assert run["output"] == {"doubled": 42, "both": ["L", "R"], "sent": 1}

    (sent,) = compat.events("t/sent")
    heard = compat.finished_run(sent["internal_id"])
    assert (heard["status"], heard["output"]) == ("Completed", "heard")
    assert heard["function_slug"] == f"{APP_ID}-heard"
    (invoked,) = compat.events("inngest/function.invoked")
    assert invoked["data"]["x"] == 21


def test_retry_then_success(compat: Compat) -> None:
    before = compat.app.calls["flaky"]
    run = compat.finished_run(compat.send("t/flaky"))
    assert (run["status"], run["output"]) == ("Completed", 1)
    assert compat.app.calls["flaky"] - before == 2


def test_non_retriable_error_and_on_failure(compat: Compat) -> None:
    before = compat.app.calls["doomed"]
    run = compat.finished_run(compat.send("t/doomed"))
    assert run["status"] == "Failed"
    assert run["output"]["message"] == "no way"
    assert run["output"]["name"] == "NonRetriableError"
    # retries=3, yet one attempt: NonRetriableError was honoured.
    assert compat.app.calls["doomed"] - before == 1

    (failed,) = compat.events("inngest/function.failed")
    assert failed["data"]["function_id"] == f"{APP_ID}-doomed"
    handler = compat.finished_run(failed["internal_id"])
    assert handler["function_slug"] == DOOMED_FAILURE_ID
    assert (handler["status"], handler["output"]) == ("Completed", "cleaned no way")


def test_a_state_over_4_mib_is_fetched_by_the_sdk(
    compat: Compat, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="inngest.devserver"):
        run = compat.finished_run(compat.send("t/big"))
    assert (run["status"], run["output"]) == ("Completed", [BIG, BIG])
    fetched = f"run {run['run_id']}: the SDK fetched its actions (use_api)"
    assert fetched in caplog.messages
