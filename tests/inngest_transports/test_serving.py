"""What the framework modules and the standalone server share (serving): the
worker-thread offload every async host uses for sync functions, on asyncio
(its own workers) and trio (anyio's threads), and the query parser."""

from __future__ import annotations

import contextvars
import gc
import threading
from urllib.parse import parse_qsl

import anyio
import anyio.to_thread
import pytest

from inngest_transports.serving import (
    DEFAULT_MAX_WORKERS,
    InvalidContentLength,
    Offload,
    parse_content_length,
    parse_query,
)

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
# Generous: only reached if the offload is broken, never waited out otherwise.
STUCK_S = 5.0


@pytest.mark.anyio
async def test_work_runs_in_a_worker_thread_and_returns_its_value() -> None:
    offload = Offload()
    loop_thread = threading.current_thread()

    def work() -> tuple[str, int]:
        return threading.current_thread().name, 42

    name, value = await offload(work)
    assert value == 42
    assert name != loop_thread.name


@pytest.mark.anyio
async def test_context_variables_reach_the_thread() -> None:
    REQUEST_ID.set("req-1")
    assert await Offload()(REQUEST_ID.get) == "req-1"


@pytest.mark.anyio
async def test_exceptions_come_back_to_the_caller() -> None:
    def work() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        await Offload()(work)


@pytest.mark.anyio
async def test_stop_iteration_comes_back_as_a_runtime_error() -> None:
    def work() -> None:
        raise StopIteration

    with pytest.raises(RuntimeError, match="StopIteration"):
        await Offload()(work)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_workers_are_reused_and_end_with_their_offload() -> None:
    offload = Offload()
    threads = {await offload(threading.current_thread) for _ in range(5)}
    assert len(threads) == 1  # one call at a time: the idle worker takes each
    (worker,) = threads
    assert worker.name.startswith("inngest-function-")
    del offload
    gc.collect()
    worker.join(STUCK_S)
    assert not worker.is_alive()


def test_the_limit_defaults_to_anyios() -> None:
    assert DEFAULT_MAX_WORKERS == 40
    assert Offload()._max_workers == 40
    assert Offload(3)._max_workers == 3


@pytest.mark.anyio
async def test_at_most_max_workers_run_at_once() -> None:
    offload = Offload(2)
    lock = threading.Lock()
    release = threading.Event()
    running = 0
    most = 0

    def work() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(STUCK_S)
        with lock:
            running -= 1

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(offload, work)
        with anyio.fail_after(STUCK_S):
            while running < 2:
                await anyio.sleep(0.001)
        # Give a third thread the chance to start if the limit were broken.
        await anyio.sleep(0.05)
        assert running == 2
        release.set()
    assert most == 2


@pytest.mark.anyio
async def test_a_cancelled_caller_waits_for_the_thread_to_finish() -> None:
    offload = Offload()
    started = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def work() -> None:
        started.set()
        release.wait(STUCK_S)
        order.append("work ended")

    async def call() -> None:
        try:
            await offload(work)
        finally:
            order.append("caller ended")

    async with anyio.create_task_group() as group:
        group.start_soon(call)
        await anyio.to_thread.run_sync(started.wait, STUCK_S)
        group.cancel_scope.cancel()
        # The scope keeps cancelling the waiting caller until it exits.
        threading.Timer(0.05, release.set).start()
    assert order == ["work ended", "caller ended"]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "fnId=app-fn&stepId=step",
        "a=1&a=2",
        "flag&empty=&=v&&x=a=b",
        "name=caf%C3%A9&sp=a+b&pct=%25",
        "fnId=app%2Dfn&stepId=step",
    ],
)
def test_parse_query_agrees_with_parse_qsl(query: str) -> None:
    assert parse_query(query) == dict(parse_qsl(query, keep_blank_values=True))


@pytest.mark.parametrize(
    ("value", "declared"),
    [
        (None, None),
        ("", None),
        (b"", None),
        ("0", 0),
        (" 12 ", 12),
        (b"34", 34),
        (5, 5),
    ],
)
def test_a_content_length_is_read_as_digits_or_as_none(
    value: str | bytes | int | None, declared: int | None
) -> None:
    assert parse_content_length(value) == declared


@pytest.mark.parametrize("value", ["+5", "-1", "1_000", "5x", "٣", " ", b"0x10", -1])
def test_a_content_length_that_is_not_digits_is_refused(
    value: str | bytes | int,
) -> None:
    with pytest.raises(InvalidContentLength, match="Content-Length"):
        parse_content_length(value)
