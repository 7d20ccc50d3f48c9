"""SDK → Inngest requests, checked against the golden transcripts."""

from __future__ import annotations

import base64
import json
import urllib.parse
from typing import Any

import pytest

from inngest_proto._errors import (
    EventKeyUnspecifiedError,
    LocalProtocolError,
    RemoteProtocolError,
    SendEventsError,
)
from inngest_proto._events import Event
from inngest_proto._http_values import OutboundRequest, OutboundResponse
from inngest_proto._outbound import (
    RunDataFetchError,
    auth_headers,
    base_headers,
    build_fetch_actions_request,
    build_fetch_batch_request,
    build_register_request,
    build_send_events_request,
    event_id_seed,
    parse_fetch_actions_response,
    parse_fetch_batch_response,
    parse_send_events_response,
)
from inngest_proto._settings import Settings, resolve_settings
from inngest_proto._version import REQUEST_VERSION, SDK_IDENTITY
from tests.golden_files import golden_headers, load_golden

KEY = "signkey-test-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
KEY2 = "signkey-test-fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
BEARER = "Bearer 4884fdaafea47c29fea7159d0daddd9c085d6200e1359e85bb81736af6b7c837"
BEARER2 = "Bearer 8d2e4d6374b604562a5d8c04a4dfc035fa499ec7ad373bd48bd2bd62ca75c3b5"
ENTROPY = bytes(range(10))
NOW_MS = 1_735_689_600_123


def outbound(golden: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        out
        for exchange in golden["exchanges"]
        for out in exchange.get("sdk_outbound_requests") or []
    ]


def path_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def dev_settings(**kwargs: Any) -> Settings:
    return resolve_settings({"INNGEST_DEV": "1"}, **kwargs)


def cloud_settings(**kwargs: Any) -> Settings:
    return resolve_settings(
        {
            "INNGEST_SIGNING_KEY": KEY,
            "INNGEST_SIGNING_KEY_FALLBACK": KEY2,
            "INNGEST_EVENT_KEY": "golden-event-key",
            "INNGEST_ENV": "golden-env",
        },
        **kwargs,
    )


def response(status: int, body: Any) -> OutboundResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return OutboundResponse(
        status=status, headers={"Content-Type": "application/json"}, body=raw
    )


# --- headers -----------------------------------------------------------------


def test_base_headers() -> None:
    assert base_headers(None) == {
        "content-type": "application/json",
        "x-inngest-sdk": SDK_IDENTITY,
        "x-inngest-req-version": REQUEST_VERSION,
        "user-agent": SDK_IDENTITY,
    }
    with_env = base_headers("golden-env", "fast_api")
    assert list(with_env)[-2:] == ["x-inngest-env", "x-inngest-framework"]
    assert with_env["x-inngest-env"] == "golden-env"
    assert with_env["x-inngest-framework"] == "fast_api"
    assert base_headers(cloud_settings()) == base_headers("golden-env")
    assert "x-inngest-env" not in base_headers(dev_settings())
    assert "x-inngest-env" not in base_headers("")


def test_sdk_identity_format() -> None:
    name, _, version = SDK_IDENTITY.partition(":v")
    assert name == "inngest-py"
    assert version


def test_auth_headers() -> None:
    assert auth_headers(None, None) == ({}, None)
    assert auth_headers(KEY, None) == ({"authorization": BEARER}, None)
    assert auth_headers(KEY, KEY2) == (
        {"authorization": BEARER},
        {"authorization": BEARER2},
    )
    # Like the official SDK: no primary key, but retry with the fallback.
    assert auth_headers(None, KEY2) == ({}, {"authorization": BEARER2})


# --- send events: goldens ------------------------------------------------------


def _seed_parts(request: dict[str, Any]) -> tuple[int, bytes]:
    seed = dict(request["headers"])["x-inngest-event-id-seed"]
    millis, _, b64 = seed.partition(",")
    return int(millis), base64.b64decode(b64)


