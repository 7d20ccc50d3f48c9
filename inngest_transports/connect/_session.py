"""One gateway WebSocket, driving one sans-IO :class:`Connection`.

Three tasks per socket: the reader feeds frames to the machine, the writer
sends the frames the machine produced (one writer, so frames never
interleave), the ticker calls :meth:`Connection.tick` at its deadline.  The
session itself never runs user code: requests, lost leases and replies to
flush go to its :class:`Host` (the worker), which outlives sockets.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from typing import Protocol

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from inngest_proto.connect import connect_pb2 as pb
from inngest_proto.connect.frames import ConnectProtocolError
from inngest_proto.connect.worker import (
    Connection,
    FlushReply,
    GatewayDraining,
    HandshakeComplete,
    HandshakeTimedOut,
    HeartbeatsMissed,
    LeaseLost,
    ReplyAcknowledged,
    RequestReceived,
    SendFrame,
)

from ._socket import SocketClosed, WebSocket

__all__ = ["Host", "Session"]

Clock = Callable[[], float]


class Host(Protocol):
    """What a session reports to the worker."""

    def on_request(
        self, session: Session, request: pb.GatewayExecutorRequestData
    ) -> None: ...

    def on_lease_lost(self, session: Session, request_id: str) -> None: ...

    def flush(self, request_id: str, sdk_response: bytes) -> None: ...

    def changed(self) -> None: ...


class Session:
    """A socket and its machine; :meth:`run` until the socket is gone."""

    def __init__(
        self,
        host: Host,
        conn: Connection,
        ws: WebSocket,
        connection_id: str,
        clock: Clock = time.monotonic,
    ) -> None:
        self.conn = conn
        self.ws = ws
        self.connection_id = connection_id
        #: The gateway's URL, for the log.
        self.gateway = ""
        #: Handshake done (READY received).
        self.ready = False
        #: The gateway said GATEWAY_CLOSING.
        self.draining = False
        #: The socket is closed and the machine too.
        self.ended = False
        #: Why the socket ended, for the log.
        self.reason = ""
        self._host = host
        self._clock = clock
        self._code = 1000
        self._scope: anyio.CancelScope | None = None
        self._stop_requested = False
        self._wake = anyio.Event()
        self._unsent: bytes | None = None
        self._outbox: MemoryObjectSendStream[bytes]
        self._frames: MemoryObjectReceiveStream[bytes]
        self._outbox, self._frames = anyio.create_memory_object_stream[bytes](math.inf)

    # -- control ------------------------------------------------------------------

    def stop(self, reason: str, code: int = 1000) -> None:
        """End this socket (close ``code``); the first reason given is kept."""
        if not self.reason:
            self.reason = reason
            self._code = code
        if self._scope is not None:
            self._scope.cancel()
        else:
            self._stop_requested = True

    def reschedule(self) -> None:
        """The machine's next deadline moved (a lease was adopted): the
        ticker must wake for it, not sleep on until the old one."""
        self._wake.set()

    def pump(self) -> None:
        """Act on everything the machine has to say."""
        seen = False
        while (event := self.conn.next_event()) is not None:
            seen = True
            if isinstance(event, SendFrame):
                # Once the socket is gone, what it would carry is moot or flushed.
                with contextlib.suppress(
                    anyio.ClosedResourceError, anyio.BrokenResourceError
                ):
                    self._outbox.send_nowait(event.data)
            elif isinstance(event, RequestReceived):
                self._host.on_request(self, event.request)
            elif isinstance(event, LeaseLost):
                self._host.on_lease_lost(self, event.request_id)
            elif isinstance(event, FlushReply):
                self._host.flush(event.request_id, event.sdk_response)
            elif isinstance(event, HandshakeComplete):
                self.ready = True
            elif isinstance(event, GatewayDraining):
                self.draining = True
            elif isinstance(event, HandshakeTimedOut):
                self.stop("the gateway did not finish the handshake in time", 4001)
            elif isinstance(event, HeartbeatsMissed):
                self.stop("the gateway stopped answering heartbeats", 4001)
            else:
                assert isinstance(event, ReplyAcknowledged)
        if seen:
            self._wake.set()
            self._host.changed()

    # -- the tasks ------------------------------------------------------------------

    async def run(self) -> None:
        try:
            async with anyio.create_task_group() as tg:
                self._scope = tg.cancel_scope
                if self._stop_requested:
                    tg.cancel_scope.cancel()
                tg.start_soon(self._writer)
                tg.start_soon(self._ticker)
                await self._reader()
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self._send_queued()
                await self.ws.close(
                    self._code, "" if self._code == 1000 else "UNEXPECTED"
                )
            self._outbox.close()
            self._frames.close()
            for request_id, response in self.conn.close().items():
                self._host.flush(request_id, response)
            self.pump()
            self.ended = True
            self._host.changed()

    async def _send_queued(self) -> None:
        """On the way out: what the machine still wanted sent (a pause, a
        last reply), if the socket still takes it."""
        with anyio.move_on_after(1.0):
            if self._unsent is not None:
                frame, self._unsent = self._unsent, None
                try:
                    await self.ws.send(frame)
                except SocketClosed:
                    return
            while True:
                try:
                    frame = self._frames.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream):
                    return
                try:
                    await self.ws.send(frame)
                except SocketClosed:
                    return

    async def _reader(self) -> None:
        while True:
            try:
                data = await self.ws.receive()
            except SocketClosed as err:
                self.stop(str(err))
                return
            try:
                self.conn.receive_data(data, self._clock())
            except ConnectProtocolError as err:
                self.stop(f"the gateway broke the protocol: {err}", 4001)
                return
            self.pump()

    async def _writer(self) -> None:
        async for frame in self._frames:
            self._unsent = frame  # for _send_queued, if cancelled mid-send
            try:
                await self.ws.send(frame)
            except SocketClosed as err:
                self.stop(str(err))
                return
            self._unsent = None

    async def _ticker(self) -> None:
        while True:
            self._wake = wake = anyio.Event()
            deadline = self.conn.deadline()
            if deadline is None:
                await wake.wait()
            else:
                delay = deadline - self._clock()
                if delay > 0:
                    with anyio.move_on_after(delay):
                        await wake.wait()
            self.conn.tick(self._clock())
            self.pump()
