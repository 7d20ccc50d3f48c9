"""Flow control on a virtual clock, with real CEL.

See docs/protocol/executor.rst#scheduling-order, the cancellation and timeout
sections and docs/protocol/executor.rst#flow-control."""

from __future__ import annotations

import datetime
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import inngest_proto as inngest
from inngest_proto.executor import RunStatus
from inngest_proto.executor._flow import MAX_DELAYS
from tests.inngest_proto.executor._harness import APP_ID, START, Harness

TRIGGER = inngest.TriggerEvent(event="t/go")
SECOND = datetime.timedelta(seconds=1)


def echo(h: Harness, fn_id: str = "fn", **options: Any) -> inngest.Function[Any]:
    """Returns its event's ``data.n``; one step, so each run makes two calls."""

    @h.client.create_function(fn_id=fn_id, trigger=TRIGGER, **options)
    def fn(ctx: inngest.ContextSync) -> Any:
        ctx.step.run("s", lambda: None)
        return ctx.event.data.get("n")

    return fn


def outputs(h: Harness, fn_id: str = "fn") -> list[Any]:
    return [r.output for r in h.runs(fn_id)]


def first_call_times(h: Harness, fn_id: str = "fn") -> list[float]:
    return [r.first_call_at or 0.0 for r in h.runs(fn_id)]


# -- docs/protocol/executor.rst#rate-limit-and-idempotency ----------------------------


def test_a_rate_limit_drops_events_over_the_limit() -> None:
    h = Harness()
    limit = inngest.RateLimit(limit=1, period=datetime.timedelta(minutes=1))
    h.serve(echo(h, rate_limit=limit))
    for n in range(3):
        h.send("t/go", {"n": n})
    h.run()
    assert outputs(h) == [0]
    assert [s.reason for s in h.skipped] == ["rate limited"] * 2
    h.now += 61
    h.send("t/go", {"n": 3})
    h.run()
    assert outputs(h) == [0, 3]


def test_rate_limit_keys_make_buckets_and_a_missing_key_is_not_limited() -> None:
    h = Harness()
    limit = inngest.RateLimit(
        limit=1, period=datetime.timedelta(hours=1), key="event.data.user"
    )
    h.serve(echo(h, rate_limit=limit))
    for n, user in enumerate(["a", "b", "a", None, None]):
        h.send("t/go", {"n": n} if user is None else {"n": n, "user": user})
    h.run()
    assert outputs(h) == [0, 1, 3, 4]


def test_idempotency_allows_one_run_per_key_per_day() -> None:
    h = Harness()
    h.serve(echo(h, idempotency="event.data.order"))
    for n, order in enumerate(["x", "x", "y"]):
        h.send("t/go", {"n": n, "order": order})
    h.run()
    assert outputs(h) == [0, 2]
    assert h.skipped[0].reason == "a duplicate (idempotency)"
    h.now += 24 * 3600 + 1
    h.send("t/go", {"n": 3, "order": "x"})
    h.run()
    assert outputs(h) == [0, 2, 3]


def test_an_invoke_of_a_rate_limited_function_fails_the_invoker() -> None:
    h = Harness()
    limited = echo(
        h,
        "limited",
        rate_limit=inngest.RateLimit(limit=1, period=datetime.timedelta(hours=1)),
    )

    @h.client.create_function(fn_id="caller", trigger=inngest.TriggerEvent(event="t/c"))
    def caller(ctx: inngest.ContextSync) -> str:
        try:
            ctx.step.invoke("call", function=limited, data={"n": 1})
        except inngest.StepError as err:
            return err.message
        return "ran"

    h.serve(limited, caller)
    h.send("t/go", {"n": 0})  # uses up the limit
    h.send("t/c")
    h.run()
    assert outputs(h, "caller") == ["invoked function is rate limited"]


# -- docs/protocol/executor.rst#debounce -----------------------------------------------


