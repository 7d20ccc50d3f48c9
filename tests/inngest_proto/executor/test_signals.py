"""``WaitForSignal`` ops (the TypeScript SDK's ``step.waitForSignal``),
resumed by :meth:`Executor.signal` (``POST /v1/signals``); virtual clock.

A fake SDK reports the op, as that SDK does, and returns the step's memo.
"""

from __future__ import annotations

import json
from typing import Any

import inngest_proto as inngest
from inngest_proto._http_values import OutboundResponse
from inngest_proto.executor import RunStatus
from tests.inngest_proto.executor._harness import START, Harness, fake_reply, op

TRIGGER = inngest.TriggerEvent(event="t/go")


def waiting(h: Harness, name: str = "w", **opts: Any) -> None:
    """A fake TypeScript app whose function waits for a signal (step ``w``)
    and returns the step's memo."""

    def sdk(call: Any) -> OutboundResponse:
        steps = json.loads(call.request.body)["steps"]
        if "w" in steps:
            return fake_reply(200, steps["w"])
        return fake_reply(206, [op("WaitForSignal", "w", name=name, opts=opts)])

    h.intercept = sdk

    @h.client.create_function(fn_id="wait", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> str:
        return "replaced by the fake SDK"

    h.serve(fn)


def test_a_signal_resumes_the_run_waiting_for_it() -> None:
    h = Harness()
    waiting(h, signal="order-1", timeout="1h")
    h.send("t/go")
    h.drain()  # no timer fires: the wait is still on
    run = h.only_run("wait")
    assert run.is_running
    assert h.executor.signal("order-2", {"v": 0}, h.now)[0] is None  # another one
    run_id, actions = h.executor.signal("order-1", {"v": 5}, h.now)
    assert run_id == run.run_id
    h.apply(actions)
    h.run()
    assert run.status is RunStatus.COMPLETED
    assert run.output == {"signal": "order-1", "data": {"v": 5}}
    # Sent again: nobody waits any more.
    assert h.executor.signal("order-1", {"v": 6}, h.now)[0] is None


def test_an_unanswered_signal_times_out_with_null() -> None:
    h = Harness()
    waiting(h, signal="late", timeout="10s")
    h.send("t/go")
    h.run()
    run = h.only_run("wait")
    assert run.status is RunStatus.COMPLETED
    assert run.output is None
    assert h.now >= START + 10


def test_the_op_name_is_the_signal_when_opts_do_not_say() -> None:
    h = Harness()
    waiting(h, name="by-name", timeout="1h")
    h.send("t/go")
    h.drain()
    run_id, _ = h.executor.signal("by-name", None, h.now)
    assert run_id == h.only_run("wait").run_id


def test_an_op_naming_no_signal_fails_the_run_clearly() -> None:
    h = Harness()
    waiting(h, name="")
    h.send("t/go")
    h.run()
    run = h.only_run("wait")
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "invalid WaitForSignal op 'w'" in run.error["message"]
