"""A raw ASGI 3 endpoint for Inngest, usable by any ASGI framework or server.

``serve(client, functions)`` returns an :class:`InngestASGI` application:

* run it alone (``uvicorn module:app``, ``hypercorn``), where it answers GET,
  PUT and POST at the serve path and 404 anywhere else;
* or mount it in a framework: Starlette ``Route("/api/inngest",
  endpoint=app, methods=["GET", "PUT", "POST"])`` (Starlette treats an
  object endpoint as an ASGI app), Litestar
  ``asgi("/api/inngest", copy_scope=True)(app)``,
  or wrap Quart's ``app.asgi_app``.

It converts the ASGI scope and body to an :class:`~inngest_proto.IncomingRequest`
and the :class:`~inngest_proto.Response` back; the protocol is the core's.
Only anyio is used, so it runs on asyncio and trio servers alike.  Sync
functions run in worker threads, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from inngest_proto import (
    Framework,
    Function,
    IncomingRequest,
    Inngest,
    Response,
    Streaming,
)
from inngest_transports.serving import (
    KEEPALIVE_INTERVAL_SECONDS,
    InvalidContentLength,
    Offload,
    answer,
    answer_streaming,
    comm_handler,
    incoming,
    not_found,
    parse_content_length,
    route_path,
    streaming_enabled,
)

__all__ = [
    "FRAMEWORK",
    "ASGIApp",
    "InngestASGI",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "serve",
]

FRAMEWORK = Framework.ASGI

# The ASGI 3 callable types, loose enough that an InngestASGI type-checks
# wherever an ASGI app is expected: Starlette and uvicorn type messages as
# MutableMapping, hypercorn and Quart as TypedDicts.  The endpoint only reads
# the scope and what it receives (Mapping fits both) and sends plain dicts
# (hence Any: each server's send takes its own event types).  Litestar reads
# these annotations at runtime: they must stay module-level names.
Scope = Mapping[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# RFC 3986 pchar minus "%": the scope's path is already percent-decoded, so a
# literal "%" in it must be re-encoded.
_PATH_SAFE = "/!$&'()*+,;=:@-._~"


class InngestASGI:
    """The Inngest serve endpoint as an ASGI 3 application.

    Built by :func:`serve` (or directly, with the same arguments, plus
    ``framework`` for the name sent in headers).  ``keepalive_interval`` is
    how often a streamed reply sends a space; only tests need to change it.
    """

    def __init__(
        self,
        client: Inngest,
        functions: Sequence[Function[Any]],
        *,
        framework: Framework | str = FRAMEWORK,
        enable_unauthed_sync: bool | None = None,
        public_path: str | None = None,
        serve_origin: str | None = None,
        serve_path: str | None = None,
        streaming: Streaming | None = None,
        max_body_bytes: int | None = None,
    ) -> None:
        # Built now so misconfiguration fails at startup, not on a request.
        self.handler = comm_handler(
            client,
            functions,
            framework=framework,
            enable_unauthed_sync=enable_unauthed_sync,
            public_path=public_path,
            serve_origin=serve_origin,
            serve_path=serve_path,
            max_body_bytes=max_body_bytes,
        )
        self.path = route_path(client, serve_path)
        self.streaming = streaming_enabled(client, streaming)
        self.keepalive_interval = KEEPALIVE_INTERVAL_SECONDS
        self._offload = Offload.for_client(client)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} at {self.path}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            # Refuse the handshake (the server answers 403): Inngest never
            # opens a WebSocket to a serve endpoint.
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
        else:
            # The ASGI spec asks apps to fail on scope types they don't know.
            msg = f"the Inngest endpoint does not handle ASGI {kind!r} scopes"
            raise RuntimeError(msg)

    # -- hooks ------------------------------------------------------------------

    def raw_request(self, scope: Scope, body: bytes) -> object:
        """What middleware receives as the framework's request: here the scope.

        Framework subclasses return their own request object.
        """
        return scope

    # -- one HTTP request -------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        full_path = _full_path(scope)
        if not self._routed_here(scope, full_path):
            await _send(send, not_found(self.path), close=False)
            return
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in scope.get("headers", ())
        ]
        limit = self.handler.max_body_bytes
        declared = _content_length(headers)
        if declared is not None and declared > limit:
            # Not read at all: one byte over the limit is all the core needs
            # to answer 413 (bytes(n) is calloc'd, it costs no real memory).
            body, complete = bytes(limit + 1), False
        else:
            read = await _read_body(receive, limit)
            if read is None:
                return  # the client left mid-body: nobody to answer
            body, complete = read
        request = incoming(
            scope["method"],
            _url(scope, full_path),
            headers,
            body,
            query=scope.get("query_string", b"").decode("latin-1"),
        )
        raw = self.raw_request(scope, body)
        if self.streaming and complete and request.method == "POST":
            await self._stream(request, raw, send)
            return
        response = await answer(self.handler, request, raw, self._offload)
        # A body left unread would be drained by the server before the next
        # request on this connection; closing it is cheaper.
        await _send(send, response, close=not complete)

    def _routed_here(self, scope: Scope, full_path: str) -> bool:
        # Starlette and FastAPI record the endpoint they routed to: their
        # route decided, whatever path it was declared at.
        if scope.get("endpoint") is self:
            return True
        # Mounted under a prefix (root_path), the route is relative to it.
        root = scope.get("root_path", "").rstrip("/")
        relative = full_path[len(root) :] if full_path.startswith(root) else full_path
        return _same_path(full_path, self.path) or _same_path(relative, self.path)

    async def _stream(self, request: IncomingRequest, raw: object, send: Send) -> None:
        """201 now, spaces while the function runs, then the real response."""
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": _encode_headers(
                    self.handler.responses.stream_start_headers()
                ),
            }
        )

        async def send_chunk(chunk: bytes) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        await answer_streaming(
            self.handler,
            request,
            raw,
            send_chunk,
            self._offload,
            interval=self.keepalive_interval,
        )
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def serve(
    client: Inngest,
    functions: Sequence[Function[Any]],
    *,
    enable_unauthed_sync: bool | None = None,
    public_path: str | None = None,
    serve_origin: str | None = None,
    serve_path: str | None = None,
    streaming: Streaming | None = None,
    max_body_bytes: int | None = None,
) -> InngestASGI:
    """An ASGI app serving ``functions`` at ``serve_path`` (``/api/inngest``).

    Args:
    ----
        client: Inngest client.
        functions: List of functions to serve.
        enable_unauthed_sync: Whether unsigned sync (PUT) requests are accepted
            in cloud mode; ``INNGEST_ENABLE_UNAUTHED_SYNC`` otherwise.
        public_path: Path Inngest calls, when a proxy rewrites the path.
        serve_origin: Origin advertised at sync (e.g. behind Docker).
        serve_path: Path to serve at, instead of ``/api/inngest``.
        streaming: ``Streaming.FORCE`` sends keepalive bytes until the
            response is complete; ``INNGEST_STREAMING`` otherwise.
        max_body_bytes: Largest request body accepted (32 MiB); larger is 413.
    """
    return InngestASGI(
        client,
        functions,
        enable_unauthed_sync=enable_unauthed_sync,
        public_path=public_path,
        serve_origin=serve_origin,
        serve_path=serve_path,
        streaming=streaming,
        max_body_bytes=max_body_bytes,
    )


# --- helpers ---------------------------------------------------------------------


async def _lifespan(receive: Receive, send: Send) -> None:
    # Nothing to start or stop: the endpoint holds no connections.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool] | None:
    """``(body, complete)``, at most ``limit + 1`` bytes; None if the client left.

    ``complete`` is False when reading stopped at the limit: the core then
    answers 413 from the length alone.
    """
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        if message["type"] != "http.request":
            continue
        body += message.get("body", b"")
        if len(body) > limit:
            return bytes(body[: limit + 1]), False
        if not message.get("more_body", False):
            return bytes(body), True


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    value = next((v for n, v in headers if n.lower() == "content-length"), None)
    try:
        return parse_content_length(value)
    except InvalidContentLength:
        return None  # the server rejects it, or we read what comes


def _full_path(scope: Scope) -> str:
    """The path as the client sent it, mount prefix included.

    ASGI servers put the mount prefix (``root_path``) in ``path`` too; older
    servers and some dispatchers leave it out, then it is prepended.
    """
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and not path.startswith(root):
        return root.rstrip("/") + ("/" + path.lstrip("/") if path else "")
    return path


def _same_path(path: str, route: str) -> bool:
    # A trailing slash is not a different endpoint to a proxy or a user.
    return (path.rstrip("/") or "/") == (route.rstrip("/") or "/")


def _url(scope: Scope, path: str) -> str:
    """The absolute URL the client asked for; what an unconfigured sync advertises."""
    scheme = scope.get("scheme", "http")
    host = None
    for name, value in scope.get("headers", ()):
        if name.lower() == b"host":
            host = value.decode("latin-1")
    if not host:
        server = scope.get("server")
        if server is None:
            host = "localhost"  # a unix socket: no address to advertise
        else:
            name, port = server[0], server[1]
            default = _DEFAULT_PORTS.get(scheme)
            host = name if port in (None, default) else f"{name}:{port}"
    url = f"{scheme}://{host}{quote(path, safe=_PATH_SAFE)}"
    query = scope.get("query_string", b"")
    return f"{url}?{query.decode('latin-1')}" if query else url


def _encode_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


async def _send(send: Send, response: Response, *, close: bool) -> None:
    headers = _encode_headers(response.headers)
    headers.append((b"content-length", str(len(response.body)).encode()))
    if close:
        headers.append((b"connection", b"close"))
    await send(
        {"type": "http.response.start", "status": response.status, "headers": headers}
    )
    await send({"type": "http.response.body", "body": response.body})