def _events_from_golden_body(body: list[dict[str, Any]], now_ms: int) -> list[Event]:
    """The events as the user passed them: ts left unset where the SDK filled it."""
    return [
        Event(
            name=raw["name"],
            data=raw["data"],
            id=raw.get("id", ""),
            ts=0 if raw["ts"] == now_ms else raw["ts"],
        )
        for raw in body
    ]


@pytest.mark.parametrize(
    ("name", "mode", "settings_env"),
    [
        (
            "cloud",
            "cloud",
            {
                "INNGEST_EVENT_KEY": "golden-event-key",
                "INNGEST_ENV": "golden-env",
                "INNGEST_EVENT_API_BASE_URL": "http://127.0.0.1:8288",
            },
        ),
        ("dev", "dev", {"INNGEST_DEV": "1"}),
    ],
)
def test_send_event_client_golden(
    name: str, mode: str, settings_env: dict[str, str]
) -> None:
    golden = load_golden("send_event_client.json")
    [exchange] = golden[name]
    expected = exchange["request"]
    now_ms, entropy = _seed_parts(expected)
    settings = resolve_settings(settings_env)
    assert settings.mode == mode

    request = build_send_events_request(
        _events_from_golden_body(expected["body"], now_ms),
        settings=settings,
        now_ms=now_ms,
        entropy=entropy,
    )

    assert request.method == expected["method"]
    assert request.url == "http://127.0.0.1:8288" + expected["path"]
    assert path_of(request.url) == expected["path"]
    assert request.headers == golden_headers(expected)
    assert list(request.headers) == list(golden_headers(expected))
    assert request.body == expected["body_raw"].encode()
    assert "authorization" not in request.headers
    assert request.retry_on_5xx is True
    assert request.fallback_headers is None

    stub = exchange["stub_response"]
    ids = parse_send_events_response(response(stub["status"], stub["body"]))
    assert ids == stub["body"]["ids"]
    if name == "cloud":
        assert ids == golden["returned_ids_cloud"]


def test_send_event_from_function_golden() -> None:
    golden = load_golden("exec_send_event.json")
    [out] = outbound(golden)
    expected = out["request"]
    now_ms, entropy = _seed_parts(expected)
    request = build_send_events_request(
        _events_from_golden_body(expected["body"], now_ms),
        settings=dev_settings(),
        now_ms=now_ms,
        entropy=entropy,
    )
    assert path_of(request.url) == expected["path"]
    assert request.headers == golden_headers(expected)
    assert request.body == expected["body_raw"].encode()


# --- send events: rules ----------------------------------------------------------


def test_send_single_event_is_an_array_and_ts_filled() -> None:
    event = Event(name="a/b")
    request = build_send_events_request(
        event, settings=dev_settings(), now_ms=NOW_MS, entropy=ENTROPY
    )
    assert json.loads(request.body) == [{"data": {}, "name": "a/b", "ts": NOW_MS}]
    assert event.ts == 0  # the caller's event is untouched


def test_send_keeps_explicit_ts_and_id() -> None:
    events = [Event(name="a", id="dedupe", ts=5, data={"k": [1, "é"]})]
    request = build_send_events_request(
        events, settings=dev_settings(), now_ms=NOW_MS, entropy=ENTROPY
    )
    assert (
        request.body
        == b'[{"data":{"k":[1,"\\u00e9"]},"id":"dedupe","name":"a","ts":5}]'
    )


def test_send_empty_list() -> None:
    request = build_send_events_request(
        [], settings=dev_settings(), now_ms=NOW_MS, entropy=ENTROPY
    )
    assert request.body == b"[]"


def test_send_seed_header() -> None:
    request = build_send_events_request(
        [Event(name="a")], settings=dev_settings(), now_ms=NOW_MS, entropy=ENTROPY
    )
    seed = request.headers["x-inngest-event-id-seed"]
    assert seed == f"{NOW_MS},AAECAwQFBgcICQ=="
    assert event_id_seed(NOW_MS, ENTROPY) == seed