def test_debounce_runs_once_with_the_last_event_after_the_period() -> None:
    h = Harness()
    h.serve(echo(h, debounce=inngest.Debounce(period=10 * SECOND)))
    h.send("t/go", {"n": 1})
    h.now += 5
    h.send("t/go", {"n": 2})
    h.drain()
    assert h.runs("fn") == []
    h.run()
    (run,) = h.runs("fn")
    assert run.output == 2
    # The period restarted with the second event.
    assert run.created_at == START + 15


def test_debounce_ignores_an_older_event_and_its_timeout_caps_the_wait() -> None:
    h = Harness()
    debounce = inngest.Debounce(period=10 * SECOND, timeout=25 * SECOND)
    h.serve(echo(h, debounce=debounce))
    h.send("t/go", {"n": 1}, ts=int(START * 1000))
    h.send("t/go", {"n": 0}, ts=int(START * 1000) - 1000)  # older: ignored
    assert next(iter(h.executor.state.debounces.values())).event["data"] == {"n": 1}
    for n in (2, 3, 4):  # each resets the 10 s period ...
        h.now += 8
        h.send("t/go", {"n": n})
    h.run()
    (run,) = h.runs("fn")
    assert run.output == 4
    assert run.created_at == START + 25  # ... until the 25 s timeout


def test_debounce_keys_debounce_separately() -> None:
    h = Harness()
    h.serve(echo(h, debounce=inngest.Debounce(period=SECOND, key="event.data.k")))
    for n, k in enumerate(["a", "b", "a"]):
        h.send("t/go", {"n": n, "k": k})
    h.run()
    assert sorted(outputs(h)) == [1, 2]


# -- docs/protocol/executor.rst#batching -----------------------------------------------


def batcher(h: Harness, **batch: Any) -> inngest.Function[Any]:
    @h.client.create_function(
        fn_id="fn", trigger=TRIGGER, batch_events=inngest.Batch(**batch)
    )
    def fn(ctx: inngest.ContextSync) -> list[Any]:
        return [e.data["n"] for e in ctx.events]

    return fn


def test_a_full_batch_starts_at_once_and_a_partial_one_at_its_timeout() -> None:
    h = Harness()
    h.serve(batcher(h, max_size=3, timeout=5 * SECOND))
    for n in range(4):
        h.send("t/go", {"n": n})
    h.drain()
    assert outputs(h) == [[0, 1, 2]]
    h.run()
    assert outputs(h) == [[0, 1, 2], [3]]
    assert h.runs("fn")[1].created_at == START + 5


def test_a_batch_fills_by_its_utf8_bytes() -> None:
    # Two events of 2,000,000 "é" each: 4 MB each in UTF-8, as Go counts a
    # batch (8 MB < 10 MiB: the batch waits), 12 MB each with the "\u00e9"
    # escapes (which would have started it at the second event).
    h = Harness()
    h.serve(batcher(h, max_size=10, timeout=5 * SECOND))
    for n in range(2):
        h.send("t/go", {"n": n, "text": "\u00e9" * 2_000_000})
    h.drain()
    assert outputs(h) == []
    h.run()
    assert outputs(h) == [[0, 1]]
    assert h.runs("fn")[0].created_at == START + 5


def test_batch_keys_and_a_false_if_run_events_alone() -> None:
    h = Harness()
    h.serve(
        batcher(
            h,
            max_size=2,
            timeout=5 * SECOND,
            key="event.data.k",
            if_exp="event.data.n < 10",
        )
    )
    for n, k in [(0, "a"), (1, "b"), (10, "a"), (2, "a")]:
        h.send("t/go", {"n": n, "k": k})
    h.run()
    assert sorted(outputs(h)) == [[0, 2], [1], [10]]


# -- docs/protocol/executor.rst#concurrency --------------------------------------------


class InFlight:
    """The most calls of ``fn_ids``' runs in flight at once, seen at each call."""

    def __init__(self, h: Harness, *fn_ids: str) -> None:
        self.most = 0
        composite = {f"exec-app-{f}" for f in fn_ids}

        def watch(call: Any) -> None:
            busy = sum(
                len(r.in_flight)
                for r in h.executor.state.runs.values()
                if r.function_id in composite
            )
            self.most = max(self.most, busy)

        h.intercept = watch


