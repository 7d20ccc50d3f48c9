"""The golden app's functions (golden_app.py), rebuilt with our option classes.

Keyed by local ``fn_id``, in the order the golden app serves them.  Each value
holds the keyword arguments of :class:`FunctionOptions` plus ``has_on_failure``.
"""

from __future__ import annotations

import datetime
import json
import pathlib
from typing import Any

from inngest_proto._function_config import FunctionConfig, FunctionOptions
from inngest_proto._options import (
    Batch,
    Cancel,
    Concurrency,
    Debounce,
    Priority,
    RateLimit,
    Singleton,
    Throttle,
    Timeouts,
    TriggerCron,
    TriggerEvent,
)

GOLDEN_DIR = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "golden"
APP_ID = "golden-app"

_PLAIN = [
    "no-steps",
    "returns-none",
    "two-steps",
    "step-returns-none",
    "reused-ids",
    "parallel",
    "parallel-race",
    "sleeps",
    "wait",
    "wait-no-if",
    "child",
    "invoker",
    "send-event",
    "non-retriable",
    "non-retriable-in-step",
    "retry-after",
    "retry-after-in-step",
]


def _event(fn_id: str) -> TriggerEvent:
    return TriggerEvent(event=f"golden/{fn_id}")


def _golden_options() -> dict[str, tuple[FunctionOptions, bool]]:
    out: dict[str, tuple[FunctionOptions, bool]] = {}
    for fn_id in _PLAIN:
        out[fn_id] = (FunctionOptions(fn_id=fn_id, triggers=_event(fn_id)), False)
    out["step-fails"] = (
        FunctionOptions(fn_id="step-fails", retries=3, triggers=_event("step-fails")),
        False,
    )
    for fn_id in ["plain-error", "nested-steps", "unserializable", "ai-infer", "slow"]:
        out[fn_id] = (FunctionOptions(fn_id=fn_id, triggers=_event(fn_id)), False)
    out["batch"] = (
        FunctionOptions(
            fn_id="batch",
            batch_events=Batch(max_size=3, timeout=datetime.timedelta(seconds=5)),
            triggers=_event("batch"),
        ),
        False,
    )
    out["with-failure-handler"] = (
        FunctionOptions(
            fn_id="with-failure-handler",
            retries=0,
            triggers=_event("with-failure-handler"),
        ),
        True,
    )
    out["cron"] = (
        FunctionOptions(
            fn_id="cron", triggers=TriggerCron(cron="TZ=Europe/Paris 0 9 * * 1-5")
        ),
        False,
    )
    out["flow-control"] = (
        FunctionOptions(
            fn_id="flow-control",
            name="Flow control (every option)",
            batch_events=Batch(
                max_size=10,
                timeout=datetime.timedelta(seconds=5),
                key="event.data.user_id",
                if_exp="event.data.kind == 'a'",
            ),
            cancel=[
                Cancel(
                    event="golden/cancel",
                    if_exp="event.data.id == async.data.id",
                    timeout=datetime.timedelta(hours=1),
                ),
                Cancel(event="golden/cancel-all"),
            ],
            concurrency=[
                Concurrency(limit=5, key="event.data.user_id", scope="fn"),
                Concurrency(limit=50, key='"global"', scope="account"),
            ],
            debounce=Debounce(
                period=datetime.timedelta(seconds=30),
                key="event.data.user_id",
                timeout=datetime.timedelta(minutes=5),
            ),
            idempotency="event.data.order_id",
            priority=Priority(run="event.data.priority"),
            rate_limit=RateLimit(
                limit=10, period=datetime.timedelta(minutes=1), key="event.data.user_id"
            ),
            retries=7,
            throttle=Throttle(
                limit=3,
                period=datetime.timedelta(seconds=10),
                key="event.data.user_id",
                burst=2,
            ),
            timeouts=Timeouts(
                start=datetime.timedelta(minutes=1), finish=datetime.timedelta(hours=2)
            ),
            singleton=Singleton(key="event.data.user_id", mode="skip"),
            triggers=[
                TriggerEvent(
                    event="golden/flow", expression="event.data.enabled == true"
                ),
                TriggerCron(cron="0 0 * * *", jitter="5m"),
            ],
        ),
        False,
    )
    # Served by the Flask app.
    out["sync-two-steps"] = (
        FunctionOptions(fn_id="sync-two-steps", triggers=_event("sync-two-steps")),
        False,
    )
    return out


#: fn_id -> (options, has_on_failure)
GOLDEN_FUNCTIONS = _golden_options()
#: The 27 async functions the FastAPI golden app serves, in order.
ASYNC_FUNCTION_IDS = [fn_id for fn_id in GOLDEN_FUNCTIONS if fn_id != "sync-two-steps"]


def configs_for(fn_ids: list[str], serve_url: str) -> list[FunctionConfig]:
    """The configs the golden app would sync for ``fn_ids`` at ``serve_url``."""
    configs: list[FunctionConfig] = []
    for fn_id in fn_ids:
        options, has_on_failure = GOLDEN_FUNCTIONS[fn_id]
        configs += options.to_configs(
            app_id=APP_ID, serve_url=serve_url, has_on_failure=has_on_failure
        )
    return configs


def local_ids(functions: list[dict[str, Any]]) -> list[str]:
    """Local fn ids of the user functions in a golden ``functions`` list."""
    prefix = f"{APP_ID}-"
    return [
        f["id"].removeprefix(prefix)
        for f in functions
        if not f["id"].endswith("-failure")
    ]


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN_DIR / name).read_text())
    return data


def register_request(name: str) -> dict[str, Any]:
    """The ``POST /fn/register`` request a golden sync transcript captured."""
    for exchange in load(name)["exchanges"]:
        for outbound in exchange.get("sdk_outbound_requests") or []:
            request: dict[str, Any] = outbound["request"]
            if request["path"].startswith("/fn/register"):
                return request
    raise LookupError(name)
