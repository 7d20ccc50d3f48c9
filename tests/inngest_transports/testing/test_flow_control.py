"""Every flow-control option, through the public :class:`TestEngine` API.

Each test configures one option, sends events on the virtual clock and
checks what a user would observe: which runs exist, when they called the
function, what they returned, which events were skipped and why.
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

import pytest

import inngest_proto as inngest
from inngest_proto.executor import RunStatus
from inngest_transports.testing import DEFAULT_START, TestEngine

SECOND = datetime.timedelta(seconds=1)
MINUTE = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)
GO = inngest.TriggerEvent(event="t/go")


def make_client() -> inngest.Inngest:
    return inngest.Inngest(app_id="flow", environ={"INNGEST_DEV": "1"})


def go(n: int, **data: Any) -> dict[str, Any]:
    """A ``t/go`` event in wire form, to send several in one ``engine.send``."""
    return {"name": "t/go", "data": {"n": n, **data}}


def ns(engine: TestEngine, status: RunStatus = RunStatus.COMPLETED) -> list[Any]:
    """``data.n`` of the runs with ``status``, oldest run first."""
    return [r.event["data"]["n"] for r in engine.runs() if r.status is status]


# -- concurrency, throttle, priority: when runs may call the function -----------------


def test_concurrency_never_runs_more_than_the_limit_at_once() -> None:
    client = make_client()
    busiest: list[int] = []

    def work() -> None:
        # Runs with a call in flight, this one included.
        busiest.append(sum(1 for r in engine.runs() if r.in_flight))

    @client.create_function(
        fn_id="fn", trigger=GO, concurrency=[inngest.Concurrency(limit=2)]
    )
    def fn(ctx: inngest.ContextSync) -> int:
        ctx.step.run("work", work)
        return int(ctx.event.data["n"])

    engine = TestEngine(client, [fn])
    engine.send([go(n) for n in range(6)])  # all at once
    assert max(busiest) == 2
    assert sorted(ns(engine)) == list(range(6))


def test_a_concurrency_key_limits_each_key_separately() -> None:
    client = make_client()
    busiest: dict[str, int] = {}

    def work(user: str) -> None:
        running = [r for r in engine.runs() if r.in_flight]
        busiest["all"] = max(busiest.get("all", 0), len(running))
        mine = sum(1 for r in running if r.event["data"]["user"] == user)
        busiest[user] = max(busiest.get(user, 0), mine)

    limit = inngest.Concurrency(limit=1, key="event.data.user")

    @client.create_function(fn_id="fn", trigger=GO, concurrency=[limit])
    def fn(ctx: inngest.ContextSync) -> None:
        ctx.step.run("work", work, ctx.event.data["user"])

    engine = TestEngine(client, [fn])
    engine.send([go(n, user=user) for n, user in enumerate("ababab")])
    assert busiest == {"all": 2, "a": 1, "b": 1}
    assert len(ns(engine)) == 6


def test_throttle_delays_starts_and_drops_nothing() -> None:
    client = make_client()
    started: dict[int, float] = {}

    throttle = inngest.Throttle(limit=1, period=10 * SECOND, burst=1)

    @client.create_function(fn_id="fn", trigger=GO, throttle=throttle)
    def fn(ctx: inngest.ContextSync) -> None:
        n = ctx.event.data["n"]
        ctx.step.run("start", lambda: started.setdefault(n, engine.now))

    engine = TestEngine(client, [fn])
    engine.send([go(n) for n in range(4)])
    engine.run()
    # limit + burst start at once, then one every period / limit.
    assert {n: t - DEFAULT_START for n, t in started.items()} == {
        0: 0,
        1: 0,
        2: 10,
        3: 20,
    }
    assert engine.skipped == []


def test_priority_moves_a_run_ahead_when_a_concurrency_slot_frees() -> None:
    client = make_client()
    order: list[int] = []

    @client.create_function(
        fn_id="fn",
        trigger=GO,
        concurrency=[inngest.Concurrency(limit=1)],
        priority=inngest.Priority(run="event.data.vip ? 600 : 0"),
    )
    def fn(ctx: inngest.ContextSync) -> None:
        order.append(ctx.event.data["n"])

    engine = TestEngine(client, [fn])
    engine.send([go(0, vip=False), go(1, vip=False), go(2, vip=False), go(3, vip=True)])
    # 0 took the slot; 3 went ahead of 1 and 2, which waited longer.
    assert order == [0, 3, 1, 2]


# -- rate limit, idempotency, singleton: runs that are not made -----------------------


def test_rate_limit_skips_events_over_the_limit() -> None:
    client = make_client()
    limit = inngest.RateLimit(limit=1, period=MINUTE, key="event.data.user")

    @client.create_function(fn_id="fn", trigger=GO, rate_limit=limit)
    def fn(ctx: inngest.ContextSync) -> None:
        pass

    engine = TestEngine(client, [fn])
    engine.send([go(0, user="a"), go(1, user="a"), go(2, user="b")])
    assert ns(engine) == [0, 2]
    (skipped,) = engine.skipped
    assert skipped.reason == "rate limited"
    assert engine.runs_of(skipped.event_ids[0]) == []
    engine.advance(MINUTE)
    engine.send([go(3, user="a")])
    assert ns(engine) == [0, 2, 3]


def test_idempotency_skips_a_second_event_with_the_same_key() -> None:
    client = make_client()

    @client.create_function(fn_id="fn", trigger=GO, idempotency="event.data.order")
    def fn(ctx: inngest.ContextSync) -> None:
        pass

    engine = TestEngine(client, [fn])
    engine.send([go(0, order="x"), go(1, order="x"), go(2, order="y")])
    assert ns(engine) == [0, 2]
    assert [s.reason for s in engine.skipped] == ["a duplicate (idempotency)"]


@pytest.mark.parametrize("mode", ["skip", "cancel"])
def test_singleton_keeps_one_run_per_key(mode: Literal["skip", "cancel"]) -> None:
    client = make_client()
    singleton = inngest.Singleton(mode=mode, key="event.data.user")

    @client.create_function(fn_id="fn", trigger=GO, singleton=singleton)
    def fn(ctx: inngest.ContextSync) -> None:
        ctx.step.sleep("nap", MINUTE)

    engine = TestEngine(client, [fn])
    engine.send([go(0, user="a"), go(1, user="b")])
    engine.send([go(2, user="a")])  # while 0 holds a's lock
    engine.run()
    if mode == "skip":
        assert ns(engine) == [0, 1]
        assert [s.reason for s in engine.skipped] == ["singleton: a run holds the lock"]
    else:
        assert ns(engine, RunStatus.CANCELLED) == [0]
        assert ns(engine) == [1, 2]
    engine.send([go(3, user="a")])  # the lock is free again
    engine.run()
    assert ns(engine)[-1] == 3


# -- debounce and batches: events that wait for a run ---------------------------------


def test_debounce_runs_once_with_the_last_event_after_the_period() -> None:
    client = make_client()

    @client.create_function(
        fn_id="fn", trigger=GO, debounce=inngest.Debounce(period=10 * SECOND)
    )
    def fn(ctx: inngest.ContextSync) -> int:
        return int(ctx.event.data["n"])

    engine = TestEngine(client, [fn])
    for n in range(3):
        engine.send([go(n)])
        engine.advance(5 * SECOND)  # each event restarts the period
    assert engine.runs() == []
    engine.advance(5 * SECOND)
    (run,) = engine.runs()
    assert run.output == 2
    assert run.created_at == DEFAULT_START + 20  # 10 s after the last event


def test_batch_collects_events_into_one_run() -> None:
    client = make_client()
    batch = inngest.Batch(max_size=3, timeout=5 * SECOND)

    @client.create_function(fn_id="fn", trigger=GO, batch_events=batch)
    def fn(ctx: inngest.ContextSync) -> list[int]:
        return [int(event.data["n"]) for event in ctx.events]

    engine = TestEngine(client, [fn])
    engine.send([go(n) for n in range(4)])
    # A full batch starts at once; the rest waits for the timeout.
    assert [r.output for r in engine.runs()] == [[0, 1, 2]]
    engine.run()
    assert [r.output for r in engine.runs()] == [[0, 1, 2], [3]]
    assert engine.runs()[1].created_at == DEFAULT_START + 5


# -- timeouts -------------------------------------------------------------------------


def test_a_finish_timeout_cancels_a_run_that_takes_too_long() -> None:
    client = make_client()

    @client.create_function(
        fn_id="fn", trigger=GO, timeouts=inngest.Timeouts(finish=30 * SECOND)
    )
    def fn(ctx: inngest.ContextSync) -> None:
        ctx.step.sleep("nap", MINUTE)

    engine = TestEngine(client, [fn])
    (event_id,) = engine.send([go(0)])
    engine.run()
    run = engine.run_of(event_id)
    assert run.status is RunStatus.CANCELLED
    assert run.ended_at == DEFAULT_START + 30


def test_a_start_timeout_cancels_a_run_that_could_not_start_in_time() -> None:
    client = make_client()

    @client.create_function(
        fn_id="fn",
        trigger=GO,
        throttle=inngest.Throttle(limit=1, period=MINUTE, burst=1),
        timeouts=inngest.Timeouts(start=30 * SECOND),
    )
    def fn(ctx: inngest.ContextSync) -> None:
        pass

    engine = TestEngine(client, [fn])
    engine.send([go(n) for n in range(3)])
    engine.run()
    # Two start at once; the third could only start after 60 s.
    assert ns(engine) == [0, 1]
    assert ns(engine, RunStatus.CANCELLED) == [2]


# -- triggers in time: crons and events from the future -------------------------------


def test_a_cron_function_runs_on_its_schedule() -> None:
    client = make_client()

    @client.create_function(
        fn_id="tick", trigger=inngest.TriggerCron(cron="*/15 * * * *")
    )
    def tick(ctx: inngest.ContextSync) -> str:
        return f"{ctx.event.name} {ctx.event.data['cron']}"

    engine = TestEngine(client, [tick])
    engine.advance(HOUR)
    runs = engine.runs("tick")
    assert [r.created_at - DEFAULT_START for r in runs] == [900, 1800, 2700, 3600]
    assert {r.output for r in runs} == {"inngest/scheduled.timer */15 * * * *"}
    engine.run(max_time=HOUR)
    assert len(engine.runs("tick")) == 8


def test_an_event_with_a_future_ts_starts_its_run_then() -> None:
    client = make_client()
    started: list[float] = []

    @client.create_function(fn_id="fn", trigger=GO)
    def fn(ctx: inngest.ContextSync) -> None:
        started.append(engine.now)

    engine = TestEngine(client, [fn])
    in_an_hour = int((DEFAULT_START + 3600) * 1000)
    (event_id,) = engine.send("t/go", data={"n": 0}, ts=in_an_hour)
    assert started == []
    engine.run()
    assert started == [DEFAULT_START + 3600]
    assert engine.run_of(event_id).status is RunStatus.COMPLETED
