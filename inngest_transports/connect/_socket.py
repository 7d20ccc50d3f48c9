"""A small WebSocket client: wsproto over an anyio TCP (or TLS) stream.

Only what Connect needs (docs/protocol/connect.rst#websocket): one subprotocol,
binary messages in and out, ping answered, close handshake.  Works on asyncio
and on trio.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import anyio
from anyio.abc import ByteStream
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState as WsState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError as WsLocalProtocolError
from wsproto.utilities import RemoteProtocolError as WsRemoteProtocolError

from ..serving import PEER_GONE

__all__ = ["MAX_MESSAGE_BYTES", "SocketClosed", "WebSocket"]

#: Largest incoming message, as the official Python SDK allows.
MAX_MESSAGE_BYTES = 5 * 1024 * 1024
_CHUNK = 65536
_CLOSE_WAIT_SECONDS = 1.0
_IO_ERRORS = (*PEER_GONE, WsRemoteProtocolError, WsLocalProtocolError)


class SocketClosed(Exception):
    """The WebSocket is gone; ``str()`` says why (for the reconnect log line)."""


class WebSocket:
    """One client WebSocket; make it with :meth:`connect`."""

    def __init__(self, stream: ByteStream, ws: WSConnection) -> None:
        self._stream = stream
        self._ws = ws
        self._lock = anyio.Lock()
        self._message = bytearray()

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        subprotocol: str,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> WebSocket:
        """Open ``url`` (``ws://`` or ``wss://``); raises :class:`SocketClosed`."""
        parts = urlsplit(url)
        secure = parts.scheme == "wss"
        host = parts.hostname or ""
        port = parts.port or (443 if secure else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        stream: ByteStream | None = None
        try:
            with anyio.fail_after(timeout):
                if secure:
                    stream = await anyio.connect_tcp(
                        host,
                        port,
                        tls=True,
                        ssl_context=ssl_context,
                        tls_standard_compatible=False,
                    )
                else:
                    stream = await anyio.connect_tcp(host, port)
                ws = WSConnection(ConnectionType.CLIENT)
                netloc = parts.netloc.rpartition("@")[2]
                request = Request(
                    host=netloc, target=target, subprotocols=[subprotocol]
                )
                await stream.send(ws.send(request))
                socket = cls(stream, ws)
                await socket._handshake(subprotocol)
                return socket
        except TimeoutError:
            reason = f"opening {url} timed out after {timeout:g} s"
        except SocketClosed as err:
            reason = str(err)
        except (*_IO_ERRORS, ssl.SSLError) as err:
            reason = f"cannot open {url}: {type(err).__name__}: {err}"
        except BaseException:  # cancelled: do not leak the stream
            if stream is not None:
                await _abort(stream)
            raise
        if stream is not None:
            await _abort(stream)
        raise SocketClosed(reason)

    async def _handshake(self, subprotocol: str) -> None:
        while True:
            self._ws.receive_data(await self._stream.receive(_CHUNK))
            for event in self._ws.events():
                if isinstance(event, AcceptConnection):
                    if event.subprotocol != subprotocol:
                        msg = f"the gateway did not accept subprotocol {subprotocol}"
                        raise SocketClosed(msg)
                    return
                if isinstance(event, RejectConnection | RejectData):
                    status = getattr(event, "status_code", "?")
                    msg = f"the gateway refused the WebSocket (HTTP {status})"
                    raise SocketClosed(msg)

    async def send(self, data: bytes) -> None:
        """Send one binary message; raises :class:`SocketClosed`."""
        await self._send_event(BytesMessage(data=data))

    async def _send_event(self, event: BytesMessage | CloseConnection | Ping) -> None:
        try:
            async with self._lock:
                if self._ws.state is not WsState.OPEN and not isinstance(
                    event, CloseConnection
                ):
                    raise SocketClosed("the WebSocket is closing")
                await self._stream.send(self._ws.send(event))
        except _IO_ERRORS as err:
            raise SocketClosed(f"sending failed: {type(err).__name__}: {err}") from None

    async def receive(self) -> bytes:
        """The next binary message; raises :class:`SocketClosed` when the
        connection ends (normally or not), saying how."""
        while True:
            for event in self._ws.events():
                data = await self._on_event(event)
                if data is not None:
                    return data
            try:
                chunk = await self._stream.receive(_CHUNK)
            except _IO_ERRORS as err:
                msg = f"connection lost: {type(err).__name__}: {err}".rstrip(": ")
                raise SocketClosed(msg) from None
            try:
                self._ws.receive_data(chunk)
            except WsRemoteProtocolError as err:
                raise SocketClosed(f"WebSocket protocol error: {err}") from None

    async def _on_event(self, event: object) -> bytes | None:
        if isinstance(event, BytesMessage):
            self._message += event.data
            if len(self._message) > MAX_MESSAGE_BYTES:
                await self.close(1009, "MESSAGE_TOO_LARGE")
                raise SocketClosed("a message over 5 MiB arrived")
            if not event.message_finished:
                return None
            data = bytes(self._message)
            self._message.clear()
            return data
        if isinstance(event, TextMessage):
            await self.close(1003, "UNEXPECTED")
            raise SocketClosed("the gateway sent a text frame; Connect is binary")
        if isinstance(event, Ping):
            try:
                async with self._lock:
                    await self._stream.send(self._ws.send(event.response()))
            except _IO_ERRORS:
                pass
            return None
        if isinstance(event, CloseConnection):
            if self._ws.state is WsState.REMOTE_CLOSING:
                try:
                    async with self._lock:
                        await self._stream.send(self._ws.send(event.response()))
                except _IO_ERRORS:
                    pass
            await _abort(self._stream)
            reason = f" ({event.reason})" if event.reason else ""
            raise SocketClosed(
                f"the gateway closed the WebSocket: {event.code}{reason}"
            )
        return None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close cleanly (sends the close frame, waits briefly for the echo)."""
        with anyio.CancelScope(shield=True):
            if self._ws.state is WsState.OPEN:
                try:
                    await self._send_event(CloseConnection(code=code, reason=reason))
                    with anyio.move_on_after(_CLOSE_WAIT_SECONDS):
                        while _state(self._ws) is not WsState.CLOSED:
                            self._ws.receive_data(await self._stream.receive(_CHUNK))
                            for _ in self._ws.events():
                                pass
                except (*_IO_ERRORS, SocketClosed):
                    pass
            await _abort(self._stream)


def _state(ws: WSConnection) -> WsState:
    return ws.state


async def _abort(stream: ByteStream) -> None:
    with anyio.CancelScope(shield=True):
        try:
            await stream.aclose()
        except (*_IO_ERRORS, ssl.SSLError):
            pass