def most_in_flight(h: Harness, runs: int, **options: Any) -> int:
    """Serve ``echo`` with ``options``, send it ``runs`` events (``n`` 0, 1,
    ...) and run them all: the most calls in flight at once."""
    h.serve(echo(h, **options))
    seen = InFlight(h, "fn")
    for n in range(runs):
        h.send("t/go", {"n": n})
    h.run()
    return seen.most


def test_concurrency_limits_calls_in_flight_and_everything_completes() -> None:
    h = Harness()
    assert most_in_flight(h, 6, concurrency=[inngest.Concurrency(limit=2)]) == 2
    assert sorted(outputs(h)) == list(range(6))


def statuses(h: Harness, fn_id: str = "fn") -> list[RunStatus]:
    return [r.status for r in h.runs(fn_id)]


def test_a_run_waiting_for_a_concurrency_slot_is_queued() -> None:
    h = Harness()
    h.serve(echo(h, concurrency=[inngest.Concurrency(limit=1)]))
    h.send("t/go", {"n": 0})
    h.send("t/go", {"n": 1})
    # The first run's call is out; the second waits for the slot.
    assert statuses(h) == [RunStatus.RUNNING, RunStatus.QUEUED]
    assert [r.is_running for r in h.runs("fn")] == [True, True]  # neither ended
    h.drain()
    assert statuses(h) == [RunStatus.COMPLETED, RunStatus.COMPLETED]


def send_two_throttled(h: Harness, limit: int = 1) -> None:
    """Serve ``echo`` throttled to ``limit`` starts in ten seconds and send it
    two events."""
    throttle = inngest.Throttle(limit=limit, period=10 * SECOND, burst=0)
    h.serve(echo(h, throttle=throttle))
    h.send("t/go", {"n": 0})
    h.send("t/go", {"n": 1})


def test_a_throttled_run_is_queued_until_it_starts() -> None:
    h = Harness()
    send_two_throttled(h)
    h.drain()
    assert statuses(h) == [RunStatus.COMPLETED, RunStatus.QUEUED]
    h.run()
    assert statuses(h) == [RunStatus.COMPLETED, RunStatus.COMPLETED]


def test_a_queued_run_can_be_cancelled() -> None:
    h = Harness()
    send_two_throttled(h)
    h.drain()
    queued = h.runs("fn")[1]
    h.apply(h.executor.cancel(queued.run_id, h.now))
    h.run()
    assert statuses(h) == [RunStatus.COMPLETED, RunStatus.CANCELLED]
    assert len(h.bodies(queued)) == 0


def test_sleeping_runs_hold_no_concurrency_slot() -> None:
    h = Harness()

    @h.client.create_function(
        fn_id="nap", trigger=TRIGGER, concurrency=[inngest.Concurrency(limit=1)]
    )
    def nap(ctx: inngest.ContextSync) -> str:
        ctx.step.sleep("zz", datetime.timedelta(hours=1))
        return "up"

    h.serve(nap)
    for _ in range(3):
        h.send("t/go")
    h.drain()
    # All three are asleep at once: sleeping is not running.
    assert all(r.timer_ids for r in h.runs("nap"))
    h.run()
    assert outputs(h, "nap") == ["up"] * 3


def test_an_env_scoped_key_is_shared_by_functions() -> None:
    h = Harness()
    shared = [inngest.Concurrency(limit=1, key="event.data.acct", scope="env")]
    h.serve(echo(h, "one", concurrency=shared), echo(h, "two", concurrency=shared))
    seen = InFlight(h, "one", "two")
    h.send("t/go", {"acct": "x"})
    h.run()
    assert seen.most == 1
    assert outputs(h, "one") == outputs(h, "two") == [None]


