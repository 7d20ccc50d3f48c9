"""The step API and the engine under it, for async and sync functions alike."""

from __future__ import annotations

import datetime
import json
from typing import Any, TypeVar

import pydantic
import pytest

import inngest_proto as inngest
from inngest_proto._engine import FunctionFailed, FunctionReturned, StepsReported
from inngest_proto._function import run_handler_sync
from inngest_proto._http_values import OutboundResponse
from inngest_proto._middleware import MiddlewareManager
from inngest_proto._opcodes import Opcode
from inngest_proto._step_ids import hash_step_id
from inngest_proto.experimental.ai import anthropic
from tests.fakes import FakeTransport
from tests.inngest_proto._calls import NOW, call_request, dev_client, run

TRIGGER = inngest.TriggerEvent(event="test/event")
H_FIRST = hash_step_id("first")
H_SECOND = hash_step_id("second")


def two_steps(client: inngest.Inngest, kind: str) -> inngest.Function[Any]:
    """first -> second(first) -> {"result": ...}, async or sync."""
    if kind == "async":

        @client.create_function(fn_id="two", trigger=TRIGGER)
        async def fn_async(ctx: inngest.Context) -> dict[str, str]:
            a = await ctx.step.run("first", lambda: "A")
            b = await ctx.step.run("second", lambda x: x + "B", a)
            return {"result": b}

        return fn_async

    @client.create_function(fn_id="two", trigger=TRIGGER)
    def fn_sync(ctx: inngest.ContextSync) -> dict[str, str]:
        a = ctx.step.run("first", lambda: "A")
        b = ctx.step.run("second", lambda x: x + "B", a)
        return {"result": b}

    return fn_sync


KINDS = ["async", "sync"]


def ok_ids(*ids: str) -> OutboundResponse:
    """The Event API's reply to a send."""
    body = json.dumps({"ids": list(ids), "status": 200}).encode()
    return OutboundResponse(200, {"content-type": "application/json"}, body)


@pytest.mark.parametrize("kind", KINDS)
def test_each_call_runs_the_next_new_step(kind: str) -> None:
    client = dev_client()
    fn = two_steps(client, kind)
    first = run(client, fn, call_request())
    assert isinstance(first, StepsReported)
    assert [(o.op, o.id, o.data) for o in first.ops] == [
        (Opcode.STEP_RUN, H_FIRST, "A")
    ]
    second = run(client, fn, call_request({H_FIRST: {"data": "A"}}))
    assert isinstance(second, StepsReported)
    assert [(o.op, o.data) for o in second.ops] == [(Opcode.STEP_RUN, "AB")]
    done = run(
        client, fn, call_request({H_FIRST: {"data": "A"}, H_SECOND: {"data": "AB"}})
    )
    assert done == FunctionReturned({"result": "AB"})


@pytest.mark.parametrize("kind", KINDS)
def test_disable_immediate_execution_plans_instead_of_running(kind: str) -> None:
    client = dev_client()
    fn = two_steps(client, kind)
    planned = run(client, fn, call_request(disable_immediate_execution=True))
    assert isinstance(planned, StepsReported)
    assert [(o.op, o.data) for o in planned.ops] == [(Opcode.STEP_PLANNED, None)]
    # The server then targets the planned step, which runs despite the flag.
    ran = run(
        client, fn, call_request(disable_immediate_execution=True), target=H_FIRST
    )
    assert isinstance(ran, StepsReported)
    assert ran.ops[0].op is Opcode.STEP_RUN


@pytest.mark.parametrize("kind", KINDS)
def test_targeting_an_unknown_step_is_step_unexpected(kind: str) -> None:
    client = dev_client()
    fn = two_steps(client, kind)
    out = run(client, fn, call_request(), target=hash_step_id("nope"))
    assert isinstance(out, FunctionFailed)
    assert out.body["code"] == "step_unexpected"
    assert out.body["message"] == 'found step "first" when targeting a different step'


