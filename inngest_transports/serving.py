"""Serving a :class:`~inngest_proto.CommHandler` over HTTP: what every
framework module and the standalone server (:mod:`inngest_transports.server`)
share, so each framework module stays a thin converter.

It lives with the transports, not the frameworks, because the standalone
server uses it and a transport never imports the framework layer above it.

A framework module builds one :class:`~inngest_proto.CommHandler` with
:func:`comm_handler`, mounts a route at :func:`route_path`, and per request
turns the framework's request into an :class:`~inngest_proto.IncomingRequest`
(:func:`incoming`) and answers it with :func:`answer` (async hosts),
:func:`answer_sync` (sync hosts) or :func:`answer_streaming` (async hosts
with ``INNGEST_STREAMING=force``).  The protocol itself lives in the core.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio

from inngest_proto import CommHandler, Function, IncomingRequest, Inngest, Response
from inngest_proto.settings import DEFAULT_SERVE_PATH

from ._offload import DEFAULT_MAX_WORKERS, Offload

__all__ = [
    "DEFAULT_MAX_WORKERS",
    "KEEPALIVE_INTERVAL_SECONDS",
    "METHODS",
    "PEER_GONE",
    "InvalidContentLength",
    "Offload",
    "answer",
    "answer_streaming",
    "answer_sync",
    "comm_handler",
    "incoming",
    "not_found",
    "parse_content_length",
    "parse_query",
    "route_path",
    "streaming_enabled",
]


#: How often a streamed reply sends a space while the function runs.
KEEPALIVE_INTERVAL_SECONDS = 3.0

#: The methods the serve endpoint answers.
METHODS = ("GET", "POST", "PUT")

#: What a peer vanishing looks like on a socket, on either backend (asyncio
#: or trio): the HTTP server's clients, and both ends of a WebSocket.
PEER_GONE = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    OSError,  # includes TimeoutError: a peer not reading what we send
)


def comm_handler(
    client: Inngest,
    functions: Sequence[Function[Any]],
    *,
    framework: str,
    enable_unauthed_sync: bool | None = None,
    public_path: str | None = None,
    serve_origin: str | None = None,
    serve_path: str | None = None,
    max_body_bytes: int | None = None,
) -> CommHandler:
    """The handler behind a framework's ``serve(...)``; validates everything now.

    Misconfiguration (no signing key in production, duplicate ids, a bad
    origin) raises here, when the app starts, not on the first request.
    """
    extra: dict[str, Any] = {}
    if max_body_bytes is not None:
        extra["max_body_bytes"] = max_body_bytes
    return CommHandler(
        client=client,
        functions=functions,
        framework=framework,
        serve_origin=serve_origin,
        serve_path=serve_path,
        public_path=public_path,
        enable_unauthed_sync=enable_unauthed_sync,
        **extra,
    )


def route_path(client: Inngest, serve_path: str | None) -> str:
    """Where to mount the endpoint: ``serve_path``, ``INNGEST_SERVE_PATH``, or
    ``/api/inngest``."""
    path = serve_path or client.settings.serve_path or DEFAULT_SERVE_PATH
    return path if path.startswith("/") else "/" + path


def not_found(route: str) -> Response:
    """404 for any path but the route: not the SDK's, so no x-inngest-* headers."""
    body = {
        "code": "not_found",
        "message": f"not found; Inngest functions are served at {route}",
    }
    return Response(
        404, {"content-type": "application/json"}, json.dumps(body).encode()
    )


def streaming_enabled(client: Inngest, streaming: object) -> bool:
    """``serve(streaming=...)`` (``inngest.Streaming`` or a string) or the env var."""
    if streaming is None:
        return client.settings.streaming_enabled
    value = streaming.value if isinstance(streaming, enum.Enum) else streaming
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("force", "allow")


def incoming(
    method: str,
    url: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    *,
    query: str | None = None,
) -> IncomingRequest:
    """An :class:`IncomingRequest` from what every framework can give.

    ``url`` is the absolute URL the host received (scheme, host, path and
    query); the query is parsed from it unless the host already has it apart
    (``query``); the last value of a repeated key wins.
    """
    return IncomingRequest(
        method=method.upper(),
        url=url,
        headers=headers,
        body=body,
        query=parse_query(urlsplit(url).query if query is None else query),
    )


