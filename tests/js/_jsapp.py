"""What the TypeScript SDK suites share: our dev server, the node app, a driver.

The app (``tests/js/app/app.mjs``, npm ``inngest`` pinned in its
``package.json``) runs as a ``node`` process; our :class:`DevServer` runs in
this process on an anyio blocking portal.  :func:`running_js_app` wires them
as a user would (``INNGEST_DEV`` holding the server's URL, then a sync, or a
connect worker that dials the gateway) and yields a :class:`JsApp`, which
sends events through the event API and reads runs back from the ``/v1`` API.

Needs Node.js 20+ and the app's ``node_modules`` (``python -m
tests.js.install`` runs ``npm ci``).  Without them the suites are skipped,
unless ``INNGEST_JS_TESTS_REQUIRED`` is set (the ``js`` tox env sets it),
where they fail with what is missing.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import anyio.from_thread
import httpx
import pytest

from inngest_transports.devserver import DevServer
from tests.dev_api import DevApiReader, dev_server_thread

APP_DIR = Path(__file__).with_name("app")
REQUIRED = "INNGEST_JS_TESTS_REQUIRED"
#: The oldest Node.js the pinned SDK supports (its ``engines``).
NODE_MAJOR = 20
HOST = "127.0.0.1"
#: Retry backoff of seconds becomes milliseconds: retries stay fast.
RETRY_SCALE = 0.0001
#: Seconds a run may take; the longest scenario (a 1 s sleep then a sleep
#: until 1 s later, or a 1.5 s step behind another) is far below.
RUN_TIMEOUT = 20.0
#: Seconds node may take to start and print its port.
START_TIMEOUT = 30.0

Mode = Literal["serve", "serve-no-checkpoint", "connect"]
SERVE_MODES: tuple[Mode, ...] = ("serve", "serve-no-checkpoint")
MODES: tuple[Mode, ...] = (*SERVE_MODES, "connect")
#: The app's two apps: ``js-app``, and ``js-shorthand`` (the functions that
#: set ``concurrency`` as a number or a single object), and where each is served.
APP_PATHS = {"js-app": "/api/inngest", "js-shorthand": "/api/shorthand"}


def node_problem() -> str | None:
    """Why Node.js cannot run the app here (absent, too old), or ``None``."""
    node = shutil.which("node")
    if node is None:
        return f"Node.js {NODE_MAJOR}+ is not installed: `node` is not on PATH"
    out = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    major = out.lstrip("v").split(".")[0]
    if not major.isdigit() or int(major) < NODE_MAJOR:
        return f"Node.js {NODE_MAJOR}+ is needed, `node --version` says {out!r}"
    return None


def missing_node() -> str | None:
    """Why the node app cannot run here, or ``None`` when it can."""
    problem = node_problem()
    if problem is None and not (APP_DIR / "node_modules" / "inngest").is_dir():
        problem = (
            "the TypeScript SDK is not installed in tests/js/app: "
            "run `python -m tests.js.install` (npm ci)"
        )
    return problem


def require_node() -> None:
    """Skip the calling test where the node app cannot run (fail if required)."""
    problem = missing_node()
    if problem is None:
        return
    if os.environ.get(REQUIRED):
        pytest.fail(problem, pytrace=False)
    pytest.skip(problem)


def parse_time(stamp: str) -> datetime.datetime:
    """A time of the ``/v1`` API (RFC 3339, ``Z`` for UTC; Python 3.10's
    ``fromisoformat`` does not read ``Z``)."""
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


class JsApp(DevApiReader):
    """Our dev server and the node app, driven as a user would."""

    def __init__(
        self,
        dev: DevServer,
        portal: anyio.from_thread.BlockingPortal,
        app_url: str,
        mode: Mode,
    ) -> None:
        self.dev = dev
        self.portal = portal
        self.app_url = app_url
        self.mode = mode
        super().__init__(httpx.Client(base_url=dev.url, timeout=10), RUN_TIMEOUT)

    def send(self, name: str, data: dict[str, Any] | None = None) -> str:
        (event_id,) = self.send_many(name, [data or {}])
        return event_id

    def send_many(self, name: str, data: Sequence[dict[str, Any]]) -> list[str]:
        """One event per item of ``data`` in one request; their ids in order."""
        resp = self.http.post(
            "/e/test-key", json=[{"name": name, "data": item} for item in data]
        )
        assert resp.status_code == 200, resp.text
        ids: list[str] = resp.json()["ids"]
        assert len(ids) == len(data)
        return ids

    def outcome(self, event_id: str) -> tuple[str, Any]:
        """The status and output of the one run of ``event_id``, once finished."""
        run = self.finished_run(event_id)
        return run["status"], run.get("output")

    def outputs(self, event_ids: Sequence[str]) -> list[Any]:
        """The output of each event's one run, which must have completed."""
        outputs = []
        for event_id in event_ids:
            status, output = self.outcome(event_id)
            assert status == "Completed", output
            outputs.append(output)
        return outputs

    def first_calls(self, event_ids: Sequence[str]) -> list[float]:
        """When the server sent each event's run its first call (epoch seconds).

        Start times as the server chose them (throttle, debounce), without
        the time node took to take each call on a busy machine.  The ``/v1``
        API does not show them, so this reads the dev server (in its thread).
        """

        def first_calls() -> list[float]:
            calls = []
            for event_id in event_ids:
                (run,) = self.dev.runs_for_event(event_id)
                assert run.first_call_at is not None, run
                calls.append(run.first_call_at)
            return calls

        return self.portal.call(first_calls)

    def events(self, name: str) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.get(f"/v1/events?name={name}")["data"]
        return data

    def wait_until(
        self, check: Callable[[], bool], timeout: float = RUN_TIMEOUT
    ) -> None:
        """Block until ``check()`` (run in the dev server's thread) holds."""
        self.portal.call(self.dev.driver.wait_until, check, timeout)

    def wait_until_waiting(self, event_id: str) -> None:
        """Block until the run of ``event_id`` waits for an event.

        The ``/v1`` API does not show pending waits, so this one
        synchronization reads the dev server itself (in its own thread).
        """
        self.wait_until(lambda: any(r.waits for r in self.dev.runs_for_event(event_id)))

    def stats(self) -> dict[str, Any]:
        """What the node app saw: ``calls``, ``stepRuns`` and ``spans``."""
        resp = httpx.get(f"{self.app_url}/stats", timeout=10)
        assert resp.status_code == 200, resp.text
        data: dict[str, Any] = resp.json()
        return data

    def spans(self, fn: str) -> list[dict[str, Any]]:
        spans: list[dict[str, Any]] = self.stats()["spans"].get(fn, [])
        return spans


