"""One worker's WebSocket on the dev server's Connect gateway.

See docs/protocol/connect.rst, from #websocket to #heartbeats.

wsproto frames the socket; this module does the I/O around it: the HTTP
upgrade (subprotocol ``v0.connect.inngest.com`` required), the handshake
(``GATEWAY_HELLO``, ``WORKER_CONNECT`` within the handshake timeout,
``GATEWAY_CONNECTION_READY``), then one binary ``ConnectMessage`` per frame
until either side closes.  What the messages mean (routing, leases, replies)
is the :class:`~._gateway.Gateway`'s business: it is handed every message.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import time
from typing import TYPE_CHECKING

import anyio
import anyio.abc
from google.protobuf.message import Message
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from inngest_proto.connect import connect_pb2 as pb
from inngest_proto.connect.frames import ConnectProtocolError, Kind, decode, encode
from inngest_transports.serving import PEER_GONE

if TYPE_CHECKING:
    from ._gateway import Gateway

__all__ = ["SEND_FAILURES", "SUBPROTOCOL", "SocketState", "WorkerSocket"]

_log = logging.getLogger("inngest.devserver")
SUBPROTOCOL = "v0.connect.inngest.com"
PATH = "/v0/connect"
_RECEIVE_BYTES = 64 * 1024
# Close codes (RFC 6455); reasons are WorkerDisconnectReason names where one fits.
_NORMAL, _PROTOCOL, _UNSUPPORTED, _POLICY, _TOO_BIG = 1000, 1002, 1003, 1008, 1009


class SocketState(enum.Enum):
    CONNECTING = "connecting"  # upgraded, handshake not done
    READY = "ready"  # requests are routed here
    PAUSED = "paused"  # WORKER_PAUSE: no new requests
    DRAINING = "draining"  # GATEWAY_CLOSING sent: no new requests
    CLOSED = "closed"


class _Closed(Exception):
    """The socket is closed (by either side); nothing more is read."""


#: What :meth:`WorkerSocket.send` raises once the connection is gone.
SEND_FAILURES: tuple[type[Exception], ...] = (_Closed, *PEER_GONE)


class WorkerSocket:
    """One accepted TCP connection, from the upgrade to the close."""

    def __init__(self, stream: anyio.abc.ByteStream, gateway: Gateway) -> None:
        self._stream = stream
        self._gateway = gateway
        self._ws = WSConnection(ConnectionType.SERVER)
        self._send_lock = anyio.Lock()
        self._scope = anyio.CancelScope()
        self._buffer = bytearray()
        self.state = SocketState.CONNECTING
        #: Set from ``WORKER_CONNECT``.
        self.connection_id = ""
        self.instance_id = ""
        self.apps: tuple[str, ...] = ()
        self.sdk = ""
        self.connected_at = time.time()
        #: anyio clock time of the last worker heartbeat (or of the handshake).
        self.last_heartbeat = anyio.current_time()

    @property
    def routable(self) -> bool:
        return self.state is SocketState.READY

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        try:
            with self._scope:
                await self._serve()
        except (_Closed, *PEER_GONE):
            pass
        # Not narrower: one socket's bug must not take the gateway down.
        except Exception:
            _log.exception("connect gateway: socket %s failed", self.connection_id)
        finally:
            self.state = SocketState.CLOSED
            self._gateway.forget(self)
            with anyio.CancelScope(shield=True), contextlib.suppress(*PEER_GONE):
                await self._stream.aclose()

    async def _serve(self) -> None:
        if not await self._upgrade():
            return
        await self.send(pb.GATEWAY_HELLO)
        config = self._gateway.config
        frame: bytes | None = None
        with anyio.move_on_after(config.handshake_timeout):
            frame = await self._next_message()
        if frame is None:
            await self.close(_POLICY, "handshake timed out: no WORKER_CONNECT")
            return
        kind, payload = await self._decode(frame)
        if kind != pb.WORKER_CONNECT or not isinstance(
            payload, pb.WorkerConnectRequestData
        ):
            await self.close(_POLICY, f"expected WORKER_CONNECT, got {_name(kind)}")
            return
        problem = self._gateway.admit(self, payload)
        if problem is not None:
            _log.warning("connect gateway: refused a worker: %s", problem)
            await self.close(_POLICY, problem)
            return
        ready = pb.GatewayConnectionReadyData(
            heartbeat_interval=go_duration(config.heartbeat_interval),
            extend_lease_interval=go_duration(config.lease.extend_interval),
            status_interval="0s",
        )
        self.last_heartbeat = anyio.current_time()
        await self.send(pb.GATEWAY_CONNECTION_READY, ready)
        # worker_manual_readiness_ack (TS): routed only after WORKER_READY.
        if not payload.worker_manual_readiness_ack:
            self.state = SocketState.READY
            self._gateway.changed()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_heartbeats)
            await self._read_messages()
            tg.cancel_scope.cancel()

    async def _read_messages(self) -> None:
        """Hand every message to the gateway until the socket closes."""
        try:
            while True:
                frame = await self._next_message()
                if frame is None:
                    return
                kind, message = await self._decode(frame)
                await self._gateway.handle(self, kind, message)
        except (_Closed, *PEER_GONE):
            return  # not into the task group's exception group

    async def _watch_heartbeats(self) -> None:
        """Close after 5 heartbeat intervals without a worker heartbeat.

        See docs/protocol/connect.rst#heartbeats.
        """
        limit = 5 * self._gateway.config.heartbeat_interval
        while True:
            await anyio.sleep(
                max(self.last_heartbeat + limit - anyio.current_time(), 0)
            )
            if anyio.current_time() >= self.last_heartbeat + limit:
                await self.close(_NORMAL, "CONSECUTIVE_HEARTBEATS_MISSED")
                return

    def heartbeat(self) -> None:
        self.last_heartbeat = anyio.current_time()

    def mark(self, state: SocketState) -> None:
        if self.state is not SocketState.CLOSED:
            self.state = state
            self._gateway.changed()

    # -- sending -----------------------------------------------------------------------

    async def send(self, kind: Kind, payload: Message | None = None) -> None:
        """One ``ConnectMessage``; raises :class:`_Closed` once closed."""
        await self._send_event(BytesMessage(data=encode(kind, payload)))

    async def _send_event(self, event: Event) -> None:
        async with self._send_lock:
            try:
                data = self._ws.send(event)
            except LocalProtocolError as err:
                raise _Closed from err
            await self._stream.send(data)

    async def close(self, code: int = _NORMAL, reason: str = "") -> None:
        """Send a close frame (best effort) and end the socket's task."""
        if self.state is not SocketState.CLOSED:
            self.state = SocketState.CLOSED
            self._gateway.changed()
            # The close frame's reason is limited to 123 bytes.
            short = reason.encode()[:123].decode(errors="ignore")
            try:
                with anyio.move_on_after(1):
                    await self._send_event(CloseConnection(code=code, reason=short))
            except (_Closed, *PEER_GONE):
                pass
        self._scope.cancel()

    def abort(self) -> None:
        """Drop the TCP connection with no close frame, as a crashed gateway
        would (a test hook: :meth:`Gateway.kill`)."""
        self.mark(SocketState.CLOSED)
        self._scope.cancel()

    # -- receiving ---------------------------------------------------------------------

    async def _upgrade(self) -> bool:
        """Read the upgrade request; accept it only with our subprotocol."""
        with anyio.move_on_after(self._gateway.config.handshake_timeout):
            while True:
                for event in self._ws.events():
                    if isinstance(event, Request):
                        return await self._answer_upgrade(event)
                await self._receive()
        return False

    async def _answer_upgrade(self, request: Request) -> bool:
        path = request.target.split("?", 1)[0]
        if path != PATH:
            await self._reject(404, f"no WebSocket endpoint at {path}")
            return False
        if SUBPROTOCOL not in request.subprotocols:
            await self._reject(400, f"the subprotocol {SUBPROTOCOL} is required")
            return False
        await self._send_event(AcceptConnection(subprotocol=SUBPROTOCOL))
        return True

    async def _reject(self, status: int, message: str) -> None:
        body = message.encode()
        headers = [
            (b"content-type", b"text/plain"),
            (b"content-length", str(len(body)).encode()),
        ]
        reject = RejectConnection(status_code=status, headers=headers, has_body=True)
        async with self._send_lock:
            data = self._ws.send(reject)
            data += self._ws.send(RejectData(data=body))
            await self._stream.send(data)

    async def _receive(self) -> None:
        try:
            data = await self._stream.receive(_RECEIVE_BYTES)
        except (anyio.EndOfStream, anyio.BrokenResourceError) as err:
            raise _Closed from err
        try:
            self._ws.receive_data(data)
        except RemoteProtocolError as err:
            raise _Closed from err

    async def _next_message(self) -> bytes | None:
        """The next whole binary message; ``None`` once the worker closed."""
        limit = self._gateway.config.max_message_bytes
        while True:
            for event in self._ws.events():
                if isinstance(event, BytesMessage):
                    self._buffer += event.data
                    if len(self._buffer) > limit:
                        await self.close(_TOO_BIG, "MESSAGE_TOO_LARGE")
                        raise _Closed
                    if event.message_finished:
                        message = bytes(self._buffer)
                        self._buffer.clear()
                        return message
                elif isinstance(event, TextMessage):
                    await self.close(_UNSUPPORTED, "binary frames only")
                    raise _Closed
                elif isinstance(event, Ping):
                    await self._send_event(event.response())
                elif isinstance(event, CloseConnection):
                    try:
                        await self._send_event(event.response())
                    except (_Closed, *PEER_GONE):
                        pass
                    return None
            await self._receive()

    async def _decode(self, frame: bytes) -> tuple[Kind, Message | None]:
        try:
            return decode(frame)
        except ConnectProtocolError as err:
            await self.close(_PROTOCOL, f"not a Connect message: {err}")
            raise _Closed from err


def go_duration(seconds: float) -> str:
    """A duration as Go formats it, enough for ours: ``10s``, ``250ms``."""
    if seconds >= 1 and float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{max(round(seconds * 1000), 1)}ms"


def _name(kind: int) -> str:
    try:
        return pb.GatewayMessageType.Name(kind)
    except ValueError:
        return str(kind)
