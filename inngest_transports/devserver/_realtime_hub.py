"""Realtime on the dev server: publish, subscription tokens, WebSocket subscribers.

Routes (as the real server's ``pkg/execution/realtime`` serves them):

* ``POST /v1/realtime/publish?channel=&topic=[&run_id=][&metadata=]``: the body
  (JSON, else published as a JSON string) goes to every subscriber of that
  channel's topic; 200 with an empty body.  Authorized by the signing key
  (when the server has one) or by a realtime JWT carrying ``publish: true``.
* ``POST /v1/realtime/token``: ``[{"channel","name","kind"}]`` → 201
  ``{"jwt": ...}``, signed HS256 with the server's secret: the real dev
  server's well-known one, or, when the server has a signing key, one
  derived from it (else anyone could forge a token to publish, or to read
  another subscriber's stream).
* ``GET /v1/realtime/connect?token=JWT`` (or ``Authorization: Bearer JWT``):
  the WebSocket.  Topics are subscribed *before* the 101 goes out, so a
  client whose upgrade completed misses nothing published afterwards.  One
  JSON text frame per message; the client may send ``{"kind":"sub","data":
  JWT}`` and ``{"kind":"unsub","data":[topics]}``.

Delivery is in memory, in publish order, at most once: a subscriber that
falls :data:`_QUEUE_SIZE` messages behind is disconnected.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from wsproto import ConnectionType
from wsproto.connection import Connection as WsConnection
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.utilities import LocalProtocolError as WsLocalProtocolError
from wsproto.utilities import RemoteProtocolError as WsRemoteProtocolError
from wsproto.utilities import generate_accept_token

from inngest_proto import json_codec
from inngest_proto.executor import MAX_DATA_DEPTH, ulid
from inngest_proto.realtime import (
    DEV_JWT_SECRET,
    JWT_ISSUER,
    TOKEN_TTL_SECONDS,
    InvalidTokenError,
    decode_jwt,
    encode_jwt,
)
from inngest_proto.wire import Response
from inngest_transports._server_connection import TakeOver
from inngest_transports.serving import PEER_GONE

from ._gateway import ACCOUNT_ID, ENVIRONMENT_ID
from ._ingest import too_deep
from ._rfc3339 import rfc3339

__all__ = ["Hub", "RealtimeApi", "TakeOver"]

_log = logging.getLogger("inngest.devserver")
_HEADERS = {"content-type": "application/json"}
#: Messages a subscriber may fall behind by before it is dropped.
_QUEUE_SIZE = 4096
_RECEIVE_BYTES = 64 * 1024
#: The largest message the real server publishes (MaxStreamingMessageSizeBytes).
_MAX_MESSAGE_BYTES = 512 * 1024

#: What serves a connection the HTTP server hands over: the socket and the
#: bytes already read past the upgrade request.
Authorized = Callable[[Mapping[str, str]], bool]
_Key = tuple[str, str, str]  # (kind, channel, topic name)


class _RequestLike(Protocol):
    @property
    def method(self) -> str: ...
    @property
    def query(self) -> Mapping[str, str]: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def body(self) -> bytes: ...


def _error(status: int, message: str) -> Response:
    body = {"error": message, "data": None, "status": status}
    return Response(status, dict(_HEADERS), json_codec.dumps_compact(body))


def _topic_key(topic: Mapping[str, Any]) -> _Key:
    # As the server's Topic.String(): run topics are per channel, event
    # topics per name only.
    kind = str(topic.get("kind") or "run")
    if kind == "run":
        return (kind, str(topic.get("channel") or ""), str(topic.get("name") or ""))
    return (kind, "", str(topic.get("name") or ""))


# --- the broadcaster ----------------------------------------------------------------


class _Subscriber:
    def __init__(self) -> None:
        self.send: MemoryObjectSendStream[str]
        self.receive: MemoryObjectReceiveStream[str]
        self.send, self.receive = anyio.create_memory_object_stream[str](_QUEUE_SIZE)
        self.keys: set[_Key] = set()


class Hub:
    """Who listens to which topic; fans each message out to them."""

    def __init__(self) -> None:
        self._by_key: dict[_Key, set[_Subscriber]] = {}

    def add(self, sub: _Subscriber, topics: Sequence[Mapping[str, Any]]) -> None:
        for topic in topics:
            key = _topic_key(topic)
            sub.keys.add(key)
            self._by_key.setdefault(key, set()).add(sub)

    def remove(
        self, sub: _Subscriber, topics: Sequence[Mapping[str, Any]] | None
    ) -> None:
        keys = set(sub.keys) if topics is None else {_topic_key(t) for t in topics}
        for key in keys:
            sub.keys.discard(key)
            subs = self._by_key.get(key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_key[key]

    def subscriber_count(self, channel: str, topic: str) -> int:
        return len(self._by_key.get(("run", channel, topic), ()))

    def publish(self, channel: str, topic: str, frame: str) -> int:
        """Queue ``frame`` for every subscriber of the topic; how many got it."""
        delivered = 0
        for sub in list(self._by_key.get(("run", channel, topic), ())):
            try:
                sub.send.send_nowait(frame)
                delivered += 1
            except anyio.WouldBlock:
                _log.warning(
                    "realtime: dropping a subscriber %d messages behind", _QUEUE_SIZE
                )
                self.remove(sub, None)
                sub.send.close()
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self.remove(sub, None)
        return delivered


# --- the HTTP API -------------------------------------------------------------------


class RealtimeApi:
    """The ``/v1/realtime`` routes; ``authorized`` checks the signing key.

    ``secret`` signs and checks the tokens; without one, the real dev
    server's public secret (fine only where nothing needs protecting).
    """

    def __init__(
        self,
        authorized: Authorized,
        *,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hub = Hub()
        self._authorized = authorized
        self._secret = secret or DEV_JWT_SECRET
        self._clock = clock

    def route(
        self, parts: list[str], method: str
    ) -> Callable[[_RequestLike], Awaitable[Response]] | None:
        """The handler of ``/v1/realtime/{parts}``; it does its own auth."""
        if parts == ["publish"] and method == "POST":
            return self._publish
        if parts == ["token"] and method == "POST":
            return self._token
        if parts == ["connect"] and method == "GET":
            return self._connect_without_upgrade
        return None

    # -- auth -----------------------------------------------------------------------

    def _claims(
        self, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> dict[str, Any] | None:
        """The claims of the request's realtime JWT, if it carries a valid one."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            token = query.get("token", "")
        try:
            return decode_jwt(token.strip(), self._secret, self._clock())
        except InvalidTokenError:
            return None

    # -- routes ---------------------------------------------------------------------

    async def _publish(self, r: _RequestLike) -> Response:
        claims = self._claims(r.headers, r.query)
        if claims is not None and not claims.get("publish"):
            return _error(401, "Not authenticated for publishing")
        if claims is None and not self._authorized(r.headers):
            return _error(401, "Not authenticated")
        channel, topic = r.query.get("channel", ""), r.query.get("topic", "")
        if len(r.body) > _MAX_MESSAGE_BYTES:
            return _error(413, f"message exceeds {_MAX_MESSAGE_BYTES} bytes")
        try:
            data = json_codec.loads(r.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            # Not JSON: published as a string, as the server does.
            data = r.body.decode("utf-8", errors="replace")
        message: dict[str, Any] = {"kind": "data", "data": data}
        metadata = r.query.get("metadata")
        if metadata:
            try:
                message["metadata"] = json_codec.loads(metadata)
            except RecursionError:  # before deeper_than could measure it
                return _error(400, too_deep("metadata"))
            except ValueError:
                return _error(400, "metadata must be JSON")
            # Encoded again below, one level deeper: it must not be near
            # the recursion limit the parser stopped just short of.
            if json_codec.deeper_than(message["metadata"], MAX_DATA_DEPTH):
                return _error(400, too_deep("metadata"))
        message.update(
            created_at=rfc3339(self._clock(), timespec="microseconds"),
            channel=channel,
            env_id=ENVIRONMENT_ID,
            topic=topic,
        )
        if r.query.get("run_id"):
            message["run_id"] = r.query["run_id"]
        frame = json_codec.dumps_compact(message).decode()
        self.hub.publish(channel, topic, frame)
        return Response(200, {}, b"")

    async def _token(self, r: _RequestLike) -> Response:
        if not self._authorized(r.headers):
            return _error(401, "Not authenticated")
        try:
            raw = json_codec.loads(r.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raw = None
        topics = _parse_topics(raw)
        if topics is None:
            return _error(400, "Invalid request: must provide a list of topics")
        return Response(
            201, dict(_HEADERS), json_codec.dumps_compact({"jwt": self.mint(topics)})
        )

    def mint(self, topics: list[dict[str, Any]], *, publish: bool = False) -> str:
        """A subscription JWT for ``topics`` (or a publishing one)."""
        now = int(self._clock())
        claims = {
            "iss": JWT_ISSUER,
            "sub": ACCOUNT_ID,
            "exp": now + TOKEN_TTL_SECONDS,
            "iat": now,
            "jti": ulid(now * 1000, int.from_bytes(os.urandom(10), "big")),
            "env": ENVIRONMENT_ID,
            "topics": [{**t, "env_id": ENVIRONMENT_ID} for t in topics],
            "publish": publish,
        }
        return encode_jwt(claims, self._secret)

    async def _connect_without_upgrade(self, r: _RequestLike) -> Response:
        if self._claims(r.headers, r.query) is None:
            return _error(401, "Not authenticated")
        return _error(426, "Upgrade Required: connect with a WebSocket")

    # -- the WebSocket ----------------------------------------------------------------

    def take_over(
        self, method: str, url: str, headers: Mapping[str, str]
    ) -> TakeOver | None:
        """A handler for a valid WebSocket upgrade to ``/v1/realtime/connect``
        with a valid token; ``None`` leaves the request to :meth:`route`
        (which answers 401 or 426)."""
        parts = urllib.parse.urlsplit(url)
        if method.upper() != "GET" or parts.path.rstrip("/") != "/v1/realtime/connect":
            return None
        if not _is_websocket_upgrade(headers):
            return None
        query = dict(urllib.parse.parse_qsl(parts.query))
        claims = self._claims(headers, query)
        if claims is None:
            return None
        topics = _parse_topics(claims.get("topics")) or []
        accept = generate_accept_token(headers["sec-websocket-key"].encode()).decode()

        async def serve(stream: anyio.abc.ByteStream, leftover: bytes) -> None:
            await _RealtimeSocket(self, stream, leftover).run(accept, topics)

        return serve


def _parse_topics(raw: object) -> list[dict[str, Any]] | None:
    if not isinstance(raw, list):
        return None
    topics = []
    for item in raw:
        if not isinstance(item, dict):
            return None
        topic: dict[str, Any] = {}
        for field in ("kind", "channel", "name"):
            value = item.get(field, "")
            if not isinstance(value, str):
                return None
            topic[field] = value
        if isinstance(item.get("run_id"), str) and item["run_id"]:
            topic["run_id"] = item["run_id"]
        topics.append(topic)
    return topics


def _is_websocket_upgrade(headers: Mapping[str, str]) -> bool:
    connection = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    return (
        headers.get("upgrade", "").strip().lower() == "websocket"
        and "upgrade" in connection
        and headers.get("sec-websocket-version", "").strip() == "13"
        and bool(headers.get("sec-websocket-key", "").strip())
    )


class _RealtimeSocket:
    """One subscriber's socket, from the 101 to the close."""

    def __init__(
        self, api: RealtimeApi, stream: anyio.abc.ByteStream, leftover: bytes
    ) -> None:
        self._api = api
        self._stream = stream
        self._ws = WsConnection(ConnectionType.SERVER, trailing_data=leftover)
        self._sub = _Subscriber()
        self._lock = anyio.Lock()

    async def run(self, accept: str, topics: list[dict[str, Any]]) -> None:
        hub = self._api.hub
        hub.add(self._sub, topics)  # before the 101: nothing is missed
        try:
            await self._stream.send(
                b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                b"connection: Upgrade\r\nsec-websocket-accept: "
                + accept.encode()
                + b"\r\n\r\n"
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._write_messages, tg.cancel_scope)
                await self._read_frames()
                tg.cancel_scope.cancel()
        except PEER_GONE:
            pass
        # Not narrower: one subscriber's bug must not take the hub down.
        except Exception:
            _log.exception("realtime: a subscriber's socket failed")
        finally:
            hub.remove(self._sub, None)
            self._sub.send.close()
            self._sub.receive.close()

    async def _send(self, event: Any) -> None:
        async with self._lock:
            try:
                data = self._ws.send(event)
            except WsLocalProtocolError:
                return  # closed meanwhile
            await self._stream.send(data)

    async def _write_messages(self, scope: anyio.CancelScope) -> None:
        try:
            async for frame in self._sub.receive:
                await self._send(TextMessage(data=frame))
            # Dropped by the hub (too far behind): say so, then end.
            await self._send(CloseConnection(code=1008, reason="too far behind"))
        except PEER_GONE:
            pass
        scope.cancel()

    async def _read_frames(self) -> None:
        text: list[str] = []
        while True:
            for event in self._ws.events():
                if isinstance(event, TextMessage):
                    text.append(event.data)
                    if event.message_finished:
                        self._control("".join(text))
                        text = []
                elif isinstance(event, Ping):
                    await self._send(event.response())
                elif isinstance(event, CloseConnection):
                    await self._send(event.response())
                    return
                elif isinstance(event, BytesMessage):
                    continue  # binary frames mean nothing here
            try:
                data = await self._stream.receive(_RECEIVE_BYTES)
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return
            try:
                self._ws.receive_data(data)
            except WsRemoteProtocolError:
                return

    def _control(self, frame: str) -> None:
        """``sub`` (with a JWT) and ``unsub`` (with topics); the rest is ignored."""
        try:
            message = json_codec.loads(frame)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        kind, data = message.get("kind"), message.get("data")
        if kind == "sub" and isinstance(data, str):
            try:
                claims = decode_jwt(data, self._api._secret, self._api._clock())
            except InvalidTokenError as err:
                _log.info("realtime: ignored a subscribe with a bad token: %s", err)
                return
            self._api.hub.add(self._sub, _parse_topics(claims.get("topics")) or [])
        elif kind == "unsub":
            topics = _parse_topics(data)
            if topics:
                self._api.hub.remove(self._sub, list(topics))
