"""The dev server with its SQLite store, in process: what is committed when."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

import inngest_proto as inngest
from inngest_proto.executor import normalize_event
from inngest_transports.devserver import DevServer, main
from inngest_transports.devserver._cli import build_parser
from inngest_transports.devserver._ingest import EventIds
from inngest_transports.devserver._sqlite_store import (
    DEFAULT_DB_PATH,
    SQLiteStore,
    StoreError,
)
from inngest_transports.http import HttpTransport
from inngest_transports.server import Server

from ._harness import APP_ID, RETRY_SCALE, harness

pytestmark = pytest.mark.anyio


def _echo(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(fn_id="echo", trigger=inngest.TriggerEvent(event="t/echo"))
    async def echo(ctx: inngest.Context) -> Any:
        return await ctx.step.run("s", lambda: ctx.event.data.get("n"))

    return [echo]


class _FailingStore(SQLiteStore):
    """A store whose disk is gone: logging events fails."""

    def append_events(
        self,
        events: Sequence[Mapping[str, Any]],
        *,
        received_at: float,
        internal_ids: Sequence[str] | None = None,
        hold: bool = False,
    ) -> list[int]:
        raise StoreError("disk full")


async def test_e_answers_500_and_starts_nothing_when_the_log_fails() -> None:
    with _FailingStore(":memory:") as store:
        async with harness(_echo, store=store) as h:
            resp = await h.http.post("/e/key", json={"name": "t/echo", "data": {}})
            assert resp.status_code == 500, resp.text
            assert h.dev.driver.executor.state.runs == {}
            assert (await h.get("/v1/events"))["data"] == []


async def test_events_are_committed_before_the_reply(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    with SQLiteStore(db) as store:
        async with harness(_echo, store=store) as h:
            resp = await h.http.post(
                "/e/key", json={"name": "t/echo", "data": {"n": 1}}
            )
            assert resp.status_code == 200, resp.text
            (internal,) = resp.json()["ids"]
            # A second connection sees the row: it is in the file, not a cache.
            with SQLiteStore(db) as other:
                logged = other.event(internal)
            assert logged is not None
            assert logged.event["name"] == "t/echo"
            await h.finished_run(internal)


async def _serve_app(tg: anyio.abc.TaskGroup, dev_url: str) -> tuple[Server, Any]:
    client = inngest.Inngest(
        app_id=APP_ID,
        environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": dev_url},
        logger=logging.getLogger("tests.devserver"),
    )
    app = Server(client, _echo(client), port=0)
    await tg.start(app.serve)
    return app, client


async def test_a_sync_survives_a_restart_without_u(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    async with anyio.create_task_group() as tg:
        first_store = SQLiteStore(db)
        first = DevServer(port=0, poll=False, store=first_store)
        dev_url = await tg.start(first.serve)
        app, client = await _serve_app(tg, dev_url)
        try:
            assert (await first.sync_app(app.url))["state"] == "synced"
            await first.shutdown()
            first_store.close()

            # No ``apps``: the second server knows the app from the file.
            store = SQLiteStore(db)
            second = DevServer(port=0, poll=False, store=store, retry_scale=RETRY_SCALE)
            url = await tg.start(second.serve)
            async with httpx.AsyncClient(base_url=url, timeout=5) as http:
                apps = (await http.get("/v1/apps")).json()["data"]
                assert [(a["url"], a["state"]) for a in apps] == [(app.url, "synced")]
                assert apps[0]["functions"] == [f"{APP_ID}-echo"]
                # Its name and SDK too, before it syncs again.
                assert (apps[0]["name"], apps[0]["framework"]) == (APP_ID, "h11")
                assert apps[0]["sdk"].startswith("py:")
                resp = await http.post(
                    "/e/k", json={"name": "t/echo", "data": {"n": 5}}
                )
                (event_id,) = resp.json()["ids"]
                (run,) = await second.wait_for_runs(event_id, timeout=5)
                assert run.output == 5
            await second.shutdown()
            store.close()
        finally:
            if isinstance(client.transport, HttpTransport):
                await client.transport.aclose()
            await app.shutdown()


async def test_an_event_logged_but_not_routed_is_routed_at_start(
    tmp_path: Path,
) -> None:
    db = tmp_path / "dev.db"
    async with anyio.create_task_group() as tg:
        store = SQLiteStore(db)
        first = DevServer(port=0, poll=False, store=store)
        app, client = await _serve_app(tg, await tg.start(first.serve))
        try:
            assert (await first.sync_app(app.url))["state"] == "synced"
            await first.shutdown()
            # As if the server died between logging the event and routing it.
            event = {"id": "e-1", "name": "t/echo", "data": {"n": 9}, "ts": 1}
            store.append_events([event], received_at=1.0, internal_ids=["e-1"])

            second = DevServer(port=0, poll=False, store=store, retry_scale=RETRY_SCALE)
            await tg.start(second.serve)
            (run,) = await second.wait_for_runs("e-1", timeout=5)
            assert run.output == 9
            assert store.unrouted_events() == []
            await second.shutdown()
        finally:
            store.close()
            if isinstance(client.transport, HttpTransport):
                await client.transport.aclose()
            await app.shutdown()


def test_cli_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_bytes(b"not sqlite at all, just some bytes " * 100)
    assert main(["--db", str(bad), "-p", "0"]) == 2


def test_cli_defaults_to_the_db_in_the_working_directory() -> None:
    assert build_parser().parse_args([]).db == DEFAULT_DB_PATH


async def test_an_unreadable_run_history_is_skipped_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "dev.db"
    with SQLiteStore(db) as store:
        async with harness(_echo, store=store) as h:
            run = await h.finished_run(await h.send("t/echo", {"n": 3}))
            named = [
                i["name"]
                for i in (await h.get(f"/ui/api/runs/{run['run_id']}"))["data"][
                    "timeline"
                ]
            ]
            assert named == ["s", "function"]
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE history SET json = '{\"steps\": 5}'")
    conn.close()
    with SQLiteStore(db) as store, caplog.at_level(logging.WARNING):
        async with harness(_echo, store=store) as h:
            detail = (await h.get(f"/ui/api/runs/{run['run_id']}"))["data"]
            # From the memos alone, as before history was kept.
            assert [i["status"] for i in detail["timeline"]] == ["completed"] * 2
    assert f"run {run['run_id']}: its saved history is unreadable" in caplog.text


class _CountingStore(SQLiteStore):
    """Counts the group commits, and notes the threads they ran in."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.commits = 0
        self.threads: set[threading.Thread] = set()

    def commit(self) -> None:
        self.commits += 1
        self.threads.add(threading.current_thread())
        super().commit()


