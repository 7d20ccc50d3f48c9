"""A dev server and an app of our SDK, both on 127.0.0.1, for end-to-end tests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx

import inngest_proto as inngest
from inngest_transports.devserver import DevServer
from inngest_transports.http import HttpTransport
from inngest_transports.server import Server

APP_ID = "dev-e2e"
#: Retry backoff of seconds becomes a few milliseconds.
RETRY_SCALE = 0.0001


class Harness:
    def __init__(self, dev: DevServer, client: inngest.Inngest, app: Server) -> None:
        self.dev = dev
        self.client = client
        self.app = app
        self.http = httpx.AsyncClient(base_url=dev.url, timeout=5)

    async def send(self, name: str, data: dict[str, Any] | None = None) -> str:
        (event_id,) = await self.client.send(inngest.Event(name=name, data=data or {}))
        return event_id

    async def get(self, path: str) -> Any:
        resp = await self.http.get(path)
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def finished_run(self, event_id: str) -> dict[str, Any]:
        """The one run of ``event_id``, once finished, as ``/v1/runs`` shows it."""
        (run,) = await self.dev.wait_for_runs(event_id, timeout=5)
        listed = (await self.get(f"/v1/events/{event_id}/runs"))["data"]
        assert [r["run_id"] for r in listed] == [run.run_id]
        body: dict[str, Any] = (await self.get(f"/v1/runs/{run.run_id}"))["data"]
        return body


@asynccontextmanager
async def dev_api(
    *, timeout: float = 5.0, **dev_options: Any
) -> AsyncIterator[tuple[DevServer, httpx.AsyncClient]]:
    """A dev server on 127.0.0.1 and an HTTP client of its API, with no app."""
    dev = DevServer(port=0, poll=False, **dev_options)
    async with anyio.create_task_group() as tg:
        url = await tg.start(dev.serve)
        async with httpx.AsyncClient(base_url=url, timeout=timeout) as http:
            try:
                yield dev, http
            finally:
                await dev.shutdown()


Functions = Callable[[inngest.Inngest], Sequence[inngest.Function[Any]]]


def throttled(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    """One function, ``slow`` on event ``t/slow``, throttled to a run every
    ten minutes: a test's second run of it waits."""

    @client.create_function(
        fn_id="slow",
        trigger=inngest.TriggerEvent(event="t/slow"),
        throttle=inngest.Throttle(limit=1, period=600_000, burst=0),
    )
    async def slow(ctx: inngest.Context) -> str:
        return "done"

    return [slow]


@asynccontextmanager
async def harness(functions: Functions, **dev_options: Any) -> AsyncIterator[Harness]:
    dev_options.setdefault("retry_scale", RETRY_SCALE)
    dev = DevServer(port=0, poll=False, **dev_options)
    async with anyio.create_task_group() as tg:
        dev_url = await tg.start(dev.serve)
        client = inngest.Inngest(
            app_id=APP_ID,
            environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": dev_url},
            logger=logging.getLogger("tests.devserver"),
        )
        app = Server(client, list(functions(client)), port=0)
        await tg.start(app.serve)
        synced = await dev.sync_app(app.url)
        assert synced["state"] == "synced", synced
        h = Harness(dev, client, app)
        try:
            yield h
        finally:
            await h.http.aclose()
            if isinstance(client.transport, HttpTransport):
                await client.transport.aclose()
            await app.shutdown()
            await dev.shutdown()
