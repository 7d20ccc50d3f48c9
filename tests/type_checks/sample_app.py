"""A typed app that uses every step kind, every flow-control option,
middleware (async and sync) and ``fast_api.serve``.

It is type-checked (``mypy --strict`` and pyright strict) against both SDKs by
``test_type_checks.py``: the body below is the same file each time; only the shim
module ``_sdk`` differs (``sdk/ours/_sdk.py`` or ``sdk/official/_sdk.py``),
found on the checker's search path. Nothing here leans on what only one SDK
has, so a signature of ours that drifts from the official one breaks a check.
"""

from __future__ import annotations

import datetime
from typing import Any

import fastapi
from _sdk import fast_api, inngest, openai

client = inngest.Inngest(app_id="typed-app", is_production=False)


class Audit(inngest.Middleware):
    """Async middleware: every hook, with the official signatures."""

    def __init__(self, client: inngest.Inngest, raw_request: object) -> None:
        super().__init__(client, raw_request)
        self.calls: list[str] = []

    async def before_execution(self) -> None:
        self.calls.append("before_execution")

    async def after_execution(self) -> None:
        self.calls.append("after_execution")

    async def before_response(self) -> None:
        self.calls.append("before_response")

    async def before_send_events(self, events: list[inngest.Event]) -> None:
        self.calls.extend(event.name for event in events)

    async def after_send_events(self, result: inngest.SendEventsResult) -> None:
        self.calls.extend(result.ids)

    async def transform_input(
        self,
        ctx: inngest.Context | inngest.ContextSync,
        function: inngest.Function[Any],
        steps: inngest.StepMemos,
    ) -> None:
        self.calls.append(function.id)

    async def transform_output(self, result: inngest.TransformOutputResult) -> None:
        if result.error is None and result.has_output():
            result.output = {"wrapped": result.output}


class AuditSync(inngest.MiddlewareSync):
    """Sync middleware, for sync functions."""

    def before_execution(self) -> None:
        pass

    def transform_output(self, result: inngest.TransformOutputResult) -> None:
        if result.step is not None:
            result.output = {"step": result.step.id, "output": result.output}


def add(a: int, b: int) -> int:
    return a + b


async def add_later(a: int, b: int) -> int:
    return a + b


async def one() -> int:
    return 1


@client.create_function(
    fn_id="child",
    trigger=inngest.TriggerEvent(event="typed/child"),
)
async def child(ctx: inngest.Context) -> int:
    return await ctx.step.run("double", add_later, 2, 2)


@client.create_function(
    fn_id="steps",
    trigger=[
        inngest.TriggerEvent(event="typed/steps", expression="event.data.ok == true"),
        inngest.TriggerCron(cron="0 * * * *"),
    ],
    middleware=[Audit],
    retries=2,
)
async def steps(ctx: inngest.Context) -> dict[str, Any]:
    """Every async step kind."""
    total: int = await ctx.step.run("add", add_later, 1, 2)
    await ctx.step.sleep("nap", datetime.timedelta(seconds=1))
    await ctx.step.sleep("nap-ms", 1000)
    await ctx.step.sleep_until(
        "until", datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    )
    found: inngest.Event | None = await ctx.step.wait_for_event(
        "wait",
        event="typed/approved",
        if_exp="event.data.id == async.data.id",
        timeout=datetime.timedelta(hours=1),
    )
    doubled: int = await ctx.step.invoke(
        "invoke", function=child, data={"n": total}, timeout=60_000
    )
    by_id: object = await ctx.step.invoke_by_id(
        "invoke-by-id", app_id="typed-app", function_id="child", data={}
    )
    ids: list[str] = await ctx.step.send_event(
        "send", [inngest.Event(name="typed/sent", data={"total": total})]
    )
    pair: tuple[int, ...] = await ctx.group.parallel(
        (
            lambda: ctx.step.run("left", one),
            lambda: ctx.step.run("right", one),
        ),
        parallel_mode=inngest.ParallelMode.RACE,
    )
    answer = await ctx.step.ai.infer(
        "ask",
        adapter=openai.Adapter(auth_key="sk-test", model="gpt-4o"),
        body={"messages": [{"role": "user", "content": "hi"}]},
    )
    ctx.logger.info("run %s attempt %d: %s", ctx.run_id, ctx.attempt, answer)
    return {
        "total": total,
        "found": None if found is None else found.data,
        "doubled": doubled,
        "by_id": by_id,
        "ids": ids,
        "pair": list(pair),
        "event": ctx.event.name,
        "events": [event.id for event in ctx.events],
    }


