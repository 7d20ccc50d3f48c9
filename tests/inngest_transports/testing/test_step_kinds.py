"""Every step kind, through the public :class:`TestEngine` API.

Each test defines the same function twice, as a plain ``def`` (``fn_id``
``"sync"``) and as an ``async def`` (``"async"``), sends one event that
triggers both, and checks both runs.  The ``backend`` parameter runs the
async one on asyncio and on trio.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
from typing import Any

import pytest
import trio

import inngest_proto as inngest
from inngest_proto.executor import RunStatus
from inngest_proto.experimental.ai import openai
from inngest_transports.testing import DEFAULT_START, TestEngine

APP = "kinds"
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_client() -> inngest.Inngest:
    return inngest.Inngest(app_id=APP, environ={"INNGEST_DEV": "1"})


def on(event: str) -> inngest.TriggerEvent:
    return inngest.TriggerEvent(event=event)


def outputs(engine: TestEngine, event_id: str) -> dict[str, Any]:
    """The output of each run ``event_id`` started, by function id; all completed."""
    runs = engine.runs_of(event_id)
    for run in runs:
        assert run.status is RunStatus.COMPLETED, run.error
    return {run.function_id.removeprefix(f"{APP}-"): run.output for run in runs}


def statuses(engine: TestEngine, event_id: str) -> dict[str, RunStatus]:
    return {
        run.function_id.removeprefix(f"{APP}-"): run.status
        for run in engine.runs_of(event_id)
    }


# -- step.run -------------------------------------------------------------------------


def test_step_run_passes_args_and_runs_each_handler_once(backend: str) -> None:
    client = make_client()
    calls: list[str] = []

    def add(a: int, b: int) -> int:
        calls.append("sync")
        return a + b

    async def add_async(a: int, b: int) -> int:
        calls.append("trio" if trio.lowlevel.in_trio_run() else "asyncio")
        return a + b

    @client.create_function(fn_id="sync", trigger=on("t/add"))
    def sync_fn(ctx: inngest.ContextSync) -> int:
        total = ctx.step.run("add", add, ctx.event.data["a"], 3)
        return ctx.step.run("double", lambda: total * 2)

    @client.create_function(fn_id="async", trigger=on("t/add"))
    async def async_fn(ctx: inngest.Context) -> int:
        total = await ctx.step.run("add", add_async, ctx.event.data["a"], 3)
        return await ctx.step.run("double", lambda: total * 2)

    engine = TestEngine(client, [sync_fn, async_fn], backend=backend)
    (event_id,) = engine.send("t/add", data={"a": 4})
    assert outputs(engine, event_id) == {"sync": 14, "async": 14}
    # Replays read the memo: each handler ran once, the async one on ``backend``.
    assert sorted(calls) == sorted(["sync", backend])


def test_a_failing_step_is_retried_with_the_real_backoff(backend: str) -> None:
    client = make_client()
    attempts: dict[str, list[float]] = {"sync": [], "async": []}

    def flaky(who: str) -> str:
        attempts[who].append(engine.now)
        if len(attempts[who]) < 3:
            raise ValueError("not yet")
        return "ok"

    @client.create_function(fn_id="sync", trigger=on("t/flaky"), retries=2)
    def sync_fn(ctx: inngest.ContextSync) -> str:
        return ctx.step.run("flaky", flaky, "sync")

    @client.create_function(fn_id="async", trigger=on("t/flaky"), retries=2)
    async def async_fn(ctx: inngest.Context) -> str:
        return await ctx.step.run("flaky", flaky, "async")

    engine = TestEngine(client, [sync_fn, async_fn], backend=backend)
    (event_id,) = engine.send("t/flaky")
    engine.run()
    assert outputs(engine, event_id) == {"sync": "ok", "async": "ok"}
    for times in attempts.values():
        first, second = (b - a for a, b in itertools.pairwise(times))
        # Inngest's table: 15 s then 30 s, each plus up to 30 s of jitter.
        assert 15 <= first < 45
        assert 30 <= second < 60


def test_a_step_out_of_retries_raises_step_error_in_the_function(
    backend: str,
) -> None:
    client = make_client()

    def broken() -> None:
        raise ValueError("disk full")

    @client.create_function(fn_id="sync", trigger=on("t/broken"), retries=1)
    def sync_fn(ctx: inngest.ContextSync) -> str:
        try:
            ctx.step.run("broken", broken)
        except inngest.StepError as err:
            return f"{err.name}: {err.message}"
        return "unreachable"

    @client.create_function(fn_id="async", trigger=on("t/broken"), retries=1)
    async def async_fn(ctx: inngest.Context) -> str:
        try:
            await ctx.step.run("broken", broken)
        except inngest.StepError as err:
            return f"{err.name}: {err.message}"
        return "unreachable"

    engine = TestEngine(client, [sync_fn, async_fn], backend=backend)
    (event_id,) = engine.send("t/broken")
    engine.run()
    expected = "ValueError: disk full"
    assert outputs(engine, event_id) == {"sync": expected, "async": expected}


def test_non_retriable_error_fails_the_run_at_once(backend: str) -> None:
    client = make_client()
    attempts: list[str] = []

    def refuse(who: str) -> None:
        attempts.append(who)
        raise inngest.NonRetriableError("bad input")

    @client.create_function(fn_id="sync", trigger=on("t/refuse"), retries=3)
    def sync_fn(ctx: inngest.ContextSync) -> None:
        ctx.step.run("refuse", refuse, "sync")

    @client.create_function(fn_id="async", trigger=on("t/refuse"), retries=3)
    async def async_fn(ctx: inngest.Context) -> None:
        await ctx.step.run("refuse", refuse, "async")

    engine = TestEngine(client, [sync_fn, async_fn], backend=backend)
    (event_id,) = engine.send("t/refuse")
    engine.run()
    assert sorted(attempts) == ["async", "sync"]  # no retry
    for run in engine.runs_of(event_id):
        assert run.status is RunStatus.FAILED
        assert run.error is not None
        assert run.error["message"] == "bad input"


def test_retry_after_error_is_honoured_on_the_virtual_clock(backend: str) -> None:
    client = make_client()
    attempts: dict[str, list[float]] = {"sync": [], "async": []}

    def busy(who: str) -> str:
        attempts[who].append(engine.now)
        if len(attempts[who]) == 1:
            raise inngest.RetryAfterError("busy", retry_after=10 * 60 * 1000)
        return "done"

    @client.create_function(fn_id="sync", trigger=on("t/busy"))
    def sync_fn(ctx: inngest.ContextSync) -> str:
        return ctx.step.run("busy", busy, "sync")

    @client.create_function(fn_id="async", trigger=on("t/busy"))
    async def async_fn(ctx: inngest.Context) -> str:
        return await ctx.step.run("busy", busy, "async")

    engine = TestEngine(client, [sync_fn, async_fn], backend=backend)
    (event_id,) = engine.send("t/busy")
    engine.run()
    assert outputs(engine, event_id) == {"sync": "done", "async": "done"}
    # Retried exactly when asked: no backoff, no jitter.
    retried = [DEFAULT_START, DEFAULT_START + 600]
    assert attempts == {"sync": retried, "async": retried}


# -- sleeps ---------------------------------------------------------------------------

NEXT_DAY = datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone.utc)


def test_sleep_and_sleep_until_wake_at_their_time(backend: str) -> None:
    client = make_client()

    @client.create_function(fn_id="sync", trigger=on("t/nap"))
    def sync_fn(ctx: inngest.ContextSync) -> list[float]:
        ctx.step.sleep("nap", HOUR)
        after_nap = ctx.step.run("after-nap", lambda: engine.now)
        ctx.step.sleep_until("tomorrow", NEXT_DAY)
        return [after_nap, ctx.step.run("after-night", lambda: engine.now)]

    @client.create_function(fn_id="async", trigger=on("t/nap"))
    async def async_fn(ctx: inngest.Context) -> list[float]:
        await ctx.step.sleep("nap", HOUR)
        after_nap = await ctx.step.run("after-nap", lambda: engine.now)
        await ctx.step.sleep_until("tomorrow", NEXT_DAY)
        return [after_nap, await ctx.step.run("after-night", lambda: engine.now)]

    engine = TestEngine(client, [sync_fn, async_fn], backend=backend)
    (event_id,) = engine.send("t/nap")
    engine.advance(HOUR - datetime.timedelta(seconds=1))
    assert set(statuses(engine, event_id).values()) == {RunStatus.RUNNING}
    engine.run()
    woke = [DEFAULT_START + 3600, NEXT_DAY.timestamp()]
    assert outputs(engine, event_id) == {"sync": woke, "async": woke}


# -- step.wait_for_event --------------------------------------------------------------


def waiting_pair(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    """Both flavours wait a day for the payment of their order."""
    paid_if = "async.data.order == event.data.order"

    @client.create_function(fn_id="sync", trigger=on("shop/order"))
    def sync_fn(ctx: inngest.ContextSync) -> Any:
        paid = ctx.step.wait_for_event(
            "paid", event="shop/paid", if_exp=paid_if, timeout=DAY
        )
        return None if paid is None else paid.data["amount"]

    @client.create_function(fn_id="async", trigger=on("shop/order"))
    async def async_fn(ctx: inngest.Context) -> Any:
        paid = await ctx.step.wait_for_event(
            "paid", event="shop/paid", if_exp=paid_if, timeout=DAY
        )
        return None if paid is None else paid.data["amount"]

    return [sync_fn, async_fn]


def test_wait_for_event_returns_the_event_its_if_matches(backend: str) -> None:
    client = make_client()
    engine = TestEngine(client, waiting_pair(client), backend=backend)
    (event_id,) = engine.send("shop/order", data={"order": "A"})
    engine.advance(HOUR)
    engine.send("shop/paid", data={"order": "B", "amount": 5})  # not A's
    assert set(statuses(engine, event_id).values()) == {RunStatus.RUNNING}
    engine.send("shop/paid", data={"order": "A", "amount": 20})
    assert outputs(engine, event_id) == {"sync": 20, "async": 20}


def test_wait_for_event_returns_none_when_it_times_out(backend: str) -> None:
    client = make_client()
    engine = TestEngine(client, waiting_pair(client), backend=backend)
    (event_id,) = engine.send("shop/order", data={"order": "A"})
    engine.advance(DAY)
    assert outputs(engine, event_id) == {"sync": None, "async": None}
    engine.send("shop/paid", data={"order": "A", "amount": 20})  # too late
    assert outputs(engine, event_id) == {"sync": None, "async": None}


# -- step.invoke ----------------------------------------------------------------------


def test_invoke_and_invoke_by_id_return_the_functions_output(backend: str) -> None:
    client = make_client()

    @client.create_function(fn_id="square", trigger=on("t/square"))
    def square(ctx: inngest.ContextSync) -> int:
        return int(ctx.event.data["n"]) ** 2

    @client.create_function(fn_id="sync", trigger=on("t/sum"))
    def sync_fn(ctx: inngest.ContextSync) -> int:
        a = ctx.step.invoke("by-fn", function=square, data={"n": 3})
        b = ctx.step.invoke_by_id("by-id", function_id="square", data={"n": 4})
        return a + int(b)

    @client.create_function(fn_id="async", trigger=on("t/sum"))
    async def async_fn(ctx: inngest.Context) -> int:
        a = await ctx.step.invoke("by-fn", function=square, data={"n": 3})
        b = await ctx.step.invoke_by_id("by-id", function_id="square", data={"n": 4})
        return a + int(b)

    engine = TestEngine(client, [square, sync_fn, async_fn], backend=backend)
    (event_id,) = engine.send("t/sum")
    assert outputs(engine, event_id) == {"sync": 25, "async": 25}
    assert sorted(run.output for run in engine.runs("square")) == [9, 9, 16, 16]


def test_an_invoke_whose_timeout_expires_raises_step_error(backend: str) -> None:
    client = make_client()

    @client.create_function(fn_id="slow", trigger=on("t/slow"))
    def slow(ctx: inngest.ContextSync) -> str:
        ctx.step.sleep("long", DAY)
        return "late"

    @client.create_function(fn_id="sync", trigger=on("t/call"))
    def sync_fn(ctx: inngest.ContextSync) -> str:
        try:
            return ctx.step.invoke("call", function=slow, timeout=HOUR)
        except inngest.StepError as err:
            return err.name

    @client.create_function(fn_id="async", trigger=on("t/call"))
    async def async_fn(ctx: inngest.Context) -> str:
        try:
            return await ctx.step.invoke("call", function=slow, timeout=HOUR)
        except inngest.StepError as err:
            return err.name

    engine = TestEngine(client, [slow, sync_fn, async_fn], backend=backend)
    (event_id,) = engine.send("t/call")
    engine.advance(HOUR)
    timed_out = "InngestInvokeTimeoutError"
    assert outputs(engine, event_id) == {"sync": timed_out, "async": timed_out}
    # The invoked runs go on, unawaited.
    engine.run()
    assert [run.output for run in engine.runs("slow")] == ["late", "late"]


# -- step.send_event ------------------------------------------------------------------


def test_send_event_reaches_the_function_it_triggers(backend: str) -> None:
    client = make_client()

    @client.create_function(fn_id="welcome", trigger=on("user/created"))
    def welcome(ctx: inngest.ContextSync) -> str:
        return f"welcome, {ctx.event.data['name']}"

    @client.create_function(fn_id="sync", trigger=on("t/signup"))
    def sync_fn(ctx: inngest.ContextSync) -> list[str]:
        event = inngest.Event(name="user/created", data={"name": "sync"})
        return ctx.step.send_event("announce", event)

    @client.create_function(fn_id="async", trigger=on("t/signup"))
    async def async_fn(ctx: inngest.Context) -> list[str]:
        event = inngest.Event(name="user/created", data={"name": "async"})
        return await ctx.step.send_event("announce", [event])

    engine = TestEngine(client, [welcome, sync_fn, async_fn], backend=backend)
    (event_id,) = engine.send("t/signup")
    sent = outputs(engine, event_id)  # each returns the ids of what it sent
    assert [e["name"] for e in engine.sent_events] == ["user/created"] * 2
    assert sorted(sent["sync"] + sent["async"]) == sorted(
        e["id"] for e in engine.sent_events
    )
    assert engine.output(sent["sync"][0]) == "welcome, sync"
    assert engine.output(sent["async"][0]) == "welcome, async"


# -- ctx.group.parallel ---------------------------------------------------------------


def test_parallel_steps_return_their_outputs_in_order(backend: str) -> None:
    client = make_client()

    @client.create_function(fn_id="sync", trigger=on("t/fan"))
    def sync_fn(ctx: inngest.ContextSync) -> list[str]:
        both = ctx.group.parallel(
            (lambda: ctx.step.run("a", lambda: "A"), lambda: ctx.step.run("b", str, 2))
        )
        return [*both, ctx.step.run("after", lambda: "after")]

    @client.create_function(fn_id="async", trigger=on("t/fan"))
    async def async_fn(ctx: inngest.Context) -> list[str]:
        both = await ctx.group.parallel(
            (lambda: ctx.step.run("a", lambda: "A"), lambda: ctx.step.run("b", str, 2))
        )
        return [*both, await ctx.step.run("after", lambda: "after")]

    engine = TestEngine(client, [sync_fn, async_fn], backend=backend)
    (event_id,) = engine.send("t/fan")
    expected = ["A", "2", "after"]
    assert outputs(engine, event_id) == {"sync": expected, "async": expected}


@pytest.mark.parametrize(
    ("mode", "calls_at"),
    [
        # WAIT: called again once both sleeps are over.
        (inngest.ParallelMode.WAIT, [0, 7200]),
        # RACE: called again as each one ends.
        (inngest.ParallelMode.RACE, [0, 3600, 7200]),
    ],
)
def test_parallel_wait_and_race_modes(
    backend: str, mode: inngest.ParallelMode, calls_at: list[float]
) -> None:
    client = make_client()

    @client.create_function(fn_id="sync", trigger=on("t/race"))
    def sync_fn(ctx: inngest.ContextSync) -> str:
        ctx.group.parallel(
            (
                lambda: ctx.step.sleep("short", HOUR),
                lambda: ctx.step.sleep("long", 2 * HOUR),
            ),
            parallel_mode=mode,
        )
        return "both slept"

    @client.create_function(fn_id="async", trigger=on("t/race"))
    async def async_fn(ctx: inngest.Context) -> str:
        await ctx.group.parallel(
            (
                lambda: ctx.step.sleep("short", HOUR),
                lambda: ctx.step.sleep("long", 2 * HOUR),
            ),
            parallel_mode=mode,
        )
        return "both slept"

    engine = TestEngine(client, [sync_fn, async_fn], backend=backend)
    (event_id,) = engine.send("t/race")
    engine.run()
    assert outputs(engine, event_id) == {"sync": "both slept", "async": "both slept"}
    for run in engine.runs_of(event_id):
        times = [x.now - DEFAULT_START for x in engine.exchanges_of(run.run_id)]
        assert times == calls_at


# -- step.ai --------------------------------------------------------------------------


def test_ai_infer_sends_the_request_to_the_ai_provider(backend: str) -> None:
    client = make_client()
    adapter = openai.Adapter(auth_key="sk-test", model="gpt-test")
    body = {"messages": [{"role": "user", "content": "2 + 2?"}]}
    requests: list[inngest.OutboundRequest] = []

    def provider(request: inngest.OutboundRequest) -> inngest.OutboundResponse:
        requests.append(request)
        reply = {"choices": [{"message": {"role": "assistant", "content": "4"}}]}
        headers = {"content-type": "application/json"}
        return inngest.OutboundResponse(200, headers, json.dumps(reply).encode())

    @client.create_function(fn_id="sync", trigger=on("t/ask"))
    def sync_fn(ctx: inngest.ContextSync) -> str:
        reply = ctx.step.ai.infer("ask", adapter=adapter, body=body)
        return str(reply["choices"][0]["message"]["content"])

    @client.create_function(fn_id="async", trigger=on("t/ask"))
    async def async_fn(ctx: inngest.Context) -> str:
        reply = await ctx.step.ai.infer("ask", adapter=adapter, body=body)
        return str(reply["choices"][0]["message"]["content"])

    engine = TestEngine(
        client, [sync_fn, async_fn], backend=backend, ai_provider=provider
    )
    (event_id,) = engine.send("t/ask")
    assert outputs(engine, event_id) == {"sync": "4", "async": "4"}
    assert len(requests) == 2  # one per run; replays read the memo
    for request in requests:
        assert request.url == "https://api.openai.com/v1/chat/completions"
        # Spelled as the server writes it (Go's canonical form).
        assert dict(request.headers)["Authorization"] == "Bearer sk-test"
        assert json.loads(request.body) == {**body, "model": "gpt-test"}


def test_ai_wrap_runs_the_call_once_as_a_step(backend: str) -> None:
    client = make_client()
    calls: list[dict[str, Any]] = []

    def create(*, model: str, prompt: str) -> dict[str, Any]:
        """Stands in for a provider SDK's call (e.g. chat.completions.create)."""
        calls.append({"model": model, "prompt": prompt})
        return {"text": prompt.upper()}

    @client.create_function(fn_id="sync", trigger=on("t/wrap"))
    def sync_fn(ctx: inngest.ContextSync) -> str:
        reply = ctx.step.ai.wrap("ask", create, model="m", prompt="hi")
        ctx.step.sleep("then", HOUR)
        return str(reply["text"])

    @client.create_function(fn_id="async", trigger=on("t/wrap"))
    async def async_fn(ctx: inngest.Context) -> str:
        reply = await ctx.step.ai.wrap("ask", create, model="m", prompt="hi")
        await ctx.step.sleep("then", HOUR)
        return str(reply["text"])

    engine = TestEngine(client, [sync_fn, async_fn], backend=backend)
    (event_id,) = engine.send("t/wrap")
    engine.run()
    assert outputs(engine, event_id) == {"sync": "HI", "async": "HI"}
    assert calls == [{"model": "m", "prompt": "hi"}] * 2
    # The op tells Inngest what the call was made with.
    for run in engine.runs_of(event_id):
        first = engine.exchanges_of(run.run_id)[0]
        (op,) = first.response
        assert op["opts"] == {"type": "step.ai.wrap", "input": [calls[0]]}


