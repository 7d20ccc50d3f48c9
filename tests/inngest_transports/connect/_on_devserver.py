"""Our dev server with its Connect gateway, a client of it and an active
Connect worker: what the tests that run a worker on the dev server share."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio

import inngest_proto as inngest
from inngest_proto.functions import Function
from inngest_transports.connect import ConnectionState, WorkerConnection, connect
from inngest_transports.devserver import DevServer, GatewayConfig
from inngest_transports.http import HttpTransport


def fast_reconnect(attempt: int, instance_id: str) -> float:
    return 0.05


@asynccontextmanager
async def dev_server(
    config: GatewayConfig | None = None, retry_scale: float = 0.0001
) -> AsyncGenerator[tuple[DevServer, str], None]:
    """A dev server on 127.0.0.1 (``config``: its gateway's) and its URL."""
    dev = DevServer(port=0, poll=False, retry_scale=retry_scale, connect=config)
    async with anyio.create_task_group() as tg:
        url = await tg.start(dev.serve)
        try:
            yield dev, url
        finally:
            await dev.shutdown()


@asynccontextmanager
async def client_for(url: str, app_id: str) -> AsyncGenerator[inngest.Inngest, None]:
    """A client of the dev server at ``url``; its transport closed after."""
    client = inngest.Inngest(
        app_id=app_id,
        environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": url},
        logger=logging.getLogger("tests.connect"),
    )
    try:
        yield client
    finally:
        if isinstance(client.transport, HttpTransport):
            await client.transport.aclose()


@asynccontextmanager
async def active_worker(
    client: inngest.Inngest, functions: Sequence[Function[Any]]
) -> AsyncGenerator[WorkerConnection, None]:
    """A worker serving ``functions``, once active; closed after."""
    worker = connect(
        [(client, functions)],
        instance_id="test-worker",
        shutdown_signals=[],
        reconnect_delay=fast_reconnect,
        shutdown_timeout=2.0,  # a failed test leaves its step blocked
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.start)
        try:
            with anyio.fail_after(10):
                await worker.wait_for_state(ConnectionState.ACTIVE)
            yield worker
        finally:
            with anyio.fail_after(10):
                await worker.close(wait=True)
