"""The sample app the demo runs: a small shop's background jobs.

Each function shows one durable-execution feature; ``python -m examples.demo``
(or ``tox -e demo``) runs them all on the embedded dev server.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import inngest_proto as inngest

#: Attempts seen by ``flaky-sync``, to fail the first and succeed after.
ATTEMPTS: dict[str, int] = {}


def build(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    """The app's functions, for ``client``."""

    @client.create_function(
        fn_id="process-order", trigger=inngest.TriggerEvent(event="shop/order.placed")
    )
    async def process_order(ctx: inngest.Context) -> dict[str, Any]:
        order: Mapping[str, Any] = ctx.event.data
        total = await ctx.step.run("price", lambda: sum(order["items"].values()))
        charge = await ctx.step.run("charge", lambda: f"ch_{order['id']}_{total}")
        return {"order": order["id"], "total": total, "charge": charge}

    @client.create_function(
        fn_id="welcome", trigger=inngest.TriggerEvent(event="shop/user.signup")
    )
    async def welcome(ctx: inngest.Context) -> str:
        # A real app would wait a day; the demo waits a moment.
        await ctx.step.sleep("let-them-look-around", datetime.timedelta(seconds=1))
        return await ctx.step.run(
            "email", lambda: f"welcome mail to {ctx.event.data['email']}"
        )

    @client.create_function(
        fn_id="refund", trigger=inngest.TriggerEvent(event="shop/refund.requested")
    )
    async def refund(ctx: inngest.Context) -> str:
        approval = await ctx.step.wait_for_event(
            "manager-approval",
            event="shop/refund.approved",
            if_exp="event.data.order == async.data.order",
            timeout=datetime.timedelta(seconds=30),
        )
        if approval is None:
            return "refund expired unapproved"
        return f"refunded, approved by {approval.data['by']}"

    @client.create_function(
        fn_id="tax", trigger=inngest.TriggerEvent(event="shop/tax.compute")
    )
    def tax(ctx: inngest.ContextSync) -> float:
        return round(float(ctx.event.data["amount"]) * 0.2, 2)

    @client.create_function(
        fn_id="invoice", trigger=inngest.TriggerEvent(event="shop/invoice.requested")
    )
    async def invoice(ctx: inngest.Context) -> dict[str, Any]:
        amount = float(ctx.event.data["amount"])
        vat = await ctx.step.invoke(
            "compute-tax", function=tax, data={"amount": amount}
        )
        return {"amount": amount, "vat": vat}

    @client.create_function(
        fn_id="restock", trigger=inngest.TriggerEvent(event="shop/restock")
    )
    async def restock(ctx: inngest.Context) -> list[str]:
        def order(sku: str) -> Callable[[], Awaitable[str]]:
            return lambda: ctx.step.run(f"order-{sku}", lambda: f"{sku}: ordered")

        # One step per SKU, run in parallel; the run resumes when all are done.
        results = await ctx.group.parallel(
            tuple(order(sku) for sku in ctx.event.data["skus"])
        )
        return list(results)

    @client.create_function(
        fn_id="flaky-sync",
        retries=3,
        trigger=inngest.TriggerEvent(event="shop/inventory.sync"),
    )
    def flaky_sync(ctx: inngest.ContextSync) -> str:
        def call_supplier() -> str:
            ATTEMPTS[ctx.run_id] = ATTEMPTS.get(ctx.run_id, 0) + 1
            if ATTEMPTS[ctx.run_id] == 1:
                msg = "supplier API timed out"
                raise ConnectionError(msg)
            return "inventory synced"

        return ctx.step.run("call-supplier", call_supplier)

    return [process_order, welcome, refund, tax, invoice, restock, flaky_sync]
