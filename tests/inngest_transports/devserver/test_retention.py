"""Runs that ended leave memory: the store keeps them (and the API and UI
read them from there), retention by count and age deletes them, and a
restart loads only the runs that have not ended.  Time is a virtual clock."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

import inngest_proto as inngest
from inngest_proto.executor import RunStatus, normalize_event
from inngest_proto.functions import FunctionConfig
from inngest_proto.wire import OutboundRequest, OutboundResponse, structure
from inngest_transports.devserver._app_client import AppTransport
from inngest_transports.devserver._driver import DEFAULT_MEMORY_RUNS, Driver
from inngest_transports.devserver._ingest import EventIds
from inngest_transports.devserver._sqlite_store import SQLiteStore

from ._harness import harness
from ._raw_app import SDK_HEADERS

pytestmark = pytest.mark.anyio

_APP_URL = "http://127.0.0.1:9/api/inngest"
#: Function id -> what each call of it answers.
_REPLIES = {
    "done": (200, b'"ok"'),
    "nap": (206, b'[{"id":"z1","op":"Sleep","name":"1h","displayName":"nap"}]'),
}


class _Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


class _App(AppTransport):
    """Answers every call from :data:`_REPLIES`, without a network."""

    def __init__(self) -> None:
        super().__init__(1.0)

    async def request(self, request: OutboundRequest) -> OutboundResponse:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query)
        status, body = _REPLIES[query["fnId"][0]]
        return OutboundResponse(status, dict(SDK_HEADERS), body)


def _config(fn_id: str) -> FunctionConfig:
    url = f"{_APP_URL}?fnId={fn_id}&stepId=step"
    raw = {
        "id": fn_id,
        "name": fn_id,
        "triggers": [{"event": f"t/{fn_id}"}],
        "steps": {
            "step": {
                "id": "step",
                "name": "step",
                "runtime": {"type": "http", "url": url},
                "retries": {"attempts": 0},
            }
        },
    }
    return structure(raw, FunctionConfig)


@asynccontextmanager
async def _serving(
    clock: _Clock, store: SQLiteStore | None, **options: Any
) -> AsyncIterator[Driver]:
    driver = Driver(store=store, now=clock.now, transport=_App(), **options)
    async with anyio.create_task_group() as tg:
        await tg.start(driver.run)
        driver.register_app(_APP_URL, [_config(fn_id) for fn_id in _REPLIES])
        try:
            yield driver
        finally:
            tg.cancel_scope.cancel()


async def _send(driver: Driver, fn_id: str, *, ended: bool = True) -> tuple[str, str]:
    """Send the trigger of ``fn_id``; its internal id and its run's id, once
    the run ended (or, with ``ended=False``, once it sleeps)."""
    now_ms = int(driver.now() * 1000)
    internal = EventIds(None, now_ms).for_index(0)
    event = normalize_event({"name": f"t/{fn_id}", "data": {}}, internal, now_ms)
    driver.receive([event], [internal])

    def settled() -> bool:
        runs = driver.runs_for_event(internal)
        if ended:
            return bool(runs) and not runs[0].is_running
        return bool(runs) and bool(driver.executor.state.timers)

    await driver.wait_until(settled, 5)
    (run,) = driver.runs_for_event(internal)
    # Written by the group commit, and only then out of memory.
    await driver.durable()
    return internal, run.run_id


def _rows(store: SQLiteStore, table: str, run_id: str) -> int:
    # ``table`` is one of the test's constants.
    sql = f"SELECT COUNT(*) FROM {table} WHERE run_id = ?"
    found: int = store._conn.execute(sql, (run_id,)).fetchone()[0]
    return found


async def test_runs_that_ended_leave_memory_and_are_read_from_the_store(
    tmp_path: Path,
) -> None:
    clock = _Clock(1_767_225_600.0)
    with SQLiteStore(tmp_path / "dev.db") as store:
        async with _serving(clock, store) as driver:
            sent = [await _send(driver, "done") for _ in range(3)]
            # Out of memory: the executor's state, the history, the store's cache.
            assert driver.executor.state.runs == {}
            assert len(driver.history) == 0
            assert store._texts == {}
            assert store._memo_counts == {}
            for internal, run_id in sent:
                run = driver.get_run(run_id)
                assert run is not None
                assert (run.status, run.output) == (RunStatus.COMPLETED, "ok")
                assert [r.run_id for r in driver.runs_for_event(internal)] == [run_id]
                # The timeline comes from the saved history: the attempt is there.
                (fn,) = driver.timeline(run)
                assert [a["status"] for a in fn["attempts"]] == ["completed"]
            listed = [run.run_id for run in driver.recent_runs(10)]
            assert listed == [run_id for _, run_id in reversed(sent)]


async def test_a_restart_loads_only_the_runs_that_have_not_ended(
    tmp_path: Path,
) -> None:
    clock = _Clock(1_767_225_600.0)
    db = tmp_path / "dev.db"
    with SQLiteStore(db) as store:
        async with _serving(clock, store) as driver:
            done_event, done = await _send(driver, "done")
            _, nap = await _send(driver, "nap", ended=False)
    with SQLiteStore(db) as store:
        state = store.load()
        assert state is not None
        assert list(state.runs) == [nap]
        assert [run_id for run_id, _ in store.history()] == [nap]
        again = Driver(store=store, now=clock.now, transport=_App())
        assert list(again.executor.state.runs) == [nap]
        assert len(again.history) == 1
        # The run that ended is still there, read from the file.
        run = again.get_run(done)
        assert run is not None
        assert run.status is RunStatus.COMPLETED
        assert [r.run_id for r in again.runs_for_event(done_event)] == [done]
        assert [i["kind"] for i in again.timeline(run)] == ["function"]


async def test_retention_by_count_and_age_deletes_runs_from_the_store(
    tmp_path: Path,
) -> None:
    clock = _Clock(1_000.0)
    with SQLiteStore(tmp_path / "dev.db") as store:
        async with _serving(clock, store, keep_runs=2, keep_runs_for=100) as driver:
            ids = []
            for _ in range(3):
                ids.append((await _send(driver, "done"))[1])
                clock.t += 10
            # By count: the two that ended last stay.
            assert driver.get_run(ids[0]) is None
            assert [r.run_id for r in driver.recent_runs(10)] == ids[:0:-1]
            assert store.history_of(ids[0]) is None
            assert _rows(store, "memos", ids[0]) == 0
            assert _rows(store, "run_events", ids[0]) == 0
            # A sleeping run is kept whatever its age.
            _, nap = await _send(driver, "nap", ended=False)
            # By age: 100 s later, the runs that ended before then go.
            clock.t += 100
            _, last = await _send(driver, "done")
            assert [r.run_id for r in driver.recent_runs(10)] == [last, nap]
            assert all(driver.get_run(run_id) is None for run_id in ids)
            assert all(_rows(store, "history", run_id) == 0 for run_id in ids)


async def test_without_a_store_runs_that_ended_are_bounded_in_memory() -> None:
    clock = _Clock(1_000.0)
    async with _serving(clock, None, keep_runs=2, keep_runs_for=100) as driver:
        ids = []
        for _ in range(3):
            ids.append((await _send(driver, "done"))[1])
            clock.t += 10
        assert list(driver.executor.state.runs) == ids[1:]
        assert len(driver.history) == 2
        clock.t += 100
        _, last = await _send(driver, "done")
        assert list(driver.executor.state.runs) == [last]
        assert len(driver.history) == 1


async def test_without_a_store_1000_runs_that_ended_are_kept_by_default() -> None:
    clock = _Clock(1_000.0)
    async with _serving(clock, None) as driver:
        assert driver._keep_runs == DEFAULT_MEMORY_RUNS == 1000
        ids = [(await _send(driver, "done"))[1] for _ in range(3)]
        assert list(driver.executor.state.runs) == ids


def _two_steps(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(fn_id="two", trigger=inngest.TriggerEvent(event="t/two"))
    async def two(ctx: inngest.Context) -> str:
        a = await ctx.step.run("load-user", lambda: "A")
        return await ctx.step.run("greet", lambda: a + "B")

    return [two]


async def test_the_api_and_the_ui_show_a_run_that_left_memory(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "dev.db") as store:
        async with harness(_two_steps, store=store) as h:
            event_id = await h.send("t/two")
            (run,) = await h.dev.wait_for_runs(event_id, timeout=5)
            assert h.dev.driver.executor.get_run(run.run_id) is None
            detail = (await h.get(f"/ui/api/runs/{run.run_id}"))["data"]
            assert (detail["status"], detail["output"]) == ("Completed", "AB")
            assert [(i["name"], i["status"]) for i in detail["timeline"]] == [
                ("load-user", "completed"),
                ("greet", "completed"),
                ("function", "completed"),
            ]
            listed = (await h.get("/ui/api/runs"))["data"]
            assert [r["run_id"] for r in listed] == [run.run_id]
            assert (await h.get(f"/v1/runs/{run.run_id}"))["data"]["output"] == "AB"
            by_event = (await h.get(f"/v1/events/{event_id}/runs"))["data"]
            assert [r["run_id"] for r in by_event] == [run.run_id]
            event = (await h.get(f"/ui/api/events/{event_id}"))["data"]
            assert [r["run_id"] for r in event["runs"]] == [run.run_id]
            page = await h.http.get(f"/ui/plain/runs/{run.run_id}")
            assert page.status_code == 200
            assert "load-user" in page.text
