"""Fixtures of the browser tests: a dev server with an app, and headless Chromium.

One dev server, one app of our SDK and one browser serve every test of this
folder (each starts in about a second; the tests tell their runs apart by
their own event ids).  The dev server and the app run on an anyio blocking
portal in a background thread; the tests drive Chromium from the main thread.

Without Chromium and chromedriver the tests are skipped, unless
``INNGEST_UI_TESTS_REQUIRED=1`` (CI sets it), where they fail instead.
Screenshots go to ``$INNGEST_UI_SCREENSHOTS``, else ``build/screenshots/``.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import httpx
import pytest

import inngest_proto as inngest
from inngest_transports.connect import ConnectionState, WorkerConnection, connect
from inngest_transports.devserver import DevServer
from inngest_transports.http import HttpTransport
from inngest_transports.server import Server

from ._webdriver import DEFAULT_CHROMEDRIVER, DEFAULT_CHROMIUM, Browser, chromium

APP_ID = "ui-e2e"
#: Retry backoff of seconds becomes a tenth of a millisecond.
RETRY_SCALE = 0.0001
#: Seconds a page or a run may take to show what a test waits for.
TIMEOUT = 10.0
REPO_ROOT = Path(__file__).resolve().parents[4]
REQUIRED_VAR = "INNGEST_UI_TESTS_REQUIRED"


def quick_fn_id() -> str:
    return f"{APP_ID}-quick"


def build_functions(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    """The app: a quick two-step run, a flaky step, an hour-long sleep."""

    @client.create_function(
        fn_id="quick",
        name="Quick two steps",
        trigger=inngest.TriggerEvent(event="ui/quick"),
        concurrency=[inngest.Concurrency(limit=3)],
    )
    async def quick(ctx: inngest.Context) -> dict[str, Any]:
        a = await ctx.step.run("first", lambda: "A")
        b = await ctx.step.run("second", lambda: a + "B")
        return {"a": a, "b": b, "n": ctx.event.data.get("n")}

    @client.create_function(
        fn_id="flaky",
        trigger=inngest.TriggerEvent(event="ui/flaky"),
        retries=1,
    )
    async def flaky(ctx: inngest.Context) -> str:
        failures = int(ctx.event.data["failures"])
        attempt = ctx.attempt

        def shaky() -> str:
            # ``ctx.attempt`` counts the attempts of the step being run.
            if attempt < failures:
                raise ValueError(f"flaky failure on attempt {attempt}")
            return "steady"

        return await ctx.step.run("shaky", shaky)

    @client.create_function(
        fn_id="sleeper",
        trigger=inngest.TriggerEvent(event="ui/sleeper"),
        cancel=[inngest.Cancel(event="ui/wake", if_exp="event.data.k == async.data.k")],
    )
    async def sleeper(ctx: inngest.Context) -> str:
        await ctx.step.run("before", lambda: "awake")
        await ctx.step.sleep("nap", 3600 * 1000)
        return "rested"

    @client.create_function(
        fn_id="parent", trigger=inngest.TriggerEvent(event="ui/parent")
    )
    async def parent(ctx: inngest.Context) -> Any:
        n = ctx.event.data.get("n")
        return await ctx.step.invoke("call-quick", function=quick, data={"n": n})

    @client.create_function(
        fn_id="weekly",
        trigger=inngest.TriggerCron(cron="0 9 * * 1"),
        throttle=inngest.Throttle(limit=1, period=60_000, burst=0, key="event.data.k"),
    )
    async def weekly(ctx: inngest.Context) -> str:
        return "report"

    @client.create_function(
        fn_id="throttled",
        trigger=inngest.TriggerEvent(event="ui/throttled"),
        throttle=inngest.Throttle(limit=1, period=60_000, burst=0, key="event.data.k"),
    )
    async def throttled(ctx: inngest.Context) -> str:
        return "let through"

    return [quick, flaky, sleeper, parent, weekly, throttled]


class Env:
    """The running dev server and app, seen from the tests' thread."""

    def __init__(
        self,
        dev: DevServer,
        portal: anyio.from_thread.BlockingPortal,
        client: inngest.Inngest,
        app: Server,
    ) -> None:
        self.dev = dev
        self.portal = portal
        self.client = client
        self.app = app
        self.url = dev.url
        self.http = httpx.Client(base_url=dev.url, timeout=5, trust_env=False)

    def api(self, path: str) -> Any:
        resp = self.http.get(path)
        assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def send(self, name: str, data: dict[str, Any] | None = None) -> str:
        """Send an event as an app would (not through the UI); its id."""
        (event_id,) = self.client.send_sync(inngest.Event(name=name, data=data or {}))
        return str(event_id)

    def run_id_of(self, event_id: str) -> str:
        """The one run ``event_id`` started, once it exists (``/v1`` API)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            runs = self.api(f"/v1/events/{event_id}/runs")["data"]
            if runs:
                (run,) = runs
                return str(run["run_id"])
            assert time.monotonic() < deadline, f"no run of event {event_id}"
            time.sleep(0.05)


CONNECT_APP_ID = "ui-connect"


def build_connect_functions(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    """The Connect worker's app: one function."""

    @client.create_function(
        fn_id="hello", trigger=inngest.TriggerEvent(event="ui/hello")
    )
    async def hello(ctx: inngest.Context) -> str:
        return "hello over connect"

    return [hello]


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    for path, package in (
        (os.environ.get("INNGEST_UI_CHROMIUM", DEFAULT_CHROMIUM), "chromium"),
        (
            os.environ.get("INNGEST_UI_CHROMEDRIVER", DEFAULT_CHROMEDRIVER),
            "chromium-driver",
        ),
    ):
        if shutil.which(path) is None:
            return f"{path} not found (Debian: apt-get install {package})"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """A headless Chromium session for every browser test."""
    missing = missing_browser()
    if missing is not None:
        if os.environ.get(REQUIRED_VAR) == "1":
            pytest.fail(f"browser tests required ({REQUIRED_VAR}=1) but {missing}")
        pytest.skip(f"browser tests need Chromium and chromedriver: {missing}")
    with chromium(
        binary=os.environ.get("INNGEST_UI_CHROMIUM", DEFAULT_CHROMIUM),
        chromedriver=os.environ.get("INNGEST_UI_CHROMEDRIVER", DEFAULT_CHROMEDRIVER),
    ) as session:
        yield session


