"""Our connect worker and the official one (``inngest.connect``) under the same
scripted gateway messages: a drain, a dropped socket, a refused lease.

The gateway and the start/flush API are the fakes of our worker's own tests
(127.0.0.1 only); the official worker is :mod:`.official_connect_worker` in a
process of its own (see there why), ours runs in this one.  Each scenario
records what the gateway observes, and both workers must be observed doing
the same.  Needs ``inngest[connect]``; skipped without it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

pytest.importorskip("websockets")

import inngest_proto as inngest
from inngest_proto.connect import connect_pb2 as pb
from inngest_transports.connect import WorkerConnection
from tests.inngest_transports.connect._fakes import (
    FakeApi,
    FakeGateway,
    GatewaySocket,
    executor_request,
    wait_for,
)

pytestmark = pytest.mark.anyio

Kind = pb.GatewayMessageType
APP_ID = "official-connect"
FN = f"{APP_ID}-two"
#: How long the step of the run in flight takes.
HOLD_SECONDS = 2.5
_WORKER = Path(__file__).with_name("official_connect_worker.py")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # one backend: the comparison is about the gateway's view


class Started:
    """Set when the step of the run in flight has started."""

    def __init__(self) -> None:
        self.event = threading.Event()

    async def wait(self) -> None:
        ok = await anyio.to_thread.run_sync(self.event.wait, 20)
        assert ok, "the step never started"


@contextlib.asynccontextmanager
async def official_worker(api: FakeApi, started: Started) -> AsyncIterator[None]:
    env = {
        **os.environ,
        "INNGEST_DEV": "1",
        "INNGEST_BASE_URL": api.url,
        "OFFICIAL_WORKER_HOLD": str(HOLD_SECONDS),
        "PYTHONWARNINGS": "ignore",
    }
    for name in ("INNGEST_API_BASE_URL", "INNGEST_EVENT_API_BASE_URL"):
        env.pop(name, None)
    worker = subprocess.Popen(
        [sys.executable, str(_WORKER)], env=env, stdout=subprocess.PIPE
    )

    def read_stdout() -> None:
        assert worker.stdout is not None
        for line in worker.stdout:
            if line.strip() == b"started":
                started.event.set()

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    try:
        yield
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        try:
            await anyio.to_thread.run_sync(worker.wait, 15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        reader.join(5)
        if worker.stdout is not None:
            worker.stdout.close()


@contextlib.asynccontextmanager
async def our_worker(api: FakeApi, started: Started) -> AsyncIterator[None]:
    client = inngest.Inngest(
        app_id=APP_ID, is_production=False, api_base_url=api.url, environ={}
    )

    async def hold() -> int:
        started.event.set()
        await anyio.sleep(HOLD_SECONDS)
        return 1

    @client.create_function(
        fn_id="two", trigger=inngest.TriggerEvent(event="official/connect")
    )
    async def two(ctx: inngest.Context) -> str:
        a = await ctx.step.run("a", hold)
        return f"done {a}"

    worker = WorkerConnection(
        [(client, [two])],
        shutdown_signals=[],
        reconnect_delay=lambda attempt, seed: 0.05,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.start)
        try:
            yield
        finally:
            with anyio.fail_after(10):
                await worker.close(wait=True)


Worker = Callable[[FakeApi, Started], contextlib.AbstractAsyncContextManager[None]]
Scenario = Callable[[FakeGateway, FakeApi, Started], Awaitable[dict[str, Any]]]


async def observe(worker: Worker, scenario: Scenario) -> dict[str, Any]:
    # The official worker reads whole seconds only ("1s"; "100ms" leaves it
    # without lease extensions and without flushing).
    gateway = FakeGateway(lease_interval="1s")
    with FakeApi(gateway) as api:
        async with anyio.create_task_group() as tg:
            await gateway.start(tg)
            started = Started()
            async with worker(api, started):
                seen = await scenario(gateway, api, started)
                seen["sent"] = sent(gateway)
            tg.cancel_scope.cancel()
    return seen


async def first_socket(gateway: FakeGateway) -> GatewaySocket:
    # A fresh interpreter imports the official SDK first: allow for it.
    await wait_for(lambda: bool(gateway.ready_sockets()), timeout=20)
    return gateway.ready_sockets()[0]


def replies(gateway: FakeGateway, api: FakeApi, rid: str) -> list[str]:
    """Where each reply to ``rid`` came: a socket's connection id, or flush."""
    where = [
        s.connection_id
        for s in gateway.sockets
        for kind, payload in s.received
        if kind == Kind.WORKER_REPLY
        and isinstance(payload, pb.SDKResponse)
        and payload.request_id == rid
    ]
    return where + ["flush" for r in api.flushed if r.request_id == rid]