def seconds(span: dict[str, Any]) -> tuple[float, float]:
    """When a span of the app's ``work`` step started and ended (epoch seconds)."""
    return span["start"] / 1000, span["end"] / 1000


def most_at_once(spans: Sequence[dict[str, Any]]) -> int:
    """How many of the app's ``spans`` were in flight together, at most."""
    # An end and a start at the same millisecond do not overlap: ends first.
    edges = sorted([(s["start"], 1) for s in spans] + [(s["end"], -1) for s in spans])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def app_env(dev_url: str, mode: Mode, apps: Sequence[str]) -> dict[str, str]:
    """The node app's environment: our server's URL, and no other Inngest."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INNGEST_")}
    env.update(
        # A URL here sets dev mode and every base URL (API, events, connect).
        INNGEST_DEV=dev_url,
        JS_APP_CHECKPOINTING="off" if mode == "serve-no-checkpoint" else "on",
        JS_APP_CONNECT=",".join(apps),
        # The connect worker dials with the global WebSocket, behind this flag
        # on Node 20 (default from 22).  NODE_OPTIONS, not an argument: the
        # SDK's worker thread does not inherit node's arguments.
        NODE_OPTIONS="--experimental-websocket",
    )
    return env


def _read_port(proc: subprocess.Popen[bytes], ready: Path) -> int:
    """The port the app writes to ``ready`` once it listens (and is connected)."""
    deadline = time.monotonic() + START_TIMEOUT
    while not ready.is_file():
        assert proc.poll() is None, f"the node app exited ({proc.returncode})"
        assert time.monotonic() < deadline, "the node app never said its port"
        time.sleep(0.05)
    port: int = json.loads(ready.read_text())["port"]
    return port


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_connected(http: httpx.Client, apps: Sequence[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        conns = http.get("/v0/connect/connections").json()["data"]
        if any(sorted(c["apps"]) == sorted(apps) for c in conns):
            return
        assert time.monotonic() < deadline, f"the worker never connected: {conns}"
        time.sleep(0.05)


@contextmanager
def running_js_app(mode: Mode, apps: Sequence[str] = ("js-app",)) -> Iterator[JsApp]:
    """Our dev server and the node app in ``mode``, with ``apps`` synced."""
    require_node()
    node = shutil.which("node")
    assert node is not None
    with (
        dev_server_thread(host=HOST, retry_scale=RETRY_SCALE) as (dev, portal),
        tempfile.TemporaryDirectory() as tmp,
    ):
        ready = Path(tmp) / "ready.json"
        env = app_env(dev.url, mode, apps)
        env["JS_APP_READY_FILE"] = str(ready)
        proc = subprocess.Popen(
            [node, "app.mjs", "connect" if mode == "connect" else "serve"],
            cwd=APP_DIR,
            env=env,
        )
        try:
            port = _read_port(proc, ready)
            js = JsApp(dev, portal, f"http://{HOST}:{port}", mode)
            try:
                if mode == "connect":
                    _wait_connected(js.http, apps)
                else:
                    for app in apps:
                        synced = portal.call(dev.sync_app, js.app_url + APP_PATHS[app])
                        assert synced["state"] == "synced", synced
                yield js
            finally:
                js.http.close()
        finally:
            _stop(proc)
