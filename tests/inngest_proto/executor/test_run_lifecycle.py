"""The run lifecycle table: every status a run takes is a move the table lists,
and every move emits what its row says.

A hypothesis state machine drives an executor with runs that complete, fail,
sleep, wait for a concurrency slot and get cancelled, on a virtual clock.
Every move the run book makes is recorded; after each step, each run's
recorded moves must chain from a status a new run starts in to the run's
current status (from the status a scheduled run starts in), so no status
changed outside the table; and the run's lifecycle actions and events, in
the order the driver got them, must be exactly its rows' ``actions`` and
``events``.
"""

from __future__ import annotations

import datetime
import itertools
import json
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import inngest_proto as inngest
from inngest_proto import OutboundResponse
from inngest_proto.executor import (
    Action,
    CallSDK,
    EmitEvent,
    Executor,
    RunFinished,
    RunStarted,
    RunStatus,
    SetTimer,
    parse_endpoint_run,
    parse_endpoint_steps,
)
from inngest_proto.executor._lifecycle import (
    FUNCTION_CANCELLED,
    FUNCTION_FAILED,
    FUNCTION_FINISHED,
    RUN_LIFECYCLE,
    InvalidTransition,
    RunInput,
    Transition,
    transition,
)
from inngest_proto.executor._runbook import Tick
from inngest_proto.executor._state import Run
from tests.inngest_proto.executor._harness import Harness

#: Every run here is made by an event, so starts as a scheduled run does.
_START = transition(None, RunInput.SCHEDULED).target


def _recording(h: Harness) -> dict[str, list[Transition]]:
    """Record every move the executor of ``h`` makes, per run."""
    moves: dict[str, list[Transition]] = {}
    move = h.executor._book.move

    def recorded(run: Run, what: RunInput) -> Transition:
        row = move(run, what)
        moves.setdefault(run.run_id, []).append(row)
        return row

    setattr(h.executor._book, "move", recorded)  # noqa: B010  (a method of the instance)
    return moves


def _recording_rows(executor: Executor) -> dict[str, list[Transition]]:
    """Record every row the run book applies to a run, the one that opens it
    first."""
    rows: dict[str, list[Transition]] = {}
    book = executor._book
    open_run, move = book.open_run, book.move

    def opened(what: RunInput, run: Run, tick: Tick) -> Transition:
        row = open_run(what, run, tick)
        rows.setdefault(run.run_id, []).append(row)
        return row

    def moved(run: Run, what: RunInput) -> Transition:
        row = move(run, what)
        rows.setdefault(run.run_id, []).append(row)
        return row

    setattr(book, "open_run", opened)  # noqa: B010  (a method of the instance)
    setattr(book, "move", moved)  # noqa: B010
    return rows


_LIFECYCLE_EVENTS = {FUNCTION_FINISHED, FUNCTION_FAILED, FUNCTION_CANCELLED}


def _check_emitted(
    executor: Executor, emitted: list[Action], rows: dict[str, list[Transition]]
) -> None:
    """Each run got exactly the actions and events its rows list, in order."""
    for run in executor.state.runs.values():
        chain = rows[run.run_id]
        actions = [
            a
            for a in emitted
            if isinstance(a, (RunStarted, RunFinished)) and a.run_id == run.run_id
        ]
        assert [type(a) for a in actions] == [k for row in chain for k in row.actions]
        for action in actions:
            if isinstance(action, RunFinished):
                assert action.status is run.status
                assert (action.output, action.error) == (run.output, run.error)
        published = [
            a.event["name"]
            for a in emitted
            if isinstance(a, EmitEvent)
            and a.event["name"] in _LIFECYCLE_EVENTS
            and a.event["data"].get("run_id") == run.run_id
        ]
        assert published == [name for row in chain for name in row.events]


def _check_chains(h: Harness, moves: dict[str, list[Transition]]) -> None:
    for run in h.executor.state.runs.values():
        chain = moves.get(run.run_id, [])
        first = chain[0].source if chain else run.status
        assert first is _START, f"run {run.run_id} began {first}"
        for before, after in itertools.pairwise(chain):
            assert before.target is after.source
        if chain:
            assert chain[-1].target is run.status, (chain, run.status)


