"""The Connect worker against a fake gateway and a fake start/flush API."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import attrs
import pytest

import inngest_proto as inngest
from inngest_proto._signing import hash_signing_key
from inngest_proto.connect import connect_pb2 as pb
from inngest_transports.connect import (
    ConnectAuthError,
    ConnectionState,
    WorkerConnection,
    connect,
)

from ._fakes import FakeApi, FakeGateway, executor_request, wait_for

pytestmark = pytest.mark.anyio

Kind = pb.GatewayMessageType
APP = "connect-app"
FN = f"{APP}-work"
KEY = "signkey-prod-" + "ab" * 16


def fast_delay(attempt: int, seed: str) -> float:
    return 0.001


@attrs.define
class Probe:
    """What the user function did: step runs, and a gate to hold it."""

    runs: int = 0
    started: threading.Event = attrs.field(factory=threading.Event)
    gate: threading.Event = attrs.field(factory=threading.Event)
    hold_seconds: float = 0.0


def make_client(api: FakeApi, **kwargs: Any) -> inngest.Inngest:
    options: dict[str, Any] = {"is_production": False, **kwargs}
    return inngest.Inngest(app_id=APP, api_base_url=api.url, environ={}, **options)


def sync_function(client: inngest.Inngest, probe: Probe) -> inngest.Function[Any]:
    def body() -> str:
        probe.runs += 1
        probe.started.set()
        if probe.hold_seconds:
            time.sleep(probe.hold_seconds)
        else:
            probe.gate.wait(5)
        return "done"

    @client.create_function(fn_id="work", trigger=inngest.TriggerEvent(event="t/c"))
    def work(ctx: inngest.ContextSync) -> str:
        return ctx.step.run("s", body)

    return work


@attrs.define
class Rig:
    gateway: FakeGateway
    api: FakeApi
    worker: WorkerConnection
    returned: list[BaseException | None]


@contextlib.asynccontextmanager
async def rig(
    make_worker: Callable[[FakeApi], WorkerConnection],
    gateway: FakeGateway | None = None,
    refuse: int = 0,
) -> AsyncIterator[Rig]:
    gateway = gateway or FakeGateway()
    with FakeApi(gateway) as api:
        api.refuse = refuse
        async with anyio.create_task_group() as tg:
            await gateway.start(tg)
            worker = make_worker(api)
            returned: list[BaseException | None] = []

            async def run() -> None:
                try:
                    await worker.start()
                except Exception as err:
                    returned.append(err)
                else:
                    returned.append(None)

            tg.start_soon(run)
            yield Rig(gateway, api, worker, returned)
            with anyio.fail_after(5):
                await worker.close(wait=True)
            tg.cancel_scope.cancel()


def default_worker(
    probe: Probe, **kwargs: Any
) -> Callable[[FakeApi], WorkerConnection]:
    def make(api: FakeApi) -> WorkerConnection:
        client = make_client(api)
        return WorkerConnection(
            [(client, [sync_function(client, probe)])],
            shutdown_signals=[],
            reconnect_delay=fast_delay,
            instance_id="test-instance",
            max_worker_concurrency=4,
            **kwargs,
        )

    return make


async def active_socket(r: Rig, index: int = 0) -> Any:
    await wait_for(lambda: len(r.gateway.ready_sockets()) > index)
    await r.worker.wait_for_state(ConnectionState.ACTIVE)
    return r.gateway.ready_sockets()[index]


async def running_request(r: Rig, probe: Probe) -> Any:
    """The active socket, once the run of request ``r1``, sent on it, has
    started."""
    socket = await active_socket(r)
    await socket.send(Kind.GATEWAY_EXECUTOR_REQUEST, executor_request("r1", APP, FN))
    await anyio.to_thread.run_sync(probe.started.wait, 5)
    return socket


def replies_to(responses: list[pb.SDKResponse], rid: str) -> list[pb.SDKResponse]:
    return [r for r in responses if r.request_id == rid]


async def test_a_function_runs_over_connect_and_its_reply_arrives() -> None:
    probe = Probe(hold_seconds=0.01)
    async with rig(default_worker(probe)) as r:
        socket = await active_socket(r)
        assert r.worker.get_connection_id() == "conn-1"
        hello = r.gateway.connects[0]
        assert hello.instance_id == "test-instance"
        assert hello.auth_data.session_token == "session-1"
        assert json.loads(hello.capabilities) == {
            "connect": "v1",
            "in_band_sync": "v1",
            "trust_probe": "v1",
        }
        assert hello.framework == "connect"
        assert hello.sdk_language == "py"
        assert hello.max_worker_concurrency == 4
        assert hello.system_attributes.cpu_cores >= 1
        functions = json.loads(hello.apps[0].functions)
        assert hello.apps[0].app_name == APP
        assert functions[0]["id"] == FN
        runtime = functions[0]["steps"]["step"]["runtime"]
        assert runtime == {"type": "ws", "url": f"wss://connect?fnId={FN}&stepId=step"}
        assert b":null" not in hello.apps[0].functions
        assert r.api.starts[0]["content-type"] == "application/protobuf"

        await socket.send(
            Kind.GATEWAY_EXECUTOR_REQUEST, executor_request("r1", APP, FN)
        )
        await wait_for(lambda: bool(replies_to(r.gateway.replies, "r1")))
        reply = replies_to(r.gateway.replies, "r1")[0]
        assert reply.status == pb.SDKResponseStatus.NOT_COMPLETED
        assert reply.request_version == 2
        assert reply.run_id == "run-1"
        ops = json.loads(reply.body)
        assert ops[0]["op"] == "StepRun"
        assert ops[0]["data"] == "done"
        kinds = socket.kinds()
        assert kinds.index(Kind.WORKER_REQUEST_ACK) < kinds.index(Kind.WORKER_REPLY)
        await r.worker.close(wait=True)
        assert r.returned == [None]
        assert socket.closed_code == 1000
        assert Kind.WORKER_PAUSE in socket.kinds()
    assert probe.runs == 1
    assert r.worker.get_state() is ConnectionState.CLOSED


@pytest.mark.parametrize("redeliver", [False, True])
async def test_a_killed_connection_reconnects_and_the_reply_is_not_lost(
    redeliver: bool,
) -> None:
    probe = Probe()
    async with rig(default_worker(probe)) as r:
        first = await active_socket(r)
        request = executor_request("r1", APP, FN)
        await first.send(Kind.GATEWAY_EXECUTOR_REQUEST, request)
        await anyio.to_thread.run_sync(probe.started.wait, 5)
        await first.kill()
        second = await active_socket(r, 0)
        assert second is not first
        assert r.gateway.connects[-1].connection_id == "conn-2"
        if redeliver:  # the gateway hands the same request to the new socket
            await second.send(Kind.GATEWAY_EXECUTOR_REQUEST, request)
            await wait_for(lambda: Kind.WORKER_REQUEST_ACK in second.kinds())
        probe.gate.set()
        if redeliver:
            await wait_for(lambda: bool(replies_to(r.gateway.replies, "r1")))
            assert not r.api.flushed
        else:
            # The new connection adopted the run: it extends the lease and
            # carries the reply (docs/protocol/connect.rst#drain), so nothing
            # needs flushing.
            await wait_for(lambda: bool(replies_to(r.gateway.replies, "r1")))
            (reply,) = replies_to(r.gateway.replies, "r1")
            assert reply.status == pb.SDKResponseStatus.NOT_COMPLETED
            assert not r.api.flushed
    assert probe.runs == 1


async def test_a_drain_moves_to_a_new_connection_without_failing_a_run() -> None:
    probe = Probe()
    async with rig(default_worker(probe, drain_grace=2.0)) as r:
        old = await running_request(r, probe)
        await old.send(Kind.GATEWAY_CLOSING)
        await wait_for(lambda: len(r.gateway.connects) == 2)
        await r.worker.wait_for_state(ConnectionState.ACTIVE)
        assert r.worker.get_connection_id() == "conn-2"
        # As the official worker: the run moves to the new socket, which
        # extends its lease and carries its reply; the old socket closes.
        await wait_for(lambda: old.gone)
        assert old.closed_code == 1000
        new = r.gateway.ready_sockets()[0]
        await wait_for(lambda: Kind.WORKER_REQUEST_EXTEND_LEASE in new.kinds())
        probe.gate.set()
        await wait_for(lambda: bool(replies_to(r.gateway.replies, "r1")))
        assert Kind.WORKER_REPLY in new.kinds()
        assert Kind.WORKER_REPLY not in old.kinds()
        assert not r.api.flushed
        # New work goes to the new socket.
        probe.started.clear()
        await new.send(Kind.GATEWAY_EXECUTOR_REQUEST, executor_request("r2", APP, FN))
        await wait_for(lambda: bool(replies_to(r.gateway.replies, "r2")))
    assert probe.runs == 2


async def test_the_worker_connects_after_the_start_call_failed_ten_times(
    caplog: pytest.LogCaptureFixture,
) -> None:
    probe = Probe()
    async with rig(default_worker(probe), refuse=10) as r:
        await active_socket(r)
        assert len(r.api.starts) == 11
    retries = [m for m in caplog.messages if "start call failed" in m]
    assert len(retries) == 10
    assert "HTTP 500" in retries[0]


async def test_a_refused_signing_key_stops_start_with_an_error() -> None:
    gateway = FakeGateway()

    def make(api: FakeApi) -> WorkerConnection:
        api.refuse_status = 401
        client = make_client(api, is_production=True, signing_key=KEY)
        return connect(
            [(client, [sync_function(client, Probe())])], shutdown_signals=[]
        )

    async with rig(make, gateway, refuse=100) as r:
        await r.worker.closed()
        assert len(r.returned) == 1
        assert isinstance(r.returned[0], ConnectAuthError)
        assert "signing key" in str(r.returned[0])
        bearer = f"Bearer {hash_signing_key(KEY)}"
        assert r.api.starts[0]["authorization"] == bearer
        assert not gateway.sockets


async def test_a_sync_step_blocking_for_many_lease_intervals_keeps_its_lease() -> None:
    probe = Probe(hold_seconds=0.3)  # six lease intervals of 50 ms
    async with rig(default_worker(probe)) as r:
        socket = await active_socket(r)
        await socket.send(
            Kind.GATEWAY_EXECUTOR_REQUEST, executor_request("r1", APP, FN)
        )
        await wait_for(lambda: bool(replies_to(r.gateway.replies, "r1")))
    leases = [e.lease_id for e in r.gateway.extensions if e.request_id == "r1"]
    assert len(leases) >= 3
    # Each extension carries the lease id the previous ACK handed out.
    assert leases[:3] == ["lease-r1-0", "lease-r1-1", "lease-r1-2"]
    assert probe.runs == 1


async def test_close_pauses_finishes_in_flight_runs_then_returns() -> None:
    probe = Probe()
    async with rig(default_worker(probe)) as r:
        socket = await running_request(r, probe)
        await r.worker.close()
        await wait_for(lambda: Kind.WORKER_PAUSE in socket.kinds())
        assert r.worker.get_state() is ConnectionState.CLOSING
        # Paused: new work is not taken (no ACK).
        await socket.send(
            Kind.GATEWAY_EXECUTOR_REQUEST, executor_request("r2", APP, FN)
        )
        await anyio.sleep(0.05)
        assert socket.kinds().count(Kind.WORKER_REQUEST_ACK) == 1
        assert not r.returned
        probe.gate.set()
        await r.worker.closed()
        assert r.returned == [None]
        assert replies_to(r.gateway.replies, "r1")
        assert socket.closed_code == 1000
    assert probe.runs == 1


async def test_a_lost_lease_cancels_the_run_without_a_reply() -> None:
    probe = Probe()
    async with rig(default_worker(probe)) as r:
        socket = await running_request(r, probe)
        lost = pb.WorkerRequestExtendLeaseAckData(request_id="r1")
        await socket.send(Kind.WORKER_REQUEST_EXTEND_LEASE_ACK, lost)
        await wait_for(lambda: not r.worker._executions)
        probe.gate.set()
        await anyio.sleep(0.05)
        assert not r.gateway.replies
        assert not r.api.flushed


async def test_middleware_sees_the_executor_request_as_raw_request() -> None:
    seen: list[object] = []

    class Recording(inngest.MiddlewareSync):
        def before_response(self) -> None:
            seen.append(self.raw_request)

    def make(api: FakeApi) -> WorkerConnection:
        client = make_client(api, middleware=[Recording])
        return WorkerConnection(
            [(client, [sync_function(client, Probe(hold_seconds=0.01))])],
            shutdown_signals=[],
            reconnect_delay=fast_delay,
        )

    async with rig(make) as r:
        socket = await active_socket(r)
        request = executor_request("r1", APP, FN)
        await socket.send(Kind.GATEWAY_EXECUTOR_REQUEST, request)
        await wait_for(lambda: bool(replies_to(r.gateway.replies, "r1")))
    # As the official worker: the gateway's request stands for the HTTP one.
    [raw] = seen
    assert isinstance(raw, pb.GatewayExecutorRequestData)
    assert raw.request_id == "r1"


async def test_a_worker_started_off_the_main_thread_runs_without_signals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Built on the main thread with the default signals, started beside it."""
    caplog.set_level(logging.INFO, "inngest")
    probe = Probe(hold_seconds=0.01)
    gateway = FakeGateway()
    with FakeApi(gateway) as api:
        async with anyio.create_task_group() as tg:
            await gateway.start(tg)
            client = make_client(api)
            worker = WorkerConnection(
                [(client, [sync_function(client, probe)])],
                reconnect_delay=fast_delay,
            )
            portal_cm = anyio.from_thread.start_blocking_portal()
            portal = portal_cm.__enter__()
            try:
                started = portal.start_task_soon(worker.start)
                socket = await wait_for_socket(gateway, started)
                request = executor_request("r1", APP, FN)
                await socket.send(Kind.GATEWAY_EXECUTOR_REQUEST, request)
                await wait_for(lambda: bool(replies_to(gateway.replies, "r1")))
                # close() runs on the worker's own loop, as a host would call it.
                await anyio.to_thread.run_sync(lambda: portal.call(worker.close))
                await anyio.to_thread.run_sync(started.result, 5)
            finally:
                await anyio.to_thread.run_sync(portal_cm.__exit__, None, None, None)
            tg.cancel_scope.cancel()
    assert worker.get_state() is ConnectionState.CLOSED
    assert probe.runs == 1
    assert any("not on the main thread" in m for m in caplog.messages)


