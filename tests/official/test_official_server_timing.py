"""Our ``Server-Timing`` header against the official SDK's (``inngest==0.5.19``):
the same entries, in the same order, for the same app on the sync and async
paths.  Skipped where the official SDK is absent (``official`` tox env)."""

from __future__ import annotations

import json
import time
import warnings
from typing import Any

import pytest

import inngest_proto

#: The official SDK's pydantic models use v1-style ``class Config``; pydantic
#: warns at import, and our ``filterwarnings = error`` would make it fatal.
_PYDANTIC_CONFIG = "Support for class-based `config` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _PYDANTIC_CONFIG, DeprecationWarning)
    pytest.importorskip("inngest")
    import inngest
    from inngest._internal import server_lib
    from inngest._internal.comm_lib.handler import CommHandler as TheirHandler
    from inngest._internal.comm_lib.models import CommRequest

CALL = {
    "ctx": {
        "run_id": "r",
        "attempt": 0,
        "use_api": False,
        "disable_immediate_execution": False,
        "stack": {"stack": []},
    },
    "event": {"name": "e", "data": {}},
    "events": [{"name": "e", "data": {}}],
    "steps": {},
    "use_api": False,
}


def _names(header: str) -> list[str]:
    return [part.split(";")[0] for part in header.split(", ")]


def _their_handler() -> Any:
    class Hooks(inngest.MiddlewareSync):
        def transform_input(self, ctx: Any, function: Any, steps: Any) -> None:
            pass

        def transform_output(self, result: Any) -> None:
            pass

    client = inngest.Inngest(app_id="app", is_production=False, middleware=[Hooks])

    @client.create_function(fn_id="sync", trigger=inngest.TriggerEvent(event="e"))
    def fn_sync(ctx: inngest.ContextSync) -> int:
        return ctx.step.run("work", lambda: 1)

    async def one() -> int:
        return 1

    @client.create_function(fn_id="async", trigger=inngest.TriggerEvent(event="e"))
    async def fn_async(ctx: inngest.Context) -> int:
        return await ctx.step.run("work", one)

    return TheirHandler(
        client=client,
        enable_unauthed_sync=None,
        framework=server_lib.Framework.FLASK,
        functions=[fn_sync, fn_async],
        streaming=None,
    )


def _their_request(fn_id: str) -> Any:
    return CommRequest(
        body=json.dumps(CALL).encode(),
        headers={},
        public_path=None,
        query_params={"fnId": fn_id, "stepId": "step"},
        raw_request=None,
        request_url="http://h/api/inngest",
        serve_origin=None,
        serve_path=None,
    )


def _our_handler() -> inngest_proto.CommHandler:
    class Hooks(inngest_proto.MiddlewareSync):
        def transform_input(self, ctx: Any, function: Any, steps: Any) -> None:
            pass

        def transform_output(self, result: Any) -> None:
            pass

    client = inngest_proto.Inngest(
        app_id="app", is_production=False, environ={}, middleware=[Hooks]
    )
    trigger = inngest_proto.TriggerEvent(event="e")

    @client.create_function(fn_id="sync", trigger=trigger)
    def fn_sync(ctx: inngest_proto.ContextSync) -> int:
        return ctx.step.run("work", lambda: 1)

    @client.create_function(fn_id="async", trigger=trigger)
    async def fn_async(ctx: inngest_proto.Context) -> int:
        return await ctx.step.run("work", lambda: 1)

    return inngest_proto.CommHandler(
        client=client, functions=[fn_sync, fn_async], framework="flask"
    )


def _our_request(fn_id: str) -> inngest_proto.IncomingRequest:
    return inngest_proto.IncomingRequest(
        "POST",
        f"http://h/api/inngest?fnId={fn_id}&stepId=step",
        {},
        json.dumps(CALL).encode(),
        {"fnId": fn_id, "stepId": "step"},
    )


def test_the_sync_path_has_the_same_entries() -> None:
    theirs = _their_handler().post_sync(_their_request("app-sync"))
    ours = _our_handler().handle_sync(
        _our_request("app-sync"), now=time.time(), timer=time.perf_counter
    )
    assert theirs.status_code == ours.status == 206
    assert _names(ours.headers["server-timing"]) == _names(
        theirs.headers["server-timing"]
    )


@pytest.mark.anyio
async def test_the_async_path_has_the_same_entries(anyio_backend: str) -> None:
    if anyio_backend != "asyncio":
        pytest.skip("the official SDK's async path needs asyncio")
    theirs = await _their_handler().post(_their_request("app-async"))
    ours = await _our_handler().handle(
        _our_request("app-async"), now=time.time(), timer=time.perf_counter
    )
    assert theirs.status_code == ours.status == 206
    assert _names(ours.headers["server-timing"]) == _names(
        theirs.headers["server-timing"]
    )