@pytest.fixture(scope="session")
def env(browser: Browser) -> Iterator[Env]:
    """The dev server and the synced app (started after the browser check)."""
    dev = DevServer(host="127.0.0.1", port=0, poll=False, retry_scale=RETRY_SCALE)
    with anyio.from_thread.start_blocking_portal() as portal:
        serving, _ = portal.start_task(dev.serve)
        client = inngest.Inngest(
            app_id=APP_ID,
            environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": dev.url},
            logger=logging.getLogger("tests.devserver.ui"),
        )
        app = Server(client, build_functions(client), host="127.0.0.1", port=0)
        app_serving, _ = portal.start_task(app.serve)
        env = Env(dev, portal, client, app)
        try:
            synced = portal.call(dev.sync_app, app.url)
            assert synced["state"] == "synced", synced
            yield env
        finally:
            env.http.close()
            if isinstance(client.transport, HttpTransport):
                client.transport.close()  # send_sync's client, made in this thread
                portal.call(client.transport.aclose)
            portal.call(app.shutdown)
            portal.call(dev.shutdown)
            app_serving.result(timeout=10)
            serving.result(timeout=10)


@pytest.fixture(scope="session")
def connect_worker(env: Env) -> Iterator[WorkerConnection]:
    """A Connect worker of app ``ui-connect``, active on the dev server."""
    client = inngest.Inngest(
        app_id=CONNECT_APP_ID,
        environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": env.url},
        logger=logging.getLogger("tests.devserver.ui.connect"),
    )
    worker = connect(
        [(client, build_connect_functions(client))],
        instance_id="ui-worker",
        shutdown_signals=[],
        max_worker_concurrency=4,
        shutdown_timeout=2.0,
    )
    running = env.portal.start_task_soon(worker.start)
    try:
        env.portal.call(_wait_active, worker)
        yield worker
    finally:
        env.portal.call(functools.partial(worker.close, wait=True))
        running.result(timeout=10)
        if isinstance(client.transport, HttpTransport):
            env.portal.call(client.transport.aclose)


async def _wait_active(worker: WorkerConnection) -> None:
    with anyio.fail_after(TIMEOUT):
        await worker.wait_for_state(ConnectionState.ACTIVE)


@pytest.fixture(scope="session")
def shots() -> Path:
    """The screenshot folder (created; the run's summary names it)."""
    folder = os.environ.get("INNGEST_UI_SCREENSHOTS")
    path = Path(folder) if folder else REPO_ROOT / "build" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    _SCREENSHOT_FOLDERS.add(path)
    return path


#: Where this session's screenshots went, for the summary.
_SCREENSHOT_FOLDERS: set[Path] = set()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the screenshots are: people look at them, CI keeps them."""
    for folder in sorted(_SCREENSHOT_FOLDERS):
        count = len(list(folder.glob("*.png")))
        terminalreporter.write_line(f"UI screenshots ({count}): {folder}")
