"""One HTTP/1.1 connection of :mod:`inngest_transports.server`, on h11.

h11 parses and frames; this module does the I/O around it: read a request
(within the timeouts and the body limit), have the server answer it, write
the answer, then either start the next cycle (keep-alive) or close.

Framing h11 accepts but we refuse (400, then close, as for anything h11
refuses), because a proxy in front may have framed the same bytes another
way and the rest of the connection would then be read as a smuggled
request:

* ``Content-Length`` together with ``Transfer-Encoding`` (RFC 9112 §6.1:
  h11 would read the body as chunked and keep the connection open);
* ``Transfer-Encoding`` on an HTTP/1.0 request (RFC 9112 §6.1 again: its
  framing is faulty);
* a header line folded onto the next (obs-fold, RFC 9112 §5.2: h11 would
  join the lines).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import unquote, urlsplit

import anyio
import anyio.abc
import attrs
import h11

from inngest_proto import CommHandler, Response

from .serving import (
    PEER_GONE,
    Offload,
    answer,
    answer_streaming,
    incoming,
    not_found,
    parse_content_length,
)

__all__ = ["Connection", "Endpoint", "EndpointLike", "Request", "TakeOver"]

#: Bytes asked of the socket per read.
_RECEIVE_BYTES = 64 * 1024

#: How long a closing connection keeps reading (and dropping) what the client
#: still sends, so our last response is not destroyed by a TCP reset.
_LINGER_SECONDS = 2.0

#: The end of a request head, as h11 finds it (bare LF line ends allowed).
_HEAD_END = re.compile(rb"\n\r?\n")
#: A header line that begins with a space or tab continues the one before.
_OBS_FOLD = re.compile(rb"\n[ \t]")


class Request:
    """A request read off the wire; ``complete`` is False when the body was
    cut at the limit (or, with ``declared_too_large``, not read at all)."""

    __slots__ = ("body", "complete", "declared_too_large", "event", "headers")

    def __init__(
        self,
        event: h11.Request,
        body: bytes = b"",
        *,
        complete: bool = True,
        declared_too_large: int | None = None,
    ) -> None:
        self.event = event
        self.body = body
        self.complete = complete
        self.declared_too_large = declared_too_large
        self.headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in event.headers
        ]

    @property
    def method(self) -> str:
        return self.event.method.decode("ascii").upper()

    @property
    def target(self) -> str:
        return self.event.target.decode("latin-1")


#: Serves an upgraded connection: the socket and the bytes the client sent
#: past the request.
TakeOver = Callable[[anyio.abc.ByteStream, bytes], Awaitable[None]]

#: Sends one chunk of a streamed body; never raises (a client gone is noted).
SendChunk = Callable[[bytes], Awaitable[None]]


@attrs.frozen
class StreamedAnswer:
    """An answer streamed as a ``201`` head with ``headers``, then the body
    that ``send_body`` sends chunk by chunk (keepalives while a call runs)."""

    headers: dict[str, str]
    send_body: Callable[[SendChunk], Awaitable[None]]


class EndpointLike(Protocol):
    """What a :class:`Connection` needs of its server; :class:`Endpoint` for
    an app, another implementation for the embedded dev server."""

    logger: logging.Logger
    default_host: str

    @property
    def max_body_bytes(self) -> int: ...

    def serves(self, url: str) -> bool: ...

    def not_found(self, url: str) -> Response: ...

    def too_large(self, declared: int) -> Response: ...

    def streamed_answer(self, request: Request, url: str) -> StreamedAnswer | None:
        """How to stream this request's answer, or None to answer it whole."""
        ...

    async def answer(self, request: Request, url: str) -> Response: ...

    def take_over(self, request: Request, url: str) -> TakeOver | None:
        """A handler that takes the socket (a WebSocket upgrade), or None."""
        ...


class Endpoint:
    """What every connection of one server shares: the app and how to answer."""

    def __init__(
        self,
        handler: CommHandler,
        *,
        path: str,
        streaming: bool,
        offload: Offload,
        logger: logging.Logger,
    ) -> None:
        self.handler = handler
        self.path = path
        self.streaming = streaming
        self.offload = offload
        self.logger = logger
        #: ``host:port`` for the URL of a request without a Host header.
        self.default_host = "localhost"

    @property
    def max_body_bytes(self) -> int:
        return self.handler.max_body_bytes

    def serves(self, url: str) -> bool:
        return unquote(urlsplit(url).path) == self.path

    def take_over(self, request: Request, url: str) -> TakeOver | None:
        return None  # an app serves no upgrades

    def not_found(self, url: str) -> Response:
        return not_found(self.path)

    def too_large(self, declared: int) -> Response:
        """413 for a body announced larger than the limit, so never read."""
        return self.handler.too_large(declared, time.time())

    def streamed_answer(self, request: Request, url: str) -> StreamedAnswer | None:
        # Only calls stream (as the official SDK does); a body cut at the
        # limit gets its 413 plainly, not inside a 201.
        if not (self.streaming and request.method == "POST" and request.complete):
            return None
        call = incoming(request.method, url, request.headers, request.body)

        async def send_body(send_chunk: SendChunk) -> None:
            await answer_streaming(
                self.handler, call, request.event, send_chunk, self.offload
            )

        return StreamedAnswer(
            dict(self.handler.responses.stream_start_headers()), send_body
        )

    async def answer(self, request: Request, url: str) -> Response:
        return await answer(
            self.handler,
            incoming(request.method, url, request.headers, request.body),
            request.event,
            self.offload,
        )


