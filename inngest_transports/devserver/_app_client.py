"""The dev server's HTTP client for calls to apps: h11 on anyio, read as Go does.

Why not httpx: a burst of runs puts dozens of calls in flight at once, and
httpcore's connection pool does work for every queued request on every
change of any connection (``_assign_requests_to_connections``), so its cost
per request grows with the number in flight; with httpx's models around it,
the client cost more than the executor and the SDK together
(``bench/devserver.py``).  This client keeps, per origin, a stack of idle
keep-alive connections: taking one and giving it back costs the same
whatever else is in flight.  How many calls are in flight at once is the
driver's limit (``MAX_CALLS_IN_FLIGHT``), not this client's.

What it does, as httpx did before it:

* one attempt per request (the executor does the retrying); no proxies from
  the environment: it goes straight to the app; no redirects followed;
* a timeout for the whole exchange (as Go's ``http.Client.Timeout``);
* an idle connection is reused only if the peer has not closed it or sent
  anything (a readable idle socket) and it is younger than
  :data:`IDLE_EXPIRY` seconds; at most ``max_idle`` are kept per origin;
* failures raise :class:`~inngest_proto.errors.TransportError`, its
  ``last_error`` one of httpx's exceptions (``httpx.ConnectError``,
  ``httpx.ReadTimeout``, ``httpx.RemoteProtocolError``...), so callers tell
  them apart as before;
* a connection that failed, was cancelled mid-exchange, or whose reply
  framing says so, is closed, never reused.

One difference from h11 matters here.  An HTTP/1.0 message with a
``Transfer-Encoding`` header has faulty framing (RFC 9112 §6.1); Go's HTTP
library, which the Inngest server calls apps with, ignores that header on
HTTP/1.0 and reads the body by ``Content-Length``, else until the
connection closes.  h11 reads it as chunked instead, so an app behind an
HTTP/1.0 proxy that forwards ``Transfer-Encoding: chunked`` with a body it
has already unchunked would fail every call ("peer closed connection") and
the run could never complete.

So h11 is handed each response head rewritten (:class:`HeadFilter`): on an
HTTP/1.0 head, the ``Transfer-Encoding`` lines are dropped, and h11 then
frames the body as Go does.  Nothing else changes.  Which bytes are a head
is known without parsing bodies: a response follows the request written
before it, and informational (1xx) heads come before the final one.  A head
is held back until whole, up to :data:`_MAX_HEAD` bytes (h11's limit here
too); past that it is passed on untouched, for h11 to refuse.
"""

from __future__ import annotations

import re
import select
import socket
import ssl
import urllib.parse
from collections.abc import Callable
from typing import NamedTuple

import anyio
import anyio.abc
import h11
import httpx

from inngest_proto.errors import TransportError
from inngest_proto.wire import OutboundRequest, OutboundResponse

__all__ = ["IDLE_EXPIRY", "AppTransport", "HeadFilter", "without_faulty_framing"]

#: The largest response head accepted (httpcore's limit, which this replaced).
_MAX_HEAD = 100 * 1024
#: The end of a head, as h11 finds it (bare LF line ends allowed).
_HEAD_END = re.compile(rb"\n\r?\n")
#: Seconds an idle connection is kept (httpx's default).
IDLE_EXPIRY = 5.0
#: Idle connections kept per origin: as many as the driver has calls in flight.
_MAX_IDLE = 64
_READ_SIZE = 65536


class _Origin(NamedTuple):
    scheme: str
    host: str
    port: int


class _Connection:
    """One keep-alive connection and its h11 state."""

    __slots__ = ("filter", "h11", "idle_since", "sock", "stream")

    def __init__(self, stream: anyio.abc.ByteStream, sock: socket.socket) -> None:
        self.stream = stream
        self.sock = sock
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
        self.filter = HeadFilter()
        self.idle_since = 0.0

    def is_stale(self, now: float) -> bool:
        """Expired, or readable while idle: the peer closed it or sent bytes
        no request asked for."""
        if now - self.idle_since > IDLE_EXPIRY:
            return True
        fd = self.sock.fileno()
        if fd < 0:  # closed under us (asyncio closes a reset connection)
            return True
        if not hasattr(select, "poll"):  # Windows
            try:
                readable, _, _ = select.select([fd], [], [], 0)
            except (OSError, ValueError):
                return True
            return bool(readable)
        poll = select.poll()
        poll.register(fd, select.POLLIN)
        return bool(poll.poll(0))


