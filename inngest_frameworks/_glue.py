"""What every framework module shares, so each one stays a thin converter.

A framework module builds one :class:`~inngest_proto.CommHandler` with
:func:`comm_handler`, mounts a route at :func:`route_path`, and per request
turns the framework's request into an :class:`~inngest_proto.IncomingRequest`
(:func:`incoming`) and answers it with :func:`answer` (async hosts),
:func:`answer_sync` (sync hosts) or :func:`answer_streaming` (async hosts
with ``INNGEST_STREAMING=force``).  The protocol itself lives in the core.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import anyio
import anyio.to_thread

from inngest_proto import CommHandler, Function, IncomingRequest, Inngest, Response
from inngest_proto._settings import DEFAULT_SERVE_PATH

__all__ = [
    "DEFAULT_MAX_WORKERS",
    "KEEPALIVE_INTERVAL_SECONDS",
    "METHODS",
    "Offload",
    "answer",
    "answer_streaming",
    "answer_sync",
    "comm_handler",
    "incoming",
    "not_found",
    "route_path",
    "streaming_enabled",
]

T = TypeVar("T")

#: How often a streamed reply sends a space while the function runs.
KEEPALIVE_INTERVAL_SECONDS = 3.0

#: The methods the serve endpoint answers.
METHODS = ("GET", "POST", "PUT")


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
) -> IncomingRequest:
    """An :class:`IncomingRequest` from what every framework can give.

    ``url`` is the absolute URL the host received (scheme, host, path and
    query); the query is parsed here, the last value of a repeated key wins.
    """
    return IncomingRequest(
        method=method.upper(),
        url=url,
        headers=headers,
        body=body,
        query=dict(parse_qsl(urlsplit(url).query, keep_blank_values=True)),
    )


# --- answering -------------------------------------------------------------------


#: Worker threads when ``INNGEST_THREAD_POOL_MAX_WORKERS`` is unset: anyio's
#: default limit, so asyncio and trio hosts allow the same number.
DEFAULT_MAX_WORKERS = 40


class Offload:
    """Runs sync functions in worker threads, at most ``max_workers`` at once.

    One per ``serve()``: ``max_workers`` comes from
    ``INNGEST_THREAD_POOL_MAX_WORKERS`` (:data:`DEFAULT_MAX_WORKERS` when
    unset).  On asyncio the work goes to this object's thread pool through
    ``loop.run_in_executor``: one future and one wake-up each way.  anyio's
    ``to_thread.run_sync``, used on trio, also takes a capacity limiter, a
    cancel scope and extra checkpoints per call; on asyncio that was about a
    third of the server's time per one-step call at 16 concurrent requests.
    Both paths copy the caller's context variables into the thread, and a
    cancelled caller waits for the thread to finish, as anyio does: a thread
    cannot be stopped, and the host should not believe the call over while
    the function still runs.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        self._max_workers = max_workers or DEFAULT_MAX_WORKERS
        self._limiter: anyio.CapacityLimiter | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @classmethod
    def for_client(cls, client: Inngest) -> Offload:
        return cls(client.settings.thread_pool_max_workers or None)

    async def __call__(self, work: Callable[[], T]) -> T:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio: trio
            return await self._through_anyio(work)
        future = loop.run_in_executor(
            self._thread_pool(), contextvars.copy_context().run, work
        )
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await _wait_out(future)
            raise

    def _thread_pool(self) -> ThreadPoolExecutor:
        # Made on first use, under a lock: WSGI-and-ASGI hosts may share one.
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        max_workers=self._max_workers,
                        thread_name_prefix="inngest-function",
                    )
        return self._pool

    async def _through_anyio(self, work: Callable[[], T]) -> T:
        # Made on first use: a limiter belongs to the event loop that uses it.
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._max_workers)
        return await anyio.to_thread.run_sync(work, limiter=self._limiter)


async def _wait_out(future: asyncio.Future[Any]) -> None:
    """Wait until ``future`` is done, through any further cancellations (anyio
    cancel scopes deliver one per loop iteration until the scope exits)."""
    while not future.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([future])


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
        except Exception:
            client_gone = True

    await send(b" ")
    async with anyio.create_task_group() as keepalive:

        async def ping() -> None:
            while not client_gone:
                await anyio.sleep(interval)
                await send(b" ")

        keepalive.start_soon(ping)
        response = await answer(handler, request, raw_request, offload)
        keepalive.cancel_scope.cancel()
    await send(handler.responses.stream_envelope(response))
