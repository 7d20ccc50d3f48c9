"""trigger(): the official mocked.trigger's equivalent, on the real executor."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_transports.testing import Status, Timeout, trigger

DAY = datetime.timedelta(days=1)


def make_client() -> inngest.Inngest:
    return inngest.Inngest(app_id="trigger-app", environ={"INNGEST_DEV": "1"})


def test_a_function_runs_to_its_end_through_sleeps_and_retries() -> None:
    client = make_client()
    attempts: list[int] = []

    @client.create_function(
        fn_id="f", trigger=inngest.TriggerEvent(event="t/f"), retries=2
    )
    def f(ctx: inngest.ContextSync) -> str:
        ctx.step.sleep("nap", 3 * DAY)

        def flaky() -> str:
            attempts.append(ctx.attempt)
            if ctx.attempt < 2:
                raise ValueError("not yet")
            return "ok"

        return ctx.step.run("flaky", flaky)

    result = trigger(f, inngest.Event(name="t/f"), client)
    assert (result.status, result.output, result.error) == (
        Status.COMPLETED,
        "ok",
        None,
    )
    assert attempts == [0, 1, 2]
    assert result.run.ended_at is not None


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_stubs_and_a_failure(backend: str) -> None:
    client = make_client()

    @client.create_function(
        fn_id="g", trigger=inngest.TriggerEvent(event="t/g"), retries=0
    )
    async def g(ctx: inngest.Context) -> Any:
        reply = await ctx.step.wait_for_event("reply", event="t/r", timeout=DAY)
        quote = await ctx.step.invoke_by_id("quote", function_id="pricing")
        if reply is None:
            raise ValueError(f"no reply; quote was {quote}")
        return quote

    result = trigger(
        g,
        [inngest.Event(name="t/g")],
        client,
        step_stubs={"reply": Timeout},
        invoke_stubs={"pricing": 12},
        backend=backend,
    )
    assert result.status is Status.FAILED
    assert result.output is None
    assert result.error is not None
    assert result.error["message"] == "no reply; quote was 12"


def test_an_unstubbed_wait_times_out_on_the_virtual_clock() -> None:
    client = make_client()

    @client.create_function(fn_id="w", trigger=inngest.TriggerEvent(event="t/w"))
    def w(ctx: inngest.ContextSync) -> Any:
        return ctx.step.wait_for_event("reply", event="t/r", timeout=2 * DAY)

    result = trigger(w, inngest.Event(name="t/w"), client)
    assert (result.status, result.output) == (Status.COMPLETED, None)
    assert result.engine.now - result.run.created_at >= 2 * DAY.total_seconds()


def test_no_events_is_refused() -> None:
    client = make_client()

    @client.create_function(fn_id="n", trigger=inngest.TriggerEvent(event="t/n"))
    def n(ctx: inngest.ContextSync) -> None:
        return None

    with pytest.raises(ValueError, match="at least one event"):
        trigger(n, [], client)
