"""The dev server's HTTP client for calls to apps: httpx, reading replies as Go does.

One difference from httpx (h11) matters here.  An HTTP/1.0 message with a
``Transfer-Encoding`` header has faulty framing (RFC 9112 §6.1); Go's HTTP
library, which the Inngest server calls apps with, ignores that header on
HTTP/1.0 and reads the body by ``Content-Length``, else until the
connection closes.  h11 reads it as chunked instead, so an app behind an
HTTP/1.0 proxy that forwards ``Transfer-Encoding: chunked`` with a body it
has already unchunked fails every call ("peer closed connection") and the
run can never complete.

So the client's connections hand h11 each response head rewritten: on an
HTTP/1.0 head, the ``Transfer-Encoding`` lines are dropped, and h11 then
frames the body as Go does.  Nothing else changes.  Which bytes are a head
is known without parsing bodies: a response follows the request written
before it, and informational (1xx) heads come before the final one.  A head
is held back until whole, up to :data:`_MAX_HEAD` bytes (h11's own limit
here); past that it is passed on untouched, for h11 to refuse.

The client goes straight to the app: proxies set in the environment
(``HTTP_PROXY`` and friends) are not used for these calls.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any, cast

import httpcore
import httpx

from inngest_proto.wire import OutboundRequest, OutboundResponse
from inngest_transports.http import HttpTransport

__all__ = ["AppTransport", "app_client"]

#: The largest head held back: httpcore's h11 refuses bigger ones anyway.
_MAX_HEAD = 100 * 1024
#: The end of a head, as h11 finds it (bare LF line ends allowed).
_HEAD_END = re.compile(rb"\n\r?\n")
#: httpx's defaults.
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


def app_client(timeout: float) -> httpx.AsyncClient:
    """An async client whose connections read HTTP/1.0 framing as Go does."""
    return httpx.AsyncClient(transport=_AppTransport(), timeout=timeout)


class AppTransport:
    """Sends requests to apps, one attempt each (the caller does the retrying).

    An :class:`HttpTransport` on :func:`app_client`, made on first use and
    made again after :meth:`aclose`, so a dev server can serve again.
    """

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._transport: HttpTransport | None = None

    async def request(self, request: OutboundRequest) -> OutboundResponse:
        if self._transport is None:
            self._client = app_client(self._timeout)
            self._transport = HttpTransport(
                self._timeout, max_attempts=1, async_client=self._client
            )
        return await self._transport.request(request)

    async def aclose(self) -> None:
        client, self._client, self._transport = self._client, None, None
        if client is not None:
            await client.aclose()


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


class _Stream(httpcore.AsyncNetworkStream):
    """A connection whose response heads pass :func:`without_faulty_framing`."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        #: Whether the next bytes read begin a response head.
        self._expect_head = True
        #: Bytes read but not yet returned.
        self._surplus = b""

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._expect_head and not self._surplus:
            self._surplus = await self._read_heads(max_bytes, timeout)
        if self._surplus:
            data = self._surplus[:max_bytes]
            self._surplus = self._surplus[max_bytes:]
            return data
        if self._expect_head:
            return b""  # closed before a whole head came
        return await self._inner.read(max_bytes, timeout)

    async def _read_heads(self, max_bytes: int, timeout: float | None) -> bytes:
        """Read to the end of the final response head; return all that was
        read, the heads rewritten."""
        out, data = b"", b""
        while self._expect_head:
            end = _HEAD_END.search(data)
            if end is None:
                chunk = b""
                if len(data) <= _MAX_HEAD:
                    chunk = await self._inner.read(max_bytes, timeout)
                if not chunk:  # closed, or too big: h11 says what is wrong
                    self._expect_head = False
                    break
                data += chunk
                continue
            head, data = data[: end.end()], data[end.end() :]
            out += without_faulty_framing(head)
            self._expect_head = _informational(head)
        return out + data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # httpcore sends a whole request before reading its response.
        self._expect_head = True
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _Stream(tls)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._surplus:
            return True
        return self._inner.get_extra_info(info)


class _Backend(httpcore.AsyncNetworkBackend):
    """anyio's backend (asyncio and trio), its streams wrapped in :class:`_Stream`."""

    def __init__(self) -> None:
        # Typed as the interface: httpcore also defines a stand-in
        # AnyIOBackend (without these methods) for where anyio is missing.
        self._inner = cast("httpcore.AsyncNetworkBackend", httpcore.AnyIOBackend())

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, timeout, local_address, socket_options
        )
        return _Stream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(path, timeout, socket_options)
        return _Stream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


#: httpcore's errors as httpx raises them (most specific first), so that
#: callers handle them as for any httpx client.
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


_CORE_ERRORS = tuple(theirs for theirs, _ in _ERRORS)


def _as_httpx(err: Exception, request: httpx.Request) -> Exception:
    for theirs, ours in _ERRORS:
        if isinstance(err, theirs):
            return ours(str(err), request=request)
    return err


class _OneChunk:
    """A request body handed to httpcore as one chunk, by a plain iterator.

    httpx's and httpcore's own byte streams iterate with an async generator;
    when the peer cuts the connection while the body is being written, the
    generator is left suspended, and trio reports it (a ResourceWarning) when
    it is collected.  A plain iterator has nothing to finalize.
    """

    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body

    def __aiter__(self) -> _OneChunk:
        return self

    async def __anext__(self) -> bytes:
        if self._body is None:
            raise StopAsyncIteration
        body, self._body = self._body, None
        return body


class _Body(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes], request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except _CORE_ERRORS as err:
            raise _as_httpx(err, self._request) from err

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


class _AppTransport(httpx.AsyncBaseTransport):
    """httpx over an httpcore pool of :class:`_Stream` connections."""

    def __init__(self) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=_LIMITS.max_connections,
            max_keepalive_connections=_LIMITS.max_keepalive_connections,
            keepalive_expiry=_LIMITS.keepalive_expiry,
            network_backend=_Backend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=_OneChunk(body),
            extensions=request.extensions,
        )
        try:
            response = await self._pool.handle_async_request(core_request)
        except _CORE_ERRORS as err:
            raise _as_httpx(err, request) from err
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream, request),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
