"""An official-SDK connect worker, run as its own process by the test.

Its own process because the official SDK's ``connect_pb2`` and ours both
register ``connect.proto`` in protobuf's default descriptor pool, which one
process refuses.  Points at ``INNGEST_BASE_URL``; stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import inngest
    from inngest.connect import connect

APP_ID = "official-connect"


async def _one() -> int:
    return 1


def main() -> None:
    client = inngest.Inngest(app_id=APP_ID, is_production=False)

    @client.create_function(
        fn_id="two", trigger=inngest.TriggerEvent(event="official/connect")
    )
    async def two(ctx: inngest.Context) -> str:
        a: int = await ctx.step.run("a", _one)
        return f"done {a} {ctx.event.data['n']}"

    asyncio.run(connect([(client, [two])], instance_id="official-1").start())


if __name__ == "__main__":
    main()
