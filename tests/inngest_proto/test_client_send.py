"""The Inngest client's send and send_sync.

Golden conformance with the official SDK's requests, the events accepted,
the Event API's failures and the send middleware hooks.  Most tests run
through both ``send`` and ``send_sync`` (the ``mode`` fixture); async tests
run on asyncio and trio.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._errors import (
    EventKeyUnspecifiedError,
    InngestError,
    LocalProtocolError,
    SendEventsError,
)
from inngest_proto._http_values import OutboundRequest, OutboundResponse
from tests.fakes import FakeTransport
from tests.golden_files import golden_headers, load_golden
from tests.inngest_proto._client_helpers import DEV, KEY, client_for

CLOUD = {"INNGEST_EVENT_KEY": "ek", "INNGEST_SIGNING_KEY": KEY}
#: The seed FakeTransport's clock (1735689600.0) and bytes(range(10)) give.
FAKE_SEED = "1735689600000,AAECAwQFBgcICQ=="

Sender = Callable[..., Awaitable[list[str]]]


def reply(status: int, body: Any) -> OutboundResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return OutboundResponse(status, {"content-type": "application/json"}, raw)


def ok(*ids: str) -> OutboundResponse:
    return reply(200, {"ids": list(ids), "status": 200})


@pytest.fixture(params=["async", "sync"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def sender(client: inngest.Inngest, mode: str) -> Sender:
    """``client.send`` or ``client.send_sync`` behind one awaitable signature."""
    if mode == "async":
        return client.send

    async def via_sync(events: Any, **kwargs: Any) -> list[str]:
        return client.send_sync(events, **kwargs)

    return via_sync


# --- send: golden -----------------------------------------------------------------


class SeededTransport(FakeTransport):
    """A fake whose clock and randomness are those of a recorded seed."""

    def __init__(self, seed: str, responses: Sequence[OutboundResponse]) -> None:
        millis, entropy = seed.split(",")
        super().__init__(responses, now=int(millis) / 1000)
        self._entropy = base64.b64decode(entropy)

    def random_bytes(self, n: int) -> bytes:
        assert n == len(self._entropy)
        return self._entropy


def golden_reply(exchange: dict[str, Any]) -> OutboundResponse:
    stub = exchange["stub_response"]
    return reply(stub["status"], stub["body"])


CLOUD_GOLDEN_ENV = {
    "INNGEST_EVENT_KEY": "golden-event-key",
    "INNGEST_ENV": "golden-env",
    "INNGEST_EVENT_API_BASE_URL": "http://127.0.0.1:8288",
}
GOLDEN_CLOUD_EVENTS = [
    inngest.Event(name="golden/user.signup", data={"user_id": 7}),
    inngest.Event(
        name="golden/user.signup",
        data={"user_id": 8},
        id="my-dedupe-id",
        ts=1700000000000,
    ),
]


def check_golden_request(sent: OutboundRequest, expected: dict[str, Any]) -> None:
    assert sent.method == expected["method"]
    assert sent.url == "http://127.0.0.1:8288" + expected["path"]
    assert sent.headers == golden_headers(expected)
    assert list(sent.headers) == list(golden_headers(expected))
    assert "authorization" not in sent.headers
    assert sent.body == expected["body_raw"].encode()
    assert sent.retry_on_5xx is True
    assert sent.fallback_headers is None


@pytest.mark.anyio
async def test_golden_cloud(mode: str) -> None:
    golden = load_golden("send_event_client.json")
    [exchange] = golden["cloud"]
    expected = exchange["request"]
    seed = golden_headers(expected)["x-inngest-event-id-seed"]
    transport = SeededTransport(seed, [golden_reply(exchange)])
    client = client_for(CLOUD_GOLDEN_ENV, transport)
    assert client.mode == "cloud"

    ids = await sender(client, mode)(list(GOLDEN_CLOUD_EVENTS))

    assert ids == golden["returned_ids_cloud"]
    [sent] = transport.sent
    check_golden_request(sent, expected)
    assert GOLDEN_CLOUD_EVENTS[0].ts == 0  # the caller's event is untouched


@pytest.mark.anyio
async def test_golden_dev_single_event(mode: str) -> None:
    golden = load_golden("send_event_client.json")
    [exchange] = golden["dev"]
    expected = exchange["request"]
    seed = golden_headers(expected)["x-inngest-event-id-seed"]
    transport = SeededTransport(seed, [golden_reply(exchange)])
    client = client_for(DEV, transport)

    ids = await sender(client, mode)(inngest.Event(name="golden/single"))

    assert ids == exchange["stub_response"]["body"]["ids"]
    [sent] = transport.sent
    check_golden_request(sent, expected)


@pytest.mark.anyio
async def test_seed_and_ts_come_from_the_transport(mode: str) -> None:
    transport = FakeTransport([ok("01A")])
    await sender(client_for(DEV, transport), mode)(inngest.Event(name="a"))
    [sent] = transport.sent
    assert sent.headers["x-inngest-event-id-seed"] == FAKE_SEED
    assert json.loads(sent.body) == [{"data": {}, "name": "a", "ts": 1735689600000}]


# --- send: input ------------------------------------------------------------------


@pytest.mark.anyio
async def test_one_event_or_a_list(mode: str) -> None:
    transport = FakeTransport([ok("01A"), ok("01B"), ok("01C")])
    send = sender(client_for(DEV, transport), mode)
    event = inngest.Event(name="a", ts=1)
    assert await send(event) == ["01A"]
    assert await send([event]) == ["01B"]
    assert await send((event,)) == ["01C"]
    bodies = [sent.body for sent in transport.sent]
    assert bodies == [b'[{"data":{},"name":"a","ts":1}]'] * 3


@pytest.mark.anyio
async def test_several_events_keep_their_order(mode: str) -> None:
    transport = FakeTransport([ok("01A", "01B", "01C")])
    events = [inngest.Event(name=n, ts=1) for n in ("a", "b", "c")]
    assert await sender(client_for(DEV, transport), mode)(events) == [
        "01A",
        "01B",
        "01C",
    ]
    assert [e["name"] for e in json.loads(transport.sent[0].body)] == ["a", "b", "c"]


@pytest.mark.anyio
async def test_empty_list_is_sent(mode: str) -> None:
    transport = FakeTransport([ok()])
    assert await sender(client_for(DEV, transport), mode)([]) == []
    assert transport.sent[0].body == b"[]"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("events", "got"),
    [
        ({"name": "a"}, "takes an inngest.Event or a list of them, got dict"),
        ("a/b", "got str"),
        (b"a/b", "got bytes"),
        (None, "got NoneType"),
        (3, "got int"),
        ([inngest.Event(name="a"), {"name": "b"}], "got dict at index 1"),
        ([None], "got NoneType at index 0"),
    ],
)
async def test_non_event_input_is_a_type_error(
    mode: str, events: Any, got: str
) -> None:
    transport = FakeTransport()
    with pytest.raises(TypeError, match=got):
        await sender(client_for(DEV, transport), mode)(events)
    assert transport.sent == []


@pytest.mark.anyio
async def test_cloud_without_event_key(mode: str) -> None:
    transport = FakeTransport()
    client = client_for({"INNGEST_SIGNING_KEY": KEY}, transport)
    with pytest.raises(EventKeyUnspecifiedError) as info:
        await sender(client, mode)(inngest.Event(name="a"))
    assert "INNGEST_EVENT_KEY" in info.value.message
    assert "event_key=" in info.value.message
    assert info.value.code == "event_key_unspecified"
    assert transport.sent == []


@pytest.mark.anyio
async def test_missing_event_key_is_reported_before_a_missing_transport(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "inngest_transports.http", None)
    client = client_for({})
    with pytest.raises(EventKeyUnspecifiedError):
        await sender(client, mode)(inngest.Event(name="a"))


@pytest.mark.anyio
async def test_event_key_argument_is_in_the_path(mode: str) -> None:
    transport = FakeTransport([ok("01A")])
    client = client_for({}, transport, event_key="my/key")
    await sender(client, mode)(inngest.Event(name="a"))
    assert transport.sent[0].url == "https://inn.gs/e/my%2Fkey"


# --- send: failures ---------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("resp", "expected"),
    [
        (
            reply(400, {"ids": [], "status": 400, "error": "event name is reserved"}),
            ["HTTP 400", "event name is reserved", "check the events"],
        ),
        (
            reply(401, {"status": 401, "message": "", "error": "Event key not found"}),
            ["HTTP 401", "Event key not found", "check the event key"],
        ),
        (
            reply(
                503, {"status": 503, "message": "", "error": "Event keys are required"}
            ),
            ["HTTP 503", "Event keys are required", "the Event API failed"],
        ),
        (reply(500, {}), ["HTTP 500", "no error message"]),
        (
            reply(502, b"<html>Bad Gateway</html>"),
            ["HTTP 502", "non-JSON", "<html>Bad Gateway</html>"],
        ),
        (reply(200, b""), ["HTTP 200", "non-JSON", "(empty body)"]),
        (reply(200, [1, 2]), ["not an object"]),
        (reply(200, {"ids": "01A"}), ["'ids' that is not a list"]),
        (reply(200, {"ids": [], "error": "boom"}), ["boom"]),
    ],
)
async def test_server_errors(
    mode: str, resp: OutboundResponse, expected: list[str]
) -> None:
    transport = FakeTransport([resp])
    with pytest.raises(SendEventsError) as info:
        await sender(client_for(CLOUD, transport), mode)(inngest.Event(name="a"))
    for part in expected:
        assert part in info.value.message
    assert str(info.value) == info.value.message
    assert info.value.code == "send_event_failed"
    assert len(transport.sent) == 1  # no fallback resend for event keys


@pytest.mark.anyio
async def test_partial_acceptance_keeps_the_ids(mode: str) -> None:
    resp = reply(400, {"ids": ["01A", ""], "status": 400, "error": "event too large"})
    transport = FakeTransport([resp])
    with pytest.raises(SendEventsError) as info:
        await sender(client_for(DEV, transport), mode)([inngest.Event(name="a")] * 2)
    assert info.value.ids == ["01A", ""]
    assert "event too large" in info.value.message


@pytest.mark.anyio
async def test_transport_error_becomes_send_events_error(mode: str) -> None:
    boom = ConnectionRefusedError("connection refused")
    transport = FakeTransport(fail_with=boom)
    with pytest.raises(SendEventsError) as info:
        await sender(client_for(DEV, transport), mode)(inngest.Event(name="a"))
    message = info.value.message
    # The event key is the credential: it never appears in messages.
    assert "http://127.0.0.1:8288/e/<event key>" in message
    assert "NO_EVENT_KEY_SET" not in message
    assert "before the Event API replied" in message
    assert "ConnectionRefusedError: connection refused" in message
    assert info.value.__cause__ is boom
    assert info.value.ids == []


@pytest.mark.anyio
async def test_sdk_errors_from_the_transport_propagate_unchanged(mode: str) -> None:
    boom = LocalProtocolError("transport misconfigured")
    transport = FakeTransport(fail_with=boom)
    with pytest.raises(LocalProtocolError) as info:
        await sender(client_for(DEV, transport), mode)(inngest.Event(name="a"))
    assert info.value is boom


# --- send: middleware -------------------------------------------------------------


class Recorder:
    calls: list[tuple[str, Any]]

    def __init__(self) -> None:
        self.calls = []
        self.created: list[tuple[Any, object]] = []

    def sync_middleware(self, tag: str = "") -> type[inngest.MiddlewareSync]:
        recorder = self

        class Recording(inngest.MiddlewareSync):
            def __init__(self, client: inngest.Inngest, raw_request: object) -> None:
                super().__init__(client, raw_request)
                recorder.created.append((client, raw_request))

            def before_send_events(self, events: list[inngest.Event]) -> None:
                recorder.calls.append((f"before{tag}", list(events)))

            def after_send_events(self, result: Any) -> None:
                recorder.calls.append((f"after{tag}", result))

        return Recording

    def async_middleware(self) -> type[inngest.Middleware]:
        recorder = self

        class Recording(inngest.Middleware):
            async def before_send_events(self, events: list[inngest.Event]) -> None:
                recorder.calls.append(("before", list(events)))

            async def after_send_events(self, result: Any) -> None:
                recorder.calls.append(("after", result))

        return Recording


@pytest.mark.anyio
async def test_sync_middleware(mode: str) -> None:
    rec = Recorder()
    transport = FakeTransport([ok("01A")])
    client = client_for(DEV, transport, middleware=[rec.sync_middleware()])
    event = inngest.Event(name="a")
    assert await sender(client, mode)(event) == ["01A"]
    assert rec.calls == [
        ("before", [event]),
        ("after", inngest.SendEventsResult(ids=["01A"], error=None)),
    ]
    assert rec.created == [(client, None)]


@pytest.mark.anyio
async def test_async_middleware_with_send() -> None:
    rec = Recorder()
    transport = FakeTransport([ok("01A")])
    client = client_for(DEV, transport, middleware=[rec.async_middleware()])
    event = inngest.Event(name="a")
    assert await client.send(event) == ["01A"]
    assert rec.calls == [
        ("before", [event]),
        ("after", inngest.SendEventsResult(ids=["01A"])),
    ]


def test_async_middleware_cannot_run_in_send_sync() -> None:
    rec = Recorder()
    transport = FakeTransport()
    client = client_for(DEV, transport, middleware=[rec.async_middleware()])
    with pytest.raises(LocalProtocolError, match="async middleware"):
        client.send_sync(inngest.Event(name="a"))
    assert transport.sent == []


@pytest.mark.anyio
async def test_middleware_added_later_and_in_order(mode: str) -> None:
    rec = Recorder()
    transport = FakeTransport([ok("01A")])
    client = client_for(DEV, transport, middleware=[rec.sync_middleware("1")])
    client.add_middleware(rec.sync_middleware("2"))
    await sender(client, mode)(inngest.Event(name="a"))
    assert [name for name, _ in rec.calls][:2] == ["before1", "before2"]
    assert {name for name, _ in rec.calls[2:]} == {"after1", "after2"}


@pytest.mark.anyio
async def test_before_send_events_may_change_the_list(mode: str) -> None:
    class AddOne(inngest.MiddlewareSync):
        def before_send_events(self, events: list[inngest.Event]) -> None:
            events.append(inngest.Event(name="added", ts=1))

    transport = FakeTransport([ok("01A", "01B")])
    client = client_for(DEV, transport, middleware=[AddOne])
    await sender(client, mode)(inngest.Event(name="a", ts=1))
    assert [e["name"] for e in json.loads(transport.sent[0].body)] == ["a", "added"]


@pytest.mark.anyio
async def test_before_send_events_adding_a_non_event(mode: str) -> None:
    class AddJunk(inngest.MiddlewareSync):
        def before_send_events(self, events: list[Any]) -> None:
            events.append({"name": "junk"})

    transport = FakeTransport()
    client = client_for(DEV, transport, middleware=[AddJunk])
    with pytest.raises(TypeError, match="before_send_events middleware"):
        await sender(client, mode)(inngest.Event(name="a"))
    assert transport.sent == []


@pytest.mark.anyio
async def test_after_send_events_sees_a_rejection(mode: str) -> None:
    rec = Recorder()
    resp = reply(400, {"ids": ["01A"], "status": 400, "error": "too large"})
    transport = FakeTransport([resp])
    client = client_for(DEV, transport, middleware=[rec.sync_middleware()])
    with pytest.raises(SendEventsError, match="too large") as info:
        await sender(client, mode)(inngest.Event(name="a"))
    name, result = rec.calls[-1]
    assert name == "after"
    assert result.ids == ["01A"]
    assert result.error == info.value.message


@pytest.mark.anyio
async def test_no_after_send_events_without_a_reply(mode: str) -> None:
    rec = Recorder()
    transport = FakeTransport(fail_with=OSError("down"))
    client = client_for(DEV, transport, middleware=[rec.sync_middleware()])
    with pytest.raises(SendEventsError):
        await sender(client, mode)(inngest.Event(name="a"))
    assert [name for name, _ in rec.calls] == ["before"]


@pytest.mark.anyio
async def test_middleware_errors_propagate(mode: str) -> None:
    class Refuse(inngest.MiddlewareSync):
        def before_send_events(self, events: list[inngest.Event]) -> None:
            raise RuntimeError("not today")

    transport = FakeTransport()
    client = client_for(DEV, transport, middleware=[Refuse])
    with pytest.raises(RuntimeError, match="not today"):
        await sender(client, mode)(inngest.Event(name="a"))
    assert transport.sent == []


@pytest.mark.anyio
async def test_skip_middleware(mode: str) -> None:
    rec = Recorder()
    transport = FakeTransport([ok("01A")])
    client = client_for(
        DEV, transport, middleware=[rec.sync_middleware(), rec.async_middleware()]
    )
    assert await sender(client, mode)(
        inngest.Event(name="a"), skip_middleware=True
    ) == ["01A"]
    assert rec.calls == []
    assert rec.created == []


def test_errors_are_inngest_errors() -> None:
    assert issubclass(SendEventsError, InngestError)
    assert issubclass(EventKeyUnspecifiedError, LocalProtocolError)
