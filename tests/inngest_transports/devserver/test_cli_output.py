"""What ``inngest-dev`` prints while the demo app runs on it: its own lines
(one per run as it starts and ends, per sync, at start), and no library's."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio.from_thread
import httpx

import inngest_proto as inngest
from examples import demo, demo_app
from inngest_transports.http import HttpTransport
from inngest_transports.server import Server

from ._process import DevProcess, free_port, until

_DEADLINE = 30.0
#: The text format: a timestamp, then the message.
_OUR_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \S")


@contextmanager
def _demo_app(dev_url: str) -> Iterator[tuple[str, inngest.Inngest]]:
    """The demo's shop app on a thread of its own; its URL and client."""
    transport = HttpTransport()
    client = inngest.Inngest(
        app_id="demo-shop",
        environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": dev_url},
        transport=transport,
        logger=logging.getLogger("tests.devserver.cli_output"),
    )
    app = Server(client, demo_app.build(client), port=0)
    with anyio.from_thread.start_blocking_portal() as portal:
        portal.start_task(app.serve)
        try:
            yield app.url, client
        finally:
            portal.call(app.shutdown)
            portal.call(transport.aclose)
            transport.close()  # the client send_sync used


def test_the_demo_on_inngest_dev_logs_no_library_line(tmp_path: Path) -> None:
    port = free_port()
    dev_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "dev.log"
    with (
        _demo_app(dev_url) as (app_url, client),
        log_path.open("wb") as log,
    ):
        # The default level: no --log-level.
        dev = DevProcess(
            tmp_path / "dev.db", port, log, "-u", app_url, "--retry-scale", "0.01"
        )
        try:
            with httpx.Client(base_url=dev_url, timeout=5) as http:

                def synced() -> bool:
                    try:
                        apps = http.get("/v1/apps").json()["data"]
                    except httpx.TransportError:
                        return False
                    return any(app["state"] == "synced" for app in apps)

                until(synced, "the sync", timeout=_DEADLINE)
            client.send_sync([event for _, event in demo.EVENTS])
            # The refund waits for a manager's approval: an approval sent
            # before the wait begins is not seen, so it is sent again (every
            # 0.3 s) until the refund is done.
            sent = [0.0]

            def refunded() -> bool:
                if "demo-shop-refund completed" in log_path.read_text():
                    return True
                if time.monotonic() - sent[0] > 0.3:
                    client.send_sync(demo.APPROVAL)
                    sent[0] = time.monotonic()
                return False

            until(refunded, "the refund to be approved", timeout=_DEADLINE)
            # The six runs and the one the invoice invokes.
            until(
                lambda: log_path.read_text().count(" completed in ") >= 7,
                "every run to complete",
                timeout=_DEADLINE,
            )
        finally:
            dev.stop()
    lines = log_path.read_text().splitlines()
    assert sum(" started" in line for line in lines) == 7
    strangers = [line for line in lines if not _OUR_LINE.match(line)]
    assert strangers == []
    libraries = [line for line in lines if "HTTP Request" in line or "httpx" in line]
    assert libraries == []
