"""``AIGateway`` ops: the executor calls the model; virtual clock.

See docs/protocol/executor.rst#ai-and-http-gateway.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._http_values import OutboundRequest, OutboundResponse
from inngest_proto._step_ids import hash_step_id
from inngest_proto.executor import Action, CallAI, RunStatus
from inngest_proto.executor._ai import ai_failure_memo, ai_request, ai_success_memo
from inngest_proto.experimental.ai import openai
from inngest_transports.devserver._sqlite_store import requeue_in_flight
from inngest_transports.testing import TestEngine, TestEngineError
from tests.inngest_proto.executor._harness import START, Harness, fake_reply, op

TRIGGER = inngest.TriggerEvent(event="t/go")
H_ASK = hash_step_id("ask")
COMPLETION = {"id": "cmpl-1", "choices": [{"message": {"content": "4"}}]}

#: Answers one model request: a response, an error text (no reply), or
#: ``None`` to hold it (the test answers it later with :meth:`AIHarness.answer`).
Provider = Callable[[CallAI], OutboundResponse | str | None]


def provider_reply(status: int, body: Any) -> OutboundResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return OutboundResponse(status, {"content-type": "application/json"}, raw)


class AIHarness(Harness):
    """The executor harness, plus a fake model provider for ``CallAI``."""

    def __init__(self, provider: Provider, **options: Any) -> None:
        super().__init__(**options)
        self.provider = provider
        self.ai_calls: list[CallAI] = []
        self.held: list[CallAI] = []
        self._ai_queue: list[CallAI] = []

    def apply(self, actions: Iterable[Action]) -> None:
        rest: list[Action] = []
        for action in actions:
            if isinstance(action, CallAI):
                self.actions.append(action)
                self.ai_calls.append(action)
                self._ai_queue.append(action)
            else:
                rest.append(action)
        super().apply(rest)

    def answer(self, call: CallAI, reply: OutboundResponse | str) -> None:
        if isinstance(reply, str):
            actions = self.executor.ai_failed(
                call.run_id, call.request_id, reply, self.now
            )
        else:
            actions = self.executor.ai_finished(
                call.run_id, call.request_id, reply, self.now
            )
        self.apply(actions)

    def drain(self, max_calls: int = 500) -> None:
        for _ in range(max_calls):
            super().drain(max_calls)
            if not self._ai_queue:
                return
            call = self._ai_queue.pop(0)
            reply = self.provider(call)
            if reply is None:
                self.held.append(call)
            else:
                self.answer(call, reply)
        msg = f"still requesting after {max_calls} model requests"
        raise AssertionError(msg)


def asking(client: inngest.Inngest, **options: Any) -> inngest.Function[Any]:
    """Asks the model once; returns what it said, or the caught step error."""
    adapter = openai.Adapter(
        auth_key="sk-test", model="gpt-test", base_url="http://provider.test/v1"
    )

    @client.create_function(fn_id="ask", trigger=TRIGGER, **options)
    def fn(ctx: inngest.ContextSync) -> Any:
        body = {"messages": [{"role": "user", "content": "2+2?"}]}
        try:
            return ctx.step.ai.infer("ask", adapter=adapter, body=body)
        except inngest.StepError as err:
            return {"caught": err.name, "message": err.message, "data": err.data}

    return fn


def test_the_executor_requests_memoizes_the_reply_and_calls_again_at_once() -> None:
    h = AIHarness(lambda call: provider_reply(200, COMPLETION))
    h.serve(asking(h.client))
    h.send("t/go")
    h.run()
    run = h.only_run("ask")
    assert run.status is RunStatus.COMPLETED
    assert run.output == COMPLETION
    assert run.steps == {H_ASK: {"data": COMPLETION}}
    (call,) = h.ai_calls
    assert call.step_id == H_ASK
    assert call.request.method == "POST"
    assert call.request.url == "http://provider.test/v1/chat/completions"
    assert call.request.headers == {
        "Content-Type": "application/json",
        "Authorization": "Bearer sk-test",
    }
    assert json.loads(call.request.body) == {
        "messages": [{"role": "user", "content": "2+2?"}],
        "model": "gpt-test",
    }
    # Start call, then the discovery right after the reply: no time passed.
    assert h.step_ids(run) == ["step", "step"]
    assert h.now == START
    assert run.in_flight == {}


def test_a_provider_error_retries_the_call_that_reported_the_op() -> None:
    replies = [provider_reply(500, {"error": "overloaded"}), provider_reply(200, {})]
    h = AIHarness(lambda call: replies.pop(0), retry_scale=1.0)
    h.serve(asking(h.client))
    h.send("t/go")
    h.run()
    run = h.only_run("ask")
    assert run.output == {}
    assert len(h.ai_calls) == 2
    # The SDK call is retried (same queue item, attempt 1) and reports the op
    # again; the discovery after the reply starts at attempt 0.
    bodies = h.bodies(run)
    assert [b["ctx"]["attempt"] for b in bodies] == [0, 1, 0]
    assert bodies[0]["ctx"]["job_id"] == bodies[1]["ctx"]["job_id"]
    assert h.now > START  # the retry waited for its backoff timer


def test_after_the_last_attempt_the_error_is_memoized_and_raised_in_the_function() -> (
    None
):
    h = AIHarness(lambda call: provider_reply(500, {"error": "overloaded"}))
    h.serve(asking(h.client, retries=1))
    h.send("t/go")
    h.run()
    run = h.only_run("ask")
    assert len(h.ai_calls) == 2
    message = "Error making AI request: unsuccessful status code: 500"
    assert run.steps == {
        H_ASK: {
            "error": {
                "name": "AIGatewayError",
                "message": message,
                "data": {"error": "overloaded"},
                "stack": '{"error": "overloaded"}',
            }
        }
    }
    assert run.status is RunStatus.COMPLETED
    assert run.output == {
        "caught": "AIGatewayError",
        "message": message,
        "data": {"error": "overloaded"},
    }


def test_no_reply_is_a_failure_with_the_servers_placeholder_body() -> None:
    h = AIHarness(lambda call: "connection refused")
    h.serve(asking(h.client, retries=0))
    h.send("t/go")
    h.run()
    run = h.only_run("ask")
    assert len(h.ai_calls) == 1
    assert run.steps[H_ASK] == {
        "error": {
            "name": "AIGatewayError",
            "message": "Error making AI request: connection refused",
            "data": {"error": "Error making AI request"},
            "stack": '{"error":"Error making AI request"}',
        }
    }


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (
            provider_reply(200, b"<html>not json</html>"),
            "the response body is not JSON",
        ),
        (provider_reply(301, b""), "unsuccessful status code: 301"),
    ],
)
def test_a_2xx_that_is_not_json_or_a_redirect_is_a_failure(
    reply: OutboundResponse, reason: str
) -> None:
    h = AIHarness(lambda call: reply)
    h.serve(asking(h.client, retries=0))
    h.send("t/go")
    h.run()
    error = h.only_run("ask").steps[H_ASK]["error"]
    assert error["message"] == f"Error making AI request: {reason}"


def test_a_cancelled_run_discards_the_reply() -> None:
    h = AIHarness(lambda call: None)
    h.serve(asking(h.client))
    h.send("t/go")
    h.run()
    run = h.only_run("ask")
    (held,) = h.held
    assert run.is_running
    assert held.request_id in run.in_flight  # the request keeps the run busy
    h.apply(h.executor.cancel(run.run_id, h.now))
    calls = len(h.calls)
    h.answer(held, provider_reply(200, COMPLETION))
    h.run()
    assert run.status is RunStatus.CANCELLED
    assert run.steps == {}
    assert len(h.calls) == calls


def test_an_op_reported_again_while_its_request_runs_is_not_requested_twice() -> None:
    h = AIHarness(lambda call: None)
    ai_op = op(
        "AIGateway",
        "g",
        opts={"url": "http://provider.test/v1/x", "auth_key": "k", "body": {}},
    )

    def sdk(call: Any) -> OutboundResponse:
        steps = json.loads(call.request.body)["steps"]
        if "g" in steps:
            return fake_reply(200, steps["g"])
        if "p" in steps:
            return fake_reply(206, [ai_op])
        if "stepId=p" in call.request.url:
            return fake_reply(206, [op("StepRun", "p", data=1)])
        # Old request version: no parallel tracking, so p's completion alone
        # leads to a discovery, which reports g again.
        return fake_reply(206, [ai_op, op("StepPlanned", "p")])

    h.intercept = sdk

    @h.client.create_function(fn_id="par", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> str:
        return "unused"

    h.serve(fn)
    h.send("t/go")
    h.run()
    (held,) = h.held
    assert len(h.ai_calls) == 1
    h.answer(held, provider_reply(200, {"n": 4}))
    h.run()
    run = h.only_run("par")
    assert run.output == {"data": {"n": 4}}
    assert len(h.ai_calls) == 1


def test_a_malformed_op_fails_the_run_clearly() -> None:
    h = AIHarness(lambda call: provider_reply(200, {}))
    run = h.run_answered_with(fake_reply(206, [op("AIGateway", "g", opts={})]))
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "invalid AIGateway op 'g': opts.url" in run.error["message"]
    assert h.ai_calls == []


def test_the_request_counts_against_concurrency_until_it_ends() -> None:
    h = AIHarness(lambda call: None)
    h.serve(asking(h.client, concurrency=[inngest.Concurrency(limit=1)]))
    h.send("t/go")
    h.send("t/go")
    h.run()
    # The second run's start call slipped in when the first one's SDK call
    # ended (documented); its own request then waits in flight as well.
    assert len(h.held) == 2
    first, second = h.held
    h.answer(first, provider_reply(200, {"n": 1}))
    h.run()
    # The first run's discovery waits for the slot the second request holds.
    done = [r for r in h.runs("ask") if not r.is_running]
    assert done == []
    h.answer(second, provider_reply(200, {"n": 2}))
    h.run()
    assert sorted(r.output["n"] for r in h.runs("ask")) == [1, 2]


def test_a_request_cut_off_by_a_restart_makes_the_call_again() -> None:
    h = AIHarness(lambda call: None)
    h.serve(asking(h.client))
    h.send("t/go")
    h.run()
    assert len(h.held) == 1
    # What the dev server does with a loaded state: calls (and so requests)
    # in flight become retry timers of their queue item, due now.
    state = h.executor.state
    recovered = requeue_in_flight(state, h.now)
    after = AIHarness(lambda call: provider_reply(200, COMPLETION), state=state)
    after.now = h.now
    after.serve(asking(after.client))
    after.timers.update(dict.fromkeys(recovered, h.now))
    after.run()
    run = after.only_run("ask")
    assert run.output == COMPLETION
    assert len(after.ai_calls) == 1
    # The SDK call was made again, at the same attempt (a crash is no failure).
    assert [b["ctx"]["attempt"] for b in after.bodies(run)] == [0, 0]


# -- the request, as the server builds it ------------------------------------------


def test_auth_goes_where_each_format_wants_it_and_op_headers_win() -> None:
    base = {"url": "https://x.test/v1/m?b=2&a=1", "auth_key": "K", "body": {"q": 1}}
    anthropic = ai_request({**base, "format": "anthropic", "headers": {"v": "1"}})
    assert anthropic.headers == {
        "Content-Type": "application/json",
        "X-Api-Key": "K",
        "V": "1",
    }
    assert anthropic.body == b'{"q":1}'
    gemini = ai_request({**base, "format": "gemini"})
    # As Go's url.Values: the key is added and the query sorted.
    assert gemini.url == "https://x.test/v1/m?a=1&b=2&key=K"
    assert "Authorization" not in gemini.headers
    bedrock = ai_request({**base, "format": "bedrock"})
    assert bedrock.headers["Authorization"] == "K"
    override = ai_request({**base, "headers": {"authorization": "Custom c"}})
    assert override.headers == {
        "Content-Type": "application/json",
        "Authorization": "Custom c",
    }
    keyless = ai_request({"url": "http://x.test/", "body": None})
    assert keyless.headers == {"Content-Type": "application/json"}
    assert keyless.body == b"null"


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("x-api-key", "X-Api-Key"),
        ("CONTENT-type", "Content-Type"),
        ("anthropic-beta", "Anthropic-Beta"),
        ("x--a", "X--A"),
        ("-x", "-X"),
        ("x_y.z", "X_y.z"),
        # Not a token: Go leaves such a name as it is.
        ("x api", "x api"),
        ("x-\u00e9t\u00e9", "x-\u00e9t\u00e9"),
    ],
)
def test_op_header_names_go_out_as_go_writes_them(name: str, written: str) -> None:
    request = ai_request({"url": "http://x.test/", "headers": {name: "v"}})
    assert request.headers[written] == "v"


@pytest.mark.parametrize(
    ("opts", "complaint"),
    [
        (None, "no opts"),
        ({"url": ""}, "opts.url"),
        ({"url": "http://x", "format": 3}, "must be strings"),
        ({"url": "http://x", "headers": {"a": 1}}, "opts.headers"),
    ],
)
def test_malformed_opts_are_named(opts: Any, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        ai_request(opts)


def test_memo_shapes() -> None:
    assert ai_success_memo(provider_reply(204, b"null")) == {"data": None}
    assert ai_success_memo(provider_reply(200, b"")) == "the response body is not JSON"
    for depth in (101, 10_000):
        deep = b"[" * depth + b"]" * depth
        memo = ai_success_memo(provider_reply(200, deep))
        assert memo == "the response body is nested deeper than the 100 levels" + (
            " the dev server stores"
        )
        assert "data" not in ai_failure_memo("boom", deep)["error"]
    assert ai_success_memo(provider_reply(429, {})) == "unsuccessful status code: 429"
    # A failure body that is not JSON keeps its text as the stack only.
    assert ai_failure_memo("boom", b"Bad Gateway") == {
        "error": {
            "name": "AIGatewayError",
            "message": "Error making AI request: boom",
            "stack": "Bad Gateway",
        }
    }


# -- the in-process TestEngine answers model requests with ai_provider ---------------


def test_the_test_engine_answers_model_requests_with_its_provider() -> None:
    client = inngest.Inngest(app_id="eng", environ={"INNGEST_DEV": "1"})
    fn = asking(client, retries=1)
    seen: list[OutboundRequest] = []

    def provider(request: OutboundRequest) -> OutboundResponse:
        seen.append(request)
        return provider_reply(200, COMPLETION)

    engine = TestEngine(client, [fn], ai_provider=provider)
    (event_id,) = engine.send("t/go")
    assert engine.output(event_id) == COMPLETION
    assert [r.url for r in seen] == ["http://provider.test/v1/chat/completions"]

    def down(request: OutboundRequest) -> OutboundResponse:
        raise ConnectionError("refused")

    engine = TestEngine(client, [fn], ai_provider=down)
    (event_id,) = engine.send("t/go")
    engine.run()
    assert engine.output(event_id)["message"] == (
        "Error making AI request: ConnectionError: refused"
    )

    engine = TestEngine(client, [fn])
    with pytest.raises(TestEngineError, match="ai_provider="):
        engine.send("t/go")