# -- on_failure and cancellation ------------------------------------------------------


def test_on_failure_handlers_run_after_the_last_attempt(backend: str) -> None:
    client = make_client()

    def sync_failed(ctx: inngest.ContextSync) -> str:
        return f"{ctx.event.name}: {ctx.event.data['error']['message']}"

    async def async_failed(ctx: inngest.Context) -> str:
        return f"{ctx.event.name}: {ctx.event.data['error']['message']}"

    @client.create_function(
        fn_id="sync", trigger=on("t/fail"), retries=1, on_failure=sync_failed
    )
    def sync_fn(ctx: inngest.ContextSync) -> None:
        raise ValueError("broken")

    @client.create_function(
        fn_id="async", trigger=on("t/fail"), retries=1, on_failure=async_failed
    )
    async def async_fn(ctx: inngest.Context) -> None:
        raise ValueError("broken")

    engine = TestEngine(client, [sync_fn, async_fn], backend=backend)
    (event_id,) = engine.send("t/fail")
    assert engine.runs("sync-failure") == []  # one attempt left
    engine.run()
    assert set(statuses(engine, event_id).values()) == {RunStatus.FAILED}
    expected = ["inngest/function.failed: broken"]
    assert [r.output for r in engine.runs("sync-failure")] == expected
    assert [r.output for r in engine.runs("async-failure")] == expected


