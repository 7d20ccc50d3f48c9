"""Random step programs always complete with the outputs their steps produced."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import inngest_proto as inngest
from inngest_proto.executor import RunStatus
from tests.inngest_proto.executor._harness import Harness

#: (kind, user step id, value, whether a wait gets its event).
Program = list[tuple[str, str, int, bool]]

PROGRAMS = st.lists(
    st.tuples(
        st.sampled_from(["run", "sleep", "wait", "invoke", "parallel"]),
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, 99),
        st.booleans(),
    ),
    max_size=10,
)


def parallel_pair(
    ctx: inngest.ContextSync, step_id: str, value: int
) -> tuple[Callable[[], int], Callable[[], int]]:
    """Two steps for ``group.parallel``: ``value`` and ``-value``."""
    return (
        lambda: ctx.step.run(step_id, lambda: value),
        lambda: ctx.step.run(step_id + "-2", lambda: -value),
    )


def build(h: Harness, program: Program) -> list[inngest.Function[Any]]:
    @h.client.create_function(fn_id="child", trigger=inngest.TriggerEvent(event="t/x"))
    def child(ctx: inngest.ContextSync) -> Any:
        return ctx.event.data["v"]

    @h.client.create_function(fn_id="prog", trigger=inngest.TriggerEvent(event="t/go"))
    def prog(ctx: inngest.ContextSync) -> list[Any]:
        out: list[Any] = []
        for kind, step_id, value, _ in program:
            if kind == "run":
                out.append(ctx.step.run(step_id, lambda v: v, value))
            elif kind == "sleep":
                ctx.step.sleep(step_id, 1000)
                out.append(None)
            elif kind == "wait":
                found = ctx.step.wait_for_event(
                    step_id,
                    event="t/answer",
                    if_exp=f"async.data.v == {value}",
                    timeout=60_000,
                )
                out.append(None if found is None else found.data["v"])
            elif kind == "invoke":
                out.append(ctx.step.invoke(step_id, function=child, data={"v": value}))
            else:
                pair = ctx.group.parallel(parallel_pair(ctx, step_id, value))
                out.append(list(pair))
        return out

    return [prog, child]


def expected(program: Program) -> list[Any]:
    out: list[Any] = []
    for kind, _, value, answered in program:
        if kind in {"run", "invoke"}:
            out.append(value)
        elif kind == "sleep":
            out.append(None)
        elif kind == "wait":
            out.append(value if answered else None)
        else:
            out.append([value, -value])
    return out


@settings(max_examples=40, deadline=None)
@given(program=PROGRAMS)
def test_random_programs_complete_with_their_steps_outputs(program: Program) -> None:
    h = Harness()
    h.serve(*build(h, program))
    h.send("t/go")
    answered = [(value, answer) for kind, _, value, answer in program if kind == "wait"]
    run = h.only_run("prog")
    for _ in range(200):
        h.drain()
        if run.waits:
            # Answer the wait in program order, or let it time out.
            value, answer = answered.pop(0)
            if answer:
                h.send("t/answer", {"v": value - 1})  # the condition rejects it
                h.send("t/answer", {"v": value})
                continue
        if not h.advance():
            break
    assert run.status is RunStatus.COMPLETED, run
    assert run.output == expected(program)
    assert not h.executor.state.timers or all(
        t.run_id != run.run_id for t in h.executor.state.timers.values()
    )
