"""A Connect worker in its own process, for test_resilience's SIGKILL test.

Connects to the dev server at ``$CRASH_WORKER_DEV_URL`` as instance
``crash-worker`` and serves one function whose step prints ``started <n>``
(flushed at once, so the test can follow) and then works for ever: the test
kills the process mid-step, and another worker must finish the run.
"""

from __future__ import annotations

import logging
import os
import sys

import anyio

import inngest_proto as inngest
from inngest_transports.connect import connect

APP_ID = "connect-resilience"
EVENT = "t/crash"
FN_ID = "crash"


async def main() -> None:
    url = os.environ["CRASH_WORKER_DEV_URL"]
    client = inngest.Inngest(
        app_id=APP_ID,
        environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": url},
        logger=logging.getLogger("crash-worker"),
    )

    @client.create_function(fn_id=FN_ID, trigger=inngest.TriggerEvent(event=EVENT))
    async def crash(ctx: inngest.Context) -> str:
        async def work() -> str:
            sys.stdout.write(f"started {ctx.event.data['n']}\n")
            sys.stdout.flush()
            await anyio.sleep_forever()
            raise AssertionError  # pragma: no cover

        return await ctx.step.run("work", work)

    await connect([(client, [crash])], instance_id="crash-worker").start()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    anyio.run(main)
