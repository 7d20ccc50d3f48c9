"""``step.ai.wrap``: the app's own model call as a memoized step."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import inngest_proto as inngest
from inngest_proto._engine import FunctionFailed, FunctionReturned, StepsReported
from inngest_proto._function import run_handler
from inngest_proto._middleware import MiddlewareManager
from inngest_proto._opcodes import Opcode
from inngest_proto._step_ids import hash_step_id
from inngest_proto.experimental.ai import to_jsonable
from tests.inngest_proto._calls import NOW, call_request, dev_client, run

TRIGGER = inngest.TriggerEvent(event="test/event")
H_ASK = hash_step_id("ask")
KINDS = ["async", "sync"]


class Completion:
    """Stands in for a provider SDK's pydantic model (duck typed: model_dump)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]:
        assert mode == "json"  # JSON mode: nested values are JSON already
        return {"choices": [{"message": {"content": self.text}}]}


class FakeClient:
    """A provider client whose ``create`` records how it was called."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def create(self, *args: Any, **kwargs: Any) -> Completion:
        self.calls.append((args, kwargs))
        return Completion(f"answer to {kwargs['messages'][-1]['content']}")

    async def acreate(self, *args: Any, **kwargs: Any) -> Completion:
        return self.create(*args, **kwargs)


MESSAGES = [{"role": "user", "content": "hi"}]
WRAP_OPTS = {
    "type": "step.ai.wrap",
    "input": [{"model": "gpt-test", "messages": MESSAGES}],
}


def asking(
    client: inngest.Inngest, kind: str, provider: FakeClient, method: str = "create"
) -> inngest.Function[Any]:
    """Asks once via step.ai.wrap; returns the memoized (dumped) completion."""
    if kind == "async":

        @client.create_function(fn_id="ask", trigger=TRIGGER)
        async def fn_async(ctx: inngest.Context) -> Any:
            call = getattr(provider, method)
            return await ctx.step.ai.wrap(
                "ask", call, model="gpt-test", messages=MESSAGES
            )

        return fn_async

    @client.create_function(fn_id="ask", trigger=TRIGGER)
    def fn_sync(ctx: inngest.ContextSync) -> Any:
        return ctx.step.ai.wrap(
            "ask", provider.create, model="gpt-test", messages=MESSAGES
        )

    return fn_sync


DUMPED = {"choices": [{"message": {"content": "answer to hi"}}]}


@pytest.mark.parametrize(
    ("kind", "method"), [("async", "create"), ("async", "acreate"), ("sync", "create")]
)
def test_wrap_runs_the_call_and_reports_its_dumped_output_with_its_input(
    kind: str, method: str
) -> None:
    client, provider = dev_client(), FakeClient()
    out = run(client, asking(client, kind, provider, method), call_request())
    assert isinstance(out, StepsReported)
    (op,) = out.ops
    assert op.op is Opcode.STEP_RUN
    assert op.id == H_ASK
    assert op.data == DUMPED
    assert op.opts == WRAP_OPTS
    assert provider.calls == [((), {"model": "gpt-test", "messages": MESSAGES})]


@pytest.mark.parametrize("kind", KINDS)
def test_replay_returns_the_memo_without_calling_again(kind: str) -> None:
    client, provider = dev_client(), FakeClient()
    memo = {H_ASK: {"data": {"stored": True}}}
    out = run(client, asking(client, kind, provider), call_request(memo))
    assert out == FunctionReturned({"stored": True})
    assert provider.calls == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_planned_wrap_carries_its_opts(kind: str) -> None:
    client, provider = dev_client(), FakeClient()
    fn = asking(client, kind, provider)
    out = run(client, fn, call_request(disable_immediate_execution=True))
    assert isinstance(out, StepsReported)
    (op,) = out.ops
    assert (op.op, op.opts) == (Opcode.STEP_PLANNED, WRAP_OPTS)
    assert provider.calls == []


@pytest.mark.parametrize(
    ("attempt", "expected"), [(0, Opcode.STEP_ERROR), (3, Opcode.STEP_FAILED)]
)
@pytest.mark.parametrize("kind", KINDS)
def test_a_failing_call_is_a_step_error_with_its_opts(
    kind: str, attempt: int, expected: Opcode
) -> None:
    client = dev_client()

    def broken(**kwargs: Any) -> Any:
        raise ConnectionError("provider down")

    if kind == "async":

        @client.create_function(fn_id="f", trigger=TRIGGER)
        async def fn_async(ctx: inngest.Context) -> Any:
            return await ctx.step.ai.wrap("ask", broken, prompt="p")

        fn: inngest.Function[Any] = fn_async
    else:

        @client.create_function(fn_id="f", trigger=TRIGGER)
        def fn_sync(ctx: inngest.ContextSync) -> Any:
            return ctx.step.ai.wrap("ask", broken, prompt="p")

        fn = fn_sync
    out = run(client, fn, call_request(attempt=attempt, max_attempts=4))
    assert isinstance(out, StepsReported)
    (op,) = out.ops
    assert op.op is expected
    assert op.error is not None
    assert op.error["name"] == "ConnectionError"
    assert op.opts == {"type": "step.ai.wrap", "input": [{"prompt": "p"}]}


def test_inputs_that_are_not_json_are_recorded_by_repr() -> None:
    client = dev_client()

    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque>"

    @client.create_function(fn_id="f", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> Any:
        return ctx.step.ai.wrap(
            "ask", lambda *a, **k: "ok", Opaque(), (1, Completion("x")), key=Opaque()
        )

    out = run(client, fn, call_request())
    assert isinstance(out, StepsReported)
    (op,) = out.ops
    assert op.data == "ok"
    assert op.opts == {
        "type": "step.ai.wrap",
        "input": [
            "<Opaque>",
            [1, {"choices": [{"message": {"content": "x"}}]}],
            {"key": "<Opaque>"},
        ],
    }


def test_keyword_arguments_named_like_wrap_parameters_reach_the_call() -> None:
    client = dev_client()
    seen: list[dict[str, Any]] = []

    def call(**kwargs: Any) -> str:
        seen.append(kwargs)
        return "ok"

    @client.create_function(fn_id="f", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> Any:
        return ctx.step.ai.wrap("ask", call, step_id="s", fn="f")

    run(client, fn, call_request())
    assert seen == [{"step_id": "s", "fn": "f"}]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_wrap_arguments_fail_the_function_clearly(kind: str) -> None:
    client = dev_client()
    if kind == "async":

        @client.create_function(fn_id="f", trigger=TRIGGER)
        async def fn_async(ctx: inngest.Context) -> Any:
            return await ctx.step.ai.wrap("ask", "not callable")  # type: ignore[arg-type]

        fn: inngest.Function[Any] = fn_async
    else:

        @client.create_function(fn_id="f", trigger=TRIGGER)
        def fn_sync(ctx: inngest.ContextSync) -> Any:
            return ctx.step.ai.wrap("ask", "not callable")  # type: ignore[arg-type]

        fn = fn_sync
    out = run(client, fn, call_request())
    assert isinstance(out, FunctionFailed)
    assert "needs a callable fn, got str" in out.body["message"]


def test_a_sync_wrap_of_a_coroutine_function_is_refused() -> None:
    client = dev_client()

    async def acall() -> str:
        return "never"

    @client.create_function(fn_id="f", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> Any:
        return ctx.step.ai.wrap("ask", acall)

    out = run(client, fn, call_request())
    assert isinstance(out, FunctionFailed)
    assert "got an async fn in a sync function" in out.body["message"]

    def make() -> Any:
        return acall()

    @client.create_function(fn_id="g", trigger=TRIGGER)
    def returns_awaitable(ctx: inngest.ContextSync) -> Any:
        return ctx.step.ai.wrap("ask", make)

    # Not detectable up front: run() refuses the awaitable (and closes it, so
    # no "never awaited" warning fails the test).
    out = run(client, returns_awaitable, call_request())
    assert isinstance(out, FunctionFailed)
    assert "awaitable in a sync function" in out.body["message"]


@pytest.mark.anyio
async def test_an_async_call_that_really_awaits_runs_on_the_event_loop() -> None:
    client = dev_client()

    async def slow_create(**kwargs: Any) -> Completion:
        await anyio.sleep(0)  # a real suspension: needs asyncio or trio
        return Completion(kwargs["prompt"])

    @client.create_function(fn_id="f", trigger=TRIGGER)
    async def fn(ctx: inngest.Context) -> Any:
        return await ctx.step.ai.wrap("ask", slow_create, prompt="hey")

    request = call_request()
    out = await run_handler(
        fn,
        next(iter(fn.handlers().values())),
        request,
        client=client,
        mw=MiddlewareManager(()),
        target=None,
        now=NOW,
        memos=request.steps,
    )
    assert isinstance(out, StepsReported)
    (op,) = out.ops
    assert op.data == {"choices": [{"message": {"content": "hey"}}]}


def test_to_jsonable_dumps_models_inside_containers_and_leaves_the_rest() -> None:
    value = {"a": (Completion("x"), 2), "b": None, "c": {"d": [Completion("y")]}}
    assert to_jsonable(value) == {
        "a": [DUMPED | {"choices": [{"message": {"content": "x"}}]}, 2],
        "b": None,
        "c": {"d": [{"choices": [{"message": {"content": "y"}}]}]},
    }
    assert to_jsonable(Completion) is Completion  # a class is not a model instance
    marker = object()
    assert to_jsonable(marker) is marker
