"""The public testing toolkit: functions run in process on a virtual clock."""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import itertools
import time
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto.executor import RunStatus
from inngest_transports.testing import DEFAULT_START, TestEngine, TestEngineError

DAY = datetime.timedelta(days=1)


def make_client() -> inngest.Inngest:
    return inngest.Inngest(app_id="testing-app", environ={"INNGEST_DEV": "1"})


def test_a_week_of_sleep_a_timed_out_wait_and_four_retries_take_no_wall_time() -> None:
    client = make_client()
    attempts: list[float] = []

    @client.create_function(
        fn_id="slow",
        trigger=inngest.TriggerEvent(event="t/slow"),
        retries=4,
    )
    def slow(ctx: inngest.ContextSync) -> dict[str, Any]:
        ctx.step.sleep("week", 7 * DAY)
        got = ctx.step.wait_for_event("reply", event="t/never", timeout=DAY)

        def flaky() -> int:
            attempts.append(engine.now)
            if len(attempts) < 5:
                raise ValueError(f"attempt {len(attempts)} fails")
            return len(attempts)

        done = ctx.step.run("flaky", flaky)
        return {"got": got, "attempts": done}

    started = time.perf_counter()
    engine = TestEngine(client, [slow])
    (event_id,) = engine.send("t/slow")
    engine.run()
    wall = time.perf_counter() - started

    assert engine.output(event_id) == {"got": None, "attempts": 5}
    assert wall < 1.0  # the clock is virtual: nothing waits for real
    run = engine.run_of(event_id)
    assert run.ended_at is not None
    assert run.ended_at - DEFAULT_START >= 8 * DAY.total_seconds()
    assert engine.now >= DEFAULT_START + 8 * DAY.total_seconds()
    # The real backoff table: retries are spaced out, not scaled down.
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert all(gap >= 10 for gap in gaps)
    # The client is left as it was.
    assert client._transport is None


def test_sync_and_async_functions_both_run() -> None:
    client = make_client()

    @client.create_function(fn_id="sync", trigger=inngest.TriggerEvent(event="t/go"))
    def sync_fn(ctx: inngest.ContextSync) -> int:
        n = ctx.step.run("double", lambda: ctx.event.data["n"] * 2)
        ctx.step.sleep("nap", datetime.timedelta(hours=1))
        return int(n) + 1

    @client.create_function(fn_id="async", trigger=inngest.TriggerEvent(event="t/go"))
    async def async_fn(ctx: inngest.Context) -> int:
        async def triple() -> int:
            return int(ctx.event.data["n"]) * 3

        n = await ctx.step.run("triple", triple)
        await ctx.step.sleep("nap", datetime.timedelta(hours=2))
        return n + 1

    engine = TestEngine(client, [sync_fn, async_fn])
    (event_id,) = engine.send("t/go", data={"n": 5})
    with pytest.raises(TestEngineError, match="started 2 runs"):
        engine.output(event_id)
    engine.run()
    assert [r.output for r in engine.runs("sync")] == [11]
    assert [r.output for r in engine.runs("async")] == [16]
    assert len(engine.runs()) == 2
    assert engine.now == DEFAULT_START + 2 * 3600


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_functions_run_on_either_backend(backend: str) -> None:
    pytest.importorskip(backend)
    client = make_client()

    @client.create_function(fn_id="a", trigger=inngest.TriggerEvent(event="t/a"))
    async def fn(ctx: inngest.Context) -> str:
        async def hello() -> str:
            return "hi"

        return await ctx.step.run("hello", hello)

    engine = TestEngine(client, [fn], backend=backend)
    (event_id,) = engine.send(inngest.Event(name="t/a"))
    assert engine.output(event_id) == "hi"


