"""Hosts choose where functions run: a thread for sync functions under an event
loop, an event loop for async functions under a sync host."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
import pytest

import inngest_proto as inngest

NOW = 1735689600.0


def handler_for(
    *functions_of: Callable[[inngest.Inngest], inngest.Function[Any]],
) -> inngest.CommHandler:
    client = inngest.Inngest(app_id="app", environ={"INNGEST_DEV": "1"})
    return inngest.CommHandler(
        client=client,
        functions=[make(client) for make in functions_of],
        framework="asgi",
    )


def sync_fn(client: inngest.Inngest) -> inngest.Function[Any]:
    @client.create_function(fn_id="sync", trigger=inngest.TriggerEvent(event="e"))
    def fn(ctx: inngest.ContextSync) -> str:
        return threading.current_thread().name

    return fn


def async_fn(client: inngest.Inngest) -> inngest.Function[Any]:
    @client.create_function(fn_id="async", trigger=inngest.TriggerEvent(event="e"))
    async def fn(ctx: inngest.Context) -> str:
        await anyio.sleep(0)  # a real event-loop primitive, only user code may
        return "ran on a loop"

    return fn


def call(fn_id: str) -> inngest.IncomingRequest:
    body = json.dumps(
        {"ctx": {"run_id": "r"}, "event": {"name": "e"}, "steps": {}}
    ).encode()
    url = f"http://h/api/inngest?fnId=app-{fn_id}&stepId=step"
    return inngest.IncomingRequest("POST", url, {}, body, {"fnId": f"app-{fn_id}"})


@pytest.mark.anyio
async def test_a_sync_function_runs_on_the_given_thread_runner() -> None:
    handler = handler_for(sync_fn)
    calls: list[str] = []

    async def to_thread(work: Callable[[], Any]) -> Any:
        calls.append("offloaded")
        return await anyio.to_thread.run_sync(work)

    response = await handler.handle(call("sync"), now=NOW, run_sync=to_thread)
    assert response.status == 200
    assert calls == ["offloaded"]
    assert json.loads(response.body) != threading.current_thread().name


@pytest.mark.anyio
async def test_without_a_runner_a_sync_function_runs_inline() -> None:
    response = await handler_for(sync_fn).handle(call("sync"), now=NOW)
    assert json.loads(response.body) == threading.current_thread().name


@pytest.mark.anyio
async def test_async_functions_are_awaited_not_offloaded() -> None:
    async def never(work: Callable[[], Any]) -> Any:
        raise AssertionError("async functions must not go to the thread runner")

    response = await handler_for(async_fn).handle(
        call("async"), now=NOW, run_sync=never
    )
    assert json.loads(response.body) == "ran on a loop"


@pytest.mark.parametrize(
    "run_async",
    [
        pytest.param(anyio.run, id="anyio.run"),
        pytest.param(lambda work: asyncio.run(work()), id="asyncio.run"),
    ],
)
def test_a_sync_host_runs_async_functions_with_the_given_loop(
    run_async: Callable[[Callable[[], Awaitable[Any]]], Any],
) -> None:
    handler = handler_for(async_fn, sync_fn)
    response = handler.handle_sync(call("async"), now=NOW, run_async=run_async)
    assert (response.status, json.loads(response.body)) == (200, "ran on a loop")
    # Sync functions still run right here.
    response = handler.handle_sync(call("sync"), now=NOW, run_async=run_async)
    assert json.loads(response.body) == threading.current_thread().name


def test_without_a_loop_an_async_function_is_a_non_retriable_error() -> None:
    response = handler_for(async_fn).handle_sync(call("async"), now=NOW)
    assert response.status == 500
    assert response.headers["x-inngest-no-retry"] == "true"
    assert "CommHandler.handle" in json.loads(response.body)["message"]
