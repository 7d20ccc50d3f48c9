"""Tornado integration for Inngest: ``serve(app, client, functions)``.

Adds a request handler for the serve path to a ``tornado.web.Application``.
Tornado runs on asyncio: async functions are awaited on its loop, sync ones
run in worker threads so they never block it.

The body is streamed in (``@stream_request_body``) so the endpoint enforces
its own limit (``max_body_bytes``, 32 MiB by default) and answers 413 with
a JSON error, whatever ``max_body_size`` the HTTP server was given.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Sequence
from typing import Any

import tornado.iostream
import tornado.web
from tornado.http1connection import HTTP1Connection

from inngest_proto import (
    CommHandler,
    Framework,
    Function,
    IncomingRequest,
    Inngest,
    Response,
)
from inngest_transports.serving import (
    KEEPALIVE_INTERVAL_SECONDS,
    METHODS,
    InvalidContentLength,
    Offload,
    answer,
    answer_streaming,
    comm_handler,
    incoming,
    parse_content_length,
    route_path,
    streaming_enabled,
)

__all__ = ["FRAMEWORK", "InngestHandler", "serve"]

FRAMEWORK = Framework.TORNADO


@tornado.web.stream_request_body
class InngestHandler(tornado.web.RequestHandler):
    """The serve endpoint; ``serve()`` routes the serve path here."""

    SUPPORTED_METHODS = METHODS
    #: How often a streamed reply (``INNGEST_STREAMING=force``) sends a space.
    keepalive_interval = KEEPALIVE_INTERVAL_SECONDS

    def initialize(
        self, comm: CommHandler, offload: Offload, streaming: bool = False
    ) -> None:
        self._comm = comm
        self._offload = offload
        self._streaming = streaming
        self._body = bytearray()

    def check_xsrf_cookie(self) -> None:
        # Inngest's requests come from a server, not a browser, and carry no
        # XSRF cookie; they are authenticated by their signature instead.
        return

    async def prepare(self) -> None:
        limit = self._comm.max_body_bytes
        declared = _content_length(self.request.headers.get("Content-Length"))
        connection = self.request.connection
        if isinstance(connection, HTTP1Connection):
            # The limit is ours (a JSON 413); the server's own cap (100 MB, or
            # HTTPServer(max_body_size=...)) must not answer first with a bare
            # 400, nor race our 413 with one.  A chunked body over the limit
            # is cut off in data_received; Tornado then closes the connection.
            connection.set_max_body_size(
                declared if declared is not None else sys.maxsize
            )
        if declared is not None and declared > limit:
            # Answered before reading any of it: one byte over the limit is
            # all the core needs to answer 413 (bytes(n) costs no real memory).
            await self._answer(bytes(limit + 1), complete=False)

    async def data_received(self, chunk: bytes) -> None:
        # Not called once the request is answered: Tornado drops the rest.
        self._body += chunk
        limit = self._comm.max_body_bytes
        if len(self._body) > limit:
            body = bytes(self._body[: limit + 1])
            self._body = bytearray()
            # Answering now makes Tornado drop the rest and close the
            # connection once the 413 is sent.
            await self._answer(body, complete=False)

    async def get(self) -> None:
        await self._answer(bytes(self._body), complete=True)

    async def put(self) -> None:
        await self._answer(bytes(self._body), complete=True)

    async def post(self) -> None:
        await self._answer(bytes(self._body), complete=True)

    async def _answer(self, body: bytes, *, complete: bool) -> None:
        raw = self.request
        # Middleware reads the framework request: give it the body we read.
        raw.body = body
        method = raw.method or "GET"
        request = incoming(method, raw.full_url(), raw.headers.get_all(), body)
        if self._streaming and complete and request.method == "POST":
            await self._stream(request, raw)
            return
        response = await answer(self._comm, request, raw, self._offload)
        self._write(response, close=not complete)

    def _write(self, response: Response, *, close: bool) -> None:
        self.set_status(response.status)
        # set_header replaces Tornado's default text/html Content-Type.
        for name, value in response.headers.items():
            self.set_header(name, value)
        if close:
            self.set_header("Connection", "close")
        self.finish(response.body)

    async def _stream(self, request: IncomingRequest, raw: object) -> None:
        """201 now, spaces while the function runs, then the real response."""
        self.set_status(201)
        for name, value in self._comm.responses.stream_start_headers().items():
            self.set_header(name, value)

        async def send_chunk(chunk: bytes) -> None:
            self.write(chunk)
            # The client left: let the function finish (its steps are
            # durable) rather than cancel it half-way.
            with contextlib.suppress(tornado.iostream.StreamClosedError):
                await self.flush()

        await answer_streaming(
            self._comm,
            request,
            raw,
            send_chunk,
            self._offload,
            interval=self.keepalive_interval,
        )
        self.finish()


def serve(
    app: tornado.web.Application,
    client: Inngest,
    functions: Sequence[Function[Any]],
    *,
    enable_unauthed_sync: bool | None = None,
    public_path: str | None = None,
    serve_origin: str | None = None,
    serve_path: str | None = None,
    max_body_bytes: int | None = None,
) -> None:
    """Serve Inngest functions in a Tornado app.

    Args:
    ----
        app: Tornado app.
        client: Inngest client.
        functions: List of functions to serve.
        enable_unauthed_sync: Whether unsigned sync (PUT) requests are accepted
            in cloud mode; ``INNGEST_ENABLE_UNAUTHED_SYNC`` otherwise.
        public_path: Path Inngest calls, when a proxy rewrites the path.
        serve_origin: Origin advertised at sync (e.g. behind Docker).
        serve_path: Path to serve at, instead of ``/api/inngest``.
        max_body_bytes: Largest request body accepted (32 MiB); larger is 413.
    """
    comm = comm_handler(
        client,
        functions,
        framework=FRAMEWORK,
        enable_unauthed_sync=enable_unauthed_sync,
        public_path=public_path,
        serve_origin=serve_origin,
        serve_path=serve_path,
        max_body_bytes=max_body_bytes,
    )
    options = {
        "comm": comm,
        "offload": Offload.for_client(client),
        # Only from INNGEST_STREAMING: the official serve() has no argument.
        "streaming": streaming_enabled(client, None),
    }
    # Tornado routes by regular expression: the path is matched literally.
    path = re.escape(route_path(client, serve_path))
    app.add_handlers(r".*", [(path, InngestHandler, options)])


def _content_length(value: str | None) -> int | None:
    try:
        return parse_content_length(value)
    except InvalidContentLength:
        return None  # Tornado itself refuses a malformed length
