"""``GET /v1/events`` reads the event log: every copy of a resent event, pages
that neither repeat nor skip, and events kept as the retention policy says."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

import inngest_proto as inngest
from inngest_transports.devserver import DevServer
from inngest_transports.devserver._sqlite_store import SQLiteStore

from ._harness import harness

pytestmark = pytest.mark.anyio

#: With a store and without one (the in-memory log).
STORES = pytest.mark.parametrize("with_store", [True, False], ids=["store", "memory"])


@asynccontextmanager
async def serving(
    with_store: bool, **options: Any
) -> AsyncIterator[tuple[DevServer, httpx.AsyncClient]]:
    with SQLiteStore(":memory:") as store:
        dev = DevServer(
            port=0, poll=False, store=store if with_store else None, **options
        )
        async with anyio.create_task_group() as tg:
            url = await tg.start(dev.serve)
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                yield dev, http
            await dev.shutdown()


async def _all_pages(http: httpx.AsyncClient, limit: int, **query: str) -> list[str]:
    """Internal ids of every event, page by page through the cursor."""
    seen: list[str] = []
    while True:
        params = {"limit": str(limit), **query}
        if seen:
            params["cursor"] = seen[-1]
        resp = await http.get("/v1/events", params=params)
        assert resp.status_code == 200, resp.text
        page = [e["internal_id"] for e in resp.json()["data"]]
        if not page:
            return seen
        assert len(page) <= limit
        seen.extend(page)


def _counter(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(fn_id="count", trigger=inngest.TriggerEvent(event="t/c"))
    async def count(ctx: inngest.Context) -> Any:
        return ctx.event.data["n"]

    return [count]


@STORES
async def test_a_resent_request_is_listed_twice_and_runs_once(with_store: bool) -> None:
    with SQLiteStore(":memory:") as store:
        options = {"store": store} if with_store else {}
        async with harness(_counter, **options) as h:
            # A client retrying a request sends the same body and seed.
            seed = {"x-inngest-event-id-seed": "1700000000000,AAAAAAAAAAAAAA=="}
            body = [{"name": "t/c", "id": "same", "data": {"n": 1}}]
            first = await h.http.post("/e/key", json=body, headers=seed)
            again = await h.http.post("/e/key", json=body, headers=seed)
            (internal,) = first.json()["ids"]
            assert again.json()["ids"] == [internal]
            run = await h.finished_run(internal)
            assert run["output"] == 1
            listed = (await h.get("/v1/events?name=t/c"))["data"]
            assert [e["internal_id"] for e in listed] == [internal, internal]
            # The run idempotency of the event's id is what drops the second.
            assert len(h.dev.driver.recent_runs(10)) == 1


@STORES
async def test_pages_of_events_sent_together_neither_repeat_nor_skip(
    with_store: bool,
) -> None:
    async with serving(with_store) as (_, http):
        # No seed: ids minted in one millisecond sort in random order.
        batch = [{"name": "t/page", "data": {"i": i}} for i in range(40)]
        ids = (await http.post("/e/key", json=batch)).json()["ids"]
        await http.post("/e/key", json=[{"name": "t/other"}])
        for limit in (1, 7, 51):
            listed = await _all_pages(http, limit, name="t/page")
            assert sorted(listed) == sorted(ids)
            assert listed == sorted(listed, reverse=True)
        assert len(await _all_pages(http, 10)) == 41
        bad = await http.get("/v1/events", params={"cursor": "not-a-ulid"})
        assert bad.status_code == 400


async def test_every_stored_event_stays_listed(tmp_path: Any) -> None:
    total = 10_050
    with SQLiteStore(tmp_path / "dev.db") as store:
        dev = DevServer(port=0, poll=False, store=store)
        async with anyio.create_task_group() as tg:
            url = await tg.start(dev.serve)
            async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                ids: list[str] = []
                for start in range(0, total, 5000):
                    batch = [
                        {"name": "t/many", "data": {"i": i}}
                        for i in range(start, min(start + 5000, total))
                    ]
                    resp = await http.post("/e/key", json=batch)
                    ids += resp.json()["ids"]
                oldest = await http.get(f"/v1/events/{ids[0]}")
                assert oldest.status_code == 200, oldest.text
                assert oldest.json()["data"]["data"] == {"i": 0}
                oldest_two = sorted(ids)[:2]
                last_page = await http.get(
                    "/v1/events", params={"cursor": oldest_two[1], "limit": "5"}
                )
                listed = [e["internal_id"] for e in last_page.json()["data"]]
                assert listed == oldest_two[:1]
            await dev.shutdown()


@STORES
async def test_keep_events_bounds_the_log_and_says_so(
    with_store: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="inngest.devserver")
    async with serving(with_store, keep_events=5) as (_, http):
        for i in range(12):
            await http.post("/e/key", json={"name": "t/k", "data": {"i": i}})
        listed = (await http.get("/v1/events", params={"limit": "50"})).json()["data"]
        assert sorted(e["data"]["i"] for e in listed) == list(range(7, 12))
    said = "old ones dropped, 5 kept" if with_store else "only the newest 5 events"
    assert said in caplog.text


def test_keep_events_must_keep_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        DevServer(keep_events=0)
