from __future__ import annotations

import base64
import datetime
import json
from typing import Any

import pytest

from inngest_proto._converter import structure, unstructure
from inngest_proto._errors import FunctionConfigInvalidError
from inngest_proto._function_config import (
    FunctionConfig,
    FunctionOptions,
    build_function_configs,
    failure_function_id,
    fully_qualified_id,
)
from inngest_proto._options import (
    Batch,
    Cancel,
    Concurrency,
    Debounce,
    Throttle,
    TriggerCron,
    TriggerEvent,
)
from tests.golden_files import load_golden

from ._golden_functions import (
    ASYNC_FUNCTION_IDS,
    configs_for,
    local_ids,
    register_request,
)

SERVE_URL = "http://127.0.0.1:8931/api/inngest"


def _golden_functions() -> list[dict[str, Any]]:
    functions: list[dict[str, Any]] = register_request("sync_dev_out_of_band.json")[
        "body"
    ]["functions"]
    return functions


GOLDEN = _golden_functions()


def test_golden_app_serves_27_functions_as_28_configs() -> None:
    assert local_ids(GOLDEN) == ASYNC_FUNCTION_IDS
    assert len(ASYNC_FUNCTION_IDS) == 27
    assert len(GOLDEN) == 28


@pytest.mark.parametrize(
    ("index", "expected"), list(enumerate(GOLDEN)), ids=[f["id"] for f in GOLDEN]
)
def test_config_matches_golden(index: int, expected: dict[str, Any]) -> None:
    ours = configs_for(ASYNC_FUNCTION_IDS, SERVE_URL)
    assert len(ours) == len(GOLDEN)
    assert ours[index].id == expected["id"]
    assert unstructure(ours[index]) == expected
    # Same key order as the official SDK, too.
    assert json.dumps(unstructure(ours[index])) == json.dumps(expected)


@pytest.mark.parametrize("expected", GOLDEN, ids=[f["id"] for f in GOLDEN])
def test_golden_config_structures_and_round_trips(expected: dict[str, Any]) -> None:
    config = structure(expected, FunctionConfig)
    assert unstructure(config) == expected


def test_connect_configs_use_ws_runtime() -> None:
    """connect_session.json: functions built for ``wss://connect``."""
    session = load_golden("connect_session.json")
    apps = _find_key(session, "apps")
    raw = base64.b64decode(apps[0]["functions"])
    ours = build_function_configs(
        app_id="golden-connect-app",
        fn_id="two-steps",
        name=None,
        triggers=TriggerEvent(event="golden/connect"),
        retries=None,
        has_on_failure=False,
        serve_url="wss://connect",
    )
    assert json.dumps(unstructure(ours), separators=(",", ":")).encode() == raw


