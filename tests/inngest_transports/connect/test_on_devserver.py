"""Our Connect worker running functions on our dev server's gateway, end to end."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import inngest_proto as inngest
from inngest_proto.executor import RunStatus

from ._on_devserver import active_worker, client_for, dev_server

pytestmark = pytest.mark.anyio

APP_ID = "connect-e2e"


async def test_functions_run_over_connect_on_the_dev_server() -> None:
    async with dev_server() as (dev, url), client_for(url, APP_ID) as client:
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

        async with active_worker(client, [two, blocking]):
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
    async with dev_server() as (dev, url), client_for(url, APP_ID) as client:
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

        async with active_worker(client, [retried, refused]):
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
