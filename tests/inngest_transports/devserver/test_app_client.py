"""The dev server's client for calls to apps (``_app_client``), against raw peers.

Each peer is a few lines on a raw socket on 127.0.0.1, so it can answer
what no well-behaved server library would: an HTTP/1.0 reply with
``Transfer-Encoding: chunked`` and a body that is not chunked, as an
HTTP/1.0 proxy in front of an app sends it.
"""

from __future__ import annotations

import gc
import json
import logging
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import h11
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import inngest_proto as inngest
from inngest_proto.errors import TransportError
from inngest_proto.wire import OutboundRequest, OutboundResponse
from inngest_transports.devserver import DevServer
from inngest_transports.devserver._app_client import (
    AppTransport,
    HeadFilter,
    without_faulty_framing,
)
from inngest_transports.http import HttpTransport
from inngest_transports.server import Server

from .._raw_peer import read_h11_request, serving

pytestmark = pytest.mark.anyio

BODY = b'{"ok": true, "text": "not chunked"}'
HTTP10_CHUNKED = (
    b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n" + BODY
)


async def _read_request(stream: anyio.abc.ByteStream, data: bytes) -> bytes | None:
    """One request's bytes (head and Content-Length body), or None at EOF."""
    while b"\r\n\r\n" not in data:
        try:
            data += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return None
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += await stream.receive()
    return head + b"\r\n\r\n" + rest


@asynccontextmanager
async def peer(*replies: bytes, keep_open: bool = False) -> AsyncIterator[str]:
    """A server answering each request with the next of ``replies`` (raw
    bytes), then closing, unless ``keep_open`` (the next request on the
    same connection gets the next reply)."""
    queue = list(replies)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            while queue and await _read_request(stream, b"") is not None:
                await stream.send(queue.pop(0))
                if not keep_open:
                    return

    async with serving(handle) as port:
        yield f"http://127.0.0.1:{port}"


async def post(url: str) -> tuple[int, bytes]:
    transport = AppTransport(5.0)
    try:
        reply = await transport.request(
            OutboundRequest("POST", f"{url}/api/inngest", {}, b"{}")
        )
    finally:
        await transport.aclose()
    return reply.status, reply.body


def _post(transport: AppTransport, url: str, body: bytes = b"{}") -> Any:
    return transport.request(OutboundRequest("POST", url, {}, body))


async def test_http_1_0_with_transfer_encoding_is_read_until_close() -> None:
    async with peer(HTTP10_CHUNKED) as url:
        assert await post(url) == (200, BODY)


async def test_http_1_0_with_transfer_encoding_and_a_length_reads_the_length() -> None:
    reply = HTTP10_CHUNKED.replace(b"OK\r\n", b"OK\r\nContent-Length: 5\r\n")
    async with peer(reply) as url:
        assert await post(url) == (200, BODY[:5])


async def test_informational_heads_come_first() -> None:
    async with peer(b"HTTP/1.1 100 Continue\r\n\r\n" + HTTP10_CHUNKED) as url:
        assert await post(url) == (200, BODY)


async def test_http_1_1_chunked_replies_on_a_kept_connection_are_decoded() -> None:
    def chunked(body: bytes) -> bytes:
        head = b"HTTP/1.1 206 Partial\r\nTransfer-Encoding: chunked\r\n\r\n"
        return head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)

    async with peer(chunked(b"[1]"), chunked(b"[2]"), keep_open=True) as url:
        transport = AppTransport(5.0)
        try:
            first: OutboundResponse = await _post(transport, f"{url}/a")
            second: OutboundResponse = await _post(transport, f"{url}/b")
        finally:
            await transport.aclose()
    assert (first.status, first.body) == (206, b"[1]")
    assert (second.status, second.body) == (206, b"[2]")


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(b"HTTP/1.0 200 OK\r\nX-Big: " + b"a" * 300_000, id="huge head"),
        pytest.param(b"HTTP/1.0 200 OK\r\nContent-Ty", id="cut head"),
        pytest.param(b"", id="nothing"),
    ],
)
async def test_a_bad_head_is_a_protocol_error(reply: bytes) -> None:
    async with peer(reply) as url:
        transport = AppTransport(5.0)
        try:
            with anyio.fail_after(2), pytest.raises(TransportError) as failed:
                await _post(transport, f"{url}/api/inngest")
        finally:
            await transport.aclose()
    assert isinstance(failed.value.last_error, httpx.RemoteProtocolError)