def test_wait_for_event_is_matched_with_a_cel_if() -> None:
    client = make_client()

    @client.create_function(
        fn_id="order", trigger=inngest.TriggerEvent(event="shop/order")
    )
    def order(ctx: inngest.ContextSync) -> Any:
        paid = ctx.step.wait_for_event(
            "paid",
            event="shop/paid",
            if_exp="async.data.order == event.data.order && async.data.amount > 10",
            timeout=DAY,
        )
        return None if paid is None else paid.data["amount"]

    engine = TestEngine(client, [order])
    (first,) = engine.send("shop/order", data={"order": "A"})
    (second,) = engine.send("shop/order", data={"order": "B"})
    engine.advance(datetime.timedelta(hours=1))
    engine.send("shop/paid", data={"order": "A", "amount": 5})  # too little
    engine.send("shop/paid", data={"order": "B", "amount": 50})  # not A's
    assert engine.run_of(first).status is RunStatus.RUNNING
    assert engine.output(second) == 50
    engine.send({"name": "shop/paid", "data": {"order": "A", "amount": 20}})
    assert engine.output(first) == 20
    with pytest.raises(TestEngineError, match="started 0 runs"):
        engine.output("no-such-event")


def test_invoke_and_send_event_between_functions() -> None:
    client = make_client()

    @client.create_function(fn_id="square", trigger=inngest.TriggerEvent(event="t/sq"))
    def square(ctx: inngest.ContextSync) -> int:
        return int(ctx.event.data["n"]) ** 2

    @client.create_function(
        fn_id="notified", trigger=inngest.TriggerEvent(event="t/notify")
    )
    async def notified(ctx: inngest.Context) -> Any:
        return ctx.event.data["value"]

    @client.create_function(fn_id="main", trigger=inngest.TriggerEvent(event="t/main"))
    def main(ctx: inngest.ContextSync) -> int:
        value = ctx.step.invoke("sq", function=square, data={"n": 7})
        ctx.step.send_event(
            "tell", inngest.Event(name="t/notify", data={"value": value})
        )
        client.send_sync(inngest.Event(name="t/notify", data={"value": -1}))
        return value

    engine = TestEngine(client, [square, notified, main])
    (event_id,) = engine.send("t/main")
    assert engine.output(event_id) == 49
    assert [e["name"] for e in engine.sent_events] == ["t/notify"] * 2
    outputs = sorted(engine.output(e["id"]) for e in engine.sent_events)
    assert outputs == [-1, 49]
    assert [r.output for r in engine.runs("square")] == [49]


def test_sent_events_are_checked_and_filled_in_as_the_event_api_does() -> None:
    client = make_client()

    @client.create_function(fn_id="echo", trigger=inngest.TriggerEvent(event="t/echo"))
    def echo(ctx: inngest.ContextSync) -> dict[str, Any]:
        return {"ts": ctx.event.ts, "user": ctx.event.user, "data": ctx.event.data}

    engine = TestEngine(client, [echo])
    (event_id,) = engine.send("t/echo", {"n": 1, "_inngest": {"server": "only"}})
    assert engine.output(event_id) == {
        "ts": int(DEFAULT_START * 1000),
        "user": {},
        "data": {"n": 1},
    }
    with pytest.raises(TestEngineError, match="reserved for internal use"):
        engine.send("inngest/function.finished")
    with pytest.raises(TestEngineError, match="event name is empty"):
        engine.send({"data": {}})


def test_advance_fires_timers_in_order_and_does_not_pass_them() -> None:
    client = make_client()
    log: list[tuple[str, float]] = []

    @client.create_function(fn_id="naps", trigger=inngest.TriggerEvent(event="t/nap"))
    def naps(ctx: inngest.ContextSync) -> str:
        name = ctx.event.data["name"]
        ctx.step.sleep("nap", datetime.timedelta(seconds=ctx.event.data["s"]))
        ctx.step.run("log", lambda: log.append((name, engine.now)))
        return str(name)

    engine = TestEngine(client, [naps])
    for name, s in [("c", 30), ("a", 10), ("b", 20)]:
        engine.send("t/nap", data={"name": name, "s": s})
    engine.advance(15)
    assert log == [("a", DEFAULT_START + 10)]
    assert engine.now == DEFAULT_START + 15
    assert engine.next_timer_at == DEFAULT_START + 20
    engine.advance(datetime.timedelta(seconds=10))
    assert log[-1] == ("b", DEFAULT_START + 20)
    assert engine.now == DEFAULT_START + 25
    engine.run(max_time=1)  # the last nap is 5 s away: not reached
    assert len(log) == 2
    engine.run()
    assert log == [
        ("a", DEFAULT_START + 10),
        ("b", DEFAULT_START + 20),
        ("c", DEFAULT_START + 30),
    ]
    with pytest.raises(ValueError, match="forward"):
        engine.advance(-1)


