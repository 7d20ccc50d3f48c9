"""A shop app written for the official SDK (``inngest==0.5.19``), as its users write.

It is the proof of the drop-in promise: ``test_dropin.py`` runs this source
as it is under the official SDK, and again with only its import lines
rewritten by docs/migrating.rst's module table, on our SDK; both runs must
give the same results.  So nothing here knows which SDK it runs on: the
imports below are the only lines that change.  The client is made at import
time, as apps do, from the environment (``INNGEST_DEV``, ``INNGEST_BASE_URL``).

It uses what the official models and errors offer to apps: ``model_dump``,
``model_dump_json``, ``model_validate``, ``model_validate_json``,
``model_copy(update=...)`` and the validation error; the errors' ``code``,
``name``, ``message``, ``is_retriable``, ``include_stack`` and ``stack``;
and the framework modules' ``FRAMEWORK``.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import fastapi
import inngest
from inngest import fast_api
from inngest import flask as inngest_flask

APP_ID = "dropin-shop"
ORDER_PLACED = "shop/order.placed"
ORDER_CONFIRMED = "shop/order.confirmed"
REFUND_ASKED = "shop/refund.asked"

client = inngest.Inngest(app_id=APP_ID)

#: The default batching of the app's events; copied (never assigned) to tune it.
BATCH = inngest.Batch(max_size=10, timeout=datetime.timedelta(seconds=5))
#: How often ``charge`` was called, so its retry can be told from one attempt.
charge_attempts: list[int] = []


def webhook(raw_body: str) -> list[str]:
    """What a webhook view does: read its JSON body as an event, send it on."""
    event = inngest.Event.model_validate_json(raw_body)
    data = dict(event.data)
    data["source"] = "webhook"
    return client.send_sync(event.model_copy(update={"data": data}))


def rejected(raw_body: str) -> dict[str, Any]:
    """A webhook body that is not an event: the validation error, as read by an app."""
    try:
        inngest.Event.model_validate_json(raw_body)
    except ValueError as err:  # pydantic's ValidationError is a ValueError
        # Read as pydantic's errors(), which ours has too (differences.rst).
        reading: Any = err
        first = reading.errors()[0]
        return {"type": first["type"], "loc": list(first["loc"])}
    raise AssertionError("accepted an invalid event")


def model_facts() -> dict[str, Any]:
    """What the models' pydantic methods give back."""
    event = inngest.Event(name=ORDER_PLACED, data={"order": 7, "items": ["tea"]})
    dumped = event.model_dump()
    again = inngest.Event.model_validate(dumped)
    bigger = BATCH.model_copy(update={"max_size": 50})
    return {
        "event_dump": dumped,
        "event_json": json.loads(event.model_dump_json()),
        "event_dump_no_defaults": event.model_dump(exclude_defaults=True),
        "round_trip_equal": again == event,
        "renamed": event.model_copy(update={"name": "shop/other"}).name,
        "original_kept": event.name,
        "batch_dump": BATCH.model_dump(by_alias=True, exclude_none=True),
        "bigger_batch": bigger.model_dump(mode="json", by_alias=True),
        "batch_max_size": bigger.max_size,
        "throttle": inngest.Throttle(
            limit=2, period=datetime.timedelta(minutes=1)
        ).model_dump(mode="json", exclude_none=True),
    }


def error_facts() -> dict[str, Any]:
    """What an app reads from the errors it raises and catches."""
    facts: dict[str, Any] = {}
    try:
        raise inngest.NonRetriableError("no refunds on sale items")
    except inngest.NonRetriableError as err:
        facts["non_retriable"] = {
            "name": err.name,
            "message": err.message,
            "is_retriable": err.is_retriable,
            "include_stack": err.include_stack,
            "has_stack": err.stack is not None and "no refunds" in err.stack,
            "code_value": err.code.value,
            "code_name": err.code.name,
            # Never true of the official plain Enum (mypy knows); true of
            # ours, a str enum (differences.rst).
            "code_equals_string": err.code == "non_retriable_error",  # type: ignore[comparison-overlap]
        }
    later = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    try:
        raise inngest.RetryAfterError("card busy", retry_after=later)
    except inngest.RetryAfterError as err:
        facts["retry_after"] = {
            "name": err.name,
            "message": err.message,
            "is_retriable": err.is_retriable,
            "retry_after": err.retry_after.isoformat(),
            "code_value": err.code.value,
            "code_equals_string": err.code == "retry_after_error",  # type: ignore[comparison-overlap]
        }
    return facts


def framework_facts() -> dict[str, Any]:
    """The frameworks as an app names them (in logs, metrics, its own headers)."""
    return {
        "fast_api": fast_api.FRAMEWORK.value,
        "flask": inngest_flask.FRAMEWORK.value,
        "fast_api_name": fast_api.FRAMEWORK.name,
        # As for the error codes: only a str enum equals its value.
        "fast_api_equals_string": fast_api.FRAMEWORK == "fast_api",  # type: ignore[comparison-overlap]
        "flask_equals_string": inngest_flask.FRAMEWORK == "flask",  # type: ignore[comparison-overlap]
    }


@client.create_function(
    fn_id="process-order",
    trigger=inngest.TriggerEvent(event=ORDER_PLACED),
    retries=0,
)
async def process_order(ctx: inngest.Context) -> dict[str, Any]:
    order = inngest.Event.model_validate(ctx.event.model_dump())

    items = order.data["items"]
    assert isinstance(items, list)

    async def total() -> int:
        return 3 * len(items)

    amount: int = await ctx.step.run("total", total)
    confirmation = inngest.Event(
        name=ORDER_CONFIRMED, data={"order": order.data["order"], "amount": amount}
    )
    payload = confirmation.model_dump(include={"name", "data"})
    ids = await ctx.step.send_event("confirm", inngest.Event.model_validate(payload))
    return {"amount": amount, "sent": len(ids), "source": order.data.get("source")}


@client.create_function(
    fn_id="charge",
    trigger=inngest.TriggerEvent(event=ORDER_CONFIRMED),
    retries=2,
)
async def charge(ctx: inngest.Context) -> str:
    async def card() -> str:
        charge_attempts.append(ctx.attempt)
        if ctx.attempt == 0:
            raise inngest.RetryAfterError("card busy", retry_after=1)
        return f"charged {ctx.event.data['amount']}"

    result: str = await ctx.step.run("card", card)
    return result


@client.create_function(
    fn_id="refund",
    trigger=inngest.TriggerEvent(event=REFUND_ASKED),
    retries=3,
)
async def refund(ctx: inngest.Context) -> None:
    async def check() -> bool:
        return bool(ctx.event.data.get("sale"))

    if await ctx.step.run("check", check):
        raise inngest.NonRetriableError("no refunds on sale items")


functions: list[inngest.Function[Any]] = [process_order, charge, refund]
app = fastapi.FastAPI()
fast_api.serve(app, client, functions)
