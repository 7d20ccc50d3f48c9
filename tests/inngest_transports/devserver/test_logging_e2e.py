"""End to end: replay-safe logging over HTTP on the dev server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

import inngest_proto as inngest
from tests.fakes import RecordingHandler

from ._harness import harness

pytestmark = pytest.mark.anyio

STEPS = 5
#: The harness gives the client this logger; ctx.logger wraps it.
LOGGER = "tests.devserver"


@pytest.fixture
def records() -> Iterator[RecordingHandler]:
    handler = RecordingHandler()
    logger = logging.getLogger(LOGGER)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def _five_steps(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(fn_id="five", trigger=inngest.TriggerEvent(event="t/five"))
    async def five(ctx: inngest.Context) -> int:
        total = 0
        for i in range(STEPS):
            ctx.logger.info("before step %d", i)
            total += await ctx.step.run(f"step-{i}", lambda n: n, i)
        ctx.logger.info("done")
        return total

    return [five]


async def test_five_steps_that_log_once_each_emit_five_lines(
    records: RecordingHandler,
) -> None:
    async with harness(_five_steps) as h:
        run = await h.finished_run(await h.send("t/five"))
    assert run["status"] == "Completed"
    assert run["output"] == sum(range(STEPS))
    # What the function logged (the server logs through the same logger).
    mine = [r for r in records.records if hasattr(r, "inngest_run_id")]
    # Six requests in all (one per step, then the return); each line once.
    lines = [r.getMessage() for r in mine]
    assert lines == [f"before step {i}" for i in range(STEPS)] + ["done"]
    assert {r.inngest_run_id for r in mine} == {run["run_id"]}


def _out_of_retries(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    def broken() -> None:
        raise RuntimeError("disk full")

    @client.create_function(
        fn_id="broken", trigger=inngest.TriggerEvent(event="t/broken"), retries=1
    )
    async def fn(ctx: inngest.Context) -> None:
        await ctx.step.run("broken", broken)

    return [fn]


async def test_a_failed_run_is_logged_with_the_users_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Out of retries, the SDK fails the function marked no-retry: the log,
    # the API and the run's error all name the user's RuntimeError.
    caplog.set_level(logging.INFO, logger="inngest.devserver")
    async with harness(_out_of_retries) as h:
        event_id = await h.send("t/broken")
        run = await h.finished_run(event_id)
        (record,) = h.dev.runs_for_event(event_id)
    assert run["status"] == "Failed"
    assert run["output"]["name"] == "RuntimeError"
    assert record.error is not None
    assert (record.error["error"], record.error["name"]) == ("RuntimeError",) * 2
    (line,) = [
        r.getMessage() for r in caplog.records if " failed in " in r.getMessage()
    ]
    assert line.endswith(": RuntimeError: disk full")
    assert "NonRetriableError" not in caplog.text
