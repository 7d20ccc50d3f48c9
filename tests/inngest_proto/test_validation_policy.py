"""What we refuse that the official SDK accepts, and what we no longer refuse.

The policy (docs/differences.rst, "Validation"): we refuse early only what
the Inngest server would refuse at sync anyway, with a message that names
the fix; whatever the server takes, we take too and send as the official SDK
does.  ``tests/official/test_official_validation.py`` builds the accepted
cases with the official SDK and compares the configs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._converter import unstructure
from inngest_proto._errors import (
    FunctionConfigInvalidError,
    InvalidSigningKeyError,
    LocalProtocolError,
)

APP_URL = "http://127.0.0.1:3000/api/inngest"
EVENT = inngest.TriggerEvent(event="app/go")


def _client(app_id: str = "app", **kwargs: Any) -> inngest.Inngest:
    return inngest.Inngest(app_id=app_id, is_production=False, environ={}, **kwargs)


def _handler(ctx: inngest.ContextSync) -> None:
    return None


def configs(client: inngest.Inngest | None = None, **kwargs: Any) -> list[Any]:
    """The wire configs ``create_function(**kwargs)`` registers."""
    kwargs.setdefault("fn_id", "fn")
    kwargs.setdefault("trigger", EVENT)
    fn = (client or _client()).create_function(**kwargs)(_handler)
    return [unstructure(config) for config in fn.get_configs(APP_URL)]


#: Accepted as by the official SDK and the server: create_function's
#: arguments, and the part of the first config they show up in.
ACCEPTED: dict[
    str, tuple[Callable[[], dict[str, Any]], Callable[[dict[str, Any]], Any], Any]
] = {
    # The id is "<app_id>-"; the server takes it, since the function has a name.
    "empty fn_id with a name": (
        lambda: {"fn_id": "", "name": "Nightly"},
        lambda c: (c["id"], c["name"]),
        ("app-", "Nightly"),
    ),
    # A function only ever invoked; the server takes no triggers.
    "no trigger": (lambda: {"trigger": []}, lambda c: c["triggers"], []),
    # 0 is no limit, in the Inngest docs and the server.
    "concurrency limit 0": (
        lambda: {"concurrency": [inngest.Concurrency(limit=0)]},
        lambda c: c["concurrency"],
        [{"limit": 0}],
    ),
    # The server reads a throttle limit of 0 as 1.
    "throttle limit 0": (
        lambda: {"throttle": inngest.Throttle(limit=0, period=60_000)},
        lambda c: c["throttle"],
        {"limit": 0, "period": "1m", "burst": 1},
    ),
    # The server takes a cancel without an event name; it never cancels.
    "cancel with an empty event": (
        lambda: {"cancel": [inngest.Cancel(event="")]},
        lambda c: c["cancel"],
        [{"event": ""}],
    ),
    # Sent as given; the server caps retries at 20.
    "retries above 20": (
        lambda: {"retries": 25},
        lambda c: c["steps"]["step"]["retries"],
        {"attempts": 25},
    ),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_accepted_as_the_server_accepts_it(case: str) -> None:
    kwargs, part, expected = ACCEPTED[case]
    assert part(configs(**kwargs())[0]) == expected


def test_a_blank_app_id_is_accepted() -> None:
    # The server refuses only an empty app name.
    assert configs(_client(app_id=" "))[0]["id"] == " -fn"


def test_a_worker_concurrency_of_zero_is_no_limit() -> None:
    # The connect gateway reads 0 as no limit; the worker takes it too.
    client = inngest.Inngest(
        app_id="app", environ={"INNGEST_CONNECT_MAX_WORKER_CONCURRENCY": "0"}
    )
    assert client.settings.connect_max_worker_concurrency == 0


def test_a_function_listed_twice_is_served_once() -> None:
    client = _client()
    fn = client.create_function(fn_id="fn", trigger=EVENT)(_handler)
    handler = inngest.CommHandler(client=client, functions=[fn, fn], framework="t")
    response = handler.handle_sync(
        inngest.IncomingRequest(method="GET", url=APP_URL, headers={}), now=0.0
    )
    assert json.loads(response.body)["function_count"] == 1


def _two_functions_with_one_id() -> None:
    client = _client()
    first = client.create_function(fn_id="fn", trigger=EVENT)(_handler)
    second = client.create_function(fn_id="fn", trigger=EVENT)(_handler)
    inngest.CommHandler(client=client, functions=[first, second], framework="t")


#: Refused before the server sees it: what we raise, and what the message
#: must say (the argument, and what to pass instead).
REFUSED: dict[str, tuple[Callable[[], Any], type[Exception], list[str]]] = {
    "empty fn_id without a name": (
        lambda: configs(fn_id=""),
        FunctionConfigInvalidError,
        ["fn_id must be a non-empty string such as 'send-welcome'", "requires a name"],
    ),
    "trigger without an event name": (
        lambda: inngest.TriggerEvent(event=""),
        FunctionConfigInvalidError,
        ["TriggerEvent.event", "an event name such as 'app/user.created'"],
    ),
    "event name over 255 characters": (
        lambda: inngest.TriggerEvent(event="e" * 256),
        FunctionConfigInvalidError,
        ["TriggerEvent.event is 256 characters long", "at most 255"],
    ),
    "cron trigger without a schedule": (
        lambda: inngest.TriggerCron(cron=""),
        FunctionConfigInvalidError,
        ["TriggerCron.cron", "a cron schedule such as '0 * * * *'"],
    ),
    "negative concurrency limit": (
        lambda: inngest.Concurrency(limit=-1),
        FunctionConfigInvalidError,
        ["Concurrency.limit must be a positive int or 0 (0 is no limit), got -1"],
    ),
    "more than two concurrency limits": (
        lambda: configs(concurrency=[inngest.Concurrency(limit=1)] * 3),
        FunctionConfigInvalidError,
        ["concurrency accepts at most 2 entries, got 3"],
    ),
    "negative throttle limit": (
        lambda: inngest.Throttle(limit=-1, period=1000),
        FunctionConfigInvalidError,
        ["Throttle.limit must be a positive int or 0", "got -1"],
    ),
    "throttle period 0": (
        lambda: inngest.Throttle(limit=1, period=0),
        FunctionConfigInvalidError,
        ["Throttle.period", "at least 1 second", "1000 ms"],
    ),
    "duration not in whole seconds": (
        lambda: inngest.Debounce(period=1500),
        FunctionConfigInvalidError,
        ["Debounce.period", "a whole number of seconds"],
    ),
    "rate limit 0": (
        lambda: inngest.RateLimit(limit=0, period=1000),
        FunctionConfigInvalidError,
        ["RateLimit.limit must be a positive int, got 0"],
    ),
    "batch size 0": (
        lambda: inngest.Batch(max_size=0),
        FunctionConfigInvalidError,
        ["Batch.max_size must be a positive int, got 0"],
    ),
    "empty priority expression": (
        lambda: inngest.Priority(run=""),
        FunctionConfigInvalidError,
        ["Priority.run", "leave priority out for none"],
    ),
    "negative retries": (
        lambda: configs(retries=-1),
        FunctionConfigInvalidError,
        ["retries must be 0 or more"],
    ),
    "empty app_id": (
        lambda: _client(app_id=""),
        LocalProtocolError,
        ["Inngest(app_id=...)", "such as 'my-app'"],
    ),
    "non-URL INNGEST_API_BASE_URL": (
        lambda: inngest.Inngest(
            app_id="app", environ={"INNGEST_API_BASE_URL": "not a url"}
        ),
        LocalProtocolError,
        ["INNGEST_API_BASE_URL is not a URL", "such as 'http://127.0.0.1:8288'"],
    ),
    "malformed signing key": (
        lambda: inngest.CommHandler(
            client=_client(signing_key="signkey-prod-not-hex"),
            functions=[],
            framework="t",
        ),
        InvalidSigningKeyError,
        ["INNGEST_SIGNING_KEY (or Inngest(signing_key=...))", "signkey-<env>-<hex>"],
    ),
    "request_timeout 0": (
        lambda: _client(request_timeout=0),
        LocalProtocolError,
        ["Inngest(request_timeout=...) must be positive"],
    ),
    "unknown INNGEST_STREAMING": (
        lambda: inngest.Inngest(app_id="app", environ={"INNGEST_STREAMING": "on"}),
        LocalProtocolError,
        ["INNGEST_STREAMING must be 'force', 'allow' or 'disable', got 'on'"],
    ),
    "non-integer INNGEST_THREAD_POOL_MAX_WORKERS": (
        lambda: inngest.Inngest(
            app_id="app", environ={"INNGEST_THREAD_POOL_MAX_WORKERS": "many"}
        ),
        LocalProtocolError,
        ["INNGEST_THREAD_POOL_MAX_WORKERS must be an integer >= 0"],
    ),
    "non-integer INNGEST_CONNECT_MAX_WORKER_CONCURRENCY": (
        lambda: inngest.Inngest(
            app_id="app", environ={"INNGEST_CONNECT_MAX_WORKER_CONCURRENCY": "ten"}
        ),
        LocalProtocolError,
        ["INNGEST_CONNECT_MAX_WORKER_CONCURRENCY must be an integer >= 0"],
    ),
    "serve origin that is no http(s) URL": (
        lambda: inngest.CommHandler(
            client=_client(), functions=[], framework="t", serve_origin="ftp://x.y"
        ),
        LocalProtocolError,
        ["INNGEST_SERVE_ORIGIN", "e.g. 'https://my-app.example.com'"],
    ),
    "two functions with one id at serve()": (
        _two_functions_with_one_id,
        FunctionConfigInvalidError,
        ["'app-fn' is used by", "give each function its own fn_id"],
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_with_a_message_that_names_the_fix(case: str) -> None:
    build, error, fragments = REFUSED[case]
    with pytest.raises(error) as caught:
        build()
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("option", "data"),
    [
        (inngest.Concurrency, {"limit": 0}),
        (inngest.Throttle, {"limit": 0, "period": 1000}),
        (inngest.Cancel, {"event": ""}),
    ],
)
def test_model_validate_accepts_what_the_constructor_accepts(
    option: Any, data: dict[str, Any]
) -> None:
    assert option.model_validate(data) == option(**data)


@pytest.mark.parametrize(
    ("option", "data", "fragment"),
    [
        (inngest.Concurrency, {"limit": -1}, "0 is no limit"),
        (inngest.TriggerEvent, {"event": ""}, "'app/user.created'"),
        (inngest.Priority, {"run": ""}, "leave priority out for none"),
    ],
)
def test_model_validate_refuses_what_the_constructor_refuses(
    option: Any, data: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(FunctionConfigInvalidError, match=fragment):
        option.model_validate(data)
