"""Our Connect worker on our dev server's gateway when things go wrong.

A connection killed mid-run, a drain mid-run, a sync step blocking for
several leases, and a SIGTERM to a worker process while a run is in flight:
each time the run completes and no call runs twice.  Timings are small
(fractions of a second) and every wait is bounded.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

import inngest_proto as inngest
from inngest_proto.functions import Function
from inngest_transports.connect import ConnectionState, WorkerConnection
from inngest_transports.devserver import DevServer, GatewayConfig

from ._on_devserver import active_worker, client_for, dev_server

pytestmark = pytest.mark.anyio

APP_ID = "connect-resilience"
EVENT = "t/resilience"
#: Lease 3 s (extended every 750 ms), heartbeats every 200 ms.
CONFIG = GatewayConfig(
    lease_seconds=3.0, heartbeat_interval=0.2, handshake_timeout=2.0, drain_delay=0.3
)
EXTENDED = "connect gateway: extended the lease of"
#: A connect worker SIGKILLed mid-step: its run completes on another worker
#: within 40 s, with the gateway's default timings.
FAILOVER_ACCEPTANCE = 40.0


def gated_function(
    client: inngest.Inngest, started: anyio.Event, go: anyio.Event, ran: list[str]
) -> Function[Any]:
    """Two steps; the first blocks until ``go`` is set."""

    @client.create_function(fn_id="gated", trigger=inngest.TriggerEvent(event=EVENT))
    async def gated(ctx: inngest.Context) -> dict[str, Any]:
        async def first() -> str:
            ran.append("a")
            started.set()
            await go.wait()
            return "A"

        a = await ctx.step.run("a", first)
        b = await ctx.step.run("b", lambda: a + "B")
        return {"a": a, "b": b, "n": ctx.event.data["n"]}

    return gated


def assert_ran_once(dev: DevServer, run_steps: list[str]) -> None:
    """Every call was delivered once and every step memo saved once."""
    request_ids = [request_id for request_id, _ in dev.gateway.deliveries]
    assert len(request_ids) == len(set(request_ids))
    assert len(run_steps) == len(set(run_steps))


async def wait_for_state(worker: WorkerConnection, state: ConnectionState) -> None:
    with anyio.fail_after(5):
        await worker.wait_for_state(state)


async def test_killed_mid_run_reconnects_and_the_step_runs_once() -> None:
    started, go = anyio.Event(), anyio.Event()
    ran: list[str] = []
    async with dev_server(CONFIG) as (dev, url), client_for(url, APP_ID) as client:
        fn = gated_function(client, started, go, ran)
        async with active_worker(client, [fn]) as worker:
            (event_id,) = await client.send(inngest.Event(name=EVENT, data={"n": 1}))
            with anyio.fail_after(5):
                await started.wait()
            old = worker.get_connection_id()
            assert dev.gateway.kill(old)  # no close frame: the socket just dies
            await wait_for_state(worker, ConnectionState.RECONNECTING)
            await wait_for_state(worker, ConnectionState.ACTIVE)
            new = worker.get_connection_id()
            assert new != old
            assert [c["id"] for c in dev.gateway.connections()] == [new]
            go.set()  # the step ends after its socket died: the reply is flushed
            (run,) = await dev.wait_for_runs(event_id, timeout=10)
        assert run.error is None
        assert run.output == {"a": "A", "b": "AB", "n": 1}
        assert ran == ["a"]
        assert len(run.stack) == 2
        assert_ran_once(dev, run.stack)
        # Step "a" went out on the killed socket, the rest on the new one.
        assert [conn for _, conn in dev.gateway.deliveries] == [old, new, new]


async def test_killed_mid_run_with_a_step_outliving_its_lease() -> None:
    # The new connection adopts the running request and extends its lease.
    started, go = anyio.Event(), anyio.Event()
    ran: list[str] = []
    config = GatewayConfig(lease_seconds=0.5, heartbeat_interval=0.2)
    async with dev_server(config) as (dev, url), client_for(url, APP_ID) as client:
        fn = gated_function(client, started, go, ran)
        async with active_worker(client, [fn]) as worker:
            (event_id,) = await client.send(inngest.Event(name=EVENT, data={"n": 3}))
            with anyio.fail_after(5):
                await started.wait()
            assert dev.gateway.kill(worker.get_connection_id())
            await wait_for_state(worker, ConnectionState.RECONNECTING)
            await wait_for_state(worker, ConnectionState.ACTIVE)
            await anyio.sleep(3 * config.lease_seconds)
            go.set()
            (run,) = await dev.wait_for_runs(event_id, timeout=10)
        assert run.output == {"a": "A", "b": "AB", "n": 3}
        assert ran == ["a"]


async def test_drained_mid_run_moves_to_a_new_connection() -> None:
    started, go = anyio.Event(), anyio.Event()
    ran: list[str] = []
    async with (
        dev_server(CONFIG) as (dev, url),
        client_for(url, APP_ID) as client,
        httpx.AsyncClient(base_url=url) as http,
    ):
        fn = gated_function(client, started, go, ran)
        async with active_worker(client, [fn]) as worker:
            (event_id,) = await client.send(inngest.Event(name=EVENT, data={"n": 2}))
            with anyio.fail_after(5):
                await started.wait()
            old = worker.get_connection_id()
            drained = await http.post(
                "/v0/connect/drain", params={"connection_id": old}
            )
            assert drained.status_code == 200
            await wait_for_state(worker, ConnectionState.RECONNECTING)
            await wait_for_state(worker, ConnectionState.ACTIVE)
            new = worker.get_connection_id()
            assert new != old
            with anyio.fail_after(5):
                while True:  # the old socket closes after drain_delay
                    listed = (await http.get("/v0/connect/connections")).json()
                    states = {c["id"]: c["state"] for c in listed["data"]}
                    if old not in states:
                        break
                    assert states[old] in ("draining", "closed")
                    await anyio.sleep(0.02)
            assert states == {new: "ready"}
            go.set()
            (run,) = await dev.wait_for_runs(event_id, timeout=10)
        assert run.error is None
        assert run.output == {"a": "A", "b": "AB", "n": 2}
        assert ran == ["a"]
        assert len(run.stack) == 2
        assert_ran_once(dev, run.stack)
        assert [conn for _, conn in dev.gateway.deliveries] == [old, new, new]


async def test_a_blocking_sync_step_keeps_its_lease(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lease = 0.5  # the worker extends every 125 ms
    block = 3.2 * lease
    config = GatewayConfig(
        lease_seconds=lease, heartbeat_interval=0.2, handshake_timeout=2.0
    )
    caplog.set_level(logging.DEBUG, logger="inngest.devserver")
    ran: list[str] = []
    async with dev_server(config) as (dev, url), client_for(url, APP_ID) as client:

        @client.create_function(fn_id="nap", trigger=inngest.TriggerEvent(event=EVENT))
        def nap(ctx: inngest.ContextSync) -> str:
            def sleep() -> str:
                ran.append("nap")
                time.sleep(block)  # a worker thread: the loop keeps going
                return "rested"

            return ctx.step.run("nap", sleep)

        async with active_worker(client, [nap]):
            (event_id,) = await client.send(inngest.Event(name=EVENT))
            (run,) = await dev.wait_for_runs(event_id, timeout=10)
    assert run.error is None
    assert run.output == "rested"
    assert ran == ["nap"]  # the call was not retried
    assert len(dev.gateway.deliveries) == 2  # the step, then the return
    assert_ran_once(dev, run.stack)
    extensions = [r for r in caplog.records if r.getMessage().startswith(EXTENDED)]
    assert len(extensions) >= 3


class Lines:
    """The lines a process prints, read as they come."""

    def __init__(self, stream: anyio.abc.ByteReceiveStream) -> None:
        self._stream = stream
        self._buffer = b""
        self.seen: list[str] = []

    async def until(self, line: str) -> None:
        while line not in self.seen:
            await self._read()

    async def rest(self) -> list[str]:
        """Everything up to the end of the stream."""
        try:
            while True:
                await self._read()
        except anyio.EndOfStream:
            return self.seen

    async def _read(self) -> None:
        self._buffer += await self._stream.receive()
        *lines, self._buffer = self._buffer.split(b"\n")
        self.seen.extend(line.decode().strip() for line in lines)


async def wait_for_connection(
    dev: DevServer, state: str, instance_id: str = "signal-worker"
) -> dict[str, Any]:
    with anyio.fail_after(20):  # a fresh interpreter imports the SDK first
        while True:
            for conn in dev.gateway.connections():
                if conn["instance_id"] == instance_id and conn["state"] == state:
                    return conn
            await anyio.sleep(0.02)


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of a worker process: this checkout first on the path."""
    root = str(Path(__file__).resolve().parents[3])
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_sigterm_finishes_the_run_in_flight_then_exits(
    tmp_path: Path,
) -> None:
    script = Path(__file__).with_name("_signal_worker.py")
    env = worker_env()
    # retry_scale 1: a call no worker can take waits seconds for its retry.
    async with (
        dev_server(CONFIG, retry_scale=1.0) as (dev, url),
        client_for(url, APP_ID) as client,
    ):
        env["SIGNAL_WORKER_DEV_URL"] = url
        with (tmp_path / "worker.log").open("wb") as log:
            process = await anyio.open_process(
                [sys.executable, str(script)], env=env, stderr=log
            )
            try:
                assert process.stdout is not None
                out = Lines(process.stdout)
                conn = await wait_for_connection(dev, "ready")
                (first,) = await client.send(
                    inngest.Event(name="t/signal", data={"n": 1})
                )
                with anyio.fail_after(5):
                    await out.until("started 1")
                process.send_signal(signal.SIGTERM)
                # WORKER_PAUSE: the gateway routes nothing more to it.
                assert (await wait_for_connection(dev, "paused"))["id"] == conn["id"]
                (second,) = await client.send(
                    inngest.Event(name="t/signal", data={"n": 2})
                )
                (run,) = await dev.wait_for_runs(first, timeout=5)
                with anyio.fail_after(5):
                    code = await process.wait()
                    lines = await out.rest()
            finally:
                if process.returncode is None:
                    process.kill()
                    with anyio.CancelScope(shield=True):
                        await process.wait()
                await process.aclose()
        assert code == 0, (tmp_path / "worker.log").read_text()
        assert lines == ["started 1", "finished 1", "exited"]
        assert run.error is None
        assert run.output == {"slept": 1}
        (queued,) = dev.runs_for_event(second)
        assert queued.is_running
        assert not queued.steps
        # Only the first call ever reached the worker.
        assert [conn_id for _, conn_id in dev.gateway.deliveries] == [conn["id"]]
        assert dev.gateway.connections() == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_sigkilled_mid_step_the_run_completes_on_another_worker(
    tmp_path: Path,
) -> None:
    # A 3 s lease (extended every 750 ms) and 750 ms of grace: the call the
    # dead worker held fails at most 3.75 s after the kill and is retried at
    # once on the worker still connected.  The acceptance (a run completes
    # on another worker within 40 s of the crash, with the default 25 s) is
    # scaled to this lease: 6 s.  The retry scale is the default one, so a
    # retry that waited for the backoff (15 s or more) would miss it.
    config = GatewayConfig(
        lease_seconds=3.0,
        lease_grace=0.75,
        heartbeat_interval=0.2,
        handshake_timeout=2.0,
    )
    default = GatewayConfig().lease.worst_case_failover
    assert default == 25
    bound = config.lease.worst_case_failover * FAILOVER_ACCEPTANCE / default
    script = Path(__file__).with_name("_crash_worker.py")
    ran: list[str] = []
    async with (
        dev_server(config, retry_scale=1.0) as (dev, url),
        client_for(url, APP_ID) as client,
    ):

        @client.create_function(
            fn_id="crash", trigger=inngest.TriggerEvent(event="t/crash")
        )
        async def crash(ctx: inngest.Context) -> str:
            async def work() -> str:
                ran.append("work")
                return f"worked {ctx.event.data['n']}"

            return await ctx.step.run("work", work)

        with (tmp_path / "worker.log").open("wb") as log:
            process = await anyio.open_process(
                [sys.executable, str(script)],
                env=worker_env(CRASH_WORKER_DEV_URL=url),
                stderr=log,
            )
            try:
                assert process.stdout is not None
                out = Lines(process.stdout)
                doomed = await wait_for_connection(dev, "ready", "crash-worker")
                (event_id,) = await client.send(
                    inngest.Event(name="t/crash", data={"n": 1})
                )
                with anyio.fail_after(5):
                    await out.until("started 1")
                async with active_worker(client, [crash]) as survivor:
                    # The doomed worker keeps its lease while it lives.
                    await anyio.sleep(
                        config.lease.duration + config.lease.extend_interval
                    )
                    assert not dev.runs_for_event(event_id)[0].steps
                    process.kill()
                    killed = anyio.current_time()
                    (run,) = await dev.wait_for_runs(event_id, timeout=10)
                    took = anyio.current_time() - killed
                    survivor_id = survivor.get_connection_id()
                assert await process.wait() == -signal.SIGKILL
            finally:
                if process.returncode is None:
                    process.kill()
                    with anyio.CancelScope(shield=True):
                        await process.wait()
                await process.aclose()
    assert run.error is None
    assert run.output == "worked 1"
    assert ran == ["work"]  # the survivor ran the step, once
    assert took <= bound, took
    assert [conn for _, conn in dev.gateway.deliveries] == [
        doomed["id"],
        survivor_id,
        survivor_id,
    ]
