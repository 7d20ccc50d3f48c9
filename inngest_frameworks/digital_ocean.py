"""Serve Inngest functions from a DigitalOcean Function.

``serve`` returns the function's ``main``::

    import inngest_frameworks.digital_ocean

    main = inngest_frameworks.digital_ocean.serve(client, [hello])

The function must be a raw web function (``web: raw`` in ``project.yml``):
DigitalOcean then passes the request untouched in ``event["http"]``
(``method``, ``headers``, ``queryString``, ``body``, base64-encoded when
``isBase64Encoded``) instead of merging the JSON body into the event.  The
answer is ``{"statusCode", "headers", "body"}`` with the body as the exact
JSON text the SDK produced, so a response signature still matches it.
Calls are never streamed, as in the official SDK.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypedDict

from inngest_proto import Framework, Function, IncomingRequest, Inngest, Response
from inngest_proto.errors import BodyInvalidError
from inngest_transports.serving import answer_sync, comm_handler, incoming

__all__ = ["FRAMEWORK", "serve"]

FRAMEWORK = Framework.DIGITAL_OCEAN

#: DigitalOcean's prefix for web functions; ``context.function_name`` follows it.
_WEB_PREFIX = "/api/v1/web"

_RAW_HINT = 'have you set "web: raw" for the function in project.yml?'


class _Context(Protocol):
    """The part of DigitalOcean's ``context`` the SDK reads (read-only)."""

    @property
    def api_host(self) -> str:
        """E.g. "https://faas-nyc1-2ef2e6cc.doserverless.co"."""
        ...

    @property
    def function_name(self) -> str:
        """E.g. "/fn-b094417f/sample/hello"."""
        ...


class _Response(TypedDict):
    body: str
    headers: dict[str, str]
    statusCode: int  # DigitalOcean's key


def serve(
    client: Inngest,
    functions: Sequence[Function[Any]],
    *,
    enable_unauthed_sync: bool | None = None,
    public_path: str | None = None,
    serve_origin: str | None = None,
    serve_path: str | None = None,
    max_body_bytes: int | None = None,
) -> Callable[[dict[str, object], _Context], _Response]:
    """The ``main(event, context)`` of a DigitalOcean Function serving ``functions``.

    Args:
    ----
        client: Inngest client.
        functions: Functions to serve.
        enable_unauthed_sync: Whether unsigned sync PUTs are accepted in cloud
            mode (``INNGEST_ENABLE_UNAUTHED_SYNC`` when None).
        public_path: Path Inngest calls, when a proxy rewrites it.
        serve_origin: Origin advertised at sync (``INNGEST_SERVE_ORIGIN``).
        serve_path: Path advertised at sync (``INNGEST_SERVE_PATH``).
        max_body_bytes: Largest request body (32 MiB by default); a larger
            one is answered 413.

    Misconfiguration (no signing key in production, duplicate ids) raises
    here, when the function is loaded.
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

    def main(event: dict[str, object], context: _Context) -> _Response:
        converted = _incoming(event, context)
        if isinstance(converted, str):
            response = handler.responses.error(
                BodyInvalidError(converted), signing_key=None, now=time.time()
            )
        else:
            raw_request = {"context": context, "event": event}
            response = answer_sync(handler, converted, raw_request)
        return _to_digital_ocean(response)

    return main


def _incoming(event: object, context: _Context) -> IncomingRequest | str:
    """The request in ``event``, or why there is none (answered 400)."""
    http = event.get("http") if isinstance(event, Mapping) else None
    if not isinstance(http, Mapping):
        return f'the event has no "http" object; {_RAW_HINT}'
    method, headers, query = (
        http.get("method"),
        http.get("headers"),
        http.get("queryString"),
    )
    if not isinstance(method, str) or not method:
        return 'event.http has no "method"'
    if not isinstance(headers, Mapping):
        return f'event.http has no "headers" object; {_RAW_HINT}'
    if query is None:
        return f'event.http has no "queryString"; {_RAW_HINT}'
    body = _body(http, method)
    if isinstance(body, str):
        return body
    # DigitalOcean does not pass the URL it was called at.  Build it as the
    # official SDK does, from the host and the function's name after the web
    # prefix; ``http.path`` is only what follows the function's name.
    api_host = str(getattr(context, "api_host", "")).rstrip("/")
    name = str(getattr(context, "function_name", ""))
    url = f"{api_host}{_WEB_PREFIX}/{name.lstrip('/')}"
    if query:
        url = f"{url}?{query}"
    return incoming(
        method,
        url,
        [(str(key), str(value)) for key, value in headers.items()],
        body,
    )


def _body(http: Mapping[str, Any], method: str) -> bytes | str:
    """The body bytes, or why they cannot be had."""
    raw = http.get("body")
    if raw is None:
        # Without "web: raw" a JSON body is merged into the event instead.
        return f'event.http has no "body"; {_RAW_HINT}' if method == "POST" else b""
    if not isinstance(raw, str):
        return f"event.http.body is a {type(raw).__name__}, not a string; {_RAW_HINT}"
    if http.get("isBase64Encoded"):
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return "event.http.body is marked isBase64Encoded but is not base64"
    return raw.encode("utf-8", "surrogatepass")


def _to_digital_ocean(response: Response) -> _Response:
    return {
        # The SDK's JSON is UTF-8; a string body is sent as is.
        "body": response.body.decode("utf-8", "replace"),
        "headers": dict(response.headers),
        "statusCode": response.status,
    }