def sleepy_pair(
    client: inngest.Inngest, done: list[str], **options: Any
) -> list[inngest.Function[Any]]:
    """Both flavours sleep an hour, then note they finished in ``done``."""

    @client.create_function(fn_id="sync", trigger=on("t/go"), **options)
    def sync_fn(ctx: inngest.ContextSync) -> None:
        ctx.step.sleep("nap", HOUR)
        ctx.step.run("done", done.append, f"sync {ctx.event.data.get('id')}")

    @client.create_function(fn_id="async", trigger=on("t/go"), **options)
    async def async_fn(ctx: inngest.Context) -> None:
        await ctx.step.sleep("nap", HOUR)
        await ctx.step.run("done", done.append, f"async {ctx.event.data.get('id')}")

    return [sync_fn, async_fn]


def test_engine_cancel_cancels_a_run(backend: str) -> None:
    client = make_client()
    done: list[str] = []
    engine = TestEngine(client, sleepy_pair(client, done), backend=backend)
    (event_id,) = engine.send("t/go")
    for run in engine.runs_of(event_id):
        engine.cancel(run.run_id)
    engine.run()
    assert set(statuses(engine, event_id).values()) == {RunStatus.CANCELLED}
    assert done == []
    cancelled = [e for e in engine.emitted_events if e["name"].endswith("cancelled")]
    assert len(cancelled) == 2


