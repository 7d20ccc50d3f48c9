"""An app written only with the official SDK (``inngest==0.5.19``) that sets
every flow-control option, one function per option.

Nothing of ours is imported: it is what a user of the official SDK writes.

Only ``async def`` handlers, served by FastAPI (unlike :mod:`.official_app`,
which also has the sync twins on Flask).  Flow control is decided by the dev
server alone: which call goes out, when, and whether a run exists at all.
The SDK's side of a call is the same for every option here (run a step,
sleep, return), and its sync and async paths are already covered on both
frameworks by :mod:`.test_official_sdk_on_devserver`.  A Flask copy would
double the suite's wall time (its debounce, batch, throttle and timeout
scenarios wait on the real clock) without reaching one more line of the
server.  uvicorn serves concurrent requests on one event loop, and the steps
sleep with ``asyncio.sleep``, so a broken concurrency limit would show as
overlapping steps.

The app records what a test cannot read from the dev server: ``spans``, the
``time.monotonic()`` start and end of each step, by function; ``order``, the
order in which the priority function's steps ran.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import time
from typing import Any

import attrs
import inngest

APP_ID = "official-flow"
#: The cron trigger: hourly, so it does not fire during the suite (or once).
HOURLY = "0 * * * *"
#: Events with ``vip`` true jump this many seconds ahead in the queue.
PRIORITY = "event.data.vip == true ? 600 : 0"
#: How long a step of the concurrency-limited functions takes.
SERIAL_STEP = 0.1
PER_USER_STEP = 0.3
#: A sleep no scenario waits out: the run is cancelled first.
LONG_SLEEP = datetime.timedelta(minutes=1)


@attrs.frozen
class Span:
    label: str
    start: float
    end: float


@attrs.define
class FlowApp:
    client: inngest.Inngest
    functions: list[inngest.Function[Any]]
    spans: collections.defaultdict[str, list[Span]] = attrs.field(
        factory=lambda: collections.defaultdict(list)
    )
    order: list[str] = attrs.field(factory=list)


def _int(value: object) -> int:
    # Event data is typed as any JSON value; these scenarios send ints.
    assert isinstance(value, int)
    return value


def flow_app(client: inngest.Inngest) -> FlowApp:
    app = FlowApp(client, [])

    async def timed(fn: str, label: str, seconds: float) -> str:
        """A step body: sleep ``seconds``, recording when it ran."""
        start = time.monotonic()
        await asyncio.sleep(seconds)
        app.spans[fn].append(Span(label, start, time.monotonic()))
        return label

    @client.create_function(
        fn_id="rate-limited",
        trigger=inngest.TriggerEvent(event="flow/rate"),
        rate_limit=inngest.RateLimit(
            limit=1, period=datetime.timedelta(minutes=1), key="event.data.user"
        ),
    )
    async def rate_limited(ctx: inngest.Context) -> int:
        return _int(ctx.event.data["n"])

    @client.create_function(
        fn_id="idempotent",
        trigger=inngest.TriggerEvent(event="flow/idem"),
        idempotency="event.data.order",
    )
    async def idempotent(ctx: inngest.Context) -> int:
        return _int(ctx.event.data["n"])

    @client.create_function(
        fn_id="debounced",
        trigger=inngest.TriggerEvent(event="flow/debounce"),
        debounce=inngest.Debounce(period=1000),  # 1 s: the least allowed
    )
    async def debounced(ctx: inngest.Context) -> dict[str, Any]:
        return {"n": ctx.event.data["n"], "events": len(ctx.events)}

    @client.create_function(
        fn_id="batched",
        trigger=inngest.TriggerEvent(event="flow/batch"),
        batch_events=inngest.Batch(max_size=3, timeout=1000, key="event.data.group"),
    )
    async def batched(ctx: inngest.Context) -> list[int]:
        return [_int(e.data["n"]) for e in ctx.events]

    @client.create_function(
        fn_id="serial",
        trigger=inngest.TriggerEvent(event="flow/serial"),
        concurrency=[inngest.Concurrency(limit=1)],
    )
    async def serial(ctx: inngest.Context) -> str:
        label = f"s{ctx.event.data['n']}"
        done: str = await ctx.step.run("work", timed, "serial", label, SERIAL_STEP)
        return done

    @client.create_function(
        fn_id="per-user",
        trigger=inngest.TriggerEvent(event="flow/per-user"),
        concurrency=[inngest.Concurrency(limit=1, key="event.data.user")],
    )
    async def per_user(ctx: inngest.Context) -> str:
        label = f"{ctx.event.data['user']}{ctx.event.data['n']}"
        done: str = await ctx.step.run("work", timed, "per-user", label, PER_USER_STEP)
        return done

    @client.create_function(
        fn_id="throttled",
        trigger=inngest.TriggerEvent(event="flow/throttle"),
        throttle=inngest.Throttle(limit=1, period=1000),  # burst: the SDK's 1
    )
    async def throttled(ctx: inngest.Context) -> str:
        label = f"t{ctx.event.data['n']}"
        done: str = await ctx.step.run("work", timed, "throttled", label, 0)
        return done

    async def ranked_step(label: str) -> str:
        app.order.append(label)
        await asyncio.sleep(0.05)
        return label

    @client.create_function(
        fn_id="ranked",
        trigger=inngest.TriggerEvent(event="flow/ranked"),
        concurrency=[inngest.Concurrency(limit=1)],
        priority=inngest.Priority(run=PRIORITY),
    )
    async def ranked(ctx: inngest.Context) -> str:
        label = str(ctx.event.data["label"])
        done: str = await ctx.step.run("work", ranked_step, label)
        return done

    @client.create_function(
        fn_id="skip-singleton",
        trigger=inngest.TriggerEvent(event="flow/skip"),
        singleton=inngest.Singleton(mode="skip"),
    )
    async def skip_singleton(ctx: inngest.Context) -> int:
        return _int(ctx.event.data["n"])

    @client.create_function(
        fn_id="cancel-singleton",
        trigger=inngest.TriggerEvent(event="flow/latest"),
        singleton=inngest.Singleton(mode="cancel"),
    )
    async def cancel_singleton(ctx: inngest.Context) -> int:
        if ctx.event.data["hold"]:
            await ctx.step.sleep("hold", LONG_SLEEP)
        return _int(ctx.event.data["n"])

    @client.create_function(
        fn_id="cancellable",
        trigger=inngest.TriggerEvent(event="flow/job"),
        cancel=[
            inngest.Cancel(event="flow/stop", if_exp="event.data.id == async.data.id")
        ],
    )
    async def cancellable(ctx: inngest.Context) -> str:
        await ctx.step.sleep("wait", LONG_SLEEP)
        return "finished"

    @client.create_function(
        fn_id="timeboxed",
        trigger=inngest.TriggerEvent(event="flow/timebox"),
        timeouts=inngest.Timeouts(finish=1000),
    )
    async def timeboxed(ctx: inngest.Context) -> str:
        if ctx.event.data["slow"]:
            await ctx.step.sleep("nap", LONG_SLEEP)
        return "done"

    @client.create_function(fn_id="hourly", trigger=inngest.TriggerCron(cron=HOURLY))
    async def hourly(ctx: inngest.Context) -> str:
        return "tick"

    app.functions = [
        rate_limited,
        idempotent,
        debounced,
        batched,
        serial,
        per_user,
        throttled,
        ranked,
        skip_singleton,
        cancel_singleton,
        cancellable,
        timeboxed,
        hourly,
    ]
    return app
