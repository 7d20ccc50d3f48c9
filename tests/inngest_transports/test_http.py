"""The httpx transport against a real stub server on 127.0.0.1.

The stub (``_stub``) answers from a script and records what it received.
Sleeps between attempts are faked: no test waits for a backoff.  A guard
fails any connection to anything but 127.0.0.1.
"""

from __future__ import annotations

import datetime
import gc
import json
import socket
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

import inngest_proto as inngest
from inngest_proto._errors import LocalProtocolError, SendEventsError
from inngest_proto._http_values import OutboundRequest, OutboundResponse
from inngest_proto._outbound import (
    build_fetch_batch_request,
    build_register_request,
    build_send_events_request,
)
from inngest_proto._settings import resolve_settings
from inngest_proto._transport import Transport, send, send_sync
from inngest_transports import http
from inngest_transports.http import HttpTransport, TransportError
from tests.inngest_transports._stub import Reply, Stub, ids_reply

KEY = "signkey-test-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
KEY2 = "signkey-test-fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
BEARER = "Bearer 4884fdaafea47c29fea7159d0daddd9c085d6200e1359e85bb81736af6b7c837"
BEARER2 = "Bearer 8d2e4d6374b604562a5d8c04a4dfc035fa499ec7ad373bd48bd2bd62ca75c3b5"
SEED_HEADER = "x-inngest-event-id-seed"
#: A client timeout meant to elapse: short, as every attempt waits it out.
SMALL_TIMEOUT = 0.1