def test_priority_lets_a_run_jump_the_concurrency_queue() -> None:
    h = Harness()
    h.serve(
        echo(
            h,
            concurrency=[inngest.Concurrency(limit=1)],
            priority=inngest.Priority(run="event.data.p"),
        )
    )
    order: list[str] = []

    def record(call: Any) -> None:
        order.append(call.run_id)

    h.intercept = record
    for n, p in [(0, 0), (1, 0), (2, 0), (3, 600)]:
        h.send("t/go", {"n": n, "p": p})
    h.run()
    runs = {r.run_id: r.event["data"]["n"] for r in h.runs("fn")}
    starts = list(dict.fromkeys(runs[r] for r in order))
    # Run 0 took the slot; 3 (priority 600 s) went ahead of 1 and 2.
    assert starts == [0, 3, 1, 2]


# -- docs/protocol/executor.rst#throttle -----------------------------------------------


def test_throttle_delays_starts_and_drops_nothing() -> None:
    h = Harness()
    throttle = inngest.Throttle(limit=1, period=10 * SECOND, burst=1)
    h.serve(echo(h, throttle=throttle))
    for n in range(4):
        h.send("t/go", {"n": n})
    h.run()
    assert sorted(outputs(h)) == [0, 1, 2, 3]
    # limit + burst start at once, then one every 10 s.
    assert [t - START for t in first_call_times(h)] == [0, 0, 10, 20]


@pytest.mark.parametrize("burst", [None, 0])
def test_throttle_without_burst_starts_limit_at_once(burst: int | None) -> None:
    # An absent burst (what the JS SDK sends by default) is 0, as in Go:
    # ``limit`` runs start at once, then one per ``period / limit``.
    h = Harness()
    throttle = inngest.Throttle(limit=1, period=4 * SECOND, burst=burst)
    h.serve(echo(h, throttle=throttle))
    for n in range(3):
        h.send("t/go", {"n": n})
    h.run()
    assert sorted(outputs(h)) == [0, 1, 2]
    assert [t - START for t in first_call_times(h)] == [0, 4, 8]


# -- docs/protocol/executor.rst#singleton ----------------------------------------------


def sleeper(h: Harness, **options: Any) -> inngest.Function[Any]:
    @h.client.create_function(fn_id="fn", trigger=TRIGGER, **options)
    def fn(ctx: inngest.ContextSync) -> Any:
        ctx.step.sleep("zz", datetime.timedelta(minutes=1))
        return ctx.event.data.get("n")

    return fn


def test_singleton_skip_makes_no_run_while_one_runs() -> None:
    h = Harness()
    h.serve(sleeper(h, singleton=inngest.Singleton(mode="skip")))
    h.send("t/go", {"n": 1})
    h.drain()
    h.send("t/go", {"n": 2})
    h.run()
    assert outputs(h) == [1]
    assert h.skipped[0].reason.startswith("singleton")
    h.send("t/go", {"n": 3})  # the lock was released
    h.run()
    assert outputs(h) == [1, 3]


def test_singleton_cancel_cancels_the_holder() -> None:
    h = Harness()
    h.serve(sleeper(h, singleton=inngest.Singleton(mode="cancel", key="event.data.k")))
    h.send("t/go", {"n": 1, "k": "a"})
    h.send("t/go", {"n": 2, "k": "b"})
    h.drain()
    h.send("t/go", {"n": 3, "k": "a"})
    h.run()
    statuses = [(r.event["data"]["n"], r.status) for r in h.runs("fn")]
    assert statuses == [
        (1, RunStatus.CANCELLED),
        (2, RunStatus.COMPLETED),
        (3, RunStatus.COMPLETED),
    ]


# -- docs/protocol/executor.rst#cancellation-by-event and #timeouts --------------------


