"""PUT (sync) and GET (introspection) decisions.

See docs/protocol/http.rst#introspection and
docs/protocol/http.rst#sync-decision.

What the golden transcripts do not show: in-band syncs with a bad body,
``INNGEST_ENABLE_UNAUTHED_SYNC=false``, every way ``/fn/register`` can fail,
the advertised URL's overrides, ``deployId`` and the fallback key's resend.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._errors import LocalProtocolError
from inngest_proto._signing import hash_signing_key
from tests.fakes import FakeTransport
from tests.inngest_proto._comm_helpers import (
    APP_ID,
    DRIVERS,
    FALLBACK,
    KEY,
    MODES,
    NOW,
    URL,
    Driver,
    Mode,
    assert_error,
    assert_sdk_headers,
    assert_signed,
    assert_unauthorized,
    environ,
    make_client,
    make_functions,
    request,
    serve,
)

OK_REPLY = {"ok": True, "modified": True, "app_id": "uuid", "sync_id": "uuid"}


def reply(status: int = 200, body: Any = OK_REPLY) -> inngest.OutboundResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return inngest.OutboundResponse(status, {"content-type": "application/json"}, raw)


def make(
    mode: Mode = "dev",
    *replies: inngest.OutboundResponse,
    env: Mapping[str, str] | None = None,
    fail_with: Exception | None = None,
    **kwargs: Any,
) -> tuple[inngest.CommHandler, FakeTransport]:
    transport = FakeTransport(replies, now=NOW, fail_with=fail_with)
    client = make_client(mode, transport=transport, env=env)
    handler = inngest.CommHandler(
        client=client, functions=make_functions(client), framework="test", **kwargs
    )
    return handler, transport


def put(
    *,
    body: Any = b"",
    sign: str | None = None,
    in_band: bool = False,
    server_kind: str | None = None,
    query: Mapping[str, str] | None = None,
    url: str = URL,
) -> inngest.IncomingRequest:
    headers: dict[str, str] = {}
    if in_band:
        headers["x-inngest-sync-kind"] = "in_band"
    if server_kind:
        headers["x-inngest-server-kind"] = server_kind
    return request("PUT", body=body, sign=sign, headers=headers, query=query, url=url)


def registered(transport: FakeTransport) -> dict[str, Any]:
    (sent,) = transport.sent
    payload: dict[str, Any] = json.loads(sent.body)
    return payload


def assert_failed_sync(resp: inngest.Response, *words: str) -> str:
    """500 ``{message, modified: false}``: a failed sync is never a 200."""
    assert resp.status == 500, resp.body
    body = json.loads(resp.body)
    assert set(body) == {"message", "modified"}
    assert body["modified"] is False
    for word in words:
        assert word in body["message"], (word, body["message"])
    assert resp.headers["x-inngest-sync-kind"] == "out_of_band"
    message: str = body["message"]
    return message


# --- in-band ------------------------------------------------------------------


BAD_IN_BAND = {
    "empty": (b"", "must be"),
    "not json": (b"{url", "must be"),
    "array": ([URL], "must be"),
    "no url": ({"uri": URL}, "must be"),
    "url not a string": ({"url": 5}, "must be"),
    "relative url": ({"url": "/api/inngest"}, "not an absolute http(s) URL"),
    "not http": ({"url": "ftp://app.test/x"}, "not an absolute http(s) URL"),
    "bad ipv6": ({"url": "http://[::1/api"}, "not an absolute http(s) URL"),
    "bad port": ({"url": "http://app.test:99999/api"}, "not an absolute http(s) URL"),
    "nested too deeply": (b"[" * 50_000 + b"]" * 50_000, "must be"),
}


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("name", list(BAD_IN_BAND))
async def test_in_band_with_bad_body_is_400(name: str, driver: Driver) -> None:
    body, words = BAD_IN_BAND[name]
    handler, transport = make("cloud")
    resp = await serve(handler, put(body=body, sign=KEY, in_band=True), driver)
    assert_error(resp, 400, "body_invalid", words, '{"url"', mode="cloud")
    assert_signed(resp)
    assert transport.sent == []


def test_long_url_is_not_quoted_in_full() -> None:
    handler, _ = make("cloud")
    long_url = "ftp://" + "x" * 10_000
    req = put(body={"url": long_url}, sign=KEY, in_band=True)
    resp = handler.handle_sync(req, now=NOW)
    assert resp.status == 400
    assert len(json.loads(resp.body)["message"]) < 500


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_in_band_applies_overrides_to_the_body_url(driver: Driver) -> None:
    handler, _ = make("cloud", serve_path="/served", public_path="/public")
    body = {"url": "https://cloud.example.com/api/inngest?x=1"}
    resp = await serve(handler, put(body=body, sign=KEY, in_band=True), driver)
    assert resp.status == 200
    assert resp.headers["x-inngest-sync-kind"] == "in_band"
    answer = json.loads(resp.body)
    assert answer["url"] == "https://cloud.example.com/public"
    runtime = answer["functions"][0]["steps"]["step"]["runtime"]["url"]
    assert runtime.startswith("https://cloud.example.com/public?fnId=")


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_in_band_header_is_ignored_in_dev(driver: Driver) -> None:
    handler, transport = make("dev", reply())
    resp = await serve(handler, put(body={"url": 1}, in_band=True), driver)
    assert resp.status == 200
    assert resp.headers["x-inngest-sync-kind"] == "out_of_band"
    assert registered(transport)["url"] == URL


# --- who may sync out-of-band -------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("value", ["false", "0", " FALSE "])
async def test_unsigned_sync_refused_when_unauthed_sync_disabled(
    value: str, driver: Driver
) -> None:
    env = environ("cloud", INNGEST_ENABLE_UNAUTHED_SYNC=value)
    handler, transport = make("cloud", env=env)
    resp = await serve(handler, put(), driver)
    assert_unauthorized(
        resp, "header_missing", "INNGEST_ENABLE_UNAUTHED_SYNC", "X-Inngest-Signature"
    )
    resp = await serve(handler, put(sign=FALLBACK), driver)
    assert_unauthorized(
        resp, "sig_verification_failed", "INNGEST_ENABLE_UNAUTHED_SYNC", "INNGEST_"
    )
    assert transport.sent == []


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_signed_sync_allowed_when_unauthed_sync_disabled(driver: Driver) -> None:
    env = environ("cloud", INNGEST_ENABLE_UNAUTHED_SYNC="false")
    handler, transport = make("cloud", reply(), env=env)
    resp = await serve(handler, put(sign=KEY, server_kind="cloud"), driver)
    assert resp.status == 200
    assert json.loads(resp.body) == OK_REPLY
    assert_signed(resp)
    assert len(transport.sent) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("headers", [{}, {"x-inngest-signature": "garbage"}])
async def test_unsigned_sync_allowed_by_default_in_cloud(
    headers: dict[str, str], driver: Driver
) -> None:
    handler, transport = make("cloud", reply())
    req = request("PUT", headers=headers)
    resp = await serve(handler, req, driver)
    assert resp.status == 200
    assert "x-inngest-signature" not in resp.headers
    assert len(transport.sent) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_unauthed_sync_setting_is_ignored_in_dev(driver: Driver) -> None:
    env = environ("dev", INNGEST_ENABLE_UNAUTHED_SYNC="false")
    handler, _ = make("dev", reply(), env=env)
    assert (await serve(handler, put(), driver)).status == 200


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    ("mode", "kind", "words"),
    [
        ("dev", "cloud", "from Cloud but expected Dev Server"),
        ("cloud", "dev", "from a Dev Server but expected Cloud"),
    ],
)
async def test_server_kind_mismatch_is_400(
    mode: Mode, kind: str, words: str, driver: Driver
) -> None:
    handler, transport = make(mode)
    sign = KEY if mode == "cloud" else None
    resp = await serve(handler, put(sign=sign, server_kind=kind), driver)
    assert_error(resp, 400, "server_kind_mismatch", words, mode=mode)
    assert transport.sent == []


# --- /fn/register failures ----------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "raw", [b"<html>502 Bad Gateway</html>", b"", b"[1]", b"null", b"\xff"]
)
async def test_register_reply_not_a_json_object(
    raw: bytes, mode: Mode, driver: Driver
) -> None:
    handler, _ = make(mode, reply(200, raw))
    resp = await serve(handler, put(), driver)
    message = assert_failed_sync(
        resp, "/fn/register", "not a JSON object", "INNGEST_API_BASE_URL"
    )
    assert "answered 200" in message
    assert_sdk_headers(resp, mode)


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
async def test_register_network_error(mode: Mode, driver: Driver) -> None:
    error = ConnectionRefusedError("connection refused")
    handler, transport = make(mode, fail_with=error)
    resp = await serve(handler, put(), driver)
    assert_failed_sync(
        resp,
        "could not reach",
        transport.sent[0].url,
        "ConnectionRefusedError",
        "INNGEST_API_BASE_URL",
    )
    assert_sdk_headers(resp, mode)


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_register_transport_raising_an_sdk_error(driver: Driver) -> None:
    handler, _ = make(fail_with=LocalProtocolError("no transport: install httpx"))
    resp = await serve(handler, put(), driver)
    assert_failed_sync(resp, "no transport: install httpx")


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            {"error": "At least one function is invalid", "data": None, "status": 400},
            "registration failed: At least one function is invalid",
        ),
        (400, {"message": "App ID required"}, "registration failed: App ID required"),
        (404, {}, "registration failed: status 404"),
        (422, {"error": ""}, "registration failed: status 422"),
        (200, {"error": "expected server kind"}, "registration failed: expected"),
        (500, {"error": "internal"}, "registration failed: internal"),
    ],
)
async def test_register_rejected_is_500(
    status: int, body: dict[str, Any], expected: str, driver: Driver
) -> None:
    handler, _ = make("dev", reply(status, body))
    resp = await serve(handler, put(), driver)
    message = assert_failed_sync(resp, expected)
    assert "INNGEST_SIGNING_KEY" not in message


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("status", [401, 403])
async def test_register_auth_failure_names_the_signing_key(
    status: int, driver: Driver
) -> None:
    handler, transport = make("cloud", reply(status, {"error": "Unauthorized"}))
    resp = await serve(handler, put(sign=KEY), driver)
    assert_failed_sync(
        resp, "registration failed: Unauthorized", f"({status})", "INNGEST_SIGNING_KEY"
    )
    assert_signed(resp)
    # No fallback key configured: no resend.
    assert len(transport.sent) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("status", [401, 403])
async def test_register_resent_with_fallback_key(status: int, driver: Driver) -> None:
    env = environ("cloud", INNGEST_SIGNING_KEY_FALLBACK=FALLBACK)
    handler, transport = make(
        "cloud", reply(status, {"error": "Unauthorized"}), reply(), env=env
    )
    resp = await serve(handler, put(sign=KEY), driver)
    assert resp.status == 200
    assert json.loads(resp.body) == OK_REPLY
    first, second = transport.sent
    assert first.headers["authorization"] == f"Bearer {hash_signing_key(KEY)}"
    assert second.headers["authorization"] == f"Bearer {hash_signing_key(FALLBACK)}"
    assert (second.url, second.body) == (first.url, first.body)


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_register_fallback_also_refused(driver: Driver) -> None:
    env = environ("cloud", INNGEST_SIGNING_KEY_FALLBACK=FALLBACK)
    refused = reply(401, {"error": "Unauthorized"})
    handler, transport = make("cloud", refused, refused, env=env)
    resp = await serve(handler, put(), driver)
    assert_failed_sync(resp, "INNGEST_SIGNING_KEY_FALLBACK")
    assert len(transport.sent) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_register_not_resent_on_other_errors(driver: Driver) -> None:
    env = environ("cloud", INNGEST_SIGNING_KEY_FALLBACK=FALLBACK)
    handler, transport = make("cloud", reply(500, {"error": "down"}), env=env)
    assert_failed_sync(await serve(handler, put(), driver), "down")
    assert len(transport.sent) == 1


# --- the advertised URL -------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    ("kwargs", "env", "expected"),
    [
        ({}, {}, "http://internal:8000/api/inngest"),
        (
            {"serve_origin": "https://app.example.com"},
            {},
            "https://app.example.com/api/inngest",
        ),
        (
            {"serve_origin": "app.example.com:8443"},
            {},
            "https://app.example.com:8443/api/inngest",
        ),
        (
            {"serve_origin": "http://app.example.com/ignored/path"},
            {},
            "http://app.example.com/api/inngest",
        ),
        ({"serve_path": "/custom/path"}, {}, "http://internal:8000/custom/path"),
        ({"public_path": "/public"}, {}, "http://internal:8000/public"),
        (
            {"serve_path": "/served", "public_path": "/public"},
            {},
            "http://internal:8000/public",
        ),
        (
            {
                "serve_origin": "https://app.example.com",
                "serve_path": "/served",
                "public_path": "/public",
            },
            {},
            "https://app.example.com/public",
        ),
        (
            {},
            {"INNGEST_SERVE_ORIGIN": "env.example.com", "INNGEST_SERVE_PATH": "/env"},
            "https://env.example.com/env",
        ),
        (
            {"serve_origin": "https://arg.example.com", "serve_path": "/arg"},
            {"INNGEST_SERVE_ORIGIN": "env.example.com", "INNGEST_SERVE_PATH": "/env"},
            "https://arg.example.com/arg",
        ),
        (
            {"public_path": "/public"},
            {"INNGEST_SERVE_PATH": "/env"},
            "http://internal:8000/public",
        ),
    ],
)
async def test_advertised_url(
    kwargs: dict[str, Any], env: dict[str, str], expected: str, driver: Driver
) -> None:
    handler, transport = make("dev", reply(), env=environ("dev", **env), **kwargs)
    req = put(url="http://internal:8000/api/inngest?deployId=d&x=1#frag")
    resp = await serve(handler, req, driver)
    assert resp.status == 200
    payload = registered(transport)
    assert payload["url"] == expected
    for config in payload["functions"]:
        runtime = config["steps"]["step"]["runtime"]
        assert runtime == {
            "type": "http",
            "url": f"{expected}?fnId={config['id']}&stepId=step",
        }


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_introspection_reports_serve_arguments_not_env(driver: Driver) -> None:
    env = environ("cloud", INNGEST_SERVE_ORIGIN="env.example.com")
    handler, _ = make("cloud", env=env, serve_path="/arg")
    resp = await serve(handler, request("GET", sign=KEY), driver)
    body = json.loads(resp.body)
    assert (body["serve_origin"], body["serve_path"]) == (None, "/arg")


@pytest.mark.parametrize(
    "origin", ["http://[::1", "http://app.test:99999", "ftp://app.test", "https://"]
)
def test_bad_serve_origin_fails_at_construction(origin: str) -> None:
    with pytest.raises(LocalProtocolError, match="INNGEST_SERVE_ORIGIN"):
        make(serve_origin=origin)
    with pytest.raises(LocalProtocolError, match="serve_origin"):
        make(env=environ("dev", INNGEST_SERVE_ORIGIN=origin))


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "url", ["", "/api/inngest", "http://[::1/api", "http://h:bad/api", "garbage"]
)
async def test_unusable_request_url_is_400(
    url: str, mode: Mode, driver: Driver
) -> None:
    handler, transport = make(mode)
    sign = KEY if mode == "cloud" else None
    resp = await serve(handler, put(url=url, sign=sign), driver)
    body = assert_error(
        resp, 400, "url_invalid", "INNGEST_SERVE_ORIGIN", "serve_origin", mode=mode
    )
    assert body["name"] == "URLInvalidError"
    assert transport.sent == []
    if mode == "cloud":
        assert_signed(resp)


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_serve_origin_and_path_make_the_request_url_irrelevant(
    driver: Driver,
) -> None:
    handler, transport = make(
        "dev", reply(), serve_origin="https://app.example.com", serve_path="/api"
    )
    resp = await serve(handler, put(url="http://[::1/whatever"), driver)
    assert resp.status == 200
    assert registered(transport)["url"] == "https://app.example.com/api"


# --- deployId -----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    ("deploy_id", "suffix"),
    [
        ("01JDEPLOY", "?deployId=01JDEPLOY"),
        ("a b&c=d", "?deployId=a+b%26c%3Dd"),
        ("", ""),
        (None, ""),
    ],
)
async def test_deploy_id_is_forwarded(
    deploy_id: str | None, suffix: str, driver: Driver
) -> None:
    handler, transport = make("dev", reply())
    query = {} if deploy_id is None else {"deployId": deploy_id}
    url = URL if deploy_id is None else f"{URL}?deployId=x"
    resp = await serve(handler, put(query=query, url=url), driver)
    assert resp.status == 200
    (sent,) = transport.sent
    assert sent.url == f"http://127.0.0.1:8288/fn/register{suffix}"
    payload = json.loads(sent.body)
    assert payload["url"] == URL
    assert "deployId" not in payload


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_expected_server_kind_is_forwarded(driver: Driver) -> None:
    for kind, expected in (("dev", "dev"), (None, None)):
        handler, transport = make("dev", reply())
        await serve(handler, put(server_kind=kind), driver)
        (sent,) = transport.sent
        assert sent.headers.get("x-inngest-expected-server-kind") == expected


# --- GET ----------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("kind", [None, "dev", "other"])
async def test_dev_introspection(kind: str | None, driver: Driver) -> None:
    handler, _ = make("dev")
    headers = {"x-inngest-server-kind": kind} if kind else {}
    resp = await serve(handler, request("GET", headers=headers), driver)
    assert resp.status == 200
    body = json.loads(resp.body)
    assert body["mode"] == "dev"
    assert body["function_count"] == 5
    assert "app_id" not in body  # the unauthenticated shape
    assert_sdk_headers(resp, "dev")


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_cloud_introspection_with_expired_signature(driver: Driver) -> None:
    handler, _ = make("cloud")
    req = request("GET", sign=KEY, signed_at=NOW - 3600)
    assert_unauthorized(await serve(handler, req, driver), "sig_verification_failed")


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_cloud_introspection_signed(driver: Driver) -> None:
    env = environ("cloud", INNGEST_SIGNING_KEY_FALLBACK=FALLBACK)
    handler, _ = make("cloud", env=env)
    resp = await serve(handler, request("GET", sign=FALLBACK), driver)
    assert resp.status == 200
    assert_signed(resp, FALLBACK)
    body = json.loads(resp.body)
    assert body["app_id"] == APP_ID
    assert body["authentication_succeeded"] is True
    assert body["signing_key_hash"] == hash_signing_key(KEY)
    assert body["signing_key_fallback_hash"] == hash_signing_key(FALLBACK)


def test_enable_unauthed_sync_argument_overrides_the_environment() -> None:
    key = "signkey-test-" + "ab" * 32
    client = inngest.Inngest(
        app_id="app",
        signing_key=key,
        environ={"INNGEST_ENABLE_UNAUTHED_SYNC": "true"},
        transport=FakeTransport(),
    )

    @client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="e"))
    def fn(ctx: inngest.ContextSync) -> None:
        return None

    strict = inngest.CommHandler(
        client=client, functions=[fn], framework="flask", enable_unauthed_sync=False
    )
    put = inngest.IncomingRequest("PUT", "http://h/api/inngest", {}, b"")
    assert strict.handle_sync(put, now=1735689600).status == 401
