"""Typed events: one declaration gives typed send, triggers and received data."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import attrs
import pydantic
import pytest

import inngest_proto as inngest
from inngest_transports.testing import TestEngine


class Plan(enum.Enum):
    FREE = "free"
    PRO = "pro"


@attrs.frozen
class Signup:
    user_id: str
    plan: Plan


class Paid(pydantic.BaseModel):
    user_id: str
    cents: int


@dataclasses.dataclass
class Scalar:
    value: int


SIGNUP = inngest.EventType("app/user.signed_up", Signup)
PAID = inngest.EventType("app/user.paid", Paid)


def test_create_writes_the_data_as_json() -> None:
    event = SIGNUP.create(Signup("u1", Plan.PRO), id="k1")
    assert event == inngest.Event(
        name="app/user.signed_up", data={"user_id": "u1", "plan": "pro"}, id="k1"
    )
    assert PAID.create(Paid(user_id="u", cents=5)).data == {"user_id": "u", "cents": 5}


def test_parse_reads_the_declared_type_and_keeps_the_envelope() -> None:
    event = inngest.Event(
        name="app/user.signed_up",
        data={"user_id": "u1", "plan": "free"},
        id="e1",
        ts=5,
    )
    typed = SIGNUP.parse(event)
    assert typed.data == Signup("u1", Plan.FREE)
    assert (typed.name, typed.id, typed.ts) == ("app/user.signed_up", "e1", 5)


def test_a_wrong_event_or_bad_data_is_not_retried() -> None:
    with pytest.raises(inngest.NonRetriableError, match="expected a app/user\\.paid"):
        PAID.parse(inngest.Event(name="other"))
    bad = inngest.Event(name="app/user.paid", data={"user_id": "u"}, id="e9")
    with pytest.raises(inngest.NonRetriableError, match="e9: its data is not a valid"):
        PAID.parse(bad)


def test_data_that_is_not_written_as_an_object_is_refused() -> None:
    as_int = inngest.EventType("x", int)
    with pytest.raises(TypeError, match="must be a JSON object"):
        as_int.create(5)
    with pytest.raises(TypeError, match="cannot write str as Paid"):
        PAID.create("nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty"):
        inngest.EventType("", Scalar)


def test_trigger_names_the_event() -> None:
    assert SIGNUP.trigger(
        expression="event.data.plan == 'pro'"
    ) == inngest.TriggerEvent(
        event="app/user.signed_up", expression="event.data.plan == 'pro'"
    )


RECEIPT = inngest.EventType("app/receipt.sent", Scalar)


def test_typed_events_through_send_trigger_wait_and_step_send_event() -> None:
    client = inngest.Inngest(app_id="typed", environ={"INNGEST_DEV": "1"})
    seen: list[Any] = []

    @client.create_function(
        fn_id="welcome", trigger=SIGNUP.trigger(expression="event.data.plan == 'pro'")
    )
    def welcome(ctx: inngest.ContextSync) -> str:
        signup = SIGNUP.parse(ctx.event)
        paid = ctx.step.wait_for_event(
            "paid",
            event=PAID.name,
            if_exp="async.data.user_id == event.data.user_id",
            timeout=60_000,
        )
        assert paid is not None
        cents = PAID.parse(paid).data.cents
        ctx.step.send_event("receipt", RECEIPT.create(Scalar(cents)))
        seen.append((signup.data, cents))
        return signup.data.user_id

    engine = TestEngine(client, [welcome])
    (free,) = engine.send(SIGNUP.create(Signup("u0", Plan.FREE)))
    (pro,) = engine.send(SIGNUP.create(Signup("u1", Plan.PRO)))
    engine.run_until_idle()
    engine.send(PAID.create(Paid(user_id="u2", cents=1)))  # someone else's
    engine.send(PAID.create(Paid(user_id="u1", cents=900)))
    engine.run()
    assert engine.runs_of(free) == []  # the trigger's filter reads typed data
    assert engine.output(pro) == "u1"
    assert seen == [(Signup("u1", Plan.PRO), 900)]
    (receipt,) = engine.sent_events
    assert RECEIPT.parse(inngest.Event(**receipt)).data == Scalar(900)
