"""RunHistory: timelines from recorded calls and replies.

Ops have the shapes of docs/protocol/steps.rst#op-envelope.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import attrs
import pytest

from inngest_proto.executor import Reply, Run, RunStatus, read_reply
from inngest_proto.functions import Opcode, StepOp
from inngest_proto.wire import OutboundResponse
from inngest_transports.devserver._history import RunHistory

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SDK = {"content-type": "application/json", "x-inngest-sdk": "inngest-py:v0.5.19"}
STACK = 'Traceback (most recent call last):\n  File "app.py", line 3\nValueError: x'


def _reply(status: int, body: Any, **headers: str) -> Reply:
    return read_reply(
        OutboundResponse(status, {**SDK, **headers}, json.dumps(body).encode())
    )


def _op(
    kind: str, step_id: str, name: str | None = None, **more: Any
) -> dict[str, Any]:
    """An op as Python 0.5.19 reports it (docs/protocol/steps.rst#op-envelope)."""
    user = name or step_id
    return {
        "displayName": user,
        "id": step_id,
        "name": more.pop("wire_name", user),
        "op": kind,
        "opts": more.pop("opts", None),
        "userland": {"id": user, "index": None},
        "data": more.pop("data", None),
        **more,
    }


def _error(message: str) -> dict[str, Any]:
    return {"code": "unknown", "message": message, "name": "ValueError", "stack": STACK}


def _run(**fields: Any) -> Run:
    return Run(
        run_id="r1",
        function_id="app-fn",
        events=[{"name": "t/go", "id": "e1", "data": {}, "ts": 0, "user": {}}],
        created_at=T0,
        **fields,
    )


def _call(
    h: RunHistory,
    n: int,
    at: float,
    reply: Reply,
    *,
    attempt: int = 0,
    target: str = "step",
    took: float = 0.5,
    memos: dict[str, Any] | None = None,
) -> None:
    h.call_started(
        "r1", f"q{n}", attempt=attempt, target=target, now=at, memos=memos or {}
    )
    h.call_finished("r1", f"q{n}", reply, at + took)


def test_a_step_retried_twice_then_completed() -> None:
    h = RunHistory()
    h.run_started("r1")
    fails = [
        _op("StepError", "s1", "shaky", error=_error(f"flake {n}")) for n in (1, 2)
    ]
    _call(h, 1, T0, _reply(206, [fails[0]]))
    run = _run()
    (item,) = h.timeline(run)
    assert (item["name"], item["kind"], item["status"]) == ("shaky", "run", "retrying")
    assert item["error"]["message"] == "flake 1"

    # A retry in flight targets the discovery ("step"), not the step.
    _call(h, 2, T0 + 10, _reply(206, [fails[1]]), attempt=1)
    _call(
        h,
        3,
        T0 + 20,
        _reply(206, [_op("StepRun", "s1", "shaky", data="ok")]),
        attempt=2,
    )
    run.steps["s1"] = {"data": "ok"}
    run.stack.append("s1")
    (item,) = h.timeline(run)
    assert item["status"] == "completed"
    assert item["output"] == "ok"
    assert item["error"] is None
    attempts = item["attempts"]
    assert [(a["attempt"], a["status"]) for a in attempts] == [
        (0, "failed"),
        (1, "failed"),
        (2, "completed"),
    ]
    assert attempts[0]["error"] == {
        "name": "ValueError",
        "message": "flake 1",
        "stack": STACK,
    }
    assert attempts[1]["error"]["message"] == "flake 2"
    assert attempts[2]["output"] == "ok"
    assert [a["duration_ms"] for a in attempts] == [500.0, 500.0, 500.0]
    assert (item["started_at"], item["ended_at"]) == (T0, T0 + 20.5)
    assert item["duration_ms"] == 20_500.0


def test_a_failed_step_and_a_failed_run() -> None:
    h = RunHistory()
    _call(h, 1, T0, _reply(206, [_op("StepFailed", "s1", "boom", error=_error("no"))]))
    body = {
        "code": "step_errored",
        "message": "no",
        "name": "ValueError",
        "stack": STACK,
    }
    _call(h, 2, T0 + 1, _reply(500, body, **{"x-inngest-no-retry": "true"}))
    error = {"error": "invalid status code: 500", "name": "ValueError", "message": "no"}
    run = _run(
        status=RunStatus.FAILED, ended_at=T0 + 2, error={**error, "stack": STACK}
    )
    run.steps["s1"] = {"error": {"name": "ValueError", "message": "no", "stack": STACK}}
    step, fn = h.timeline(run)
    assert (step["status"], step["error"]["message"]) == ("failed", "no")
    assert [a["status"] for a in step["attempts"]] == ["failed"]
    assert (fn["kind"], fn["status"]) == ("function", "failed")
    assert fn["error"] == {"name": "ValueError", "message": "no", "stack": STACK}
    assert fn["attempts"][0]["error"]["message"] == "no"


def test_function_level_retries_and_output() -> None:
    h = RunHistory()
    h.call_started("r1", "q1", attempt=0, target="step", now=T0)
    h.call_failed("r1", "q1", "connection refused", T0 + 1)
    _call(h, 2, T0 + 5, _reply(500, _error("body")), attempt=1)
    run = _run()
    (fn,) = h.timeline(run)
    assert (fn["kind"], fn["status"]) == ("function", "retrying")
    assert [a["error"]["message"] for a in fn["attempts"]] == [
        "connection refused",
        "body",
    ]
    _call(h, 3, T0 + 9, _reply(200, {"done": True}), attempt=2)
    run = _run(status=RunStatus.COMPLETED, output={"done": True}, ended_at=T0 + 10)
    (fn,) = h.timeline(run)
    assert (fn["status"], fn["output"]) == ("completed", {"done": True})
    assert [a["status"] for a in fn["attempts"]] == ["failed", "failed", "completed"]
    assert fn["duration_ms"] == 10_000.0


def test_sleeps_python_and_typescript() -> None:
    h = RunHistory()
    py = _op("Sleep", "z1", "nap", wire_name="2026-01-01T01:00:00.000Z")
    ts = _op("Sleep", "z2", "short", wire_name="30m")
    _call(h, 1, T0, _reply(206, [py, ts]))
    run = _run()
    nap, short = h.timeline(run)
    assert (nap["kind"], nap["status"], nap["deadline"]) == (
        "sleep",
        "sleeping",
        T0 + 3600,
    )
    assert short["deadline"] == T0 + 0.5 + 1800
    assert nap["started_at"] == T0 + 0.5
    assert nap["attempts"] == []
    # Reported again by the next discovery: the deadline stays.
    _call(h, 2, T0 + 60, _reply(206, [py]))
    assert h.timeline(run)[0]["deadline"] == T0 + 3600

    run.steps["z1"] = None
    _call(h, 3, T0 + 3600, _reply(206, []), memos=run.steps)
    nap = h.timeline(run)[0]
    assert (nap["status"], nap["ended_at"], nap["output"]) == (
        "completed",
        T0 + 3600,
        None,
    )
    assert nap["duration_ms"] == (3600 - 0.5) * 1000

    run = _run(status=RunStatus.CANCELLED, ended_at=T0 + 4000)
    run.steps["z1"] = None
    h.run_finished("r1")
    short = h.timeline(run)[1]
    assert short["status"] == "cancelled"
    assert h.timeline(run)[-1]["status"] == "cancelled"


def test_waits_and_invokes() -> None:
    h = RunHistory()
    wait = _op(
        "WaitForEvent",
        "w1",
        "approval",
        wire_name="t/approved",
        opts={"if": "event.data.id == async.data.id", "timeout": "1h"},
    )
    bare = _op("WaitForEvent", "w2", "bare", wire_name="t/other", opts={})
    invoke = _op(
        "InvokeFunction",
        "i1",
        "child",
        opts={"function_id": "app-child", "payload": {"data": {}}, "timeout": None},
    )
    _call(h, 1, T0, _reply(206, [wait, bare, invoke]), took=0)
    run = _run()
    w1, w2, i1 = h.timeline(run)
    assert (w1["kind"], w1["status"], w1["deadline"]) == ("wait", "waiting", T0 + 3600)
    assert w1["wait"] == {"event": "t/approved", "if": "event.data.id == async.data.id"}
    assert w2["deadline"] == T0  # no timeout: expires at once, as on the server
    assert (i1["kind"], i1["status"]) == ("invoke", "waiting")
    assert i1["invoke"] == {"function_id": "app-child"}
    assert i1["deadline"] == T0 + 365 * 24 * 3600

    matched = {"name": "t/approved", "id": "e2", "data": {"id": 1}, "ts": 1, "user": {}}
    run.steps.update({"w1": matched, "w2": None, "i1": {"error": _error("child")}})
    _call(h, 2, T0 + 30, _reply(206, []), memos=run.steps)
    w1, w2, i1 = h.timeline(run)
    assert (w1["status"], w1["output"], w1["ended_at"]) == (
        "completed",
        matched,
        T0 + 30,
    )
    assert w1["duration_ms"] == 30_000.0
    assert (w2["status"], w2["output"]) == ("completed", None)
    assert (i1["status"], i1["error"]["message"]) == ("failed", "child")


def test_a_wait_whose_if_cannot_match_shows_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As the real server: the wait is kept, and the run shows why it will not
    match (and the log says it)."""
    h = RunHistory()
    broken = _op(
        "WaitForEvent",
        "w1",
        wire_name="t/a",
        opts={"if": "async.data.id ==", "timeout": "1h"},
    )
    policy = _op(
        "WaitForEvent",
        "w2",
        wire_name="t/b",
        opts={"if": 'async.data.name.endsWith("x")', "timeout": "1h"},
    )
    fine = _op("WaitForEvent", "w3", wire_name="t/c", opts={"if": "async.data.ok"})
    with caplog.at_level(logging.WARNING, logger="inngest.devserver"):
        _call(h, 1, T0, _reply(206, [broken, policy, fine]), took=0)
    w1, w2, w3 = h.timeline(_run())
    (warning,) = w1["warnings"]
    assert warning.startswith("the if expression does not compile")
    assert "syntax error" in warning
    assert w2["warnings"] == [
        "the if expression breaks Inngest's policy for waits: "
        "function calls are disallowed (uses 'endsWith')"
    ]
    assert w3["warnings"] == []
    assert "run r1, step w1: the if expression does not compile" in caplog.text


def test_planned_steps_run_by_targeted_calls() -> None:
    h = RunHistory()
    planned = [
        _op("StepPlanned", "a"),
        _op("StepPlanned", "b", opts={"type": "step.sendEvent"}),
    ]
    _call(h, 1, T0, _reply(206, planned))
    run = _run()
    a, b = h.timeline(run)
    assert (a["status"], a["attempts"], b["kind"]) == ("running", [], "send")
    h.call_started("r1", "q2", attempt=0, target="a", now=T0 + 1)
    assert h.timeline(run)[0]["status"] == "running"
    h.call_finished("r1", "q2", _reply(206, [_op("StepRun", "a", data=1)]), T0 + 3)
    run.steps["a"] = {"data": 1}
    (attempt,) = h.timeline(run)[0]["attempts"]
    assert (attempt["started_at"], attempt["duration_ms"]) == (T0 + 1, 2000.0)
    # A targeted call failing without ops fails that step's attempt.
    _call(h, 3, T0 + 4, _reply(500, _error("nope")), target="b")
    b = h.timeline(run)[1]
    assert (b["status"], b["attempts"][0]["error"]["message"]) == ("retrying", "nope")


def test_checkpoints_ai_and_ignored_ops() -> None:
    h = RunHistory()
    checkpointed = StepOp(
        id="c1", op=Opcode.STEP_RUN, name="c1", display_name="c1", data=5
    )
    h.checkpoint("r1", [checkpointed], T0 + 1)
    ai = _op(
        "AIGateway", "ai1", "ask", opts={"type": "step.ai.infer", "url": "http://m"}
    )
    lazy = _op("DeferAdd", "d1", opts={"fn_slug": "x", "input": {}})
    _call(h, 1, T0, _reply(206, [_op("StepRun", "c1", data=5), ai, lazy]))
    run = _run()
    run.steps["c1"] = {"data": 5}
    c1, ai_item = h.timeline(run)
    assert (c1["status"], c1["output"], len(c1["attempts"])) == ("completed", 5, 1)
    assert (ai_item["kind"], ai_item["status"]) == ("ai", "running")


def test_version_bounds_and_lost_history() -> None:
    h = RunHistory(max_runs=2)
    versions = [h.version]
    h.run_started("r1")
    versions.append(h.version)
    h.bump()
    versions.append(h.version)
    h.app_synced("http://app", T0)
    versions.append(h.version)
    assert versions == sorted(set(versions))
    assert h.synced_at == {"http://app": T0}

    _call(h, 1, T0, _reply(206, [_op("StepRun", "s1", data=1)]))
    h.run_started("r2")
    h.run_started("r3")  # r1 is evicted
    run = _run()
    run.steps["s1"] = {"data": 1}
    run.stack.append("s1")
    (item,) = h.timeline(run)
    assert (item["id"], item["status"], item["output"]) == ("s1", "completed", 1)
    assert (item["attempts"], item["started_at"]) == ([], None)
    # Unknown calls (history lost) are ignored.
    h.call_finished("r9", "q9", _reply(200, 1), T0)


def test_a_restored_history_gives_the_same_timeline() -> None:
    h = RunHistory()
    fail = _op("StepError", "s1", "shaky", error=_error("flake"))
    wait = _op("WaitForEvent", "w1", "answer", opts={"event": "t/a", "timeout": "1h"})
    _call(h, 1, T0, _reply(206, [fail]))
    _call(h, 2, T0 + 1, _reply(206, [_op("StepRun", "s1", "shaky", data=[1.5])]))
    _call(h, 3, T0 + 2, _reply(206, [wait]), memos={"s1": {"data": [1.5]}})
    h.call_started("r1", "q4", attempt=0, target="step", now=T0 + 3)
    h.call_failed("r1", "q4", "connection refused", T0 + 4)
    run = _run()
    run.steps["s1"] = {"data": [1.5]}
    saved = h.take_changes()
    assert list(saved) == ["r1"]
    assert h.take_changes() == {}  # handed over once

    restored = RunHistory()
    restored.restore("r1", saved["r1"])
    assert restored.timeline(run) == h.timeline(run)
    names = [i["name"] for i in restored.timeline(run)]
    assert names == ["shaky", "answer", "function"]  # its failed attempt
    # It goes on from there as the original does.
    for each in (h, restored):
        _call(each, 5, T0 + 9, _reply(200, "done"), memos={"w1": None})
    run.steps["w1"] = None
    run = attrs.evolve(run, status=RunStatus.COMPLETED, output="done", ended_at=T0 + 10)
    assert restored.timeline(run) == h.timeline(run)


@pytest.mark.parametrize(
    "saved",
    ["", "[]", "{}", '{"steps": [{"id": 1}]}', '{"steps": "x"}', "[" * 100_000],
)
def test_an_unreadable_saved_history_is_a_value_error(saved: str) -> None:
    h = RunHistory()
    with pytest.raises(ValueError, match="r1"):
        h.restore("r1", saved)
    assert h.timeline(_run()) == []


def test_a_late_reply_for_a_forgotten_run_changes_nothing() -> None:
    h = RunHistory()
    h.call_started("r1", "q1", attempt=0, target="step", now=T0)
    h.call_started("r1", "q2", attempt=0, target="step", now=T0)
    h.call_finished("r1", "q1", _reply(200, "done"), T0 + 1)
    assert list(h.take_changes()) == ["r1"]
    # The run ended (cancelled, say) and was saved and forgotten; the reply
    # of its other call comes late, and the other failing.
    h.forget("r1")
    h.call_finished("r1", "q2", _reply(200, "late"), T0 + 2)
    h.call_failed("r1", "q3", "connection refused", T0 + 3)
    # Nothing to save: an empty record would replace the saved one.
    assert h.take_changes() == {}
    assert len(h) == 0


def test_dropped_changes_are_not_handed_over() -> None:
    # Without a store nothing keeps the records: the driver drops the
    # changes instead of writing every changed record out as JSON.
    h = RunHistory()
    h.run_started("r1")
    _call(h, 1, T0, _reply(200, "done"))
    h.drop_changes()
    assert h.take_changes() == {}
    _call(h, 2, T0 + 1, _reply(200, "again"))
    assert list(h.take_changes()) == ["r1"]
