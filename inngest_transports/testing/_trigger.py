"""``trigger()``: one call to run a function to its end, like the official
``inngest.experimental.mocked.trigger``, on the real executor.

The official helper replays the function in a loop of its own: sleeps end at
once, and a ``wait_for_event`` or ``step.invoke`` without a stub raises.
This one sends the event to a :class:`TestEngine` and runs the virtual clock
until the run ends, so unstubbed waits time out when they would, invokes
run the invoked function if it is given in ``functions``, and retries follow
Inngest's real backoff (without the wait).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

import inngest_proto as inngest
from inngest_proto.executor import Run

from ._engine import TestEngine, TestEngineError

__all__ = ["Result", "Status", "trigger"]


class Status(enum.Enum):
    """How the run ended (the official ``mocked.Status``, plus ``CANCELLED``)."""

    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


@attrs.frozen
class Result:
    """The end of a triggered run.

    ``output`` is the function's output as Inngest stores it (JSON);
    ``error`` the failure as Inngest stores it (``name``, ``message``,
    ``stack``), ``None`` unless it failed; ``run`` the executor's whole
    record (steps, events, times) and ``engine`` the engine that ran it, to
    look further (``sent_events``, ``exchanges_of``...).
    """

    status: Status
    output: Any
    error: dict[str, Any] | None
    run: Run
    engine: TestEngine


def trigger(
    fn: inngest.Function[Any],
    event: inngest.Event | Sequence[inngest.Event],
    client: inngest.Inngest,
    *,
    step_stubs: Mapping[str, Any] | None = None,
    invoke_stubs: Mapping[str, Any] | None = None,
    functions: Sequence[inngest.Function[Any]] = (),
    backend: str = "asyncio",
) -> Result:
    """Send ``event`` to ``fn`` and run it to its end on a virtual clock.

    ``event`` may be a list: every event is sent, and the result is that of
    the run the first one started.  ``step_stubs`` (by step id) and
    ``invoke_stubs`` (by function id) are those of :class:`TestEngine`;
    ``functions`` are other functions the run may invoke or trigger.
    """
    events = [event] if isinstance(event, inngest.Event) else list(event)
    if not events:
        msg = "trigger() needs at least one event"
        raise ValueError(msg)
    engine = TestEngine(
        client,
        [fn, *functions],
        backend=backend,
        step_stubs=step_stubs,
        invoke_stubs=invoke_stubs,
    )
    first, *_ = engine.send(events)
    engine.run_until_done(first)
    mine = [run for run in engine.runs_of(first) if run.function_id == fn.id]
    if len(mine) != 1:
        msg = f"the event started {len(mine)} runs of {fn.id}, not one"
        raise TestEngineError(msg)
    (run,) = mine
    if run.is_running:  # pragma: no cover - run_until_done ends it
        msg = f"the run {run.run_id} of {fn.id} did not end"
        raise TestEngineError(msg)
    status = Status(run.status.value)
    error = run.output if status is Status.FAILED else None
    output = run.output if status is Status.COMPLETED else None
    return Result(
        status=status,
        output=output,
        error=error if isinstance(error, dict) else None,
        run=run,
        engine=engine,
    )
