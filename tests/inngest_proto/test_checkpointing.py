"""Checkpointing: consecutive steps run in one call and are saved in batches."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._errors import TransportError
from inngest_proto._http_values import OutboundRequest, OutboundResponse
from inngest_proto._step_ids import hash_step_id
from inngest_proto.executor import RunStatus
from inngest_transports.testing import TestEngine

TRIGGER = inngest.TriggerEvent(event="t/go")


@dataclasses.dataclass(frozen=True)
class Total:
    n: int


def make_client(checkpointing: Any = True) -> inngest.Inngest:
    return inngest.Inngest(
        app_id="ckpt", environ={"INNGEST_DEV": "1"}, checkpointing=checkpointing
    )


def steps_function(client: inngest.Inngest, count: int) -> inngest.Function[Any]:
    @client.create_function(fn_id="many", trigger=TRIGGER)
    def many(ctx: inngest.ContextSync) -> int:
        total = Total(0)
        for i in range(count):

            def add(i: int = i, total: Total = total) -> Total:
                return Total(total.n + i)

            total = ctx.step.run(f"add-{i}", add)
            assert isinstance(total, Total)  # the typed value, as on replay
        return total.n

    return many


def test_a_run_of_many_steps_takes_one_call_and_one_checkpoint() -> None:
    client = make_client()
    engine = TestEngine(client, [steps_function(client, 50)])
    (event_id,) = engine.send("t/go")
    assert engine.output(event_id) == sum(range(50))
    run = engine.run_of(event_id)
    assert len(engine.exchanges_of(run.run_id)) == 1
    (checkpoint,) = engine.checkpoints
    assert [op.id for op in checkpoint.ops] == [
        hash_step_id(f"add-{i}") for i in range(50)
    ]
    assert run.steps[hash_step_id("add-49")] == {"data": {"n": sum(range(50))}}


def test_without_the_option_every_step_is_a_call() -> None:
    client = make_client(checkpointing=False)
    engine = TestEngine(client, [steps_function(client, 5)])
    (event_id,) = engine.send("t/go")
    assert engine.output(event_id) == 10
    assert len(engine.exchanges) == 6
    assert engine.checkpoints == []


def test_max_steps_ends_the_call_and_the_next_call_goes_on() -> None:
    client = make_client(inngest.Checkpointing(max_steps=4))
    engine = TestEngine(client, [steps_function(client, 10)])
    (event_id,) = engine.send("t/go")
    assert engine.output(event_id) == 45
    calls = engine.exchanges
    # 4 steps checkpointed, the 5th reported as the call's answer; twice; then 0.
    assert [c.status for c in calls] == [206, 206, 200]
    assert [len(c.ops) for c in engine.checkpoints] == [4, 4]
    assert [op["displayName"] for op in calls[0].response] == ["add-4"]


def test_flush_every_saves_while_the_call_goes_on() -> None:
    client = make_client(inngest.Checkpointing(flush_every=3))
    engine = TestEngine(client, [steps_function(client, 7)])
    (event_id,) = engine.send("t/go")
    assert engine.output(event_id) == 21
    assert [len(c.ops) for c in engine.checkpoints] == [3, 3, 1]
    assert len(engine.exchanges) == 1


def test_max_runtime_is_read_from_the_transport_clock() -> None:
    client = make_client(
        inngest.Checkpointing(max_runtime=datetime.timedelta(seconds=30))
    )
    calls: list[int] = []

    @client.create_function(fn_id="slow", trigger=TRIGGER)
    def slow(ctx: inngest.ContextSync) -> int:
        for i in range(5):

            def tick(i: int = i) -> int:
                engine.now += 20  # each step takes 20 s of virtual time
                calls.append(i)
                return i

            ctx.step.run(f"s-{i}", tick)
        return len(calls)

    engine = TestEngine(client, [slow])
    (event_id,) = engine.send("t/go")
    assert engine.output(event_id) == 5
    # Two steps fit in 30 s (the second starts at 20 s); the call then ends.
    assert [c.status for c in engine.exchanges] == [206, 206, 200]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_functions_checkpoint_and_then_sleep(backend: str) -> None:
    client = make_client()

    @client.create_function(fn_id="mix", trigger=TRIGGER)
    async def mix(ctx: inngest.Context) -> list[str]:
        a = await ctx.step.run("a", lambda: "A")
        b = await ctx.step.run("b", lambda: "B")
        await ctx.step.sleep("nap", 60_000)
        c = await ctx.step.run("c", lambda: "C")
        return [a, b, c]

    engine = TestEngine(client, [mix], backend=backend)
    (event_id,) = engine.send("t/go")
    engine.run()
    assert engine.output(event_id) == ["A", "B", "C"]
    calls = engine.exchanges
    assert [c.status for c in calls] == [206, 200]
    assert [op["op"] for op in calls[0].response] == ["Sleep"]
    assert [[op.id for op in c.ops] for c in engine.checkpoints] == [
        [hash_step_id("a"), hash_step_id("b")],
        [hash_step_id("c")],
    ]


def test_a_step_error_is_reported_after_the_steps_before_it_are_saved() -> None:
    client = make_client()

    @client.create_function(fn_id="err", trigger=TRIGGER, retries=1)
    def err(ctx: inngest.ContextSync) -> str:
        ctx.step.run("ok", lambda: 1)

        def boom() -> None:
            raise ValueError("nope")

        ctx.step.run("boom", boom)
        return "unreached"

    engine = TestEngine(client, [err])
    (event_id,) = engine.send("t/go")
    engine.run()
    run = engine.run_of(event_id)
    assert run.status is RunStatus.FAILED
    assert [[op.id for op in c.ops] for c in engine.checkpoints] == [
        [hash_step_id("ok")]
    ]
    # The step that ran before the error did not run again on the retry.
    assert all(hash_step_id("ok") in c.request["steps"] for c in engine.exchanges[1:])


class _Refusing:
    """A transport whose checkpoint API fails: the call must still be right.

    ``status`` is what the API answers; ``None`` means it cannot be reached.
    """

    def __init__(self, status: int | None) -> None:
        self.status = status
        self.seen: list[OutboundRequest] = []

    async def request(self, req: OutboundRequest) -> OutboundResponse:
        return self.request_sync(req)

    def request_sync(self, req: OutboundRequest) -> OutboundResponse:
        self.seen.append(req)
        if self.status is None:
            raise TransportError(
                "connection refused",
                url=req.url,
                method=req.method,
                attempts=3,
                last_error=ConnectionRefusedError(),
            )
        return OutboundResponse(self.status, {}, b'{"error":"no"}')

    def now(self) -> float:
        return 0.0

    def random_bytes(self, n: int) -> bytes:
        return bytes(n)


@pytest.mark.parametrize("status", [400, None])
@pytest.mark.parametrize("is_async", [True, False])
def test_a_failed_checkpoint_answers_with_the_first_unsaved_step(
    is_async: bool, status: int | None
) -> None:
    transport = _Refusing(status)
    client = inngest.Inngest(
        app_id="ckpt",
        environ={"INNGEST_DEV": "1"},
        checkpointing=True,
        transport=transport,
    )
    if is_async:

        @client.create_function(fn_id="f", trigger=TRIGGER)
        async def fn(ctx: inngest.Context) -> str:
            await ctx.step.run("one", lambda: 1)
            await ctx.step.run("two", lambda: 2)
            return "done"

    else:

        @client.create_function(fn_id="f", trigger=TRIGGER)
        def fn(ctx: inngest.ContextSync) -> str:
            ctx.step.run("one", lambda: 1)
            ctx.step.run("two", lambda: 2)
            return "done"

    handler = inngest.CommHandler(client=client, functions=[fn], framework="t")
    body = json.dumps(
        {
            "ctx": {"run_id": "01HZZZZZZZZZZZZZZZZZZZZZZZ", "attempt": 0, "qi_id": "q"},
            "event": {"name": "t/go", "data": {}},
            "events": [{"name": "t/go", "data": {}}],
            "steps": {},
            "version": 2,
        }
    ).encode()
    request = inngest.IncomingRequest(
        method="POST",
        url="http://app/api/inngest?fnId=ckpt-f&stepId=step",
        headers={"content-type": "application/json"},
        body=body,
        query={"fnId": "ckpt-f", "stepId": "step"},
    )
    if is_async:
        import asyncio  # noqa: PLC0415

        response = asyncio.run(handler.handle(request, now=0.0))
    else:
        response = handler.handle_sync(request, now=0.0)
    assert response.status == 206
    (op,) = json.loads(response.body)
    assert (op["displayName"], op["op"], op["data"]) == ("one", "StepRun", 1)
    (sent,) = transport.seen
    assert sent.url.endswith("/v1/checkpoint/01HZZZZZZZZZZZZZZZZZZZZZZZ/async")
    assert [s["displayName"] for s in json.loads(sent.body)["steps"]] == ["one", "two"]


def test_a_targeted_or_planning_call_does_not_checkpoint() -> None:
    client = make_client()

    @client.create_function(fn_id="par", trigger=TRIGGER)
    def par(ctx: inngest.ContextSync) -> tuple[Any, ...]:
        return ctx.group.parallel(
            (lambda: ctx.step.run("x", lambda: 1), lambda: ctx.step.run("y", lambda: 2))
        )

    engine = TestEngine(client, [par])
    (event_id,) = engine.send("t/go")
    engine.run()
    assert engine.output(event_id) == [1, 2]
    assert engine.checkpoints == []  # parallel steps are planned, then targeted


@pytest.mark.parametrize("value", ["yes", inngest.Checkpointing, 3])
def test_bad_options_are_refused(value: Any) -> None:
    with pytest.raises(inngest.LocalProtocolError, match="checkpointing"):
        make_client(value)


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_steps"):
        inngest.Checkpointing(max_steps=0)
    with pytest.raises(ValueError, match="max_runtime"):
        inngest.Checkpointing(max_runtime=datetime.timedelta(0))
    with pytest.raises(ValueError, match="flush_every"):
        inngest.Checkpointing(flush_every=-1)
