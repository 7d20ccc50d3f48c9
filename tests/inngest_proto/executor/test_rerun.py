"""``Executor.rerun``: a new run of one function with a run's trigger events."""

from __future__ import annotations

from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto.executor import Run, RunSkipped, RunStarted, RunStatus
from tests.inngest_proto.executor._harness import APP_URL, Harness

TRIGGER = inngest.TriggerEvent(event="t/go")


def _pair(h: Harness, **options: Any) -> list[inngest.Function[Any]]:
    @h.client.create_function(fn_id="one", trigger=TRIGGER, **options)
    def one(ctx: inngest.ContextSync) -> Any:
        return ctx.step.run("s", lambda: ctx.event.data["x"] * 2)

    @h.client.create_function(fn_id="other", trigger=TRIGGER)
    def other(ctx: inngest.ContextSync) -> str:
        return "other"

    return [one, other]


def _ran_once(h: Harness, fn_id: str, data: dict[str, Any]) -> Run:
    """Send ``t/go`` (id ``evt-1``) with ``data`` and run everything: the
    one run of ``fn_id``."""
    h.send("t/go", data, id="evt-1")
    h.run()
    (run,) = h.runs(fn_id)
    return run


def _rerun(h: Harness, run_id: str, **options: Any) -> tuple[RunStarted, Run]:
    """``Executor.rerun(run_id, **options)`` run to its end: the action that
    started the new run, and the new run."""
    actions = h.executor.rerun(run_id, h.now, **options)
    (started,) = [a for a in actions if isinstance(a, RunStarted)]
    h.apply(actions)
    h.run()
    new = h.executor.get_run(started.run_id)
    assert new is not None
    return started, new


def test_rerun_starts_only_that_function_with_the_same_events() -> None:
    h = Harness()
    h.serve(*_pair(h))
    first = _ran_once(h, "one", {"x": 21})
    started = len(h.started)

    new, rerun = _rerun(h, first.run_id)
    assert new.run_id != first.run_id
    assert new.function_id == first.function_id
    assert new.event_ids == ("evt-1",)
    assert len(h.started) == started + 1  # no run of "other"
    assert len(h.runs("other")) == 1
    assert rerun.status is RunStatus.COMPLETED
    assert rerun.output == 42
    assert rerun.events == first.events


def test_rerun_skips_rate_limits_but_not_singletons() -> None:
    h = Harness()
    limited = {"rate_limit": inngest.RateLimit(limit=1, period=60_000)}
    h.serve(*_pair(h, **limited))
    first = _ran_once(h, "one", {"x": 1})
    h.apply(h.executor.rerun(first.run_id, h.now))
    h.run()
    assert [r.status for r in h.runs("one")] == [RunStatus.COMPLETED] * 2

    h = Harness()
    h.serve(*_pair(h, singleton=inngest.Singleton(mode="skip")))
    h.send("t/go", {"x": 1}, id="evt-1")  # not drained: the run holds the lock
    (first,) = h.runs("one")
    actions = h.executor.rerun(first.run_id, h.now)
    assert [a for a in actions if isinstance(a, RunSkipped)]


def test_rerun_of_unknown_run_or_unregistered_function() -> None:
    h = Harness()
    h.serve(*_pair(h))
    with pytest.raises(KeyError):
        h.executor.rerun("nope", h.now)
    first = _ran_once(h, "one", {"x": 1})
    h.apply(h.executor.register_app(APP_URL, [], h.now))
    with pytest.raises(ValueError, match="not registered"):
        h.executor.rerun(first.run_id, h.now)


def _three_steps(h: Harness, calls: list[str]) -> inngest.Function[Any]:
    @h.client.create_function(fn_id="three", trigger=TRIGGER)
    def three(ctx: inngest.ContextSync) -> Any:
        def step(name: str, value: str) -> str:
            calls.append(name)
            return value

        a = ctx.step.run("a", step, "a", "A")
        b = ctx.step.run("b", step, "b", a + "B")
        return ctx.step.run("c", step, "c", b + ctx.event.data.get("tail", "C"))

    return three


def test_rerun_from_a_step_keeps_the_memos_before_it() -> None:
    h = Harness()
    calls: list[str] = []
    h.serve(_three_steps(h, calls))
    first = _ran_once(h, "three", {})
    assert (first.output, calls) == ("ABC", ["a", "b", "c"])
    a_id, b_id, _ = first.stack

    calls.clear()
    _, new = _rerun(h, first.run_id, from_step=b_id)
    assert (new.status, new.output) == (RunStatus.COMPLETED, "ABC")
    # Step "a" came from the memo copied over; "b" and "c" ran again.
    assert calls == ["b", "c"]
    assert new.stack[0] == a_id
    assert new.steps[a_id] == first.steps[a_id]
    assert (new.rerun_of, new.rerun_from_step) == (first.run_id, b_id)
    # The first request already carried the memo of "a".
    (first_body, *_) = h.bodies(new)
    assert set(first_body["steps"]) == {a_id}


def test_a_plain_rerun_names_its_original_and_copies_no_memo() -> None:
    h = Harness()
    calls: list[str] = []
    h.serve(_three_steps(h, calls))
    first = _ran_once(h, "three", {})
    calls.clear()
    h.apply(h.executor.rerun(first.run_id, h.now))
    h.run()
    new = h.runs("three")[1]
    assert (new.rerun_of, new.rerun_from_step) == (first.run_id, None)
    assert calls == ["a", "b", "c"]


def test_rerun_from_a_step_the_run_did_not_save_is_refused() -> None:
    h = Harness()
    h.serve(_three_steps(h, []))
    first = _ran_once(h, "three", {})
    started = len(h.started)
    with pytest.raises(ValueError, match="not a step the run saved"):
        h.executor.rerun(first.run_id, h.now, from_step="no-such-step")
    assert len(h.started) == started


def test_a_run_forgotten_once_ended_is_rerun_from_the_copy_its_host_kept() -> None:
    h = Harness()
    h.serve(*_pair(h))
    first = _ran_once(h, "one", {"x": 4})
    # A host that keeps runs elsewhere drops the ones that ended.
    assert h.executor.forget(first.run_id)
    assert h.executor.get_run(first.run_id) is None
    assert not h.executor.forget(first.run_id)  # gone already
    with pytest.raises(KeyError):
        h.executor.rerun(first.run_id, h.now)
    _, rerun = _rerun(h, first.run_id, run=first)
    assert (rerun.output, rerun.rerun_of) == (8, first.run_id)


def test_a_run_that_has_not_ended_is_not_forgotten() -> None:
    h = Harness()
    sleeping = h.sleeping_run()
    assert sleeping.is_running
    assert not h.executor.forget(sleeping.run_id)
    assert h.executor.get_run(sleeping.run_id) is sleeping
