"""An app written only with the official SDK (``inngest==0.5.19``).

It is what a user of the official SDK would write; nothing of ours is
imported, so it runs on our dev server exactly as it would on the real one.
The same scenarios come twice: async handlers (served by FastAPI) and sync
handlers (served by Flask, whose async views would need ``asgiref``).

``calls`` counts handler invocations per function, so a test can tell a
retry from a single attempt without reaching into the dev server.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any

import attrs
import inngest

APP_ID = "official-compat"
#: What ``on_failure`` handlers are registered as (the SDK's naming).
DOOMED_FAILURE_ID = f"{APP_ID}-doomed-failure"
#: Two step outputs this long make a state over the 4 MiB a call request
#: carries, so the third call has ``use_api`` and the SDK fetches the memos.
BIG = 5 * 1024 * 1024 // 2


def _int(value: object) -> int:
    # Event data is typed as any JSON value; these scenarios send ints.
    assert isinstance(value, int)
    return value


def _error_message(failed: inngest.Event) -> str:
    """The message of the error in an ``inngest/function.failed`` event."""
    error = failed.data["error"]
    assert isinstance(error, Mapping)
    return str(error["message"])


@attrs.define
class OfficialApp:
    client: inngest.Inngest
    functions: list[inngest.Function[Any]]
    calls: collections.Counter[str] = attrs.field(factory=collections.Counter)


def async_app(client: inngest.Inngest) -> OfficialApp:
    """Every scenario with ``async def`` handlers and :class:`inngest.Context`."""
    app = OfficialApp(client, [])

    async def letter_a() -> str:
        return "A"

    @client.create_function(fn_id="two", trigger=inngest.TriggerEvent(event="t/two"))
    async def two(ctx: inngest.Context) -> dict[str, Any]:
        # Annotated so mypy checks this module even without the SDK installed.
        a: str = await ctx.step.run("a", letter_a)

        async def letter_b() -> str:
            return a + "B"

        b = await ctx.step.run("b", letter_b)
        return {"a": a, "b": b, "n": ctx.event.data["n"]}

    @client.create_function(fn_id="nap", trigger=inngest.TriggerEvent(event="t/nap"))
    async def nap(ctx: inngest.Context) -> str:
        await ctx.step.sleep("zz", 200)
        return "rested"

    @client.create_function(fn_id="waiter", trigger=inngest.TriggerEvent(event="t/w"))
    async def waiter(ctx: inngest.Context) -> Any:
        got = await ctx.step.wait_for_event(
            "w",
            event="t/answer",
            if_exp="event.data.key == async.data.key",
            timeout=_int(ctx.event.data["timeout"]),
        )
        return None if got is None else got.data["v"]

    @client.create_function(fn_id="child", trigger=inngest.TriggerEvent(event="t/c"))
    async def child(ctx: inngest.Context) -> int:
        return _int(ctx.event.data["x"]) * 2

    async def left() -> str:
        return "L"

    async def right() -> str:
        return "R"

    @client.create_function(fn_id="parent", trigger=inngest.TriggerEvent(event="t/p"))
    async def parent(ctx: inngest.Context) -> dict[str, Any]:
        doubled = await ctx.step.invoke("call", function=child, data={"x": 21})
        both = await ctx.group.parallel(
            (
                lambda: ctx.step.run("left", left),
                lambda: ctx.step.run("right", right),
            )
        )
        sent = await ctx.step.send_event("emit", inngest.Event(name="t/sent"))
        return {"doubled": doubled, "both": list(both), "sent": len(sent)}

    @client.create_function(fn_id="heard", trigger=inngest.TriggerEvent(event="t/sent"))
    async def heard(ctx: inngest.Context) -> str:
        return "heard"

    @client.create_function(
        fn_id="flaky", trigger=inngest.TriggerEvent(event="t/flaky"), retries=2
    )
    async def flaky(ctx: inngest.Context) -> int:
        app.calls["flaky"] += 1
        if ctx.attempt < 1:  # the official SDK counts attempts from 0
            msg = f"attempt {ctx.attempt}"
            raise RuntimeError(msg)
        attempt: int = ctx.attempt
        return attempt

    async def cleanup(ctx: inngest.Context) -> str:
        return "cleaned " + _error_message(ctx.event)

    @client.create_function(
        fn_id="doomed",
        trigger=inngest.TriggerEvent(event="t/doomed"),
        retries=3,  # so a retry would happen if NonRetriableError were ignored
        on_failure=cleanup,
    )
    async def doomed(ctx: inngest.Context) -> None:
        app.calls["doomed"] += 1
        raise inngest.NonRetriableError("no way")

    async def big_a() -> str:
        return "a" * BIG

    async def big_b() -> str:
        return "b" * BIG

    @client.create_function(fn_id="big", trigger=inngest.TriggerEvent(event="t/big"))
    async def big(ctx: inngest.Context) -> list[int]:
        a: str = await ctx.step.run("a", big_a)
        b: str = await ctx.step.run("b", big_b)
        return [len(a), len(b)]

    app.functions = [two, nap, waiter, child, parent, heard, flaky, doomed, big]
    return app


def sync_app(client: inngest.Inngest) -> OfficialApp:
    """The same scenarios with plain ``def`` handlers and
    :class:`inngest.ContextSync`."""
    app = OfficialApp(client, [])

    @client.create_function(fn_id="two", trigger=inngest.TriggerEvent(event="t/two"))
    def two(ctx: inngest.ContextSync) -> dict[str, Any]:
        a: str = ctx.step.run("a", lambda: "A")
        b = ctx.step.run("b", lambda: a + "B")
        return {"a": a, "b": b, "n": ctx.event.data["n"]}

    @client.create_function(fn_id="nap", trigger=inngest.TriggerEvent(event="t/nap"))
    def nap(ctx: inngest.ContextSync) -> str:
        ctx.step.sleep("zz", 200)
        return "rested"

    @client.create_function(fn_id="waiter", trigger=inngest.TriggerEvent(event="t/w"))
    def waiter(ctx: inngest.ContextSync) -> Any:
        got = ctx.step.wait_for_event(
            "w",
            event="t/answer",
            if_exp="event.data.key == async.data.key",
            timeout=_int(ctx.event.data["timeout"]),
        )
        return None if got is None else got.data["v"]

    @client.create_function(fn_id="child", trigger=inngest.TriggerEvent(event="t/c"))
    def child(ctx: inngest.ContextSync) -> int:
        return _int(ctx.event.data["x"]) * 2

    @client.create_function(fn_id="parent", trigger=inngest.TriggerEvent(event="t/p"))
    def parent(ctx: inngest.ContextSync) -> dict[str, Any]:
        doubled = ctx.step.invoke("call", function=child, data={"x": 21})
        both = ctx.group.parallel(
            (
                lambda: ctx.step.run("left", lambda: "L"),
                lambda: ctx.step.run("right", lambda: "R"),
            )
        )
        sent = ctx.step.send_event("emit", inngest.Event(name="t/sent"))
        return {"doubled": doubled, "both": list(both), "sent": len(sent)}

    @client.create_function(fn_id="heard", trigger=inngest.TriggerEvent(event="t/sent"))
    def heard(ctx: inngest.ContextSync) -> str:
        return "heard"

    @client.create_function(
        fn_id="flaky", trigger=inngest.TriggerEvent(event="t/flaky"), retries=2
    )
    def flaky(ctx: inngest.ContextSync) -> int:
        app.calls["flaky"] += 1
        if ctx.attempt < 1:  # the official SDK counts attempts from 0
            msg = f"attempt {ctx.attempt}"
            raise RuntimeError(msg)
        attempt: int = ctx.attempt
        return attempt

    def cleanup(ctx: inngest.ContextSync) -> str:
        return "cleaned " + _error_message(ctx.event)

    @client.create_function(
        fn_id="doomed",
        trigger=inngest.TriggerEvent(event="t/doomed"),
        retries=3,  # so a retry would happen if NonRetriableError were ignored
        on_failure=cleanup,
    )
    def doomed(ctx: inngest.ContextSync) -> None:
        app.calls["doomed"] += 1
        raise inngest.NonRetriableError("no way")

    @client.create_function(fn_id="big", trigger=inngest.TriggerEvent(event="t/big"))
    def big(ctx: inngest.ContextSync) -> list[int]:
        a: str = ctx.step.run("a", lambda: "a" * BIG)
        b: str = ctx.step.run("b", lambda: "b" * BIG)
        return [len(a), len(b)]

    app.functions = [two, nap, waiter, child, parent, heard, flaky, doomed, big]
    return app
