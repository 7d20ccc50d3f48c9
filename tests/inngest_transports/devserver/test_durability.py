"""Durability: the real ``inngest-dev`` CLI, killed with SIGKILL mid-run,
resumes every run from its ``--db`` without running a finished step again."""

from __future__ import annotations

import collections
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest

import inngest_proto as inngest
from inngest_transports.http import HttpTransport
from inngest_transports.server import Server

from ._process import DevProcess, free_port, until

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="relies on SIGKILL and POSIX process handling"
)

_RUNS = 3
_DEADLINE = 8.0


class _Counts:
    """Step body executions, by (step, run's n); bumped on the app's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: collections.Counter[tuple[str, int]] = collections.Counter()

    def bump(self, step: str, n: int) -> None:
        with self._lock:
            self._counts[step, n] += 1

    def get(self, step: str, n: int) -> int:
        with self._lock:
            return self._counts[step, n]


def _functions(client: inngest.Inngest, counts: _Counts) -> list[inngest.Function[Any]]:
    @client.create_function(fn_id="nap", trigger=inngest.TriggerEvent(event="t/nap"))
    async def nap(ctx: inngest.Context) -> dict[str, Any]:
        n = int(ctx.event.data["n"])

        def a() -> str:
            counts.bump("a", n)
            return f"a{n}"

        def b() -> str:
            counts.bump("b", n)
            return f"b{n}"

        first = await ctx.step.run("a", a)
        # Long enough to kill the dev server while every run sleeps.
        await ctx.step.sleep("zz", 1000)
        second = await ctx.step.run("b", b)
        return {"a": first, "b": second}

    return [nap]


@contextmanager
def _app(dev_url: str, counts: _Counts) -> Iterator[str]:
    """Our SDK's app, served on a thread of its own; yields its URL."""
    client = inngest.Inngest(
        app_id="durable",
        environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": dev_url},
        logger=logging.getLogger("tests.devserver.durability"),
    )
    app = Server(client, _functions(client, counts), port=0)
    with anyio.from_thread.start_blocking_portal() as portal:
        portal.start_task(app.serve)  # returns once it listens
        try:
            yield app.url
        finally:
            portal.call(app.shutdown)
            if isinstance(client.transport, HttpTransport):
                portal.call(client.transport.aclose)


def _synced(http: httpx.Client) -> bool:
    try:
        apps = http.get("/v1/apps").json()["data"]
    except httpx.TransportError:
        return False  # not listening yet
    return any(app["state"] == "synced" for app in apps)


def _memos(http: httpx.Client, run_id: str) -> int:
    resp = http.get(f"/v0/runs/{run_id}/actions")
    return len(resp.json()) if resp.status_code == 200 else 0


def test_kill_9_mid_run_loses_nothing_and_reruns_no_step(tmp_path: Path) -> None:
    counts = _Counts()
    port = free_port()
    dev_url = f"http://127.0.0.1:{port}"
    db = tmp_path / "dev.db"
    with (
        _app(dev_url, counts) as app_url,
        httpx.Client(base_url=dev_url, timeout=5) as http,
        (tmp_path / "dev.log").open("wb") as log,
    ):
        dev = DevProcess(db, port, log, "-u", app_url, "--retry-scale", "0.01")
        try:
            until(lambda: _synced(http), "the first sync", timeout=_DEADLINE)
            batch = [{"name": "t/nap", "data": {"n": n}} for n in range(_RUNS)]
            batch.append({"name": "t/unrelated", "data": {}})
            resp = http.post("/e/key", json=batch)
            assert resp.status_code == 200, resp.text
            event_ids: list[str] = resp.json()["ids"]

            def runs_of(event_id: str) -> list[str]:
                listed = http.get(f"/v1/events/{event_id}/runs").json()["data"]
                return [run["run_id"] for run in listed]

            until(
                lambda: all(runs_of(e) for e in event_ids[:_RUNS]),
                "the runs",
                timeout=_DEADLINE,
            )
            run_ids = [runs_of(e)[0] for e in event_ids[:_RUNS]]
            # Step a's memo is visible once saved; its call out was made
            # after that, so from here a crash cannot make step a run again.
            until(
                lambda: all(_memos(http, r) == 1 for r in run_ids),
                "step a",
                timeout=_DEADLINE,
            )
            dev.kill()
            assert all(counts.get("b", n) == 0 for n in range(_RUNS)), "not mid-run"

            dev = DevProcess(db, port, log, "-u", app_url, "--retry-scale", "0.01")

            def finished() -> bool:
                try:
                    got = [http.get(f"/v1/runs/{r}").json()["data"] for r in run_ids]
                except httpx.TransportError:
                    return False  # restarting
                return all(run["status"] != "Running" for run in got)

            until(finished, "the runs to finish after the restart", timeout=_DEADLINE)
            for n, run_id in enumerate(run_ids):
                run = http.get(f"/v1/runs/{run_id}").json()["data"]
                assert run["status"] == "Completed", run
                assert run["output"] == {"a": f"a{n}", "b": f"b{n}"}
                assert run["event_id"] == event_ids[n]
                assert (counts.get("a", n), counts.get("b", n)) == (1, 1)
            listed = http.get("/v1/events?limit=50").json()["data"]
            assert set(event_ids) <= {e["internal_id"] for e in listed}
        finally:
            dev.stop()
