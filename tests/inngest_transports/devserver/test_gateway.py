"""The dev server's Connect gateway, against a fake worker written here.

The fake worker speaks the protocol with wsproto and the codec only, and
answers executor requests with real SDK bodies: our ``CommHandler`` run on
the request payload, as a connect worker does.
"""

from __future__ import annotations

import time
import urllib.parse
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
from google.protobuf.message import Message
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    RejectConnection,
    Request,
)

import inngest_proto as inngest
from inngest_proto import _json
from inngest_proto.connect import LeaseTimings
from inngest_proto.connect import connect_pb2 as pb
from inngest_proto.connect.frames import decode, encode
from inngest_proto.wire import IncomingRequest, unstructure
from inngest_transports.devserver import DevServer, GatewayConfig
from inngest_transports.devserver._gateway_ws import WorkerSocket

from ._harness import RETRY_SCALE, dev_api

pytestmark = pytest.mark.anyio

APP_ID = "gw-app"
SUBPROTOCOL = "v0.connect.inngest.com"
#: For the tests of the gateway's timers (heartbeats missed, drain): the
#: socket closes 0.5 s after the last heartbeat.  The fake worker neither
#: heartbeats nor extends leases on its own, so every other test keeps the
#: default timings (a socket lives 50 s without a heartbeat, a lease 20 s):
#: no gateway timer can fire before the test's own timeouts (5 s at most),
#: however slow a loaded machine makes it.
FAST = GatewayConfig(heartbeat_interval=0.1, drain_delay=0.1)


def make_app() -> tuple[inngest.CommHandler, list[str], bytes]:
    """A two-step function; the handler, the steps it ran, the config JSON."""
    client = inngest.Inngest(app_id=APP_ID, environ={"INNGEST_DEV": "1"})
    ran: list[str] = []

    @client.create_function(fn_id="two", trigger=inngest.TriggerEvent(event="gw/two"))
    def two(ctx: inngest.ContextSync) -> str:
        def a() -> int:
            ran.append("a")
            return 1

        first = ctx.step.run("a", a)
        return f"done {first}"

    handler = inngest.CommHandler(client=client, functions=[two], framework="test")
    configs = [unstructure(c) for c in two.get_configs("wss://connect")]
    return handler, ran, _json.dumps_compact(configs)


