"""The app, requests and assertions shared by the comm handler's tests.

``make_handler`` builds a :class:`CommHandler` over five functions (steps and
wait, each async and sync, and a sync one that fails); ``call`` and
``request`` build incoming requests, signed in cloud mode; ``serve`` runs one
through either driver; the ``assert_*`` helpers check the answers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Literal

import inngest_proto as inngest
from inngest_proto._signing import compute_signature, sign_response
from inngest_proto._step_ids import hash_step_id
from inngest_proto._version import SDK_IDENTITY
from tests.fakes import FakeTransport

# Keys of docs/protocol/http.rst#test-vectors (K1 primary, K2 fallback, K3
# another environment's).
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