def failing_step(
    client: inngest.Inngest, kind: str, error: Exception
) -> inngest.Function[Any]:
    def boom() -> None:
        raise error

    if kind == "async":

        @client.create_function(fn_id="fails", trigger=TRIGGER, retries=3)
        async def fn_async(ctx: inngest.Context) -> str:
            try:
                await ctx.step.run("flaky", boom)
            except inngest.StepError as err:
                if ctx.event.data.get("swallow"):
                    return f"recovered: {err.name}"
                raise
            return "unreachable"

        return fn_async

    @client.create_function(fn_id="fails", trigger=TRIGGER, retries=3)
    def fn_sync(ctx: inngest.ContextSync) -> str:
        try:
            ctx.step.run("flaky", boom)
        except inngest.StepError as err:
            if ctx.event.data.get("swallow"):
                return f"recovered: {err.name}"
            raise
        return "unreachable"

    return fn_sync


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("attempt", "max_attempts", "op"),
    [
        (0, 4, Opcode.STEP_ERROR),
        (2, 4, Opcode.STEP_ERROR),
        (3, 4, Opcode.STEP_FAILED),
        (0, 1, Opcode.STEP_FAILED),
        (7, None, Opcode.STEP_ERROR),
    ],
)
def test_step_error_until_the_last_attempt(
    kind: str, attempt: int, max_attempts: int | None, op: Opcode
) -> None:
    client = dev_client()
    fn = failing_step(client, kind, KeyError("gone"))
    out = run(client, fn, call_request(attempt=attempt, max_attempts=max_attempts))
    assert isinstance(out, StepsReported)
    (reported,) = out.ops
    assert reported.op is op
    assert reported.error is not None
    assert reported.error["name"] == "KeyError"
    assert reported.error["code"] == "unknown"
    assert "gone" in reported.error["stack"]
    assert reported.data is None


@pytest.mark.parametrize("kind", KINDS)
def test_memoized_failure_is_raised_as_step_error(kind: str) -> None:
    client = dev_client()
    fn = failing_step(client, kind, KeyError("gone"))
    memo = {
        hash_step_id("flaky"): {
            "error": {"name": "KeyError", "message": "m", "stack": "s"}
        }
    }
    uncaught = run(client, fn, call_request(memo))
    assert isinstance(uncaught, FunctionFailed)
    assert uncaught.no_retry
    assert uncaught.body == {
        "code": "step_errored",
        "message": "m",
        "name": "KeyError",
        "stack": "s",
    }
    caught = run(
        client,
        fn,
        call_request(memo, event={"name": "test/event", "data": {"swallow": True}}),
    )
    assert caught == FunctionReturned("recovered: KeyError")


@pytest.mark.parametrize("kind", KINDS)
def test_non_retriable_and_retry_after_fail_the_function(kind: str) -> None:
    client = dev_client()
    fn = failing_step(client, kind, inngest.NonRetriableError("stop"))
    out = run(client, fn, call_request())
    assert isinstance(out, FunctionFailed)
    assert out.no_retry
    assert out.body["code"] == "non_retriable_error"

    client = dev_client()
    later = inngest.RetryAfterError("later", datetime.timedelta(seconds=30))
    fn = failing_step(client, kind, later)
    out = run(client, fn, call_request())
    assert isinstance(out, FunctionFailed)
    assert not out.no_retry
    assert out.retry_after == "2025-01-01T00:00:30.000Z"
    assert out.body["code"] == "retry_after_error"


@pytest.mark.parametrize("kind", KINDS)
def test_nested_step_is_a_non_retriable_step_error(kind: str) -> None:
    client = dev_client()
    if kind == "async":

        @client.create_function(fn_id="nested", trigger=TRIGGER)
        async def fn(ctx: inngest.Context) -> None:
            async def outer() -> str:
                return await ctx.step.run("inner", lambda: "x")

            await ctx.step.run("outer", outer)

    else:

        @client.create_function(fn_id="nested", trigger=TRIGGER)
        def fn(ctx: inngest.ContextSync) -> None:
            ctx.step.run("outer", lambda: ctx.step.run("inner", lambda: "x"))

    out = run(client, fn, call_request())
    assert isinstance(out, StepsReported)
    assert out.no_retry
    assert out.ops[0].op is Opcode.STEP_ERROR
    assert out.ops[0].name == "outer"
    assert out.ops[0].error is not None
    assert out.ops[0].error["code"] == "step_nested"


