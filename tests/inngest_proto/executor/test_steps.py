"""Step opcodes: memos, step retries and failures, sleeps, planning, parallelism."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._step_ids import hash_step_id
from inngest_proto.executor import Run, RunStatus
from tests.inngest_proto.executor._harness import (
    START,
    Harness,
    Intercept,
    fake_reply,
    op,
)

TRIGGER = inngest.TriggerEvent(event="t/go")


def test_a_step_error_retries_the_same_call_then_succeeds() -> None:
    h = Harness()
    tries: list[int] = []

    @h.client.create_function(fn_id="retry-step", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> str:
        def shaky() -> str:
            tries.append(ctx.attempt)
            if len(tries) < 3:
                raise ValueError("not yet")
            return "ok"

        return ctx.step.run("shaky", shaky) + "!"

    h.serve(fn)
    h.send("t/go")
    h.run()
    run = h.only_run("retry-step")
    assert run.output == "ok!"
    assert tries == [0, 1, 2]
    # The retried queue item is the same one: same job id, attempt counting up;
    # the discovery after the step starts again at attempt 0.
    bodies = h.bodies(run)
    assert [b["ctx"]["attempt"] for b in bodies] == [0, 1, 2, 0]
    assert len({b["ctx"]["job_id"] for b in bodies[:3]}) == 1
    assert run.steps == {hash_step_id("shaky"): {"data": "ok"}}


def test_a_step_failing_on_its_last_attempt_is_memoized_as_an_error() -> None:
    h = Harness()

    @h.client.create_function(fn_id="fails", trigger=TRIGGER, retries=1)
    def fn(ctx: inngest.ContextSync) -> str:
        def broken() -> str:
            raise KeyError("gone")

        try:
            ctx.step.run("broken", broken)
        except inngest.StepError as err:
            return f"caught {err.name}"
        return "unreachable"

    h.serve(fn)
    h.send("t/go")
    h.run()
    run = h.only_run("fails")
    assert run.output == "caught KeyError"
    memo = run.steps[hash_step_id("broken")]
    assert set(memo) == {"error"}
    assert memo["error"]["name"] == "KeyError"
    assert [b["ctx"]["attempt"] for b in h.bodies(run)] == [0, 1, 0]


def test_an_uncaught_step_failure_fails_the_run_without_retries() -> None:
    h = Harness()

    @h.client.create_function(fn_id="uncaught", trigger=TRIGGER, retries=0)
    def fn(ctx: inngest.ContextSync) -> None:
        ctx.step.run("broken", lambda: 1 / 0)

    h.serve(fn)
    h.send("t/go")
    h.run()
    run = h.only_run("uncaught")
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    # The SDK marks the failure no-retry; the error keeps the user's name.
    assert run.error["error"] == "ZeroDivisionError"
    assert run.error["name"] == "ZeroDivisionError"
    assert h.emitted[-1]["data"]["error"]["error"] == "ZeroDivisionError"
    assert len(h.calls) == 2


def test_the_server_converts_a_last_attempt_step_error() -> None:
    h = Harness()

    @h.client.create_function(fn_id="ts-like", trigger=TRIGGER, retries=1)
    def fn(ctx: inngest.ContextSync) -> str:
        try:
            ctx.step.run("s", lambda: "never")
        except inngest.StepError as err:
            return err.message
        return "ran"

    error = {"name": "Error", "message": "always StepError", "stack": ""}
    h.intercept = lambda call: (
        fake_reply(206, [op("StepError", hash_step_id("s"), error=error)])
        if len(h.calls) <= 2
        else None
    )
    h.serve(fn)
    h.send("t/go")
    h.run()
    run = h.only_run("ts-like")
    assert run.steps == {hash_step_id("s"): {"error": error}}
    assert run.output == "always StepError"


def test_a_no_retry_step_error_is_final_at_once() -> None:
    h = Harness()

    @h.client.create_function(fn_id="nested", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> str:
        def outer() -> str:
            return ctx.step.run("inner", lambda: "x")

        try:
            return ctx.step.run("outer", outer)
        except inngest.StepError as err:
            return err.name

    h.serve(fn)
    h.send("t/go")
    h.run()
    run = h.only_run("nested")
    assert run.status is RunStatus.COMPLETED
    assert len(h.calls) == 2  # no retry of the step_nested error


def test_sleep_sets_a_timer_and_wakes_with_a_null_memo() -> None:
    h = Harness()

    @h.client.create_function(fn_id="sleeper", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> float:
        ctx.step.sleep("nap", datetime.timedelta(hours=1))
        ctx.step.sleep_until(
            "until", datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone.utc)
        )
        return ctx.step.run("after", lambda: 1.5)

    h.serve(fn)
    h.send("t/go")
    h.drain()
    run = h.only_run("sleeper")
    assert list(h.timers.values()) == [START + 3600]
    h.run()
    assert run.output == 1.5
    assert run.steps[hash_step_id("nap")] is None
    assert run.steps[hash_step_id("until")] is None
    assert h.now == START + 24 * 3600


@pytest.mark.parametrize(
    ("sleep_op", "wakes_after"),
    [
        (op("Sleep", "z", name="30m"), 1800.0),
        (op("Sleep", "z", name="1h30m"), 5400.0),
        (op("Sleep", "z", name="x", opts={"duration": "2s"}), 2.0),
        (op("Sleep", "z", name="2026-01-01T00:00:10Z"), 10.0),
        (op("Sleep", "z", name="2020-01-01T00:00:00Z"), 0.0),  # past: at once
    ],
)
def test_sleep_accepts_durations_and_times(
    sleep_op: dict[str, Any], wakes_after: float
) -> None:
    h = Harness()

    @h.client.create_function(fn_id="f", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> str:
        return "done"

    h.intercept = lambda call: (
        fake_reply(206, [sleep_op]) if len(h.calls) == 1 else None
    )
    h.serve(fn)
    h.send("t/go")
    h.run()
    run = h.only_run("f")
    assert run.output == "done"
    assert run.steps == {"z": None}
    assert h.now == START + wakes_after


@pytest.mark.parametrize("name", ["367d", "forever"])
def test_a_sleep_too_long_or_unreadable_fails_the_run(name: str) -> None:
    run = Harness().run_answered_with(fake_reply(206, [op("Sleep", "z", name=name)]))
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "sleep" in run.error["message"]


def test_parallel_steps_are_planned_targeted_then_discovered_once() -> None:
    h = Harness()

    @h.client.create_function(fn_id="par", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> list[Any]:
        a, b = ctx.group.parallel(
            (
                lambda: ctx.step.run("p-a", lambda: "A"),
                lambda: ctx.step.run("p-b", lambda: "B"),
            )
        )
        after = ctx.step.run("after", lambda: a + b)
        return [a, b, after]

    h.serve(fn)
    h.send("t/go")
    h.run()
    run = h.only_run("par")
    assert run.output == ["A", "B", "AB"]
    pa, pb, after = hash_step_id("p-a"), hash_step_id("p-b"), hash_step_id("after")
    # Discovery plans both; each is targeted; one discovery after both.
    assert h.step_ids(run) == ["step", pa, pb, "step", "step"]
    bodies = h.bodies(run)
    dies = [b["ctx"]["disable_immediate_execution"] for b in bodies]
    # Set by the two-op reply; cleared once the group finished (version 2).
    assert dies == [False, True, True, False, False]
    assert run.stack == [pa, pb, after]
    assert bodies[3]["ctx"]["stack"] == {"current": 2, "stack": [pa, pb]}


def _answered_run(h: Harness, fn_id: str, intercept: Intercept) -> Run:
    """The run, to its end, of ``fn_id`` (triggered by ``t/go``; it returns
    ``"done"``) whose calls ``intercept`` answers where it returns a reply."""

    @h.client.create_function(fn_id=fn_id, trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> str:
        return "done"

    h.intercept = intercept
    h.serve(fn)
    h.send("t/go")
    h.run()
    return h.only_run(fn_id)


def test_race_mode_calls_again_after_each_branch() -> None:
    h = Harness()
    ops = [
        op("StepPlanned", "r1", opts={"parallelMode": "race"}),
        op("StepPlanned", "r2", opts={"parallelMode": "race"}),
    ]
    replies = {
        1: fake_reply(206, ops),
        2: fake_reply(206, [op("StepRun", "r1", data=1)]),
        3: fake_reply(206, [op("StepRun", "r2", data=2)]),
    }
    run = _answered_run(h, "race", lambda call: replies.get(len(h.calls)))
    # r1's discovery goes out at once, r2's once it finishes too.
    assert h.step_ids(run) == ["step", "r1", "r2", "step", "step"]
    assert run.output == "done"


def test_an_sdk_running_steps_in_one_reply_without_planning() -> None:
    # Old SDKs report several executed steps at once; each saves a memo.
    h = Harness()
    replies = {
        1: fake_reply(206, [op("StepRun", "x", data=1), op("Step", "y", data=2)])
    }
    run = _answered_run(h, "multi", lambda call: replies.get(len(h.calls)))
    assert run.steps == {"x": {"data": 1}, "y": 2}
    assert run.output == "done"


def test_an_empty_op_list_redrives_discovery_once_per_state() -> None:
    h = Harness()
    run = _answered_run(
        h, "idle", lambda call: fake_reply(206, []) if len(h.calls) <= 2 else None
    )
    # The second [] in the same state enqueues nothing: the run is stuck.
    assert len(h.calls) == 2
    assert run.status is RunStatus.RUNNING


def test_run_complete_and_discovery_request_ops() -> None:
    h = Harness()
    replies = {
        1: fake_reply(206, [op("DiscoveryRequest", "d")]),
        2: fake_reply(206, [op("RunComplete", "c", data={"done": True})]),
    }
    run = _answered_run(h, "ckpt", lambda call: replies.get(len(h.calls)))
    assert run.output == {"done": True}
    assert len(h.calls) == 2


def test_unsupported_ops_fail_the_run_with_a_clear_message() -> None:
    # Any case: "gateway" is Gateway.
    run = Harness().run_answered_with(fake_reply(206, [op("gateway", "g")]))
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "Gateway" in run.error["message"]


def test_a_planned_step_reported_twice_is_called_once() -> None:
    h = Harness()
    plan_twice = fake_reply(206, [op("StepPlanned", "p"), op("StepPlanned", "p")])

    def intercept(call: Any) -> Any:
        if len(h.calls) == 1:
            return plan_twice
        if call.request.headers["x-inngest-step-id"] == "p":
            return fake_reply(206, [op("StepRun", "p", data=1)])
        return None

    run = _answered_run(h, "dup", intercept)
    assert h.step_ids(run) == ["step", "p", "step"]
    assert run.status is RunStatus.COMPLETED