def _find_key(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        if key in value:
            return value[key]
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = _find_key(item, key)
            if found is not None:
                return found
    return None


# --- shape details --------------------------------------------------------------


def _configs(**kwargs: Any) -> list[dict[str, Any]]:
    defaults: dict[str, Any] = {
        "app_id": "app",
        "fn_id": "fn",
        "name": None,
        "triggers": TriggerEvent(event="e"),
        "retries": None,
        "has_on_failure": False,
        "serve_url": "https://example.com/api/inngest",
    }
    configs = build_function_configs(**{**defaults, **kwargs})
    return [unstructure(c) for c in configs]


def test_ids() -> None:
    assert fully_qualified_id("app", "fn") == "app-fn"
    assert failure_function_id("app", "fn") == "app-fn-failure"


def test_minimal_config() -> None:
    assert _configs() == [
        {
            "id": "app-fn",
            "name": "fn",
            "steps": {
                "step": {
                    "id": "step",
                    "name": "step",
                    "runtime": {
                        "type": "http",
                        "url": "https://example.com/api/inngest?fnId=app-fn&stepId=step",
                    },
                }
            },
            "triggers": [{"event": "e"}],
        }
    ]


def test_runtime_url_is_form_encoded() -> None:
    [config] = _configs(app_id="my app", fn_id="a/b&c")
    url = config["steps"]["step"]["runtime"]["url"]
    assert url == "https://example.com/api/inngest?fnId=my+app-a%2Fb%26c&stepId=step"


def test_wss_url_gives_ws_runtime_for_both_configs() -> None:
    configs = _configs(serve_url="wss://connect", has_on_failure=True)
    assert [c["steps"]["step"]["runtime"]["type"] for c in configs] == ["ws", "ws"]


@pytest.mark.parametrize(("retries", "expected"), [(0, 0), (4, 4), (20, 20)])
def test_retries_are_sent_as_attempts(retries: int, expected: int) -> None:
    [config] = _configs(retries=retries)
    assert config["steps"]["step"]["retries"] == {"attempts": expected}


def test_name_defaults_to_fn_id_and_names_the_failure_handler() -> None:
    main, failure = _configs(name="Nice name", has_on_failure=True)
    assert main["name"] == "Nice name"
    assert failure["name"] == "Nice name (failure)"
    main, failure = _configs(name="", has_on_failure=True)
    assert (main["name"], failure["name"]) == ("fn", "fn (failure)")


def test_failure_handler_config() -> None:
    _, failure = _configs(
        retries=5,
        has_on_failure=True,
        concurrency=[Concurrency(limit=1)],
        debounce=Debounce(period=60_000),
    )
    assert failure == {
        "cancel": [],
        "concurrency": [],
        "id": "app-fn-failure",
        "name": "fn (failure)",
        "steps": {
            "step": {
                "id": "step",
                "name": "step",
                "retries": {"attempts": 0},
                "runtime": {
                    "type": "http",
                    "url": "https://example.com/api/inngest?fnId=app-fn-failure&stepId=step",
                },
            }
        },
        "triggers": [
            {
                "event": "inngest/function.failed",
                "expression": "event.data.function_id == 'app-fn'",
            }
        ],
    }


def test_empty_lists_are_kept() -> None:
    [config] = _configs(cancel=[], concurrency=[])
    assert config["cancel"] == []
    assert config["concurrency"] == []


def test_mixed_triggers_and_every_option_keys() -> None:
    [config] = _configs(
        triggers=[TriggerCron(cron="* * * * *"), TriggerEvent(event="e")],
        batch_events=Batch(max_size=2, timeout=1000),
        throttle=Throttle(limit=1, period=datetime.timedelta(days=1)),
        idempotency="event.data.id",
    )
    assert config["triggers"] == [{"cron": "* * * * *"}, {"event": "e"}]
    assert config["batchEvents"] == {"maxSize": 2, "timeout": "1s"}
    assert config["throttle"] == {"limit": 1, "period": "1d", "burst": 1}
    assert config["idempotency"] == "event.data.id"


def test_options_value_object() -> None:
    options = FunctionOptions(fn_id="fn", triggers=TriggerEvent(event="e"))
    assert options.triggers == (TriggerEvent(event="e"),)
    assert options.display_name == "fn"
    assert options == FunctionOptions(fn_id="fn", triggers=[TriggerEvent(event="e")])
    cancel = FunctionOptions(
        fn_id="fn", triggers=TriggerEvent(event="e"), cancel=[Cancel(event="c")]
    ).cancel
    assert cancel == (Cancel(event="c"),)
    [config] = options.to_configs(
        app_id="app", serve_url="http://h/", has_on_failure=False
    )
    assert config.id == "app-fn"


# --- validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fn_id": ""}, "fn_id must be a non-empty string such as 'send-welcome'"),
        ({"fn_id": 3}, "fn_id must be a non-empty string"),
        ({"triggers": ["golden/event"]}, "must be TriggerEvent or TriggerCron"),
        ({"triggers": Cancel(event="x")}, "must be TriggerEvent or TriggerCron"),
        ({"retries": -1}, "retries must be 0 or more"),
        ({"retries": True}, "retries must be an int"),
        ({"retries": "3"}, "retries must be an int"),
        ({"name": 5}, "name must be a string"),
        ({"idempotency": 5}, "idempotency must be a string"),
        (
            {"concurrency": [Concurrency(limit=1)] * 3},
            "concurrency accepts at most 2 entries, got 3",
        ),
        ({"concurrency": Concurrency(limit=1)}, "concurrency must be a list"),
        ({"cancel": Cancel(event="c")}, "cancel must be a list of inngest.Cancel"),
        ({"cancel": [Concurrency(limit=1)]}, "cancel must be a list of inngest.Cancel"),
        ({"batch_events": Cancel(event="c")}, "batch_events must be an inngest.Batch"),
        ({"throttle": Debounce(period=1000)}, "throttle must be an inngest.Throttle"),
        ({"app_id": ""}, "app_id must be a non-empty string"),
    ],
)
def test_invalid_options(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(FunctionConfigInvalidError, match=message) as info:
        _configs(**kwargs)
    assert info.value.code == "function_config_invalid"
