"""Replay-safe logging: ``ctx.logger`` and ``ReplayFilter`` emit each line once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._comm import RunAsync
from inngest_proto._http_values import IncomingRequest, Response
from inngest_proto._logging import ReplaySafeLogger
from tests.fakes import RecordingHandler
from tests.inngest_proto.executor._harness import APP_ID, Harness

TRIGGER = inngest.TriggerEvent(event="t/go")
STEPS = 5


def _run_async(fn: Callable[[], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        return await fn()

    return asyncio.run(main())


class _AsyncCommHandler(inngest.CommHandler):
    """Runs async functions from ``handle_sync``, as a sync framework would."""

    def handle_sync(
        self,
        request: IncomingRequest,
        *,
        now: float,
        raw_request: object = None,
        timer: Any = None,
        run_async: RunAsync | None = None,
    ) -> Response:
        return super().handle_sync(
            request, now=now, raw_request=raw_request, timer=timer, run_async=_run_async
        )


@pytest.fixture
def records() -> Iterator[RecordingHandler]:
    handler = RecordingHandler()
    yield handler
    for name in ("test-inngest-ctx", "test-inngest-plain"):
        logging.getLogger(name).removeHandler(handler)
        for f in list(logging.getLogger(name).filters):
            logging.getLogger(name).removeFilter(f)


def _kept_by(records: RecordingHandler, name: str) -> logging.Logger:
    """The logger ``name`` at DEBUG, its records kept by ``records`` (the
    fixture removes the handler after the test)."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG)
    logger.addHandler(records)
    return logger


def _serve(h: Harness, fn: inngest.Function[Any], *, is_async: bool) -> None:
    h.serve(fn)
    if is_async:
        h.handler = _AsyncCommHandler(
            client=h.client, functions=h.functions, framework="test"
        )


def _make(h: Harness, log: Any, *, is_async: bool) -> inngest.Function[Any]:
    """A function of 5 steps logging once each, then once after the last."""
    fn_id = "logs-async" if is_async else "logs-sync"

    if is_async:

        @h.client.create_function(fn_id=fn_id, trigger=TRIGGER)
        async def afn(ctx: inngest.Context) -> int:
            logger = log(ctx)
            for i in range(STEPS):

                def work(i: int = i) -> int:
                    logger.info("step %d", i)
                    return i

                await ctx.step.run(f"s{i}", work)
            logger.info("done")
            return STEPS

        return afn

    @h.client.create_function(fn_id=fn_id, trigger=TRIGGER)
    def sfn(ctx: inngest.ContextSync) -> int:
        logger = log(ctx)
        for i in range(STEPS):

            def work(i: int = i) -> int:
                logger.info("step %d", i)
                return i

            ctx.step.run(f"s{i}", work)
        logger.info("done")
        return STEPS

    return sfn


def _check(h: Harness, records: RecordingHandler, fn: inngest.Function[Any]) -> None:
    run = h.only_run(fn.local_id)
    assert run.output == STEPS
    assert len(h.bodies(run)) == STEPS + 1
    messages = [r.getMessage() for r in records.records]
    assert messages == [f"step {i}" for i in range(STEPS)] + ["done"]
    for i, record in enumerate(records.records):
        assert record.__dict__["inngest_run_id"] == run.run_id
        assert record.__dict__["inngest_function_id"] == f"{APP_ID}-{fn.local_id}"
        assert record.__dict__["inngest_attempt"] == 0
        step_id = f"s{i}" if i < STEPS else None
        assert record.__dict__["inngest_step_id"] == step_id


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_ctx_logger_emits_each_step_message_once(
    records: RecordingHandler, is_async: bool
) -> None:
    h = Harness()
    base = _kept_by(records, "test-inngest-ctx")
    h.client.set_logger(base)
    fn = _make(h, lambda ctx: ctx.logger, is_async=is_async)
    _serve(h, fn, is_async=is_async)
    h.send("t/go")
    h.run()
    _check(h, records, fn)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_replay_filter_on_a_plain_logger(
    records: RecordingHandler, is_async: bool
) -> None:
    h = Harness()
    plain = _kept_by(records, "test-inngest-plain")
    plain.addFilter(inngest.ReplayFilter())
    fn = _make(h, lambda ctx: plain, is_async=is_async)
    _serve(h, fn, is_async=is_async)
    h.send("t/go")
    h.run()
    _check(h, records, fn)


def test_without_the_filter_a_plain_logger_repeats_replayed_lines(
    records: RecordingHandler,
) -> None:
    h = Harness()
    plain = _kept_by(records, "test-inngest-plain")

    @h.client.create_function(fn_id="repeats", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> None:
        plain.info("start")
        ctx.step.run("a", lambda: 1)
        ctx.step.run("b", lambda: 2)

    _serve(h, fn, is_async=False)
    h.send("t/go")
    h.run()
    # One line per request: the reason for ReplayFilter.
    assert [r.getMessage() for r in records.records] == ["start"] * 3


def test_replay_filter_passes_records_outside_a_run() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hi", None, None)
    assert inngest.ReplayFilter().filter(record)
    assert not hasattr(record, "inngest_run_id")


def test_lines_outside_steps_are_dropped_while_replaying(
    records: RecordingHandler,
) -> None:
    h = Harness()
    base = _kept_by(records, "test-inngest-ctx")
    h.client.set_logger(base)

    @h.client.create_function(fn_id="outside", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> None:
        ctx.logger.info("start")
        ctx.step.run("a", lambda: 1)
        ctx.logger.warning("between %s", "a and b", extra={"mine": 1})
        ctx.step.run("b", lambda: 2)
        ctx.logger.error("end")

    _serve(h, fn, is_async=False)
    h.send("t/go")
    h.run()
    assert [r.getMessage() for r in records.records] == [
        "start",
        "between a and b",
        "end",
    ]
    assert records.records[1].__dict__["mine"] == 1
    # The record points at the user's line, not the proxy.
    assert all(r.pathname == __file__ for r in records.records)


def test_ctx_logger_wraps_other_loggers_as_is() -> None:
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    class Other:
        name = "other"

        def info(self, *args: Any, **kwargs: Any) -> None:
            calls.append(("info", args, kwargs))

    h = Harness()
    h.client.set_logger(Other())

    @h.client.create_function(fn_id="other", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> None:
        assert isinstance(ctx.logger, ReplaySafeLogger)
        assert ctx.logger.name == "other"
        ctx.step.run("a", lambda: 1)
        ctx.logger.info("after %s", 1)

    _serve(h, fn, is_async=False)
    h.send("t/go")
    h.run()
    assert calls == [("info", ("after %s", 1), {})]
