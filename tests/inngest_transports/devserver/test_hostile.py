"""Hostile events and outputs against a dev server with a store: each is
stored or refused with a clear 4xx, and the server keeps serving."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import inngest_proto as inngest
from inngest_proto.executor import MAX_DATA_DEPTH
from inngest_transports.devserver import DevServer
from inngest_transports.devserver._sqlite_store import SQLiteStore

from ._harness import dev_api, harness
from ._raw_app import HOSTILE_OUTPUTS, nested, raw_app

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serving(
    db: Path | str = ":memory:",
) -> AsyncIterator[tuple[DevServer, httpx.AsyncClient]]:
    with SQLiteStore(db) as store:
        async with dev_api(store=store, timeout=10) as (dev, http):
            yield dev, http


async def _alive(http: httpx.AsyncClient) -> None:
    resp = await http.post("/e/key", json={"name": "t/after"})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(
    ("event", "where"),
    [
        ({"name": "t/\ud800"}, "event name"),
        ({"name": "t/ok", "id": "\udc00x"}, "event id"),
        ({"name": "t/ok", "data": {"k": ["\udbff"]}}, "the event"),
        ({"name": "t/ok", "user": {"\ud800": 1}}, "the event"),
    ],
)
async def test_a_lone_surrogate_is_refused_with_the_reason(
    event: dict[str, Any], where: str
) -> None:
    # json.dumps escapes the surrogate as JSON allows: \\ud800.
    body = json.dumps([{"name": "t/first"}, event]).encode()
    async with serving() as (_, http):
        resp = await http.post("/e/key", content=body)
        assert resp.status_code == 400, resp.text
        error = resp.json()["error"]
        assert error.startswith(f"{where} holds a lone surrogate (U+D")
        assert "surrogate" in error
        assert resp.json()["ids"][1] == ""
        await _alive(http)


def _event_body(depth: int, field: str = "data") -> bytes:
    """``/e`` body: one event whose ``field`` nests ``depth`` levels."""
    return b'{"name": "t/deep", "' + field.encode() + b'": ' + nested(depth) + b"}"


@pytest.mark.parametrize(
    ("depth", "field"),
    [(101, "data"), (400, "data"), (1_000, "data"), (10_000, "data"), (400, "user")],
)
async def test_an_event_nested_too_deep_is_refused(depth: int, field: str) -> None:
    async with serving() as (dev, http):
        resp = await http.post("/e/key", content=_event_body(depth, field))
        assert resp.status_code == 400, resp.text
        assert f"deeper than the {MAX_DATA_DEPTH} levels" in resp.json()["error"]
        assert dev.driver.list_events() == []
        await _alive(http)


@pytest.mark.parametrize("depth", [MAX_DATA_DEPTH + 1, 10_000])
async def test_the_plain_pages_form_refuses_data_nested_too_deep(depth: int) -> None:
    form = {"name": "t/deep", "data": nested(depth).decode()}
    async with serving() as (dev, http):
        resp = await http.post("/ui/plain/events", data=form)
        assert resp.status_code == 400, resp.text
        assert f"nested deeper than the {MAX_DATA_DEPTH} levels" in resp.text
        assert dev.driver.list_events() == []


async def test_an_event_at_the_depth_limit_is_stored_and_listed() -> None:
    async with serving() as (_, http):
        resp = await http.post("/e/key", content=_event_body(MAX_DATA_DEPTH))
        assert resp.status_code == 200, resp.text
        (listed,) = (await http.get("/v1/events")).json()["data"]
        assert listed["data"] == json.loads(nested(MAX_DATA_DEPTH))


async def _run_each_output(http: httpx.AsyncClient, dev: DevServer) -> None:
    ids = {}
    for fn_id in HOSTILE_OUTPUTS:
        resp = await http.post("/e/key", json={"name": f"raw/{fn_id}"})
        assert resp.status_code == 200, resp.text
        ids[fn_id] = resp.json()["ids"][0]
    for fn_id, (_, status, error) in HOSTILE_OUTPUTS.items():
        (run,) = await dev.wait_for_runs(ids[fn_id], timeout=10)
        assert run.status.value == status, (fn_id, run.output)
        assert error in json.dumps(run.error), (fn_id, run.error)


async def test_outputs_nested_too_deep_fail_the_run_and_a_restart_loads_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "dev.db"
    replies = {fn_id: reply for fn_id, (reply, _, _) in HOSTILE_OUTPUTS.items()}
    with raw_app(replies) as app:
        for _ in range(2):  # the second time on the first one's database
            async with serving(db) as (dev, http):
                synced = await http.post("/fn/register", json=app.sync_body())
                assert synced.status_code == 200, synced.text
                await _run_each_output(http, dev)
                await _alive(http)
        async with serving(db) as (dev, _):
            # Read from the store: runs that ended are not in memory.
            runs = dev.driver.recent_runs(1000)
            assert len(runs) == 2 * len(HOSTILE_OUTPUTS)
            assert not [run for run in runs if run.is_running]


async def test_a_restart_skips_events_logged_too_deep_by_an_older_version(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "dev.db"
    replies = {"out-at-limit": (200, nested(MAX_DATA_DEPTH))}
    with raw_app(replies) as app:
        async with serving(db) as (_, http):
            synced = await http.post("/fn/register", json=app.sync_body())
            assert synced.status_code == 200, synced.text
        # Logged but not routed, as an older version left them when saving
        # the runs they started failed: 400 levels broke the save, 10,000
        # break the JSON decoder itself.
        with SQLiteStore(db) as store, store._conn as conn:
            for n, depth in enumerate([400, 10_000]):
                text = b'{"id":"deep-%d","name":"raw/out-at-limit","data":%s}' % (
                    n,
                    nested(depth),
                )
                conn.execute(
                    "INSERT INTO events (internal_id, name, received_at, routed, json)"
                    " VALUES (?, ?, ?, 0, ?)",
                    (f"deep-{n}", "raw/out-at-limit", 1.0, text.decode()),
                )
            store.append_events(
                [{"id": "fine", "name": "raw/out-at-limit", "data": {}, "ts": 1}],
                received_at=2.0,
                internal_ids=["fine"],
            )
        async with serving(db) as (dev, http):
            (run,) = await dev.wait_for_runs("fine", timeout=10)
            assert run.status.value == "Completed"
            assert len(dev.driver.recent_runs(10)) == 1
            resp = await http.get("/v1/events", params={"name": "raw/out-at-limit"})
            listed = resp.json()["data"]
            assert [e["id"] for e in listed] == ["fine", "deep-1", "deep-0"]
            assert listed[1]["data"] == listed[2]["data"] == {}
            await _alive(http)
        with SQLiteStore(db) as store:
            assert store.unrouted_events() == []
    assert "event deep-1 (raw/out-at-limit) is not routed" in caplog.text


def _deep_value(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def _deep_outputs(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(
        fn_id="deep", trigger=inngest.TriggerEvent(event="t/deep-out"), retries=0
    )
    async def deep(ctx: inngest.Context) -> Any:
        return _deep_value(int(ctx.event.data["depth"]))

    @client.create_function(
        fn_id="deep-step",
        trigger=inngest.TriggerEvent(event="t/deep-step"),
        retries=0,
    )
    async def deep_step(ctx: inngest.Context) -> Any:
        depth = int(ctx.event.data["depth"])
        return await ctx.step.run("s", lambda: _deep_value(depth))

    return [deep, deep_step]


async def test_our_sdks_outputs_nested_too_deep_fail_their_runs(
    tmp_path: Path,
) -> None:
    with SQLiteStore(tmp_path / "dev.db") as store:
        async with harness(_deep_outputs, store=store) as h:
            for name in ("t/deep-out", "t/deep-step"):
                for depth, status in [
                    (MAX_DATA_DEPTH - 5, "Completed"),  # the SDK wraps it a bit
                    (400, "Failed"),
                    (10_000, "Failed"),
                ]:
                    event_id = await h.send(name, {"depth": depth})
                    run = await h.finished_run(event_id)
                    assert run["status"] == status, (name, depth, run)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"appName": "\ud800", "url": "http://127.0.0.1:9/x"}, "lone surrogate"),
        (
            {"appName": "a", "functions": [{"id": "f\udfff", "name": "f"}]},
            "lone surrogate",
        ),
        (
            {"appName": "a", "x": json.loads(nested(MAX_DATA_DEPTH + 1))},
            f"nested deeper than {MAX_DATA_DEPTH} levels",
        ),
    ],
)
async def test_a_sync_that_cannot_be_stored_is_refused(
    body: dict[str, Any], reason: str
) -> None:
    async with serving() as (dev, http):
        resp = await http.post("/fn/register", content=json.dumps(body).encode())
        assert resp.status_code == 400, resp.text
        assert reason in resp.json()["error"]
        assert dev.apps.by_url == {}
        await _alive(http)


async def test_lone_surrogates_in_replies_become_replacement_characters(
    tmp_path: Path,
) -> None:
    # As Go's JSON decoder reads them: SQLite (a step id is a column) and
    # the key hashes need text that UTF-8 can encode.
    step = b'[{"id":"s\\ud800","op":"StepRun","name":"s","displayName":"s","data":1}]'
    replies: dict[str, Any] = {
        "op-id": [(206, step), (200, b'{"r": "\\udfff\\ud83d\\ude00"}')],
        "output": (200, b'{"\\udc00": "\\\\ud800"}'),
    }
    db = tmp_path / "dev.db"
    with raw_app(replies) as app:
        async with serving(db) as (dev, http):
            synced = await http.post("/fn/register", json=app.sync_body())
            assert synced.status_code == 200, synced.text
            runs = {}
            for fn_id in replies:
                resp = await http.post("/e/key", json={"name": f"raw/{fn_id}"})
                (runs[fn_id],) = await dev.wait_for_runs(resp.json()["ids"][0])
                runs[fn_id] = await dev.wait_for_run(runs[fn_id].run_id)
            assert runs["op-id"].steps == {"s\ufffd": {"data": 1}}
            assert runs["op-id"].output == {"r": "\ufffd\U0001f600"}
            # An escaped backslash is no surrogate: that text stays.
            assert runs["output"].output == {"\ufffd": "\\ud800"}
            await _alive(http)
        async with serving(db) as (dev, _):
            loaded = dev.get_run(runs["op-id"].run_id)
            assert loaded is not None
            assert loaded.steps == {"s\ufffd": {"data": 1}}


async def test_a_restart_skips_an_event_with_a_lone_surrogate_logged_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "dev.db"
    with raw_app({"keyed": (200, b"1")}) as app:
        body = app.sync_body()
        # The key's hash needs UTF-8: this event broke routing, every start.
        body["functions"][0]["idempotency"] = "event.data.k"
        async with serving(db) as (_, http):
            synced = await http.post("/fn/register", json=body)
            assert synced.status_code == 200, synced.text
        with SQLiteStore(db) as store:
            # Logged, not routed, by a version that accepted it.
            events = [
                {"id": "bad", "name": "raw/keyed", "data": {"k": "\ud800"}, "ts": 1},
                {"id": "fine", "name": "raw/keyed", "data": {"k": "x"}, "ts": 1},
            ]
            store.append_events(events, received_at=1.0)
        async with serving(db) as (dev, http):
            (run,) = await dev.wait_for_runs("fine", timeout=10)
            assert (await dev.wait_for_run(run.run_id)).output == 1
            assert dev.runs_for_event("bad") == []
            await _alive(http)
    assert "event bad (raw/keyed) is not routed: it holds a lone surrogate" in (
        caplog.text
    )
