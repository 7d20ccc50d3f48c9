"""``Executor.rerun``: a new run of one function with a run's trigger events."""

from __future__ import annotations

from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto.executor import RunSkipped, RunStarted, RunStatus
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


def test_rerun_starts_only_that_function_with_the_same_events() -> None:
    h = Harness()
    h.serve(*_pair(h))
    h.send("t/go", {"x": 21}, id="evt-1")
    h.run()
    (first,) = h.runs("one")
    started = len(h.started)

    actions = h.executor.rerun(first.run_id, h.now)
    (new,) = [a for a in actions if isinstance(a, RunStarted)]
    assert new.run_id != first.run_id
    assert new.function_id == first.function_id
    assert new.event_ids == ("evt-1",)
    h.apply(actions)
    h.run()
    assert len(h.started) == started + 1  # no run of "other"
    assert len(h.runs("other")) == 1
    rerun = h.executor.get_run(new.run_id)
    assert rerun is not None
    assert rerun.status is RunStatus.COMPLETED
    assert rerun.output == 42
    assert rerun.events == first.events


def test_rerun_skips_rate_limits_but_not_singletons() -> None:
    h = Harness()
    limited = {"rate_limit": inngest.RateLimit(limit=1, period=60_000)}
    h.serve(*_pair(h, **limited))
    h.send("t/go", {"x": 1}, id="evt-1")
    h.run()
    (first,) = h.runs("one")
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
    h.send("t/go", {"x": 1}, id="evt-1")
    h.run()
    (first,) = h.runs("one")
    h.apply(h.executor.register_app(APP_URL, [], h.now))
    with pytest.raises(ValueError, match="not registered"):
        h.executor.rerun(first.run_id, h.now)
