"""RemoteStateMiddleware: thresholds, references both ways, driver errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._engine import FunctionReturned, StepsReported
from inngest_proto._memos import StepMemos
from inngest_proto._middleware import (
    MiddlewareManager,
    TransformOutputResult,
    TransformOutputStepInfo,
)
from inngest_proto._step_ids import hash_step_id
from inngest_proto.remote_state import (
    DEFAULT_THRESHOLD_BYTES,
    REMOTE_STATE_MARKER,
    STRATEGY_MARKER,
    RemoteStateError,
    RemoteStateLostError,
    RemoteStateMiddleware,
    StateDriver,
    is_reference,
    json_size,
    make_reference,
    reference_field,
    references,
)

from ._calls import call_request, dev_client, run
from ._comm_helpers import NOW, call_body, make_client
from ._comm_helpers import call as comm_call

STRATEGY = "test/dict"


class DictDriver:
    """A minimal driver over the public helpers, recording its calls."""

    def __init__(self) -> None:
        self.store: dict[str, Any] = {}
        self.saved: list[tuple[str, Any]] = []
        self.loads = 0

    def load_steps(self, steps: StepMemos) -> None:
        self.loads += 1
        for memo, ref in references(steps, STRATEGY):
            key = reference_field(ref, "key")
            if key not in self.store:
                raise RemoteStateLostError(f"{key} is gone")
            memo.data = self.store[key]

    def save_step(self, run_id: str, value: object) -> dict[str, object]:
        key = f"{run_id}/{len(self.store)}"
        self.store[key] = value
        self.saved.append((run_id, value))
        return make_reference(STRATEGY, key=key)


def _mw(driver: StateDriver, **kwargs: Any) -> RemoteStateMiddleware:
    factory = RemoteStateMiddleware.factory(driver, **kwargs)
    return factory(dev_client(), None)


def _step_result(output: Any, op: str = "StepRun") -> TransformOutputResult:
    step = TransformOutputStepInfo(id="s", op=inngest.Opcode(op), opts=None)
    return TransformOutputResult(error=None, output=output, step=step)


class _Ctx:
    run_id = "run-1"


def _sized(n: int) -> str:
    """A string whose JSON encoding is exactly ``n`` bytes (the quotes count)."""
    return "x" * (n - 2)


# --- markers and sizes ----------------------------------------------------------


def test_reference_shape_is_the_official_sdks() -> None:
    ref = make_reference("inngest/s3", bucket="b", key="inngest/remote_state/r/k")
    assert ref == {
        "__REMOTE_STATE__": True,
        "__STRATEGY__": "inngest/s3",
        "bucket": "b",
        "key": "inngest/remote_state/r/k",
    }
    assert (REMOTE_STATE_MARKER, STRATEGY_MARKER) == (
        "__REMOTE_STATE__",
        "__STRATEGY__",
    )
    assert is_reference(ref)
    assert is_reference(ref, "inngest/s3")
    assert not is_reference(ref, "inngest/memory")
    # Presence of the marker counts (the official check), not its value.
    assert is_reference({REMOTE_STATE_MARKER: False, STRATEGY_MARKER: "x"})
    for not_ref in (None, "s", [ref], {STRATEGY_MARKER: "x"}, {REMOTE_STATE_MARKER: 1}):
        assert not is_reference(not_ref)


def test_reference_field_rejects_damaged_references() -> None:
    assert reference_field({"key": "k"}, "key") == "k"
    for bad in ({}, {"key": ""}, {"key": 3}):
        with pytest.raises(RemoteStateLostError, match="no valid 'key' field"):
            reference_field(bad, "key")


@pytest.mark.parametrize(
    "value",
    [None, 1, "é", [1, "two", {"3": 4.5}], {"a": [True, None]}, "x" * 1000],
)
def test_json_size_is_the_wire_encodings_length(value: Any) -> None:
    assert json_size(value) == len(json.dumps(value).encode())
    assert json_size(value, limit=10**9) == len(json.dumps(value).encode())


def test_json_size_stops_counting_past_the_limit() -> None:
    huge = ["y" * 1000] * 100_000  # ~100 MB of JSON
    size = json_size(huge, limit=5000)
    assert 5000 < size < 10_000
    with pytest.raises(ValueError, match="Out of range float"):
        json_size(float("nan"))


# --- transform_output: which outputs are stored ----------------------------------


def test_threshold_boundary_is_exclusive() -> None:
    driver = DictDriver()
    mw = _mw(driver, threshold_bytes=100)
    mw.transform_input(_Ctx(), None, StepMemos.from_raw({}))  # type: ignore[arg-type]

    at = _step_result(_sized(100))
    mw.transform_output(at)
    assert at.output == _sized(100)  # exactly at the threshold: inline
    assert driver.saved == []

    over = _step_result(_sized(101))
    mw.transform_output(over)
    assert driver.saved == [("run-1", _sized(101))]
    assert over.output == make_reference(STRATEGY, key="run-1/0")


def test_default_threshold_is_64_kib() -> None:
    assert DEFAULT_THRESHOLD_BYTES == 65536
    driver = DictDriver()
    mw = _mw(driver)
    assert mw.threshold_bytes == 65536
    mw.transform_input(_Ctx(), None, StepMemos.from_raw({}))  # type: ignore[arg-type]
    mw.transform_output(_step_result(_sized(65536)))
    assert driver.saved == []
    mw.transform_output(_step_result(_sized(65537)))
    assert len(driver.saved) == 1


def test_threshold_zero_stores_every_step_output_like_the_official() -> None:
    driver = DictDriver()
    mw = _mw(driver, threshold_bytes=0)
    mw.transform_input(_Ctx(), None, StepMemos.from_raw({}))  # type: ignore[arg-type]
    smalls: list[Any] = [None, 0, "", {}]
    for small in smalls:
        result = _step_result(small)
        mw.transform_output(result)
        assert is_reference(result.output, STRATEGY)
    assert [v for _, v in driver.saved] == [None, 0, "", {}]


@pytest.mark.parametrize("bad", [-1, 1.5, "64k", True, None])
def test_bad_threshold_is_refused_at_factory_time(bad: Any) -> None:
    with pytest.raises(ValueError, match="threshold_bytes must be an int >= 0"):
        RemoteStateMiddleware.factory(DictDriver(), threshold_bytes=bad)


def test_only_step_run_outputs_are_stored() -> None:
    driver = DictDriver()
    mw = _mw(driver, threshold_bytes=0)
    mw.transform_input(_Ctx(), None, StepMemos.from_raw({}))  # type: ignore[arg-type]
    function_output = TransformOutputResult(error=None, output=_sized(10**6))
    mw.transform_output(function_output)
    errored = TransformOutputResult(error=ValueError("x"), output=None, step=None)
    mw.transform_output(errored)
    other_op = _step_result(_sized(10**6), op="InvokeFunction")
    mw.transform_output(other_op)
    assert driver.saved == []
    assert function_output.output == _sized(10**6)


def test_small_output_that_looks_like_a_reference_is_stored_too() -> None:
    # Inline, it would be taken for a reference on replay.
    driver = DictDriver()
    mw = _mw(driver)
    mw.transform_input(_Ctx(), None, StepMemos.from_raw({}))  # type: ignore[arg-type]
    lookalike = make_reference("inngest/s3", bucket="other", key="secret")
    result = _step_result(lookalike)
    mw.transform_output(result)
    assert driver.saved == [("run-1", lookalike)]
    assert result.output == make_reference(STRATEGY, key="run-1/0")


def test_unserializable_output_is_left_for_the_serializer() -> None:
    driver = DictDriver()
    mw = _mw(driver, threshold_bytes=0)
    mw.transform_input(_Ctx(), None, StepMemos.from_raw({}))  # type: ignore[arg-type]
    obj = object()
    result = _step_result(obj)
    mw.transform_output(result)
    assert result.output is obj
    assert driver.saved == []


def test_driver_must_return_a_reference() -> None:
    class Bad(DictDriver):
        def save_step(self, run_id: str, value: object) -> dict[str, object]:
            return {"key": "k"}

    mw = _mw(Bad(), threshold_bytes=0)
    mw.transform_input(_Ctx(), None, StepMemos.from_raw({}))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a reference; build it with make_ref"):
        mw.transform_output(_step_result("v"))


# --- transform_input: references replaced by values ------------------------------


def test_references_are_loaded_and_other_memos_left_alone() -> None:
    driver = DictDriver()
    driver.store["run-1/0"] = {"big": "value"}
    event = {"name": "e", "data": {}, "id": "1", "ts": 1}
    raw = {
        "a": {"data": make_reference(STRATEGY, key="run-1/0")},
        "b": {"data": "inline"},
        "c": {"error": {"name": "E", "message": "m"}},
        "d": event,
        "e": None,
    }
    steps = StepMemos.from_raw(raw)
    _mw(driver).transform_input(_Ctx(), None, steps)  # type: ignore[arg-type]
    assert dict(steps) == {
        "a": {"data": {"big": "value"}},
        "b": {"data": "inline"},
        "c": {"error": {"name": "E", "message": "m"}},
        "d": {"data": event},
        "e": {"data": None},
    }


def test_no_references_means_no_driver_call() -> None:
    driver = DictDriver()
    steps = StepMemos.from_raw({"a": {"data": "x" * 100_000}})
    _mw(driver).transform_input(_Ctx(), None, steps)  # type: ignore[arg-type]
    assert driver.loads == 0


def test_missing_payload_is_non_retriable() -> None:
    steps = StepMemos.from_raw({"a": {"data": make_reference(STRATEGY, key="gone")}})
    with pytest.raises(RemoteStateLostError, match="gone is gone") as info:
        _mw(DictDriver()).transform_input(_Ctx(), None, steps)  # type: ignore[arg-type]
    assert isinstance(info.value, inngest.NonRetriableError)
    assert isinstance(info.value, RemoteStateError)


def test_reference_no_driver_loads_is_a_retriable_error() -> None:
    ref = make_reference("inngest/s3", bucket="b", key="k")
    steps = StepMemos.from_raw({"a": {"data": ref}})
    with pytest.raises(RemoteStateError, match="'inngest/s3' that DictDriver did not"):
        _mw(DictDriver()).transform_input(_Ctx(), None, steps)  # type: ignore[arg-type]


# --- through the engine ----------------------------------------------------------

BIG = "B" * 200_000


def _function(client: inngest.Inngest, *, is_async: bool) -> inngest.Function[Any]:
    trigger = inngest.TriggerEvent(event="test/event")
    if is_async:

        @client.create_function(fn_id="fn", trigger=trigger)
        async def fn_async(ctx: inngest.Context) -> Any:
            big = await ctx.step.run("big", lambda: BIG)
            small = await ctx.step.run("small", lambda: "small")
            return {"big": big, "small": small}

        return fn_async

    @client.create_function(fn_id="fn", trigger=trigger)
    def fn_sync(ctx: inngest.ContextSync) -> Any:
        big = ctx.step.run("big", lambda: BIG)
        small = ctx.step.run("small", lambda: "small")
        return {"big": big, "small": small}

    return fn_sync


@pytest.mark.parametrize("is_async", [True, False])
def test_replay_through_the_engine(is_async: bool) -> None:
    driver = DictDriver()
    client = dev_client(middleware=[RemoteStateMiddleware.factory(driver)])
    fn = _function(client, is_async=is_async)

    def call(steps: dict[str, Any]) -> Any:
        mw = MiddlewareManager.create(client.middleware, client, None)
        return run(client, fn, call_request(steps), mw=mw)

    # Call 1: the big step runs; Inngest is sent only its reference.
    first = call({})
    assert isinstance(first, StepsReported)
    (op,) = first.ops
    assert op.data == make_reference(STRATEGY, key="run-1/0")
    assert driver.store == {"run-1/0": BIG}

    # Call 2: the reference comes back as a memo; the small step stays inline.
    memos = {hash_step_id("big"): {"data": op.data}}
    second = call(memos)
    assert isinstance(second, StepsReported)
    assert second.ops[0].data == "small"
    memos[hash_step_id("small")] = {"data": "small"}

    # Call 3: the function sees the real value; its own output stays inline.
    third = call(memos)
    assert third == FunctionReturned({"big": BIG, "small": "small"})
    assert len(driver.saved) == 1


class _BrokenStore(DictDriver):
    def load_steps(self, steps: StepMemos) -> None:
        raise RemoteStateError("store unreachable")


@pytest.mark.parametrize(
    ("driver", "message", "no_retry"),
    [
        (DictDriver(), "gone is gone", True),
        (_BrokenStore(), "store unreachable", False),
    ],
)
def test_store_errors_through_the_comm_handler(
    driver: StateDriver, message: str, no_retry: bool
) -> None:
    # A lost payload fails the run at once; a failing store is retried.
    client = make_client(middleware=[RemoteStateMiddleware.factory(driver)])
    handler = inngest.CommHandler(
        client=client, functions=[_function(client, is_async=False)], framework="t"
    )
    memos = {hash_step_id("big"): {"data": make_reference(STRATEGY, key="gone")}}
    response = handler.handle_sync(comm_call("fn", call_body(steps=memos)), now=NOW)
    assert response.status == 500
    assert (response.headers.get("x-inngest-no-retry") == "true") is no_retry
    assert message in json.loads(response.body)["message"]


def test_failed_save_retries_the_run_and_does_not_record_the_step() -> None:
    class CannotSave(DictDriver):
        def save_step(self, run_id: str, value: object) -> dict[str, object]:
            raise RemoteStateError("bucket is read-only")

    client = make_client(middleware=[RemoteStateMiddleware.factory(CannotSave())])
    handler = inngest.CommHandler(
        client=client, functions=[_function(client, is_async=False)], framework="t"
    )
    response = handler.handle_sync(comm_call("fn", call_body()), now=NOW)
    assert response.status == 500  # an error, not a 206 with the step's output
    assert "x-inngest-no-retry" not in response.headers
    assert "bucket is read-only" in json.loads(response.body)["message"]
