"""The validation policy against the official SDK (``inngest==0.5.19``).

What both take registers the same function configs; what we refuse early
(docs/differences.rst, "Validation") the official SDK builds without a
complaint, and the server refuses at sync.  Skipped where the official SDK is
absent (``official`` tox env).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

import inngest_proto
from inngest_proto._converter import unstructure

#: The official SDK's pydantic models use v1-style ``class Config``; pydantic
#: warns at import, and our ``filterwarnings = error`` would make it fatal.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    pytest.importorskip("inngest")
    import inngest

APP_URL = "http://127.0.0.1:3000/api/inngest"


def _official(**kwargs: Any) -> list[Any]:
    client = inngest.Inngest(app_id="app", is_production=False)
    fn = client.create_function(**kwargs)(lambda ctx: None)
    config = fn.get_config(APP_URL)
    # As the official sync sends them: None values left out.
    dumped = [config.main, *([config.on_failure] if config.on_failure else [])]
    return [c.model_dump(by_alias=True, mode="json", exclude_none=True) for c in dumped]


def _ours(**kwargs: Any) -> list[Any]:
    client = inngest_proto.Inngest(app_id="app", is_production=False, environ={})
    fn = client.create_function(**kwargs)(lambda ctx: None)
    return [unstructure(c) for c in fn.get_configs(APP_URL)]


#: create_function's arguments, built by ``sdk`` (the official module or ours).
ACCEPTED: dict[str, Callable[[Any], dict[str, Any]]] = {
    "empty fn_id with a name": lambda sdk: {
        "fn_id": "",
        "name": "Nightly",
        "trigger": sdk.TriggerEvent(event="app/go"),
    },
    "no trigger": lambda sdk: {"fn_id": "fn", "trigger": []},
    "concurrency limit 0": lambda sdk: {
        "fn_id": "fn",
        "trigger": sdk.TriggerEvent(event="app/go"),
        "concurrency": [sdk.Concurrency(limit=0)],
    },
    "throttle limit 0": lambda sdk: {
        "fn_id": "fn",
        "trigger": sdk.TriggerEvent(event="app/go"),
        "throttle": sdk.Throttle(limit=0, period=60_000),
    },
    "cancel with an empty event": lambda sdk: {
        "fn_id": "fn",
        "trigger": sdk.TriggerEvent(event="app/go"),
        "cancel": [sdk.Cancel(event="")],
    },
    "retries above 20": lambda sdk: {
        "fn_id": "fn",
        "trigger": sdk.TriggerEvent(event="app/go"),
        "retries": 25,
        "on_failure": lambda ctx: None,
    },
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_accepted_cases_register_as_the_official_sdk_does(case: str) -> None:
    build = ACCEPTED[case]
    assert _ours(**build(inngest_proto)) == _official(**build(inngest))


#: What we refuse at construction and the official SDK builds (the server
#: refuses it at sync: an empty event name or cron, a rate limit of 0, an
#: empty priority expression, no function name).
REFUSED_EARLY: dict[str, Callable[[Any], object]] = {
    "trigger without an event name": lambda sdk: sdk.TriggerEvent(event=""),
    "cron trigger without a schedule": lambda sdk: sdk.TriggerCron(cron=""),
    "rate limit 0": lambda sdk: sdk.RateLimit(limit=0, period=1000),
    "empty priority expression": lambda sdk: sdk.Priority(run=""),
    "empty fn_id without a name": lambda sdk: sdk.Inngest(
        app_id="app", is_production=False
    ).create_function(fn_id="", trigger=sdk.TriggerEvent(event="app/go"))(
        lambda ctx: None
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED_EARLY))
def test_refused_early_cases_are_built_by_the_official_sdk(case: str) -> None:
    build = REFUSED_EARLY[case]
    build(inngest)
    with pytest.raises(inngest_proto.InngestError):
        build(inngest_proto)
