"""What the framework tests share: an app, real servers on 127.0.0.1, checks.

Every test talks HTTP to a real server (uvicorn, hypercorn or Tornado's
own) listening on an ephemeral port of 127.0.0.1; the server runs its event
loop in a background thread named :data:`SERVER_THREAD`, so a test can tell
whether a function ran on the loop or in a worker thread.  The ``check_*``
functions are the behaviours every framework module must show; each test
module runs every check in :data:`CHECKS` against its own server, as one
test parametrized over the checks (``test_<framework>_host``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
import attrs
import httpx
import pytest

import inngest_proto as inngest
from inngest_proto import OutboundResponse
from tests.fakes import FakeTransport

if TYPE_CHECKING:
    import tornado.web

APP_ID = "fw-app"
PATH = "/api/inngest"
SERVER_THREAD = "test-server-loop"
#: Keepalive interval for streaming tests: several spaces during SLEEP.
KEEPALIVE = 0.05
SLEEP = 0.25
#: A small body limit, so the 413 tests send kilobytes, not 32 MiB.
SMALL_LIMIT = 4096


# --- the app ---------------------------------------------------------------------


def make_client(transport: FakeTransport | None = None, **env: str) -> inngest.Inngest:
    return inngest.Inngest(
        app_id=APP_ID,
        environ={"INNGEST_DEV": "1", **env},
        transport=transport or FakeTransport(),
        logger=logging.getLogger("tests.frameworks"),
    )


def make_functions(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    trigger = inngest.TriggerEvent(event="t/e")

    @client.create_function(fn_id="two-steps", trigger=trigger)
    async def two_steps(ctx: inngest.Context) -> dict[str, Any]:
        first = await ctx.step.run("first", lambda: "A")
        second = await ctx.step.run("second", lambda: first + "B")
        return {"first": first, "second": second}

    @client.create_function(fn_id="where-sync", trigger=trigger)
    def where_sync(ctx: inngest.ContextSync) -> str:
        return threading.current_thread().name

    @client.create_function(fn_id="where-async", trigger=trigger)
    async def where_async(ctx: inngest.Context) -> str:
        return threading.current_thread().name

    @client.create_function(fn_id="sleeper", trigger=trigger)
    async def sleeper(ctx: inngest.Context) -> str:
        await anyio.sleep(SLEEP)  # longer than KEEPALIVE: keepalives are sent
        return "slept"

    return [two_steps, where_sync, where_async, sleeper]


def register_ok() -> FakeTransport:
    """A transport whose one reply is a successful ``/fn/register``."""
    return FakeTransport([OutboundResponse(200, {}, b'{"ok": true, "modified": true}')])


# --- requests --------------------------------------------------------------------


def call_body(steps: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "ctx": {
            "attempt": 0,
            "disable_immediate_execution": False,
            "max_attempts": 4,
            "run_id": "01JRUN",
            "stack": {"current": 0, "stack": list(steps or {})},
            "use_api": False,
        },
        "event": {"data": {}, "id": "01JEVENT", "name": "t/e", "ts": 1},
        "events": [],
        "steps": dict(steps or {}),
        "use_api": False,
        "version": 2,
    }


def call_params(fn: str, step_id: str = "step") -> dict[str, str]:
    return {"fnId": f"{APP_ID}-{fn}", "stepId": step_id}


#: Sent with every call, as the executor sends it: a job id holds the function
#: id, which may be non-ASCII; the value goes out as UTF-8 bytes.
JOB_ID_HEADER = (b"x-inngest-job-id", "\u2603\ufe0f:01JOB".encode())


def call(
    http: httpx.Client, fn: str, steps: dict[str, Any] | None = None
) -> httpx.Response:
    return http.post(
        PATH, params=call_params(fn), json=call_body(steps), headers=[JOB_ID_HEADER]
    )


def run_to_completion(http: httpx.Client, fn: str) -> tuple[Any, int]:
    """Call ``fn`` as the executor would until it returns: (output, calls)."""
    steps: dict[str, Any] = {}
    for calls in range(1, 10):
        resp = call(http, fn, steps)
        if resp.status_code != 206:
            assert resp.status_code == 200, resp.text
            return resp.json(), calls
        for op in resp.json():
            assert op["op"] == "StepRun", op
            steps[op["id"]] = {"data": op["data"]}
    raise AssertionError("the function never finished")


def raw_http(url: str, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; what the server answers before
    closing it.  No half-close: a server may take it for the client leaving."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    with socket.create_connection((parts.hostname, parts.port or 80), 5) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def send_partial_and_close(url: str) -> None:
    """Headers announcing 1000 bytes, 20 of them, then hang up."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    head = (
        f"POST {PATH}?fnId={APP_ID}-two-steps&stepId=step HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port or 80), 5) as sock:
        sock.sendall(head.encode() + b'{"ctx": {"run_id": "')
        time.sleep(0.05)  # let the server start reading the body


# --- servers ---------------------------------------------------------------------


@contextmanager
def uvicorn_server(app: Any, **options: Any) -> Iterator[str]:
    """``app`` on uvicorn (given ``options``), 127.0.0.1, an ephemeral port;
    yields the base URL."""
    uvicorn = pytest.importorskip("uvicorn")
    # log_config=None: uvicorn's own logging config stops propagation, and
    # the tests read its errors through caplog.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        http="h11",
        ws="none",
        log_config=None,
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=SERVER_THREAD, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


