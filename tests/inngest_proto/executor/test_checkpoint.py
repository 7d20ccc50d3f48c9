"""Async checkpoints: parsing, saving, attempt reset.

See docs/protocol/executor.rst#async-checkpoints.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto.executor import (
    CallSDK,
    CheckpointRejected,
    RunStatus,
    parse_checkpoint,
)
from inngest_proto.executor._checkpoint import (
    queue_item_job_id,
    queue_item_ref,
)
from inngest_proto.executor._reply import MAX_STEP_DATA_BYTES
from tests.inngest_proto.executor._harness import Harness, fake_reply, op

RUN = "01KAAAAAAAAAAAAAAAAAAAAAAA"
FN = "6c1f5e0e-6a1b-4c58-9e55-1a5d0f1e7c01"


def body(**fields: Any) -> bytes:
    return json.dumps({"run_id": RUN, "fn_id": FN, "qi_id": "", **fields}).encode()


# -- parsing -----------------------------------------------------------------------


def test_step_runs_are_kept_and_lazy_ops_dropped() -> None:
    steps = [
        op("StepRun", "a", data=1),
        op("Step", "b", data={"data": 2}),
        op("StepPlanned", "c"),
        op("DeferAdd", "d"),
    ]
    parsed = parse_checkpoint(body(steps=steps, qi_id="q"), RUN)
    assert [(o.id, o.data) for o in parsed.ops] == [("a", 1), ("b", {"data": 2})]
    assert (parsed.run_id, parsed.fn_id, parsed.queue_item) == (RUN, FN, "q")


def test_the_run_id_defaults_to_the_one_in_the_path() -> None:
    raw = json.dumps({"steps": [op("StepRun", "a", data=1)]}).encode()
    assert parse_checkpoint(raw, RUN).run_id == RUN


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{", "not JSON"),
        (b"[]", "expected an object, got an array"),
        (body(run_id="01KBBBBBBBBBBBBBBBBBBBBBBB"), "is not the run in the path"),
        (body(fn_id="fn-1"), "fn_id 'fn-1' is not a UUID"),
        (body(qi_id=3), "qi_id is the number 3, not a string"),
        (body(steps={}), "steps is an object, not an array"),
        (body(steps=[{"op": "StepRun"}]), "op 0 has no string id"),
        (body(steps=[op("Bogus", "a")]), "unknown opcode 'Bogus'"),
        (body(steps=[op("Sleep", "a")]), "cannot checkpoint async steps"),
        (body(steps=[op("WaitForEvent", "a")]), "cannot checkpoint async steps"),
        (body(steps=[op("RunComplete", "a")]), "cannot checkpoint opcode: RunComplete"),
        (
            body(steps=[op("StepError", "a", error={"name": "E", "message": "m"})]),
            "cannot checkpoint opcode: StepError",
        ),
        (
            body(steps=[op("StepRun", "a", data=json.loads(b"[" * 101 + b"]" * 101))]),
            r"op 0 \(a\) has data nested deeper than the 100 levels allowed",
        ),
        (b'{"steps": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "not JSON"),
    ],
)
def test_bad_checkpoints_are_refused_with_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(CheckpointRejected, match=reason) as caught:
        parse_checkpoint(raw, RUN)
    assert caught.value.status == 400


def test_a_step_over_the_size_limit_is_413() -> None:
    big = "x" * (MAX_STEP_DATA_BYTES + 1)
    with pytest.raises(CheckpointRejected, match="allowed per step") as caught:
        parse_checkpoint(body(steps=[op("StepRun", "a", data=big)]), RUN)
    assert caught.value.status == 413


def test_queue_item_refs_round_trip_and_foreign_ones_are_ignored() -> None:
    assert queue_item_job_id(queue_item_ref("fn:evt-1")) == "fn:evt-1"
    assert queue_item_job_id("not base64!") is None
    assert queue_item_job_id("") is None
    assert queue_item_job_id("Zm9vOjpiYXI=") is None  # foo::bar: another shard


# -- the executor ------------------------------------------------------------------


class CheckpointingSDK:
    """A fake SDK that checkpoints each step it runs, as the TS SDK does."""

    def __init__(self, h: Harness, script: list[Any]) -> None:
        self.h = h
        #: One entry per call: (steps to checkpoint, reply).
        self.script = script

    def __call__(self, call: CallSDK) -> Any:
        checkpointed, reply = self.script[len(self.h.calls) - 1]
        ctx = json.loads(call.request.body)["ctx"]
        if checkpointed:
            raw = json.dumps(
                {
                    "run_id": ctx["run_id"],
                    "fn_id": ctx["fn_id"],
                    "qi_id": ctx["qi_id"],
                    "steps": checkpointed,
                }
            ).encode()
            self.h.apply(
                self.h.executor.checkpoint(
                    parse_checkpoint(raw, ctx["run_id"]), self.h.now
                )
            )
        return reply


def start(h: Harness) -> None:
    """Serve a function whose every call the test's fake SDK answers."""

    @h.client.create_function(fn_id="cp", trigger=inngest.TriggerEvent(event="t/go"))
    def fn(ctx: inngest.ContextSync) -> None:
        raise AssertionError("the fake SDK answers every call")

    h.serve(fn)
    h.send("t/go")