@pytest.mark.parametrize("kind", KINDS)
def test_user_code_catching_exception_cannot_swallow_the_interrupt(kind: str) -> None:
    client = dev_client()
    if kind == "async":

        @client.create_function(fn_id="greedy", trigger=TRIGGER)
        async def fn(ctx: inngest.Context) -> str:
            try:
                await ctx.step.run("first", lambda: 1)
            except Exception:
                return "swallowed"
            return "after"

    else:

        @client.create_function(fn_id="greedy", trigger=TRIGGER)
        def fn(ctx: inngest.ContextSync) -> str:
            try:
                ctx.step.run("first", lambda: 1)
            except Exception:
                return "swallowed"
            return "after"

    out = run(client, fn, call_request())
    assert isinstance(out, StepsReported)


def other_steps(client: inngest.Inngest, kind: str) -> inngest.Function[Any]:
    """sleep, sleep_until, wait_for_event, invoke, invoke_by_id, ai.infer."""
    adapter = anthropic.Adapter(auth_key="k", model="claude")
    until = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)

    @client.create_function(fn_id="child", trigger=inngest.TriggerEvent(event="c"))
    def child(ctx: inngest.ContextSync) -> int:
        return 1

    if kind == "async":

        @client.create_function(fn_id="many", trigger=TRIGGER)
        async def fn_async(ctx: inngest.Context) -> list[Any]:
            await ctx.step.sleep("nap", 90_000)
            await ctx.step.sleep_until("until", until)
            evt = await ctx.step.wait_for_event(
                "wait", event="test/ok", if_exp="async.data.ok", timeout=3_600_000
            )
            got = await ctx.step.invoke("inv", function=child, data={"n": 1})
            other = await ctx.step.invoke_by_id(
                "inv2", app_id="b", function_id="f", timeout=datetime.timedelta(days=7)
            )
            ai = await ctx.step.ai.infer("ai", adapter=adapter, body={"max_tokens": 5})
            return [evt.id if evt else None, got, other, ai]

        return fn_async

    @client.create_function(fn_id="many", trigger=TRIGGER)
    def fn_sync(ctx: inngest.ContextSync) -> list[Any]:
        ctx.step.sleep("nap", 90_000)
        ctx.step.sleep_until("until", until)
        evt = ctx.step.wait_for_event(
            "wait", event="test/ok", if_exp="async.data.ok", timeout=3_600_000
        )
        got = ctx.step.invoke("inv", function=child, data={"n": 1})
        other = ctx.step.invoke_by_id(
            "inv2", app_id="b", function_id="f", timeout=datetime.timedelta(days=7)
        )
        ai = ctx.step.ai.infer("ai", adapter=adapter, body={"max_tokens": 5})
        return [evt.id if evt else None, got, other, ai]

    return fn_sync


@pytest.mark.parametrize("kind", KINDS)
def test_every_step_kind_reports_its_op_then_replays_its_memo(kind: str) -> None:
    client = dev_client()
    fn = other_steps(client, kind)
    expected = [
        ("nap", Opcode.SLEEP, "2025-01-01T00:01:30.000Z", None, None),
        ("until", Opcode.SLEEP, "2030-01-01T00:00:00.000Z", None, None),
        (
            "wait",
            Opcode.WAIT_FOR_EVENT,
            "test/ok",
            {"if": "async.data.ok", "timeout": "1h"},
            None,
        ),
        (
            "inv",
            Opcode.INVOKE,
            "inv",
            {
                "function_id": "app-child",
                "payload": {"data": {"n": 1}, "v": None},
                "timeout": None,
            },
            {"data": 2},
        ),
        (
            "inv2",
            Opcode.INVOKE,
            "inv2",
            {
                "function_id": "b-f",
                "payload": {"data": None, "v": None},
                "timeout": "1w",
            },
            {"data": "x"},
        ),
        (
            "ai",
            Opcode.AI_GATEWAY,
            "ai",
            {
                "auth_key": "k",
                "body": {"max_tokens": 5, "model": "claude"},
                "format": "anthropic",
                "headers": {"anthropic-version": "2023-06-01"},
                "type": "step.ai.infer",
                "url": "https://api.anthropic.com/v1/messages",
            },
            {"data": {"text": "hi"}},
        ),
    ]
    memos: dict[str, Any] = {}
    event = {"data": {"ok": True}, "id": "E", "name": "test/ok", "ts": 5, "user": {}}
    memo_for = {"nap": None, "until": None, "wait": event}
    for step_id, op, name, opts, memo in expected:
        out = run(client, fn, call_request(memos))
        assert isinstance(out, StepsReported), step_id
        (reported,) = out.ops
        assert (reported.op, reported.name, reported.opts) == (op, name, opts), step_id
        assert reported.display_name == step_id
        memos[hash_step_id(step_id)] = memo_for.get(step_id, memo)
    done = run(client, fn, call_request(memos))
    assert done == FunctionReturned(["E", 2, "x", {"text": "hi"}])