@pytest.mark.parametrize(
    ("now_ms", "entropy"),
    [(0, ENTROPY), (-1, ENTROPY), (NOW_MS, b"short"), (NOW_MS, bytes(11))],
)
def test_send_seed_rejects_bad_inputs(now_ms: int, entropy: bytes) -> None:
    with pytest.raises(ValueError, match=r"now_ms|entropy"):
        build_send_events_request(
            [Event(name="a")], settings=dev_settings(), now_ms=now_ms, entropy=entropy
        )


@pytest.mark.parametrize(
    ("settings", "url"),
    [
        (dev_settings(), "http://127.0.0.1:8288/e/NO_EVENT_KEY_SET"),
        (dev_settings(event_key="ek"), "http://127.0.0.1:8288/e/ek"),
        (cloud_settings(), "https://inn.gs/e/golden-event-key"),
        (
            cloud_settings(event_api_base_url="https://events.example.com/base/"),
            "https://events.example.com/e/golden-event-key",
        ),
        (cloud_settings(event_key="a/b c"), "https://inn.gs/e/a%2Fb%20c"),
    ],
)
def test_send_url(settings: Settings, url: str) -> None:
    request = build_send_events_request(
        [Event(name="a")], settings=settings, now_ms=NOW_MS, entropy=ENTROPY
    )
    assert request.url == url
    assert request.method == "POST"


def test_send_cloud_without_event_key() -> None:
    settings = resolve_settings({})
    with pytest.raises(EventKeyUnspecifiedError) as info:
        build_send_events_request(
            [Event(name="a")], settings=settings, now_ms=NOW_MS, entropy=ENTROPY
        )
    assert isinstance(info.value, LocalProtocolError)
    assert "INNGEST_EVENT_KEY" in str(info.value)
    assert "event_key" in str(info.value)
    assert info.value.code == "event_key_unspecified"


# --- send events: response parsing -------------------------------------------------


def test_parse_send_ok_with_trailing_newline() -> None:
    resp = OutboundResponse(
        status=200, headers={}, body=b'{"ids":["a","b"],"status":200}\n'
    )
    assert parse_send_events_response(resp) == ["a", "b"]


def test_parse_send_ok_without_ids() -> None:
    assert parse_send_events_response(response(200, {"status": 200})) == []


@pytest.mark.parametrize(
    ("status", "body", "ids", "fragments"),
    [
        (
            401,
            {"status": 401, "message": "", "error": "Event key not found"},
            [],
            ["401", "Event key not found", "INNGEST_EVENT_KEY"],
        ),
        (
            400,
            {"ids": ["x"], "status": 400, "error": "event too large"},
            ["x"],
            ["400", "event too large", "1 event(s) accepted"],
        ),
        (
            503,
            {"status": 503, "message": "", "error": "Event keys are required"},
            [],
            ["503", "Event keys are required", "again is safe"],
        ),
        # error present even with a 200 (what the official SDK checks)
        (200, {"ids": ["a"], "status": 200, "error": "partial"}, ["a"], ["partial"]),
        # status >= 400 without an error field
        (500, {"ids": []}, [], ["500", "no error message"]),
        # the status inside the body counts too
        (200, {"status": 400, "message": "bad"}, [], ["400", "bad"]),
        (404, b"404 page not found", [], ["404", "non-JSON", "404 page not found"]),
        (200, b"<html>proxy</html>", [], ["200", "non-JSON", "<html>proxy"]),
        (200, b"[1,2]", [], ["not an object"]),
        (200, {"ids": "nope", "status": 200}, [], ["'ids'"]),
    ],
)
def test_parse_send_errors(
    status: int, body: Any, ids: list[str], fragments: list[str]
) -> None:
    with pytest.raises(SendEventsError) as info:
        parse_send_events_response(response(status, body))
    assert info.value.ids == ids
    for fragment in fragments:
        assert fragment in str(info.value)
    assert info.value.code == "send_event_failed"


