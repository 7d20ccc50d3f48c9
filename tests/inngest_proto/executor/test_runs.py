"""Runs from events, and the SDK's reply by status: output, retries, failures."""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._http_values import OutboundResponse
from inngest_proto._step_ids import hash_step_id
from inngest_proto.executor import (
    CallFailure,
    CallSDK,
    ExpressionError,
    Run,
    RunFinished,
    RunStatus,
)
from inngest_proto.executor._timing import backoff_seconds
from tests.inngest_proto.executor._harness import (
    APP_ID,
    APP_URL,
    START,
    Harness,
    NoReply,
    fake_reply,
)

TRIGGER = inngest.TriggerEvent(event="t/go")


def two_steps(h: Harness, **options: Any) -> inngest.Function[Any]:
    @h.client.create_function(fn_id="two", trigger=TRIGGER, **options)
    def two(ctx: inngest.ContextSync) -> dict[str, Any]:
        a = ctx.step.run("a", lambda: 1)
        b = ctx.step.run("b", lambda: a + 1)
        return {"a": a, "b": b, "x": ctx.event.data["x"]}

    return two


def flaky(h: Harness, failures: int, **options: Any) -> inngest.Function[Any]:
    """Raises at function level on the first ``failures`` calls."""
    calls = []

    @h.client.create_function(fn_id="flaky", trigger=TRIGGER, **options)
    def fn(ctx: inngest.ContextSync) -> int:
        calls.append(ctx.attempt)
        if len(calls) <= failures:
            raise ValueError(f"boom {len(calls)}")
        return ctx.attempt

    return fn


def test_an_event_runs_two_sequential_steps_to_completion() -> None:
    h = Harness()
    h.serve(two_steps(h))
    h.send("t/go", {"x": 7}, id="evt-1")
    h.run()
    run = h.only_run("two")
    assert run.status is RunStatus.COMPLETED
    assert run.output == {"a": 1, "b": 2, "x": 7}
    assert h.finished[run.run_id] == RunFinished(
        run.run_id, RunStatus.COMPLETED, {"a": 1, "b": 2, "x": 7}
    )
    a, b = hash_step_id("a"), hash_step_id("b")
    assert run.steps == {a: {"data": 1}, b: {"data": 2}}
    bodies = h.bodies(run)
    assert [body["ctx"]["stack"] for body in bodies] == [
        {"current": 0, "stack": []},
        {"current": 1, "stack": [a]},
        {"current": 2, "stack": [a, b]},
    ]
    assert [body["steps"] for body in bodies][-1] == {a: {"data": 1}, b: {"data": 2}}
    # -1 until the SDK reports its request version.
    assert [body["version"] for body in bodies] == [-1, 2, 2]
    first = bodies[0]
    assert first["event"] == {
        "data": {"x": 7},
        "id": "evt-1",
        "name": "t/go",
        "ts": int(START * 1000),
        "user": {},
    }
    assert first["events"] == [first["event"]]
    assert first["use_api"] is False
    assert first["ctx"]["use_api"] is False
    assert first["ctx"]["run_id"] == run.run_id
    assert first["ctx"]["max_attempts"] == 5  # default: 4 retries
    assert first["ctx"]["step_id"] == "step"
    assert first["defers"] == {}


def test_the_call_request_envelope() -> None:
    h = Harness()
    h.serve(two_steps(h))
    h.send("t/go", {"x": 1})
    h.drain()
    call = h.calls[0]
    req = call.request
    assert req.method == "POST"
    assert req.url == f"{APP_URL}?fnId={APP_ID}-two&stepId=step"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["x-inngest-step-id"] == "step"
    assert req.headers["x-run-id"] == call.run_id
    assert req.headers["x-request-id"] == call.request_id
    assert req.headers["x-inngest-req-version"] == "-1"
    assert "x-inngest-signature" not in req.headers
    # JCS: compact, keys sorted.
    parsed = json.loads(req.body)
    assert (
        req.body == json.dumps(parsed, separators=(",", ":"), sort_keys=True).encode()
    )


