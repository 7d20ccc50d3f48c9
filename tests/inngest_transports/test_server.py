"""The h11 server: HTTP/1.1 on the wire, on asyncio and trio.

Each test starts a server on 127.0.0.1, port 0, and talks to it with httpx
or, for what a client library would hide (keep-alive, framing, bad or
stalled requests), with a raw socket and an h11 client.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import h11
import httpx
import pytest

import inngest_proto as inngest
from inngest_proto.functions import hash_step_id
from inngest_transports.server import FRAMEWORK, Server
from tests.inngest_transports._framing import Abuse, abuses, assert_refused, exchange

APP = "srv"
PATH = "/api/inngest"
FIRST, SECOND = hash_step_id("first"), hash_step_id("second")


class Gate:
    """Lets a test hold a function mid-run: ``entered`` then ``release``."""

    def __init__(self) -> None:
        self.entered = anyio.Event()
        self.release = anyio.Event()


def make_server(gate: Gate | None = None, **options: Any) -> Server:
    client = inngest.Inngest(
        app_id=APP,
        environ={"INNGEST_DEV": "1"},
        logger=logging.getLogger("tests.server"),
    )
    on_main_thread: list[bool] = []

    @client.create_function(fn_id="steps", trigger=inngest.TriggerEvent(event="e"))
    def steps(ctx: inngest.ContextSync) -> dict[str, Any]:
        on_main_thread.append(threading.current_thread() is threading.main_thread())
        first = ctx.step.run("first", lambda: "A")
        second = ctx.step.run("second", lambda: "B")
        return {"first": first, "second": second, "main": any(on_main_thread)}

    @client.create_function(fn_id="gated", trigger=inngest.TriggerEvent(event="e"))
    async def gated(ctx: inngest.Context) -> str:
        assert gate is not None
        gate.entered.set()
        await gate.release.wait()
        return "done"

    options.setdefault("port", 0)
    return Server(client, [steps, gated], **options)


def call(fn: str, steps: dict[str, Any] | None = None) -> tuple[str, bytes]:
    body = {
        "ctx": {"run_id": "r", "attempt": 0, "stack": {"stack": list(steps or {})}},
        "event": {"name": "e", "data": {}},
        "events": [],
        "steps": steps or {},
    }
    return f"{PATH}?fnId={APP}-{fn}&stepId=step", json.dumps(body).encode()


def post_bytes(target: str, body: bytes, *, length: int | None = None) -> bytes:
    """A raw POST; ``length`` announces another size than the body's."""
    size = len(body) if length is None else length
    head = f"POST {target} HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\n\r\n"
    return head.encode() + body


