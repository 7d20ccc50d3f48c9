"""Serve Inngest functions from a Flask app.

::

    import flask
    import inngest_frameworks.flask

    app = flask.Flask(__name__)
    inngest_frameworks.flask.serve(app, client, [hello])

The view is always a plain (sync) Flask view: sync functions run in the
request thread, and an async function gets an event loop of its own for the
request, so ``flask[async]`` is not needed (the official SDK switches to an
async view when any function is async; the result is the same).  Calls are
never streamed, as in the official SDK.  The body limit is ``max_body_bytes``;
an app's own ``MAX_CONTENT_LENGTH``, when lower, still applies first (Flask
answers its own 413).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flask
from werkzeug.exceptions import ClientDisconnected

from inngest_proto import Framework, Function, Inngest, Response
from inngest_transports.serving import (
    METHODS,
    answer_sync,
    comm_handler,
    incoming,
    route_path,
)

from .wsgi import body_error, read_body

__all__ = ["FRAMEWORK", "serve"]

FRAMEWORK = Framework.FLASK


def serve(
    app: flask.Flask,
    client: Inngest,
    functions: Sequence[Function[Any]],
    *,
    enable_unauthed_sync: bool | None = None,
    public_path: str | None = None,
    serve_origin: str | None = None,
    serve_path: str | None = None,
    max_body_bytes: int | None = None,
) -> None:
    """Serve ``functions`` in ``app`` at the route path (view ``inngest_api``).

    Args:
    ----
        app: Flask app.
        client: Inngest client.
        functions: Functions to serve.
        enable_unauthed_sync: Whether unsigned sync PUTs are accepted in cloud
            mode (``INNGEST_ENABLE_UNAUTHED_SYNC`` when None).
        public_path: Path Inngest calls, when a proxy rewrites it.
        serve_origin: Origin advertised at sync (``INNGEST_SERVE_ORIGIN``).
        serve_path: Path served and advertised (``INNGEST_SERVE_PATH``).
        max_body_bytes: Largest request body (32 MiB by default); a larger
            one is answered 413 after reading only one byte past the limit.

    Misconfiguration (no signing key in production, duplicate ids) raises
    here, when the app starts.
    """
    handler = comm_handler(
        client,
        functions,
        framework=FRAMEWORK,
        enable_unauthed_sync=enable_unauthed_sync,
        public_path=public_path,
        serve_origin=serve_origin,
        serve_path=serve_path,
        max_body_bytes=max_body_bytes,
    )

    def inngest_api() -> flask.Response:
        request = flask.request
        length = request.content_length
        body: bytes | Response
        try:
            if length is not None and length <= handler.max_body_bytes:
                # The usual case: Werkzeug reads exactly Content-Length bytes
                # and caches them, so middleware (given the request, as in the
                # official SDK) and code that read them first see them too.
                body = request.get_data(cache=True)
            else:
                # Announced too large (read one byte past the limit, then the
                # core answers 413) or chunked: never read without a bound.
                body = read_body(request.stream, None, handler, chunked=True)
        except ClientDisconnected:
            # Werkzeug's stream raises when the body ends before its length.
            body = body_error(
                handler,
                "the request body ended before its Content-Length (the client "
                "disconnected?)",
            )
        if isinstance(body, Response):
            return _to_flask(body)
        comm_request = incoming(
            request.method, request.url, request.headers.items(), body
        )
        return _to_flask(answer_sync(handler, comm_request, request))

    # The official SDK's endpoint name, so url_for("inngest_api") keeps working.
    app.add_url_rule(
        route_path(client, serve_path),
        endpoint="inngest_api",
        view_func=inngest_api,
        methods=list(METHODS),
    )


def _to_flask(response: Response) -> flask.Response:
    return flask.Response(
        response=response.body,
        status=response.status,
        headers=list(response.headers.items()),
    )