@pytest.mark.parametrize("kind", KINDS)
def test_wait_for_event_timeout_returns_none(kind: str) -> None:
    client = dev_client()
    if kind == "async":

        @client.create_function(fn_id="w", trigger=TRIGGER)
        async def fn(ctx: inngest.Context) -> bool:
            e = await ctx.step.wait_for_event("w", event="x", timeout=1000)
            return e is None

    else:

        @client.create_function(fn_id="w", trigger=TRIGGER)
        def fn(ctx: inngest.ContextSync) -> bool:
            return ctx.step.wait_for_event("w", event="x", timeout=1000) is None

    assert run(client, fn, call_request({hash_step_id("w"): None})) == FunctionReturned(
        True
    )


@pytest.mark.parametrize("kind", KINDS)
def test_bad_step_arguments_fail_clearly(kind: str) -> None:
    client = dev_client()
    if kind == "async":

        @client.create_function(fn_id="bad", trigger=TRIGGER)
        async def fn(ctx: inngest.Context) -> None:
            await ctx.step.wait_for_event("w", event="x", timeout=500)

    else:

        @client.create_function(fn_id="bad", trigger=TRIGGER)
        def fn(ctx: inngest.ContextSync) -> None:
            ctx.step.wait_for_event("w", event="x", timeout=500)

    out = run(client, fn, call_request())
    assert isinstance(out, FunctionFailed)
    assert "wait_for_event timeout" in out.body["message"]


def parallel_fn(
    client: inngest.Inngest, kind: str, mode: inngest.ParallelMode
) -> inngest.Function[Any]:
    if kind == "async":

        @client.create_function(fn_id="par", trigger=TRIGGER)
        async def fn_async(ctx: inngest.Context) -> list[Any]:
            both = await ctx.group.parallel(
                (
                    lambda: ctx.step.run("a", lambda: "a"),
                    lambda: ctx.step.run("b", lambda: "b"),
                    lambda: ctx.step.sleep("s", 1000),
                ),
                parallel_mode=mode,
            )
            return [*both, await ctx.step.run("after", lambda: "z")]

        return fn_async

    @client.create_function(fn_id="par", trigger=TRIGGER)
    def fn_sync(ctx: inngest.ContextSync) -> list[Any]:
        both = ctx.group.parallel(
            (
                lambda: ctx.step.run("a", lambda: "a"),
                lambda: ctx.step.run("b", lambda: "b"),
                lambda: ctx.step.sleep("s", 1000),
            ),
            parallel_mode=mode,
        )
        return [*both, ctx.step.run("after", lambda: "z")]

    return fn_sync


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", list(inngest.ParallelMode))
def test_parallel_discovery_then_targeted_runs(
    kind: str, mode: inngest.ParallelMode
) -> None:
    client = dev_client()
    fn = parallel_fn(client, kind, mode)
    found = run(client, fn, call_request())
    assert isinstance(found, StepsReported)
    ops = [(o.op, o.name) for o in found.ops]
    assert ops == [
        (Opcode.STEP_PLANNED, "a"),
        (Opcode.STEP_PLANNED, "b"),
        (Opcode.SLEEP, "2025-01-01T00:00:01.000Z"),
    ]
    race = {"parallelMode": "race"} if mode is inngest.ParallelMode.RACE else None
    assert all(o.opts == race for o in found.ops)
    # Targeted: only that step runs; the others are skipped silently.
    ran = run(client, fn, call_request(), target=hash_step_id("b"))
    assert isinstance(ran, StepsReported)
    assert [(o.op, o.name, o.data) for o in ran.ops] == [(Opcode.STEP_RUN, "b", "b")]
    memos: dict[str, Any] = {
        hash_step_id("a"): {"data": "a"},
        hash_step_id("b"): {"data": "b"},
        hash_step_id("s"): None,
    }
    nxt = run(client, fn, call_request(memos))
    assert isinstance(nxt, StepsReported)
    assert [o.name for o in nxt.ops] == ["after"]
    memos[hash_step_id("after")] = {"data": "z"}
    assert run(client, fn, call_request(memos)) == FunctionReturned(
        ["a", "b", None, "z"]
    )