class AppTransport:
    """Sends requests to apps, one attempt each (the caller does the retrying).

    Usable again after :meth:`aclose`, so a dev server can serve again.
    ``ssl_context`` verifies ``https://`` apps (default: httpx's, certifi's
    CAs).
    """

    def __init__(
        self,
        timeout: float,
        *,
        max_idle: int = _MAX_IDLE,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._timeout = timeout
        self._max_idle = max_idle
        self._ssl_context = ssl_context
        self._idle: dict[_Origin, list[_Connection]] = {}
        #: Bumped by :meth:`aclose`: a connection opened before is closed
        #: when its exchange ends, not kept.
        self._generation = 0

    async def request(self, request: OutboundRequest) -> OutboundResponse:
        """One exchange; raises :class:`TransportError` when no reply came."""
        phase = ["connect"]
        try:
            origin, target, host_header = _split(request.url)
            with anyio.fail_after(self._timeout):
                return await self._exchange(request, origin, target, host_header, phase)
        except TimeoutError as err:
            kind = _TIMEOUTS[phase[0]]
            cause: Exception = kind(f"no reply within {self._timeout:g} s ({phase[0]})")
            raise _failed(request, cause) from err
        except _AS_HTTPX as err:
            raise _failed(request, _as_httpx(err, phase[0])) from err
        except httpx.TransportError as err:
            raise _failed(request, err) from err

    async def _exchange(
        self,
        request: OutboundRequest,
        origin: _Origin,
        target: bytes,
        host_header: bytes,
        phase: list[str],
    ) -> OutboundResponse:
        generation = self._generation
        conn = await self._take_idle(origin)
        if conn is None:
            conn = await self._connect(origin)
        reusable = False
        try:
            phase[0] = "write"
            headers = [(b"host", host_header)]
            headers.extend(
                (name.encode(), value.encode())
                for name, value in request.headers.items()
                if name.lower() not in _SET_HERE
            )
            headers.append((b"content-length", b"%d" % len(request.body)))
            out = conn.h11.send(
                h11.Request(
                    method=request.method.encode(), target=target, headers=headers
                )
            )
            assert out is not None
            out += conn.h11.send(h11.Data(data=request.body)) or b""
            out += conn.h11.send(h11.EndOfMessage()) or b""
            conn.filter.request_sent()
            write_error: BaseException | None = None
            try:
                await conn.stream.send(out)
            except (anyio.BrokenResourceError, OSError) as err:
                # The app may have answered (say, 413) before reading all of
                # the body, then closed: read what it sent, if anything.
                write_error = err
            phase[0] = "read"
            try:
                response = await _read_response(conn)
            except (anyio.BrokenResourceError, OSError, h11.RemoteProtocolError):
                if write_error is not None:
                    raise httpx.WriteError(
                        f"{type(write_error).__name__}: {write_error}"
                    ) from write_error
                raise
            reusable = (
                generation == self._generation
                and write_error is None
                and conn.h11.our_state is h11.DONE
                and conn.h11.their_state is h11.DONE
            )
            return response
        finally:
            if reusable:
                await self._put_idle(origin, conn)
            else:
                await anyio.aclose_forcefully(conn.stream)

    async def _take_idle(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = anyio.current_time()
        while idle:
            conn = idle.pop()  # the most recently used: the warmest
            if not conn.is_stale(now):
                return conn
            await anyio.aclose_forcefully(conn.stream)
        return None

    async def _put_idle(self, origin: _Origin, conn: _Connection) -> None:
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= self._max_idle:
            await anyio.aclose_forcefully(conn.stream)
            return
        conn.h11.start_next_cycle()
        conn.idle_since = anyio.current_time()
        idle.append(conn)

    async def _connect(self, origin: _Origin) -> _Connection:
        stream: anyio.abc.ByteStream
        if origin.scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = httpx.create_ssl_context()
            stream = await anyio.connect_tcp(
                origin.host,
                origin.port,
                ssl_context=self._ssl_context,
                tls_standard_compatible=False,
            )
        else:
            stream = await anyio.connect_tcp(origin.host, origin.port)
        sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)  # noqa: S610
        return _Connection(stream, sock)

    async def aclose(self) -> None:
        """Close the idle connections; the ones in use close when done."""
        self._generation += 1
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                await anyio.aclose_forcefully(conn.stream)


class HeadFilter:
    """Hands on a connection's bytes with each response head passed through
    :func:`without_faulty_framing` (sans-IO: bytes in, bytes out)."""

    __slots__ = ("_expect_head", "_held", "_searched")

    def __init__(self) -> None:
        #: Whether the next bytes begin a response head.
        self._expect_head = True
        #: The start of a head, held back until it is whole.
        self._held = b""
        #: How much of ``_held`` holds no head end (a trickled head is
        #: scanned once, not once per piece).
        self._searched = 0

    def request_sent(self) -> None:
        """A request was written: the bytes read next begin its response."""
        self._expect_head = True

    def feed(self, data: bytes) -> bytes:
        """The bytes to hand on for ``data`` read; a partial head is held."""
        if not self._expect_head:
            return data
        data = self._held + data
        start = max(0, self._searched - 2)  # a head end is at most 3 bytes
        self._held, self._searched = b"", 0
        out = b""
        while self._expect_head:
            end = _HEAD_END.search(data, start)
            if end is None:
                if len(data) > _MAX_HEAD:  # h11 refuses it
                    self._expect_head = False
                    break
                self._held, self._searched = data, len(data)
                return out
            head, data = data[: end.end()], data[end.end() :]
            start = 0
            out += without_faulty_framing(head)
            self._expect_head = _informational(head)
        return out + data

    def end(self) -> bytes:
        """The connection closed: what was held, for h11 to judge."""
        held, self._held, self._searched = self._held, b"", 0
        self._expect_head = False
        return held


def without_faulty_framing(head: bytes) -> bytes:
    """``head`` without its ``Transfer-Encoding`` lines if it is HTTP/1.0.

    Lines folded onto a dropped line go with it.
    """
    if not head.startswith(b"HTTP/1.0 "):
        return head
    status, *lines = head.split(b"\n")
    kept = [status]
    dropping = False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        name = line.partition(b":")[0].strip().lower()
        dropping = name == b"transfer-encoding"
        if not dropping:
            kept.append(line)
    return b"\n".join(kept)


def _informational(head: bytes) -> bool:
    """A 1xx head other than 101: the final response's head is still to come."""
    parts = head.split(None, 2)
    code = parts[1] if len(parts) > 1 else b""
    return len(code) == 3 and code.startswith(b"1") and code != b"101"


async def _read_response(conn: _Connection) -> OutboundResponse:
    """Read one response off ``conn`` (after its request was sent)."""
    status = 0
    headers: list[tuple[str, str]] = []
    body: list[bytes] = []
    machine = conn.h11
    while True:
        event = machine.next_event()
        if event is h11.NEED_DATA:
            try:
                data = await conn.stream.receive(_READ_SIZE)
            except anyio.EndOfStream:
                data = b""
            if data:
                machine.receive_data(conn.filter.feed(data))
            else:
                held = conn.filter.end()
                if held:
                    machine.receive_data(held)
                machine.receive_data(b"")
        elif isinstance(event, h11.Response):
            status = event.status_code
            headers = [
                (name.decode(), _header_text(value)) for name, value in event.headers
            ]
        elif isinstance(event, h11.Data):
            body.append(event.data)
        elif isinstance(event, h11.EndOfMessage):
            return OutboundResponse(status=status, headers=headers, body=b"".join(body))
        elif type(event) is h11.ConnectionClosed:
            raise httpx.RemoteProtocolError(
                "the app closed the connection without sending a response"
            )
        # InformationalResponse (1xx): the final response follows.


def _header_text(value: bytes) -> str:
    """A header value as text: UTF-8 (what apps send), else Latin-1 as HTTP
    defines the octets."""
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _split(url: str) -> tuple[_Origin, bytes, bytes]:
    """The origin, request target and Host header of ``url``."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as err:
        raise httpx.UnsupportedProtocol(f"bad URL {url!r}: {err}") from err
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        msg = f"only http:// and https:// URLs can be called, not {url!r}"
        raise httpx.UnsupportedProtocol(msg)
    default = 443 if scheme == "https" else 80
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    netloc = parts.netloc.rpartition("@")[2]
    try:
        return (
            _Origin(scheme, host, port or default),
            target.encode("ascii"),
            netloc.encode("ascii"),
        )
    except UnicodeEncodeError as err:
        raise httpx.UnsupportedProtocol(
            f"the URL {url!r} is not ASCII (IRIs are not encoded here)"
        ) from err


#: Headers this client writes itself.
_SET_HERE = frozenset({"host", "content-length", "transfer-encoding"})

_TIMEOUTS: dict[str, Callable[[str], httpx.TimeoutException]] = {
    "connect": httpx.ConnectTimeout,
    "write": httpx.WriteTimeout,
    "read": httpx.ReadTimeout,
}

#: The errors of sockets, TLS and h11, turned into httpx's below.
_AS_HTTPX = (
    OSError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    h11.ProtocolError,
)


def _as_httpx(err: BaseException, phase: str) -> httpx.TransportError:
    text = str(err) or type(err).__name__
    if isinstance(err, h11.LocalProtocolError):
        return httpx.LocalProtocolError(text)
    if isinstance(err, h11.RemoteProtocolError):
        return httpx.RemoteProtocolError(text)
    if phase == "connect":
        return httpx.ConnectError(text)
    if phase == "write":
        return httpx.WriteError(text)
    return httpx.ReadError(text)


def _failed(request: OutboundRequest, err: Exception) -> TransportError:
    method = request.method
    return TransportError(
        f"{method} {request.url} failed: {type(err).__name__}: {err}",
        url=request.url,
        method=method,
        attempts=1,
        last_error=err,
    )
