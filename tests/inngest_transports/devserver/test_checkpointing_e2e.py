"""End to end: a checkpointing client's run takes one call on the dev server."""

from __future__ import annotations

import logging

import anyio
import pytest

import inngest_proto as inngest
from inngest_transports.devserver import DevServer
from inngest_transports.http import HttpTransport
from inngest_transports.server import Server

pytestmark = pytest.mark.anyio

STEPS = 30


@pytest.mark.parametrize("checkpointing", [True, False])
async def test_thirty_steps_in_one_call(checkpointing: bool) -> None:
    starts: list[int] = []
    dev = DevServer(port=0, poll=False)
    async with anyio.create_task_group() as tg:
        url = await tg.start(dev.serve)
        client = inngest.Inngest(
            app_id="ckpt-e2e",
            environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": url},
            logger=logging.getLogger("tests.devserver"),
            checkpointing=checkpointing,
        )

        @client.create_function(
            fn_id="many", trigger=inngest.TriggerEvent(event="t/many")
        )
        async def many(ctx: inngest.Context) -> int:
            starts.append(len(starts))
            total = 0
            for i in range(STEPS):
                total += await ctx.step.run(f"s{i}", lambda n: n, i)
            return total

        app = Server(client, [many], port=0)
        await tg.start(app.serve)
        assert (await dev.sync_app(app.url))["state"] == "synced"
        (event_id,) = await client.send(inngest.Event(name="t/many"))
        (run,) = await dev.wait_for_runs(event_id, timeout=10)
        transport = client.transport
        assert isinstance(transport, HttpTransport)
        await transport.aclose()
        await app.shutdown()
        await dev.shutdown()
    assert run.output == sum(range(STEPS))
    assert len(run.steps) == STEPS
    # The function's body ran once per call: once, or once per step and more.
    assert len(starts) == (1 if checkpointing else STEPS + 1)