def test_a_failed_run_is_reported_by_output() -> None:
    client = make_client()

    @client.create_function(
        fn_id="boom", trigger=inngest.TriggerEvent(event="t/boom"), retries=0
    )
    def boom(ctx: inngest.ContextSync) -> None:
        raise inngest.NonRetriableError("nope")

    engine = TestEngine(client, [boom])
    (event_id,) = engine.send("t/boom")
    with pytest.raises(TestEngineError, match=r"Failed.*nope"):
        engine.output(event_id)


def test_cron_functions_are_scheduled_and_run_needs_a_cap() -> None:
    client = make_client()

    @client.create_function(fn_id="tick", trigger=inngest.TriggerCron(cron="0 * * * *"))
    def tick(ctx: inngest.ContextSync) -> str:
        return "tock"

    engine = TestEngine(client, [tick])
    engine.run(max_time=datetime.timedelta(hours=3, minutes=30))
    assert [r.output for r in engine.runs("tick")] == ["tock"] * 3
    with pytest.raises(TestEngineError, match="max_time"):
        engine.run(max_timers=5)


def test_a_step_out_of_retries_fails_with_the_users_error_name() -> None:
    client = make_client()

    def broken() -> None:
        raise RuntimeError("disk full")

    @client.create_function(
        fn_id="broken", trigger=inngest.TriggerEvent(event="t/broken"), retries=1
    )
    def fn(ctx: inngest.ContextSync) -> None:
        ctx.step.run("broken", broken)

    engine = TestEngine(client, [fn])
    (event_id,) = engine.send("t/broken")
    engine.run()
    run = engine.run_of(event_id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert (run.error["error"], run.error["name"]) == ("RuntimeError", "RuntimeError")
    with pytest.raises(TestEngineError) as raised:
        engine.output(event_id)
    assert "RuntimeError" in str(raised.value)
    assert "NonRetriableError" not in str(raised.value)


# -- async functions on asyncio: one loop per stretch of calls ----------------------


def test_the_calls_of_one_send_share_one_asyncio_loop() -> None:
    client = make_client()
    loops: list[asyncio.AbstractEventLoop] = []

    @client.create_function(fn_id="steps", trigger=inngest.TriggerEvent(event="t/s"))
    async def steps(ctx: inngest.Context) -> int:
        loops.append(asyncio.get_running_loop())  # once per call
        for n in range(3):
            await ctx.step.run(f"s{n}", int, n)
        return 3

    engine = TestEngine(client, [steps])
    (event_id,) = engine.send("t/s")
    assert engine.output(event_id) == 3
    assert len(loops) == 4  # a call per step, and one to return
    assert all(loop is loops[0] for loop in loops)
    assert loops[0].is_closed()  # closed once the send is done


def test_each_async_call_gets_a_fresh_context_and_its_leftover_tasks_cancelled() -> (
    None
):
    client = make_client()
    seen: list[str | None] = []
    leftovers: list[str] = []
    where = contextvars.ContextVar[str]("where")

    async def linger() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            leftovers.append("cancelled")
            raise

    @client.create_function(fn_id="ctx", trigger=inngest.TriggerEvent(event="t/c"))
    async def fn(ctx: inngest.Context) -> str:
        seen.append(where.get(None))
        where.set("set by a call")
        tasks.append(asyncio.get_running_loop().create_task(linger()))
        await asyncio.sleep(0)  # the task starts
        return await ctx.step.run("s", lambda: "done")

    tasks: list[asyncio.Task[None]] = []
    engine = TestEngine(client, [fn])
    (event_id,) = engine.send("t/c")
    assert engine.output(event_id) == "done"
    # The second call did not see what the first set: as with asyncio.run.
    assert seen == [None, None]
    assert leftovers == ["cancelled", "cancelled"]
    assert all(task.done() for task in tasks)
