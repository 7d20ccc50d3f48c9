"""What every sync host (WSGI, Flask, Django) must do, over real HTTP.

Each test module starts its host on ``127.0.0.1:0`` in a background thread
(:func:`running`), describes it with a :class:`Served`, and runs every
check in :data:`CHECKS` against it: introspection, a two-step run to
completion (sync and async function), sync, bad and huge bodies, content
types, a client leaving mid-body, and unknown paths and methods.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol
from urllib.parse import urlsplit

import attrs
import httpx
from werkzeug.serving import WSGIRequestHandler

import inngest_proto as inngest
from tests.fakes import FakeTransport
from tests.inngest_proto._comm_helpers import (
    APP_ID,
    FIRST,
    NOW,
    SECOND,
    call_body,
    make_client,
    make_functions,
)

#: ``max_body_bytes`` of every host under test: small, so 413 is cheap.
LIMIT = 4096
SERVE_PATH = "/api/inngest"
TIMEOUT = 5.0


def make_app() -> tuple[inngest.Inngest, list[inngest.Function[Any]], FakeTransport]:
    """A dev-mode client (fake transport) and its five functions."""
    transport = FakeTransport(now=NOW)
    client = make_client("dev", transport=transport)
    return client, make_functions(client), transport


@attrs.frozen
class Served:
    """A running host: where it answers, and how it answers what is not ours."""

    url: str  # the endpoint, e.g. http://127.0.0.1:5000/api/inngest
    transport: FakeTransport
    framework: str
    http: httpx.Client
    function_count: int = 5
    #: Whether a 404 elsewhere is the host's JSON (or the framework's HTML).
    json_404: bool = False
    #: Whether a 405 is the core's JSON (or the framework's HTML).
    json_405: bool = False


# --- servers ------------------------------------------------------------------


class _Server(Protocol):
    server_port: int

    def serve_forever(self, poll_interval: float = ...) -> None: ...
    def shutdown(self) -> None: ...
    def server_close(self) -> None: ...


@contextlib.contextmanager
def running(server: _Server) -> Iterator[tuple[str, httpx.Client]]:
    """Serve in a daemon thread; yields ``http://127.0.0.1:<port>`` and a client.

    One client per server: making one builds an SSL context, which costs more
    than the requests of a whole check.
    """
    thread = threading.Thread(
        # A short poll, so shutdown() returns at once.
        target=server.serve_forever,
        kwargs={"poll_interval": 0.01},
        daemon=True,
    )
    thread.start()
    try:
        with httpx.Client(timeout=TIMEOUT) as http:
            yield f"http://127.0.0.1:{server.server_port}", http
    finally:
        server.shutdown()
        thread.join(TIMEOUT)
        server.server_close()


class QuietWerkzeugHandler(WSGIRequestHandler):
    """Werkzeug's dev server without a log line per request."""

    def log(self, type: str, message: str, *args: Any) -> None:
        pass


# --- requests -----------------------------------------------------------------


def post_call(
    served: Served,
    fn: str,
    steps: dict[str, Any] | None = None,
    *,
    content_type: str = "application/json",
) -> httpx.Response:
    body = json.dumps(call_body(steps=steps)).encode()
    return served.http.post(
        served.url,
        params={"fnId": f"{APP_ID}-{fn}", "stepId": "step"},
        content=body,
        # As the executor sends it: a job id holds the function id, which
        # may be non-ASCII; the value goes out as UTF-8 bytes.
        headers=[
            (b"content-type", content_type.encode()),
            (b"x-inngest-job-id", "\u2603\ufe0f:01JOB".encode()),
        ],
    )


def raw_exchange(served: Served, data: bytes, *, half_close: bool) -> tuple[int, Any]:
    """Send ``data`` on a fresh connection and read the reply to its end.

    ``half_close`` shuts our sending side after ``data``, as a client that
    goes away mid-body does, while still reading the answer.  Returns the
    status and the JSON body.
    """
    parts = urlsplit(served.url)
    assert parts.hostname == "127.0.0.1"
    with socket.create_connection(
        (parts.hostname, parts.port or 80), timeout=TIMEOUT
    ) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def request_head(served: Served, method: str, content_length: int) -> bytes:
    path = urlsplit(served.url).path
    port = urlsplit(served.url).port
    return (
        f"{method} {path}?fnId={APP_ID}-steps-sync&stepId=step HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {content_length}\r\n\r\n"
    ).encode()


# --- assertions ---------------------------------------------------------------


def assert_sdk_response(served: Served, resp: httpx.Response, status: int) -> Any:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-inngest-framework"] == served.framework
    assert resp.headers["x-inngest-sdk-handled"] == "true"
    return resp.json()


def assert_alive(served: Served) -> None:
    """The server still answers after whatever the check did to it."""
    body = assert_sdk_response(served, served.http.get(served.url), 200)
    assert body["function_count"] == served.function_count


# --- the checks ---------------------------------------------------------------


