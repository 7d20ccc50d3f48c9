"""The comm handler's answers to bad requests, bad configuration and edge cases.

Every refusal is a specific status with a JSON object body carrying a
``code`` and a message that names the problem and says what to do; every
response but a 401 carries the SDK headers.  Each async test runs the
request through both drivers (``handle`` and ``handle_sync``) on asyncio and
trio.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import pytest

import inngest_proto as inngest
from inngest_proto._comm import DEFAULT_MAX_BODY_BYTES
from inngest_proto._errors import (
    FunctionConfigInvalidError,
    InvalidSigningKeyError,
    LocalProtocolError,
    SigningKeyMissingError,
)
from inngest_proto._signing import compute_signature, sign_response
from inngest_proto._step_ids import hash_step_id
from inngest_proto._version import SDK_IDENTITY
from tests.fakes import FakeTransport

# Keys of auth.md §5 (K1 primary, K2 fallback, K3 another environment's).
KEY = "signkey-test-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
FALLBACK = (
    "signkey-test-fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)
OTHER_KEY = "signkey-prod-" + "a1" * 32
NOW = 1735689600
APP_ID = "comm-app"
URL = "http://app.test:8000/api/inngest"

Mode = Literal["dev", "cloud"]
Driver = Literal["async", "sync"]
DRIVERS: tuple[Driver, ...] = ("async", "sync")
MODES: tuple[Mode, ...] = ("dev", "cloud")

FIRST = hash_step_id("first")
SECOND = hash_step_id("second")
WAIT = hash_step_id("wait")


# --- the app ------------------------------------------------------------------


def environ(mode: Mode, **extra: str) -> dict[str, str]:
    env = {"INNGEST_DEV": "1"} if mode == "dev" else {"INNGEST_SIGNING_KEY": KEY}
    env.update(extra)
    return env


def make_client(
    mode: Mode = "dev",
    *,
    transport: inngest.Transport | None = None,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> inngest.Inngest:
    return inngest.Inngest(
        app_id=APP_ID,
        transport=transport or FakeTransport(now=NOW),
        environ=environ(mode) if env is None else env,
        logger=logging.getLogger("tests.comm"),
        **kwargs,
    )


def make_functions(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    """Each behaviour twice: ``*-async`` for ``handle``, ``*-sync`` for both."""

    @client.create_function(
        fn_id="steps-async", trigger=inngest.TriggerEvent(event="t/steps")
    )
    async def steps_async(ctx: inngest.Context) -> dict[str, Any]:
        first = await ctx.step.run("first", lambda: "A")
        second = await ctx.step.run("second", lambda: "B")
        return {"first": first, "second": second}

    @client.create_function(
        fn_id="steps-sync", trigger=inngest.TriggerEvent(event="t/steps")
    )
    def steps_sync(ctx: inngest.ContextSync) -> dict[str, Any]:
        first = ctx.step.run("first", lambda: "A")
        second = ctx.step.run("second", lambda: "B")
        return {"first": first, "second": second}

    @client.create_function(
        fn_id="wait-async", trigger=inngest.TriggerEvent(event="t/wait")
    )
    async def wait_async(ctx: inngest.Context) -> dict[str, Any]:
        found = await ctx.step.wait_for_event("wait", event="t/other", timeout=60_000)
        return {"found": None if found is None else found.name}

    @client.create_function(
        fn_id="wait-sync", trigger=inngest.TriggerEvent(event="t/wait")
    )
    def wait_sync(ctx: inngest.ContextSync) -> dict[str, Any]:
        found = ctx.step.wait_for_event("wait", event="t/other", timeout=60_000)
        return {"found": None if found is None else found.name}

    @client.create_function(
        fn_id="fails-sync", trigger=inngest.TriggerEvent(event="t/fails")
    )
    def fails_sync(ctx: inngest.ContextSync) -> None:
        raise inngest.NonRetriableError("give up")

    return [steps_async, steps_sync, wait_async, wait_sync, fails_sync]


def make_handler(
    mode: Mode = "dev",
    *,
    transport: FakeTransport | None = None,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> inngest.CommHandler:
    client = make_client(mode, transport=transport, env=env)
    return inngest.CommHandler(
        client=client, functions=make_functions(client), framework="test", **kwargs
    )


# --- requests -----------------------------------------------------------------


def call_body(
    *, steps: Mapping[str, Any] | None = None, **overrides: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ctx": {
            "attempt": 0,
            "disable_immediate_execution": False,
            "max_attempts": 4,
            "run_id": "01JRUN",
            "stack": {"current": 0, "stack": []},
            "use_api": False,
        },
        "event": {"data": {}, "id": "01JEVENT", "name": "t/steps", "ts": 1, "user": {}},
        "events": [],
        "steps": dict(steps or {}),
        "use_api": False,
        "version": 2,
    }
    body.update(overrides)
    return body


def encode(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def signature(body: bytes, key: str = KEY, t: int = NOW) -> str:
    return f"t={t}&s={compute_signature(body, key, t)}"


def request(
    method: str = "POST",
    *,
    body: Any = b"",
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    sign: str | None = None,
    signed_at: int = NOW,
    url: str = URL,
) -> inngest.IncomingRequest:
    """``sign``: the key to sign the body with (cloud mode), or None."""
    raw = encode(body)
    all_headers = {"content-type": "application/json", **(headers or {})}
    if sign is not None:
        all_headers["x-inngest-signature"] = signature(raw, sign, signed_at)
    return inngest.IncomingRequest(
        method=method,
        url=url,
        headers=all_headers,
        body=raw,
        query=dict(query or {}),
    )


_DEFAULT_BODY: Any = object()


def call(
    fn: str = "steps-sync",
    body: Any = _DEFAULT_BODY,
    *,
    mode: Mode = "dev",
    step_id: str = "step",
    **kwargs: Any,
) -> inngest.IncomingRequest:
    """A POST call request for ``fn``, signed with the primary key in cloud mode."""
    kwargs.setdefault("sign", KEY if mode == "cloud" else None)
    return request(
        "POST",
        body=call_body() if body is _DEFAULT_BODY else body,
        query={"fnId": f"{APP_ID}-{fn}", "stepId": step_id},
        **kwargs,
    )


async def serve(
    handler: inngest.CommHandler,
    req: inngest.IncomingRequest,
    driver: Driver,
    now: float = NOW,
) -> inngest.Response:
    if driver == "sync":
        return handler.handle_sync(req, now=now)
    return await handler.handle(req, now=now)


# --- assertions ---------------------------------------------------------------


def assert_sdk_headers(resp: inngest.Response, mode: Mode) -> None:
    headers = resp.headers
    assert headers["content-type"] == "application/json"
    assert headers["x-inngest-sdk"] == SDK_IDENTITY
    assert headers["user-agent"] == SDK_IDENTITY
    assert headers["x-inngest-req-version"] == "2"
    assert headers["x-inngest-framework"] == "test"
    assert headers["x-inngest-expected-server-kind"] == mode
    assert headers["x-inngest-sdk-handled"] == "true"


def assert_error(
    resp: inngest.Response,
    status: int,
    code: str,
    *words: str,
    mode: Mode = "dev",
) -> dict[str, Any]:
    """A JSON object with ``code`` and a message containing ``words``."""
    assert resp.status == status, resp.body
    body = json.loads(resp.body)
    assert isinstance(body, dict), body
    assert body["code"] == code, body
    assert isinstance(body["message"], str)
    assert body["message"]
    for word in words:
        assert word in body["message"], (word, body["message"])
    assert_sdk_headers(resp, mode)
    return body


def assert_unauthorized(resp: inngest.Response, code: str, *words: str) -> None:
    """401: bare headers (nothing about the app), a reason and what to check."""
    assert resp.status == 401, resp.body
    assert resp.headers == {
        "content-type": "application/json",
        "x-inngest-sdk-handled": "true",
    }
    body = json.loads(resp.body)
    assert body["message"] == "Unauthorized"
    assert body["code"] == code
    for word in words:
        assert word in body["detail"], (word, body["detail"])


def assert_signed(resp: inngest.Response, key: str = KEY) -> None:
    assert resp.headers["x-inngest-signature"] == sign_response(resp.body, key, NOW)


# --- malformed and ill-typed bodies -------------------------------------------


MALFORMED = {
    "truncated": b'{"event": {"name": "t/steps"',
    "not utf-8": b"\xff\xfe\x00{",
    "empty": b"",
    "text": b"hello",
    "nested too deeply": b"[" * 100_000 + b"]" * 100_000,
    "huge integer": b'{"event": 1' + b"0" * 5000 + b"}",
}


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_json_is_400_body_invalid(
    name: str, mode: Mode, driver: Driver
) -> None:
    handler = make_handler(mode)
    resp = await serve(handler, call(body=MALFORMED[name], mode=mode), driver)
    assert_error(resp, 400, "body_invalid", "only Inngest", mode=mode)
    if mode == "cloud":
        assert_signed(resp)  # verified, so answered with a signature


WRONG_TYPES: dict[str, tuple[Any, str]] = {
    "array body": ([], "the request body must be a JSON object"),
    "null body": (None, "the request body must be a JSON object"),
    "string body": ("call", "the request body must be a JSON object"),
    "no event": ({"ctx": {"run_id": "r"}, "steps": {}}, "no `event`"),
    "event not object": (call_body(event=1), "event must be a JSON object"),
    "event name missing": (call_body(event={"data": {}}), "event.name"),
    "event ts float": (call_body(event={"name": "t/x", "ts": 1.5}), "event.ts"),
    "events not array": (call_body(events={}), "events must be an array"),
    "bad event in batch": (call_body(events=[{"name": 3}]), "events[0].name"),
    "steps not object": (call_body(steps=None) | {"steps": []}, "steps"),
    "no ctx": ({"event": {"name": "t/x"}, "steps": {}}, "no `ctx`"),
    "ctx not object": (call_body(ctx=[]), "ctx must be a JSON object"),
    "run_id missing": (call_body(ctx={"attempt": 0}), "ctx.run_id"),
    "attempt string": (call_body(ctx={"run_id": "r", "attempt": "1"}), "ctx.attempt"),
    "attempt bool": (call_body(ctx={"run_id": "r", "attempt": True}), "ctx.attempt"),
    "stack not object": (call_body(ctx={"run_id": "r", "stack": []}), "ctx.stack"),
    "use_api string": (call_body(use_api="yes"), "use_api"),
    "version string": (call_body(version="2"), "version"),
}


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(WRONG_TYPES))
async def test_wrong_types_are_400_naming_the_field(
    name: str, mode: Mode, driver: Driver
) -> None:
    body, field = WRONG_TYPES[name]
    resp = await serve(make_handler(mode), call(body=body, mode=mode), driver)
    assert_error(resp, 400, "body_invalid", field, "only Inngest", mode=mode)


# --- the function to run ------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("query", [{}, {"fnId": ""}, {"stepId": "step"}])
async def test_missing_fn_id(query: dict[str, str], mode: Mode, driver: Driver) -> None:
    req = request(body=call_body(), query=query, sign=KEY if mode == "cloud" else None)
    resp = await serve(make_handler(mode), req, driver)
    # The message is the official SDK's (golden exec_missing_fn_id.json).
    body = assert_error(resp, 500, "query_param_missing", "fnId", mode=mode)
    assert body["name"] == "QueryParamMissingError"


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
async def test_unknown_fn_id(mode: Mode, driver: Driver) -> None:
    resp = await serve(make_handler(mode), call("nope", mode=mode), driver)
    body = assert_error(resp, 500, "function_not_found", f"{APP_ID}-nope", mode=mode)
    assert body["name"] == "FunctionNotFoundError"
    if mode == "cloud":
        assert_signed(resp)


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_local_fn_id_of_old_sdks_is_served(driver: Driver) -> None:
    req = request(body=call_body(), query={"fnId": "steps-sync", "stepId": "step"})
    resp = await serve(make_handler(), req, driver)
    assert resp.status == 206


# --- memos --------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    "memo",
    [
        {"data": "A", "extra": 1},
        {"error": "boom"},
        {"error": {"name": 1, "message": 2}},
        {"error": "x", "other": None},
        ["A"],
        "A",
        7,
    ],
)
async def test_unknown_memo_shape_is_the_value_itself(
    memo: Any, driver: Driver
) -> None:
    # The official rule: only {data}, {error}, {data, error} are envelopes.
    body = call_body(steps={FIRST: memo, SECOND: {"data": "B"}})
    resp = await serve(make_handler(), call(body=body), driver)
    assert resp.status == 200, resp.body
    assert json.loads(resp.body) == {"first": memo, "second": "B"}


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("memo", [7, "event", ["x"], {"name": 3}, {"data": {}}])
async def test_wait_memo_that_is_not_an_event(memo: Any, driver: Driver) -> None:
    fn = "wait-sync" if driver == "sync" else "wait-async"
    resp = await serve(make_handler(), call(fn, call_body(steps={WAIT: memo})), driver)
    body = assert_error(resp, 500, "body_invalid", "the matched event")
    assert body["name"] == "BodyInvalidError"


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_wait_memo_null_is_a_timeout(driver: Driver) -> None:
    fn = "wait-sync" if driver == "sync" else "wait-async"
    resp = await serve(make_handler(), call(fn, call_body(steps={WAIT: None})), driver)
    assert (resp.status, json.loads(resp.body)) == (200, {"found": None})


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_failed_memo_is_raised_as_step_error(driver: Driver) -> None:
    memo = {"error": {"name": "KeyError", "message": "gone", "stack": "s"}}
    resp = await serve(
        make_handler(), call(body=call_body(steps={FIRST: memo})), driver
    )
    body = assert_error(resp, 500, "step_errored", "gone")
    assert body["name"] == "KeyError"
    assert resp.headers["x-inngest-no-retry"] == "true"


# --- body size limit ----------------------------------------------------------


def test_default_body_limit_is_32_mib() -> None:
    assert DEFAULT_MAX_BODY_BYTES == 32 * 1024 * 1024
    assert make_handler().max_body_bytes == DEFAULT_MAX_BODY_BYTES
    assert make_handler(max_body_bytes=10).max_body_bytes == 10


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "1024", None])
def test_body_limit_must_be_a_positive_int(bad: Any) -> None:
    with pytest.raises(LocalProtocolError, match="max_body_bytes"):
        make_handler(max_body_bytes=bad)


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", ["POST", "PUT", "GET"])
async def test_oversized_body_is_413(method: str, mode: Mode, driver: Driver) -> None:
    transport = FakeTransport(now=NOW)
    handler = make_handler(mode, transport=transport, max_body_bytes=1024)
    body = call_body(event={"name": "t/steps", "data": {"pad": "x" * 2000}})
    # Signed or not: the size is checked before the signature.
    for sign in (KEY if mode == "cloud" else None, None):
        req = request(
            method, body=body, query={"fnId": f"{APP_ID}-steps-sync"}, sign=sign
        )
        resp = await serve(handler, req, driver)
        err = assert_error(
            resp,
            413,
            "body_too_large",
            f"{len(req.body)} bytes",
            "1024 bytes (1 KiB)",
            "max_body_bytes",
            mode=mode,
        )
        assert err["name"] == "BodyTooLargeError"
        assert "x-inngest-signature" not in resp.headers
    assert transport.sent == []


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_body_at_the_limit_is_served(driver: Driver) -> None:
    raw = encode(call_body())
    handler = make_handler(max_body_bytes=len(raw))
    assert (await serve(handler, call(body=raw), driver)).status == 206
    handler = make_handler(max_body_bytes=len(raw) - 1)
    assert (await serve(handler, call(body=raw), driver)).status == 413


# --- signatures (cloud mode) --------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    ("headers", "code", "words"),
    [
        ({}, "header_missing", ("X-Inngest-Signature", "INNGEST_DEV")),
        (
            {"x-inngest-signature": "garbage"},
            "sig_verification_failed",
            ("malformed", "t=<unix seconds>"),
        ),
        (
            {"x-inngest-signature": f"t={NOW}"},
            "sig_verification_failed",
            ("'s' is missing",),
        ),
        (
            {"x-inngest-signature": f"t=soon&s={'0' * 64}"},
            "sig_verification_failed",
            ("Unix time",),
        ),
        (
            {"x-inngest-signature": f"t={NOW}&s={'0' * 64}"},
            "sig_verification_failed",
            ("does not match", "INNGEST_SIGNING_KEY"),
        ),
    ],
)
async def test_missing_or_invalid_signature_is_401(
    headers: dict[str, str], code: str, words: tuple[str, ...], driver: Driver
) -> None:
    transport = FakeTransport(now=NOW)
    handler = make_handler("cloud", transport=transport)
    for req in (
        call(mode="cloud", sign=None, headers=headers),
        request(query={"probe": "trust"}, headers=headers),
        request("GET", headers=headers),
        request(
            "PUT",
            body={"url": URL},
            headers={**headers, "x-inngest-sync-kind": "in_band"},
        ),
    ):
        resp = await serve(handler, req, driver)
        assert_unauthorized(resp, code, *words)
    assert transport.sent == []


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_signature_of_another_key_is_401(driver: Driver) -> None:
    resp = await serve(
        make_handler("cloud"), call(mode="cloud", sign=OTHER_KEY), driver
    )
    assert_unauthorized(resp, "sig_verification_failed", "INNGEST_SIGNING_KEY")


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_signature_over_another_body_is_401(driver: Driver) -> None:
    req = call(mode="cloud", sign=None)
    other = signature(encode(call_body(version=1)))
    req = inngest.IncomingRequest(
        method="POST",
        url=req.url,
        headers={**req.headers, "x-inngest-signature": other},
        body=req.body,
        query=req.query,
    )
    resp = await serve(make_handler("cloud"), req, driver)
    assert_unauthorized(resp, "sig_verification_failed", "does not match")


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    ("skew", "words"), [(301, ("too old", "clock")), (-301, ("future", "clock"))]
)
async def test_expired_signature_is_401(
    skew: int, words: tuple[str, ...], driver: Driver
) -> None:
    req = call(mode="cloud", signed_at=NOW - skew)
    resp = await serve(make_handler("cloud"), req, driver)
    assert_unauthorized(resp, "sig_verification_failed", *words)


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("skew", [300, -300, 0])
async def test_signature_within_the_window_is_accepted(
    skew: int, driver: Driver
) -> None:
    resp = await serve(
        make_handler("cloud"), call(mode="cloud", signed_at=NOW - skew), driver
    )
    assert resp.status == 206
    assert_signed(resp)


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_window_zero_disables_the_age_check(driver: Driver) -> None:
    handler = make_handler("cloud", signature_window_seconds=0)
    resp = await serve(handler, call(mode="cloud", signed_at=1_000_000_000), driver)
    assert resp.status == 206


@pytest.mark.parametrize("bad", [-1, float("nan"), "300", True])
def test_window_must_be_a_non_negative_number(bad: Any) -> None:
    with pytest.raises(LocalProtocolError, match="signature_window_seconds"):
        make_handler("cloud", signature_window_seconds=bad)


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_fallback_key_verifies_and_signs(driver: Driver) -> None:
    env = environ("cloud", INNGEST_SIGNING_KEY_FALLBACK=FALLBACK)
    handler = make_handler("cloud", env=env)
    resp = await serve(handler, call(mode="cloud", sign=FALLBACK), driver)
    assert resp.status == 206
    assert_signed(resp, FALLBACK)
    resp = await serve(handler, call(mode="cloud", sign=KEY), driver)
    assert_signed(resp, KEY)


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_dev_mode_ignores_signatures(driver: Driver) -> None:
    for headers in ({}, {"x-inngest-signature": "garbage"}):
        resp = await serve(make_handler(), call(headers=headers), driver)
        assert resp.status == 206
        assert "x-inngest-signature" not in resp.headers


# --- keys checked at construction ---------------------------------------------

SECRET = "not-HEX-secret-VALUE"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("env", "source"),
    [
        ({"INNGEST_SIGNING_KEY": f"signkey-prod-{SECRET}"}, "INNGEST_SIGNING_KEY "),
        ({"INNGEST_SIGNING_KEY": SECRET}, "INNGEST_SIGNING_KEY "),
        ({"INNGEST_SIGNING_KEY": "signkey-prod-abc"}, "INNGEST_SIGNING_KEY "),
        (
            {"INNGEST_SIGNING_KEY": KEY, "INNGEST_SIGNING_KEY_FALLBACK": SECRET},
            "INNGEST_SIGNING_KEY_FALLBACK",
        ),
    ],
)
def test_non_hex_signing_key_fails_at_construction(
    env: dict[str, str], source: str, mode: Mode
) -> None:
    if mode == "dev":
        env = {**env, "INNGEST_DEV": "1"}
    client = make_client(mode, env=env)
    with pytest.raises(InvalidSigningKeyError) as caught:
        inngest.CommHandler(client=client, functions=[], framework="test")
    message = caught.value.message
    assert message.startswith(source)
    assert "hexadecimal" in message
    assert "dashboard" in message
    assert SECRET not in message
    assert SECRET not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_key_passed_as_argument_is_checked_too() -> None:
    client = make_client("cloud", env={}, signing_key="signkey-prod-zz")
    with pytest.raises(InvalidSigningKeyError, match="signing_key="):
        inngest.CommHandler(client=client, functions=[], framework="test")


def test_cloud_mode_without_signing_key() -> None:
    client = make_client("cloud", env={})
    with pytest.raises(SigningKeyMissingError, match="INNGEST_SIGNING_KEY") as caught:
        inngest.CommHandler(client=client, functions=[], framework="test")
    assert "INNGEST_DEV=1" in caught.value.message


def test_bare_hex_key_is_accepted() -> None:
    client = make_client("cloud", env={"INNGEST_SIGNING_KEY": "ab" * 32})
    inngest.CommHandler(client=client, functions=[], framework="test")


# --- probes -------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
async def test_trust_probe(mode: Mode, driver: Driver) -> None:
    transport = FakeTransport(now=NOW)
    handler = make_handler(mode, transport=transport)
    sign = KEY if mode == "cloud" else None
    # No function and no body needed: nothing runs.
    req = request(query={"probe": "trust"}, sign=sign)
    resp = await serve(handler, req, driver)
    assert (resp.status, resp.body) == (200, b"null")
    assert_sdk_headers(resp, mode)
    if mode == "cloud":
        assert_signed(resp)
    else:
        assert "x-inngest-signature" not in resp.headers
    assert transport.sent == []


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_unsigned_trust_probe_in_cloud_is_401(driver: Driver) -> None:
    req = request(query={"probe": "trust"})
    resp = await serve(make_handler("cloud"), req, driver)
    assert_unauthorized(resp, "header_missing")


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("probe", ["", "health", "TRUST"])
async def test_unsupported_probe(probe: str, mode: Mode, driver: Driver) -> None:
    req = request(
        query={"probe": probe, "fnId": f"{APP_ID}-steps-sync"},
        body=call_body(),
        sign=KEY if mode == "cloud" else None,
    )
    resp = await serve(make_handler(mode), req, driver)
    body = assert_error(resp, 500, "unknown", repr(probe), "'trust'", mode=mode)
    assert body["name"] == "UnsupportedProbeError"


# --- methods ------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "method", ["DELETE", "PATCH", "HEAD", "OPTIONS", "", "X" * 500]
)
async def test_method_not_allowed(method: str, mode: Mode, driver: Driver) -> None:
    resp = await serve(make_handler(mode), request(method), driver)
    body = assert_error(
        resp, 405, "method_not_allowed", "GET", "PUT", "POST", mode=mode
    )
    assert len(body["message"]) < 200
    assert resp.headers["allow"] == "GET, PUT, POST"


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_method_is_case_insensitive(driver: Driver) -> None:
    resp = await serve(make_handler(), call(), driver)
    lower = await serve(
        make_handler(),
        request("post", body=call_body(), query={"fnId": f"{APP_ID}-steps-sync"}),
        driver,
    )
    assert (lower.status, lower.body) == (resp.status, resp.body)


# --- targeting ----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_targeted_step_runs_alone(driver: Driver) -> None:
    body = call_body(steps={FIRST: {"data": "A"}})
    resp = await serve(make_handler(), call(body=body, step_id=SECOND), driver)
    assert resp.status == 206
    (op,) = json.loads(resp.body)
    assert (op["op"], op["id"], op["data"]) == ("StepRun", SECOND, "B")


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_target_not_reached_is_step_unexpected(driver: Driver) -> None:
    resp = await serve(make_handler(), call(step_id="f" * 40), driver)
    body = assert_error(resp, 500, "step_unexpected", '"first"')
    assert body["stack"] is None


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_step_id_step_means_no_target(driver: Driver) -> None:
    resp = await serve(make_handler(), call(step_id="step"), driver)
    (op,) = json.loads(resp.body)
    assert (op["op"], op["id"]) == ("StepRun", FIRST)


# --- streaming envelope -------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_stream_envelope_wraps_the_response(mode: Mode) -> None:
    handler = make_handler(mode)
    resp = await handler.handle(call("fails-sync", mode=mode), now=NOW)
    assert resp.status == 500
    envelope = json.loads(handler.responses.stream_envelope(resp))
    assert set(envelope) == {"body", "headers", "status"}
    assert envelope["status"] == 500
    assert json.loads(envelope["body"]) == json.loads(resp.body)
    inner = envelope["headers"]
    assert inner["x-inngest-no-retry"] == "true"
    assert inner["x-inngest-sdk"] == SDK_IDENTITY
    for hidden in (
        "x-inngest-sdk-handled",
        "x-inngest-expected-server-kind",
        "x-inngest-signature",
    ):
        assert hidden not in inner
    start = handler.responses.stream_start_headers()
    assert start["x-inngest-sdk"] == SDK_IDENTITY
    assert start["x-inngest-sdk-handled"] == "true"


@pytest.mark.anyio
async def test_stream_envelope_of_steps() -> None:
    handler = make_handler()
    resp = await handler.handle(call(), now=NOW)
    envelope = json.loads(handler.responses.stream_envelope(resp))
    assert envelope["status"] == 206
    assert json.loads(envelope["body"]) == json.loads(resp.body)


def test_streaming_follows_the_setting() -> None:
    assert not make_handler().streaming
    env = environ("dev", INNGEST_STREAMING="force")
    assert make_handler(env=env).streaming


# --- sync and async functions, sync and async drivers -------------------------


@pytest.mark.anyio
async def test_sync_function_runs_inline_under_handle() -> None:
    handler = make_handler()
    steps = {FIRST: {"data": "A"}, SECOND: {"data": "B"}}
    resp = await handler.handle(call(body=call_body(steps=steps)), now=NOW)
    assert (resp.status, json.loads(resp.body)) == (200, {"first": "A", "second": "B"})
    resp = await handler.handle(call("fails-sync"), now=NOW)
    assert_error(resp, 500, "non_retriable_error", "give up")


def test_async_function_under_handle_sync_is_a_clear_error() -> None:
    resp = make_handler().handle_sync(call("steps-async"), now=NOW)
    body = assert_error(
        resp, 500, "function_config_invalid", f"{APP_ID}-steps-async", "async"
    )
    assert body["name"] == "FunctionConfigInvalidError"


@pytest.mark.anyio
async def test_async_function_under_handle() -> None:
    resp = await make_handler().handle(call("steps-async"), now=NOW)
    assert resp.status == 206


# --- functions checked at construction ----------------------------------------


def test_duplicate_function_ids() -> None:
    client = make_client()

    def build() -> inngest.Function[Any]:
        @client.create_function(fn_id="same", trigger=inngest.TriggerEvent(event="e"))
        def same(ctx: inngest.ContextSync) -> None:
            return None

        return same

    first, second = build(), build()
    with pytest.raises(FunctionConfigInvalidError, match="'comm-app-same'") as caught:
        inngest.CommHandler(client=client, functions=[first, second], framework="t")
    assert "fn_id" in caught.value.message
    with pytest.raises(FunctionConfigInvalidError, match="listed twice"):
        inngest.CommHandler(client=client, functions=[first, first], framework="t")


def test_failure_handler_id_clashing_with_a_function() -> None:
    client = make_client()

    def nothing(ctx: inngest.ContextSync) -> None:
        return None

    main = client.create_function(
        fn_id="main", trigger=inngest.TriggerEvent(event="e"), on_failure=nothing
    )(nothing)
    clash = client.create_function(
        fn_id="main-failure", trigger=inngest.TriggerEvent(event="e")
    )(nothing)
    with pytest.raises(FunctionConfigInvalidError, match="comm-app-main-failure"):
        inngest.CommHandler(client=client, functions=[main, clash], framework="t")


@pytest.mark.parametrize("bad", [object(), "fn", None, lambda ctx: None])
def test_non_function_in_functions(bad: object) -> None:
    client = make_client()
    functions = [*make_functions(client), bad]
    with pytest.raises(FunctionConfigInvalidError) as caught:
        inngest.CommHandler(
            client=client,
            functions=functions,  # type: ignore[arg-type]
            framework="t",
        )
    message = caught.value.message
    assert "functions[5]" in message
    assert "create_function" in message


def test_functions_must_be_a_list() -> None:
    client = make_client()
    (function, *_) = make_functions(client)
    for bad in (function, 3):
        with pytest.raises(FunctionConfigInvalidError, match="must be a list"):
            inngest.CommHandler(
                client=client,
                functions=bad,  # type: ignore[arg-type]
                framework="t",
            )


def _generated(client: inngest.Inngest) -> Iterator[inngest.Function[Any]]:
    yield from make_functions(client)


def test_functions_may_be_any_iterable() -> None:
    transport = FakeTransport(now=NOW)
    client = make_client(transport=transport)
    handler = inngest.CommHandler(
        client=client,
        functions=list(_generated(client)),
        framework="t",
    )
    generated = inngest.CommHandler(
        client=client,
        functions=_generated(client),  # type: ignore[arg-type]
        framework="t",
    )
    # Served and synced alike: the generator is not used up by the checks.
    for comm in (handler, generated):
        assert comm.handle_sync(call(), now=NOW).status == 206
        transport.queue(inngest.OutboundResponse(200, {}, b'{"ok": true}'))
        assert comm.handle_sync(request("PUT"), now=NOW).status == 200
    first, second = (json.loads(r.body) for r in transport.sent)
    assert len(first["functions"]) == len(second["functions"]) == 5


def test_client_must_be_an_inngest() -> None:
    with pytest.raises(FunctionConfigInvalidError, match=r"inngest\.Inngest"):
        inngest.CommHandler(
            client=object(),  # type: ignore[arg-type]
            functions=[],
            framework="t",
        )


# --- nothing escapes ----------------------------------------------------------


class _Boom(RuntimeError):
    pass


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_a_bug_becomes_a_500(
    driver: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = make_handler()

    def broken(*args: object) -> inngest.Response:
        raise _Boom("bug")

    monkeypatch.setattr(handler._sync, "introspect", broken)
    resp = await serve(handler, request("GET"), driver)
    body = assert_error(resp, 500, "unknown", "internal SDK error")
    assert body["name"] == "_Boom"


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_use_api_fetch_failure_is_a_500(driver: Driver) -> None:
    transport = FakeTransport(now=NOW, fail_with=ConnectionError("refused"))
    handler = make_handler(transport=transport)
    body = call_body(use_api=True)
    resp = await serve(handler, call(body=body), driver)
    assert_error(resp, 500, "unknown", "INNGEST_API_BASE_URL")
