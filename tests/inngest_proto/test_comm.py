"""The comm handler's dispatch: bodies, fnId, memos, probes and methods.

Also targeting, the streaming envelope, sync and async functions under each
driver, and bugs turned into 500s.  Every refusal is a specific status with a
JSON object body carrying a ``code`` and a message that names the problem and
says what to do; every response but a 401 carries the SDK headers.  Each
async test runs the request through both drivers (``handle`` and
``handle_sync``) on asyncio and trio.  Signatures and keys are tested in
``test_comm_auth``; the body size limit and the functions list in
``test_comm_config``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._version import SDK_IDENTITY
from tests.fakes import FakeTransport
from tests.inngest_proto._comm_helpers import (
    APP_ID,
    DRIVERS,
    FIRST,
    KEY,
    MODES,
    NOW,
    SECOND,
    WAIT,
    Driver,
    Mode,
    assert_error,
    assert_sdk_headers,
    assert_signed,
    assert_unauthorized,
    call,
    call_body,
    environ,
    make_handler,
    request,
    serve,
)

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
