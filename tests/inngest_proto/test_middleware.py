"""What middleware receives behaves like the official SDK's values."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._engine import StepsReported
from inngest_proto._middleware import MiddlewareManager
from tests.inngest_proto._calls import call_request, dev_client, run

TRIGGER = inngest.TriggerEvent(event="test/event")


class _Seen:
    contexts: list[Any]
    results: list[inngest.TransformOutputResult]

    def __init__(self) -> None:
        self.contexts = []
        self.results = []

    def middleware(self) -> type[inngest.MiddlewareSync]:
        seen = self

        class Inspecting(inngest.MiddlewareSync):
            def transform_input(
                self,
                ctx: inngest.Context | inngest.ContextSync,
                function: inngest.Function[Any],
                steps: Any,
            ) -> None:
                seen.contexts.append(ctx)

            def transform_output(self, result: inngest.TransformOutputResult) -> None:
                seen.results.append(result)

        return Inspecting


def _one_step(client: inngest.Inngest, kind: str) -> inngest.Function[Any]:
    if kind == "async":

        @client.create_function(fn_id="one", trigger=TRIGGER)
        async def fn_async(ctx: inngest.Context) -> None:
            await ctx.step.run("first", lambda: {"n": 1})

        return fn_async

    @client.create_function(fn_id="one", trigger=TRIGGER)
    def fn_sync(ctx: inngest.ContextSync) -> None:
        ctx.step.run("first", lambda: {"n": 1})

    return fn_sync


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_transform_output_result_is_a_dataclass_like_the_official(kind: str) -> None:
    seen = _Seen()
    client = dev_client()
    fn = _one_step(client, kind)
    mw = MiddlewareManager.create([seen.middleware()], client, None)
    assert isinstance(run(client, fn, call_request(), mw=mw), StepsReported)
    [result] = seen.results
    # Official middleware inspects these as dataclasses.
    assert dataclasses.is_dataclass(result)
    assert vars(result)["output"] == {"n": 1}
    assert dataclasses.asdict(result) == {
        "error": None,
        "output": {"n": 1},
        "step": {"id": "first", "op": inngest.Opcode.STEP_RUN, "opts": None},
    }
    assert result.step is not None
    # The official op is an enum: ``.value`` is the wire name.
    assert result.step.op.value == "StepRun"
    assert result.step.op == "StepRun"
    result.step.opts = {"changed": True}  # allowed (and discarded) there too


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_the_context_is_a_dataclass_like_the_official(kind: str) -> None:
    seen = _Seen()
    client = dev_client()
    fn = _one_step(client, kind)
    mw = MiddlewareManager.create([seen.middleware()], client, None)
    run(client, fn, call_request(), mw=mw)
    [ctx] = seen.contexts
    assert dataclasses.is_dataclass(ctx)
    fields = vars(ctx)
    assert fields["run_id"] == "run-1"
    assert fields["attempt"] == 0
    assert {f.name for f in dataclasses.fields(ctx)} >= {
        "attempt",
        "event",
        "events",
        "group",
        "job_id",
        "logger",
        "request_id",
        "run_id",
        "step",
    }