class Connection:
    """Serves the requests of one client connection, one at a time."""

    def __init__(
        self,
        stream: anyio.abc.SocketStream,
        endpoint: EndpointLike,
        keep_alive_timeout: float,
        request_timeout: float,
    ) -> None:
        self._stream = stream
        self._endpoint = endpoint
        self._keep_alive_timeout = keep_alive_timeout
        self._request_timeout = request_timeout
        self._h11 = h11.Connection(h11.SERVER)
        #: The bytes of the request head being read, which h11 does not
        #: keep: folded header lines are only visible there.
        self._head = bytearray()
        self._idle: anyio.CancelScope | None = None
        self._closing = False
        self._peer_closed = False
        self._linger = False

    def close_when_idle(self) -> None:
        """For shutdown: close now if waiting for a request, else after the
        response under way."""
        self._closing = True
        if self._idle is not None:
            self._idle.cancel()

    async def run(self) -> None:
        try:
            await self._serve_requests()
        except PEER_GONE:
            pass  # the client left; nobody to answer
        except Exception:
            # One connection's bug must not take the server (its task group)
            # down with it.
            self._endpoint.logger.exception("inngest: a connection failed")
        finally:
            await self._close()

    # -- the request/response cycle -----------------------------------------------

    async def _serve_requests(self) -> None:
        while True:
            request = await self._receive_request()
            if request is None:
                return
            await self._respond(request)
            if self._closing or not (
                self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE
            ):
                return
            self._h11.start_next_cycle()
            # A pipelined request's first bytes arrived with the last one.
            self._head = bytearray(self._h11.trailing_data[0])

    async def _receive_request(self) -> Request | None:
        """The next request, or None when the connection should just close."""
        if not await self._await_first_byte():
            return None
        with anyio.move_on_after(self._request_timeout):
            try:
                return await self._read_request()
            except h11.RemoteProtocolError as err:
                await self._refuse(err)
                return None
        self._endpoint.logger.info(
            "inngest: dropped a client that sent no whole request in %ss",
            self._request_timeout,
        )
        return None

    async def _await_first_byte(self) -> bool:
        """Wait (idle, up to keep_alive_timeout) for a request to begin."""
        data, closed = self._h11.trailing_data
        if data or closed:
            return True  # pipelined, or EOF that _read_request will see
        if self._closing:
            return False
        chunk: bytes | None = None
        # Kept so that shutdown can cancel the wait of an idle connection.
        with anyio.CancelScope(
            deadline=anyio.current_time() + self._keep_alive_timeout
        ) as self._idle:
            chunk = await self._receive()
        self._idle = None
        if not chunk:
            return False  # idle too long, shutting down, or closed by the client
        self._feed(chunk)
        return True

    def _feed(self, data: bytes) -> None:
        """Hand received bytes to h11, keeping those of a head being read.

        Bounded: h11 refuses a head past its size limit (16 KiB) once it
        has one more read, so at most a read (64 KiB) more is kept.
        """
        if self._h11.their_state is h11.IDLE:
            self._head += data
        self._h11.receive_data(data)

    async def _read_request(self) -> Request | None:
        event = await self._next_event()
        if not isinstance(event, h11.Request):
            return None  # ConnectionClosed between requests
        head, self._head = self._head, bytearray()
        _check_framing(event, head)
        limit = self._endpoint.max_body_bytes
        declared = _content_length(event)
        if declared is not None and declared > limit:
            return Request(event, complete=False, declared_too_large=declared)
        body = bytearray()
        while True:
            part = await self._next_event()
            if isinstance(part, h11.Data):
                body += part.data
                if len(body) > limit:
                    # A chunked body past the limit: stop reading; one byte
                    # over is enough for the core to answer 413.
                    return Request(event, bytes(body[: limit + 1]), complete=False)
            elif isinstance(part, h11.EndOfMessage):
                return Request(event, bytes(body))
            else:
                return None

    async def _next_event(
        self,
    ) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        while True:
            event = self._h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self._h11.they_are_waiting_for_100_continue:
                await self._send(h11.InformationalResponse(status_code=100, headers=[]))
            self._feed(await self._receive())

    async def _receive(self) -> bytes:
        """Bytes from the client; ``b""`` when it has closed or reset."""
        try:
            return await self._stream.receive(_RECEIVE_BYTES)
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            self._peer_closed = True
            return b""

    # -- answering --------------------------------------------------------------

    async def _respond(self, request: Request) -> None:
        endpoint = self._endpoint
        url = self._absolute_url(request)
        # A body not read to its end leaves the connection unusable.
        self._linger = not request.complete
        if request.complete:
            handler = endpoint.take_over(request, url)
            if handler is not None:
                # An upgrade (a WebSocket): the socket is the handler's now,
                # with what the client sent past the request.
                self._closing = True
                await handler(self._stream, self._h11.trailing_data[0])
                return
        if not endpoint.serves(url):
            response = endpoint.not_found(url)
        elif request.declared_too_large is not None:
            response = endpoint.too_large(request.declared_too_large)
        elif (streamed := endpoint.streamed_answer(request, url)) is not None:
            await self._respond_streaming(streamed)
            return
        else:
            response = await endpoint.answer(request, url)
        # Decided after answering: shutdown may have begun meanwhile.
        close = self._closing or not request.complete
        await self._send_response(response, request.method, close=close)

    async def _respond_streaming(self, streamed: StreamedAnswer) -> None:
        headers = list(streamed.headers.items())
        if self._closing:
            headers.append(("connection", "close"))
        # No Content-Length: h11 frames the body chunked (close-delimited for
        # an HTTP/1.0 client).
        await self._send(h11.Response(status_code=201, headers=headers))
        gone = False

        async def send_chunk(chunk: bytes) -> None:
            # Never raises: a failed keepalive would otherwise surface as an
            # exception group from answer_streaming's task group.  The
            # function runs to its end either way, as it does unstreamed.
            nonlocal gone
            if gone:
                return
            try:
                await self._send(h11.Data(data=chunk))
            except PEER_GONE:
                gone = True

        await streamed.send_body(send_chunk)
        if not gone:
            await self._send(h11.EndOfMessage())

    async def _send_response(
        self, response: Response, method: str, *, close: bool
    ) -> None:
        headers = [
            (name, value)
            for name, value in response.headers.items()
            if name.lower() not in ("content-length", "transfer-encoding", "connection")
        ]
        headers.append(("content-length", str(len(response.body))))
        if close:
            headers.append(("connection", "close"))
        events: list[h11.Event] = [
            h11.Response(status_code=response.status, headers=headers)
        ]
        if response.body and method != "HEAD":
            events.append(h11.Data(data=response.body))
        events.append(h11.EndOfMessage())
        await self._send(*events)

    async def _refuse(self, err: h11.RemoteProtocolError) -> None:
        """Answer bad HTTP with its status (400, or 431 for huge headers)."""
        if self._peer_closed or self._h11.our_state not in (
            h11.IDLE,
            h11.SEND_RESPONSE,
        ):
            return  # the client left mid-request, or we already answered
        self._endpoint.logger.info("inngest: refused a malformed request: %s", err)
        body = json.dumps(
            {"code": "bad_request", "message": f"malformed HTTP request: {err}"}
        ).encode()
        self._linger = True
        await self._send_response(
            Response(err.error_status_hint, {"content-type": "application/json"}, body),
            "",
            close=True,
        )

    async def _send(self, *events: h11.Event) -> None:
        data = b"".join(self._h11.send(event) or b"" for event in events)
        # A client that stops reading would otherwise hold us here forever.
        with anyio.fail_after(self._request_timeout):
            await self._stream.send(data)

    def _absolute_url(self, request: Request) -> str:
        target = request.target
        if target.startswith(("http://", "https://")):
            return target  # absolute-form, as a proxy may send it
        host = self._endpoint.default_host
        for name, value in request.headers:
            if name == "host" and value:
                host = value
        return f"http://{host}{target}"

    # -- closing ----------------------------------------------------------------

    async def _close(self) -> None:
        # Closed even when cancelled (shutdown_timeout passed) mid-linger.
        try:
            if self._linger and not self._peer_closed:
                with anyio.move_on_after(_LINGER_SECONDS):
                    await self._drop_the_rest()
        finally:
            await anyio.aclose_forcefully(self._stream)

    async def _drop_the_rest(self) -> None:
        try:
            await self._stream.send_eof()
            while True:
                await self._stream.receive(_RECEIVE_BYTES)
        except PEER_GONE:
            pass


def _check_framing(event: h11.Request, head: bytes | bytearray) -> None:
    """Raise :class:`h11.RemoteProtocolError` for framing we refuse (see the
    module docstring); ``head``: the bytes the request was parsed from."""
    names = {name for name, _ in event.headers}
    problem = None
    if b"transfer-encoding" in names and b"content-length" in names:
        problem = "both Content-Length and Transfer-Encoding"
    elif b"transfer-encoding" in names and event.http_version == b"1.0":
        problem = "Transfer-Encoding in an HTTP/1.0 request"
    else:
        end = _HEAD_END.search(head)
        if _OBS_FOLD.search(head, 0, end.start() if end else len(head)):
            problem = "a folded header line (obs-fold)"
    if problem is not None:
        raise h11.RemoteProtocolError(
            f"the request's framing is ambiguous: {problem}", error_status_hint=400
        )


def _content_length(event: h11.Request) -> int | None:
    value = next((v for n, v in event.headers if n == b"content-length"), None)
    # h11 has checked it is digits (and that copies agree): this cannot raise.
    return parse_content_length(value)