@asynccontextmanager
async def running(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with anyio.create_task_group() as tg:
        host, port = await tg.start(server.serve)
        try:
            async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as http:
                yield http
        finally:
            await server.shutdown()


class Raw:
    """A raw connection, with an h11 client to frame requests and responses."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)

    async def request(
        self, method: str, target: str, *headers: tuple[str, str], body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        if self.h11.our_state is h11.DONE:
            self.h11.start_next_cycle()
        all_headers = [("host", "test"), *headers]
        if body:
            all_headers.append(("content-length", str(len(body))))
        events: list[h11.Event] = [
            h11.Request(method=method, target=target, headers=all_headers),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ]
        await self.stream.send(b"".join(self.h11.send(e) or b"" for e in events))
        return await self.response()

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = 0, {}, b""
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(await receive(self.stream))
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return status, headers, body

    async def read_to_eof(self) -> bytes:
        data = b""
        with anyio.fail_after(1):
            while chunk := await receive(self.stream):
                data += chunk
        return data


async def receive(stream: anyio.abc.SocketStream) -> bytes:
    try:
        return await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError):
        return b""


@asynccontextmanager
async def raw(http: httpx.AsyncClient) -> AsyncIterator[Raw]:
    async with await anyio.connect_tcp("127.0.0.1", http.base_url.port or 0) as s:
        yield Raw(s)


async def until_no_connections(server: Server) -> None:
    with anyio.fail_after(1):
        while server.active_connections:
            await anyio.sleep(0.01)


# --- the endpoint ---------------------------------------------------------------


@pytest.mark.anyio
async def test_introspection_and_404_elsewhere() -> None:
    server = make_server()
    async with running(server) as http:
        resp = await http.get(PATH)
        assert resp.status_code == 200
        assert resp.json()["function_count"] == 2
        assert resp.headers["x-inngest-framework"] == "h11"
        other = await http.get("/elsewhere")
        assert other.status_code == 404
        assert other.json()["code"] == "not_found"
        assert PATH in other.json()["message"]


@pytest.mark.anyio
async def test_a_two_step_run_completes_with_steps_in_worker_threads() -> None:
    server = make_server()
    async with running(server) as http:
        memos: dict[str, Any] = {}
        for status in (206, 206, 200):
            target, body = call("steps", memos)
            resp = await http.post(target, content=body)
            assert resp.status_code == status, resp.text
            if status == 206:
                (op,) = resp.json()
                memos[op["id"]] = {"data": op["data"]}
        assert list(memos) == [FIRST, SECOND]
        assert resp.json() == {"first": "A", "second": "B", "main": False}


@pytest.mark.anyio
async def test_serve_reports_where_it_is_bound() -> None:
    server = make_server()
    async with anyio.create_task_group() as tg:
        host, port = await tg.start(server.serve)
        assert (host, port != 0) == ("127.0.0.1", True)
        assert server.url == f"http://127.0.0.1:{port}{PATH}"
        await server.shutdown()
    assert server.active_connections == 0


@pytest.mark.parametrize(
    "option",
    [
        {"port": -1},
        {"max_connections": 0},
        {"request_timeout": 0},
        {"keep_alive_timeout": float("nan")},
        {"shutdown_timeout": -1},
    ],
)
def test_bad_options_raise_at_construction(option: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(option))):
        make_server(**option)


# --- connections ----------------------------------------------------------------


@pytest.mark.anyio
async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    server = make_server()
    async with running(server) as http, raw(http) as conn:
        status, _, body = await conn.request("GET", PATH)
        assert status == 200
        status, _, body = await conn.request("HEAD", PATH)  # no body, still framed
        assert (status, body) == (405, b"")
        target, call_body = call("steps")
        status, _, body = await conn.request("POST", target, body=call_body)
        assert status == 206
        assert server.active_connections == 1


@pytest.mark.anyio
async def test_pipelined_requests_are_answered_in_order() -> None:
    server = make_server()
    async with running(server) as http, raw(http) as conn:
        get = f"GET {PATH} HTTP/1.1\r\nHost: t\r\n"
        three = [get, "GET /x HTTP/1.1\r\nHost: t\r\n", get + "Connection: close\r\n"]
        await conn.stream.send("".join(r + "\r\n" for r in three).encode())
        replies = await conn.read_to_eof()
        statuses = re.findall(rb"HTTP/1\.1 (\d+) ", replies)
        assert statuses == [b"200", b"404", b"200"]


@pytest.mark.anyio
async def test_connection_close_is_honoured() -> None:
    server = make_server()
    async with running(server) as http, raw(http) as conn:
        status, headers, _ = await conn.request("GET", PATH, ("connection", "close"))
        assert (status, headers["connection"]) == (200, "close")
        assert await conn.read_to_eof() == b""


@pytest.mark.anyio
async def test_http_1_0_without_host_is_answered_then_closed() -> None:
    server = make_server()
    async with running(server) as http, raw(http) as conn:
        await conn.stream.send(f"GET {PATH} HTTP/1.0\r\n\r\n".encode())
        reply = await conn.read_to_eof()
        assert reply.startswith(b"HTTP/1.1 200 ")
        assert b"connection: close" in reply.lower()


@pytest.mark.anyio
async def test_expect_100_continue_is_honoured() -> None:
    server = make_server()
    target, body = call("steps")
    async with running(server) as http, raw(http) as conn:
        head = (
            f"POST {target} HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        await conn.stream.send(head.encode())
        assert (await conn.stream.receive()).startswith(b"HTTP/1.1 100 ")
        await conn.stream.send(body)
        assert (await conn.stream.receive()).startswith(b"HTTP/1.1 206 ")


@pytest.mark.anyio
async def test_connections_past_max_connections_wait_their_turn() -> None:
    server = make_server(max_connections=1)
    async with running(server) as http, raw(http) as first:
        assert (await first.request("GET", PATH))[0] == 200
        async with raw(http) as second:
            await second.stream.send(f"GET {PATH} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            with anyio.move_on_after(0.1) as waited:
                await second.stream.receive()
            assert waited.cancel_called  # not accepted while the first is open
            await first.stream.aclose()
            assert (await second.response())[0] == 200


@pytest.mark.anyio
async def test_idle_connection_is_closed_after_keep_alive_timeout() -> None:
    server = make_server(keep_alive_timeout=0.2)
    async with running(server) as http, raw(http) as conn:
        assert (await conn.request("GET", PATH))[0] == 200
        started = anyio.current_time()
        assert await conn.read_to_eof() == b""
        assert anyio.current_time() - started > 0.15


# --- limits and bad requests ------------------------------------------------------


@pytest.mark.anyio
async def test_huge_body_is_413_and_the_server_still_serves() -> None:
    server = make_server(max_body_bytes=1024)
    async with running(server) as http:
        target, _ = call("steps")
        resp = await http.post(target, content=b"x" * 200_000)
        assert resp.status_code == 413
        assert resp.json()["code"] == "body_too_large"
        assert "200000" in resp.json()["message"]
        assert resp.headers["connection"] == "close"
        assert (await http.get(PATH)).status_code == 200


@pytest.mark.anyio
async def test_announced_huge_body_is_refused_without_waiting_for_it() -> None:
    server = make_server()  # the default limit, 32 MiB
    async with running(server) as http, raw(http) as conn:
        await conn.stream.send(post_bytes(PATH, b"{", length=10**10))
        reply = await conn.read_to_eof()
        assert reply.startswith(b"HTTP/1.1 413 ")
        assert b"is 10000000000 bytes" in reply


@pytest.mark.anyio
async def test_chunked_body_past_the_limit_is_cut_and_answered_413() -> None:
    server = make_server(max_body_bytes=1024)
    async with running(server) as http, raw(http) as conn:
        target, _ = call("steps")
        head = (
            f"POST {target} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        # The chunk never ends: the server stops reading at the limit anyway.
        await conn.stream.send(head.encode() + b"800\r\n" + b"x" * 1500)
        status, headers, body = await conn.response()
        assert (status, headers["connection"]) == (413, "close")
        assert json.loads(body)["code"] == "body_too_large"
        assert await conn.read_to_eof() == b""


@pytest.mark.anyio
async def test_chunked_request_body_is_read() -> None:
    server = make_server()
    target, body = call("steps")

    async def chunks() -> AsyncIterator[bytes]:
        yield body[:10]
        yield body[10:]

    async with running(server) as http:
        resp = await http.post(target, content=chunks())
        assert resp.request.headers["transfer-encoding"] == "chunked"
        assert resp.status_code == 206


@pytest.mark.anyio
async def test_malformed_request_line_is_400_and_closed() -> None:
    server = make_server()
    async with running(server) as http:
        async with raw(http) as conn:
            await conn.stream.send(b"NOT AN HTTP REQUEST\r\n\r\n")
            reply = await conn.read_to_eof()
            assert reply.startswith(b"HTTP/1.1 400 ")
            assert b'"code": "bad_request"' in reply
        assert (await http.get(PATH)).status_code == 200


@pytest.mark.anyio
async def test_stalled_partial_request_is_dropped_after_request_timeout() -> None:
    server = make_server(request_timeout=0.2)
    async with running(server) as http, raw(http) as conn:
        await conn.stream.send(f"POST {PATH} HTTP/1.1\r\nHost: t\r\n".encode())
        started = anyio.current_time()
        assert await conn.read_to_eof() == b""
        assert anyio.current_time() - started > 0.15


# --- clients that leave -----------------------------------------------------------


@pytest.mark.anyio
async def test_client_leaving_mid_body_costs_nothing() -> None:
    server = make_server()
    async with running(server) as http:
        async with raw(http) as conn:
            await conn.stream.send(post_bytes(PATH, b"0123456789", length=100))
        await until_no_connections(server)
        assert (await http.get(PATH)).status_code == 200


@pytest.mark.anyio
async def test_client_leaving_while_its_function_runs_costs_nothing() -> None:
    gate = Gate()
    server = make_server(gate)
    async with running(server) as http:
        async with raw(http) as conn:
            target, body = call("gated")
            await conn.stream.send(post_bytes(target, body))
            await gate.entered.wait()
        gate.release.set()
        await until_no_connections(server)
        assert (await http.get(PATH)).status_code == 200


# --- streaming and shutdown -------------------------------------------------------


@pytest.mark.anyio
async def test_streaming_reply_sends_keepalives_then_the_envelope() -> None:
    gate = Gate()
    server = make_server(gate, streaming="force")
    target, body = call("gated")
    async with running(server) as http:
        async with http.stream("POST", target, content=body) as resp:
            assert resp.status_code == 201
            assert resp.headers["transfer-encoding"] == "chunked"
            chunks = resp.aiter_raw()
            assert await chunks.__anext__() == b" "  # before the function ends
            gate.release.set()
            rest = b"".join([chunk async for chunk in chunks])
        envelope = json.loads(rest)
        assert (envelope["status"], json.loads(envelope["body"])) == (200, "done")


@pytest.mark.anyio
async def test_graceful_shutdown_finishes_requests_in_flight_then_refuses() -> None:
    gate = Gate()
    server = make_server(gate)
    target, body = call("gated")
    params = httpx.URL(target).params
    replies: list[httpx.Response] = []
    # The client outlives the task group, so the request it sends can end.
    async with httpx.AsyncClient() as http, anyio.create_task_group() as tg:
        host, port = await tg.start(server.serve)

        async def post() -> None:
            replies.append(await http.post(server.url, params=params, content=body))

        tg.start_soon(post)
        await gate.entered.wait()
        tg.start_soon(server.shutdown)
        with anyio.fail_after(1):
            while True:  # until the listener is closed
                try:
                    await (await anyio.connect_tcp(host, port)).aclose()
                except OSError:
                    break
                await anyio.sleep(0.01)
        assert not replies
        gate.release.set()
    (reply,) = replies
    assert (reply.status_code, reply.json()) == (200, "done")
    assert reply.headers["connection"] == "close"
    assert server.active_connections == 0


@pytest.mark.anyio
async def test_shutdown_cancels_what_outlives_shutdown_timeout() -> None:
    gate = Gate()  # never released
    server = make_server(gate, shutdown_timeout=0.1)
    target, body = call("gated")
    async with running(server) as http, raw(http) as conn:
        await conn.stream.send(post_bytes(target, body))
        await gate.entered.wait()
        with anyio.fail_after(0.4):
            await server.shutdown()
        assert await conn.read_to_eof() == b""
        assert server.active_connections == 0


@pytest.mark.anyio
async def test_shutdown_closes_idle_connections_at_once() -> None:
    server = make_server(keep_alive_timeout=5)
    async with running(server) as http, raw(http) as conn:
        assert (await conn.request("GET", PATH))[0] == 200
        with anyio.fail_after(0.3):
            await server.shutdown()
        assert await conn.read_to_eof() == b""


@pytest.mark.anyio
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_sigterm_shuts_down_gracefully_when_run() -> None:
    server = make_server()
    with anyio.fail_after(1):
        async with anyio.create_task_group() as tg:
            await tg.start(server._serve_until_signalled)
            os.kill(os.getpid(), signal.SIGTERM)
    assert server.active_connections == 0


@pytest.mark.anyio
@pytest.mark.parametrize("abuse", abuses(PATH), ids=lambda abuse: abuse.name)
async def test_framing_abuse_is_refused_and_the_connection_closed(
    abuse: Abuse,
) -> None:
    server = make_server()
    async with running(server) as http:
        reply = await exchange(http.base_url.port or 0, abuse.data)
        assert_refused(reply, abuse.status)
        assert b'"code": "bad_request"' in reply
        assert (await http.get(PATH)).status_code == 200


@pytest.mark.anyio
async def test_a_fold_is_seen_in_a_pipelined_request_and_across_reads() -> None:
    server = make_server()
    good = f"GET {PATH} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    folded = f"GET {PATH} HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n".encode()
    async with running(server) as http:
        port = http.base_url.port or 0
        # The second request's head arrives with the first.
        reply = await exchange(port, good + folded)
        first, _, second = reply.partition(b"HTTP/1.1 400 ")
        assert first.startswith(b"HTTP/1.1 200 ")
        assert b"obs-fold" in second
        # The fold arrives in a later read than the line it continues.
        async with raw(http) as conn:
            await conn.stream.send(folded[:-8])
            await anyio.sleep(0.05)
            await conn.stream.send(folded[-8:])
            status, headers, _ = await conn.response()
            assert (status, headers["connection"]) == (400, "close")


def test_framework_constant_is_an_enum_member() -> None:
    assert FRAMEWORK is inngest.Framework.H11
    plain: str = "h11"
    assert plain == FRAMEWORK
