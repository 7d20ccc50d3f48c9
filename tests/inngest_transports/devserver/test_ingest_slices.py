"""Big event batches are routed in slices, one request at a time, so that the
server stays responsive while it ingests them."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

import inngest_proto as inngest
from inngest_proto.executor import normalize_event
from inngest_transports.devserver import DevServer
from inngest_transports.devserver._driver import ROUTE_SLICE, Driver
from inngest_transports.devserver._ingest import EventIds

pytestmark = pytest.mark.anyio

#: Never called: nothing listens on port 1, and no run gets that far here.
APP_URL = "http://127.0.0.1:1/api/inngest"


def _configs() -> list[Any]:
    client = inngest.Inngest(app_id="slices", environ={"INNGEST_DEV": "1"})

    @client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="t/e"))
    def f(ctx: inngest.ContextSync) -> None:
        return None

    return f.get_configs(APP_URL)


def _events(count: int, now_ms: int) -> tuple[list[dict[str, Any]], list[str]]:
    ids = EventIds(None, now_ms)
    internal = [ids.for_index(n) for n in range(count)]
    events = [
        normalize_event({"name": "t/e", "data": {"n": n}}, internal[n], now_ms)
        for n in range(count)
    ]
    return events, internal


async def test_a_big_batch_is_routed_in_slices_with_other_tasks_running_between() -> (
    None
):
    driver = Driver(now=lambda: 1_767_225_600.0)  # not serving: calls dropped
    driver.register_app(APP_URL, _configs())
    count = 5 * ROUTE_SLICE
    events, internal = _events(count, 1_767_225_600_000)
    seen: list[int] = []
    done = anyio.Event()

    async def observe() -> None:
        while not done.is_set():
            seen.append(len(driver.executor.state.runs))
            await anyio.sleep(0)

    async with anyio.create_task_group() as tg:
        tg.start_soon(observe)
        await anyio.sleep(0)
        await driver.receive_in_slices(events, internal)
        done.set()
    assert len(driver.executor.state.runs) == count
    # The observer ran between slices: it saw the batch part-way routed,
    # a whole slice at a time (trio may run it before or after each slice).
    partial = {n for n in seen if 0 < n < count}
    assert partial
    assert all(n % ROUTE_SLICE == 0 for n in partial)


async def test_concurrent_batches_are_routed_one_after_another() -> None:
    dev = DevServer(port=0, poll=False)
    async with anyio.create_task_group() as tg:
        url = await tg.start(dev.serve)
        try:
            dev.driver.register_app(APP_URL, _configs())
            batches = 4
            size = 3 * ROUTE_SLICE
            sent: dict[int, list[str]] = {}

            async def post(batch: int, http: httpx.AsyncClient) -> None:
                events = [
                    {"name": "t/e", "data": {"batch": batch, "n": n}}
                    for n in range(size)
                ]
                resp = await http.post(f"{url}/e/key", json=events)
                assert resp.status_code == 200, resp.text
                sent[batch] = resp.json()["ids"]

            clients = [httpx.AsyncClient() for _ in range(batches)]
            async with anyio.create_task_group() as senders:
                for batch, http in enumerate(clients):
                    senders.start_soon(post, batch, http)
            for http in clients:
                await http.aclose()
            # Runs start in routing order: each batch's all together.
            order = [
                run.events[0]["data"]["batch"]
                for run in dev.driver.executor.state.runs.values()
            ]
            assert len(order) == batches * size
            runs_of = [order[at : at + size] for at in range(0, len(order), size)]
            assert all(len(set(chunk)) == 1 for chunk in runs_of), order
        finally:
            await dev.shutdown()
