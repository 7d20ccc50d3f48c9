"""``inngest_proto.experimental``: the ``step`` decorator and the step context."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._engine import FunctionReturned, StepsReported
from inngest_proto._opcodes import Opcode
from inngest_proto._step_ids import hash_step_id
from inngest_proto.experimental import get_step_context, set_step_context, step
from tests.inngest_proto._calls import call_request, dev_client, run

TRIGGER = inngest.TriggerEvent(event="test/event")
H_GREET = hash_step_id("greet")


class FakeStep:
    """A step API that records ``run`` calls and runs the handler."""

    def __init__(self) -> None:
        self.runs: list[str] = []

    def run(self, step_id: str, handler: Any, *args: Any) -> Any:
        self.runs.append(step_id)
        return handler(*args)


# --- the context outside any function -------------------------------------------


def test_there_is_no_step_context_outside_a_function() -> None:
    with pytest.raises(LookupError):
        get_step_context()


def test_set_step_context_sets_it_for_the_block_only() -> None:
    fake = FakeStep()
    with set_step_context(fake):  # type: ignore[arg-type]
        assert get_step_context() is fake  # type: ignore[comparison-overlap]
    with pytest.raises(LookupError):
        get_step_context()


def test_set_step_context_refuses_to_nest() -> None:
    with set_step_context(FakeStep()):  # type: ignore[arg-type]
        inner = set_step_context(FakeStep())  # type: ignore[arg-type]
        with pytest.raises(RuntimeError, match="Step context already set"):
            inner.__enter__()
        assert isinstance(get_step_context(), FakeStep)


def test_set_step_context_without_with_sets_nothing() -> None:
    set_step_context(FakeStep())  # type: ignore[arg-type]
    with pytest.raises(LookupError):
        get_step_context()


def test_another_thread_does_not_see_the_context() -> None:
    seen: list[BaseException] = []

    def look() -> None:
        try:
            get_step_context()
        except LookupError as e:
            seen.append(e)

    with set_step_context(FakeStep()):  # type: ignore[arg-type]
        thread = threading.Thread(target=look)
        thread.start()
        thread.join()
    assert len(seen) == 1


# --- the decorator ---------------------------------------------------------------


@step("greet")
def greet(name: str, *, punctuation: str = "!") -> str:
    return f"Hello {name}{punctuation}"


@step("greet")
async def greet_async(name: str) -> str:
    return f"Hello {name}"


def test_outside_a_function_the_decorated_function_just_runs() -> None:
    assert greet("Alice") == "Hello Alice!"
    assert greet.__name__ == "greet"


@pytest.mark.anyio
async def test_outside_a_function_an_async_one_is_awaited_as_usual() -> None:
    assert await greet_async("Alice") == "Hello Alice"


def test_with_a_step_context_the_call_is_a_step_run() -> None:
    fake = FakeStep()
    with set_step_context(fake):  # type: ignore[arg-type]
        assert greet("Bob", punctuation="?") == "Hello Bob?"
    assert fake.runs == ["greet"]


def _greeting(client: inngest.Inngest, kind: str) -> inngest.Function[Any]:
    if kind == "async":

        @client.create_function(fn_id="hello", trigger=TRIGGER)
        async def fn_async(ctx: inngest.Context) -> Any:
            return await greet_async(ctx.event.data["name"])

        return fn_async

    @client.create_function(fn_id="hello", trigger=TRIGGER)
    def fn_sync(ctx: inngest.ContextSync) -> Any:
        assert get_step_context() is ctx.step
        return greet(ctx.event.data["name"])

    return fn_sync


EVENT = {"name": "test/event", "data": {"name": "Ann"}, "id": "e", "ts": 1}


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_inside_a_function_the_call_runs_as_a_step(kind: str) -> None:
    client = dev_client()
    out = run(client, _greeting(client, kind), call_request(event=EVENT))
    assert isinstance(out, StepsReported)
    (op,) = out.ops
    assert (op.op, op.id) == (Opcode.STEP_RUN, H_GREET)
    expected = "Hello Ann" if kind == "async" else "Hello Ann!"
    assert op.data == expected


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_on_replay_the_step_returns_its_memo(kind: str) -> None:
    client = dev_client()
    request = call_request({H_GREET: {"data": "memoized"}}, event=EVENT)
    out = run(client, _greeting(client, kind), request)
    assert out == FunctionReturned("memoized")


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_the_context_ends_with_the_call(kind: str) -> None:
    client = dev_client()
    run(client, _greeting(client, kind), call_request(event=EVENT))
    with pytest.raises(LookupError):
        get_step_context()