async def test_inputs_of_one_loop_iteration_share_one_commit(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    store = _CountingStore(db)
    with store:
        async with harness(_echo, store=store) as h:
            driver = h.dev.driver
            await driver.durable()
            before = store.commits
            now_ms = int(driver.now() * 1000)
            ids = EventIds(None, now_ms)
            internal = [ids.for_index(n) for n in range(3)]
            for n, internal_id in enumerate(internal):
                event = normalize_event(
                    {"name": "t/echo", "data": {"n": n}}, internal_id, now_ms
                )
                # Three inputs, no await between them: one loop iteration.
                driver.receive([event], [internal_id])
            await driver.durable()
            assert store.commits == before + 1
            # The fsync ran off the event loop's thread.
            assert threading.current_thread() not in store.threads
            with SQLiteStore(db) as other:
                assert all(other.event(i) is not None for i in internal)
            # The calls waited for the commit, then went out.
            for n, internal_id in enumerate(internal):
                assert (await h.finished_run(internal_id))["output"] == n


class _CommitFailsStore(SQLiteStore):
    """A store whose disk goes away: commits fail once ``gone`` is set."""

    gone = False

    def commit(self) -> None:
        if self.gone:
            raise StoreError("disk gone")
        super().commit()


async def test_e_is_not_acknowledged_when_its_commit_fails() -> None:
    statuses: list[int | str] = []
    stopped: list[BaseException] = []
    store = _CommitFailsStore(":memory:")
    with store:
        dev = DevServer(port=0, poll=False, store=store)

        async def serve(*, task_status: anyio.abc.TaskStatus[str]) -> None:
            try:
                await dev.serve(task_status=task_status)
            except Exception as err:
                stopped.append(err)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                url = await tg.start(serve)
                await dev.driver.durable()  # what the start wrote
                store.gone = True
                async with httpx.AsyncClient(base_url=url) as http:
                    try:
                        resp = await http.post("/e/key", json={"name": "t/e"})
                    except httpx.TransportError:
                        statuses.append("cut off as the server stopped")
                    else:
                        statuses.append(resp.status_code)
    # Never a 200: an answer, if it got out first, says it failed.
    assert statuses in ([500], ["cut off as the server stopped"])
    # The server stopped by itself (fail-stop), with the store's error.
    (error,) = stopped
    assert [str(e) for e in _leaves(error)] == ["disk gone"]


def _leaves(err: BaseException) -> list[BaseException]:
    """The exceptions of an exception group, however nested."""
    inner = getattr(err, "exceptions", None)
    return [err] if inner is None else [leaf for e in inner for leaf in _leaves(e)]