def test_a_matching_later_event_cancels_the_run() -> None:
    h = Harness()
    cancel = inngest.Cancel(
        event="t/stop", if_exp="event.data.id == async.data.id", timeout=SECOND * 600
    )
    h.serve(sleeper(h, cancel=[cancel]))
    h.send("t/go", {"n": 1, "id": "a"})
    h.send("t/go", {"n": 2, "id": "b"})
    h.drain()
    h.send("t/stop", {"id": "a"})
    h.run()
    statuses = [r.status for r in h.runs("fn")]
    assert statuses == [RunStatus.CANCELLED, RunStatus.COMPLETED]
    cancelled = [e for e in h.emitted if e["name"] == "inngest/function.cancelled"]
    assert len(cancelled) == 1


def test_a_cancel_entry_expires() -> None:
    h = Harness()
    h.serve(sleeper(h, cancel=[inngest.Cancel(event="t/stop", timeout=10 * SECOND)]))
    h.send("t/go")
    h.drain()
    h.now += 11
    h.send("t/stop")
    h.run()
    assert [r.status for r in h.runs("fn")] == [RunStatus.COMPLETED]


def test_a_finish_timeout_cancels_a_run_that_takes_too_long() -> None:
    h = Harness()
    h.serve(sleeper(h, timeouts=inngest.Timeouts(finish=30 * SECOND)))
    h.send("t/go")
    h.run()
    (run,) = h.runs("fn")
    assert run.status is RunStatus.CANCELLED
    assert run.ended_at == START + 30


def test_a_start_timeout_cancels_a_run_that_could_not_start() -> None:
    h = Harness()
    h.serve(
        echo(
            h,
            throttle=inngest.Throttle(limit=1, period=60 * SECOND, burst=1),
            timeouts=inngest.Timeouts(start=30 * SECOND),
        )
    )
    for n in range(3):
        h.send("t/go", {"n": n})
    h.run()
    statuses = [r.status for r in h.runs("fn")]
    # Two start at once; the third would start after 60 s, past its 30 s.
    assert statuses == [RunStatus.COMPLETED, RunStatus.COMPLETED, RunStatus.CANCELLED]


# -- docs/protocol/executor.rst#cron-triggers ------------------------------------------


def test_cron_ticks_start_runs_with_the_scheduled_timer_event() -> None:
    h = Harness()

    @h.client.create_function(
        fn_id="tick", trigger=inngest.TriggerCron(cron="*/5 * * * *")
    )
    def tick(ctx: inngest.ContextSync) -> str:
        return str(ctx.event.data["scheduledAt"])

    h.serve(tick)
    assert h.executor.next_ticks("exec-app-tick") == [START + 300]
    assert h.executor.next_ticks("exec-app-tick", 3) == [
        START + 300,
        START + 600,
        START + 900,
    ]
    for _ in range(2):
        h.advance()
        h.drain()
    assert outputs(h, "tick") == ["2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"]
    events = [e for e in h.emitted if e["name"] == "inngest/scheduled.timer"]
    assert [e["id"] for e in events] == ["2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"]
    assert h.executor.next_ticks("exec-app-tick") == [START + 900]
    # A re-sync without the trigger ends the cycle.
    h.serve()
    assert h.executor.next_ticks("exec-app-tick") == []
    assert not h.timers


def test_cron_jitter_delays_the_start_not_the_tick() -> None:
    h = Harness()

    @h.client.create_function(
        fn_id="tick", trigger=inngest.TriggerCron(cron="0 * * * *", jitter="30s")
    )
    def tick(ctx: inngest.ContextSync) -> dict[str, Any]:
        return dict(ctx.event.data)

    h.serve(tick)
    for _ in range(2):  # the tick, then the jittered start
        h.advance()
        h.drain()
    (run,) = h.runs("tick")
    data = run.output
    assert data["scheduledAt"] == "2026-01-01T01:00:00Z"
    assert run.first_call_at is not None
    delay = run.first_call_at - (START + 3600)
    assert 1 <= delay < 30
    assert run.event["ts"] == int((START + 3600 + delay) * 1000)


