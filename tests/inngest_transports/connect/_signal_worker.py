"""A Connect worker in its own process, for test_resilience's signal test.

Connects to the dev server at ``$SIGNAL_WORKER_DEV_URL`` with the default
shutdown signals (SIGTERM, SIGINT) and prints one line per call it runs:
``started <n>`` when the function begins, ``finished <n>`` before it returns
(``n`` from the event's data), flushed at once so the test can follow.
Exits 0 once the worker stopped.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import anyio

import inngest_proto as inngest
from inngest_transports.connect import connect
from inngest_transports.http import HttpTransport

APP_ID = "connect-signal"
EVENT = "t/signal"
#: How long the function works: SIGTERM arrives meanwhile.
WORK_SECONDS = 0.5


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main() -> None:
    url = os.environ["SIGNAL_WORKER_DEV_URL"]
    client = inngest.Inngest(
        app_id=APP_ID,
        environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": url},
        logger=logging.getLogger("signal-worker"),
    )

    @client.create_function(fn_id="slow", trigger=inngest.TriggerEvent(event=EVENT))
    async def slow(ctx: inngest.Context) -> dict[str, Any]:
        # All in one call (no step): the call in flight is the whole run.
        n = ctx.event.data["n"]
        say(f"started {n}")
        await anyio.sleep(WORK_SECONDS)
        say(f"finished {n}")
        return {"slept": n}

    worker = connect([(client, [slow])], instance_id="signal-worker")
    try:
        await worker.start()
    finally:
        if isinstance(client.transport, HttpTransport):
            await client.transport.aclose()
    say("exited")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    anyio.run(main)