def check_introspection(served: Served) -> None:
    resp = served.http.get(served.url)
    body = assert_sdk_response(served, resp, 200)
    assert body["mode"] == "dev"
    assert body["function_count"] == served.function_count
    assert resp.headers["x-inngest-expected-server-kind"] == "dev"


def run_to_completion(served: Served, fn: str) -> None:
    """Three calls, as the executor makes them: step one, step two, done."""
    ops = assert_sdk_response(served, post_call(served, fn), 206)
    assert [(op["op"], op["id"], op["data"]) for op in ops] == [("StepRun", FIRST, "A")]
    ops = assert_sdk_response(
        served, post_call(served, fn, {FIRST: {"data": "A"}}), 206
    )
    assert [(op["op"], op["id"], op["data"]) for op in ops] == [
        ("StepRun", SECOND, "B")
    ]
    memos = {FIRST: {"data": "A"}, SECOND: {"data": "B"}}
    output = assert_sdk_response(served, post_call(served, fn, memos), 200)
    assert output == {"first": "A", "second": "B"}


def check_sync_function_run(served: Served) -> None:
    run_to_completion(served, "steps-sync")


def check_async_function_run(served: Served) -> None:
    run_to_completion(served, "steps-async")


def check_failing_function(served: Served) -> None:
    resp = post_call(served, "fails-sync")
    assert_sdk_response(served, resp, 500)
    assert resp.headers["x-inngest-no-retry"] == "true"


def check_put_sync(served: Served) -> None:
    served.transport.queue(inngest.OutboundResponse(200, {}, b'{"ok": true}'))
    resp = served.http.put(served.url)
    assert_sdk_response(served, resp, 200)
    # The URL advertised to the Dev Server is the one the request came to.
    registered = json.loads(served.transport.sent[-1].body)
    assert registered["url"] == served.url
    assert registered["framework"] == served.framework
    assert len(registered["functions"]) == served.function_count


def check_bad_body(served: Served) -> None:
    resp = served.http.post(
        served.url,
        params={"fnId": f"{APP_ID}-steps-sync"},
        content=b'{"event": ',
    )
    body = assert_sdk_response(served, resp, 400)
    assert body["code"] == "body_invalid"


def check_body_limit(served: Served) -> None:
    # At the limit the body is read and parsed (here: not JSON, so 400) ...
    params = {"fnId": f"{APP_ID}-steps-sync"}
    at_limit = served.http.post(served.url, params=params, content=b"x" * LIMIT)
    assert assert_sdk_response(served, at_limit, 400)["code"] == "body_invalid"
    # ... one byte more is refused before parsing.
    over = served.http.post(served.url, params=params, content=b"x" * (LIMIT + 1))
    assert assert_sdk_response(served, over, 413)["code"] == "body_too_large"
    # A body announced as 1 GB: the host reads one byte past the limit and
    # answers, instead of waiting for (and buffering) the rest.
    data = request_head(served, "POST", 1 << 30) + b"x" * (LIMIT + 1)
    status, body = raw_exchange(served, data, half_close=False)
    assert (status, body["code"]) == (413, "body_too_large")
    assert_alive(served)


def check_content_types(served: Served) -> None:
    # The core reads the bytes whatever the label; the host must not consume
    # them as a form first.
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        resp = post_call(served, "steps-sync", content_type=content_type)
        assert_sdk_response(served, resp, 206)


def check_client_leaves_mid_body(served: Served) -> None:
    partial = request_head(served, "POST", 1000) + b'{"event": {'
    status, body = raw_exchange(served, partial, half_close=True)
    assert (status, body["code"]) == (400, "body_invalid")
    assert "client disconnected" in body["message"]
    assert_alive(served)
    # Gone for good, without reading the answer.
    parts = urlsplit(served.url)
    with socket.create_connection((parts.hostname, parts.port or 80)) as sock:
        sock.sendall(partial)
    assert_alive(served)


def check_unknown_path_and_method(served: Served) -> None:
    base = served.url.removesuffix(SERVE_PATH)
    missing = served.http.get(base + "/elsewhere")
    assert missing.status_code == 404
    if served.json_404:
        assert missing.json()["code"] == "not_found"
        assert SERVE_PATH in missing.json()["message"]
    refused = served.http.delete(served.url)
    assert refused.status_code == 405
    if served.json_405:
        assert refused.json()["code"] == "method_not_allowed"
        assert refused.headers["allow"] == "GET, PUT, POST"


CHECKS: dict[str, Callable[[Served], None]] = {
    "introspection": check_introspection,
    "sync function": check_sync_function_run,
    "async function": check_async_function_run,
    "failing function": check_failing_function,
    "put sync": check_put_sync,
    "bad body": check_bad_body,
    "body limit": check_body_limit,
    "content types": check_content_types,
    "client leaves mid-body": check_client_leaves_mid_body,
    "unknown path and method": check_unknown_path_and_method,
}
