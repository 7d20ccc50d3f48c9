"""Stubbed steps and invoked functions, and the record of every call."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto.executor import RunStatus
from inngest_transports.testing import TestEngine, Timeout

DAY = datetime.timedelta(days=1)


def make_client(**kwargs: Any) -> inngest.Inngest:
    return inngest.Inngest(app_id="stubs-app", environ={"INNGEST_DEV": "1"}, **kwargs)


@dataclasses.dataclass(frozen=True)
class Charge:
    id: str
    cents: int


def test_a_stubbed_step_never_runs_and_returns_the_stub() -> None:
    client = make_client()
    calls: list[str] = []

    def charge_card() -> Charge:
        calls.append("charged")
        return Charge("real", 1)

    @client.create_function(fn_id="pay", trigger=inngest.TriggerEvent(event="t/pay"))
    def pay(ctx: inngest.ContextSync) -> dict[str, Any]:
        charge = ctx.step.run("charge", charge_card)
        receipt = ctx.step.run("receipt", lambda: f"receipt for {charge.id}")
        return {"charge": charge.cents, "receipt": receipt}

    engine = TestEngine(client, [pay], step_stubs={"charge": Charge("stub", 500)})
    (event_id,) = engine.send("t/pay")
    assert engine.output(event_id) == {"charge": 500, "receipt": "receipt for stub"}
    assert calls == []  # the real handler was never called


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sleeps_waits_and_invokes_can_be_stubbed_in_async_functions(
    backend: str,
) -> None:
    client = make_client()

    @client.create_function(fn_id="flow", trigger=inngest.TriggerEvent(event="t/flow"))
    async def flow(ctx: inngest.Context) -> dict[str, Any]:
        await ctx.step.sleep("a-week", 7 * DAY)
        paid = await ctx.step.wait_for_event("paid", event="t/paid", timeout=DAY)
        late = await ctx.step.wait_for_event("late", event="t/late", timeout=DAY)
        score = await ctx.step.invoke_by_id("score", function_id="elsewhere")
        return {
            "paid": None if paid is None else paid.data,
            "late": late,
            "score": score,
        }

    engine = TestEngine(
        client,
        [flow],
        backend=backend,
        step_stubs={
            "a-week": None,
            "paid": inngest.Event(name="t/paid", data={"cents": 9}),
            "late": Timeout,
            "score": 0.75,
        },
    )
    (event_id,) = engine.send("t/flow")
    engine.run_until_idle()  # no timer needed: nothing waits
    assert engine.output(event_id) == {
        "paid": {"cents": 9},
        "late": None,
        "score": 0.75,
    }
    assert engine.now == engine.exchanges[0].now  # no virtual time passed


def test_an_exception_stub_fails_the_step() -> None:
    client = make_client()

    @client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="t/f"))
    def f(ctx: inngest.ContextSync) -> str:
        try:
            ctx.step.run("flaky", lambda: "real")
        except inngest.StepError as err:
            return f"{err.name}: {err.message}"
        return "no error"

    engine = TestEngine(client, [f])
    engine.stub_step("flaky", ValueError("card declined"))
    (event_id,) = engine.send("t/f")
    assert engine.output(event_id) == "ValueError: card declined"


def test_a_repeated_step_id_is_stubbed_by_its_counter() -> None:
    client = make_client()

    @client.create_function(fn_id="loop", trigger=inngest.TriggerEvent(event="t/l"))
    def loop(ctx: inngest.ContextSync) -> list[int]:
        return [ctx.step.run("item", lambda n: n, i) for i in range(3)]

    engine = TestEngine(client, [loop], step_stubs={"item:1": 100})
    (event_id,) = engine.send("t/l")
    assert engine.output(event_id) == [0, 100, 2]


def test_invoked_functions_are_stubbed_by_id_with_values_or_callables() -> None:
    client = make_client()
    child_runs: list[Any] = []

    @client.create_function(fn_id="child", trigger=inngest.TriggerEvent(event="t/c"))
    def child(ctx: inngest.ContextSync) -> str:
        child_runs.append(ctx.event.data)
        return "real child"

    @client.create_function(fn_id="parent", trigger=inngest.TriggerEvent(event="t/p"))
    def parent(ctx: inngest.ContextSync) -> list[Any]:
        a = ctx.step.invoke("a", function=child, data={"n": 2})
        b = ctx.step.invoke_by_id("b", app_id="billing", function_id="quote", data={})
        try:
            ctx.step.invoke_by_id("c", function_id="broken")
        except inngest.StepError as err:
            return [a, b, err.message]
        return [a, b, None]

    engine = TestEngine(
        client,
        [child, parent],
        invoke_stubs={
            "child": lambda data: data["n"] * 10,
            "billing-quote": {"cents": 3},
            "broken": RuntimeError("down"),
        },
    )
    (event_id,) = engine.send("t/p")
    engine.run()
    assert engine.output(event_id) == [20, {"cents": 3}, "down"]
    assert child_runs == []  # stubbed: the real child never ran
    assert [run.function_id for run in engine.runs()] == ["stubs-app-parent"]


def test_without_stubs_invokes_run_the_real_function() -> None:
    client = make_client()

    @client.create_function(fn_id="child", trigger=inngest.TriggerEvent(event="t/c"))
    def child(ctx: inngest.ContextSync) -> int:
        return int(ctx.event.data["n"]) + 1

    @client.create_function(fn_id="parent", trigger=inngest.TriggerEvent(event="t/p"))
    def parent(ctx: inngest.ContextSync) -> int:
        return ctx.step.invoke("a", function=child, data={"n": 1})

    engine = TestEngine(client, [child, parent])
    (event_id,) = engine.send("t/p")
    engine.run()
    assert engine.output(event_id) == 2
    assert len(engine.runs("stubs-app-child")) == 1


def test_stubs_work_when_calls_are_signed() -> None:
    key = "signkey-test-" + "ab" * 32
    client = inngest.Inngest(app_id="signed", signing_key=key, event_key="k")

    @client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="t/f"))
    def f(ctx: inngest.ContextSync) -> str:
        return ctx.step.run("s", lambda: "real")

    engine = TestEngine(client, [f], step_stubs={"s": "stub"})
    (event_id,) = engine.send("t/f")
    assert engine.output(event_id) == "stub"  # the re-signed request verified


def test_every_call_is_recorded_with_its_request_and_answer() -> None:
    client = make_client()

    @client.create_function(fn_id="two", trigger=inngest.TriggerEvent(event="t/2"))
    def two(ctx: inngest.ContextSync) -> str:
        a = ctx.step.run("a", lambda: "A")
        ctx.step.sleep("nap", 60_000)
        return a + "!"

    engine = TestEngine(client, [two])
    (event_id,) = engine.send("t/2")
    engine.run()
    run = engine.run_of(event_id)
    assert run.status is RunStatus.COMPLETED
    calls = engine.exchanges_of(run.run_id)
    assert [(c.status, c.function_id) for c in calls] == [
        (206, "stubs-app-two"),
        (206, "stubs-app-two"),
        (200, "stubs-app-two"),
    ]
    assert [op["displayName"] for op in calls[0].response] == ["a"]
    assert [op["op"] for op in calls[1].response] == ["Sleep"]
    assert calls[2].response == "A!"
    assert calls[2].now - calls[1].now == 60
    assert len(calls[2].request["steps"]) == 2
