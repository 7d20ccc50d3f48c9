"""``inngest_transports.testing.mocked``: tests written for the official
``inngest.experimental.mocked`` run with one import changed.

The scenarios are those the official module is tested with (a function made
by a real client, triggered with ``mocked.Inngest``); where the executor
answers differently on purpose, the assertion says so.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto import OutboundRequest
from inngest_transports.testing import mocked

client = inngest.Inngest(app_id="my-app", is_production=False, environ={})
client_mock = mocked.Inngest(app_id="test", is_production=False, environ={})
TRIGGER = inngest.TriggerEvent(event="test")
EVENT = inngest.Event(name="test")


def test_parallel_async() -> None:
    @client.create_function(fn_id="parallel-async", trigger=TRIGGER)
    async def fn(ctx: inngest.Context) -> tuple[str, ...]:
        async def echo(value: str) -> str:
            return value

        return await ctx.group.parallel(
            (
                lambda: ctx.step.run("a", echo, "a"),
                lambda: ctx.step.run("b", echo, "b"),
            )
        )

    res = mocked.trigger(fn, EVENT, client_mock)
    assert res.status is mocked.Status.COMPLETED
    # Stored as JSON, so the tuple comes back a list.
    assert res.output == ["a", "b"]


def test_no_steps() -> None:
    @client.create_function(fn_id="no-steps", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> str:
        return "hi"

    res = mocked.trigger(fn, EVENT, client_mock)
    assert (res.status, res.output, res.error) == (mocked.Status.COMPLETED, "hi", None)


def test_two_steps() -> None:
    @client.create_function(fn_id="two-steps", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> str:
        ctx.step.run("a", lambda: None)
        ctx.step.run("b", lambda: None)
        return "hi"

    res = mocked.trigger(fn, EVENT, client_mock)
    assert res.status is mocked.Status.COMPLETED
    assert res.output == "hi"
    assert len(res.run.steps) == 2


def test_send_event() -> None:
    @client.create_function(fn_id="send-event", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> list[str]:
        return ctx.step.send_event(
            "a", [inngest.Event(name="event-1"), inngest.Event(name="event-2")]
        )

    res = mocked.trigger(fn, EVENT, client_mock)
    assert res.status is mocked.Status.COMPLETED
    # The engine receives the events (the official loop drops them), so the
    # ids are the engine's, one per event.
    assert len(res.output) == 2
    assert [e["name"] for e in res.engine.sent_events] == ["event-1", "event-2"]


def test_invoke_stubbed() -> None:
    @client.create_function(fn_id="invoke", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> Any:
        return ctx.step.invoke_by_id("a", app_id="foo", function_id="bar")

    res = mocked.trigger(fn, EVENT, client_mock, step_stubs={"a": "hi"})
    assert res.status is mocked.Status.COMPLETED
    assert res.output == "hi"


def test_sleep() -> None:
    @client.create_function(fn_id="sleep", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> str:
        ctx.step.sleep("a", datetime.timedelta(days=7))
        return "hi"

    res = mocked.trigger(fn, EVENT, client_mock)
    assert (res.status, res.output) == (mocked.Status.COMPLETED, "hi")


def _waiting() -> inngest.Function[Any]:
    @client.create_function(fn_id="wait", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> Any:
        event = ctx.step.wait_for_event(
            "a", event="other-event", timeout=datetime.timedelta(seconds=1)
        )
        return None if event is None else event.data

    return fn


def test_wait_for_event_stubbed() -> None:
    stub = inngest.Event(data={"foo": 1}, name="other-event")
    res = mocked.trigger(_waiting(), EVENT, client_mock, step_stubs={"a": stub})
    assert (res.status, res.output) == (mocked.Status.COMPLETED, {"foo": 1})


def test_wait_for_event_timeout() -> None:
    stubs = {"a": mocked.Timeout}
    res = mocked.trigger(_waiting(), EVENT, client_mock, step_stubs=stubs)
    assert (res.status, res.output) == (mocked.Status.COMPLETED, None)


def test_wait_for_event_not_stubbed_times_out() -> None:
    # The official loop raises UnstubbedStepError; on the executor the wait
    # times out on the virtual clock, as in production.
    res = mocked.trigger(_waiting(), EVENT, client_mock)
    assert (res.status, res.output) == (mocked.Status.COMPLETED, None)


def test_retry_step() -> None:
    counter = 0

    @client.create_function(fn_id="retry-step", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> str:
        def a() -> str:
            nonlocal counter
            counter += 1
            if counter < 2:
                raise ValueError("oh no")
            return "hi"

        return ctx.step.run("a", a)

    res = mocked.trigger(fn, EVENT, client_mock)
    assert (res.status, res.output, counter) == (mocked.Status.COMPLETED, "hi", 2)


@pytest.mark.parametrize("where", ["step", "function"])
def test_fail(where: str) -> None:
    @client.create_function(fn_id=f"fail-{where}", retries=0, trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> None:
        def a() -> None:
            raise ValueError("oh no")

        if where == "step":
            ctx.step.run("a", a)
        else:
            a()

    res = mocked.trigger(fn, EVENT, client_mock)
    assert res.status is mocked.Status.FAILED
    assert res.output is None
    assert isinstance(res.error, mocked.RunError)
    assert str(res.error) == "oh no"
    assert res.error.name == "ValueError"
    assert res.error.stack is not None
    assert "ValueError" in res.error.stack


def test_retry_fn() -> None:
    counter = 0

    @client.create_function(fn_id="retry-fn", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> str:
        nonlocal counter
        counter += 1
        if counter < 2:
            raise ValueError("oh no")
        return "hi"

    res = mocked.trigger(fn, EVENT, client_mock)
    assert (res.status, res.output) == (mocked.Status.COMPLETED, "hi")


# --- mocked.Inngest outside trigger -----------------------------------------------


def test_the_mocked_client_sends_nowhere_and_answers_zero_ids() -> None:
    events = [inngest.Event(name="a"), inngest.Event(name="b")]
    assert client_mock.send_sync(events) == [mocked.MOCKED_EVENT_ID] * 2
    assert client_mock.send_sync(events[0]) == [mocked.MOCKED_EVENT_ID]


@pytest.mark.anyio
async def test_the_mocked_client_sends_nowhere_async_too() -> None:
    assert await client_mock.send(inngest.Event(name="a")) == [mocked.MOCKED_EVENT_ID]


def test_the_mocked_client_runs_send_middleware() -> None:
    seen: list[list[str]] = []

    class Recorder(inngest.MiddlewareSync):
        def before_send_events(self, events: list[inngest.Event]) -> None:
            seen.append([e.name for e in events])

    mocked_client = mocked.Inngest(
        app_id="mw", is_production=False, environ={}, middleware=[Recorder]
    )
    mocked_client.send_sync(inngest.Event(name="a"))
    assert seen == [["a"]]


def test_the_mocked_transport_refuses_any_other_call() -> None:
    transport = mocked.NoNetworkTransport()
    req = OutboundRequest("GET", "http://127.0.0.1:8288/v1/runs/x", {})
    with pytest.raises(inngest.LocalProtocolError, match="no network calls"):
        transport.request_sync(req)


def test_a_transport_given_to_the_mocked_client_is_used() -> None:
    given = mocked.NoNetworkTransport()
    mocked_client = mocked.Inngest(
        app_id="t", is_production=False, environ={}, transport=given
    )
    assert mocked_client.transport is given