def test_parse_send_error_body_excerpt_is_short() -> None:
    with pytest.raises(SendEventsError) as info:
        parse_send_events_response(response(502, b"x" * 5000))
    assert len(str(info.value)) < 600


# --- use_api fetches -------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "authed"),
    [("exec_use_api_dev.json", False), ("exec_cloud_use_api.json", True)],
)
def test_use_api_golden(file: str, authed: bool) -> None:
    golden = load_golden(file)
    settings = (
        resolve_settings(golden["env"])
        if "env" in golden
        else resolve_settings({"INNGEST_DEV": "1"})
    )
    assert settings.mode == golden["mode"]
    outs = outbound(golden)
    assert [o["request"]["path"].rsplit("/", 1)[-1] for o in outs] == [
        "batch",
        "actions",
    ]
    run_id = outs[0]["request"]["path"].split("/")[3]
    builders = {
        "batch": build_fetch_batch_request,
        "actions": build_fetch_actions_request,
    }
    for out in outs:
        expected = out["request"]
        what = expected["path"].rsplit("/", 1)[-1]
        request = builders[what](run_id, settings)
        assert request.method == "GET"
        assert request.url == "http://127.0.0.1:8288" + expected["path"]
        assert request.body == expected["body_raw"].encode()
        assert request.headers == golden_headers(expected)
        assert list(request.headers) == list(golden_headers(expected))
        assert request.retry_on_5xx is False
        if authed:
            assert request.headers["authorization"] == BEARER
            assert request.fallback_headers == {
                **golden_headers(expected),
                "authorization": BEARER2,
            }
        else:
            assert "authorization" not in request.headers
            assert request.fallback_headers is None

    batch_stub = outs[0]["stub_response"]
    events = parse_fetch_batch_response(response(200, batch_stub["body"]))
    assert [(e.id, e.name, dict(e.data), e.ts) for e in events] == [
        (raw["id"], raw["name"], raw["data"], raw["ts"]) for raw in batch_stub["body"]
    ]
    actions_stub = outs[1]["stub_response"]
    assert parse_fetch_actions_response(response(200, actions_stub["body"])) == {}


def test_fetch_run_id_is_url_encoded_and_origin_path_dropped() -> None:
    settings = cloud_settings(api_base_url="https://api.example.com/prefix")
    request = build_fetch_batch_request("run/../x y", settings)
    assert request.url == "https://api.example.com/v0/runs/run%2F..%2Fx%20y/batch"
    request = build_fetch_actions_request("01RUN", cloud_settings())
    assert request.url == "https://api.inngest.com/v0/runs/01RUN/actions"


def test_fetch_with_key_in_dev_mode_sends_bearer() -> None:
    request = build_fetch_batch_request("r", dev_settings(signing_key=KEY))
    assert request.headers["authorization"] == BEARER
    assert request.fallback_headers is None


def test_fetch_empty_run_id() -> None:
    with pytest.raises(ValueError, match="run_id"):
        build_fetch_batch_request("", dev_settings())


def test_parse_actions_ok() -> None:
    steps = {"abc": {"data": 1}, "def": {"error": {"name": "E", "message": "m"}}}
    assert parse_fetch_actions_response(response(200, steps)) == steps


