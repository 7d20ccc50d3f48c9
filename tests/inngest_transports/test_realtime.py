"""Realtime: request building, tokens, errors, and the dev server end to end."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections import deque
from typing import Any

import anyio
import pytest

import inngest_proto as inngest
from inngest_proto._http_values import OutboundRequest, OutboundResponse
from inngest_proto._signing import hash_signing_key
from inngest_proto.executor import MAX_DATA_DEPTH
from inngest_proto.realtime import (
    DEV_JWT_SECRET,
    InvalidTokenError,
    RealtimeError,
    RealtimeMessage,
    build_publish_request,
    connect_url,
    decode_jwt,
    encode_jwt,
    parse_message,
)
from inngest_transports.devserver import DevServer
from inngest_transports.devserver._realtime_hub import RealtimeApi
from inngest_transports.http import HttpTransport
from inngest_transports.realtime import (
    get_subscription_token,
    get_subscription_token_sync,
    publish,
    publish_sync,
    subscribe,
)

from .devserver._harness import harness

KEY = "signkey-prod-" + "ab" * 32
FALLBACK = "signkey-prod-" + "cd" * 32


class FakeTransport:
    """Answers from a script; records every request."""

    def __init__(self, *replies: OutboundResponse) -> None:
        self.replies = deque(replies)
        self.sent: list[OutboundRequest] = []

    async def request(self, req: OutboundRequest) -> OutboundResponse:
        return self.request_sync(req)

    def request_sync(self, req: OutboundRequest) -> OutboundResponse:
        self.sent.append(req)
        return self.replies.popleft()

    def now(self) -> float:
        return 1_700_000_000.0

    def random_bytes(self, n: int) -> bytes:
        return bytes(n)


def _client(transport: FakeTransport, **kw: Any) -> inngest.Inngest:
    return inngest.Inngest(
        app_id="rt",
        transport=transport,
        environ={"INNGEST_API_BASE_URL": "https://api.example.test/"},
        is_production=True,
        signing_key=kw.pop("signing_key", KEY),
        **kw,
    )


def _reply(status: int, body: Any = b"") -> OutboundResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return OutboundResponse(status=status, headers={}, body=raw)


# --- publish --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_publish_request_shape() -> None:
    transport = FakeTransport(_reply(200))
    client = _client(transport, env="branch-1")
    await publish(client, "user:1", "progress", {"pct": 50, "é": True})
    (req,) = transport.sent
    parts = urllib.parse.urlsplit(req.url)
    assert (req.method, parts.scheme, parts.netloc, parts.path) == (
        "POST",
        "https",
        "api.example.test",
        "/v1/realtime/publish",
    )
    assert urllib.parse.parse_qs(parts.query) == {
        "channel": ["user:1"],
        "topic": ["progress"],
    }
    assert json.loads(req.body) == {"pct": 50, "é": True}
    assert req.headers["authorization"] == f"Bearer {hash_signing_key(KEY)}"
    assert req.headers["x-inngest-env"] == "branch-1"
    assert req.headers["content-type"] == "application/json"
    assert req.fallback_headers is None


def test_publish_sync_resends_with_the_fallback_key_and_tags_the_run() -> None:
    transport = FakeTransport(_reply(401), _reply(200))
    client = _client(transport, signing_key_fallback=FALLBACK)
    publish_sync(client, "c", "t", [1, 2], run_id="01RUN")
    first, second = transport.sent
    assert first.headers["authorization"] == f"Bearer {hash_signing_key(KEY)}"
    assert second.headers["authorization"] == f"Bearer {hash_signing_key(FALLBACK)}"
    assert "run_id=01RUN" in first.url
    assert json.loads(first.body) == [1, 2]


@pytest.mark.anyio
async def test_publish_401_is_a_clear_error() -> None:
    client = _client(FakeTransport(_reply(401, {"error": "Not authenticated"})))
    with pytest.raises(RealtimeError, match=r"HTTP 401.*INNGEST_SIGNING_KEY") as err:
        await publish(client, "c", "t", {})
    assert err.value.http_status == 401


@pytest.mark.parametrize(
    ("channel", "topic", "error", "match"),
    [
        ("", "t", ValueError, "channel must be a non-empty"),
        (None, "t", TypeError, "channel must be a string"),
        ("c", "", ValueError, "topic must be a non-empty"),
        ("c", 3, TypeError, "topic must be a string"),
    ],
)
def test_publish_rejects_bad_channel_and_topic(
    channel: Any, topic: Any, error: type[Exception], match: str
) -> None:
    transport = FakeTransport()
    with pytest.raises(error, match=match):
        publish_sync(_client(transport), channel, topic, {})
    assert transport.sent == []


def test_publish_rejects_data_that_is_not_json() -> None:
    with pytest.raises(TypeError, match="JSON-serializable"):
        publish_sync(_client(FakeTransport()), "c", "t", {"when": object()})


def test_publish_builder_rejects_an_empty_run_id() -> None:
    settings = _client(FakeTransport()).settings
    with pytest.raises(ValueError, match="run_id"):
        build_publish_request("c", "t", {}, settings=settings, run_id="")


# --- tokens ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_token_request_and_result() -> None:
    transport = FakeTransport(_reply(201, {"jwt": "a.b.c"}))
    token = await get_subscription_token(_client(transport), "ch", ["x", "y"])
    assert token == {"channel": "ch", "topics": ["x", "y"], "key": "a.b.c"}
    (req,) = transport.sent
    assert req.url == "https://api.example.test/v1/realtime/token"
    assert json.loads(req.body) == [
        {"channel": "ch", "name": "x", "kind": "run"},
        {"channel": "ch", "name": "y", "kind": "run"},
    ]
    assert req.headers["authorization"] == f"Bearer {hash_signing_key(KEY)}"


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (_reply(401, {"error": "Not authenticated"}), "HTTP 401.*signing key"),
        (_reply(404, b"404 page not found"), "HTTP 404.*API origin"),
        (_reply(201, {"token": "x"}), "no 'jwt' string"),
        (_reply(201, b"<html>"), "no 'jwt' string"),
    ],
)
def test_token_errors(reply: OutboundResponse, match: str) -> None:
    with pytest.raises(RealtimeError, match=match):
        get_subscription_token_sync(_client(FakeTransport(reply)), "ch", ["x"])


@pytest.mark.parametrize(
    ("topics", "error", "match"),
    [
        ("progress", TypeError, r"wrap a single topic in a list: \['progress'\]"),
        ([], ValueError, "at least one topic"),
        (["ok", ""], ValueError, r"topics\[1\] must be a non-empty"),
        ([None], TypeError, r"topics\[0\] must be a string"),
    ],
)
def test_token_rejects_bad_topics(
    topics: Any, error: type[Exception], match: str
) -> None:
    transport = FakeTransport()
    with pytest.raises(error, match=match):
        get_subscription_token_sync(_client(transport), "ch", topics)
    assert transport.sent == []


# --- URLs, messages, JWTs -------------------------------------------------------------


def test_connect_url() -> None:
    assert (
        connect_url("http://127.0.0.1:8288/x?y", "J.W.T")
        == "ws://127.0.0.1:8288/v1/realtime/connect?token=J.W.T"
    )
    token = {"channel": "c", "topics": ["t"], "key": "k"}
    assert connect_url("https://api.inngest.com", token).startswith(
        "wss://api.inngest.com/v1/realtime/connect?token=k"
    )
    with pytest.raises(ValueError, match="JWT string or the mapping"):
        connect_url("http://h", {"channel": "c"})
    with pytest.raises(ValueError, match="http"):
        connect_url("h:8288", "k")


def test_parse_message() -> None:
    frame = (
        '{"kind":"data","data":{"n":1},"created_at":"2025-01-01T00:00:00Z",'
        '"channel":"c","env_id":"e","topic":"t","run_id":"R"}'
    )
    msg = parse_message(frame)
    assert msg == RealtimeMessage(
        kind="data",
        channel="c",
        topic="t",
        data={"n": 1},
        created_at="2025-01-01T00:00:00Z",
        run_id="R",
        env_id="e",
    )
    assert msg.raw["env_id"] == "e"
    for bad in ("[1]", "nope", '{"data": 1}'):
        with pytest.raises(RealtimeError, match="not a message object"):
            parse_message(bad)


def test_jwt_roundtrip_and_rejections() -> None:
    claims = {"iss": "rt.inngest.com", "iat": 100, "exp": 160, "topics": []}
    token = encode_jwt(claims, b"s")
    assert decode_jwt(token, b"s", now=120) == claims
    cases = [
        (token, b"other", 120, "signature"),
        (token, b"s", 160, "expired"),
        (token, b"s", 99, "before it was issued"),
        (encode_jwt({**claims, "iss": "x"}, b"s"), b"s", 120, "issuer"),
        (encode_jwt({"iss": "rt.inngest.com"}, b"s"), b"s", 120, "no expiry"),
        ("a.b", b"s", 120, "malformed"),
        (token + "=", b"s", 120, "base64url"),
        ("e30.e30.e30", b"s", 120, "HS256"),
    ]
    for bad, secret, now, match in cases:
        with pytest.raises(InvalidTokenError, match=match):
            decode_jwt(bad, secret, now)


# --- the dev server's routes ----------------------------------------------------------


class _Req:
    def __init__(
        self,
        method: str,
        body: bytes = b"",
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.method = method
        self.body = body
        self.query = query or {}
        self.headers = headers or {}


async def _call(api: RealtimeApi, part: str, req: _Req) -> tuple[int, bytes]:
    handler = api.route([part], req.method)
    assert handler is not None
    resp = await handler(req)
    return resp.status, resp.body


@pytest.mark.anyio
async def test_dev_routes_mint_and_check_tokens() -> None:
    api = RealtimeApi(lambda headers: headers.get("authorization") == "Bearer ok")
    topics = b'[{"channel":"c","name":"t","kind":"run"}]'
    assert (await _call(api, "token", _Req("POST", topics)))[0] == 401
    ok = {"authorization": "Bearer ok"}
    status, body = await _call(api, "token", _Req("POST", topics, headers=ok))
    assert status == 201
    jwt = json.loads(body)["jwt"]
    claims = decode_jwt(jwt, DEV_JWT_SECRET, now=time.time())
    assert claims["topics"] == [
        {
            "kind": "run",
            "channel": "c",
            "name": "t",
            "env_id": "00000000-0000-4000-b000-000000000000",
        }
    ]
    assert (claims["sub"], claims["publish"]) == (
        "00000000-0000-4000-a000-000000000000",
        False,
    )
    assert claims["exp"] - claims["iat"] == 60
    bad = await _call(api, "token", _Req("POST", b'{"c":1}', headers=ok))
    assert bad[0] == 400
    assert b"must provide a list of topics" in bad[1]
    # A subscription token does not publish; the signing key or a publish JWT does.
    query = {"channel": "c", "topic": "t"}
    sub_only = {"authorization": f"Bearer {jwt}"}
    status, body = await _call(api, "publish", _Req("POST", b"1", query, sub_only))
    assert (status, json.loads(body)["error"]) == (
        401,
        "Not authenticated for publishing",
    )
    assert (await _call(api, "publish", _Req("POST", b"1", query)))[0] == 401
    publisher = {"authorization": f"Bearer {api.mint([], publish=True)}"}
    assert (await _call(api, "publish", _Req("POST", b"1", query, publisher)))[0] == 200
    # Without an upgrade, connect answers 401 or 426.
    assert (await _call(api, "connect", _Req("GET")))[0] == 401
    with_token = _Req("GET", query={"token": jwt})
    assert (await _call(api, "connect", with_token))[0] == 426
    assert api.route(["nope"], "GET") is None


@pytest.mark.anyio
@pytest.mark.parametrize("depth", [MAX_DATA_DEPTH + 1, 5000])
async def test_dev_publish_refuses_metadata_nested_too_deep(depth: int) -> None:
    api = RealtimeApi(lambda headers: True)
    query = {"channel": "c", "topic": "t", "metadata": "[" * depth + "]" * depth}
    status, body = await _call(api, "publish", _Req("POST", b"1", query))
    assert status == 400
    assert f"deeper than the {MAX_DATA_DEPTH} levels" in json.loads(body)["error"]
    fine = {**query, "metadata": "[" * MAX_DATA_DEPTH + "]" * MAX_DATA_DEPTH}
    assert (await _call(api, "publish", _Req("POST", b"1", fine)))[0] == 200


# --- end to end, through the dev server -----------------------------------------------

CHANNEL = "user:42"


def _publisher(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(fn_id="pub", trigger=inngest.TriggerEvent(event="rt/go"))
    async def pub(ctx: inngest.Context) -> str:
        for i in range(3):

            async def send(i: int = i) -> int:
                await publish(
                    client, CHANNEL, "progress", {"step": i}, run_id=ctx.run_id
                )
                # Noise the token does not cover: another topic and channel.
                await publish(client, CHANNEL, "secret", {"step": i})
                await publish(client, "user:43", "progress", {"step": i})
                return i

            await ctx.step.run(f"publish-{i}", send)
        return "done"

    return [pub]


@pytest.mark.anyio
async def test_a_subscriber_receives_what_a_function_publishes() -> None:
    async with harness(_publisher) as h:
        token = await get_subscription_token(h.client, CHANNEL, ["progress"])
        async with subscribe(h.client, token) as messages:
            event_id = await h.send("rt/go")
            received: list[RealtimeMessage] = []
            with anyio.fail_after(5):
                while len(received) < 3:
                    message = await messages.receive()
                    assert message is not None
                    received.append(message)
            run = await h.finished_run(event_id)
            assert run["status"] == "Completed"
            assert [m.data for m in received] == [{"step": i} for i in range(3)]
            assert {(m.kind, m.channel, m.topic) for m in received} == {
                ("data", CHANNEL, "progress")
            }
            assert {m.run_id for m in received} == {run["run_id"]}
            # Nothing else was queued: the next message is this marker.
            await publish(h.client, CHANNEL, "progress", "end")
            with anyio.fail_after(5):
                last = await messages.receive()
            assert last is not None
            assert last.data == "end"


@pytest.mark.anyio
async def test_a_bad_token_is_refused_with_401() -> None:
    async with harness(_publisher) as h:
        stale = encode_jwt(
            {"iss": "rt.inngest.com", "iat": 1, "exp": 2, "topics": []},
            DEV_JWT_SECRET,
        )
        with pytest.raises(RealtimeError, match=r"HTTP 401.*expired") as err:
            async with subscribe(h.dev.url, stale):
                pass
        assert err.value.http_status == 401


@pytest.mark.anyio
async def test_publish_with_a_wrong_signing_key_is_401() -> None:
    dev = DevServer(port=0, poll=False, signing_key=KEY)
    async with anyio.create_task_group() as tg:
        url = await tg.start(dev.serve)
        client = inngest.Inngest(
            app_id="rt",
            environ={"INNGEST_DEV": url},
            signing_key=FALLBACK,
        )
        try:
            with pytest.raises(RealtimeError, match="HTTP 401"):
                await publish(client, "c", "t", {})
            with pytest.raises(RealtimeError, match="HTTP 401"):
                await get_subscription_token(client, "c", ["t"])
            right = inngest.Inngest(
                app_id="rt", environ={"INNGEST_DEV": url}, signing_key=KEY
            )
            token = await get_subscription_token(right, "c", ["t"])
            assert token["channel"] == "c"
        finally:
            for c in (client, right):
                transport = c.transport
                assert isinstance(transport, HttpTransport)
                await transport.aclose()
            await dev.shutdown()