@contextmanager
def tornado_server(app: tornado.web.Application, **options: Any) -> Iterator[str]:
    """``app`` on Tornado's HTTPServer (given ``options``) in its own thread."""
    httpserver = pytest.importorskip("tornado.httpserver")
    netutil = pytest.importorskip("tornado.netutil")
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        sockets = netutil.bind_sockets(0, "127.0.0.1")
        server = httpserver.HTTPServer(app, **options)
        server.add_sockets(sockets)
        stop = asyncio.Event()
        state.update(
            port=sockets[0].getsockname()[1], loop=asyncio.get_running_loop(), stop=stop
        )
        ready.set()
        await stop.wait()
        server.stop()
        await server.close_all_connections()

    thread = threading.Thread(
        target=asyncio.run, args=(main(),), name=SERVER_THREAD, daemon=True
    )
    thread.start()
    assert ready.wait(5), "no server"
    try:
        yield f"http://127.0.0.1:{state['port']}"
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(5)


@contextmanager
def client_for(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=5) as http:
        yield http


# --- the checks every framework module passes -------------------------------------


@attrs.frozen
class Host:
    """A framework module serving :func:`make_functions` on a real server."""

    framework: str
    url: str
    http: httpx.Client
    transport: FakeTransport
    #: The test's log capture, for the checks that look at what the server logs.
    logs: pytest.LogCaptureFixture


def check_introspection(http: httpx.Client, framework: str) -> None:
    resp = http.get(PATH)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-inngest-framework"] == framework
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert (body["mode"], body["function_count"]) == ("dev", 4)


def check_two_steps(http: httpx.Client) -> None:
    output, calls = run_to_completion(http, "two-steps")
    assert output == {"first": "A", "second": "AB"}
    assert calls == 3  # one call per step, then the return


def check_threads(host: Host) -> None:
    """Sync functions run in worker threads; async ones on the server's loop."""
    sync_thread = call(host.http, "where-sync").json()
    assert sync_thread != SERVER_THREAD
    assert call(host.http, "where-async").json() == SERVER_THREAD


def check_put_sync(host: Host) -> None:
    resp = host.http.put(PATH)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-inngest-sync-kind"] == "out_of_band"
    (sent,) = host.transport.sent
    assert sent.url.endswith("/fn/register")
    # The app URL advertised is the one this request was sent to.
    assert json.loads(sent.body)["url"] == host.url + PATH


def check_bad_body(host: Host) -> None:
    resp = host.http.post(
        PATH,
        params=call_params("two-steps"),
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 400
    assert resp.json()["code"] == "body_invalid"


def check_wrong_content_type(host: Host) -> None:
    """The core parses the bytes, whatever the content type says."""
    resp = host.http.post(
        PATH,
        params=call_params("where-async"),
        content=json.dumps(call_body()).encode(),
        headers={"content-type": "text/plain"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == SERVER_THREAD


def check_huge_body(host: Host) -> None:
    """Over the limit is 413 JSON, announced or chunked; the server goes on."""
    url = host.url
    big = b"x" * (SMALL_LIMIT * 4)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked
        for start in range(0, len(big), 1024):
            yield big[start : start + 1024]

    for content in (big, chunks()):
        with client_for(url) as fresh:  # the server closes this connection
            resp = fresh.post(PATH, params=call_params("two-steps"), content=content)
        assert resp.status_code == 413, resp.text
        assert resp.json()["code"] == "body_too_large"
    # Announced but never sent: answered from the headers alone.
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {10**12}\r\n\r\n"
    ).encode()
    assert raw_http(url, head).startswith(b"HTTP/1.1 413")
    assert host.http.get(PATH).status_code == 200


def check_disconnect(host: Host) -> None:
    """A client leaving mid-body: no answer, no traceback, the server goes on."""
    caplog = host.logs
    with caplog.at_level(logging.WARNING):
        send_partial_and_close(host.url)
        check_two_steps(host.http)
        time.sleep(0.05)  # the server notices the hang-up asynchronously
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def check_unknown_path(host: Host) -> None:
    resp = host.http.get("/elsewhere")
    assert resp.status_code == 404
    assert "x-inngest-sdk" not in resp.headers


def check_streaming(http: httpx.Client, framework: str) -> None:
    """201, spaces while the function sleeps, then the wrapped response."""
    resp = http.post(PATH, params=call_params("sleeper"), json=call_body())
    assert resp.status_code == 201
    assert resp.headers["x-inngest-framework"] == framework
    text = resp.text
    stripped = text.lstrip(" ")
    # One space at once, then at least one keepalive during the sleep.
    assert len(text) - len(stripped) >= 2, repr(text)
    envelope = json.loads(stripped)
    assert envelope["status"] == 200
    assert json.loads(envelope["body"]) == "slept"
    assert envelope["headers"]["x-inngest-framework"] == framework
    # Steps and GET are not streamed: only the final call is wrapped.
    output, _ = run_to_completion_streamed(http, "two-steps")
    assert output == {"first": "A", "second": "AB"}
    assert http.get(PATH).status_code == 200


def run_to_completion_streamed(http: httpx.Client, fn: str) -> tuple[Any, int]:
    steps: dict[str, Any] = {}
    for calls in range(1, 10):
        resp = call(http, fn, steps)
        assert resp.status_code == 201, resp.text
        envelope = json.loads(resp.text)
        body = json.loads(envelope["body"])
        if envelope["status"] != 206:
            assert envelope["status"] == 200, envelope
            return body, calls
        for op in body:
            steps[op["id"]] = {"data": op["data"]}
    raise AssertionError("the function never finished")


CHECKS: dict[str, Callable[[Host], None]] = {
    "introspection": lambda host: check_introspection(host.http, host.framework),
    "two steps": lambda host: check_two_steps(host.http),
    "threads": check_threads,
    "put sync": check_put_sync,
    "bad body": check_bad_body,
    "wrong content type": check_wrong_content_type,
    "huge body": check_huge_body,
    "client leaves mid-body": check_disconnect,
    "unknown path": check_unknown_path,
}
