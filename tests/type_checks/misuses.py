"""Deliberate misuses of ``step.run``: each line marked ``# expect-error``
must be reported by mypy and by pyright (``test_type_checks.py`` checks this
against both SDKs), and no other line may be.

Never imported: it is only type-checked.
"""

from __future__ import annotations

from _sdk import inngest

client = inngest.Inngest(app_id="misuses", is_production=False)


def add(a: int, b: int) -> int:
    return a + b


async def add_later(a: int, b: int) -> int:
    return a + b


@client.create_function(fn_id="async", trigger=inngest.TriggerEvent(event="m/a"))
async def misuse_async(ctx: inngest.Context) -> int:
    ok: int = await ctx.step.run("ok", add_later, 1, 2)
    await ctx.step.run("wrong-type", add_later, 1, "2")  # expect-error
    await ctx.step.run("too-few", add_later, 1)  # expect-error
    await ctx.step.run("too-many", add_later, 1, 2, 3)  # expect-error
    await ctx.step.run("no-args", add_later)  # expect-error
    wrong_result: str = await ctx.step.run("result", add_later, 1, 2)  # expect-error
    return ok + len(wrong_result)


@client.create_function(fn_id="sync", trigger=inngest.TriggerEvent(event="m/s"))
def misuse_sync(ctx: inngest.ContextSync) -> int:
    ok: int = ctx.step.run("ok", add, 1, 2)
    ctx.step.run("wrong-type", add, "1", 2)  # expect-error
    ctx.step.run("too-few", add, 1)  # expect-error
    ctx.step.run("too-many", add, 1, 2, 3)  # expect-error
    wrong_result: str = ctx.step.run("result", add, 1, 2)  # expect-error
    return ok + len(wrong_result)