def test_a_cancel_event_cancels_the_runs_its_if_matches(backend: str) -> None:
    client = make_client()
    done: list[str] = []
    cancel = inngest.Cancel(event="t/stop", if_exp="event.data.id == async.data.id")
    functions = sleepy_pair(client, done, cancel=[cancel])
    engine = TestEngine(client, functions, backend=backend)
    (first,) = engine.send("t/go", data={"id": 1})
    (second,) = engine.send("t/go", data={"id": 2})
    engine.send("t/stop", data={"id": 1})
    engine.run()
    assert set(statuses(engine, first).values()) == {RunStatus.CANCELLED}
    assert set(statuses(engine, second).values()) == {RunStatus.COMPLETED}
    assert sorted(done) == ["async 2", "sync 2"]


# -- typed outputs --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Receipt:
    order: str
    total: float


def make_receipt(order: str) -> Receipt:
    return Receipt(order=order, total=9.5)


def test_a_step_returning_a_dataclass_gives_back_the_dataclass(backend: str) -> None:
    client = make_client()

    # dataclasses.replace fails on anything but a dataclass instance.
    @client.create_function(fn_id="sync", trigger=on("t/buy"), retries=0)
    def sync_fn(ctx: inngest.ContextSync) -> Receipt:
        receipt = ctx.step.run("receipt", make_receipt, "A1")
        return dataclasses.replace(receipt, total=receipt.total + 1)

    @client.create_function(fn_id="async", trigger=on("t/buy"), retries=0)
    async def async_fn(ctx: inngest.Context) -> Receipt:
        receipt = await ctx.step.run("receipt", make_receipt, "A1")
        return dataclasses.replace(receipt, total=receipt.total + 1)

    engine = TestEngine(client, [sync_fn, async_fn], backend=backend)
    (event_id,) = engine.send("t/buy")
    expected = {"order": "A1", "total": 10.5}  # stored as JSON
    assert outputs(engine, event_id) == {"sync": expected, "async": expected}
    for run in engine.runs_of(event_id):
        assert list(run.steps.values()) == [{"data": {"order": "A1", "total": 9.5}}]
