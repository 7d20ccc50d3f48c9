"""The main job: durable functions on the embedded dev server, one command.

Starts the pure-Python dev server and the sample shop app (``demo_app``) on
127.0.0.1, syncs the app, sends one event per feature, and prints each run's
status and output as it finishes.  Exits 0 when every run completed.

    tox -e demo            # or: python -m examples.demo
"""

from __future__ import annotations

import logging
import sys
import time

import anyio

import inngest_proto as inngest
from examples import demo_app
from inngest_transports.devserver import DevServer
from inngest_transports.http import HttpTransport
from inngest_transports.server import Server

#: What the demo sends, and what each event shows.
EVENTS = (
    (
        "steps",
        inngest.Event(
            name="shop/order.placed", data={"id": 42, "items": {"tea": 4, "cups": 12}}
        ),
    ),
    (
        "sleep",
        inngest.Event(name="shop/user.signup", data={"email": "ada@example.com"}),
    ),
    ("wait_for_event", inngest.Event(name="shop/refund.requested", data={"order": 42})),
    ("invoke", inngest.Event(name="shop/invoice.requested", data={"amount": 99.5})),
    (
        "parallel",
        inngest.Event(name="shop/restock", data={"skus": ["tea", "cups", "pot"]}),
    ),
    ("retry", inngest.Event(name="shop/inventory.sync", data={})),
)
APPROVAL = inngest.Event(name="shop/refund.approved", data={"order": 42, "by": "grace"})


async def main() -> int:
    started = time.monotonic()
    async with anyio.create_task_group() as tasks:
        # Retries wait a hundredth of the real backoff, so the demo is quick.
        dev = DevServer(port=0, retry_scale=0.01, poll=False)
        dev_url = await tasks.start(dev.serve)
        transport = HttpTransport()
        client = inngest.Inngest(
            app_id="demo-shop",
            environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": dev_url},
            transport=transport,
        )
        app = Server(client, demo_app.build(client), host="127.0.0.1", port=0)
        host, port = await tasks.start(app.serve)
        synced = await dev.sync_app(f"http://{host}:{port}/api/inngest")
        print(
            f"dev server at {dev_url}; synced {synced.get('name', 'the app')} "
            f"with {len(synced.get('functions', []))} functions"
        )

        ids = await client.send([event for _, event in EVENTS])
        # The refund waits for a manager; approve it once it is waiting.
        await anyio.sleep(0.5)
        await client.send(APPROVAL)

        failures = 0
        for (feature, _), event_id in zip(EVENTS, ids, strict=True):
            runs = await dev.wait_for_runs(event_id, timeout=30)
            for run in runs:
                ok = run.status.name == "COMPLETED"
                failures += not ok
                result = run.output if ok else run.error
                status = run.status.name
                print(f"{feature:>15}  {run.function_id:<28} {status:<10} {result}")
        await transport.aclose()
        await app.shutdown()
        await dev.shutdown()
    print(
        f"{len(EVENTS)} runs in {time.monotonic() - started:.1f} s; "
        f"{'all completed' if not failures else f'{failures} did not complete'}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    # The dev server logs one line per run as it starts, retries and ends.
    logging.basicConfig(level=logging.INFO, format="  log: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    sys.exit(anyio.run(main))