async def test_a_function_listed_twice_is_registered_once() -> None:
    def make(api: FakeApi) -> WorkerConnection:
        client = make_client(api)
        fn = sync_function(client, Probe())
        return WorkerConnection(
            [(client, [fn, fn])], shutdown_signals=[], reconnect_delay=fast_delay
        )

    async with rig(make) as r:
        await active_socket(r)
        functions = json.loads(r.gateway.connects[0].apps[0].functions)
    assert [f["id"] for f in functions] == [FN]


async def test_a_loop_that_cannot_receive_signals_leaves_the_worker_running(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the main thread, but where the event loop refuses signal handlers:
    said, and the worker runs on, stopped by close()."""

    def refuse(*signals: int) -> Any:
        raise NotImplementedError("no signal handlers on this loop")

    monkeypatch.setattr(anyio, "open_signal_receiver", refuse)
    caplog.set_level(logging.WARNING, "inngest")
    probe = Probe(hold_seconds=0.01)

    def make(api: FakeApi) -> WorkerConnection:
        client = make_client(api)
        return WorkerConnection(
            [(client, [sync_function(client, probe)])],
            shutdown_signals=[signal.SIGTERM],
            reconnect_delay=fast_delay,
        )

    async with rig(make) as r:
        socket = await active_socket(r)
        await socket.send(
            Kind.GATEWAY_EXECUTOR_REQUEST, executor_request("r1", APP, FN)
        )
        await wait_for(lambda: bool(replies_to(r.gateway.replies, "r1")))
        await r.worker.close(wait=True)
    assert r.returned == [None]
    assert probe.runs == 1
    assert any("cannot handle shutdown signals" in m for m in caplog.messages)


async def wait_for_socket(gateway: FakeGateway, started: Any) -> Any:
    """The worker's socket once ready; the worker's error if it stopped."""
    with anyio.fail_after(5):
        while not gateway.ready_sockets():
            if started.done():
                started.result()  # raises what stopped the worker
                raise AssertionError("the worker returned before connecting")
            await anyio.sleep(0.005)
    return gateway.ready_sockets()[0]


async def test_a_bug_that_stops_the_worker_is_logged_and_raised(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_session = WorkerConnection._run_session

    async def broken(self: WorkerConnection, session: Any) -> None:
        session.stop("closing its socket before the bug")
        await run_session(self, session)
        raise RuntimeError("a bug in a session task")

    monkeypatch.setattr(WorkerConnection, "_run_session", broken)
    async with rig(default_worker(Probe())) as r:
        await r.worker.closed()
    [error] = r.returned
    assert error is not None
    assert "a bug in a session task" in repr(error)
    assert any(
        "stopped by an error" in m and "a bug in a session task" in m
        for m in caplog.messages
    )
