"""step.wait_for_event and step.invoke, end to end."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._step_ids import hash_step_id
from inngest_proto.executor import ExpressionError, RunStatus, WaitResumed
from tests.inngest_proto.executor._harness import APP_ID, START, Harness, fake_reply, op

TRIGGER = inngest.TriggerEvent(event="t/go")
WAIT = hash_step_id("wait")


def waiter(h: Harness, if_exp: str | None = None) -> inngest.Function[Any]:
    @h.client.create_function(fn_id="waiter", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> Any:
        found = ctx.step.wait_for_event(
            "wait",
            event="t/approved",
            if_exp=if_exp,
            timeout=datetime.timedelta(hours=1),
        )
        return None if found is None else found.data

    return fn


def test_a_wait_resumes_with_the_matching_event() -> None:
    h = Harness()
    h.serve(waiter(h, if_exp="event.data.id == async.data.id"))
    h.send("t/go", {"id": 1})
    h.drain()
    run = h.only_run("waiter")
    assert run.waits[WAIT].event_name == "t/approved"
    h.now += 10
    h.send("t/approved", {"id": 2})  # no match: other id
    h.send("t/other", {"id": 1})  # no match: other name
    h.send("t/approved", {"id": 1, "ok": True}, id="match")
    h.send("t/approved", {"id": 1, "late": True})  # the first match won
    h.run()
    assert run.output == {"id": 1, "ok": True}
    memo = run.steps[WAIT]
    assert memo == {
        "data": {"id": 1, "ok": True},
        "id": "match",
        "name": "t/approved",
        "ts": int((START + 10) * 1000),
        "user": {},
    }
    # The timeout was cancelled with the match: the clock never jumped an hour.
    assert h.now == START + 10
    # Only the matching event resumed the wait, and the driver is told so.
    assert h.resumed == [WaitResumed(run.run_id, WAIT, "match")]


def test_a_wait_times_out_with_a_null_memo() -> None:
    h = Harness()
    h.serve(waiter(h))
    h.send("t/go")
    h.run()
    run = h.only_run("waiter")
    assert run.status is RunStatus.COMPLETED
    assert run.output is None
    assert run.steps == {WAIT: None}
    assert h.now == START + 3600


def test_events_sent_before_the_wait_never_match() -> None:
    h = Harness()

    @h.client.create_function(fn_id="early", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> Any:
        ctx.step.send_event("send", inngest.Event(name="t/approved", data={"x": 1}))
        found = ctx.step.wait_for_event("wait", event="t/approved", timeout=60_000)
        return found is None

    h.serve(fn)
    h.send("t/go")
    h.run()
    assert h.only_run("early").output is True


def test_the_wait_matcher_is_injected() -> None:
    seen: list[tuple[str | None, str, str]] = []

    def matcher(
        expression: str | None,
        run_event: Mapping[str, Any],
        candidate: Mapping[str, Any],
        now: float,
    ) -> bool:
        seen.append((expression, run_event["name"], candidate["name"]))
        return bool(candidate["data"].get("yes"))

    h = Harness(wait_matcher=matcher)
    h.serve(waiter(h, if_exp="anything at all"))
    h.send("t/go")
    h.drain()
    h.send("t/approved", {"yes": False})
    h.send("t/approved", {"yes": True})
    h.run()
    assert h.only_run("waiter").output == {"yes": True}
    assert seen == [("anything at all", "t/go", "t/approved")] * 2


def test_a_matcher_that_raises_is_no_match() -> None:
    def matcher(
        expression: str | None, run_event: Any, candidate: Any, now: float
    ) -> bool:
        raise ExpressionError("cannot evaluate")

    h = Harness(wait_matcher=matcher)
    h.serve(waiter(h, if_exp="x"))
    h.send("t/go")
    h.drain()
    h.send("t/approved")
    h.run()
    assert h.only_run("waiter").output is None  # timed out


def test_a_wait_without_timeout_expires_at_once() -> None:
    h = Harness()

    @h.client.create_function(fn_id="f", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> str:
        return "done"

    h.intercept = lambda call: (
        fake_reply(206, [op("WaitForEvent", "w", name="t/x", opts={})])
        if len(h.calls) == 1
        else None
    )
    h.serve(fn)
    h.send("t/go")
    h.run()
    assert h.only_run("f").steps == {"w": None}
    assert h.now == START


def parent_and_child(
    h: Harness, *, child_fails: bool = False, timeout: int | None = None
) -> list[inngest.Function[Any]]:
    @h.client.create_function(
        fn_id="child", trigger=inngest.TriggerEvent(event="t/never"), retries=0
    )
    def child(ctx: inngest.ContextSync) -> int:
        doubled: int = ctx.step.run("work", lambda: int(ctx.event.data["x"]) * 2)
        if child_fails:
            raise ValueError("child broke")
        ctx.step.sleep("slow", 30_000)
        return doubled

    @h.client.create_function(fn_id="parent", trigger=TRIGGER)
    def parent(ctx: inngest.ContextSync) -> Any:
        try:
            return ctx.step.invoke(
                "call-child", function=child, data={"x": 21}, timeout=timeout
            )
        except inngest.StepError as err:
            return {"failed": err.name, "message": err.message}

    return [parent, child]


def test_invoke_runs_the_child_and_returns_its_output() -> None:
    h = Harness()
    h.serve(*parent_and_child(h))
    h.send("t/go")
    h.run()
    parent, child = h.only_run("parent"), h.only_run("child")
    assert parent.output == 42
    assert child.output == 42
    step = hash_step_id("call-child")
    assert parent.steps[step] == {"data": 42}
    invoked = child.event
    assert invoked["name"] == "inngest/function.invoked"
    assert invoked["data"]["x"] == 21
    meta = invoked["data"]["_inngest"]
    assert meta["fn_id"] == f"{APP_ID}-child"
    assert meta["correlation_id"] == f"{parent.run_id}.{step}"
    assert meta["name"] == "call-child"
    assert meta["source_fn_v"] == 1
    assert meta["expire"] == int((START + 365 * 24 * 3600) * 1000)
    # The child's finished event carries the correlation id back.
    finished = [
        e
        for e in h.emitted
        if e["name"] == "inngest/function.finished"
        and e["data"]["run_id"] == child.run_id
    ]
    assert finished[0]["data"]["correlation_id"] == meta["correlation_id"]
    assert finished[0]["data"]["result"] == 42


def test_a_failed_child_fails_the_invoke_step() -> None:
    h = Harness()
    h.serve(*parent_and_child(h, child_fails=True))
    h.send("t/go")
    h.run()
    assert h.only_run("child").status is RunStatus.FAILED
    assert h.only_run("parent").output == {
        "failed": "ValueError",
        "message": "child broke",
    }
    memo = h.only_run("parent").steps[hash_step_id("call-child")]
    assert memo["error"]["error"] == "invalid status code: 500"


def test_an_invoke_times_out_while_the_child_keeps_running() -> None:
    h = Harness()
    h.serve(*parent_and_child(h, timeout=10_000))
    h.send("t/go")
    h.run()
    assert h.only_run("parent").output == {
        "failed": "InngestInvokeTimeoutError",
        "message": "Timed out waiting for invoked function to complete",
    }
    assert h.only_run("child").status is RunStatus.COMPLETED
    assert h.now == START + 30


def test_invoking_an_unknown_function_fails_the_step() -> None:
    h = Harness()

    @h.client.create_function(fn_id="lost", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> Any:
        try:
            return ctx.step.invoke_by_id("call", function_id="nowhere")
        except inngest.StepError as err:
            return err.message

    h.serve(fn)
    h.send("t/go")
    h.run()
    assert (
        h.only_run("lost").output
        == f"could not find function with ID: {APP_ID}-nowhere"
    )


def _fails(*args: Any) -> bool:
    """A matcher whose expression fails to evaluate, as ``1 / 0`` does."""
    raise ExpressionError("division by zero", expression="async.data.x / 0")


def test_a_wait_if_that_fails_matches_nothing_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness(wait_matcher=_fails)
    h.serve(waiter(h, if_exp="async.data.x / 0"))
    h.send("t/go", {"id": 1})
    h.drain()
    run = h.only_run("waiter")
    with caplog.at_level(logging.WARNING, logger="inngest_proto.executor"):
        h.send("t/approved", {"x": 1}, id="evt-2")
    assert WAIT in run.waits  # still waiting
    (record,) = caplog.records
    message = record.getMessage()
    assert message.startswith(f"wait_for_event if of {APP_ID}-waiter run ")
    assert run.run_id in message
    assert "event evt-2 (t/approved)" in message
    assert "division by zero" in message
    assert message.endswith("the event does not resume the wait")
    h.run()
    assert (run.status, run.output) == (RunStatus.COMPLETED, None)  # timed out