async def drain(gateway: FakeGateway, api: FakeApi, started: Started) -> dict[str, Any]:
    old = await first_socket(gateway)
    await old.send(Kind.GATEWAY_EXECUTOR_REQUEST, executor_request("r1", APP_ID, FN))
    await started.wait()
    await old.send(Kind.GATEWAY_CLOSING)
    await wait_for(lambda: bool(replies(gateway, api, "r1")), timeout=10)
    await anyio.sleep(HOLD_SECONDS)  # time for anything else to happen
    return {
        "start calls": len(api.starts),
        "reply to r1 via": replies(gateway, api, "r1"),
        "old socket closed by the worker": old.gone,
    }


async def dropped(
    gateway: FakeGateway, api: FakeApi, started: Started
) -> dict[str, Any]:
    old = await first_socket(gateway)
    await old.send(Kind.GATEWAY_EXECUTOR_REQUEST, executor_request("r1", APP_ID, FN))
    await started.wait()
    # A worker may start the function before its ack has been read here;
    # cut the socket once the ack is in, or it is lost with the socket.
    await wait_for(lambda: Kind.WORKER_REQUEST_ACK in old.kinds(), timeout=10)
    await old.kill()
    await wait_for(lambda: bool(replies(gateway, api, "r1")), timeout=10)
    await anyio.sleep(HOLD_SECONDS)
    return {
        "start calls": len(api.starts),
        "reply to r1 via": replies(gateway, api, "r1"),
    }


async def lease_refused(
    gateway: FakeGateway, api: FakeApi, started: Started
) -> dict[str, Any]:
    socket = await first_socket(gateway)
    # The first extension is refused (an ACK without a new lease id): the
    # lease expired or another worker has the request now.
    gateway.refuse_leases = True
    await socket.send(Kind.GATEWAY_EXECUTOR_REQUEST, executor_request("r1", APP_ID, FN))
    await started.wait()
    await wait_for(lambda: bool(gateway.extensions), timeout=10)
    await anyio.sleep(HOLD_SECONDS * 1.5)  # past the step's end and more intervals
    return {
        "reply to r1 via": replies(gateway, api, "r1"),
        "extensions": len(gateway.extensions),
        "start calls": len(api.starts),
    }


def sent(gateway: FakeGateway) -> list[tuple[str, list[str]]]:
    """What the worker sent on each socket (heartbeats aside: their timing
    is each worker's own), and how each socket was closed."""
    return [
        (
            s.connection_id,
            sorted(
                {Kind.Name(k) for k in s.kinds() if k != Kind.WORKER_HEARTBEAT}
                | {f"closed {s.closed_code}"}
            ),
        )
        for s in gateway.sockets
    ]


@pytest.mark.parametrize("scenario", [drain, dropped, lease_refused])
async def test_both_workers_do_the_same(scenario: Scenario) -> None:
    theirs = await observe(official_worker, scenario)
    ours = await observe(our_worker, scenario)
    assert ours.pop("sent") == theirs.pop("sent")
    assert ours == theirs
