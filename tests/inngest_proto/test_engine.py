"""Engine properties: replay against a simulated executor, memo shapes, middleware
order, and no per-request reference cycles."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import inngest_proto as inngest
from inngest_proto._engine import Execution, FunctionReturned, StepsReported
from inngest_proto._errors import StepError
from inngest_proto._middleware import HOOKS, MiddlewareManager
from inngest_proto._opcodes import MISSING, Opcode, unwrap_memo
from inngest_proto._step_ids import hash_step_id
from tests.inngest_proto._calls import NOW, call_request, dev_client, run

TRIGGER = inngest.TriggerEvent(event="test/event")

# --- memo shapes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("memo", "value"),
    [
        ({"data": 1}, 1),
        ({"data": None}, None),
        ({"data": {"data": 2}}, {"data": 2}),
        (None, None),
        ({}, None),
        ({"data": 3, "error": None}, 3),
        ({"id": "e", "name": "n", "data": {}}, {"id": "e", "name": "n", "data": {}}),
        ({"error": "not an error object"}, {"error": "not an error object"}),
        ({"error": {"name": "E"}}, {"error": {"name": "E"}}),
        ({"input": [1]}, {"input": [1]}),
        ([1, 2], [1, 2]),
        ("text", "text"),
    ],
)
def test_memo_unwrapping(memo: Any, value: Any) -> None:
    assert unwrap_memo(memo) == value


def test_error_memo_raises_step_error_with_the_original_error() -> None:
    with pytest.raises(StepError) as caught:
        unwrap_memo(
            {"error": {"name": "E", "message": "m", "stack": "s", "noRetry": True}}
        )
    # Extra keys the server adds are ignored; the envelope had only "error".
    assert (caught.value.name, caught.value.message, caught.value.stack) == (
        "E",
        "m",
        "s",
    )


def _execution(steps: dict[str, Any] | None = None) -> Execution:
    return Execution(call_request(steps), target=None, now=NOW)


def test_replay_follows_the_official_repeat_rule() -> None:
    exe = _execution()
    ids = [exe.replay(i)[0] for i in ["a", "b", "a", "a"]]
    assert [(i.user_id, i.repeat) for i in ids] == [
        ("a", None),
        ("b", None),
        ("a", 1),
        ("a", 2),
    ]
    assert [i.hashed for i in ids] == [
        hash_step_id(i) for i in ["a", "b", "a:1", "a:2"]
    ]
    assert hash_step_id("my-step-id:2") == "5fdb32cd3e6e3d62fa480ac2ad526b79c2682845"
    assert hash_step_id("étape 1") == "1ca5726502cded1ab3439bdc56332c7d440d9358"


def test_a_repeated_id_finds_its_own_memo() -> None:
    exe = _execution({hash_step_id("a"): {"data": 1}, hash_step_id("a:1"): {"data": 2}})
    assert [exe.replay("a")[1] for _ in range(3)] == [1, 2, MISSING]


@pytest.mark.parametrize("bad", ["", 5, None, ["a"], b"a"])
def test_a_step_id_must_be_a_non_empty_string(bad: Any) -> None:
    with pytest.raises(TypeError, match="a step id must be a non-empty string"):
        _execution().replay(bad)


@pytest.mark.parametrize(
    "memo",
    [
        {"data": 1},
        {"data": {"data": 2}},
        None,
        {},
        {"data": 3, "error": None},
        {"id": "e", "name": "n", "data": {}},
        {"error": "not an error object"},
        {"input": [1]},
        [1, 2],
    ],
)
def test_replay_unwraps_memos_as_unwrap_memo_does(memo: Any) -> None:
    _, value = _execution({hash_step_id("s"): memo}).replay("s")
    assert value == unwrap_memo(memo)


# --- replay against a simulated executor -------------------------------------------

STEP_KINDS = st.sampled_from(["run", "sleep", "wait", "invoke"])
PROGRAMS = st.lists(
    st.tuples(STEP_KINDS, st.sampled_from(["a", "b", "c"]), st.integers(0, 99)),
    max_size=12,
)


def program_fn(client: inngest.Inngest, program: list[tuple[str, str, int]]) -> Any:
    @client.create_function(fn_id="prog", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> list[Any]:
        out: list[Any] = []
        for kind, step_id, value in program:
            if kind == "run":
                out.append(ctx.step.run(step_id, lambda v: v, value))
            elif kind == "sleep":
                ctx.step.sleep(step_id, 1000)
                out.append(None)
            elif kind == "wait":
                evt = ctx.step.wait_for_event(step_id, event="e", timeout=1000)
                out.append(None if evt is None else evt.data["v"])
            else:
                out.append(ctx.step.invoke_by_id(step_id, function_id="f"))
        return out

    return fn


@settings(max_examples=60, deadline=None)
@given(program=PROGRAMS, planned=st.booleans())
def test_replay_reaches_the_end_with_one_new_step_per_call(
    program: list[tuple[str, str, int]], planned: bool
) -> None:
    """Play executor: store each reported step's result, call again, repeat.

    Every call reports exactly one new step (none twice), and the final call
    returns what the steps produced, whatever ids repeat.
    """
    client = dev_client()
    fn = program_fn(client, program)
    memos: dict[str, Any] = {}
    expected: list[Any] = []
    calls = 0
    while True:
        calls += 1
        assert calls <= len(program) * 2 + 1
        out = run(client, fn, call_request(memos, disable_immediate_execution=planned))
        if isinstance(out, FunctionReturned):
            break
        assert isinstance(out, StepsReported)
        (op,) = out.ops
        assert op.id not in memos
        kind, _, value = program[len(memos)]
        if op.op is Opcode.STEP_PLANNED:
            assert planned
            assert kind == "run"
            out = run(client, fn, call_request(memos), target=op.id)
            assert isinstance(out, StepsReported)
            (op,) = out.ops
        if op.op is Opcode.STEP_RUN:
            memos[op.id] = {"data": op.data}
            expected.append(value)
        elif op.op is Opcode.WAIT_FOR_EVENT:
            memos[op.id] = {"name": "e", "data": {"v": value}, "id": "x", "ts": 1}
            expected.append(value)
        elif op.op is Opcode.INVOKE:
            memos[op.id] = {"data": value}
            expected.append(value)
        else:
            memos[op.id] = None
            expected.append(None)
    assert out == FunctionReturned(expected)
    assert len(memos) == len(program)


# --- middleware ---------------------------------------------------------------------


def recording_middleware(log: list[str], *, is_async: bool) -> Any:
    def make_hook(name: str) -> Any:
        if is_async:

            async def hook_async(self: object, *args: object) -> None:
                log.append(name)

            return hook_async

        def hook(self: object, *args: object) -> None:
            log.append(name)

        return hook

    base: type = inngest.Middleware if is_async else inngest.MiddlewareSync
    return type("Recorder", (base,), {name: make_hook(name) for name in HOOKS})


def test_both_middleware_bases_define_every_hook() -> None:
    for base in (inngest.Middleware, inngest.MiddlewareSync):
        assert all(callable(getattr(base, name)) for name in HOOKS)


@pytest.mark.parametrize("is_async", [True, False])
def test_middleware_hooks_run_in_the_spec_order(is_async: bool) -> None:
    log: list[str] = []
    client = dev_client()
    mw_class = recording_middleware(log, is_async=is_async)

    if is_async:

        @client.create_function(fn_id="two", trigger=TRIGGER)
        async def fn(ctx: inngest.Context) -> str:
            a = await ctx.step.run("first", lambda: "A")
            return a + await ctx.step.run("second", lambda: "B")

    else:

        @client.create_function(fn_id="two", trigger=TRIGGER)
        def fn(ctx: inngest.ContextSync) -> str:
            return ctx.step.run("first", lambda: "A") + ctx.step.run(
                "second", lambda: "B"
            )

    def mw() -> MiddlewareManager:
        return MiddlewareManager.create([mw_class], client, None)

    run(client, fn, call_request(), mw=mw())
    assert log == [
        "transform_input",
        "before_memoization",
        "after_memoization",
        "before_execution",
        "after_execution",
        "transform_output",
    ]
    log.clear()
    memo = {hash_step_id("first"): {"data": "A"}}
    run(client, fn, call_request(memo), mw=mw())
    # Replaying "first" uses the last memo: new code starts right after it.
    assert log[:4] == [
        "transform_input",
        "before_memoization",
        "after_memoization",
        "before_execution",
    ]
    log.clear()
    memos = {**memo, hash_step_id("second"): {"data": "B"}}
    assert run(client, fn, call_request(memos), mw=mw()) == FunctionReturned("AB")
    assert log[-2:] == ["after_execution", "transform_output"]


@pytest.mark.parametrize("is_async", [True, False])
@pytest.mark.parametrize(("attempt", "op"), [(0, "StepError"), (3, "StepFailed")])
def test_errors_reach_transform_output_with_their_traceback(
    is_async: bool, attempt: int, op: str
) -> None:
    seen: list[tuple[str, BaseException | None, str | None, bool]] = []

    class Spy(inngest.MiddlewareSync):
        def transform_output(self, result: inngest.TransformOutputResult) -> None:
            step = None if result.step is None else result.step.op
            tb = result.error is not None and result.error.__traceback__ is not None
            seen.append(("step" if step else "fn", result.error, step, tb))

    client = dev_client()

    def explode() -> None:
        raise KeyError("k")

    if is_async:

        @client.create_function(fn_id="boom", trigger=TRIGGER)
        async def fn(ctx: inngest.Context) -> None:
            if ctx.attempt > 5:
                raise ValueError("function broke")
            await ctx.step.run("explode", explode)

    else:

        @client.create_function(fn_id="boom", trigger=TRIGGER)
        def fn(ctx: inngest.ContextSync) -> None:
            if ctx.attempt > 5:
                raise ValueError("function broke")
            ctx.step.run("explode", explode)

    def mw() -> MiddlewareManager:
        return MiddlewareManager.create([Spy], client, None)

    run(client, fn, call_request(attempt=attempt), mw=mw())
    ((kind, err, step_op, had_traceback),) = seen
    assert (kind, type(err), step_op, had_traceback) == ("step", KeyError, op, True)
    seen.clear()
    run(client, fn, call_request(attempt=6, max_attempts=10), mw=mw())
    ((kind, err, step_op, had_traceback),) = seen
    assert (kind, type(err), step_op, had_traceback) == ("fn", ValueError, None, True)


def test_transform_output_can_replace_a_step_output() -> None:
    class Upper(inngest.MiddlewareSync):
        def transform_output(self, result: inngest.TransformOutputResult) -> None:
            if isinstance(result.output, str):
                result.output = result.output.upper()

    client = dev_client()

    @client.create_function(fn_id="up", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> str:
        return ctx.step.run("s", lambda: "quiet")

    out = run(
        client, fn, call_request(), mw=MiddlewareManager.create([Upper], client, None)
    )
    assert isinstance(out, StepsReported)
    assert out.ops[0].data == "QUIET"


def test_async_middleware_is_refused_for_sync_functions() -> None:
    client = dev_client()

    @client.create_function(fn_id="s", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> int:
        return 1

    mw = MiddlewareManager.create([inngest.Middleware], client, None)
    with pytest.raises(inngest.LocalProtocolError, match="MiddlewareSync"):
        run(client, fn, call_request(), mw=mw)


# --- garbage ----------------------------------------------------------------------


@pytest.mark.parametrize("memo_count", [0, 1, 50])
def test_a_call_leaves_no_reference_cycles(memo_count: int) -> None:
    """Cyclic garbage per request is what makes GC pauses grow with traffic."""
    client = dev_client()

    @client.create_function(fn_id="many", trigger=TRIGGER, retries=0)
    async def fn(ctx: inngest.Context) -> int:
        total = 0
        for i in range(memo_count + 1):
            total += await ctx.step.run(f"s{i}", lambda n: n, i)
        if ctx.event.data.get("fail"):
            raise ValueError("boom")
        return total

    memos = {hash_step_id(f"s{i}"): {"data": i} for i in range(memo_count)}
    everything = {**memos, hash_step_id(f"s{memo_count}"): {"data": memo_count}}
    requests = [
        call_request(memos),
        call_request(everything),
        call_request(everything, event={"name": "test/event", "data": {"fail": True}}),
        call_request(memos, attempt=3, max_attempts=1),
    ]
    for request in requests:
        run(client, fn, request)  # warm up caches and imports
    gc.collect()
    gc.disable()
    try:
        for request in requests:
            run(client, fn, request)
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_memo_lookup_does_not_copy_the_memo_map() -> None:
    client = dev_client()
    seen: list[Any] = []

    class Spy(inngest.MiddlewareSync):
        def transform_input(self, ctx: Any, function: Any, steps: Any) -> None:
            seen.append(steps)

    @client.create_function(fn_id="f", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> int:
        return 1

    key = hash_step_id("x")
    request = call_request({key: {"data": 1}})
    run(client, fn, request, mw=MiddlewareManager.create([Spy], client, None))
    # Middleware gets a view over the request's own memos, not a copy.
    assert isinstance(seen[0], inngest.StepMemos)
    assert seen[0][key] is request.steps[key]
    assert MISSING is not None


def test_after_hooks_unwind_in_reverse_middleware_order() -> None:
    log: list[str] = []

    def named(tag: str) -> type[inngest.MiddlewareSync]:
        class Tagged(inngest.MiddlewareSync):
            def before_execution(self) -> None:
                log.append(f"{tag}.before_execution")

            def after_execution(self) -> None:
                log.append(f"{tag}.after_execution")

            def transform_output(self, result: inngest.TransformOutputResult) -> None:
                log.append(f"{tag}.transform_output")

        return Tagged

    client = dev_client()

    @client.create_function(fn_id="f", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> int:
        return 1

    mw = MiddlewareManager.create([named("a"), named("b")], client, None)
    run(client, fn, call_request(), mw=mw)
    assert log == [
        "a.before_execution",
        "b.before_execution",
        "b.after_execution",
        "a.after_execution",
        "b.transform_output",
        "a.transform_output",
    ]