def test_steps_checkpointed_in_one_call_finish_the_run_in_one_call() -> None:
    h = Harness()
    steps = [op("StepRun", s, data=s.upper()) for s in ("a", "b", "c")]
    h.intercept = CheckpointingSDK(
        h, [(steps, fake_reply(206, [op("RunComplete", "complete", data="ABC")]))]
    )
    start(h)
    h.run()
    (run,) = h.executor.state.runs.values()
    assert run.status is RunStatus.COMPLETED
    assert run.output == "ABC"
    assert len(h.calls) == 1
    assert run.stack == ["a", "b", "c"]
    assert run.steps["b"] == {"data": "B"}


def test_a_crash_after_checkpointing_loses_no_step_and_resets_attempts() -> None:
    h = Harness()
    a = op("StepRun", "a", data=1)
    h.intercept = CheckpointingSDK(
        h,
        [
            ([], fake_reply(500, {"error": "boom"})),  # attempt 0 fails
            ([a], fake_reply(500, {"error": "crash"})),  # attempt 1 checkpoints
            ([], fake_reply(200, "done")),
        ],
    )
    start(h)
    h.run()
    (run,) = h.executor.state.runs.values()
    assert run.status is RunStatus.COMPLETED
    bodies = h.bodies(run)
    assert [b["ctx"]["attempt"] for b in bodies] == [0, 1, 1]
    # The retry after the crash replays the checkpointed step.
    assert bodies[2]["steps"] == {"a": {"data": 1}}


def test_a_reply_repeating_checkpointed_steps_saves_them_once() -> None:
    h = Harness()
    a = op("StepRun", "a", data=1)
    h.intercept = CheckpointingSDK(
        h, [([a], fake_reply(206, [a])), ([], fake_reply(200, "done"))]
    )
    start(h)
    h.run()
    (run,) = h.executor.state.runs.values()
    assert run.status is RunStatus.COMPLETED
    assert run.stack == ["a"]
    assert h.bodies(run)[1]["steps"] == {"a": {"data": 1}}


def test_checkpoints_for_unknown_finished_or_foreign_runs_are_refused() -> None:
    h = Harness()
    h.intercept = lambda call: fake_reply(200, "done")
    start(h)
    (run,) = h.executor.state.runs.values()
    raw = json.dumps({"steps": [op("StepRun", "a", data=1)]}).encode()
    with pytest.raises(CheckpointRejected, match="not found"):
        h.executor.checkpoint(parse_checkpoint(raw, RUN), h.now)
    foreign = json.dumps({"fn_id": FN, "steps": []}).encode()
    with pytest.raises(CheckpointRejected, match="not found"):
        h.executor.checkpoint(parse_checkpoint(foreign, run.run_id), h.now)
    h.run()
    with pytest.raises(CheckpointRejected, match="already finished"):
        h.executor.checkpoint(parse_checkpoint(raw, run.run_id), h.now)
    assert run.steps == {}