@pytest.fixture(autouse=True)
def blocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Refuse, record and fail connections elsewhere than 127.0.0.1.

    Refused with an ``OSError`` so httpx reports it as a connect error
    whatever the backend; the test fails at teardown.  Proxies from the
    environment are ignored, as they would divert the requests.
    """
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if address[0] != "127.0.0.1":
            attempts.append(address)
            msg = f"test guard: no connecting to {address!r}"
            raise ConnectionRefusedError(msg)
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield attempts
    assert attempts == [], "a test tried to connect elsewhere than 127.0.0.1"


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    server.thread.start()
    yield server
    server.release.set()
    server.server.shutdown()
    server.server.server_close()
    server.thread.join()


@pytest.fixture
def closed_port_url() -> str:
    """An origin nothing listens on: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Sleeps:
    """Fake sleeps: record the delays, return at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_transport(sleeps: Sleeps, **kwargs: Any) -> HttpTransport:
    return HttpTransport(
        sleep=sleeps.sleep, async_sleep=sleeps.async_sleep, jitter=lambda: 0.5, **kwargs
    )


@pytest.fixture(params=["async", "sync"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def perform(transport: Transport, req: OutboundRequest, mode: str) -> Any:
    """``transport.request`` or ``request_sync``, as ``mode`` says."""
    if mode == "async":
        return await transport.request(req)
    return transport.request_sync(req)


async def close(transport: Transport) -> None:
    assert isinstance(transport, HttpTransport)
    await transport.aclose()
    transport.close()


def dev_client(stub_url: str, **kwargs: Any) -> inngest.Inngest:
    environ = {"INNGEST_DEV": "1", "INNGEST_BASE_URL": stub_url}
    return inngest.Inngest(app_id="http-app", environ=environ, **kwargs)


async def send_events(client: inngest.Inngest, mode: str, *names: str) -> list[str]:
    events = [inngest.Event(name=name, data={"n": i}) for i, name in enumerate(names)]
    if mode == "async":
        return await client.send(events)
    return client.send_sync(events)


def events_request(url: str) -> OutboundRequest:
    settings = resolve_settings({"INNGEST_DEV": "1", "INNGEST_BASE_URL": url})
    return build_send_events_request(
        [inngest.Event(name="a")], settings=settings, now_ms=1, entropy=bytes(10)
    )


def register_request(url: str, *, fallback: bool = False) -> OutboundRequest:
    env = {"INNGEST_SIGNING_KEY": KEY, "INNGEST_API_BASE_URL": url}
    if fallback:
        env["INNGEST_SIGNING_KEY_FALLBACK"] = KEY2
    return build_register_request(
        b'{"appname":"a"}',
        settings=resolve_settings(env),
        framework="flask",
        expected_server_kind="cloud",
        deploy_id="d1",
    )


def batch_request(url: str) -> OutboundRequest:
    env = {"INNGEST_SIGNING_KEY": KEY, "INNGEST_API_BASE_URL": url}
    return build_fetch_batch_request("01RUN", resolve_settings(env))


# --- construction and the protocol ---------------------------------------------------


@pytest.mark.anyio
async def test_the_guard_refuses_other_addresses(blocked: list[Any], mode: str) -> None:
    # 127.0.0.2 is loopback too: were the guard broken, nothing would leave.
    transport = HttpTransport(max_attempts=1)
    with pytest.raises(TransportError):
        await perform(transport, batch_request("http://127.0.0.2:9"), mode)
    await close(transport)
    assert blocked == [("127.0.0.2", 9)]
    blocked.clear()


def test_is_a_transport() -> None:
    transport = HttpTransport()
    assert isinstance(transport, Transport)
    assert transport.timeout == 30.0
    assert transport.max_attempts == 5
    assert abs(transport.now() - datetime.datetime.now().timestamp()) < 5
    assert len(transport.random_bytes(10)) == 10
    assert transport.random_bytes(16) != transport.random_bytes(16)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": 0},
        {"timeout": -1.0},
        {"timeout": True},
        {"timeout": "30"},
        {"max_attempts": 0},
        {"max_attempts": 2.0},
        {"max_attempts": True},
        {"backoff_base": -0.1},
        {"backoff_base": float("nan")},
    ],
)
def test_bad_arguments(kwargs: dict[str, Any]) -> None:
    name = next(iter(kwargs))
    with pytest.raises(LocalProtocolError, match=rf"HttpTransport\({name}=\.\.\.\)"):
        HttpTransport(**kwargs)


@pytest.mark.parametrize(
    ("request_timeout", "seconds"),
    [
        (None, 30.0),
        (1500, 1.5),
        (datetime.timedelta(seconds=2), 2.0),
        (datetime.timedelta(milliseconds=50), 0.05),
    ],
)
def test_client_passes_request_timeout(
    request_timeout: int | datetime.timedelta | None, seconds: float
) -> None:
    client = dev_client("http://127.0.0.1:1", request_timeout=request_timeout)
    transport = client.transport
    assert isinstance(transport, HttpTransport)
    assert transport.timeout == seconds


def test_zero_request_timeout_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="request_timeout"):
        _ = dev_client("http://127.0.0.1:1", request_timeout=0).transport


def test_backoff_delays_follow_the_spec() -> None:
    transport = HttpTransport(jitter=lambda: 0.0)
    assert [transport.backoff_delay(k) for k in (1, 2, 3, 4)] == [0.1, 0.2, 0.4, 0.8]
    top = HttpTransport(backoff_base=0.2, jitter=lambda: 0.999)
    assert top.backoff_delay(1) == pytest.approx(0.2 + 0.1998)
    real = HttpTransport()
    for retry in (1, 2, 3, 4):
        low = 0.1 * 2 ** (retry - 1)
        assert all(low <= real.backoff_delay(retry) < low + 0.1 for _ in range(50))


# --- sending events end to end -------------------------------------------------------


def test_send_sync_end_to_end(stub: Stub) -> None:
    stub.script(ids_reply("01A", "01B"))
    client = dev_client(stub.url)
    try:
        ids = client.send_sync([inngest.Event(name="a"), inngest.Event(name="b")])
    finally:
        assert isinstance(client.transport, HttpTransport)
        client.transport.close()
    assert ids == ["01A", "01B"]
    [got] = stub.received
    assert (got.method, got.path) == ("POST", "/e/NO_EVENT_KEY_SET")
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-inngest-sdk"].startswith("inngest-py:v")
    assert got.headers["user-agent"] == got.headers["x-inngest-sdk"]
    assert "authorization" not in got.headers
    millis, _, entropy = got.headers[SEED_HEADER].partition(",")
    assert int(millis) > 0
    assert len(entropy) == 16
    assert [event["name"] for event in json.loads(got.body)] == ["a", "b"]


@pytest.mark.anyio
async def test_send_async_end_to_end(stub: Stub) -> None:
    stub.script(ids_reply("01A"), ids_reply("01B"))
    client = dev_client(stub.url)
    try:
        assert await client.send(inngest.Event(name="a")) == ["01A"]
        assert await client.send(inngest.Event(name="b")) == ["01B"]
    finally:
        await close(client.transport)
    first, second = stub.received
    assert first.path == second.path == "/e/NO_EVENT_KEY_SET"
    assert first.headers[SEED_HEADER] != second.headers[SEED_HEADER]


@pytest.mark.anyio
async def test_5xx_is_retried_with_the_same_seed_and_body(
    stub: Stub, sleeps: Sleeps, mode: str
) -> None:
    stub.script(
        Reply(503, b'{"error":"busy"}'), Reply(500, b"oops"), ids_reply("01A", "01B")
    )
    client = dev_client(stub.url, transport=make_transport(sleeps))
    try:
        assert await send_events(client, mode, "a", "b") == ["01A", "01B"]
    finally:
        await close(client.transport)
    first, second, third = stub.received
    assert first == second == third  # same method, path, headers (seed), body
    assert SEED_HEADER in first.headers
    assert sleeps.delays == pytest.approx([0.15, 0.25])


@pytest.mark.anyio
async def test_final_5xx_is_returned_as_send_events_error(
    stub: Stub, sleeps: Sleeps, mode: str
) -> None:
    stub.script(*[Reply(503, b'{"error":"overloaded","status":503}')] * 5)
    client = dev_client(stub.url, transport=make_transport(sleeps))
    try:
        with pytest.raises(SendEventsError) as info:
            await send_events(client, mode, "a")
    finally:
        await close(client.transport)
    assert "HTTP 503" in info.value.message
    assert "overloaded" in info.value.message
    assert len(stub.received) == 5
    assert sleeps.delays == pytest.approx([0.15, 0.25, 0.45, 0.85])


@pytest.mark.anyio
async def test_4xx_is_not_retried(stub: Stub, sleeps: Sleeps, mode: str) -> None:
    stub.script(Reply(400, b'{"error":"bad event","status":400}'))
    client = dev_client(stub.url, transport=make_transport(sleeps))
    try:
        with pytest.raises(SendEventsError, match="bad event"):
            await send_events(client, mode, "a")
    finally:
        await close(client.transport)
    assert len(stub.received) == 1
    assert sleeps.delays == []


@pytest.mark.anyio
async def test_invalid_json_reply(stub: Stub, sleeps: Sleeps, mode: str) -> None:
    stub.script(Reply(200, b"<html>proxy says hi</html>"))
    client = dev_client(stub.url, transport=make_transport(sleeps))
    try:
        with pytest.raises(SendEventsError, match="non-JSON") as info:
            await send_events(client, mode, "a")
    finally:
        await close(client.transport)
    assert "proxy says hi" in info.value.message
    assert len(stub.received) == 1


# --- other requests -------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failure_resends_with_the_fallback_key(
    stub: Stub, sleeps: Sleeps, mode: str, status: int
) -> None:
    stub.script(Reply(status, b"{}"), Reply(200, b'{"ok":true}'))
    transport = make_transport(sleeps)
    req = register_request(stub.url, fallback=True)
    try:
        if mode == "async":
            resp = await send(transport, req)
        else:
            resp = send_sync(transport, req)
    finally:
        await close(transport)
    assert (resp.status, resp.body) == (200, b'{"ok":true}')
    first, second = stub.received
    assert first.path == second.path == "/fn/register?deployId=d1"
    assert first.body == second.body == b'{"appname":"a"}'
    assert first.headers["authorization"] == BEARER
    assert second.headers["authorization"] == BEARER2
    assert second.headers["x-inngest-expected-server-kind"] == "cloud"
    assert sleeps.delays == []


@pytest.mark.anyio
async def test_reply_status_headers_and_body(stub: Stub, mode: str) -> None:
    stub.script(Reply(200, b'[{"name":"a"}]', {"X-Custom": "yes"}))
    transport = HttpTransport()
    try:
        resp = await perform(transport, batch_request(stub.url), mode)
    finally:
        await close(transport)
    assert isinstance(resp, OutboundResponse)
    assert (resp.status, resp.body) == (200, b'[{"name":"a"}]')
    assert resp.headers["x-custom"] == "yes"
    [got] = stub.received
    assert (got.method, got.path) == ("GET", "/v0/runs/01RUN/batch")
    assert got.headers["authorization"] == BEARER


@pytest.mark.anyio
async def test_non_ascii_header_values_go_out_as_utf8(stub: Stub, mode: str) -> None:
    stub.script(Reply(200, b"{}"))
    transport = HttpTransport()
    headers = {"x-inngest-job-id": "\u2603\ufe0f:key", "x-plain": "ascii"}
    try:
        req = OutboundRequest("POST", f"{stub.url}/call", headers, b"{}")
        resp = await perform(transport, req, mode)
    finally:
        await close(transport)
    assert resp.status == 200
    [got] = stub.received
    # The stdlib server reads header bytes as latin-1.
    raw = got.headers["x-inngest-job-id"].encode("latin-1")
    assert raw == "\u2603\ufe0f:key".encode()
    assert got.headers["x-plain"] == "ascii"


@pytest.mark.anyio
async def test_a_header_value_http_forbids_is_refused_and_not_resent(
    stub: Stub, sleeps: Sleeps, mode: str
) -> None:
    # UTF-8 goes out as is, but CR/LF would split the head: refused before
    # anything is sent, and a second attempt could not do better.
    transport = make_transport(sleeps)
    headers = {"x-inngest-job-id": "fn:key\r\nx-injected: yes"}
    try:
        req = OutboundRequest("POST", f"{stub.url}/call", headers, b"{}")
        with pytest.raises(TransportError) as info:
            await perform(transport, req, mode)
    finally:
        await close(transport)
    assert isinstance(info.value.last_error, httpx.LocalProtocolError)
    assert info.value.attempts == 1
    assert sleeps.delays == []
    assert stub.received == []


@pytest.mark.anyio
async def test_5xx_is_returned_without_retry_on_5xx(
    stub: Stub, sleeps: Sleeps, mode: str
) -> None:
    stub.script(Reply(502, b"bad gateway"))
    transport = make_transport(sleeps)
    try:
        resp = await perform(transport, register_request(stub.url), mode)
    finally:
        await close(transport)
    assert (resp.status, resp.body) == (502, b"bad gateway")
    assert len(stub.received) == 1


# --- network failures -----------------------------------------------------------------


@pytest.mark.anyio
async def test_connection_refused_exhausts_the_attempts(
    closed_port_url: str, sleeps: Sleeps, mode: str
) -> None:
    client = dev_client(closed_port_url, transport=make_transport(sleeps))
    try:
        with pytest.raises(SendEventsError) as sent:
            await send_events(client, mode, "a")
    finally:
        await close(client.transport)
    # Callers catch SendEventsError, as with the official SDK; the transport's
    # account of what happened is its cause.
    assert "NO_EVENT_KEY_SET" not in sent.value.message
    err = sent.value.__cause__
    assert isinstance(err, TransportError)
    assert err.attempts == 5
    assert err.method == "POST"
    assert err.url == f"{closed_port_url}/e/NO_EVENT_KEY_SET"
    assert isinstance(err.last_error, httpx.ConnectError)
    assert err.__cause__ is err.last_error
    assert "failed after 5 attempts" in err.message
    assert f"Dev Server running at {closed_port_url}?" in err.message
    assert "INNGEST_DEV / INNGEST_BASE_URL" in err.message
    assert "NO_EVENT_KEY_SET" not in err.message  # the key is redacted
    assert sleeps.delays == pytest.approx([0.15, 0.25, 0.45, 0.85])


@pytest.mark.anyio
async def test_connect_failures_are_retried_for_any_request(
    closed_port_url: str, sleeps: Sleeps, mode: str
) -> None:
    transport = make_transport(sleeps, max_attempts=3)
    with pytest.raises(TransportError) as info:
        await perform(transport, register_request(closed_port_url), mode)
    assert info.value.attempts == 3
    assert len(sleeps.delays) == 2


@pytest.mark.anyio
async def test_timeout_says_which_and_how_to_change_it(
    stub: Stub, sleeps: Sleeps, mode: str
) -> None:
    stub.script(Reply(hold=True), Reply(hold=True))
    transport = make_transport(sleeps, timeout=SMALL_TIMEOUT, max_attempts=2)
    try:
        with pytest.raises(TransportError) as info:
            await perform(transport, events_request(stub.url), mode)
    finally:
        await close(transport)
    err = info.value
    assert isinstance(err.last_error, httpx.ReadTimeout)
    assert err.attempts == 2
    assert "failed after 2 attempts (ReadTimeout, ReadTimeout)" in err.message
    assert f"the read timeout ({SMALL_TIMEOUT:g} s) elapsed" in err.message
    assert "Inngest(request_timeout=...)" in err.message
    assert len(stub.received) == 2
    assert stub.received[0] == stub.received[1]


@pytest.mark.anyio
async def test_exhaustion_after_mixed_failures(
    stub: Stub, sleeps: Sleeps, mode: str
) -> None:
    stub.script(Reply(503), Reply(drop=True), Reply(drop=True))
    transport = make_transport(sleeps, max_attempts=3)
    try:
        with pytest.raises(TransportError) as info:
            await perform(transport, events_request(stub.url), mode)
    finally:
        await close(transport)
    err = info.value
    assert err.attempts == 3
    assert isinstance(err.last_error, httpx.RemoteProtocolError)
    assert "(HTTP 503, RemoteProtocolError, RemoteProtocolError)" in err.message
    assert len({(r.headers[SEED_HEADER], r.body) for r in stub.received}) == 1
    assert sleeps.delays == pytest.approx([0.15, 0.25])


@pytest.mark.anyio
async def test_a_post_that_may_have_arrived_is_not_resent(
    stub: Stub, sleeps: Sleeps, mode: str
) -> None:
    stub.script(Reply(drop=True))
    transport = make_transport(sleeps)
    try:
        with pytest.raises(TransportError) as info:
            await perform(transport, register_request(stub.url), mode)
    finally:
        await close(transport)
    assert info.value.attempts == 1
    assert "not resent" in info.value.message
    assert len(stub.received) == 1
    assert sleeps.delays == []


@pytest.mark.anyio
async def test_a_get_that_may_have_arrived_is_resent(
    stub: Stub, sleeps: Sleeps, mode: str
) -> None:
    stub.script(Reply(drop=True), Reply(200, b"[]"))
    transport = make_transport(sleeps)
    try:
        resp = await perform(transport, batch_request(stub.url), mode)
    finally:
        await close(transport)
    assert resp.status == 200
    assert len(stub.received) == 2
    assert sleeps.delays == pytest.approx([0.15])


@pytest.mark.anyio
async def test_unsupported_url_fails_at_once(sleeps: Sleeps, mode: str) -> None:
    transport = make_transport(sleeps)
    req = OutboundRequest("POST", "ftp://127.0.0.1/e/key", {}, b"[]", retry_on_5xx=True)
    with pytest.raises(TransportError, match="http:// or https://") as info:
        await perform(transport, req, mode)
    assert info.value.attempts == 1
    assert sleeps.delays == []


# --- clients -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_clients_passed_in_are_used_and_left_open(stub: Stub, mode: str) -> None:
    stub.script(Reply(200, b"[]"))
    sync_client = httpx.Client(headers={"x-mine": "sync"})
    async_client = httpx.AsyncClient(headers={"x-mine": "async"})
    transport = HttpTransport(sync_client=sync_client, async_client=async_client)
    try:
        await perform(transport, batch_request(stub.url), mode)
        await close(transport)
        assert not sync_client.is_closed
        assert not async_client.is_closed
    finally:
        sync_client.close()
        await async_client.aclose()
    assert stub.received[0].headers["x-mine"] == mode


@pytest.mark.anyio
async def test_timeout_of_a_client_passed_in(stub: Stub, sleeps: Sleeps) -> None:
    stub.script(Reply(hold=True))
    async_client = httpx.AsyncClient(timeout=SMALL_TIMEOUT)
    transport = make_transport(sleeps, async_client=async_client)
    try:
        with pytest.raises(TransportError, match="httpx client passed to"):
            await transport.request(register_request(stub.url))
    finally:
        await async_client.aclose()


@pytest.mark.anyio
async def test_one_async_client_per_loop_reusable_after_close(stub: Stub) -> None:
    stub.script(Reply(200, b"[]"), Reply(200, b"[]"), Reply(200, b"[]"))
    async with HttpTransport() as transport:
        await transport.request(batch_request(stub.url))
        await transport.request(batch_request(stub.url))
        assert len(transport._loop_clients) == 1
        await transport.aclose()
        assert transport._loop_clients == {}
        await transport.request(batch_request(stub.url))
    assert len(stub.received) == 3


def test_sync_transport_as_context_manager(stub: Stub) -> None:
    stub.script(Reply(200, b"[]"))
    with HttpTransport() as transport:
        assert transport.request_sync(batch_request(stub.url)).status == 200
    assert transport._sync_client is None


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_clients_of_finished_loops_are_dropped(stub: Stub, backend: str) -> None:
    stub.script(Reply(200, b"[]"), Reply(200, b"[]"))
    transport = HttpTransport()

    async def fetch() -> None:
        await transport.request(batch_request(stub.url))

    anyio.run(fetch, backend=backend)
    gc.collect()  # a finished trio run's token lives until its cycles go
    anyio.run(fetch, backend=backend)  # a new loop: the old client is forgotten
    assert len(transport._loop_clients) == 1
    assert len(stub.received) == 2


@pytest.mark.anyio
async def test_unknown_loop_gets_a_client_per_request(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "_loop_key", lambda: None)
    stub.script(Reply(200, b"[]"))
    transport = HttpTransport()
    assert (await transport.request(batch_request(stub.url))).status == 200
    assert transport._loop_clients == {}


def test_hint_for_a_remote_origin() -> None:
    hint = http._reach_hint("https://inn.gs/e/key")
    assert "check that https://inn.gs is reachable" in hint
    assert "INNGEST_EVENT_API_BASE_URL" in hint
    assert "Dev Server running" not in hint
    assert (
        http._redact("https://inn.gs/e/secret?x=1")
        == "https://inn.gs/e/<event key>?x=1"
    )
