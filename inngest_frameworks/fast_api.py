"""FastAPI integration for Inngest: ``serve(app, client, functions)``.

It mounts the generic ASGI endpoint of :mod:`inngest_frameworks.asgi` as a
Starlette route, so FastAPI and plain ASGI share one implementation; the
only difference is that middleware receives a ``fastapi.Request``, as with
the official SDK.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any, cast

import fastapi
from starlette.routing import Route

from inngest_proto import Framework, Function, Inngest, Streaming
from inngest_transports.serving import METHODS

from .asgi import InngestASGI, Scope

__all__ = ["FRAMEWORK", "serve"]

FRAMEWORK = Framework.FAST_API


class _FastAPIEndpoint(InngestASGI):
    def raw_request(self, scope: Scope, body: bytes) -> object:
        # The body was consumed by the endpoint; replay it so middleware
        # calling ``await request.body()`` gets it rather than hanging.
        async def replay() -> MutableMapping[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        # Servers hand the app a plain dict: the scope is mutable at runtime.
        return fastapi.Request(cast("MutableMapping[str, Any]", scope), replay)


def serve(
    app: fastapi.FastAPI,
    client: Inngest,
    functions: Sequence[Function[Any]],
    *,
    enable_unauthed_sync: bool | None = None,
    public_path: str | None = None,
    serve_origin: str | None = None,
    serve_path: str | None = None,
    streaming: Streaming | None = None,
    max_body_bytes: int | None = None,
) -> None:
    """Serve Inngest functions in a FastAPI app.

    Args:
    ----
        app: FastAPI app.
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
    endpoint = _FastAPIEndpoint(
        client,
        functions,
        framework=FRAMEWORK,
        enable_unauthed_sync=enable_unauthed_sync,
        public_path=public_path,
        serve_origin=serve_origin,
        serve_path=serve_path,
        streaming=streaming,
        max_body_bytes=max_body_bytes,
    )
    # A plain Starlette route (what ``app.add_route`` builds, but typed for an
    # ASGI endpoint): an object endpoint is called as an ASGI app, and the
    # route is kept out of the OpenAPI schema.
    app.router.routes.append(
        Route(
            endpoint.path,
            endpoint=endpoint,
            methods=list(METHODS),
            include_in_schema=False,
        )
    )
