"""End to end: typed outputs and typed events, over HTTP, on the dev server."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pydantic
import pytest

import inngest_proto as inngest

from ._harness import harness

pytestmark = pytest.mark.anyio


class Quote(pydantic.BaseModel):
    sku: str
    price: decimal.Decimal
    valid_until: datetime.datetime


class QuoteAsked(pydantic.BaseModel):
    sku: str


ASKED = inngest.EventType("shop/quote.asked", QuoteAsked)
UNTIL = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc)
PRICE = decimal.Decimal("9.99")
SEEN: list[Any] = []


def _functions(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(fn_id="quote", trigger=ASKED.trigger())
    async def quote(ctx: inngest.Context) -> Quote:
        asked = ASKED.parse(ctx.event).data

        async def price() -> Quote:
            return Quote(
                sku=asked.sku, price=decimal.Decimal("9.99"), valid_until=UNTIL
            )

        first = await ctx.step.run("price", price)
        await ctx.step.sleep("settle", 10)
        SEEN.append(first)
        return first

    return [quote]


async def test_a_pydantic_output_is_stored_as_json_and_replayed_as_the_model() -> None:
    SEEN.clear()
    async with harness(_functions) as h:
        (event_id,) = await h.client.send(ASKED.create(QuoteAsked(sku="A-1")))
        run = await h.finished_run(event_id)
        assert run["status"] == "Completed"
        wire = {"sku": "A-1", "price": "9.99", "valid_until": "2026-06-01T00:00:00Z"}
        assert run["output"] == wire
        # Each replay after the step rebuilt the model from the stored JSON.
        assert [
            Quote(sku="A-1", price=decimal.Decimal("9.99"), valid_until=UNTIL)
        ] == SEEN