def test_state_over_the_size_limit_is_left_for_the_sdk_to_fetch() -> None:
    # A small limit stands in for the 4 MiB one: after two 1 kB steps the
    # memos no longer fit, so the SDK reads them from /v0/runs/{id}/actions.
    h = Harness(max_request_bytes=2_000)

    @h.client.create_function(fn_id="big", trigger=TRIGGER)
    def big(ctx: inngest.ContextSync) -> list[int]:
        a = ctx.step.run("a", lambda: "a" * 1_000)
        b = ctx.step.run("b", lambda: "b" * 1_000)
        return [len(a), len(b), ctx.event.data["x"]]

    h.serve(big)
    h.send("t/go", {"x": 7})
    h.run()
    run = h.only_run("big")
    assert run.output == [1_000, 1_000, 7]
    first, *_, last = h.bodies(run)
    assert (first["use_api"], first["ctx"]["use_api"]) == (False, False)
    assert (last["use_api"], last["ctx"]["use_api"]) == (True, True)
    assert last["steps"] == {}
    assert last["events"] == run.events  # the events still fit
    assert "actions" in h.fetched


def test_events_too_large_for_the_request_are_fetched_too() -> None:
    h = Harness(max_request_bytes=2_000)

    @h.client.create_function(fn_id="big-event", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> int:
        return len(ctx.events[0].data["blob"])

    h.serve(fn)
    h.send("t/go", {"blob": "x" * 1_500})
    h.run()
    run = h.only_run("big-event")
    assert run.output == 1_500
    (body,) = h.bodies(run)
    assert (body["use_api"], body["steps"], body["events"]) == (True, {}, [])
    assert body["event"]["data"]["blob"] == "x" * 1_500  # always sent
    assert "batch" in h.fetched


def test_a_signing_key_signs_call_requests_and_a_cloud_sdk_accepts_them() -> None:
    key = "signkey-test-" + "ab" * 32
    h = Harness(signing_key=key)
    h.client = inngest.Inngest(
        app_id=APP_ID,
        environ={"INNGEST_SIGNING_KEY": key},
        transport=h.client.transport,
    )
    h.serve(two_steps(h))
    h.send("t/go", {"x": 3})
    h.run()
    assert h.only_run("two").output == {"a": 1, "b": 2, "x": 3}
    assert all(c.request.headers["x-inngest-signature"] for c in h.calls)


def test_a_run_starts_once_per_event_id_and_function() -> None:
    h = Harness()
    h.serve(two_steps(h))
    h.send("t/go", {"x": 1}, id="same")
    h.send("t/go", {"x": 2}, id="same")
    h.send("t/other", {"x": 3})
    h.run()
    assert [r.output for r in h.runs("two")] == [{"a": 1, "b": 2, "x": 1}]


def test_wildcard_triggers_match_name_prefixes() -> None:
    h = Harness()

    @h.client.create_function(fn_id="any", trigger=inngest.TriggerEvent(event="app/*"))
    def any_app(ctx: inngest.ContextSync) -> str:
        return ctx.event.name

    h.serve(any_app)
    h.send("app/user.created")
    h.send("other/user.created")
    h.run()
    assert [r.output for r in h.runs("any")] == ["app/user.created"]


def test_a_trigger_expression_that_fails_skips_the_trigger_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fails(expression: str, event: Any, now: float) -> bool:
        # What the CEL matcher raises for ``event.data.x / 0``.
        raise ExpressionError("division by zero", expression=expression)

    h = Harness(trigger_matcher=fails)

    @h.client.create_function(
        fn_id="picky",
        trigger=[
            inngest.TriggerEvent(event="t/go", expression="event.data.x / 0"),
            inngest.TriggerEvent(event="t/other"),
        ],
    )
    def picky(ctx: inngest.ContextSync) -> str:
        return ctx.event.name

    h.serve(picky)
    with caplog.at_level(logging.WARNING, logger="inngest_proto.executor"):
        h.send("t/go", {"x": 1}, id="evt-1")
    h.send("t/other")
    h.run()
    assert [r.output for r in h.runs("picky")] == ["t/other"]
    (record,) = caplog.records
    assert record.getMessage() == (
        f"trigger expression of {APP_ID}-picky failed on event evt-1 (t/go): "
        "division by zero in 'event.data.x / 0'; the trigger is skipped"
    )


def test_trigger_expressions_are_cel_by_default() -> None:
    h = Harness()

    @h.client.create_function(
        fn_id="big",
        trigger=inngest.TriggerEvent(event="t/n", expression="event.data.n > 3"),
    )
    def big(ctx: inngest.ContextSync) -> int:
        return int(ctx.event.data["n"])

    h.serve(big)
    for n in (1, 5, 3):
        h.send("t/n", {"n": n})
    h.run()
    assert [r.output for r in h.runs("big")] == [5]


def test_expressions_are_evaluated_at_the_time_of_the_input() -> None:
    """``now()`` is the time the executor is given with the event, never the
    clock: the deadline passes between the two events on the virtual clock."""
    h = Harness()

    @h.client.create_function(
        fn_id="early",
        trigger=inngest.TriggerEvent(
            event="t/go", expression="now() < date(event.data.deadline)"
        ),
    )
    def early(ctx: inngest.ContextSync) -> int:
        return int(ctx.event.data["n"])

    h.serve(early)
    deadline = START + 60
    h.send("t/go", {"deadline": deadline, "n": 1})
    h.now += 120
    h.send("t/go", {"deadline": deadline, "n": 2})
    h.run()
    assert [r.output for r in h.runs("early")] == [1]


def test_the_matchers_are_given_the_time_of_the_input() -> None:
    seen: list[float] = []

    def matcher(expression: str, event: Any, now: float) -> bool:
        seen.append(now)
        return True

    h = Harness(trigger_matcher=matcher)

    @h.client.create_function(
        fn_id="fn", trigger=inngest.TriggerEvent(event="t/go", expression="x")
    )
    def fn(ctx: inngest.ContextSync) -> None:
        return None

    h.serve(fn)
    h.send("t/go")
    h.now += 7.5
    h.send("t/go")
    assert seen == [START, START + 7.5]


def test_an_event_in_the_future_starts_its_run_then() -> None:
    h = Harness()
    h.serve(two_steps(h))
    h.send("t/go", {"x": 1}, ts=int((START + 600) * 1000))
    h.drain()
    assert h.calls == []
    h.run()
    assert h.only_run("two").status is RunStatus.COMPLETED
    assert h.now == START + 600


def test_a_function_level_error_is_retried_with_the_backoff_table() -> None:
    h = Harness(retry_scale=1.0)
    run = run_flaky(h, failures=2)
    assert run.status is RunStatus.COMPLETED
    assert run.output == 2  # ctx.attempt of the third call
    assert [b["ctx"]["attempt"] for b in h.bodies(run)] == [0, 1, 2]
    job_id = h.bodies(run)[0]["ctx"]["job_id"]
    first_delay = backoff_seconds(job_id, 0, 1.0)
    second_delay = backoff_seconds(job_id, 1, 1.0)
    # 15 s then 30 s, plus up to 30 s of jitter each.
    assert 15 <= first_delay <= 45
    assert 30 <= second_delay <= 60
    # Relative to START: pytest.approx of an epoch time allows half an hour.
    assert h.now - START == pytest.approx(first_delay + second_delay)


LOST = NoReply(
    "The worker stopped responding: its lease on request r expired",
    CallFailure.WORKER_LOST,
)
UNANSWERED = NoReply("connection refused", CallFailure.NO_REPLY)


def run_flaky(
    h: Harness, failures: int, no_replies: tuple[NoReply, ...] = (), **options: Any
) -> Run:
    """The run, to its end, of ``flaky`` (``failures``, ``options``) sent
    ``t/go``.  Its first calls get no reply, as ``no_replies`` say; then the
    SDK answers."""
    h.serve(flaky(h, failures=failures, **options))
    pending = list(no_replies)
    h.intercept = lambda call: pending.pop(0) if pending else None
    h.send("t/go")
    h.run()
    return h.only_run("flaky")


def test_a_worker_lost_is_retried_at_once_and_counts_as_an_attempt() -> None:
    # The worker crashed: nothing the function did was seen, so the retry
    # does not wait for the backoff (15 s or more at this scale).
    h = Harness(retry_scale=1.0)
    run = run_flaky(h, failures=0, no_replies=(LOST,))
    assert run.status is RunStatus.COMPLETED
    assert run.output == 1  # ctx.attempt: the lost attempt counted
    assert [b["ctx"]["attempt"] for b in h.bodies(run)] == [0, 1]
    assert h.now == START


def test_an_unanswered_call_still_waits_for_the_backoff() -> None:
    h = Harness(retry_scale=1.0)
    run = run_flaky(h, failures=0, no_replies=(UNANSWERED,))
    assert run.status is RunStatus.COMPLETED
    job_id = h.bodies(run)[0]["ctx"]["job_id"]
    # (Relative to START: pytest.approx of an epoch time allows 30 min.)
    assert h.now - START == pytest.approx(backoff_seconds(job_id, 0, 1.0))
    assert h.now - START >= 15


def test_after_a_worker_lost_an_ordinary_failure_backs_off_from_its_attempt() -> None:
    h = Harness(retry_scale=1.0)
    run = run_flaky(h, failures=0, no_replies=(LOST, UNANSWERED))
    assert [b["ctx"]["attempt"] for b in h.bodies(run)] == [0, 1, 2]
    # The lost attempt took no time; the failed one waits the second
    # attempt's backoff (30 s and more), not the first's.
    job_id = h.bodies(run)[0]["ctx"]["job_id"]
    assert h.now - START == pytest.approx(backoff_seconds(job_id, 1, 1.0))


def test_a_worker_lost_on_every_attempt_fails_the_run_once_retries_are_spent() -> None:
    h = Harness(retry_scale=1.0)
    run = run_flaky(h, failures=0, retries=2, no_replies=(LOST, LOST, LOST, LOST))
    assert run.status is RunStatus.FAILED
    assert [b["ctx"]["attempt"] for b in h.bodies(run)] == [0, 1, 2]
    assert h.now == START
    assert run.error is not None
    assert run.error["message"] == LOST.text
    assert run.error["message"].startswith("The worker stopped responding")


def test_retries_stop_at_max_attempts_and_the_run_fails() -> None:
    h = Harness()
    run = run_flaky(h, failures=10, retries=2)
    assert run.status is RunStatus.FAILED
    assert [b["ctx"]["attempt"] for b in h.bodies(run)] == [0, 1, 2]
    assert [b["ctx"]["max_attempts"] for b in h.bodies(run)] == [3, 3, 3]
    # The run's output is the SDK's error body; the error is the standard shape.
    assert run.output["message"] == "boom 3"
    assert run.output["code"] == "unknown"
    assert run.error is not None
    assert run.error["error"] == "invalid status code: 500"
    assert (run.error["name"], run.error["message"]) == ("ValueError", "boom 3")
    assert "Traceback" in run.error["stack"]


def test_zero_retries_means_one_attempt() -> None:
    h = Harness()
    run = run_flaky(h, failures=1, retries=0)
    assert run.status is RunStatus.FAILED
    assert len(h.bodies(run)) == 1


def test_non_retriable_error_fails_at_once() -> None:
    h = Harness()

    @h.client.create_function(fn_id="nope", trigger=TRIGGER)
    def nope(ctx: inngest.ContextSync) -> None:
        raise inngest.NonRetriableError("give up")

    h.serve(nope)
    h.send("t/go")
    h.run()
    run = h.only_run("nope")
    assert run.status is RunStatus.FAILED
    assert len(h.calls) == 1
    assert run.error == {
        "error": "NonRetriableError",
        "name": "NonRetriableError",
        "message": "give up",
        "stack": run.output["stack"],
    }


def test_retry_after_error_schedules_the_retry_then() -> None:
    h = Harness(retry_scale=100.0)  # the backoff table would wait far longer
    attempts = []

    @h.client.create_function(fn_id="later", trigger=TRIGGER)
    def later(ctx: inngest.ContextSync) -> str:
        attempts.append(ctx.attempt)
        if ctx.attempt == 0:
            raise inngest.RetryAfterError("busy", datetime.timedelta(minutes=5))
        return "done"

    h.serve(later)
    h.send("t/go")
    h.run()
    assert h.only_run("later").output == "done"
    assert h.now == START + 300


@pytest.mark.parametrize(
    ("retry_after", "delay"),
    [
        ("120", 120.0),
        ("0", 1.0),  # clamped to now + 1 s
        ("9999999", 24 * 3600.0),  # clamped to now + 24 h
        ("2026-01-01T00:10:00.000Z", 600.0),
        ("Thu, 01 Jan 2026 00:20:00 GMT", 1200.0),
        ("2025-01-01T00:00:00Z", 1.0),  # in the past
    ],
)
def test_retry_after_header_forms_and_clamping(retry_after: str, delay: float) -> None:
    h = Harness(retry_scale=1000.0)
    h.serve(two_steps(h))
    h.intercept = lambda call: (
        fake_reply(500, {"message": "busy"}, {"retry-after": retry_after})
        if len(h.calls) == 1
        else None
    )
    h.send("t/go", {"x": 1})
    h.run()
    assert h.only_run("two").status is RunStatus.COMPLETED
    assert h.now == START + delay


def test_an_unreadable_retry_after_falls_back_to_the_backoff_table() -> None:
    h = Harness(retry_scale=1.0)
    h.serve(two_steps(h))
    h.intercept = lambda call: (
        fake_reply(500, {}, {"retry-after": "soon-ish, maybe"})
        if len(h.calls) == 1
        else None
    )
    h.send("t/go", {"x": 1})
    h.run()
    assert 15 <= h.now - START <= 45


def only_first_call(reply: OutboundResponse | str) -> Any:
    def intercept(call: CallSDK, seen: list[CallSDK] = []) -> Any:  # noqa: B006
        seen.append(call)
        return reply if len(seen) == 1 else None

    return intercept


@pytest.mark.parametrize(
    "reply",
    [
        # Not from an SDK: no X-Inngest-SDK header (a proxy's page, say).
        OutboundResponse(200, {"content-type": "text/html"}, b"<html>ok</html>"),
        OutboundResponse(206, {}, b"[]"),
        fake_reply(404, {"message": "not here"}),
        fake_reply(400, {"message": "bad"}, {"x-inngest-no-retry": "false"}),
        # A 2xx that asks to be retried later is retried, as the server does.
        fake_reply(200, {"message": "later"}, {"retry-after": "1"}),
        fake_reply(502, b"Bad Gateway"),
        fake_reply(206, b""),
        fake_reply(206, b"not json"),
        fake_reply(206, [{"id": "x", "op": "StepNotFound"}]),
        fake_reply(206, [{"id": "x", "op": "Bogus"}]),
        fake_reply(206, [None]),
        fake_reply(206, [{"id": "x", "op": "StepError"}]),  # no error object
        fake_reply(206, {"not": "an op"}),
        "connection refused",
    ],
)
def test_failed_attempts_are_retried(reply: OutboundResponse | str) -> None:
    h = Harness()
    h.serve(two_steps(h))
    h.intercept = only_first_call(reply)
    h.send("t/go", {"x": 1})
    h.run()
    run = h.only_run("two")
    assert run.status is RunStatus.COMPLETED
    assert [b["ctx"]["attempt"] for b in h.bodies(run)][:2] == [0, 1]


def test_a_network_failure_on_the_last_attempt_fails_the_run() -> None:
    h = Harness()
    h.serve(two_steps(h, retries=1))
    h.intercept = lambda call: "timed out"
    h.send("t/go", {"x": 1})
    h.run()
    run = h.only_run("two")
    assert run.status is RunStatus.FAILED
    assert len(h.calls) == 2
    assert run.error == {"error": "timed out", "name": "Error", "message": "timed out"}


@pytest.mark.parametrize(
    ("body", "output"),
    [
        (b'{"a": 1}', {"a": 1}),
        (b"[1, 2]", [1, 2]),
        (b"null", None),
        (b"not json", "not json"),
    ],
)
def test_a_200_reply_is_the_output(body: bytes, output: Any) -> None:
    h = Harness()
    h.serve(two_steps(h))
    h.intercept = lambda call: fake_reply(200, body)
    h.send("t/go", {"x": 1})
    h.run()
    assert h.only_run("two").output == output


def test_a_streamed_reply_is_unwrapped() -> None:
    h = Harness()
    h.serve(two_steps(h))
    inner = json.dumps({"message": "later"})
    wrapper = {"status": 500, "body": inner, "headers": {"Retry-After": "60"}}
    streamed = OutboundResponse(
        201, {"x-inngest-sdk": "py"}, b"   " + json.dumps(wrapper).encode()
    )
    ok = {"status": 200, "body": json.dumps("fine"), "headers": {}}
    h.intercept = lambda call: (
        streamed
        if len(h.calls) == 1
        else OutboundResponse(201, {"x-inngest-sdk": "py"}, json.dumps(ok).encode())
    )
    h.send("t/go", {"x": 1})
    h.run()
    assert h.only_run("two").output == "fine"
    assert h.now == START + 60


def test_a_reply_to_a_cancelled_run_is_discarded() -> None:
    h = Harness()
    h.serve(two_steps(h))
    h.send("t/go", {"x": 1})
    call = h._queue.pop(0)
    run = h.only_run("two")
    h.apply(h.executor.cancel(run.run_id, h.now))
    answered = h.executor.call_finished(
        run.run_id, call.request_id, fake_reply(200, "late"), h.now
    )
    assert answered == []
    assert run.status is RunStatus.CANCELLED
    assert run.output == {}
    # Unknown runs and requests are ignored too.
    assert h.executor.call_finished("nope", "nope", fake_reply(200, 1), h.now) == []
    assert h.executor.call_failed(run.run_id, "nope", "x", h.now) == []
    assert h.executor.timer_fired("nope", h.now) == []
    assert h.executor.cancel(run.run_id, h.now) == []


def test_a_function_removed_by_a_resync_fails_its_runs() -> None:
    h = Harness(retry_scale=1.0)
    h.serve(flaky(h, failures=1))
    h.send("t/go")
    h.drain()
    h.executor.register_app("http://app.test/api/inngest", [])
    h.run()
    run = h.only_run("flaky")
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "not registered" in run.error["message"]


def test_retry_scale_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="retry_scale"):
        Harness(retry_scale=-1.0)


def test_the_written_pieces_of_a_run_go_when_it_ends() -> None:
    """The call bodies' pieces (events and memos in JCS form) are kept for
    the runs still calling, never for the ones that ended: else a server
    that runs one-step runs all day would keep each run's events."""
    h = Harness()
    h.serve(two_steps(h))
    for n in range(20):
        h.send("t/go", {"n": n})
    h.run()
    assert len(h.runs("two")) == 20
    assert all(not run.is_running for run in h.runs("two"))
    assert len(h.executor._book._bodies) == 0
    sleeping = h.sleeping_run()
    assert sleeping.is_running
    assert len(h.executor._book._bodies) == 1
