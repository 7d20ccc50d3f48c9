"""A fake Connect gateway (wsproto server on anyio) and a fake start/flush API.

Both listen on 127.0.0.1 only.  The gateway speaks enough of
docs/protocol/connect.rst to drive a worker: HELLO, READY with tiny intervals,
heartbeat and lease answers, reply acks; tests push executor requests and kill
or drain sockets.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import anyio.abc
from google.protobuf.message import Message
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Request,
)

from inngest_proto.connect import connect_pb2 as pb
from inngest_proto.connect.frames import decode, encode

Kind = pb.GatewayMessageType


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.005)


def call_payload(run_id: str = "run-1") -> bytes:
    event = {"name": "test/connect", "data": {}, "id": "evt-1", "ts": 1}
    body = {
        "ctx": {
            "attempt": 0,
            "disable_immediate_execution": False,
            "max_attempts": 4,
            "run_id": run_id,
            "stack": {"current": 0, "stack": []},
            "use_api": False,
        },
        "event": event,
        "events": [event],
        "steps": {},
        "use_api": False,
    }
    return json.dumps(body).encode()


def executor_request(
    request_id: str, app: str, fn_slug: str
) -> pb.GatewayExecutorRequestData:
    return pb.GatewayExecutorRequestData(
        request_id=request_id,
        account_id="acct",
        env_id="env",
        app_id="app-uuid",
        app_name=app,
        function_id="fn-uuid",
        function_slug=fn_slug,
        step_id="step",
        request_payload=call_payload(),
        run_id="run-1",
        lease_id=f"lease-{request_id}-0",
        job_id=f"job-{request_id}",
    )


class GatewaySocket:
    """The gateway's side of one worker socket."""

    def __init__(self, stream: anyio.abc.ByteStream, gateway: FakeGateway) -> None:
        self.stream = stream
        self.gateway = gateway
        self.ws = WSConnection(ConnectionType.SERVER)
        self.received: list[tuple[int, Message | None]] = []
        self.closed_code: int | None = None
        self.gone = False
        self.connection_id = ""
        self._lock = anyio.Lock()

    def kinds(self) -> list[int]:
        return [kind for kind, _ in self.received]

    async def send(self, kind: Any, payload: Message | None = None) -> None:
        async with self._lock:
            frame = encode(kind, payload)
            await self.stream.send(self.ws.send(BytesMessage(data=frame)))

    async def kill(self) -> None:
        """Drop the TCP connection without a close handshake."""
        self.gone = True
        await self.stream.aclose()

    async def serve(self) -> None:
        try:
            await self._serve()
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            pass
        except anyio.ClosedResourceError:
            pass
        finally:
            self.gone = True
            await self.stream.aclose()

    async def _serve(self) -> None:
        while True:
            data = await self.stream.receive(65536)
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, Request):
                    assert event.subprotocols == ["v0.connect.inngest.com"]
                    accept = AcceptConnection(subprotocol="v0.connect.inngest.com")
                    await self.stream.send(self.ws.send(accept))
                    await self.send(Kind.GATEWAY_HELLO)
                elif isinstance(event, BytesMessage):
                    await self._on_frame(bytes(event.data))
                elif isinstance(event, CloseConnection):
                    self.closed_code = event.code
                    await self.stream.send(self.ws.send(event.response()))
                    return

    async def _on_frame(self, frame: bytes) -> None:
        kind, payload = decode(frame)
        self.received.append((kind, payload))
        gateway = self.gateway
        if kind == Kind.WORKER_CONNECT:
            assert isinstance(payload, pb.WorkerConnectRequestData)
            self.connection_id = payload.connection_id
            gateway.connects.append(payload)
            ready = pb.GatewayConnectionReadyData(
                heartbeat_interval=gateway.heartbeat_interval,
                extend_lease_interval=gateway.lease_interval,
            )
            await self.send(Kind.GATEWAY_CONNECTION_READY, ready)
        elif kind == Kind.WORKER_HEARTBEAT:
            await self.send(Kind.GATEWAY_HEARTBEAT)
        elif kind == Kind.WORKER_REQUEST_EXTEND_LEASE:
            assert isinstance(payload, pb.WorkerRequestExtendLeaseData)
            gateway.extensions.append(payload)
            number = int(payload.lease_id.rsplit("-", 1)[1]) + 1
            ack = pb.WorkerRequestExtendLeaseAckData(request_id=payload.request_id)
            if not gateway.refuse_leases:  # no new lease id: it is lost
                ack.new_lease_id = f"lease-{payload.request_id}-{number}"
            await self.send(Kind.WORKER_REQUEST_EXTEND_LEASE_ACK, ack)
        elif kind == Kind.WORKER_REPLY:
            assert isinstance(payload, pb.SDKResponse)
            gateway.replies.append(payload)
            if gateway.ack_replies:
                reply_ack = pb.WorkerReplyAckData(request_id=payload.request_id)
                await self.send(Kind.WORKER_REPLY_ACK, reply_ack)


class FakeGateway:
    def __init__(
        self, *, lease_interval: str = "50ms", heartbeat_interval: str = "10s"
    ) -> None:
        self.lease_interval = lease_interval
        self.heartbeat_interval = heartbeat_interval
        self.sockets: list[GatewaySocket] = []
        self.connects: list[pb.WorkerConnectRequestData] = []
        self.replies: list[pb.SDKResponse] = []
        self.extensions: list[pb.WorkerRequestExtendLeaseData] = []
        self.ack_replies = True
        #: Answer lease extensions with no new lease id (another worker has it).
        self.refuse_leases = False
        self.url = ""

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        self.url = f"ws://127.0.0.1:{port}/v0/connect"
        tg.start_soon(self._serve, listener)

    async def _serve(
        self, listener: anyio.abc.Listener[anyio.abc.SocketStream]
    ) -> None:
        async with listener:
            await listener.serve(self._accept)

    async def _accept(self, stream: anyio.abc.SocketStream) -> None:
        socket = GatewaySocket(stream, self)
        self.sockets.append(socket)
        await socket.serve()

    def ready_sockets(self) -> list[GatewaySocket]:
        return [s for s in self.sockets if s.connection_id and not s.gone]


class FakeApi:
    """``/v0/connect/start`` and ``/v0/connect/flush`` on a threaded server."""

    def __init__(self, gateway: FakeGateway) -> None:
        self.gateway = gateway
        self.refuse = 0
        self.refuse_status = 500
        self.starts: list[dict[str, str]] = []
        self.flushed: list[pb.SDKResponse] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.api = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}
        )

    def __enter__(self) -> FakeApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> Any:
        with self.lock:
            if path == "/v0/connect/start":
                self.starts.append(headers)
                if self.refuse > 0:
                    self.refuse -= 1
                    return self.refuse_status, b"not now"
                number = len(self.starts)
                answer = pb.StartResponse(
                    connection_id=f"conn-{number}",
                    gateway_endpoint=self.gateway.url,
                    gateway_group="group",
                    session_token=f"session-{number}",
                    sync_token="sync",
                )
                return 200, answer.SerializeToString()
            if path == "/v0/connect/flush":
                response = pb.SDKResponse()
                response.ParseFromString(body)
                self.flushed.append(response)
                flush = pb.FlushResponse(request_id=response.request_id)
                return 200, flush.SerializeToString()
        return 404, b""


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        api: FakeApi = self.server.api  # type: ignore[attr-defined]
        status, reply = api.answer(self.path, headers, body)
        self.send_response(status)
        self.send_header("content-type", "application/protobuf")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass
