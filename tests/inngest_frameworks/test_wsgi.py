"""``inngest_frameworks.wsgi``: the shared checks on two WSGI servers, then
the environ handling (URL, Content-Length, short reads) called directly.

On the stdlib server the app runs under ``wsgiref.validate``, so every
request also checks PEP 3333 conformance; Werkzeug's server is threaded.
"""

from __future__ import annotations

import io
import json
import wsgiref.simple_server
import wsgiref.validate
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

import inngest_proto as inngest
from inngest_frameworks import wsgi
from tests.fakes import FakeTransport
from tests.inngest_frameworks._sync_hosts import (
    CHECKS,
    LIMIT,
    SERVE_PATH,
    QuietWerkzeugHandler,
    Served,
    make_app,
    running,
)
from tests.inngest_proto._comm_helpers import APP_ID, call_body, make_client


class _QuietWsgirefHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module", params=["wsgiref", "werkzeug"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    client, functions, transport = make_app()
    app = wsgi.serve(client, functions, max_body_bytes=LIMIT)
    if request.param == "wsgiref":
        server: Any = wsgiref.simple_server.make_server(
            "127.0.0.1",
            0,
            wsgiref.validate.validator(app),
            handler_class=_QuietWsgirefHandler,
        )
    else:
        server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=QuietWerkzeugHandler
        )
    with running(server) as (base, http):
        yield Served(
            base + SERVE_PATH, transport, "wsgi", http, json_404=True, json_405=True
        )


@pytest.mark.parametrize("check", list(CHECKS))
def test_wsgi_host(served: Served, check: str) -> None:
    CHECKS[check](served)


# --- the environ, called directly ---------------------------------------------


def _environ(
    method: str = "POST",
    body: bytes = b"",
    *,
    path: str = SERVE_PATH,
    query: str = "",
    content_length: str | None = "auto",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "app.test",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "app.test:8000",
        "CONTENT_TYPE": "application/json",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
    }
    if content_length == "auto":
        content_length = str(len(body))
    if content_length is not None:
        environ["CONTENT_LENGTH"] = content_length
    environ.update(extra or {})
    return environ


def _call(
    app: wsgi.WSGIApp, environ: dict[str, Any]
) -> tuple[int, dict[str, str], Any]:
    started: list[Any] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None, /
    ) -> Callable[[bytes], object]:
        started.extend([status, headers])
        return lambda data: None

    body = b"".join(app(environ, start_response))
    status, headers = started
    header_map = dict(headers)
    assert header_map["content-length"] == str(len(body))
    return int(status.split()[0]), header_map, json.loads(body) if body else None


def _app(**kwargs: Any) -> tuple[wsgi.WSGIApp, FakeTransport]:
    client, functions, transport = make_app()
    return wsgi.serve(client, functions, max_body_bytes=LIMIT, **kwargs), transport


def _call_query() -> str:
    return f"fnId={APP_ID}-steps-sync&stepId=step"


@pytest.mark.parametrize(
    ("extra", "url"),
    [
        ({}, "http://app.test:8000/api/inngest"),
        ({"HTTP_HOST": ""}, "http://app.test:8000/api/inngest"),
        (
            {"HTTP_HOST": "", "SERVER_PORT": "80"},
            "http://app.test/api/inngest",
        ),
        (
            {"HTTP_HOST": "", "SERVER_PORT": "443", "wsgi.url_scheme": "https"},
            "https://app.test/api/inngest",
        ),
        (
            {"HTTP_HOST": "", "SERVER_PORT": "80", "wsgi.url_scheme": "https"},
            "https://app.test:80/api/inngest",
        ),
        ({"SCRIPT_NAME": "/mounted"}, "http://app.test:8000/mounted/api/inngest"),
        # Native strings: the path's UTF-8 bytes, decoded as latin-1.
        (
            {"SCRIPT_NAME": "/caf\u00c3\u00a9 x"},
            "http://app.test:8000/caf%C3%A9%20x/api/inngest",
        ),
        ({"QUERY_STRING": "a=1&b=2"}, "http://app.test:8000/api/inngest?a=1&b=2"),
    ],
)
def test_the_url_is_rebuilt_from_the_environ(extra: dict[str, str], url: str) -> None:
    assert wsgi.request_url(_environ(extra=extra)) == url


def test_the_synced_url_includes_the_mount_point() -> None:
    app, transport = _app()
    transport.queue(inngest.OutboundResponse(200, {}, b'{"ok": true}'))
    status, _, _ = _call(app, _environ("PUT", extra={"SCRIPT_NAME": "/mounted"}))
    assert status == 200
    assert (
        json.loads(transport.sent[-1].body)["url"]
        == "http://app.test:8000/mounted/api/inngest"
    )


@pytest.mark.parametrize("path", [SERVE_PATH, SERVE_PATH + "/"])
def test_the_route_matches_path_info_with_or_without_a_slash(path: str) -> None:
    app, _ = _app()
    assert _call(app, _environ("GET", path=path))[0] == 200


def test_a_custom_serve_path() -> None:
    app, _ = _app(serve_path="/inngest")
    assert _call(app, _environ("GET", path="/inngest"))[0] == 200
    status, headers, body = _call(app, _environ("GET"))
    assert (status, body["code"]) == (404, "not_found")
    assert "/inngest" in body["message"]
    # Not the SDK's endpoint: none of its headers.
    assert not any(name.startswith("x-inngest") for name in headers)


def test_a_complete_call() -> None:
    app, _ = _app()
    body = json.dumps(call_body()).encode()
    status, headers, ops = _call(app, _environ(body=body, query=_call_query()))
    assert status == 206
    assert ops[0]["op"] == "StepRun"
    assert headers["x-inngest-framework"] == "wsgi"


@pytest.mark.parametrize("value", ["abc", "-1", "+5", "1_0", "1.5", "\u0661"])
def test_an_invalid_content_length_is_400(value: str) -> None:
    app, _ = _app()
    status, _, body = _call(app, _environ(body=b"{}", content_length=value))
    assert (status, body["code"]) == (400, "body_invalid")
    assert "Content-Length" in body["message"]


@pytest.mark.parametrize("value", [None, ""])
def test_no_content_length_means_no_body(value: str | None) -> None:
    app, _ = _app()
    body = json.dumps(call_body()).encode()
    status, _, answer = _call(
        app, _environ(body=body, query=_call_query(), content_length=value)
    )
    assert (status, answer["code"]) == (400, "body_invalid")
    assert "no body" in answer["message"]


def test_a_dechunked_body_is_read_to_its_end() -> None:
    app, _ = _app()
    body = json.dumps(call_body()).encode()
    environ = _environ(
        body=body,
        query=_call_query(),
        content_length=None,
        extra={"wsgi.input_terminated": True},
    )
    assert _call(app, environ)[0] == 206
    # ... but never past the limit.
    environ = _environ(
        body=b"x" * (LIMIT * 3),
        content_length=None,
        extra={"wsgi.input_terminated": True},
    )
    stream = environ["wsgi.input"]
    status, _, answer = _call(app, environ)
    assert (status, answer["code"]) == (413, "body_too_large")
    assert stream.tell() == LIMIT + 1


class _Trickle(io.RawIOBase):
    """A stream returning one byte per read, as PEP 3333 allows."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(1)


class _Broken(io.RawIOBase):
    def read(self, size: int = -1) -> bytes:
        raise ConnectionResetError("reset by peer")


def test_short_reads_are_assembled() -> None:
    app, _ = _app()
    body = json.dumps(call_body()).encode()
    environ = _environ(
        body=body, query=_call_query(), extra={"wsgi.input": _Trickle(body)}
    )
    assert _call(app, environ)[0] == 206


def test_a_reset_connection_is_a_clean_400() -> None:
    app, _ = _app()
    environ = _environ(body=b"{}", extra={"wsgi.input": _Broken()})
    status, _, body = _call(app, environ)
    assert (status, body["code"]) == (400, "body_invalid")
    assert "ended after 0 of its 2 bytes" in body["message"]


def test_other_methods_are_refused_without_reading_the_body() -> None:
    app, _ = _app()
    environ = _environ("PATCH", body=b"x" * 100)
    status, headers, body = _call(app, environ)
    assert (status, body["code"]) == (405, "method_not_allowed")
    assert headers["allow"] == "GET, PUT, POST"
    assert environ["wsgi.input"].tell() == 0


def test_misconfiguration_raises_at_serve() -> None:
    client = make_client("cloud", env={})
    with pytest.raises(inngest.InngestError, match="signing key"):
        wsgi.serve(client, [])


def test_repr_names_the_route() -> None:
    app, _ = _app()
    assert repr(app) == "<inngest WSGIApp at /api/inngest>"