# -- properties -----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(1, 3),
    steps=st.integers(0, 2),
    keys=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=12),
)
def test_concurrency_per_key_is_never_exceeded_and_every_run_ends(
    limit: int, steps: int, keys: list[str]
) -> None:
    h = Harness()

    @h.client.create_function(
        fn_id="fn",
        trigger=TRIGGER,
        concurrency=[inngest.Concurrency(limit=limit, key="event.data.k")],
    )
    def fn(ctx: inngest.ContextSync) -> str:
        for i in range(steps):
            ctx.step.run(f"s{i}", lambda: None)
        return str(ctx.event.data["k"])

    most: dict[str, int] = {}

    def watch(call: Any) -> None:
        busy: dict[str, int] = {}
        for run in h.runs("fn"):
            # Queued exactly until the first call goes out.
            queued = run.status is RunStatus.QUEUED
            assert queued == (run.first_call_at is None and not run.in_flight)
            key = run.event["data"]["k"]
            busy[key] = busy.get(key, 0) + len(run.in_flight)
        for key, count in busy.items():
            most[key] = max(most.get(key, 0), count)

    h.intercept = watch
    h.serve(fn)
    for key in keys:
        h.send("t/go", {"k": key})
    h.run()
    assert sorted(outputs(h)) == sorted(keys)
    assert all(count <= limit for count in most.values())
    # With enough runs of a key, the limit is reached, not just respected.
    for key in set(keys):
        assert most[key] == min(limit, keys.count(key))


# -- edge cases ------------------------------------------------------------------------


def test_a_debounced_run_is_not_rate_limited_again() -> None:
    h = Harness()
    h.serve(
        echo(
            h,
            debounce=inngest.Debounce(period=SECOND),
            # GCRA: burst limit/10 = 1, so two events pass at once.
            rate_limit=inngest.RateLimit(limit=10, period=datetime.timedelta(hours=1)),
        )
    )
    h.send("t/go", {"n": 1})
    h.send("t/go", {"n": 2})  # both pass the rate limit, then debounce
    h.send("t/go", {"n": 3})  # over the limit: dropped before debounce
    h.run()
    assert outputs(h) == [2]
    assert [s.reason for s in h.skipped] == ["rate limited"]


def test_a_rate_limit_key_that_does_not_compile_makes_no_run() -> None:
    h = Harness()
    limit = inngest.RateLimit(limit=5, period=60 * SECOND, key="event.data.(")
    h.serve(echo(h, rate_limit=limit))
    h.send("t/go", {"n": 1})
    h.run()
    assert outputs(h) == []
    assert "does not evaluate" in h.skipped[0].reason


def test_a_debounce_key_that_fails_shares_one_bucket() -> None:
    h = Harness()
    debounce = inngest.Debounce(period=SECOND, key="event.data.(")
    h.serve(echo(h, debounce=debounce))
    for n in range(3):
        h.send("t/go", {"n": n})
    h.run()
    assert outputs(h) == [2]


def test_a_batch_holds_an_event_once_and_gets_no_cancel_or_start_timeout() -> None:
    h = Harness()

    @h.client.create_function(
        fn_id="fn",
        trigger=TRIGGER,
        batch_events=inngest.Batch(max_size=3, timeout=5 * SECOND),
        timeouts=inngest.Timeouts(start=SECOND),
    )
    def fn(ctx: inngest.ContextSync) -> list[Any]:
        return [e.data["n"] for e in ctx.events]

    h.serve(fn)
    h.send("t/go", {"n": 1}, id="same")
    h.send("t/go", {"n": 1}, id="same")  # the same event again
    h.run()
    (run,) = h.runs("fn")
    # Started 5 s after the event, past the 1 s start timeout: batch runs
    # have none (docs/protocol/executor.rst#batching).
    assert (run.output, run.status) == ([1], RunStatus.COMPLETED)
    assert run.batch_id is not None
    assert run.cancels == []


