"""The informational Server-Timing header, measured with an injected timer."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import anyio
import pytest

import inngest_proto as inngest
from inngest_proto._signing import compute_signature
from tests.fakes import FakeTransport

NOW = 1735689600.0
KEY = "signkey-test-" + "ab" * 32
TIMING = re.compile(r"^[a-z_.]+;dur=\d+(, [a-z_.]+;dur=\d+)*$")


def ticking(step: float) -> Callable[[], float]:
    """A clock that advances ``step`` seconds each time it is read."""
    now = [0.0]

    def read() -> float:
        now[0] += step
        return now[0]

    return read


def app(**client_args: object) -> tuple[inngest.CommHandler, FakeTransport]:
    transport = FakeTransport(now=NOW)
    client = inngest.Inngest(app_id="app", transport=transport, **client_args)  # type: ignore[arg-type]

    @client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="e"))
    def fn(ctx: inngest.ContextSync) -> int:
        return 1

    return inngest.CommHandler(
        client=client, functions=[fn], framework="wsgi"
    ), transport


def call(
    url: str = "http://h/api/inngest?fnId=app-f&stepId=step", use_api: bool = False
) -> inngest.IncomingRequest:
    body = json.dumps(
        {
            "ctx": {"run_id": "r", "attempt": 0, "use_api": use_api},
            "event": {"name": "e", "data": {}},
            "steps": {},
            "use_api": use_api,
        }
    ).encode()
    return inngest.IncomingRequest(
        "POST", url, {}, body, {"fnId": "app-f", "stepId": "step"}
    )


def test_no_timer_no_header() -> None:
    handler, _ = app(environ={"INNGEST_DEV": "1"})
    assert "server-timing" not in handler.handle_sync(call(), now=NOW).headers


class Clock:
    """Virtual time: it moves only when the code under test moves it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def entries(response: inngest.Response) -> dict[str, int]:
    value = response.headers["server-timing"]
    assert TIMING.match(value), value
    pairs = [part.split(";dur=") for part in value.split(", ")]
    return {name: int(dur) for name, dur in pairs}


def timed_app(
    clock: Clock, *, is_async: bool
) -> tuple[inngest.CommHandler, type[inngest.MiddlewareSync]]:
    """A one-step function and middleware, each taking a known time.

    Durations are multiples of 1/8 s, exact in binary floating point.
    """

    class Slow(inngest.MiddlewareSync):
        def transform_input(self, ctx: Any, function: Any, steps: Any) -> None:
            clock.advance(0.125)

        def before_execution(self) -> None:
            clock.advance(1.0)  # inside the function: not the function's time

        def transform_output(self, result: inngest.TransformOutputResult) -> None:
            clock.advance(0.5)

    client = inngest.Inngest(
        app_id="app",
        environ={"INNGEST_DEV": "1"},
        transport=FakeTransport(now=NOW),
        middleware=[Slow],
    )

    def work() -> int:
        clock.advance(0.25)
        return 1

    if is_async:

        @client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="e"))
        async def fn_async(ctx: inngest.Context) -> int:
            return await ctx.step.run("work", work)

        fn: inngest.Function[Any] = fn_async
    else:

        @client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="e"))
        def fn_sync(ctx: inngest.ContextSync) -> int:
            return ctx.step.run("work", work)

        fn = fn_sync
    handler = inngest.CommHandler(client=client, functions=[fn], framework="wsgi")
    return handler, Slow


#: What the official SDK reports for the app above, but ``async_block``.
OFFICIAL_ENTRIES = {
    "comm_handler": 1875,
    "mw.transform_input": 125,
    "function": 250,
    "mw.transform_output": 500,
}


def test_the_sync_driver_reports_the_official_entries() -> None:
    clock = Clock()
    handler, _ = timed_app(clock, is_async=False)
    response = handler.handle_sync(call(), now=NOW, timer=clock)
    assert response.status == 206
    got = entries(response)
    # In the order they started, as the official SDK lists them.
    assert list(got) == list(OFFICIAL_ENTRIES)
    # The function's time excludes middleware that ran inside it.
    assert got == OFFICIAL_ENTRIES


@pytest.mark.anyio
async def test_the_async_driver_adds_the_time_it_held_the_loop() -> None:
    clock = Clock()
    handler, _ = timed_app(clock, is_async=True)
    response = await handler.handle(call(), now=NOW, timer=clock)
    assert response.status == 206
    got = entries(response)
    assert list(got) == ["comm_handler", "async_block", *list(OFFICIAL_ENTRIES)[1:]]
    # Nothing here suspends: the request held the loop throughout.
    assert got == {"async_block": 1875, **OFFICIAL_ENTRIES}


@pytest.mark.anyio
async def test_async_block_excludes_time_spent_suspended() -> None:
    clock = Clock()
    client = inngest.Inngest(
        app_id="app", environ={"INNGEST_DEV": "1"}, transport=FakeTransport(now=NOW)
    )
    resumed = anyio.Event()

    async def elsewhere() -> None:
        clock.advance(2.0)  # another task's time, while the function waits
        resumed.set()

    @client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="e"))
    async def fn(ctx: inngest.Context) -> int:
        clock.advance(0.25)
        task_group.start_soon(elsewhere)
        await resumed.wait()
        clock.advance(0.125)
        return 1

    handler = inngest.CommHandler(client=client, functions=[fn], framework="wsgi")
    async with anyio.create_task_group() as task_group:
        response = await handler.handle(call(), now=NOW, timer=clock)
    got = entries(response)
    assert got == {"async_block": 375, "comm_handler": 2375, "function": 2375}


def test_use_api_is_named_and_a_sync_is_the_handler_only() -> None:
    handler, transport = app(environ={"INNGEST_DEV": "1"})
    transport.queue(
        inngest.OutboundResponse(200, {}, b"[]"),
        inngest.OutboundResponse(200, {}, b"{}"),
    )
    value = handler.handle_sync(
        call(use_api=True), now=NOW, timer=ticking(0.001)
    ).headers["server-timing"]
    assert [p.split(";")[0] for p in value.split(", ")] == [
        "comm_handler",
        "use_api",
        "function",
    ]
    transport.queue(inngest.OutboundResponse(200, {}, b'{"ok": true}'))
    sync = inngest.IncomingRequest("PUT", "http://h/api/inngest", {}, b"")
    value = handler.handle_sync(sync, now=NOW, timer=ticking(0.001)).headers[
        "server-timing"
    ]
    assert [p.split(";")[0] for p in value.split(", ")] == ["comm_handler"]


@pytest.mark.anyio
async def test_async_driver_and_signature_cover_only_the_body() -> None:
    handler, _ = app(environ={}, signing_key=KEY)
    request = call()
    t = int(NOW)
    signed = inngest.IncomingRequest(
        "POST",
        request.url,
        {"x-inngest-signature": f"t={t}&s={compute_signature(request.body, KEY, t)}"},
        request.body,
        request.query,
    )
    response = await handler.handle(signed, now=NOW, timer=ticking(0.001))
    assert response.status == 200
    assert TIMING.match(response.headers["server-timing"])
    fields = dict(
        p.split("=") for p in response.headers["x-inngest-signature"].split("&")
    )
    assert fields["s"] == compute_signature(response.body, KEY, int(fields["t"]))


def test_even_a_401_is_timed() -> None:
    handler, _ = app(environ={}, signing_key=KEY)
    response = handler.handle_sync(call(), now=NOW, timer=ticking(0.001))
    assert response.status == 401
    assert response.headers["server-timing"].startswith("comm_handler;dur=")
