"""Reading registered function configs in every shape the SDKs send."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inngest_proto._converter import structure, unstructure
from inngest_proto._function_config import FunctionConfig
from inngest_proto._options import (
    Concurrency,
    Priority,
    Singleton,
    Throttle,
    TriggerCron,
    TriggerEvent,
)
from inngest_proto.executor import (
    FLOW_CONTROL_KEYS,
    ConfigProblem,
    InvalidFunctionConfig,
    expressions_of,
    read_function_config,
)
from tests.fakes import synced_function

URL = "http://127.0.0.1:9/api/inngest?fnId=app-fn&stepId=step"


def _problems(raw: Any) -> list[ConfigProblem]:
    with pytest.raises(InvalidFunctionConfig) as caught:
        read_function_config(raw)
    return list(caught.value.problems)


# --- concurrency: a number, an object, a list ------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (1, [Concurrency(limit=1)]),
        (3.0, [Concurrency(limit=3)]),
        (
            {"limit": 1, "key": "event.data.id"},
            [Concurrency(limit=1, key="event.data.id")],
        ),
        (
            [{"limit": 2}, {"limit": 5, "key": "'x'", "scope": "account"}],
            [Concurrency(limit=2), Concurrency(limit=5, key="'x'", scope="account")],
        ),
        # The Go SDK: step limits in an object, scopes capitalised, a hash.
        (
            {"step": [{"limit": 4, "scope": "Fn", "hash": ""}]},
            [Concurrency(limit=4, scope="fn")],
        ),
    ],
)
def test_concurrency_in_every_shape(given: Any, expected: list[Concurrency]) -> None:
    config = read_function_config(synced_function(concurrency=given))
    assert config.concurrency == expected


@pytest.mark.parametrize(
    ("given", "field", "text"),
    [
        ("5", "concurrency", "a number, an object or a list"),
        (True, "concurrency", "a number, an object or a list"),
        (-1, "concurrency.limit", "0 (no limit) or more"),
        (1.5, "concurrency.limit", "whole number"),
        ({"key": "event.data.id"}, "concurrency.limit", "is required"),
        ([{"limit": 1}] * 3, "concurrency", "at most 2"),
        ([{"limit": 1, "scope": "env"}], "concurrency[0].key", "env-scoped"),
        (
            [{"limit": 1, "scope": "galaxy"}],
            "concurrency[0].scope",
            "fn, env or account",
        ),
        ({"fn": [{"limit": 1}]}, "concurrency.fn", "not supported"),
    ],
)
def test_bad_concurrency_says_where(given: Any, field: str, text: str) -> None:
    (problem,) = _problems(synced_function(concurrency=given))
    assert problem.function == "app-fn"
    assert problem.field == field
    assert text in problem.message
    assert str(problem).startswith(f"function 'app-fn': {field}: ")


# --- the other fields' alternate shapes -------------------------------------------


def test_go_sdk_shapes() -> None:
    """Keys in any case, no runtime type, function-level retries, zero values."""
    raw = {
        "Name": "fn",
        "ID": "app-fn",
        "Triggers": [{"Event": "t/x"}, {"cron": "0 * * * *", "jitter": ""}],
        "retries": 3,
        "steps": {
            "step": {
                "id": "step",
                "name": "fn",
                "runtime": {"url": URL},
                "retries": None,
            }
        },
        "Singleton": {"Key": "event.data.id"},
        "throttle": {"limit": 0, "period": "1m0s", "burst": 0},
        "priority": {"run": None},
        "debounce": {"key": "", "period": "10s"},
        "timeouts": {"start": "", "finish": "1h"},
    }
    config = read_function_config(raw)
    assert config.id == "app-fn"
    assert config.triggers == [TriggerEvent(event="t/x"), TriggerCron(cron="0 * * * *")]
    step = config.steps["step"]
    assert (step.runtime.type, step.retries and step.retries.attempts) == ("http", 3)
    assert config.singleton == Singleton(key="event.data.id", mode="skip")
    assert config.throttle == Throttle(
        limit=1, period=datetime.timedelta(minutes=1), burst=None
    )
    assert config.priority is None
    assert config.debounce is not None
    assert config.debounce.key is None
    assert config.timeouts is not None
    assert config.timeouts.start is None


def test_typescript_shapes() -> None:
    """An invoke-only function lists no triggers; ``priority: {}`` is none."""
    ws = "wss://gw.example/connect?fnId=app-fn&stepId=step"
    raw = synced_function(triggers=[], priority={}, idempotency="")
    raw["steps"]["step"]["runtime"] = {"url": ws}
    raw["steps"]["step"]["retries"] = {"attempts": 99}
    config = read_function_config(raw)
    assert config.triggers == []
    assert config.priority is None
    assert config.idempotency is None
    assert config.steps["step"].runtime.type == "ws"
    assert config.steps["step"].retries is not None
    assert config.steps["step"].retries.attempts == 20  # clamped, not refused


def test_the_canonical_shape_reads_back_unchanged() -> None:
    raw = synced_function(
        concurrency=[{"key": "event.data.user", "limit": 5, "scope": "fn"}],
        throttle={"key": "event.data.user", "limit": 3, "period": "10s", "burst": 2},
        rateLimit={"key": "event.data.user", "limit": 10, "period": "1m"},
        debounce={"key": "event.data.user", "period": "30s", "timeout": "5m"},
        priority={"run": "event.data.priority"},
        cancel=[{"event": "t/cancel", "if": "event.data.id == async.data.id"}],
        timeouts={"start": "1m", "finish": "2h"},
        singleton={"key": "event.data.user", "mode": "cancel"},
        idempotency="event.data.order",
    )
    config = read_function_config(copy.deepcopy(raw))
    assert config == structure(raw, FunctionConfig)
    assert read_function_config(unstructure(config)) == config
    assert config.priority == Priority(run="event.data.priority")


@pytest.mark.parametrize(
    ("extra", "field", "text"),
    [
        ({"name": ""}, "name", "name is required"),
        ({"steps": {}}, "steps", "exactly one step"),
        (
            {"triggers": [{"event": "a", "cron": "* * * * *"}]},
            "triggers[0]",
            "not both",
        ),
        ({"triggers": [{"event": "a"}, {"event": "a"}]}, "triggers[1]", "duplicate"),
        ({"triggers": [{"cron": "nope"}]}, "triggers[0].cron", "5 fields"),
        ({"throttle": {"limit": 1}}, "throttle.period", "is required"),
        ({"throttle": {"limit": 1, "period": "soon"}}, "throttle.period", "duration"),
        (
            {"rateLimit": {"limit": 0, "period": "1h"}},
            "rateLimit.limit",
            "greater than 0",
        ),
        ({"rateLimit": {"limit": 1, "period": "2d"}}, "rateLimit.period", "24h"),
        ({"debounce": {"period": "8d"}}, "debounce.period", "1s to 7d"),
        ({"batchEvents": {"maxSize": 1, "timeout": "5s"}}, "batchEvents.maxSize", "2"),
        (
            {"batchEvents": {"maxSize": 5, "timeout": "1d"}},
            "batchEvents.timeout",
            "no d",
        ),
        ({"singleton": {"mode": "queue"}}, "singleton.mode", "skip or cancel"),
        ({"cancel": [{"event": "x"}] * 6}, "cancel", "at most 5"),
        ({"priority": {"run": 5}}, "priority.run", "must be a string"),
        (
            {"cancel": [{"event": "x", "timeout": "2030-01-01T00:00:00.000Z"}]},
            "cancel[0].timeout",
            "a point in time",
        ),
        (
            {
                "batchEvents": {"maxSize": 5, "timeout": "5s"},
                "cancel": [{"event": "x"}],
            },
            "batchEvents",
            "cancellation cannot be combined",
        ),
    ],
)
def test_refusals_name_the_field(extra: dict[str, Any], field: str, text: str) -> None:
    (problem,) = _problems(synced_function(**extra))
    assert (problem.field, problem.function) == (field, "app-fn")
    assert text in problem.message


def test_every_problem_is_listed() -> None:
    problems = _problems(synced_function(concurrency="x", throttle={"limit": 1}))
    assert [p.field for p in problems] == ["concurrency", "throttle.period"]


def test_a_function_without_an_id_is_named_by_its_name_or_place() -> None:
    raw = synced_function(concurrency=-1)
    del raw["id"]
    raw["name"] = "My Fn"
    assert _problems(raw)[0].function == "my-fn"
    assert _problems("nope")[0].function == "#0"


def test_expressions_are_listed_with_their_check() -> None:
    config = read_function_config(
        synced_function(
            triggers=[{"event": "a", "expression": "event.data.ok"}],
            concurrency=[{"limit": 1, "key": "event.data.k"}],
            priority={"run": "event.data.p"},
            cancel=[{"event": "c", "if": "event.data.id == async.data.id"}],
        )
    )
    assert [(u.field, u.check) for u in expressions_of(config)] == [
        ("triggers[0].expression", "types"),
        ("concurrency[0].key", "syntax"),
        ("priority.run", "syntax"),
        ("cancel[0].if", "restrictive"),
    ]


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 30)
    | st.floats(-2, 30)
    | st.sampled_from(["", "5s", "1d", "x", "Fn", "skip", "event.data.id", "0 * * * *"])
)
_SUBKEYS = st.sampled_from(
    [
        "limit",
        "key",
        "scope",
        "period",
        "burst",
        "timeout",
        "maxSize",
        "if",
        "run",
        "mode",
        "event",
        "cron",
        "step",
        "fn",
        "start",
        "finish",
        "url",
        "runtime",
    ]
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(_SUBKEYS, inner, max_size=3)
    ),
    max_leaves=8,
)
_KEYS = st.sampled_from([*FLOW_CONTROL_KEYS, "triggers", "steps", "retries"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _JSON, max_size=4))
def test_any_json_is_read_or_refused_never_crashes(extra: dict[str, Any]) -> None:
    problems: tuple[ConfigProblem, ...] = ()
    try:
        config = read_function_config(synced_function(**extra))
    except InvalidFunctionConfig as err:
        problems = err.problems
        assert problems
    else:
        # What is accepted is stored canonically and reads back the same.
        assert read_function_config(unstructure(config)) == config
    assert all(p.function == "app-fn" and p.message for p in problems)
