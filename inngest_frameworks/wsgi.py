"""Serve Inngest functions from any WSGI server (gunicorn, uWSGI, mod_wsgi, ...).

::

    import inngest_frameworks.wsgi

    application = inngest_frameworks.wsgi.serve(client, [hello])

The application answers GET, PUT and POST at the route path (``serve_path``,
``INNGEST_SERVE_PATH`` or ``/api/inngest``, matched against ``PATH_INFO``,
with or without a trailing slash) and a JSON 404 elsewhere, so it can also
sit behind a dispatcher.  Sync functions run in the server's request thread;
an async function gets an event loop of its own for the request.

:func:`read_body` and :func:`body_error` are shared with the Flask and Django
modules, which host WSGI requests too.
"""

from __future__ import annotations

import http
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from inngest_proto import CommHandler, Framework, Function, Inngest, Response
from inngest_proto.errors import BodyInvalidError
from inngest_transports.serving import (
    METHODS,
    InvalidContentLength,
    answer_sync,
    comm_handler,
    incoming,
    not_found,
    parse_content_length,
    route_path,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["FRAMEWORK", "WSGIApp", "serve"]

FRAMEWORK = Framework.WSGI

#: Bytes asked of the input stream per read: bounded, so a bogus Content-Length
#: never makes us allocate its size up front.
_CHUNK = 64 * 1024


def serve(
    client: Inngest,
    functions: Sequence[Function[Any]],
    *,
    enable_unauthed_sync: bool | None = None,
    public_path: str | None = None,
    serve_origin: str | None = None,
    serve_path: str | None = None,
    max_body_bytes: int | None = None,
) -> WSGIApp:
    """A WSGI application serving ``functions`` at the route path.

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
    return WSGIApp(handler, route_path(client, serve_path))


class WSGIApp:
    """The WSGI application :func:`serve` returns (PEP 3333)."""

    def __init__(self, handler: CommHandler, path: str) -> None:
        self._handler = handler
        self._path = path

    def __repr__(self) -> str:
        return f"<inngest WSGIApp at {self._path}>"

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if not _same_path(str(environ.get("PATH_INFO", "")), self._path):
            return _send(start_response, not_found(self._path))
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        body: bytes | Response = b""
        if method in METHODS:
            # Other methods get the core's 405 without their body being read.
            body = read_body(
                environ["wsgi.input"],
                environ.get("CONTENT_LENGTH"),
                self._handler,
                chunked=bool(environ.get("wsgi.input_terminated")),
            )
        if isinstance(body, Response):
            return _send(start_response, body)
        request = incoming(method, request_url(environ), _headers(environ), body)
        return _send(start_response, answer_sync(self._handler, request, environ))


# --- reading the request ------------------------------------------------------


def read_body(
    stream: Any,
    content_length: str | int | None,
    handler: CommHandler,
    *,
    chunked: bool = False,
) -> bytes | Response:
    """The body, or a 400 to send when it cannot be read whole.

    At most ``handler.max_body_bytes + 1`` bytes are read: a body announced
    (or streamed) larger than the limit is cut there and the core answers
    413, without the host reading the rest.  Without a Content-Length the
    body is empty, unless the server has de-chunked the input (``chunked``,
    PEP 3333's ``wsgi.input_terminated``), which is then read to its end.  A
    stream ending early (the client went away) is a 400, not a partial body
    parsed as if it were whole.
    """
    limit = handler.max_body_bytes + 1
    try:
        declared = parse_content_length(content_length)
    except InvalidContentLength as err:
        return body_error(handler, f"{err}, so the body's end is unknown")
    if declared is None and not chunked:
        return b""
    wanted = limit if declared is None else min(declared, limit)
    chunks: list[bytes] = []
    got = 0
    while got < wanted:
        # One read may return less than asked (PEP 3333 allows it): loop
        # until the count is reached or the stream says there is no more.
        try:
            chunk = stream.read(min(_CHUNK, wanted - got))
        except OSError:  # a reset connection, or uWSGI's read error
            chunk = b""
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    if declared is not None and got < wanted:
        return body_error(
            handler,
            f"the request body ended after {got} of its {declared} bytes (the "
            "client disconnected?)",
        )
    return b"".join(chunks)


def body_error(handler: CommHandler, message: str) -> Response:
    """A 400 ``body_invalid`` JSON answer, with the SDK headers."""
    return handler.responses.error(
        BodyInvalidError(message), signing_key=None, now=time.time()
    )


def request_url(environ: WSGIEnvironment) -> str:
    """The absolute URL of the request, rebuilt as PEP 3333 describes."""
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    host = environ.get("HTTP_HOST")
    if not host:
        host = str(environ.get("SERVER_NAME", ""))
        port = str(environ.get("SERVER_PORT", ""))
        if port and port != ("443" if scheme == "https" else "80"):
            host = f"{host}:{port}"
    path = _quote_path(environ.get("SCRIPT_NAME", "")) + _quote_path(
        environ.get("PATH_INFO", "")
    )
    query = environ.get("QUERY_STRING", "")
    return f"{scheme}://{host}{path}" + (f"?{query}" if query else "")


def _quote_path(value: str) -> str:
    # WSGI paths are bytes decoded as latin-1 (PEP 3333 "native strings");
    # encode them back before quoting.  A server that broke the rule with
    # wider characters gets UTF-8.
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raw = value.encode("utf-8")
    return quote(raw, safe="/;=,:@!$&'()*+~")


def _headers(environ: WSGIEnvironment) -> list[tuple[str, str]]:
    headers = [
        (key[5:].replace("_", "-"), str(value))
        for key, value in environ.items()
        if key.startswith("HTTP_")
    ]
    # CGI keeps these two out of the HTTP_ namespace.
    for key, name in (
        ("CONTENT_TYPE", "content-type"),
        ("CONTENT_LENGTH", "content-length"),
    ):
        if environ.get(key):
            headers.append((name, str(environ[key])))
    return headers


# --- writing the response -----------------------------------------------------


def _status_line(status: int) -> str:
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _send(start_response: StartResponse, response: Response) -> list[bytes]:
    headers = [*response.headers.items(), ("content-length", str(len(response.body)))]
    start_response(_status_line(response.status), headers)
    return [response.body]


def _same_path(path: str, route: str) -> bool:
    # A trailing slash is not a different endpoint to a proxy or a user.
    return (path.rstrip("/") or "/") == (route.rstrip("/") or "/")
