"""Realtime: publish messages to channels, mint subscription tokens, subscribe.

The names and signatures of :func:`publish`, :func:`publish_sync`,
:func:`get_subscription_token` and :func:`get_subscription_token_sync` are
those of the official ``inngest.experimental.realtime``.  They reach Inngest
through the client's transport, with its API origin, signing key (and
fallback key) and environment, as every other API call does.

:func:`subscribe` is ours: a small WebSocket subscriber (wsproto over anyio,
so asyncio and trio) for tests and Python consumers; browsers use
``@inngest/realtime`` with the token from :func:`get_subscription_token`.

Like the official Python SDK, :func:`publish` is a plain API call, not a
step: inside a function, call it from a ``step.run`` so that a replay does
not publish the message again.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

import anyio
import anyio.abc
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError as WsLocalProtocolError
from wsproto.utilities import RemoteProtocolError as WsRemoteProtocolError

from inngest_proto.realtime import (
    RealtimeError,
    RealtimeMessage,
    build_publish_request,
    build_token_request,
    connect_url,
    parse_message,
    parse_publish_response,
    parse_token_response,
    token_key,
    validate_channel,
    validate_topics,
)
from inngest_proto.settings import Settings
from inngest_proto.transport import Transport, send, send_sync
from inngest_proto.wire import dumps_compact

from .serving import PEER_GONE

__all__ = [
    "RealtimeError",
    "RealtimeMessage",
    "Subscription",
    "get_subscription_token",
    "get_subscription_token_sync",
    "publish",
    "publish_sync",
    "subscribe",
]

_log = logging.getLogger("inngest")
_RECEIVE_BYTES = 64 * 1024


class _Client(Protocol):
    """What these functions need of :class:`inngest_proto.Inngest`."""

    @property
    def settings(self) -> Settings: ...

    @property
    def transport(self) -> Transport: ...


# --- publish -------------------------------------------------------------------------


async def publish(
    client: _Client,
    channel: str,
    topic: str,
    data: Mapping[str, object] | Any,
    *,
    run_id: str | None = None,
) -> None:
    """Publish ``data`` (JSON-serializable) to ``topic`` on ``channel``.

    Subscribers holding a token for this channel and topic receive it.
    ``run_id`` optionally tags the message with the publishing run (pass
    ``ctx.run_id``).  Raises :class:`RealtimeError` when Inngest refuses it
    (e.g. 401: a wrong signing key), :class:`TypeError` for data that is not
    JSON, and :class:`~inngest_proto.TransportError` when Inngest cannot be
    reached.  Not a step: call it inside ``step.run`` in a function.
    """
    req = build_publish_request(
        channel, topic, data, settings=client.settings, run_id=run_id
    )
    parse_publish_response(await send(client.transport, req))


def publish_sync(
    client: _Client,
    channel: str,
    topic: str,
    data: Mapping[str, object] | Any,
    *,
    run_id: str | None = None,
) -> None:
    """Blocking twin of :func:`publish`."""
    req = build_publish_request(
        channel, topic, data, settings=client.settings, run_id=run_id
    )
    parse_publish_response(send_sync(client.transport, req))


# --- subscription tokens ------------------------------------------------------------


async def get_subscription_token(
    client: _Client, channel: str, topics: list[str]
) -> Mapping[str, object]:
    """A token to subscribe to ``topics`` of ``channel``.

    Returns ``{"channel": ..., "topics": [...], "key": "<JWT>"}``, the shape
    ``@inngest/realtime`` (and :func:`subscribe`) take.  The JWT is good for
    about a minute: mint it when the subscriber is about to connect.
    """
    channel = validate_channel(channel)
    names = validate_topics(topics)
    req = build_token_request(channel, names, settings=client.settings)
    return parse_token_response(await send(client.transport, req), channel, names)


def get_subscription_token_sync(
    client: _Client, channel: str, topics: list[str]
) -> Mapping[str, object]:
    """Blocking twin of :func:`get_subscription_token`."""
    channel = validate_channel(channel)
    names = validate_topics(topics)
    req = build_token_request(channel, names, settings=client.settings)
    return parse_token_response(send_sync(client.transport, req), channel, names)


# --- subscribing ------------------------------------------------------------------


def subscribe(
    client_or_base_url: _Client | str,
    token: Mapping[str, Any] | str,
    *,
    connect_timeout: float = 10.0,
) -> Subscription:
    """A WebSocket subscription with ``token`` (or its bare JWT).

    ``client_or_base_url`` is an ``Inngest`` client (its API origin is used)
    or the API's base URL, e.g. ``"http://127.0.0.1:8288"``.  Use it as an
    async context manager, which connects on entry, and iterate it::

        async with subscribe(client, token) as messages:
            async for message in messages:
                print(message.topic, message.data)

    Once the context is entered the server delivers everything published
    to the token's topics from then on.  Iteration ends when the server
    closes the socket.
    """
    if isinstance(client_or_base_url, str):
        origin = client_or_base_url
    else:
        origin = client_or_base_url.settings.api_origin
    return Subscription(connect_url(origin, token), connect_timeout=connect_timeout)


class Subscription:
    """One realtime WebSocket; see :func:`subscribe`."""

    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        self.url = url
        self._connect_timeout = connect_timeout
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._stream: anyio.abc.ByteStream | None = None
        self._text: list[str] = []
        self._closed = False

    # -- connecting ---------------------------------------------------------------

    async def connect(self) -> None:
        """Open the socket and complete the upgrade; idempotent.

        Raises :class:`RealtimeError` when the server refuses (401 for a
        token that is invalid or has expired) and ``OSError`` when it
        cannot be reached.
        """
        if self._stream is not None or self._closed:
            return
        parts = urllib.parse.urlsplit(self.url)
        secure = parts.scheme == "wss"
        host = parts.hostname or "localhost"
        port = parts.port or (443 if secure else 80)
        target = parts.path + ("?" + parts.query if parts.query else "")
        with anyio.fail_after(self._connect_timeout):
            stream: anyio.abc.ByteStream
            if secure:
                stream = await anyio.connect_tcp(host, port, tls=True)
            else:
                stream = await anyio.connect_tcp(host, port)
            self._stream = stream
            try:
                await self._send(Request(host=parts.netloc, target=target))
                await self._await_accept()
            except BaseException:
                await self._drop()
                raise

    async def _await_accept(self) -> None:
        status = 0
        body = bytearray()
        while True:
            for event in self._ws.events():
                if isinstance(event, AcceptConnection):
                    return
                if isinstance(event, RejectConnection):
                    status = event.status_code
                    if not event.has_body:
                        raise self._refused(status, b"")
                elif isinstance(event, RejectData):
                    body += event.data
                    if event.body_finished:
                        raise self._refused(status, bytes(body))
            if not await self._receive():
                msg = f"the realtime server at {self.url} closed during the upgrade"
                raise RealtimeError(msg)

    def _refused(self, status: int, body: bytes) -> RealtimeError:
        text = body.decode("utf-8", errors="replace").strip()[:200]
        hint = ""
        if status == 401:
            hint = (
                "; the token is invalid or has expired (they last about a "
                "minute): get a fresh one with get_subscription_token"
            )
        elif status == 404:
            hint = "; check the API base URL: it has no realtime endpoint"
        redacted = self.url.split("?", 1)[0]
        msg = (
            f"realtime subscription to {redacted} refused: HTTP {status} {text!r}{hint}"
        )
        return RealtimeError(msg, status)

    # -- receiving ----------------------------------------------------------------

    async def receive(self) -> RealtimeMessage | None:
        """The next message; ``None`` once the socket has closed."""
        if self._stream is None:
            await self.connect()
        while self._stream is not None:
            for event in self._ws.events():
                if isinstance(event, TextMessage):
                    self._text.append(event.data)
                    if not event.message_finished:
                        continue
                    frame, self._text = "".join(self._text), []
                    try:
                        return parse_message(frame)
                    except RealtimeError as err:
                        # As @inngest/realtime does: skip what is not a message.
                        _log.debug("realtime: skipped a frame: %s", err)
                elif isinstance(event, Ping):
                    await self._send(event.response())
                elif isinstance(event, CloseConnection):
                    # The server said goodbye; answering is a courtesy.
                    with anyio.CancelScope(shield=True):
                        try:
                            await self._send(event.response())
                        except (WsLocalProtocolError, *PEER_GONE):
                            pass
                    await self._drop()
                    return None
            if not await self._receive():
                await self._drop()
                return None
        return None

    async def subscribe(self, token: Mapping[str, Any] | str) -> None:
        """Add the topics of another token to this socket (``"sub"`` message)."""
        frame = dumps_compact({"kind": "sub", "data": token_key(token)}).decode()
        await self._send(TextMessage(data=frame))

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> RealtimeMessage:
        message = await self.receive()
        if message is None:
            raise StopAsyncIteration
        return message

    # -- closing -------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the socket (a close frame first, when it is still open)."""
        self._closed = True
        if self._stream is None:
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(1):
            try:
                await self._send(CloseConnection(code=1000, reason="closed"))
            except (WsLocalProtocolError, *PEER_GONE):
                pass
        await self._drop()

    async def __aenter__(self) -> Subscription:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- I/O -----------------------------------------------------------------------

    async def _send(self, event: Any) -> None:
        if self._stream is None:
            msg = "the realtime subscription is closed"
            raise RealtimeError(msg)
        await self._stream.send(self._ws.send(event))

    async def _receive(self) -> bool:
        """Feed wsproto; ``False`` once the server has gone."""
        if self._stream is None:
            return False
        try:
            data = await self._stream.receive(_RECEIVE_BYTES)
        except PEER_GONE:
            data = b""
        try:
            self._ws.receive_data(data or None)
        except WsRemoteProtocolError as err:
            _log.debug("realtime: the server broke the WebSocket protocol: %s", err)
            return False
        return bool(data)

    async def _drop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await anyio.aclose_forcefully(stream)