def parse_query(query: str) -> dict[str, str]:
    """``dict(parse_qsl(query, keep_blank_values=True))``, faster for what the
    executor sends (``fnId=...&stepId=step``, nothing escaped): parse_qsl's
    general path is a tenth of a one-step call."""
    if "%" in query or "+" in query:
        return dict(parse_qsl(query, keep_blank_values=True))
    pairs = {}
    for field in query.split("&"):
        if field:
            name, _, value = field.partition("=")
            pairs[name] = value
    return pairs


class InvalidContentLength(ValueError):
    """A ``Content-Length`` that is not a number of bytes: the body's end is
    unknown."""


def parse_content_length(value: str | bytes | int | None) -> int | None:
    """The body length a ``Content-Length`` value declares; ``None`` when the
    request has none (absent, or empty as CGI and WSGI write it).

    Raises :class:`InvalidContentLength` for anything but digits (RFC 9110
    section 8.6; white space around them is allowed): ``int()`` would also
    take ``+5``, ``-1`` and ``1_000``, lengths a proxy in front may read
    differently.
    """
    if value is None:
        return None
    if isinstance(value, int):
        if value < 0:
            raise InvalidContentLength(f"a negative Content-Length: {value}")
        return value
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if not text:
        return None
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()):
        msg = f"the Content-Length header {text[:32]!r} is not a number of bytes"
        raise InvalidContentLength(msg)
    return int(digits)


# --- answering -------------------------------------------------------------------


async def answer(
    handler: CommHandler,
    request: IncomingRequest,
    raw_request: object,
    offload: Offload,
) -> Response:
    """Answer on an event loop (asyncio or trio).

    Sync functions run through ``offload`` in a worker thread, so a blocking
    step never stalls the loop.
    """
    return await handler.handle(
        request,
        now=time.time(),
        raw_request=raw_request,
        timer=time.perf_counter,
        run_sync=offload,
    )


def answer_sync(
    handler: CommHandler, request: IncomingRequest, raw_request: object
) -> Response:
    """Answer from a sync host; an async function gets its own event loop."""
    return handler.handle_sync(
        request,
        now=time.time(),
        raw_request=raw_request,
        timer=time.perf_counter,
        run_async=anyio.run,
    )


async def answer_streaming(
    handler: CommHandler,
    request: IncomingRequest,
    raw_request: object,
    send_chunk: Callable[[bytes], Awaitable[None]],
    offload: Offload,
    *,
    interval: float = KEEPALIVE_INTERVAL_SECONDS,
) -> None:
    """Answer as a streamed 201: a space now and every ``interval`` seconds,
    then the real response wrapped in ``{status, headers, body}``.

    The caller has already sent the 201 status line (with
    ``handler.responses.stream_start_headers()``); this sends the body.
    Hosts whose proxies cut idle responses (serverless platforms) use it to
    keep long calls alive.

    A chunk that cannot be sent (the client left) ends the keepalives; the
    function still runs to its end, as the executor will call again, and
    nothing is raised, so callers need no ``except*``.
    """
    client_gone = False

    async def send(chunk: bytes) -> None:
        nonlocal client_gone
        if client_gone:
            return
        try:
            await send_chunk(chunk)
        # Not narrower: each server (uvicorn, hypercorn, Tornado...) raises
        # its own error for a client that left; any one means it left.
        except Exception:
            client_gone = True

    await send(b" ")
    response: Response | None = None
    async with anyio.create_task_group() as keepalive:

        async def ping() -> None:
            while not client_gone:
                await anyio.sleep(interval)
                await send(b" ")

        keepalive.start_soon(ping)
        response = await answer(handler, request, raw_request, offload)
        keepalive.cancel_scope.cancel()
    # A task group swallows only the cancellation of its own scope, cancelled
    # above once the response is there; anything else propagates.
    assert response is not None
    await send(handler.responses.stream_envelope(response))
