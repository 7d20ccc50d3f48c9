"""The transport seam: the fallback-key resend on 401/403, and the default transport."""

from __future__ import annotations

import importlib.metadata
import sys
import types
from collections.abc import Awaitable, Callable

import pytest

import inngest_proto as inngest
from inngest_proto._errors import LocalProtocolError, SendEventsError
from inngest_proto._http_values import OutboundRequest, OutboundResponse
from inngest_proto._outbound import build_fetch_batch_request, build_register_request
from inngest_proto._settings import resolve_settings
from inngest_proto._transport import (
    TRANSPORT_ENTRY_POINTS,
    Transport,
    default_transport,
    send,
    send_sync,
)
from tests.fakes import FakeTransport

KEY = "signkey-test-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
KEY2 = "signkey-test-fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
BEARER = "Bearer 4884fdaafea47c29fea7159d0daddd9c085d6200e1359e85bb81736af6b7c837"
BEARER2 = "Bearer 8d2e4d6374b604562a5d8c04a4dfc035fa499ec7ad373bd48bd2bd62ca75c3b5"

Sender = Callable[[Transport, OutboundRequest], Awaitable[OutboundResponse]]


def reply(status: int, body: bytes = b"{}") -> OutboundResponse:
    return OutboundResponse(status, {"content-type": "application/json"}, body)


def request(*, fallback: bool = True) -> OutboundRequest:
    env = {"INNGEST_SIGNING_KEY": KEY, "INNGEST_ENV": "branch"}
    if fallback:
        env["INNGEST_SIGNING_KEY_FALLBACK"] = KEY2
    return build_fetch_batch_request("01RUN", resolve_settings(env))


@pytest.fixture(params=["async", "sync"])
def send_any(request: pytest.FixtureRequest) -> Sender:
    """``send`` or ``send_sync`` behind one awaitable signature."""
    if request.param == "async":
        return send

    async def via_sync(transport: Transport, req: OutboundRequest) -> OutboundResponse:
        return send_sync(transport, req)

    return via_sync


def test_the_fake_is_a_transport() -> None:
    assert isinstance(FakeTransport(), Transport)
    assert inngest.Transport is Transport


def test_request_carries_both_keys() -> None:
    req = request()
    assert req.headers["authorization"] == BEARER
    assert req.fallback_headers is not None
    assert req.fallback_headers["authorization"] == BEARER2
    assert request(fallback=False).fallback_headers is None


@pytest.mark.anyio
@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failure_resends_once_with_fallback_headers(
    send_any: Sender, status: int
) -> None:
    req = request()
    transport = FakeTransport([reply(status), reply(200, b"[]")])
    resp = await send_any(transport, req)
    assert resp.status == 200
    assert resp.body == b"[]"
    first, second = transport.sent
    assert first is req
    assert second.headers == req.fallback_headers
    assert second.headers["authorization"] == BEARER2
    assert second.headers["x-inngest-env"] == "branch"
    assert (second.method, second.url, second.body) == (req.method, req.url, req.body)
    assert second.retry_on_5xx == req.retry_on_5xx
    assert second.fallback_headers is None


@pytest.mark.anyio
@pytest.mark.parametrize(("first", "second"), [(401, 401), (403, 401), (401, 403)])
async def test_fallback_is_tried_only_once(
    send_any: Sender, first: int, second: int
) -> None:
    transport = FakeTransport([reply(first), reply(second, b'{"error":"nope"}')])
    resp = await send_any(transport, request())
    assert len(transport.sent) == 2
    assert resp.status == second
    assert resp.body == b'{"error":"nope"}'


@pytest.mark.anyio
@pytest.mark.parametrize("status", [401, 403])
async def test_no_fallback_key_no_resend(send_any: Sender, status: int) -> None:
    transport = FakeTransport([reply(status)])
    resp = await send_any(transport, request(fallback=False))
    assert resp.status == status
    assert len(transport.sent) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("status", [200, 201, 206, 400, 404, 429, 500, 503])