def _serve(h: Harness) -> None:
    slow = datetime.timedelta(seconds=30)

    @h.client.create_function(
        fn_id="ok",
        trigger=inngest.TriggerEvent(event="t/ok"),
        concurrency=[inngest.Concurrency(limit=1)],
    )
    def ok(ctx: inngest.ContextSync) -> Any:
        ctx.step.run("s", lambda: None)
        ctx.step.sleep("nap", slow)
        return ctx.event.data.get("n")

    @h.client.create_function(
        fn_id="bad", trigger=inngest.TriggerEvent(event="t/bad"), retries=0
    )
    def bad(ctx: inngest.ContextSync) -> Any:
        msg = "no"
        raise ValueError(msg)

    h.serve(ok, bad)


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = Harness()
        _serve(self.h)
        self.moves = _recording(self.h)
        self.rows = _recording_rows(self.h.executor)

    @rule(name=st.sampled_from(["t/ok", "t/bad"]))
    def send(self, name: str) -> None:
        self.h.send(name, {"n": len(self.h.executor.state.runs)})

    @rule()
    def drain(self) -> None:
        self.h.drain()

    @rule()
    def advance(self) -> None:
        self.h.advance()

    @rule(pick=st.integers(0, 20))
    def cancel(self, pick: int) -> None:
        runs = list(self.h.executor.state.runs)
        if runs:
            run_id = runs[pick % len(runs)]
            self.h.apply(self.h.executor.cancel(run_id, self.h.now))

    @invariant()
    def every_status_is_reached_through_the_table(self) -> None:
        _check_chains(self.h, self.moves)

    @invariant()
    def every_move_emits_what_its_row_says(self) -> None:
        _check_emitted(self.h.executor, self.h.actions, self.rows)


Lifecycle.TestCase.settings = settings(
    max_examples=60, stateful_step_count=25, deadline=None
)
test_the_executor_moves_runs_only_as_the_table_says = Lifecycle.TestCase


def test_every_row_but_opened_is_made_by_runs_of_events() -> None:
    h = Harness()
    _serve(h)
    moves = _recording(h)
    rows = _recording_rows(h.executor)
    h.send("t/ok", {"n": 0})
    h.send("t/ok", {"n": 1})  # queued behind the first's call (limit 1)
    (queued,) = [r for r in h.executor.state.runs.values() if not r.first_call_at]
    assert queued.status is RunStatus.QUEUED
    h.apply(h.executor.cancel(queued.run_id, h.now))
    h.run()
    h.send("t/ok", {"n": 3})
    h.drain()  # sleeping now
    running = [r for r in h.executor.state.runs.values() if r.is_running]
    h.apply(h.executor.cancel(running[0].run_id, h.now))  # a running run
    h.send("t/bad")
    h.run()
    _check_chains(h, moves)
    _check_emitted(h.executor, h.actions, rows)
    made = {(row.source, row.input) for chain in moves.values() for row in chain}
    made |= {(None, RunInput.SCHEDULED)}  # every run here was scheduled
    table = {(row.source, row.input) for row in RUN_LIFECYCLE}
    opened = {
        (None, RunInput.OPENED),
        (RunStatus.RUNNING, RunInput.FIRST_CALL),
    }  # durable endpoint runs: test_an_opened_run_emits_what_its_rows_say
    assert made == table - opened


def test_an_opened_run_emits_what_its_rows_say() -> None:
    """A durable endpoint's run: opened, handed over at a sleep (its first
    call from the executor), then completed by that call's reply."""
    executor = Executor()
    rows = _recording_rows(executor)
    start = {
        "run_id": "01KAAAAAAAAAAAAAAAAAAAAAAA",
        "event": {
            "name": "inngest/http.request",
            "data": {"domain": "http://127.0.0.1:3000", "method": "GET", "path": "/"},
        },
        "steps": [],
    }
    now = 1_767_225_600.0
    emitted = executor.start_endpoint_run(
        parse_endpoint_run(json.dumps(start).encode()), now
    )
    (run_id,) = executor.state.runs
    sleep = {"id": "z", "op": "Sleep", "name": "z", "opts": {"duration": "5s"}}
    steps = parse_endpoint_steps(json.dumps({"steps": [sleep]}).encode(), run_id)
    emitted += executor.endpoint_steps(steps, now)
    (timer,) = [a for a in emitted if isinstance(a, SetTimer)]
    emitted += executor.timer_fired(timer.timer_id, now + 5)
    (call,) = [a for a in emitted if isinstance(a, CallSDK)]
    done = {"id": "c", "op": "RunComplete", "data": {"status": 200, "body": "ok"}}
    reply = OutboundResponse(
        206, [("x-inngest-sdk", "js:v4")], json.dumps(done).encode()
    )
    emitted += executor.call_finished(run_id, call.request_id, reply, now + 6)
    assert [(row.source, row.input) for row in rows[run_id]] == [
        (None, RunInput.OPENED),
        (RunStatus.RUNNING, RunInput.FIRST_CALL),
        (RunStatus.RUNNING, RunInput.RETURNED),
    ]
    _check_emitted(executor, emitted, rows)


def test_a_move_the_table_does_not_list_is_refused() -> None:
    with pytest.raises(InvalidTransition, match="'first_call' on a Completed run"):
        transition(RunStatus.COMPLETED, RunInput.FIRST_CALL)
    with pytest.raises(InvalidTransition, match="'returned' on a new run"):
        transition(None, RunInput.RETURNED)


def test_the_table_has_one_row_per_status_and_input() -> None:
    keys = [(row.source, row.input) for row in RUN_LIFECYCLE]
    assert len(keys) == len(set(keys))
    # No move leaves a final status.
    finals = {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED}
    assert not [row for row in RUN_LIFECYCLE if row.source in finals]
