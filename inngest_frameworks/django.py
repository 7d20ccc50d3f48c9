"""Serve Inngest functions from a Django project.

``serve`` returns a URL pattern for ``urls.py``::

    import inngest_frameworks.django

    urlpatterns = [inngest_frameworks.django.serve(client, [hello])]

The view is chosen as the official SDK chooses it: an async view when any
function (or on-failure handler) is async, a sync view otherwise.  Both work
under WSGI and ASGI, since Django adapts a view of the other kind:

* the sync view runs sync functions in the request thread and gives an async
  function an event loop of its own;
* the async view awaits async functions and runs sync ones in worker
  threads (``INNGEST_THREAD_POOL_MAX_WORKERS`` caps them).

The async view needs Django 5 (the first whose ``csrf_exempt`` keeps a view
async); on Django 4 the sync view is used for every app, and async functions
still run, each on its own loop.  The view is CSRF-exempt: Inngest signs its
requests instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import django  # type: ignore[import-untyped,unused-ignore]
import django.http  # type: ignore[import-untyped,unused-ignore]
import django.urls  # type: ignore[import-untyped,unused-ignore]
from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped,unused-ignore]

from inngest_proto import (
    CommHandler,
    Framework,
    Function,
    IncomingRequest,
    Inngest,
    Response,
)
from inngest_transports.serving import (
    Offload,
    answer,
    answer_sync,
    comm_handler,
    incoming,
    route_path,
)

from .wsgi import read_body

__all__ = ["FRAMEWORK", "serve"]

FRAMEWORK = Framework.DJANGO


def serve(
    client: Inngest,
    functions: Sequence[Function[Any]],
    *,
    enable_unauthed_sync: bool | None = None,
    public_path: str | None = None,
    serve_origin: str | None = None,
    serve_path: str | None = None,
    max_body_bytes: int | None = None,
) -> django.urls.URLPattern:
    """A URL pattern serving ``functions`` at the route path.

    Args:
    ----
        client: Inngest client.
        functions: Functions to serve.
        enable_unauthed_sync: Whether unsigned sync PUTs are accepted in cloud
            mode (``INNGEST_ENABLE_UNAUTHED_SYNC`` when None).
        public_path: Path Inngest calls, when a proxy rewrites it.
        serve_origin: Origin advertised at sync (``INNGEST_SERVE_ORIGIN``).
        serve_path: Path served and advertised (``INNGEST_SERVE_PATH``).
        max_body_bytes: Largest request body (32 MiB by default); a larger
            one is answered 413 after reading only one byte past the limit.
            Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MB by default) does
            not apply here: Inngest sends bodies of up to about 4 MB.

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
    any_async = any(
        function.is_handler_async or function.is_on_failure_handler_async
        for function in functions
    )
    if any_async and django.VERSION >= (5, 0):
        view = _async_view(handler, Offload.for_client(client))
    else:
        view = _sync_view(handler)
    # Django routes are written without the leading slash.  Given a view
    # (not an include()), path() builds a URLPattern; Django is untyped, and
    # pyright's inference from its source cannot tell its two cases apart.
    pattern = django.urls.path(route_path(client, serve_path).lstrip("/"), view)
    return cast("django.urls.URLPattern", pattern)


def _sync_view(handler: CommHandler) -> Any:
    def inngest_api(request: django.http.HttpRequest) -> django.http.HttpResponse:
        converted = _incoming(handler, request)
        if isinstance(converted, Response):
            return _to_django(converted)
        return _to_django(answer_sync(handler, converted, request))

    return csrf_exempt(inngest_api)


def _async_view(handler: CommHandler, offload: Offload) -> Any:
    async def inngest_api(
        request: django.http.HttpRequest,
    ) -> django.http.HttpResponse:
        # Under ASGI Django has already spooled the body, so reading it here
        # does not block on the network; under WSGI this loop is the
        # request's own, so blocking it stalls nothing else.
        converted = _incoming(handler, request)
        if isinstance(converted, Response):
            return _to_django(converted)
        return _to_django(await answer(handler, converted, request, offload))

    # Django 5's csrf_exempt keeps an async view async.
    return csrf_exempt(inngest_api)


def _incoming(
    handler: CommHandler, request: django.http.HttpRequest
) -> IncomingRequest | Response:
    # Read through the request's stream rather than ``request.body``, so the
    # limit is max_body_bytes (read one byte past it, then 413) instead of
    # DATA_UPLOAD_MAX_MEMORY_SIZE.  Under ASGI a body may come without a
    # Content-Length; Django's stream then holds exactly the body.
    body = read_body(request, request.META.get("CONTENT_LENGTH"), handler, chunked=True)
    if isinstance(body, Response):
        return body
    if len(body) <= handler.max_body_bytes:
        # ``request.body`` would now raise (the stream has been read); the
        # official SDK's middleware could read it, so keep it readable.
        vars(request)["_body"] = body
    # Django is untyped: pyright infers ``build_absolute_uri()`` as possibly
    # None (it is not, without a location) and cannot see through the
    # cached_property behind ``headers``.
    headers = cast("Mapping[str, str]", request.headers)
    return incoming(
        str(request.method),
        cast("str", request.build_absolute_uri()),
        headers.items(),
        body,
    )


def _to_django(response: Response) -> django.http.HttpResponse:
    return django.http.HttpResponse(
        response.body, status=response.status, headers=response.headers
    )
