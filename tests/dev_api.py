"""A dev server for tests written as sync code, and its ``/v1`` API read over
HTTP as a user's test would read it.

Polling is cheap (our server caches nothing), so the tests wait for runs
this way instead of reaching into the dev server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio.from_thread
import httpx

from inngest_transports.devserver import DevServer


class DevApiReader:
    """``GET``\\ s of the ``/v1`` API through ``http`` (its base URL the
    server's); a run may take ``run_timeout`` seconds to finish."""

    def __init__(self, http: httpx.Client, run_timeout: float) -> None:
        self.http = http
        self.run_timeout = run_timeout

    def get(self, path: str) -> Any:
        resp = self.http.get(path)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def runs(self, event_id: str) -> list[dict[str, Any]]:
        """The runs of ``event_id`` as ``/v1/events/{id}/runs`` lists them."""
        data: list[dict[str, Any]] = self.get(f"/v1/events/{event_id}/runs")["data"]
        return data

    def finished_runs(
        self, event_id: str, count: int = 1, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """The ``count`` runs of ``event_id`` once all have finished, as
        ``/v1/runs/{id}`` shows them."""
        deadline = time.monotonic() + (timeout or self.run_timeout)
        while True:
            runs = self.runs(event_id)
            if len(runs) >= count and all(r["status"] != "Running" for r in runs):
                break
            assert time.monotonic() < deadline, f"runs of {event_id}: {runs}"
            time.sleep(0.02)
        assert len(runs) == count, runs
        shown = [self.get(f"/v1/runs/{r['run_id']}")["data"] for r in runs]
        assert [r["run_id"] for r in shown] == [r["run_id"] for r in runs]
        return shown

    def finished_run(
        self, event_id: str, timeout: float | None = None
    ) -> dict[str, Any]:
        """The one run of ``event_id`` once finished."""
        (run,) = self.finished_runs(event_id, 1, timeout)
        return run


@contextmanager
def dev_server_thread(
    **options: Any,
) -> Iterator[tuple[DevServer, anyio.from_thread.BlockingPortal]]:
    """A dev server (a free port, no polling, ``options``) serving on a
    blocking portal's thread, for tests written as sync code; the portal
    reaches into it."""
    dev = DevServer(port=0, poll=False, **options)
    with anyio.from_thread.start_blocking_portal() as portal:
        serving, _url = portal.start_task(dev.serve)
        try:
            yield dev, portal
        finally:
            portal.call(dev.shutdown)
            serving.result(timeout=10)