@client.create_function(
    fn_id="steps-sync",
    trigger=inngest.TriggerEvent(event="typed/steps-sync"),
    middleware=[AuditSync],
)
def steps_sync(ctx: inngest.ContextSync) -> int:
    """Every sync step kind."""
    total: int = ctx.step.run("add", add, 1, 2)
    ctx.step.sleep("nap", datetime.timedelta(seconds=1))
    ctx.step.sleep_until(
        "until", datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    )
    ctx.step.wait_for_event("wait", event="typed/approved", timeout=1000)
    ctx.step.invoke_by_id("invoke-by-id", function_id="child")
    ctx.step.invoke("invoke", function=child, data={"n": total})
    ctx.step.ai.infer(
        "ask",
        adapter=openai.Adapter(auth_key="sk-test", model="gpt-4o"),
        body={"messages": []},
    )
    ctx.step.send_event("send", inngest.Event(name="typed/sent"))
    results: tuple[int, ...] = ctx.group.parallel(
        (
            lambda: ctx.step.run("left", add, 1, 1),
            lambda: ctx.step.run("right", add, 2, 2),
        )
    )
    return total + sum(results)


async def on_failure(ctx: inngest.Context) -> None:
    ctx.logger.error("failed: %s", ctx.event.data)


@client.create_function(
    fn_id="flow-control",
    name="Every flow-control option",
    trigger=inngest.TriggerEvent(event="typed/flow"),
    cancel=[
        inngest.Cancel(
            event="typed/cancel",
            if_exp="event.data.id == async.data.id",
            timeout=datetime.timedelta(hours=1),
        )
    ],
    concurrency=[
        inngest.Concurrency(limit=2),
        inngest.Concurrency(limit=1, key="event.data.user", scope="fn"),
    ],
    debounce=inngest.Debounce(
        period=datetime.timedelta(seconds=5),
        key="event.data.user",
        timeout=datetime.timedelta(minutes=1),
    ),
    idempotency="event.data.id",
    on_failure=on_failure,
    priority=inngest.Priority(run="event.data.vip == true ? 600 : 0"),
    rate_limit=inngest.RateLimit(
        limit=10, period=datetime.timedelta(minutes=1), key="event.data.user"
    ),
    retries=0,
    throttle=inngest.Throttle(
        limit=5, period=datetime.timedelta(seconds=10), key="event.data.user", burst=2
    ),
    timeouts=inngest.Timeouts(
        start=datetime.timedelta(minutes=1), finish=datetime.timedelta(minutes=5)
    ),
    singleton=inngest.Singleton(key="event.data.user", mode="skip"),
)
async def flow_control(ctx: inngest.Context) -> str:
    return ctx.event.name


@client.create_function(
    fn_id="batch",
    trigger=inngest.TriggerEvent(event="typed/batch"),
    batch_events=inngest.Batch(
        max_size=10, timeout=datetime.timedelta(seconds=5), key="event.data.user"
    ),
)
def batch(ctx: inngest.ContextSync) -> int:
    return len(ctx.events)


functions: list[inngest.Function[Any]] = [child, steps, steps_sync, flow_control, batch]

app = fastapi.FastAPI()
fast_api.serve(app, client, functions, serve_path="/api/inngest")