@pytest.mark.parametrize(
    ("parse", "status", "body", "fragments"),
    [
        (
            parse_fetch_batch_response,
            401,
            {"error": "unauthorized", "status": 401},
            ["batch", "401", "unauthorized", "INNGEST_SIGNING_KEY"],
        ),
        (
            parse_fetch_actions_response,
            403,
            b"forbidden",
            ["actions", "403", "forbidden", "INNGEST_SIGNING_KEY"],
        ),
        (
            parse_fetch_actions_response,
            404,
            b"404 page not found",
            ["actions", "404", "INNGEST_API_BASE_URL"],
        ),
        (parse_fetch_batch_response, 500, b"", ["batch", "500", "(empty body)"]),
        (parse_fetch_batch_response, 200, b"not json", ["batch", "not JSON"]),
        (parse_fetch_actions_response, 200, b"{", ["actions", "not JSON"]),
        (parse_fetch_batch_response, 200, {"a": 1}, ["not a JSON array"]),
        (parse_fetch_actions_response, 200, [1], ["not a JSON object"]),
        (parse_fetch_batch_response, 200, [{"data": {}}], ["batch[0].name"]),
        (
            parse_fetch_batch_response,
            200,
            [{"name": "ok", "ts": 1}, {"name": "x", "ts": "soon"}],
            ["batch[1].ts"],
        ),
    ],
)
def test_parse_run_data_errors(
    parse: Any, status: int, body: Any, fragments: list[str]
) -> None:
    with pytest.raises(RunDataFetchError) as info:
        parse(response(status, body))
    error = info.value
    assert isinstance(error, RemoteProtocolError)
    assert error.code == "unknown"
    assert error.status == 500
    for fragment in fragments:
        assert fragment in str(error)
    if status >= 400:
        assert error.http_status == status


def test_parse_run_data_excerpt_is_short() -> None:
    with pytest.raises(RunDataFetchError) as info:
        parse_fetch_batch_response(response(500, b"y" * 10_000))
    assert len(str(info.value)) < 400


# --- register ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "file",
    [
        "sync_cloud_out_of_band_signed.json",
        "sync_cloud_out_of_band_unsigned.json",
        "sync_dev_out_of_band.json",
        "sync_dev_in_band_header_ignored.json",
        "sync_dev_register_rejected.json",
        "sync_flask_out_of_band_serve_origin.json",
    ],
)
def test_register_golden(file: str) -> None:
    golden = load_golden(file)
    settings = resolve_settings(golden.get("env") or {"INNGEST_DEV": "1"})
    assert settings.mode == golden["mode"]
    [exchange] = [e for e in golden["exchanges"] if e.get("sdk_outbound_requests")]
    incoming = exchange["request"]
    incoming_headers = {k.lower(): v for k, v in incoming["headers"]}
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(incoming["path"]).query)
    [out] = exchange["sdk_outbound_requests"]
    expected = out["request"]
    framework = golden_headers(expected)["x-inngest-framework"]
    payload = expected["body_raw"].encode()

    request = build_register_request(
        payload,
        settings=settings,
        framework=framework,
        expected_server_kind=incoming_headers.get("x-inngest-server-kind"),
        deploy_id=query.get("deployId", [None])[0],
    )

    assert request.method == "POST"
    assert request.url == "http://127.0.0.1:8288" + expected["path"]
    assert request.headers == golden_headers(expected)
    assert list(request.headers) == list(golden_headers(expected))
    assert request.body == payload
    assert request.retry_on_5xx is False
    if settings.signing_key_fallback:
        assert request.fallback_headers == {
            **golden_headers(expected),
            "authorization": BEARER2,
        }
    else:
        assert request.fallback_headers is None


def test_register_url_and_optional_headers() -> None:
    request = build_register_request(
        b"{}",
        settings=cloud_settings(api_base_url="https://api.example.com/some/path"),
        framework=None,
        expected_server_kind=None,
        deploy_id="a b&c",
    )
    assert request.url == "https://api.example.com/fn/register?deployId=a+b%26c"
    assert "x-inngest-framework" not in request.headers
    assert "x-inngest-expected-server-kind" not in request.headers
    assert request.headers["authorization"] == BEARER

    plain = build_register_request(
        b"{}",
        settings=dev_settings(),
        framework="flask",
        expected_server_kind="dev",
        deploy_id=None,
    )
    assert plain.url == "http://127.0.0.1:8288/fn/register"
    assert "authorization" not in plain.headers
    assert plain.headers["x-inngest-expected-server-kind"] == "dev"
    assert isinstance(plain, OutboundRequest)
