"""The app the golden transcripts were recorded from, rebuilt with our SDK.

Same app id, function ids, triggers, options and behaviour as the recording app
(the official SDK's app that recorded ``tests/fixtures/golden``), so that
replaying a transcript's requests against it must reproduce the transcript's
responses.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import inngest_proto as inngest
from inngest_proto.experimental.ai import openai as ai_openai

APP_ID = "golden-app"
UTC = datetime.timezone.utc


class GoldenError(Exception):
    """The user error the failing functions raise."""


def build_functions(client: inngest.Inngest) -> dict[str, inngest.Function[Any]]:
    """Every function of the golden app, keyed by local id, in sync order."""
    fns: dict[str, inngest.Function[Any]] = {}

    def add(fn: inngest.Function[Any]) -> inngest.Function[Any]:
        fns[fn.local_id] = fn
        return fn

    def on(event: str) -> inngest.TriggerEvent:
        return inngest.TriggerEvent(event=f"golden/{event}")

    @add
    @client.create_function(fn_id="no-steps", trigger=on("no-steps"))
    async def no_steps(ctx: inngest.Context) -> dict[str, Any]:
        return {"hello": ctx.event.data.get("name", "world"), "attempt": ctx.attempt}

    @add
    @client.create_function(fn_id="returns-none", trigger=on("returns-none"))
    async def returns_none(ctx: inngest.Context) -> None:
        return None

    @add
    @client.create_function(fn_id="two-steps", trigger=on("two-steps"))
    async def two_steps(ctx: inngest.Context) -> dict[str, Any]:
        first = await ctx.step.run("first", lambda: "A")

        async def second() -> str:
            return first + "B"

        return {"result": await ctx.step.run("second", second)}

    @add
    @client.create_function(fn_id="step-returns-none", trigger=on("step-returns-none"))
    async def step_returns_none(ctx: inngest.Context) -> str:
        await ctx.step.run("nothing", lambda: None)
        return "done"

    @add
    @client.create_function(fn_id="reused-ids", trigger=on("reused-ids"))
    async def reused_ids(ctx: inngest.Context) -> list[int]:
        return [await ctx.step.run("item", lambda n: n * 10, n) for n in range(3)]

    @add
    @client.create_function(fn_id="parallel", trigger=on("parallel"))
    async def parallel(ctx: inngest.Context) -> dict[str, Any]:
        both = await ctx.group.parallel(
            (
                lambda: ctx.step.run("p-a", lambda: "a"),
                lambda: ctx.step.run("p-b", lambda: "b"),
            )
        )
        last = await ctx.step.run("after", lambda: "after")
        return {"parallel": list(both), "last": last}

    @add
    @client.create_function(fn_id="parallel-race", trigger=on("parallel-race"))
    async def parallel_race(ctx: inngest.Context) -> list[str]:
        both = await ctx.group.parallel(
            (
                lambda: ctx.step.run("r-a", lambda: "a"),
                lambda: ctx.step.run("r-b", lambda: "b"),
            ),
            parallel_mode=inngest.ParallelMode.RACE,
        )
        return list(both)

    @add
    @client.create_function(fn_id="sleeps", trigger=on("sleeps"))
    async def sleeps(ctx: inngest.Context) -> str:
        await ctx.step.sleep_until(
            "until-2030", datetime.datetime(2030, 1, 1, 12, tzinfo=UTC)
        )
        await ctx.step.sleep("nap-1h", datetime.timedelta(hours=1))
        return "woke"

    @add
    @client.create_function(fn_id="wait", trigger=on("wait"))
    async def wait(ctx: inngest.Context) -> dict[str, Any]:
        approval = await ctx.step.wait_for_event(
            "wait-approval",
            event="golden/approved",
            if_exp="event.data.id == async.data.id",
            timeout=datetime.timedelta(days=1),
        )
        if approval is None:
            return {"approved": False}
        return {
            "approved": True,
            "by": approval.data.get("by"),
            "event_id": approval.id,
        }

    @add
    @client.create_function(fn_id="wait-no-if", trigger=on("wait-no-if"))
    async def wait_no_if(ctx: inngest.Context) -> bool:
        found = await ctx.step.wait_for_event(
            "wait-any", event="golden/any", timeout=datetime.timedelta(minutes=90)
        )
        return found is not None

    @add
    @client.create_function(fn_id="child", trigger=on("child"))
    async def child(ctx: inngest.Context) -> dict[str, Any]:
        return {"doubled": int(ctx.event.data.get("x", 0)) * 2}

    @add
    @client.create_function(fn_id="invoker", trigger=on("invoker"))
    async def invoker(ctx: inngest.Context) -> dict[str, Any]:
        doubled = await ctx.step.invoke(
            "call-child",
            function=child,
            data={"x": 21},
            timeout=datetime.timedelta(minutes=5),
        )
        other = await ctx.step.invoke_by_id(
            "call-other-app",
            app_id="other-app",
            function_id="remote-fn",
            data={"y": True},
            v="2024-01-01",
        )
        return {"child": doubled, "other": other}

    @add
    @client.create_function(fn_id="send-event", trigger=on("send-event"))
    async def send_event(ctx: inngest.Context) -> list[str]:
        return await ctx.step.send_event(
            "emit",
            [
                inngest.Event(name="golden/emitted", data={"n": 1}),
                inngest.Event(
                    name="golden/emitted",
                    data={"n": 2},
                    id="dedupe-key-2",
                    ts=1700000000000,
                ),
            ],
        )

    @add
    @client.create_function(fn_id="non-retriable", trigger=on("non-retriable"))
    async def non_retriable(ctx: inngest.Context) -> None:
        raise inngest.NonRetriableError("bad input; do not retry")

    @add
    @client.create_function(
        fn_id="non-retriable-in-step", trigger=on("non-retriable-in-step")
    )
    async def non_retriable_in_step(ctx: inngest.Context) -> None:
        def fails() -> None:
            raise inngest.NonRetriableError("raised inside step.run")

        await ctx.step.run("will-not-retry", fails)

    @add
    @client.create_function(fn_id="retry-after", trigger=on("retry-after"))
    async def retry_after(ctx: inngest.Context) -> None:
        raise inngest.RetryAfterError(
            "rate limited upstream",
            retry_after=datetime.datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC),
        )

    @add
    @client.create_function(
        fn_id="retry-after-in-step", trigger=on("retry-after-in-step")
    )
    async def retry_after_in_step(ctx: inngest.Context) -> None:
        def fails() -> None:
            raise inngest.RetryAfterError(
                "step says later",
                retry_after=datetime.datetime(2030, 1, 1, 0, 5, tzinfo=UTC),
            )

        await ctx.step.run("later", fails)

    @add
    @client.create_function(fn_id="step-fails", retries=3, trigger=on("step-fails"))
    async def step_fails(ctx: inngest.Context) -> str:
        def flaky() -> None:
            raise GoldenError("step exploded")

        try:
            await ctx.step.run("flaky", flaky)
        except inngest.StepError as err:
            if ctx.event.data.get("swallow"):
                return f"recovered from {err.name}: {err.message}"
            raise
        return "unreachable"

    @add
    @client.create_function(fn_id="plain-error", trigger=on("plain-error"))
    async def plain_error(ctx: inngest.Context) -> None:
        raise ValueError("function-level boom")

    @add
    @client.create_function(fn_id="nested-steps", trigger=on("nested-steps"))
    async def nested_steps(ctx: inngest.Context) -> None:
        async def outer() -> str:
            return await ctx.step.run("inner", lambda: "inner")

        await ctx.step.run("outer", outer)

    @add
    @client.create_function(fn_id="unserializable", trigger=on("unserializable"))
    async def unserializable(ctx: inngest.Context) -> object:
        return {"when": datetime.datetime(2030, 1, 1, tzinfo=UTC)}

    @add
    @client.create_function(fn_id="ai-infer", trigger=on("ai-infer"))
    async def ai_infer(ctx: inngest.Context) -> object:
        return await ctx.step.ai.infer(
            "ask-model",
            adapter=ai_openai.Adapter(
                auth_key="sk-test-not-a-real-key",
                model="gpt-4o-mini",
                headers={"x-custom": "1"},
            ),
            body={"messages": [{"role": "user", "content": "Say hi"}]},
        )

    @add
    @client.create_function(fn_id="slow", trigger=on("slow"))
    async def slow(ctx: inngest.Context) -> str:
        # The recording slept 4 s to show keepalives; replay needs no wait.
        return "slow done"

    @add
    @client.create_function(
        fn_id="batch",
        batch_events=inngest.Batch(max_size=3, timeout=datetime.timedelta(seconds=5)),
        trigger=on("batch"),
    )
    async def batch(ctx: inngest.Context) -> dict[str, Any]:
        return {"count": len(ctx.events), "first": ctx.event.id}

    async def handle_failure(ctx: inngest.Context) -> dict[str, Any]:
        error = ctx.event.data.get("error")
        return {
            "handled": True,
            "function_id": ctx.event.data.get("function_id"),
            "message": error.get("message") if isinstance(error, Mapping) else None,
        }

    @add
    @client.create_function(
        fn_id="with-failure-handler",
        on_failure=handle_failure,
        retries=0,
        trigger=on("with-failure-handler"),
    )
    async def with_failure_handler(ctx: inngest.Context) -> None:
        raise GoldenError("main handler failed")

    @add
    @client.create_function(
        fn_id="cron", trigger=inngest.TriggerCron(cron="TZ=Europe/Paris 0 9 * * 1-5")
    )
    async def cron(ctx: inngest.Context) -> str:
        return f"tick {ctx.event.name}"

    @add
    @client.create_function(
        fn_id="flow-control",
        name="Flow control (every option)",
        batch_events=inngest.Batch(
            max_size=10,
            timeout=datetime.timedelta(seconds=5),
            key="event.data.user_id",
            if_exp="event.data.kind == 'a'",
        ),
        cancel=[
            inngest.Cancel(
                event="golden/cancel",
                if_exp="event.data.id == async.data.id",
                timeout=datetime.timedelta(hours=1),
            ),
            inngest.Cancel(event="golden/cancel-all"),
        ],
        concurrency=[
            inngest.Concurrency(limit=5, key="event.data.user_id", scope="fn"),
            inngest.Concurrency(limit=50, key='"global"', scope="account"),
        ],
        debounce=inngest.Debounce(
            period=datetime.timedelta(seconds=30),
            key="event.data.user_id",
            timeout=datetime.timedelta(minutes=5),
        ),
        idempotency="event.data.order_id",
        priority=inngest.Priority(run="event.data.priority"),
        rate_limit=inngest.RateLimit(
            limit=10, period=datetime.timedelta(minutes=1), key="event.data.user_id"
        ),
        retries=7,
        throttle=inngest.Throttle(
            limit=3,
            period=datetime.timedelta(seconds=10),
            key="event.data.user_id",
            burst=2,
        ),
        timeouts=inngest.Timeouts(
            start=datetime.timedelta(minutes=1), finish=datetime.timedelta(hours=2)
        ),
        singleton=inngest.Singleton(key="event.data.user_id", mode="skip"),
        trigger=[
            inngest.TriggerEvent(
                event="golden/flow", expression="event.data.enabled == true"
            ),
            inngest.TriggerCron(cron="0 0 * * *", jitter="5m"),
        ],
    )
    async def flow_control(ctx: inngest.Context) -> str:
        return "ok"

    @client.create_function(fn_id="sync-two-steps", trigger=on("sync-two-steps"))
    def sync_two_steps(ctx: inngest.ContextSync) -> str:
        first = ctx.step.run("first", lambda: "A")
        return ctx.step.run("second", lambda: first + "B")

    fns["sync-two-steps"] = sync_two_steps
    return fns


#: Functions the cloud-mode recordings served (they keep signed payloads short).
CLOUD_FUNCTIONS = ("no-steps", "two-steps", "with-failure-handler")
#: The Flask recording served only the sync function.
FLASK_FUNCTIONS = ("sync-two-steps",)