def test_sleep_uses_the_request_time_not_the_clock() -> None:
    client = dev_client()

    @client.create_function(fn_id="s", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> None:
        ctx.step.sleep("s", datetime.timedelta(days=1))

    out = run(client, fn, call_request())
    assert isinstance(out, StepsReported)
    assert out.ops[0].name == (NOW + datetime.timedelta(days=1)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )


def test_repeated_step_ids_get_the_index_suffix() -> None:
    client = dev_client()

    @client.create_function(fn_id="loop", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> list[int]:
        return [ctx.step.run("item", lambda n: n, i) for i in range(3)]

    memos: dict[str, Any] = {}
    for index, suffix in enumerate(["item", "item:1", "item:2"]):
        out = run(client, fn, call_request(memos))
        assert isinstance(out, StepsReported)
        (op,) = out.ops
        assert op.id == hash_step_id(suffix)
        assert op.userland == {"id": "item", "index": index or None}
        memos[op.id] = {"data": index}
    assert run(client, fn, call_request(memos)) == FunctionReturned([0, 1, 2])


def test_on_failure_handler_receives_the_failed_event() -> None:
    client = dev_client()

    def on_failure(ctx: inngest.ContextSync) -> str:
        return str(ctx.event.data["function_id"])

    @client.create_function(fn_id="main", trigger=TRIGGER, on_failure=on_failure)
    def fn(ctx: inngest.ContextSync) -> None:
        raise ValueError

    request = call_request(
        event={"name": "inngest/function.failed", "data": {"function_id": "app-main"}}
    )
    assert fn.on_failure_fn_id == "app-main-failure"
    assert run(client, fn, request, failure_handler=True) == FunctionReturned(
        "app-main"
    )


def test_an_async_function_cannot_run_on_the_sync_path() -> None:
    client = dev_client()

    @client.create_function(fn_id="a", trigger=TRIGGER)
    async def fn(ctx: inngest.Context) -> None:
        return None

    handler = next(iter(fn.handlers().values()))
    out = run_handler_sync(
        fn,
        handler,
        call_request(),
        client=client,
        mw=MiddlewareManager(()),
        target=None,
        now=NOW,
        memos={},
    )
    assert isinstance(out, FunctionFailed)
    assert "async function" in out.body["message"]


# --- step.send_event and middleware -----------------------------------------------


def _send_event_recorder(
    calls: list[tuple[str, str, Any]], tag: str
) -> type[inngest.MiddlewareSync]:
    class Recording(inngest.MiddlewareSync):
        def before_send_events(self, events: list[inngest.Event]) -> None:
            calls.append((tag, "before", [e.name for e in events]))

        def after_send_events(self, result: Any) -> None:
            calls.append((tag, "after", result))

    return Recording


def _send_event_function(
    client: inngest.Inngest, kind: str, middleware: list[Any]
) -> inngest.Function[Any]:
    event = inngest.Event(name="app/sent")
    if kind == "async":

        @client.create_function(fn_id="send", trigger=TRIGGER, middleware=middleware)
        async def fn_async(ctx: inngest.Context) -> list[str]:
            return await ctx.step.send_event("send", event)

        return fn_async

    @client.create_function(fn_id="send", trigger=TRIGGER, middleware=middleware)
    def fn_sync(ctx: inngest.ContextSync) -> list[str]:
        return ctx.step.send_event("send", event)

    return fn_sync


def _request_middleware(
    client: inngest.Inngest, fn: inngest.Function[Any]
) -> MiddlewareManager:
    # What the comm handler builds for a call request.
    return MiddlewareManager.create([*client.middleware, *fn.middleware], client, None)


@pytest.mark.parametrize("kind", KINDS)
def test_send_event_runs_the_function_and_client_middleware_once(kind: str) -> None:
    calls: list[tuple[str, str, Any]] = []
    transport = FakeTransport([ok_ids("01A")])
    client = dev_client(
        transport=transport, middleware=[_send_event_recorder(calls, "client")]
    )
    fn = _send_event_function(client, kind, [_send_event_recorder(calls, "fn")])
    out = run(client, fn, call_request(), mw=_request_middleware(client, fn))
    assert isinstance(out, StepsReported)
    assert out.ops[0].data == ["01A"]
    sent = inngest.SendEventsResult(ids=["01A"])
    # As the official SDK: before in middleware order, after in reverse.
    assert calls == [
        ("client", "before", ["app/sent"]),
        ("fn", "before", ["app/sent"]),
        ("fn", "after", sent),
        ("client", "after", sent),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_send_event_middleware_sees_a_send_that_got_no_reply(kind: str) -> None:
    calls: list[tuple[str, str, Any]] = []
    transport = FakeTransport(fail_with=OSError("down"))
    client = dev_client(transport=transport)
    fn = _send_event_function(client, kind, [_send_event_recorder(calls, "fn")])
    out = run(client, fn, call_request(), mw=_request_middleware(client, fn))
    assert isinstance(out, StepsReported)
    assert out.ops[0].op is Opcode.STEP_ERROR
    [before, (_, hook, result)] = calls
    assert before == ("fn", "before", ["app/sent"])
    assert hook == "after"
    assert result.ids == []
    assert "OSError: down" in result.error


# --- typed replay never breaks a replay --------------------------------------------


class _Quote(pydantic.BaseModel):
    price: int


_T = TypeVar("_T")


def _passthrough(value: _T) -> _T:
    # A generic helper, as decorators and wrappers write them.
    return value


def _quote() -> _Quote:
    return _Quote(price=1)


def _replay_function(
    client: inngest.Inngest, kind: str, output_type: object
) -> inngest.Function[Any]:
    if kind == "async":

        @client.create_function(fn_id="typed", trigger=TRIGGER)
        async def fn_async(ctx: inngest.Context) -> Any:
            first = await ctx.step.run("first", _passthrough, {"n": 1})
            second = await ctx.step.run("second", _quote, output_type=output_type)
            return [first, second]

        return fn_async

    @client.create_function(fn_id="typed", trigger=TRIGGER)
    def fn_sync(ctx: inngest.ContextSync) -> Any:
        first = ctx.step.run("first", _passthrough, {"n": 1})
        second = ctx.step.run("second", _quote, output_type=output_type)
        return [first, second]

    return fn_sync


@pytest.mark.parametrize("kind", KINDS)
def test_a_type_variable_annotation_replays_the_json(kind: str) -> None:
    client = dev_client()
    fn = _replay_function(client, kind, None)
    first = run(client, fn, call_request())
    assert isinstance(first, StepsReported)
    assert first.ops[0].data == {"n": 1}
    memos = {H_FIRST: {"data": {"n": 1}}, H_SECOND: {"data": {"price": 2}}}
    done = run(client, fn, call_request(memos))
    assert done == FunctionReturned([{"n": 1}, _Quote(price=2)])


@pytest.mark.parametrize("kind", KINDS)
def test_an_annotation_the_stored_json_does_not_fit_replays_the_json(
    kind: str,
) -> None:
    # The model changed while the run was in flight: the annotation was read
    # to help, so the replay goes on with the JSON the official SDK would give.
    client = dev_client()
    fn = _replay_function(client, kind, None)
    memos = {H_FIRST: {"data": {"n": 1}}, H_SECOND: {"data": {"cost": 2}}}
    done = run(client, fn, call_request(memos))
    assert done == FunctionReturned([{"n": 1}, {"cost": 2}])


@pytest.mark.parametrize("kind", KINDS)
def test_an_explicit_output_type_the_json_does_not_fit_fails(kind: str) -> None:
    client = dev_client()
    fn = _replay_function(client, kind, _Quote)
    memos = {H_FIRST: {"data": {"n": 1}}, H_SECOND: {"data": {"cost": 2}}}
    out = run(client, fn, call_request(memos))
    assert isinstance(out, FunctionFailed)
    assert "did its type change" in out.body["message"]
