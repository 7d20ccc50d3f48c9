"""A small app for the integrations' tests, called through the comm handler.

``two-async`` and ``two-sync`` run steps ``first`` and ``second``; ``boom-*``
has a step that raises.  ``post`` sends one call request with the memos
given; ``CASES`` pairs each function flavour with the drivers that can serve
it (an async function needs ``handle``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import inngest_proto as inngest
from tests.inngest_proto._comm_helpers import (
    APP_ID,
    FIRST,
    SECOND,
    Driver,
    call_body,
    make_client,
    request,
    serve,
)

Flavour = Literal["async", "sync"]
#: (function flavour, driver) pairs the comm handler can serve.
CASES: list[tuple[Flavour, Driver]] = [
    ("async", "async"),
    ("sync", "async"),
    ("sync", "sync"),
]
MEMO_FIRST = {FIRST: {"data": "A"}}
MEMO_BOTH = {FIRST: {"data": "A"}, SECOND: {"data": "B"}}
RUN_ID = "01JRUN"

Factory = Callable[[Any, object], inngest.Middleware | inngest.MiddlewareSync]


class Boom(Exception):
    pass


def make_app(
    middleware: Sequence[Factory],
    body: Callable[[], Any] | None = None,
) -> inngest.CommHandler:
    """``body``, when given, runs inside step ``first`` (before it returns)."""
    client = make_client()

    def first() -> str:
        if body is not None:
            body()
        return "A"

    def explode() -> str:
        raise Boom("step broke")

    def fn(fn_id: str, handler: Any) -> inngest.Function[Any]:
        return client.create_function(
            fn_id=fn_id,
            trigger=inngest.TriggerEvent(event="t/steps"),
            middleware=list(middleware),
            retries=0,
        )(handler)

    async def two_async(ctx: inngest.Context) -> list[str]:
        return [
            await ctx.step.run("first", first),
            await ctx.step.run("second", lambda: "B"),
        ]

    def two_sync(ctx: inngest.ContextSync) -> list[str]:
        return [ctx.step.run("first", first), ctx.step.run("second", lambda: "B")]

    async def boom_async(ctx: inngest.Context) -> str:
        return await ctx.step.run("explode", explode)

    def boom_sync(ctx: inngest.ContextSync) -> str:
        return ctx.step.run("explode", explode)

    return inngest.CommHandler(
        client=client,
        functions=[
            fn("two-async", two_async),
            fn("two-sync", two_sync),
            fn("boom-async", boom_async),
            fn("boom-sync", boom_sync),
        ],
        framework="test",
    )


async def post(
    handler: inngest.CommHandler,
    fn_id: str,
    driver: Driver,
    *,
    steps: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> inngest.Response:
    """One call request for ``fn_id`` (e.g. ``two-sync``); asserts a 2xx."""
    req = request(
        "POST",
        body=call_body(steps=steps),
        query={"fnId": f"{APP_ID}-{fn_id}", "stepId": "step"},
        headers=headers,
    )
    resp = await serve(handler, req, driver)
    assert resp.status < 300, resp.body
    return resp