class FakeWorker:
    """One connection of a connect worker, by hand."""

    def __init__(self, dev: DevServer, http: httpx.AsyncClient) -> None:
        self.dev, self.http = dev, http
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.stream: anyio.abc.ByteStream | None = None
        self.start: pb.StartResponse | None = None
        self.closed: CloseConnection | None = None
        self._buffer = b""

    async def open(self, subprotocols: tuple[str, ...] = (SUBPROTOCOL,)) -> bool:
        resp = await self.http.post(
            "/v0/connect/start",
            content=b"",
            headers={"content-type": "application/protobuf"},
        )
        assert resp.status_code == 200, resp.text
        self.start = pb.StartResponse.FromString(resp.content)
        url = urllib.parse.urlsplit(self.start.gateway_endpoint)
        assert url.hostname
        assert url.port
        self.stream = await anyio.connect_tcp(url.hostname, url.port)
        request = Request(
            host=url.netloc, target=url.path, subprotocols=list(subprotocols)
        )
        await self.stream.send(self.ws.send(request))
        while True:
            for event in self.ws.events():
                if isinstance(event, AcceptConnection):
                    return True
                if isinstance(event, RejectConnection):
                    return False
            self.ws.receive_data(await self.stream.receive())

    async def send(
        self, kind: pb.GatewayMessageType, payload: Message | None = None
    ) -> None:
        assert self.stream is not None
        await self.stream.send(self.ws.send(BytesMessage(data=encode(kind, payload))))

    async def recv(self, timeout: float = 2.0) -> tuple[int, Message | None]:
        """The next message; ``(-1, None)`` once the gateway closed."""
        assert self.stream is not None
        with anyio.fail_after(timeout):
            while True:
                for event in self.ws.events():
                    if isinstance(event, BytesMessage):
                        self._buffer += event.data
                        if event.message_finished:
                            frame, self._buffer = self._buffer, b""
                            return decode(frame)
                    elif isinstance(event, CloseConnection):
                        self.closed = event
                        return -1, None
                try:
                    data = await self.stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return -1, None
                self.ws.receive_data(data)

    async def handshake(
        self, functions: bytes, *, connection_id: str | None = None, **extra: Any
    ) -> pb.GatewayConnectionReadyData | None:
        assert await self.open()
        assert self.start is not None
        assert (await self.recv())[0] == pb.GATEWAY_HELLO
        hello = pb.WorkerConnectRequestData(
            connection_id=connection_id or self.start.connection_id,
            instance_id=extra.pop("instance_id", "instance-1"),
            auth_data=pb.AuthData(
                session_token=self.start.session_token,
                sync_token=self.start.sync_token,
            ),
            capabilities=b'{"connect":"v1"}',
            apps=[pb.AppConfiguration(app_name=APP_ID, functions=functions)],
            framework="connect",
            sdk_version="0.5.19",
            sdk_language="py",
            **extra,
        )
        await self.send(pb.WORKER_CONNECT, hello)
        kind, ready = await self.recv()
        if kind != pb.GATEWAY_CONNECTION_READY:
            return None
        assert isinstance(ready, pb.GatewayConnectionReadyData)
        return ready

    async def request(self, timeout: float = 2.0) -> pb.GatewayExecutorRequestData:
        kind, req = await self.recv(timeout)
        assert kind == pb.GATEWAY_EXECUTOR_REQUEST, kind
        assert isinstance(req, pb.GatewayExecutorRequestData)
        ack = pb.WorkerRequestAckData(
            request_id=req.request_id,
            app_id=req.app_id,
            function_slug=req.function_slug,
        )
        await self.send(pb.WORKER_REQUEST_ACK, ack)
        return req

    async def close(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()


#: How the Python SDK's worker (and ours) maps an HTTP status to a reply
#: status; anything else (400 for a NonRetriableError) is ERROR.
PY_STATUSES = {200: pb.DONE, 206: pb.NOT_COMPLETED}
#: How the JS SDK's worker maps it: anything but 206 and 500 is DONE, so a
#: NonRetriableError (400, no-retry) is DONE with ``no_retry``.
JS_STATUSES = {206: pb.NOT_COMPLETED, 500: pb.ERROR}


def run_sdk(
    handler: inngest.CommHandler,
    req: pb.GatewayExecutorRequestData,
    *,
    js: bool = False,
) -> pb.SDKResponse:
    """What a worker replies: the HTTP response of our SDK, as an SDKResponse."""
    query = {"fnId": req.function_slug, "stepId": req.step_id}
    incoming = IncomingRequest(
        method="POST",
        url="wss://connect?" + urllib.parse.urlencode(query),
        headers={"x-request-id": req.request_id, "x-inngest-job-id": req.job_id},
        body=req.request_payload,
        query=query,
    )
    resp = handler.handle_sync(incoming, now=time.time())
    headers = {k.lower(): v for k, v in resp.headers.items()}
    no_retry = headers.get("x-inngest-no-retry") == "true"
    if js:
        # The JS SDK answers a failure not to retry with 400, not 500.
        http_status = 400 if resp.status == 500 and no_retry else resp.status
        status = JS_STATUSES.get(http_status, pb.DONE)
    else:
        status = PY_STATUSES.get(resp.status, pb.ERROR)
    return pb.SDKResponse(
        request_id=req.request_id,
        account_id=req.account_id,
        env_id=req.env_id,
        app_id=req.app_id,
        status=status,
        body=resp.body,
        no_retry=no_retry,
        sdk_version="inngest-py:v0.5.19",
        request_version=2,
        run_id=req.run_id,
    )


def dev_server(
    **options: Any,
) -> AbstractAsyncContextManager[tuple[DevServer, httpx.AsyncClient]]:
    options.setdefault("retry_scale", RETRY_SCALE)
    return dev_api(**options)


async def send_event(http: httpx.AsyncClient, name: str) -> str:
    resp = await http.post("/e/key", json={"name": name, "data": {}})
    assert resp.status_code == 200, resp.text
    event_id: str = resp.json()["ids"][0]
    return event_id


async def finished(
    dev: DevServer, http: httpx.AsyncClient, event_id: str
) -> dict[str, Any]:
    (run,) = await dev.wait_for_runs(event_id, timeout=5)
    resp = await http.get(f"/v1/runs/{run.run_id}")
    body: dict[str, Any] = resp.json()["data"]
    return body


async def serve_calls(
    worker: FakeWorker, handler: inngest.CommHandler, n: int, *, js: bool = False
) -> list[str]:
    """Answer ``n`` requests; the function slugs they were for."""
    slugs = []
    for _ in range(n):
        req = await worker.request()
        slugs.append(req.function_slug)
        await anyio.sleep(0.7)  # LOAD SIMULATION
        await worker.send(pb.WORKER_REPLY, run_sdk(handler, req, js=js))
        kind, ack = await worker.recv()
        assert kind == pb.WORKER_REPLY_ACK
        assert isinstance(ack, pb.WorkerReplyAckData)
        assert ack.request_id == req.request_id
    return slugs


# -- tests -----------------------------------------------------------------------------


async def test_function_runs_over_the_socket() -> None:
    handler, ran, functions = make_app()
    async with dev_server() as (dev, http):
        worker = FakeWorker(dev, http)
        ready = await worker.handshake(functions)
        assert ready is not None
        assert ready.heartbeat_interval == "10s"
        assert ready.extend_lease_interval == "5s"
        (app,) = (await http.get("/v1/apps")).json()["data"]
        assert (app["name"], app["method"], app["sdk"]) == (
            APP_ID,
            "connect",
            "py:v0.5.19",
        )
        (conn,) = (await http.get("/v0/connect/connections")).json()["data"]
        assert conn["id"] == worker.start.connection_id  # type: ignore[union-attr]
        assert (conn["instance_id"], conn["apps"], conn["state"]) == (
            "instance-1",
            [APP_ID],
            "ready",
        )
        event_id = await send_event(http, "gw/two")
        await serve_calls(worker, handler, 2)
        run = await finished(dev, http, event_id)
        assert (run["status"], run["output"]) == ("Completed", "done 1")
        assert ran == ["a"]
        await worker.close()


async def test_executor_request_fields() -> None:
    handler, _, functions = make_app()
    async with dev_server() as (dev, http):
        worker = FakeWorker(dev, http)
        assert await worker.handshake(functions) is not None
        event_id = await send_event(http, "gw/two")
        req = await worker.request()
        assert req.app_name == APP_ID
        assert req.function_slug == f"{APP_ID}-two"
        assert req.step_id == "step"
        assert req.account_id == "00000000-0000-4000-a000-000000000000"
        assert req.env_id == "00000000-0000-4000-b000-000000000000"
        assert req.job_id
        assert req.lease_id
        assert req.run_id
        payload = _json.loads(req.request_payload)
        assert payload["ctx"]["run_id"] == req.run_id
        await worker.send(pb.WORKER_REPLY, run_sdk(handler, req))
        assert (await worker.recv())[0] == pb.WORKER_REPLY_ACK
        await serve_calls(worker, handler, 1)
        assert (await finished(dev, http, event_id))["status"] == "Completed"
        await worker.close()


def make_failing_app() -> tuple[inngest.CommHandler, bytes]:
    """A function that refuses at once, with an on-failure handler."""
    client = inngest.Inngest(app_id=APP_ID, environ={"INNGEST_DEV": "1"})

    def handle(ctx: inngest.ContextSync) -> str:
        return "handled"

    @client.create_function(
        fn_id="refuse",
        trigger=inngest.TriggerEvent(event="gw/refuse"),
        retries=3,
        on_failure=handle,
    )
    def refuse(ctx: inngest.ContextSync) -> None:
        raise inngest.NonRetriableError("no way")

    handler = inngest.CommHandler(client=client, functions=[refuse], framework="test")
    configs = [unstructure(c) for c in refuse.get_configs("wss://connect")]
    return handler, _json.dumps_compact(configs)


@pytest.mark.parametrize("js", [False, True], ids=["py-worker", "js-worker"])
async def test_a_non_retriable_failure_fails_the_run_whatever_the_reply_status(
    js: bool,
) -> None:
    # The JS SDK's worker answers a NonRetriableError with status DONE and
    # no_retry; the Python SDK's with ERROR and no_retry.  Both are a failed
    # run that is not retried and that runs its on-failure handler.
    handler, functions = make_failing_app()
    async with dev_server() as (dev, http):
        worker = FakeWorker(dev, http)
        assert await worker.handshake(functions) is not None
        event_id = await send_event(http, "gw/refuse")
        assert await serve_calls(worker, handler, 1, js=js) == [f"{APP_ID}-refuse"]
        run = await finished(dev, http, event_id)
        assert run["status"] == "Failed"
        assert run["output"]["name"] == "NonRetriableError"
        # No retry: the next request is the on-failure handler's.
        slugs = await serve_calls(worker, handler, 1, js=js)
        assert slugs == [f"{APP_ID}-refuse-failure"]
        await worker.close()


async def test_a_refused_worker_sync_is_kept_with_its_app() -> None:
    """``concurrency: 1`` is taken; a bad function is refused, and the app says why."""
    _, _, good = make_app()
    (config,) = _json.loads(good)
    async with dev_server() as (dev, http):
        worker = FakeWorker(dev, http)
        shorthand = _json.dumps_compact([{**config, "concurrency": 1}])
        assert await worker.handshake(shorthand) is not None
        await worker.close()
        bad = _json.dumps_compact([{**config, "concurrency": {"limit": -1}}])
        second = FakeWorker(dev, http)
        assert await second.handshake(bad) is None
        await second.close()
        (app,) = (await http.get("/v1/apps")).json()["data"]
        assert app["state"] == "error"
        assert app["error"] == (
            f"function '{APP_ID}-two': concurrency.limit: must be 0 (no limit) or "
            "more, got -1"
        )
        assert app["functions"] == [f"{APP_ID}-two"]  # the last good sync's


async def test_bad_subprotocol_refused() -> None:
    async with dev_server() as (dev, http):
        worker = FakeWorker(dev, http)
        assert not await worker.open(subprotocols=("chat",))
        await worker.close()


async def test_wrong_connection_id_closed() -> None:
    _, _, functions = make_app()
    async with dev_server() as (dev, http):
        worker = FakeWorker(dev, http)
        assert await worker.handshake(functions, connection_id="01ABC") is None
        assert worker.closed is not None
        assert worker.closed.code == 1008
        assert (await http.get("/v1/apps")).json()["data"] == []
        await worker.close()


async def test_heartbeat_answered_and_missed_heartbeats_close() -> None:
    _, _, functions = make_app()
    async with dev_server(connect=FAST) as (dev, http):
        worker = FakeWorker(dev, http)
        ready = await worker.handshake(functions)
        assert ready is not None
        assert ready.heartbeat_interval == "100ms"
        await worker.send(pb.WORKER_HEARTBEAT)
        assert (await worker.recv())[0] == pb.GATEWAY_HEARTBEAT
        # 5 x 0.1 s without a heartbeat: closed.
        assert (await worker.recv())[0] == -1
        assert worker.closed is not None
        assert worker.closed.reason == "CONSECUTIVE_HEARTBEATS_MISSED"
        await worker.close()


async def test_pause_stops_routing() -> None:
    handler, _, functions = make_app()
    async with dev_server(connect=GatewayConfig(lease_seconds=0.4)) as (dev, http):
        paused, other = FakeWorker(dev, http), FakeWorker(dev, http)
        assert await paused.handshake(functions, instance_id="a") is not None
        await paused.send(pb.WORKER_PAUSE)
        assert await other.handshake(functions, instance_id="b") is not None
        states = {
            c["instance_id"]: c["state"]
            for c in (await http.get("/v0/connect/connections")).json()["data"]
        }
        assert states == {"a": "paused", "b": "ready"}
        event_id = await send_event(http, "gw/two")
        await serve_calls(other, handler, 2)
        assert (await finished(dev, http, event_id))["status"] == "Completed"
        assert {conn for _, conn in dev.gateway.deliveries} == {
            other.start.connection_id  # type: ignore[union-attr]
        }
        await paused.close()
        await other.close()


async def test_reply_flushed_after_the_connection_died() -> None:
    handler, ran, functions = make_app()
    async with dev_server(connect=GatewayConfig(lease_seconds=5)) as (dev, http):
        worker = FakeWorker(dev, http)
        assert await worker.handshake(functions) is not None
        event_id = await send_event(http, "gw/two")
        req = await worker.request()
        await worker.close()  # killed mid-request
        reply = run_sdk(handler, req)
        resp = await http.post(
            "/v0/connect/flush",
            content=reply.SerializeToString(),
            headers={"content-type": "application/protobuf"},
        )
        assert resp.status_code == 200, resp.text
        assert pb.FlushResponse.FromString(resp.content).request_id == req.request_id
        # The next call goes to the worker's new connection.
        again = FakeWorker(dev, http)
        assert await again.handshake(functions) is not None
        await serve_calls(again, handler, 1)
        run = await finished(dev, http, event_id)
        assert (run["status"], run["output"]) == ("Completed", "done 1")
        assert ran == ["a"]  # the step ran once
        ids = [request_id for request_id, _ in dev.gateway.deliveries]
        assert len(ids) == len(set(ids)) == 2
        await again.close()


async def test_lease_expiry_retries_the_call() -> None:
    handler, _, functions = make_app()
    # The socket outlives the lease and its grace (5 x 1 s without a heartbeat).
    config = GatewayConfig(lease_seconds=0.4, lease_grace=0.1, heartbeat_interval=1)
    async with dev_server(connect=config) as (dev, http):
        worker = FakeWorker(dev, http)
        ready = await worker.handshake(functions)
        assert ready is not None
        assert ready.extend_lease_interval == "100ms"
        event_id = await send_event(http, "gw/two")
        lost = await worker.request()
        # One extension works; then the worker goes silent past the lease.
        extend = pb.WorkerRequestExtendLeaseData(
            request_id=lost.request_id, lease_id=lost.lease_id
        )
        await worker.send(pb.WORKER_REQUEST_EXTEND_LEASE, extend)
        kind, ack = await worker.recv()
        assert kind == pb.WORKER_REQUEST_EXTEND_LEASE_ACK
        assert isinstance(ack, pb.WorkerRequestExtendLeaseAckData)
        assert ack.HasField("new_lease_id")
        assert ack.new_lease_id != lost.lease_id
        # The old lease id is no longer the lease: sent again by the same
        # worker (as if the acknowledgement was lost) it gets the current one
        # back, as Inngest's gateway answers since inngest#4687.
        await worker.send(pb.WORKER_REQUEST_EXTEND_LEASE, extend)
        kind, replayed = await worker.recv()
        assert isinstance(replayed, pb.WorkerRequestExtendLeaseAckData)
        assert replayed.new_lease_id == ack.new_lease_id
        await worker.send(pb.WORKER_HEARTBEAT)
        assert (await worker.recv())[0] == pb.GATEWAY_HEARTBEAT
        # The lease (0.4 s) expires: the executor retries with a new request.
        kind, retried = await worker.recv()
        assert kind == pb.GATEWAY_EXECUTOR_REQUEST
        assert isinstance(retried, pb.GatewayExecutorRequestData)
        assert retried.request_id != lost.request_id
        assert retried.step_id == lost.step_id
        await worker.send(pb.WORKER_REPLY, run_sdk(handler, retried))
        assert (await worker.recv())[0] == pb.WORKER_REPLY_ACK
        final = await worker.request()
        # A late reply to the expired request is acknowledged and ignored.
        await worker.send(pb.WORKER_REPLY, run_sdk(handler, lost))
        assert (await worker.recv())[0] == pb.WORKER_REPLY_ACK
        await worker.send(pb.WORKER_REPLY, run_sdk(handler, final))
        assert (await worker.recv())[0] == pb.WORKER_REPLY_ACK
        assert (await finished(dev, http, event_id))["status"] == "Completed"
        await worker.close()


async def test_default_lease_is_the_inngest_gateways() -> None:
    # 20 s, extended every 5 s, 5 s of grace: a dead worker's call is retried
    # at most 25 s after it died (it waited 120 s before).
    _, _, functions = make_app()
    assert GatewayConfig().lease == LeaseTimings(20, 5, 5)
    async with dev_server() as (dev, http):
        assert dev.gateway.config.lease.worst_case_failover == 25
        worker = FakeWorker(dev, http)
        ready = await worker.handshake(functions)
        assert ready is not None
        assert ready.extend_lease_interval == "5s"
        await worker.close()


async def test_a_dead_worker_s_call_goes_to_another_after_lease_and_grace() -> None:
    handler, ran, functions = make_app()
    config = GatewayConfig(lease_seconds=0.6, lease_grace=0.3, heartbeat_interval=1)
    # The default retry scale: the retry of a lost worker's call does not
    # wait for the backoff (15 s or more).
    async with dev_server(connect=config, retry_scale=1.0) as (dev, http):
        doomed, survivor = FakeWorker(dev, http), FakeWorker(dev, http)
        assert await doomed.handshake(functions, instance_id="doomed") is not None
        event_id = await send_event(http, "gw/two")
        lost = await doomed.request()
        delivered = anyio.current_time()
        assert await survivor.handshake(functions, instance_id="survivor")
        await doomed.close()  # the worker process died: its socket with it
        with anyio.fail_after(5):
            while len(dev.gateway.connections()) > 1:
                await anyio.sleep(0.01)
        # The call waits out the lease and the grace (a reply could still
        # come on a new connection), then fails; the retry goes at once to
        # the worker still connected.
        retried = await survivor.request(timeout=5)
        waited = anyio.current_time() - delivered
        assert retried.request_id != lost.request_id
        assert retried.step_id == lost.step_id
        assert 0.6 + 0.3 - 0.05 <= waited < 0.6 + 0.3 + 1.0
        await survivor.send(pb.WORKER_REPLY, run_sdk(handler, retried))
        assert (await survivor.recv())[0] == pb.WORKER_REPLY_ACK
        await serve_calls(survivor, handler, 1)
        run = await finished(dev, http, event_id)
        assert (run["status"], run["output"]) == ("Completed", "done 1")
        assert ran == ["a"]  # the doomed worker never ran it
        assert [conn for _, conn in dev.gateway.deliveries] == [
            doomed.start.connection_id,  # type: ignore[union-attr]
            survivor.start.connection_id,  # type: ignore[union-attr]
            survivor.start.connection_id,  # type: ignore[union-attr]
        ]
        await survivor.close()


async def test_a_hung_worker_s_call_goes_at_once_to_another() -> None:
    # The worker's process hangs: its socket stays open, it sends nothing.
    # Its call fails after the lease and the grace, and the retry goes at
    # once (no backoff at the default retry scale) to the other worker, not
    # to the hung one, although neither has a call in flight.
    handler, ran, functions = make_app()
    # The other worker does not extend either: its calls have 1.5 s.
    config = GatewayConfig(lease_seconds=1, lease_grace=0.5, heartbeat_interval=2)
    async with dev_server(connect=config, retry_scale=1.0) as (dev, http):
        hung, other = FakeWorker(dev, http), FakeWorker(dev, http)
        assert await hung.handshake(functions, instance_id="hung") is not None
        event_id = await send_event(http, "gw/two")
        lost = await hung.request()
        delivered = anyio.current_time()
        assert await other.handshake(functions, instance_id="other") is not None
        retried = await other.request(timeout=5)
        waited = anyio.current_time() - delivered
        assert retried.step_id == lost.step_id
        assert waited < config.lease.worst_case_failover + 1.0
        assert [c["instance_id"] for c in dev.gateway.connections()] == [
            "hung",
            "other",
        ]
        await other.send(pb.WORKER_REPLY, run_sdk(handler, retried))
        assert (await other.recv())[0] == pb.WORKER_REPLY_ACK
        await serve_calls(other, handler, 1)
        run = await finished(dev, http, event_id)
        assert (run["status"], run["output"]) == ("Completed", "done 1")
        assert ran == ["a"]
        assert [conn for _, conn in dev.gateway.deliveries] == [
            hung.start.connection_id,  # type: ignore[union-attr]
            other.start.connection_id,  # type: ignore[union-attr]
            other.start.connection_id,  # type: ignore[union-attr]
        ]
        await hung.close()
        await other.close()


async def test_a_reply_in_the_grace_is_taken_but_no_extension() -> None:
    handler, ran, functions = make_app()
    config = GatewayConfig(lease_seconds=0.3, lease_grace=0.6, heartbeat_interval=1)
    async with dev_server(connect=config) as (dev, http):
        worker = FakeWorker(dev, http)
        assert await worker.handshake(functions) is not None
        event_id = await send_event(http, "gw/two")
        late = await worker.request()
        await anyio.sleep(0.4)  # past the lease, within the grace
        extend = pb.WorkerRequestExtendLeaseData(
            request_id=late.request_id, lease_id=late.lease_id
        )
        await worker.send(pb.WORKER_REQUEST_EXTEND_LEASE, extend)
        kind, nack = await worker.recv()
        assert kind == pb.WORKER_REQUEST_EXTEND_LEASE_ACK
        assert isinstance(nack, pb.WorkerRequestExtendLeaseAckData)
        assert not nack.HasField("new_lease_id")  # lost: drop it
        # A reply already on its way still counts: the call is not retried.
        await worker.send(pb.WORKER_REPLY, run_sdk(handler, late))
        assert (await worker.recv())[0] == pb.WORKER_REPLY_ACK
        final = await worker.request()  # the next call, not a retry
        await worker.send(pb.WORKER_REPLY, run_sdk(handler, final))
        assert (await worker.recv())[0] == pb.WORKER_REPLY_ACK
        assert (await finished(dev, http, event_id))["status"] == "Completed"
        assert ran == ["a"]
        assert len(dev.gateway.deliveries) == 2
        await worker.close()


async def extend_lease(
    worker: FakeWorker, request_id: str, lease_id: str
) -> str | None:
    """Send an extension; the new lease id the gateway answers, if any."""
    extend = pb.WorkerRequestExtendLeaseData(request_id=request_id, lease_id=lease_id)
    await worker.send(pb.WORKER_REQUEST_EXTEND_LEASE, extend)
    kind, ack = await worker.recv()
    assert kind == pb.WORKER_REQUEST_EXTEND_LEASE_ACK
    assert isinstance(ack, pb.WorkerRequestExtendLeaseAckData)
    assert ack.request_id == request_id
    return ack.new_lease_id if ack.HasField("new_lease_id") else None


async def test_an_extension_whose_ack_was_lost_is_answered_again() -> None:
    # inngest#4687: the acknowledgement of an extension can die with the
    # socket carrying it; the worker then sends the old lease id again,
    # maybe on its next connection, and gets the current lease back.
    handler, ran, functions = make_app()
    async with dev_server() as (dev, http):
        first, other = FakeWorker(dev, http), FakeWorker(dev, http)
        assert await first.handshake(functions, instance_id="w") is not None
        event_id = await send_event(http, "gw/two")
        req = await first.request()
        current = await extend_lease(first, req.request_id, req.lease_id)
        assert current is not None
        assert current != req.lease_id
        # Its socket dies before the acknowledgement arrives; the worker
        # comes back on a new connection with the lease id it had.
        await first.close()
        again = FakeWorker(dev, http)
        assert await again.handshake(functions, instance_id="w") is not None
        assert await extend_lease(again, req.request_id, req.lease_id) == current
        # Another worker naming that id is refused, and the lease stays.
        assert await other.handshake(functions, instance_id="x") is not None
        assert await extend_lease(other, req.request_id, req.lease_id) is None
        await other.close()
        with anyio.fail_after(5):
            while len(dev.gateway.connections()) > 1:
                await anyio.sleep(0.01)
        # The worker goes on extending the lease it got back.
        later = await extend_lease(again, req.request_id, current)
        assert later not in {None, current, req.lease_id}
        # The id before the one just replaced is refused, even to the holder.
        assert await extend_lease(again, req.request_id, req.lease_id) is None
        await again.send(pb.WORKER_REPLY, run_sdk(handler, req))
        assert (await again.recv())[0] == pb.WORKER_REPLY_ACK
        await serve_calls(again, handler, 1)
        run = await finished(dev, http, event_id)
        assert (run["status"], run["output"]) == ("Completed", "done 1")
        assert ran == ["a"]
        await again.close()


def test_impossible_lease_timings_are_refused() -> None:
    with pytest.raises(ValueError, match="shorter than the lease"):
        GatewayConfig(lease_seconds=4, lease_extend_interval=4)
    with pytest.raises(ValueError, match="grace"):
        GatewayConfig(lease_grace=-1)


async def test_drain_sends_gateway_closing() -> None:
    _, _, functions = make_app()
    async with dev_server(connect=FAST) as (dev, http):
        worker = FakeWorker(dev, http)
        assert await worker.handshake(functions) is not None
        assert worker.start is not None
        resp = await http.post(
            "/v0/connect/drain", params={"connection_id": worker.start.connection_id}
        )
        assert resp.status_code == 200, resp.text
        assert (await worker.recv())[0] == pb.GATEWAY_CLOSING
        (conn,) = (await http.get("/v0/connect/connections")).json()["data"]
        assert conn["state"] == "draining"
        assert (await worker.recv())[0] == -1  # force-closed after drain_delay
        assert (await http.get("/v0/connect/connections")).json()["data"] == []
        await worker.close()


async def test_a_failure_to_send_that_is_no_closed_socket_is_not_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only a socket that is gone makes a drain "not found"; anything else
    sending raises is a bug, answered 500 and logged, not passed off as a
    closed connection."""
    _, _, functions = make_app()
    async with dev_server(connect=FAST) as (dev, http):
        worker = FakeWorker(dev, http)
        assert await worker.handshake(functions) is not None
        assert worker.start is not None

        async def broken_send(
            self: WorkerSocket, kind: int, payload: Any = None
        ) -> None:
            raise RuntimeError("a bug in send")

        monkeypatch.setattr(WorkerSocket, "send", broken_send)
        resp = await http.post(
            "/v0/connect/drain", params={"connection_id": worker.start.connection_id}
        )
        assert resp.status_code == 500, resp.text
        monkeypatch.undo()
        await worker.close()


async def test_no_worker_fails_like_an_unreachable_app() -> None:
    handler, _, functions = make_app()
    # Retries a few hundredths of a second apart: the run waits for a worker.
    async with dev_server(retry_scale=0.01) as (dev, http):
        worker = FakeWorker(dev, http)
        assert await worker.handshake(functions) is not None
        await worker.close()
        with anyio.fail_after(2):
            while dev.gateway.connections():
                await anyio.sleep(0.01)
        event_id = await send_event(http, "gw/two")
        with anyio.move_on_after(0.1):
            await dev.wait_for_runs(event_id, timeout=5)
        (run,) = dev.runs_for_event(event_id)
        assert run.is_running  # retrying with backoff
        again = FakeWorker(dev, http)
        assert await again.handshake(functions) is not None
        await serve_calls(again, handler, 2)
        assert (await finished(dev, http, event_id))["status"] == "Completed"
        await again.close()