def test_an_event_sent_with_the_trigger_does_not_cancel_its_run() -> None:
    h = Harness()
    h.serve(sleeper(h, cancel=[inngest.Cancel(event="t/go")]))
    h.send("t/go", {"n": 1})  # the trigger is also a cancel event
    h.run()
    # The trigger came before the run existed: it does not cancel it.
    assert [r.status for r in h.runs("fn")] == [RunStatus.COMPLETED]


def test_throttle_keys_throttle_separately() -> None:
    h = Harness()
    throttle = inngest.Throttle(
        limit=1, period=10 * SECOND, burst=1, key="event.data.k"
    )
    h.serve(echo(h, throttle=throttle))
    for n, k in enumerate("aaabbb"):
        h.send("t/go", {"n": n, "k": k})
    h.run()
    starts = {
        r.event["data"]["n"]: (r.first_call_at or 0) - START for r in h.runs("fn")
    }
    assert starts == {0: 0, 1: 0, 2: 10, 3: 0, 4: 0, 5: 10}


def test_removing_a_function_ends_its_cron() -> None:
    h = Harness()

    @h.client.create_function(
        fn_id="tick", trigger=inngest.TriggerCron(cron="* * * * *")
    )
    def tick(ctx: inngest.ContextSync) -> None:
        return None

    h.serve(tick)
    assert len(h.timers) == 1
    h.serve()
    assert h.timers == {}
    h.now += 120
    h.run()
    assert h.runs("tick") == []


# -- limits the Inngest server reads specially ----------------------------------------


def test_a_concurrency_limit_of_zero_is_no_limit() -> None:
    h = Harness()
    assert most_in_flight(h, 4, concurrency=[inngest.Concurrency(limit=0)]) == 4
    assert sorted(outputs(h)) == list(range(4))


def test_a_throttle_limit_of_zero_is_one() -> None:
    h = Harness()
    send_two_throttled(h, limit=0)
    h.drain()
    assert statuses(h) == [RunStatus.COMPLETED, RunStatus.QUEUED]
    h.run()
    assert statuses(h) == [RunStatus.COMPLETED, RunStatus.COMPLETED]


# -- expressions that fail to evaluate (docs/protocol/expressions.rst) -----------------

#: Compiles, and fails at run time on ``{"x": 1}``: a division by zero.
FAILS = "event.data.x / 0"


def _failed_expression(caplog: pytest.LogCaptureFixture, use: str) -> str:
    """The executor's one log line about ``use`` failing (it names the run's
    function and event)."""
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(use)]
    assert len(lines) == 1, caplog.text
    assert f"{APP_ID}-fn" in lines[0]
    assert "event evt-1 (t/go)" in lines[0] or "(t/stop)" in lines[0]
    assert "division by zero" in lines[0] or "divide by zero" in lines[0]
    return lines[0]


_SHARED = 'shared "false" bucket'
#: What each use of an expression does when it fails (and its log says so).
_WHEN_IT_FAILS: dict[str, tuple[dict[str, Any], str, list[Any]]] = {
    "concurrency key": (
        {"concurrency": [inngest.Concurrency(limit=1, key=FAILS)]},
        _SHARED,
        [1],
    ),
    "throttle key": (
        {"throttle": inngest.Throttle(limit=1, period=SECOND, key=FAILS)},
        _SHARED,
        [1],
    ),
    "rate limit key": (
        {"rate_limit": inngest.RateLimit(limit=5, period=SECOND, key=FAILS)},
        "no run",
        [],
    ),
    "idempotency key": ({"idempotency": FAILS}, "no run", []),
    "singleton key": (
        {"singleton": inngest.Singleton(mode="skip", key=FAILS)},
        _SHARED,
        [1],
    ),
    "priority.run": ({"priority": inngest.Priority(run=FAILS)}, "priority 0", [1]),
    "debounce key": (
        {"debounce": inngest.Debounce(period=SECOND, key=FAILS)},
        '"<invalid>" bucket',
        [1],
    ),
    "batch key": (
        {"batch_events": inngest.Batch(max_size=2, timeout=SECOND, key=FAILS)},
        _SHARED,
        [1],
    ),
    "batchEvents.if": (
        {"batch_events": inngest.Batch(max_size=2, timeout=SECOND, if_exp=FAILS)},
        "runs alone",
        [1],
    ),
}


