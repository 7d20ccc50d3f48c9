"""Our Connect worker running functions on our dev server's gateway, end to end."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

import inngest_proto as inngest
from inngest_proto.executor import RunStatus
from inngest_transports.connect import ConnectionState, WorkerConnection, connect
from inngest_transports.devserver import DevServer
from inngest_transports.http import HttpTransport

pytestmark = pytest.mark.anyio

APP_ID = "connect-e2e"


@asynccontextmanager
async def _dev_server() -> AsyncGenerator[tuple[DevServer, inngest.Inngest], None]:
    """A dev server on 127.0.0.1 and a client of it, both closed after."""
    dev = DevServer(port=0, poll=False, retry_scale=0.0001)
    async with anyio.create_task_group() as tg:
        url = await tg.start(dev.serve)
        client = inngest.Inngest(
            app_id=APP_ID,
            environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": url},
            logger=logging.getLogger("tests.connect"),
        )
        try:
            yield dev, client
        finally:
            if isinstance(client.transport, HttpTransport):
                await client.transport.aclose()
            await dev.shutdown()


@asynccontextmanager
async def _worker(
    client: inngest.Inngest, functions: Sequence[inngest.Function[Any]]
) -> AsyncGenerator[WorkerConnection, None]:
    """A Connect worker serving ``functions``, active, then closed."""
    worker = connect([(client, functions)], instance_id="e2e", shutdown_signals=[])
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.start)
        with anyio.fail_after(10):
            await worker.wait_for_state(ConnectionState.ACTIVE)
        try:
            yield worker
        finally:
            with anyio.fail_after(10):
                await worker.close(wait=True)


async def test_functions_run_over_connect_on_the_dev_server() -> None:
    async with _dev_server() as (dev, client):
        ran: list[str] = []

        @client.create_function(
            fn_id="two", trigger=inngest.TriggerEvent(event="t/connect")
        )
        async def two(ctx: inngest.Context) -> dict[str, Any]:
            def first() -> str:
                ran.append("a")
                return "A"

            a = await ctx.step.run("a", first)
            b = await ctx.step.run("b", lambda: a + "B")
            return {"a": a, "b": b, "n": ctx.event.data["n"]}

        @client.create_function(
            fn_id="blocking", trigger=inngest.TriggerEvent(event="t/sync")
        )
        def blocking(ctx: inngest.ContextSync) -> str:
            # A sync function runs off the event loop.
            return ctx.step.run("s", lambda: "done")

        async with _worker(client, [two, blocking]):
            (first_id,) = await client.send(
                inngest.Event(name="t/connect", data={"n": 7})
            )
            (second_id,) = await client.send(inngest.Event(name="t/sync"))
            (run,) = await dev.wait_for_runs(first_id, timeout=10)
            (sync_run,) = await dev.wait_for_runs(second_id, timeout=10)
            assert run.output == {"a": "A", "b": "AB", "n": 7}
            assert sync_run.output == "done"
            assert ran == ["a"]  # memoized: the step ran once


async def test_a_failed_run_over_connect_fails_and_runs_on_failure() -> None:
    async with _dev_server() as (dev, client):
        handled: list[str] = []

        async def on_failure(ctx: inngest.Context) -> None:
            handled.append(ctx.event.data["error"]["name"])

        @client.create_function(
            fn_id="retried",
            trigger=inngest.TriggerEvent(event="t/retried"),
            retries=1,
            on_failure=on_failure,
        )
        async def retried(ctx: inngest.Context) -> None:
            await ctx.step.run("broken", _broken)

        @client.create_function(
            fn_id="refused",
            trigger=inngest.TriggerEvent(event="t/refused"),
            retries=3,
            on_failure=on_failure,
        )
        async def refused(ctx: inngest.Context) -> None:
            raise inngest.NonRetriableError("no way")

        async with _worker(client, [retried, refused]):
            for name, error in (
                ("t/retried", "RuntimeError"),
                ("t/refused", "NonRetriableError"),
            ):
                handled.clear()
                (event_id,) = await client.send(inngest.Event(name=name))
                with anyio.fail_after(10):
                    while len(handled) < 1:
                        await anyio.sleep(0.01)
                (run,) = await dev.wait_for_runs(event_id, timeout=10)
                assert run.status is RunStatus.FAILED, run.output
                assert handled == [error]


def _broken() -> None:
    raise RuntimeError("disk full")