@pytest.mark.parametrize(
    ("head", "rewritten"),
    [
        (
            b"HTTP/1.0 200 OK\r\ntransfer-ENCODING : chunked\r\nA: b\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nA: b\r\n\r\n",
        ),
        (
            b"HTTP/1.0 200 OK\nTransfer-Encoding: gzip,\n chunked\nA: b\n \tc\n\n",
            b"HTTP/1.0 200 OK\nA: b\n \tc\n\n",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        ),
    ],
)
def test_only_http_1_0_heads_lose_transfer_encoding(
    head: bytes, rewritten: bytes
) -> None:
    assert without_faulty_framing(head) == rewritten


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
#: Bodies whose bytes look like heads: only heads after a write are heads.
TRICKY = b"\r\n\r\nHTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@given(
    replies=st.lists(
        st.tuples(st.booleans(), st.sampled_from([BODY, TRICKY, b""])),
        min_size=1,
        max_size=3,
    ),
    cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=30),
    max_bytes=st.integers(min_value=1, max_value=100),
)
def test_heads_are_rewritten_however_the_bytes_arrive(
    replies: list[tuple[bool, bytes]], cuts: list[int], max_bytes: int
) -> None:
    # Replies on one connection, each (an optional 100 Continue, an HTTP/1.0
    # head, a body) sent after its request was written, cut into pieces as
    # the network may deliver them.
    head = HTTP10_CHUNKED.removesuffix(BODY)
    rewritten = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
    pieces: list[bytes] = []
    expected: list[bytes] = []
    for informational, body in replies:
        first = CONTINUE if informational else b""
        rest = first + head + body
        expected.append(first + rewritten + body)
        for cut in cuts:
            pieces.append(rest[:cut])
            rest = rest[cut:]
        pieces.append(rest)

    heads = HeadFilter()
    got = []
    for want in expected:
        heads.request_sent()
        data = b""
        while len(data) < len(want):
            assert pieces, "a head was held back for good"
            piece = pieces.pop(0)
            for at in range(0, len(piece), max_bytes):
                data += heads.feed(piece[at : at + max_bytes])
        got.append(data)
    assert all(not piece for piece in pieces)
    assert heads.end() == b""
    assert got == expected


# -- end to end: an app behind an HTTP/1.0 proxy --------------------------------


@asynccontextmanager
async def http_1_0_proxy(app_port: int) -> AsyncIterator[str]:
    """Forwards each request to the app; answers HTTP/1.0 with the app's
    body unchunked but ``Transfer-Encoding: chunked`` kept, then closes."""

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream, httpx.AsyncClient() as forward:
            request, body = await read_h11_request(stream, h11.Connection(h11.SERVER))
            reply = await forward.request(
                request.method.decode(),
                f"http://127.0.0.1:{app_port}{request.target.decode()}",
                headers=list(request.headers.raw_items()),
                content=body,
            )
            head = [b"HTTP/1.0 %d X" % reply.status_code]
            for name, value in reply.headers.raw:
                if name.lower() not in (b"content-length", b"transfer-encoding"):
                    head.append(name + b": " + value)
            head.append(b"Transfer-Encoding: chunked")
            await stream.send(b"\r\n".join(head) + b"\r\n\r\n" + reply.content)

    async with serving(handle) as port:
        yield f"http://127.0.0.1:{port}"


async def test_a_run_of_an_app_behind_an_http_1_0_proxy_completes() -> None:
    dev = DevServer(port=0, poll=False, retry_scale=0.0001, sync_attempts=1)
    async with anyio.create_task_group() as tg:
        dev_url = await tg.start(dev.serve)
        client = inngest.Inngest(
            app_id="behind-proxy",
            environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": dev_url},
            logger=logging.getLogger("tests.devserver"),
        )

        @client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="t/e"))
        async def f(ctx: inngest.Context) -> Any:
            return await ctx.step.run("s", lambda: {"via": "proxy"})

        app = Server(client, [f], port=0)
        _, app_port = await tg.start(app.serve)
        try:
            async with http_1_0_proxy(app_port) as proxy:
                synced = await dev.sync_app(f"{proxy}/api/inngest")
                assert synced["state"] == "synced", synced
                (event_id,) = await client.send(inngest.Event(name="t/e"))
                (run,) = await dev.wait_for_runs(event_id, timeout=5)
                assert run.output == {"via": "proxy"}, run
        finally:
            if isinstance(client.transport, HttpTransport):
                await client.transport.aclose()
            await app.shutdown()
            await dev.shutdown()
    assert json.loads(BODY)  # the peers' body is JSON, as an SDK's is