@pytest.mark.parametrize("use", list(_WHEN_IT_FAILS))
def test_a_flow_control_expression_that_fails_is_decided_and_logged(
    caplog: pytest.LogCaptureFixture, use: str
) -> None:
    options, outcome, runs = _WHEN_IT_FAILS[use]
    h = Harness()
    h.serve(echo(h, **options))
    with caplog.at_level(logging.WARNING, logger="inngest_proto.executor"):
        h.send("t/go", {"n": 1, "x": 1}, id="evt-1")
        h.run()
    assert outputs(h) == runs
    assert outcome in _failed_expression(caplog, use)


def test_a_cancel_if_that_fails_cancels_nothing_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness()
    cancel = inngest.Cancel(event="t/stop", if_exp="async.data.x / 0")
    h.serve(sleeper(h, cancel=[cancel]))
    h.send("t/go", {"n": 1}, id="evt-1")
    h.drain()
    with caplog.at_level(logging.WARNING, logger="inngest_proto.executor"):
        h.send("t/stop", {"x": 1})
        h.run()
    assert [r.status for r in h.runs("fn")] == [RunStatus.COMPLETED]
    line = _failed_expression(caplog, "cancel if")
    assert "does not cancel the run" in line
    assert h.only_run("fn").run_id in line


# -- why a run waited (Run.delays, shown by the dev server's UI) ----------------------


def test_a_throttled_run_records_how_long_throttle_held_it() -> None:
    h = Harness()
    send_two_throttled(h)
    h.run()
    first, second = h.runs("fn")
    assert first.delays == []
    (delay,) = second.delays
    assert (delay.reason, delay.since) == ("throttle", START)
    assert delay.until == second.first_call_at == START + 10


def test_a_run_that_waited_for_a_concurrency_slot_records_the_wait() -> None:
    h = Harness()

    @h.client.create_function(
        fn_id="nap", trigger=TRIGGER, concurrency=[inngest.Concurrency(limit=1)]
    )
    def nap(ctx: inngest.ContextSync) -> str:
        ctx.step.run("s", lambda: None)
        return "up"

    h.serve(nap)
    h.send("t/go", {"n": 0})
    h.send("t/go", {"n": 1})
    second = h.runs("nap")[1]
    (delay,) = second.delays
    assert (delay.reason, delay.since, delay.until) == ("concurrency", START, None)
    h.now += 3
    h.run()
    assert second.status is RunStatus.COMPLETED
    assert delay.until == START + 3
    assert all(d.until is not None for d in second.delays)


def test_a_debounced_run_records_the_debounce_period() -> None:
    h = Harness()
    h.serve(echo(h, debounce=inngest.Debounce(period=10 * SECOND)))
    h.send("t/go", {"n": 1})
    h.now += 5
    h.send("t/go", {"n": 2})
    h.run()
    (run,) = h.runs("fn")
    (delay,) = run.delays
    assert (delay.reason, delay.since, delay.until) == ("debounce", START, START + 15)


def test_a_run_keeps_only_its_latest_flow_control_holds() -> None:
    h = Harness()

    @h.client.create_function(
        fn_id="many", trigger=TRIGGER, concurrency=[inngest.Concurrency(limit=1)]
    )
    def many(ctx: inngest.ContextSync) -> str:
        for i in range(MAX_DELAYS + 10):
            ctx.step.run(f"s{i}", lambda: None)
        return "done"

    h.serve(many)
    h.send("t/go", {"n": 0})
    h.send("t/go", {"n": 1})
    h.run(max_timers=5000)
    runs = h.runs("many")
    assert [r.status for r in runs] == [RunStatus.COMPLETED] * 2
    assert max(len(r.delays) for r in runs) == MAX_DELAYS
