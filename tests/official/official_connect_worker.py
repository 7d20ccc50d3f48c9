"""An official-SDK connect worker, run as its own process by the test.

Its own process because the official SDK's ``connect_pb2`` and ours both
register ``connect.proto`` in protobuf's default descriptor pool, which one
process refuses.  Points at ``INNGEST_BASE_URL``; stops on SIGTERM.  Its
instance id is ``$OFFICIAL_WORKER_INSTANCE`` (default ``official-1``); with
``OFFICIAL_WORKER_HANG=1`` its step prints ``started`` and works for ever,
so that the test can kill it mid-step; with ``OFFICIAL_WORKER_HOLD=<seconds>``
it prints ``started`` and returns after that long.  ``broken`` (a step that raises
``RuntimeError``, one retry) and ``refusing`` (a ``NonRetriableError``)
fail, each with an on-failure handler.
"""

from __future__ import annotations

import asyncio
import os
import sys
import warnings
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import inngest
    from inngest.connect import connect

APP_ID = "official-connect"


async def _one() -> int:
    return 1


async def _hold() -> int:
    sys.stdout.write("started\n")
    sys.stdout.flush()
    await asyncio.sleep(float(os.environ["OFFICIAL_WORKER_HOLD"]))
    return 1


async def _hang() -> int:
    sys.stdout.write("started\n")
    sys.stdout.flush()
    await asyncio.Event().wait()
    raise AssertionError  # pragma: no cover


def main() -> None:
    client = inngest.Inngest(app_id=APP_ID, is_production=False)
    step = _hang if os.environ.get("OFFICIAL_WORKER_HANG") == "1" else _one
    if os.environ.get("OFFICIAL_WORKER_HOLD"):
        step = _hold
    instance_id = os.environ.get("OFFICIAL_WORKER_INSTANCE", "official-1")

    @client.create_function(
        fn_id="two", trigger=inngest.TriggerEvent(event="official/connect")
    )
    async def two(ctx: inngest.Context) -> str:
        a: int = await ctx.step.run("a", step)
        return f"done {a} {ctx.event.data['n']}"

    async def handled(ctx: inngest.Context) -> str:
        error = ctx.event.data["error"]
        assert isinstance(error, dict)
        return f"handled {error['name']}"

    async def broken_step() -> None:
        raise RuntimeError("disk full")

    @client.create_function(
        fn_id="broken",
        trigger=inngest.TriggerEvent(event="official/broken"),
        retries=1,
        on_failure=handled,
    )
    async def broken(ctx: inngest.Context) -> None:
        await ctx.step.run("broken", broken_step)

    @client.create_function(
        fn_id="refusing",
        trigger=inngest.TriggerEvent(event="official/refusing"),
        retries=3,
        on_failure=handled,
    )
    async def refusing(ctx: inngest.Context) -> None:
        raise inngest.NonRetriableError("no way")

    functions: list[inngest.Function[Any]] = [two, broken, refusing]
    asyncio.run(connect([(client, functions)], instance_id=instance_id).start())


if __name__ == "__main__":
    main()