async def test_a_body_cut_off_by_the_peer_leaves_nothing_to_collect() -> None:
    # An app that resets the connection while a large body is still being
    # written: the write fails part-way through the body.  The client must not
    # leave the body's iterator suspended (trio warns, as an unraisable
    # ResourceWarning, when such an async generator is collected).
    async def reset(stream: anyio.abc.SocketStream) -> None:
        sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.receive()
        await stream.aclose()

    transport = AppTransport(5.0)
    try:
        async with serving(reset) as port:
            with pytest.raises(TransportError):
                await _post(
                    transport,
                    f"http://127.0.0.1:{port}/api/inngest",
                    b"x" * (32 << 20),
                )
    finally:
        await transport.aclose()
    gc.collect()
    await anyio.sleep(0)


# -- the connection pool ----------------------------------------------------------


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"


@asynccontextmanager
async def counting_peer(
    replies_per_connection: int,
) -> AsyncIterator[tuple[str, list[int]]]:
    """A keep-alive server: each connection answers up to
    ``replies_per_connection`` requests with :data:`OK`, then closes (while
    the client thinks it idle).  Yields its URL and the requests each
    connection served."""
    served: list[int] = []

    async def handle(stream: anyio.abc.SocketStream) -> None:
        served.append(0)
        at = len(served) - 1
        async with stream:
            while served[at] < replies_per_connection:
                if await _read_request(stream, b"") is None:
                    return
                await stream.send(OK)
                served[at] += 1

    async with serving(handle) as port:
        yield f"http://127.0.0.1:{port}", served


async def test_calls_one_after_another_reuse_one_connection() -> None:
    async with counting_peer(100) as (url, served):
        transport = AppTransport(5.0)
        try:
            for _ in range(5):
                assert (await _post(transport, f"{url}/x")).status == 200
        finally:
            await transport.aclose()
    assert served == [5]


async def test_an_idle_connection_the_app_closed_is_not_used() -> None:
    async with counting_peer(1) as (url, served):
        transport = AppTransport(5.0)
        try:
            for _ in range(3):
                assert (await _post(transport, f"{url}/x")).status == 200
                await anyio.sleep(0.05)  # the peer's close reaches us
        finally:
            await transport.aclose()
    assert served == [1, 1, 1]


async def test_concurrent_calls_keep_at_most_max_idle_connections() -> None:
    async with counting_peer(100) as (url, served):
        transport = AppTransport(5.0, max_idle=2)
        try:
            async with anyio.create_task_group() as tg:
                for _ in range(6):
                    tg.start_soon(_post, transport, f"{url}/x")
            assert sum(served) == 6
            for _ in range(4):
                await _post(transport, f"{url}/x")
        finally:
            await transport.aclose()
    # The 4 later calls went over the 2 connections kept, no new one.
    assert sum(served) == 10
    assert len(served) == 6


async def test_no_reply_in_time_is_a_read_timeout() -> None:
    async def silent(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await anyio.sleep_forever()

    transport = AppTransport(0.2)
    async with serving(silent) as port:
        with pytest.raises(TransportError) as failed:
            await _post(transport, f"http://127.0.0.1:{port}/x")
    assert isinstance(failed.value.last_error, httpx.ReadTimeout)


async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(TransportError) as failed:
            await _post(AppTransport(5.0), f"http://127.0.0.1:{port}/x")
    assert isinstance(failed.value.last_error, httpx.ConnectError)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http:///x", "http://[::1/x"])
async def test_a_url_that_cannot_be_called_is_a_clear_error(url: str) -> None:
    with pytest.raises(TransportError) as failed:
        await _post(AppTransport(5.0), url)
    assert isinstance(failed.value.last_error, httpx.UnsupportedProtocol)


async def test_a_call_in_flight_when_the_client_closes_keeps_no_connection() -> None:
    reply_now = anyio.Event()
    closed_by_client: list[bool] = []

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            assert await _read_request(stream, b"") is not None
            await reply_now.wait()
            await stream.send(OK)  # keep-alive: the client may keep it
            closed_by_client.append(await _read_request(stream, b"") is None)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    transport = AppTransport(5.0)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)

        async def call() -> None:
            reply = await _post(transport, f"http://127.0.0.1:{port}/x")
            assert reply.status == 200

        async with anyio.create_task_group() as calls:
            calls.start_soon(call)
            await anyio.sleep(0.05)  # the request is out, its reply held
            await transport.aclose()  # e.g. the server shutting down
            reply_now.set()
        with anyio.fail_after(5):
            while not closed_by_client:
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    assert closed_by_client == [True]
