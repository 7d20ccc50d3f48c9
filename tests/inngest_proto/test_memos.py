"""StepMemos: the memo view middleware gets, and typed outputs across replays."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
from typing import Any, ClassVar

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

import inngest_proto as inngest
from inngest_proto._errors import StepError
from inngest_proto._opcodes import unwrap_memo
from inngest_transports.testing import TestEngine

_KEYS = st.sampled_from(["data", "error", "name", "message", "x"])
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["data", "error", "name", "message", "x"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)
_errors = st.fixed_dictionaries(
    {"name": st.text(max_size=5), "message": st.text(max_size=5)},
    optional={"stack": st.text(max_size=5), "data": _json},
)
_memos = (
    _json
    | st.fixed_dictionaries({"data": _json})
    | st.fixed_dictionaries({"error": _errors})
    | st.fixed_dictionaries({"data": _json, "error": _errors | st.none()})
)


def _unwrapped(raw: Any) -> tuple[str, Any]:
    try:
        return "value", unwrap_memo(raw)
    except StepError as err:
        return "error", (err.name, err.message, err.stack)


@given(_memos)
def test_a_memo_object_means_what_its_raw_form_means(raw: Any) -> None:
    # Middleware may touch none of the memos it materialized: the engine must
    # then read exactly what it would have read from the request.
    assert _unwrapped(inngest.StepMemo.from_raw(raw).to_raw()) == _unwrapped(raw)


def test_memos_stay_raw_until_middleware_asks_for_them() -> None:
    raw = {"h1": {"data": 1}, "h2": None}
    memos = inngest.StepMemos.from_raw(raw)
    assert memos["h1"] is raw["h1"]  # nothing built, nothing copied
    assert memos.size == 2
    values = list(memos.values())
    assert values == [inngest.StepMemo(data=1), inngest.StepMemo(data=None)]
    values[0].data = 2
    assert memos["h1"] == {"data": 2}
    assert memos.pop("h2") == inngest.StepMemo(data=None)
    assert memos.pop("h2") is None
    assert list(memos) == ["h1"]
    assert raw == {"h1": {"data": 1}, "h2": None}  # the request is left alone


def test_an_error_memo_keeps_its_fields() -> None:
    memo = inngest.StepMemo.from_raw(
        {"error": {"name": "ValueError", "message": "no", "stack": "s"}}
    )
    assert memo.error == inngest.MemoizedError(
        message="no", name="ValueError", stack="s"
    )
    assert memo.to_raw() == {
        "error": {"name": "ValueError", "message": "no", "stack": "s"}
    }


# -- through the engine ---------------------------------------------------------------


class Invoice(pydantic.BaseModel):
    number: int
    total: decimal.Decimal
    issued: datetime.datetime


@dataclasses.dataclass(frozen=True)
class Summary:
    invoice: Invoice
    days: list[datetime.date]


def _client(**kwargs: Any) -> inngest.Inngest:
    return inngest.Inngest(app_id="memos", environ={"INNGEST_DEV": "1"}, **kwargs)


ISSUED = datetime.datetime(2026, 5, 1, 12, tzinfo=datetime.timezone.utc)


def _invoice() -> Invoice:
    return Invoice(number=12, total=decimal.Decimal("10.50"), issued=ISSUED)


def test_one_handler_reused_across_steps_keeps_each_steps_type() -> None:
    # The step API remembers the last handler's type: a different handler, or
    # an explicit output_type, in between must not be served from it.
    client = _client()
    seen: list[Any] = []

    def when() -> datetime.date:
        return datetime.date(2026, 5, 2)

    def pair() -> list[int]:
        return [1, 2]

    @client.create_function(fn_id="reuse", trigger=inngest.TriggerEvent(event="m/r"))
    def fn(ctx: inngest.ContextSync) -> None:
        seen.clear()  # keep only the last call's values
        seen.append(ctx.step.run("a", when))
        seen.append(ctx.step.run("b", pair))
        seen.append(ctx.step.run("c", when))
        seen.append(ctx.step.run("d", pair, output_type=tuple[int, ...]))
        seen.append(ctx.step.run("e", pair))
        seen.append(ctx.step.run("f", when))

    engine = TestEngine(client, [fn])
    (event_id,) = engine.send("m/r")
    engine.run()
    assert engine.output(event_id) is None  # completed (raises otherwise)
    # The last call replayed every step from its memo.
    day = datetime.date(2026, 5, 2)
    assert seen == [day, [1, 2], day, (1, 2), [1, 2], day]


def test_typed_step_outputs_come_back_as_their_types_in_a_sync_function() -> None:
    client = _client()
    seen: list[Any] = []

    @client.create_function(fn_id="sync", trigger=inngest.TriggerEvent(event="m/s"))
    def fn(ctx: inngest.ContextSync) -> Summary:
        invoice = ctx.step.run("invoice", _invoice)
        days = ctx.step.run(
            "days", lambda: [datetime.date(2026, 5, 2)], output_type=list[datetime.date]
        )
        seen.append((invoice, days))
        return Summary(invoice, days)

    engine = TestEngine(client, [fn])
    (event_id,) = engine.send("m/s")
    engine.run()
    assert seen == [(_invoice(), [datetime.date(2026, 5, 2)])]
    assert type(seen[0][0]) is Invoice
    # Stored as JSON, as Inngest keeps it.
    run = engine.run_of(event_id)
    assert {"number": 12, "total": "10.50", "issued": "2026-05-01T12:00:00Z"} in [
        step.get("data") for step in run.steps.values() if isinstance(step, dict)
    ]
    assert engine.output(event_id) == {
        "invoice": {"number": 12, "total": "10.50", "issued": "2026-05-01T12:00:00Z"},
        "days": ["2026-05-02"],
    }


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_typed_outputs_in_async_functions_and_through_invoke(backend: str) -> None:
    client = _client()
    got: list[Any] = []

    @client.create_function(fn_id="child", trigger=inngest.TriggerEvent(event="m/c"))
    async def child(ctx: inngest.Context) -> Invoice:
        return await ctx.step.run("make", _invoice)

    @client.create_function(fn_id="parent", trigger=inngest.TriggerEvent(event="m/p"))
    async def parent(ctx: inngest.Context) -> bool:
        invoice = await ctx.step.invoke("call", function=child)
        got.append(invoice)
        return True

    engine = TestEngine(client, [child, parent], backend=backend)
    (event_id,) = engine.send("m/p")
    engine.run()
    assert engine.output(event_id) is True
    assert got == [_invoice()]


def test_a_value_that_fails_its_declared_type_fails_the_attempt_clearly() -> None:
    client = _client()

    @client.create_function(
        fn_id="bad", trigger=inngest.TriggerEvent(event="m/b"), retries=0
    )
    def fn(ctx: inngest.ContextSync) -> None:
        ctx.step.run("wrong", lambda: "not an invoice", output_type=Invoice)

    engine = TestEngine(client, [fn])
    (event_id,) = engine.send("m/b")
    engine.run()
    error = engine.run_of(event_id).output
    assert isinstance(error, dict)
    assert error["name"] == "OutputUnserializableError"
    assert 'step "wrong" returned str' in error["message"]


class _Rewrite(inngest.MiddlewareSync):
    """Changes every memo's data as it is loaded, and every output as it leaves."""

    seen: ClassVar[list[int]] = []

    def transform_input(
        self, ctx: Any, function: Any, steps: inngest.StepMemos
    ) -> None:
        type(self).seen.append(steps.size)
        for memo in steps.values():
            if isinstance(memo.data, dict) and "wrapped" in memo.data:
                memo.data = memo.data["wrapped"]

    def transform_output(self, result: inngest.TransformOutputResult) -> None:
        if result.step is not None:
            result.output = {"wrapped": result.output}


def test_middleware_rewrites_memos_and_outputs_around_typed_values() -> None:
    _Rewrite.seen = []
    client = _client(middleware=[_Rewrite])
    seen: list[Any] = []

    @client.create_function(fn_id="mw", trigger=inngest.TriggerEvent(event="m/mw"))
    def fn(ctx: inngest.ContextSync) -> int:
        invoice = ctx.step.run("invoice", _invoice)
        seen.append(invoice)
        return invoice.number

    engine = TestEngine(client, [fn])
    (event_id,) = engine.send("m/mw")
    engine.run()
    assert engine.output(event_id) == 12
    assert seen == [_invoice()]
    # The stored memo is what the middleware made of the serialized output.
    (stored,) = engine.run_of(event_id).steps.values()
    assert stored == {"data": {"wrapped": _invoice().model_dump(mode="json")}}
    assert _Rewrite.seen == [0, 1]