async def test_other_statuses_no_resend(send_any: Sender, status: int) -> None:
    transport = FakeTransport([reply(status)])
    resp = await send_any(transport, request())
    assert resp.status == status
    assert len(transport.sent) == 1


@pytest.mark.anyio
async def test_register_request_falls_back_too(send_any: Sender) -> None:
    settings = resolve_settings(
        {"INNGEST_SIGNING_KEY": KEY, "INNGEST_SIGNING_KEY_FALLBACK": KEY2}
    )
    req = build_register_request(
        b"{}",
        settings=settings,
        framework="flask",
        expected_server_kind="cloud",
        deploy_id="d1",
    )
    transport = FakeTransport([reply(401), reply(200)])
    await send_any(transport, req)
    second = transport.sent[1]
    assert second.url == req.url
    assert second.body == b"{}"
    assert second.headers["authorization"] == BEARER2
    assert second.headers["x-inngest-framework"] == "flask"
    assert second.headers["x-inngest-expected-server-kind"] == "cloud"


@pytest.mark.anyio
async def test_transport_errors_propagate(send_any: Sender) -> None:
    boom = ConnectionError("refused")
    transport = FakeTransport(fail_with=boom)
    with pytest.raises(ConnectionError) as info:
        await send_any(transport, request())
    assert info.value is boom
    assert len(transport.sent) == 1


@pytest.mark.anyio
async def test_error_on_the_fallback_request_propagates(send_any: Sender) -> None:
    class FailSecond(FakeTransport):
        def _answer(self, req: OutboundRequest) -> OutboundResponse:
            if self.sent:
                self.sent.append(req)
                raise SendEventsError("second failed")
            return super()._answer(req)

    transport = FailSecond([reply(403)])
    with pytest.raises(SendEventsError, match="second failed"):
        await send_any(transport, request())
    assert len(transport.sent) == 2


# --- default transport ---------------------------------------------------------------


def test_default_transport_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # ``None`` in sys.modules makes the import fail, as when it is not installed.
    monkeypatch.setitem(sys.modules, "inngest_transports.http", None)
    with pytest.raises(LocalProtocolError) as info:
        default_transport()
    message = info.value.message
    assert "pip install 'inngest-sansio[http]'" in message
    assert "transport=" in message
    assert isinstance(info.value.__cause__, ImportError)


def test_no_default_transport_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    # The core finds the default only through the entry point group; with
    # nothing registered there it says what to install, whatever is importable.
    def no_entry_points(**selection: str) -> importlib.metadata.EntryPoints:
        assert selection == {"group": TRANSPORT_ENTRY_POINTS, "name": "default"}
        return importlib.metadata.EntryPoints(())

    monkeypatch.setattr(importlib.metadata, "entry_points", no_entry_points)
    with pytest.raises(LocalProtocolError, match=r"inngest-sansio\[http\]"):
        default_transport()


def test_the_distribution_registers_the_http_transport_as_default() -> None:
    (entry_point,) = importlib.metadata.entry_points(
        group=TRANSPORT_ENTRY_POINTS, name="default"
    )
    assert entry_point.value == "inngest_transports.http:HttpTransport"


class TimedFake(FakeTransport):
    """Stands in for ``HttpTransport``: records the timeout it was built with."""

    def __init__(self, timeout: float | None) -> None:
        super().__init__()
        self.timeout = timeout


@pytest.mark.parametrize(
    ("args", "timeout"), [((), 30.0), ((1.5,), 1.5), ((None,), None)]
)
def test_default_transport_is_the_http_one(
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[float | None, ...],
    timeout: float | None,
) -> None:
    module = types.ModuleType("inngest_transports.http")
    module.HttpTransport = TimedFake  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "inngest_transports.http", module)
    transport = default_transport(*args)
    assert isinstance(transport, TimedFake)
    assert transport.timeout == timeout
