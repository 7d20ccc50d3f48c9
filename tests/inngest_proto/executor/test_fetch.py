"""``Gateway`` ops (the TypeScript SDK's ``step.fetch``): the executor makes
the request; virtual clock.  A fake SDK reports the op, as that SDK does."""

from __future__ import annotations

import json
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._http_values import OutboundResponse
from inngest_proto.executor import RunStatus
from inngest_proto.executor._fetch import (
    fetch_failure_memo,
    fetch_request,
    fetch_success_memo,
)
from inngest_proto.executor._reply import MAX_REPLY_BYTES
from tests.inngest_proto.executor._harness import fake_reply, op
from tests.inngest_proto.executor.test_ai import AIHarness

TRIGGER = inngest.TriggerEvent(event="t/go")
OPTS = {
    "url": "http://api.test/items?x=1",
    "method": "post",
    "headers": {"content-type": "application/json", "x-probe": "yes"},
    "body": '{"n":3}',
}


def fetching(h: AIHarness, opts: Any, retries: int = 3) -> None:
    """A fake TypeScript app whose function does one ``step.fetch`` (step
    ``f``) and returns what it got back, memo and all."""

    def sdk(call: Any) -> OutboundResponse:
        steps = json.loads(call.request.body)["steps"]
        if "f" in steps:
            return fake_reply(200, steps["f"])
        return fake_reply(206, [op("Gateway", "f", opts=opts)])

    h.intercept = sdk

    @h.client.create_function(fn_id="fetch", trigger=TRIGGER, retries=retries)
    def fn(ctx: inngest.ContextSync) -> str:
        return "replaced by the fake SDK"

    h.serve(fn)
    h.send("t/go")
    h.run()


def test_any_reply_is_memoized_and_the_function_called_again() -> None:
    reply = OutboundResponse(404, {"content-type": "text/plain"}, b"no such item")
    h = AIHarness(lambda call: reply)
    fetching(h, OPTS)
    (call,) = h.ai_calls
    assert call.step_id == "f"
    assert call.request.method == "POST"
    assert call.request.url == "http://api.test/items?x=1"
    assert call.request.headers == {
        "Content-Type": "application/json",
        "X-Probe": "yes",
    }
    assert call.request.body == b'{"n":3}'
    run = h.only_run("fetch")
    assert run.status is RunStatus.COMPLETED
    # The harness reports no URL: the memo names the one it is given.
    assert run.output == {
        "data": {
            "url": "",
            "headers": {"Content-Type": "text/plain"},
            "body": "no such item",
            "status_code": 404,
        }
    }


def test_no_reply_retries_the_call_then_memoizes_a_gateway_error() -> None:
    h = AIHarness(lambda call: "connection refused")
    fetching(h, {"url": "http://api.test/"}, retries=1)
    assert len(h.ai_calls) == 2
    assert h.ai_calls[0].request.method == "GET"
    run = h.only_run("fetch")
    assert run.output == fetch_failure_memo("connection refused")
    assert run.output == {
        "error": {
            "name": "GatewayError",
            "message": "Error making gateway request: connection refused",
        }
    }


def test_a_malformed_op_fails_the_run_clearly() -> None:
    h = AIHarness(lambda call: OutboundResponse(200, {}, b""))
    fetching(h, {"method": "GET"})
    run = h.only_run("fetch")
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "invalid Gateway op 'f': opts.url" in run.error["message"]
    assert h.ai_calls == []


@pytest.mark.parametrize(
    ("opts", "problem"),
    [
        (None, "no opts"),
        ({"url": ""}, "opts.url"),
        ({"url": "http://a.test/", "method": 1}, "opts.method"),
        ({"url": "http://a.test/", "headers": {"a": 1}}, "opts.headers"),
        ({"url": "http://a.test/", "body": {"n": 1}}, "opts.body"),
    ],
)
def test_fetch_request_refuses_what_the_server_cannot_send(
    opts: Any, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        fetch_request(opts)


def test_a_reply_over_the_limit_is_a_failure() -> None:
    big = OutboundResponse(200, {}, b"x" * (MAX_REPLY_BYTES + 1))
    assert isinstance(fetch_success_memo("http://a.test/", big), str)
