"""The Inngest client: configuration, transport and create_function.

send and send_sync are tested in ``test_client_send``.
"""

from __future__ import annotations

import datetime
import sys
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._errors import FunctionConfigInvalidError, LocalProtocolError
from tests.fakes import FakeTransport
from tests.inngest_proto._client_helpers import DEV, KEY, client_for

KEY2 = "signkey-test-fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"


# --- construction -----------------------------------------------------------------


@pytest.mark.parametrize("app_id", ["", None, 3, b"app"])
def test_app_id_must_be_a_non_empty_string(app_id: Any) -> None:
    with pytest.raises(LocalProtocolError, match=r"Inngest\(app_id=\.\.\.\)"):
        inngest.Inngest(app_id=app_id, environ={})


def test_app_id_is_required_and_arguments_are_keywords() -> None:
    with pytest.raises(TypeError):
        inngest.Inngest(environ={})  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        inngest.Inngest("my-app")  # type: ignore[call-arg]


def test_cloud_defaults() -> None:
    client = inngest.Inngest(app_id="my-app", environ={})
    assert client.app_id == "my-app"
    assert client.mode == "cloud"
    assert client.is_production is True
    assert client.api_origin == "https://api.inngest.com/"
    assert client.event_api_origin == "https://inn.gs/"
    assert client.env is None
    assert client.event_key is None
    assert client.signing_key is None
    assert client.signing_key_fallback is None
    assert client.app_version is None
    assert client.middleware == []


def test_dev_defaults() -> None:
    client = inngest.Inngest(app_id="my-app", environ=DEV)
    assert client.mode == "dev"
    assert client.is_production is False
    assert client.api_origin == "http://127.0.0.1:8288/"
    assert client.event_api_origin == "http://127.0.0.1:8288/"


def test_environment_variables() -> None:
    client = inngest.Inngest(
        app_id="my-app",
        environ={
            "INNGEST_API_BASE_URL": "api.example.com",
            "INNGEST_EVENT_API_BASE_URL": "http://events.example.com:9000",
            "INNGEST_ENV": "branch-1",
            "INNGEST_EVENT_KEY": "ek",
            "INNGEST_SIGNING_KEY": KEY,
            "INNGEST_SIGNING_KEY_FALLBACK": KEY2,
        },
    )
    assert client.mode == "cloud"
    assert client.api_origin == "https://api.example.com"
    assert client.event_api_origin == "http://events.example.com:9000"
    assert client.env == "branch-1"
    assert client.event_key == "ek"
    assert client.signing_key == KEY
    assert client.signing_key_fallback == KEY2


def test_arguments_win_over_environment_variables() -> None:
    environ = {
        "INNGEST_DEV": "1",
        "INNGEST_API_BASE_URL": "http://env-api:1",
        "INNGEST_EVENT_API_BASE_URL": "http://env-events:1",
        "INNGEST_ENV": "env-branch",
        "INNGEST_EVENT_KEY": "env-ek",
        "INNGEST_SIGNING_KEY": KEY2,
        "INNGEST_SIGNING_KEY_FALLBACK": KEY2,
    }
    client = inngest.Inngest(
        app_id="my-app",
        api_base_url="https://arg-api.example.com",
        app_version="1.2.3",
        env="arg-branch",
        event_api_base_url="https://arg-events.example.com",
        event_key="arg-ek",
        is_production=True,
        signing_key=KEY,
        signing_key_fallback=KEY,
        environ=environ,
    )
    assert client.mode == "cloud"
    assert client.is_production is True
    assert client.api_origin == "https://arg-api.example.com"
    assert client.event_api_origin == "https://arg-events.example.com"
    assert client.env == "arg-branch"
    assert client.event_key == "arg-ek"
    assert client.signing_key == KEY
    assert client.signing_key_fallback == KEY
    assert client.app_version == "1.2.3"


def test_is_production_false_means_dev() -> None:
    client = inngest.Inngest(app_id="a", is_production=False, environ={})
    assert client.mode == "dev"
    assert client.is_production is False


def test_environ_replaces_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INNGEST_DEV", "1")
    monkeypatch.setenv("INNGEST_EVENT_KEY", "from-os")
    client = inngest.Inngest(app_id="a", environ={})
    assert client.mode == "cloud"
    assert client.event_key is None


def test_os_environ_is_read_without_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INNGEST_DEV", "1")
    monkeypatch.setenv("INNGEST_EVENT_KEY", "from-os")
    client = inngest.Inngest(app_id="a")
    assert client.mode == "dev"
    assert client.event_key == "from-os"


def test_configuration_properties_are_read_only() -> None:
    client = inngest.Inngest(app_id="a", environ=DEV)
    for name in (
        "api_origin",
        "event_api_origin",
        "env",
        "event_key",
        "signing_key",
        "signing_key_fallback",
        "app_version",
        "mode",
    ):
        with pytest.raises(AttributeError):
            setattr(client, name, "x")


def test_bad_origin_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="api_base_url"):
        inngest.Inngest(app_id="a", api_base_url="not a url", environ={})
    with pytest.raises(LocalProtocolError, match="INNGEST_EVENT_API_BASE_URL"):
        inngest.Inngest(app_id="a", environ={"INNGEST_EVENT_API_BASE_URL": "1"})


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"app_version": 3}, "app_version"),
        ({"request_timeout": "30s"}, "request_timeout"),
        ({"request_timeout": True}, "request_timeout"),
        ({"middleware": inngest.MiddlewareSync}, "middleware"),
        ({"middleware": [3]}, "middleware"),
        ({"transport": object()}, "transport"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(LocalProtocolError, match=rf"Inngest\({named}=\.\.\.\)"):
        inngest.Inngest(app_id="a", environ={}, **kwargs)


def test_request_timeout_and_logger_are_kept() -> None:
    timeout = datetime.timedelta(seconds=5)
    client = inngest.Inngest(app_id="a", request_timeout=timeout, environ={})
    assert client.request_timeout == timeout
    assert client.logger is not None
    client.set_logger(logger := object())
    assert client.logger is logger


def test_add_middleware() -> None:
    client = inngest.Inngest(app_id="a", environ={})
    client.add_middleware(inngest.MiddlewareSync)
    assert client.middleware == [inngest.MiddlewareSync]
    with pytest.raises(LocalProtocolError, match="add_middleware"):
        client.add_middleware(3)  # type: ignore[arg-type]


# --- transport --------------------------------------------------------------------


def test_given_transport_is_used() -> None:
    transport = FakeTransport()
    assert client_for(transport=transport).transport is transport


def test_using_transport_lasts_as_long_as_its_block() -> None:
    given, borrowed = FakeTransport(), FakeTransport()
    client = client_for(transport=given)
    with client.using_transport(borrowed):
        assert client.transport is borrowed
    assert client.transport is given
    with pytest.raises(KeyError), client.using_transport(borrowed):
        raise KeyError
    assert client.transport is given
    with pytest.raises(LocalProtocolError, match=r"using_transport\(...\) must"):
        client.using_transport(object()).__enter__()  # type: ignore[arg-type]
    assert client.transport is given


def test_no_transport_without_the_http_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "inngest_transports.http", None)
    client = client_for()
    with pytest.raises(LocalProtocolError) as info:
        _ = client.transport
    assert "pip install 'inngest-sansio[http]'" in info.value.message
    assert "transport= to Inngest()" in info.value.message
    with pytest.raises(LocalProtocolError, match="inngest-sansio"):
        client.send_sync(inngest.Event(name="a"))


# --- create_function --------------------------------------------------------------


def handler(ctx: inngest.ContextSync) -> str:
    return "ok"


TRIGGER = inngest.TriggerEvent(event="app/x")


def test_create_function() -> None:
    client = client_for()
    fn = client.create_function(fn_id="fn", trigger=TRIGGER)(handler)
    assert isinstance(fn, inngest.Function)
    assert fn.id == "my-app-fn"
    assert fn.local_id == "fn"
    assert fn.name == "fn"
    assert fn.options.triggers == (TRIGGER,)


@pytest.mark.parametrize(
    "trigger",
    [
        [TRIGGER, inngest.TriggerCron(cron="0 * * * *")],
        (TRIGGER, inngest.TriggerCron(cron="0 * * * *")),
    ],
)
def test_create_function_with_several_triggers(trigger: Any) -> None:
    fn = client_for().create_function(fn_id="fn", trigger=trigger, name="Nice")(handler)
    assert len(fn.options.triggers) == 2
    assert fn.name == "Nice"


@pytest.mark.parametrize("fn_id", ["", None, 3])
def test_bad_fn_id(fn_id: Any) -> None:
    decorator = client_for().create_function(fn_id=fn_id, trigger=TRIGGER)
    with pytest.raises(FunctionConfigInvalidError, match="fn_id must be a non-empty"):
        decorator(handler)


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        (None, "must be TriggerEvent or TriggerCron, got None"),
        ("app/x", "must be TriggerEvent or TriggerCron, got 'app/x'"),
        ({"event": "app/x"}, "must be TriggerEvent or TriggerCron"),
        ([TRIGGER, "app/y"], "got 'app/y'"),
    ],
)
def test_bad_trigger(trigger: Any, message: str) -> None:
    decorator = client_for().create_function(fn_id="fn", trigger=trigger)
    with pytest.raises(FunctionConfigInvalidError, match=message) as info:
        decorator(handler)
    assert "function 'fn'" in info.value.message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"retries": "3"}, "retries must be an int of 0 or more"),
        ({"retries": True}, "retries must be an int"),
        ({"retries": -1}, "retries must be 0 or more"),
        ({"name": 3}, "name must be a string"),
        ({"idempotency": 3}, "idempotency must be a string"),
        ({"batch_events": {"max_size": 2}}, "batch_events must be an inngest.Batch"),
        ({"debounce": 30}, "debounce must be an inngest.Debounce"),
        ({"priority": "x"}, "priority must be an inngest.Priority"),
        ({"rate_limit": {"limit": 1}}, "rate_limit must be an inngest.RateLimit"),
        ({"throttle": {"limit": 1}}, "throttle must be an inngest.Throttle"),
        ({"timeouts": 5}, "timeouts must be an inngest.Timeouts"),
        ({"singleton": "skip"}, "singleton must be an inngest.Singleton"),
        (
            {"concurrency": inngest.Concurrency(limit=1)},
            "concurrency must be a list of inngest.Concurrency",
        ),
        ({"concurrency": [3]}, "concurrency must be a list of inngest.Concurrency"),
        (
            {"concurrency": [inngest.Concurrency(limit=1)] * 3},
            "concurrency accepts at most 2 entries",
        ),
        (
            {"cancel": inngest.Cancel(event="x")},
            "cancel must be a list of inngest.Cancel",
        ),
        ({"cancel": "app/cancel"}, "cancel must be a list of inngest.Cancel"),
        ({"middleware": inngest.MiddlewareSync}, "middleware must be a list"),
        ({"middleware": [3]}, "middleware must be middleware classes"),
    ],
)
def test_bad_options_fail_at_decoration(kwargs: dict[str, Any], message: str) -> None:
    decorator = client_for().create_function(fn_id="fn", trigger=TRIGGER, **kwargs)
    with pytest.raises(FunctionConfigInvalidError, match=message) as info:
        decorator(handler)
    assert info.value.message.startswith("function 'fn': ")
    assert info.value.code == "function_config_invalid"
    assert isinstance(info.value, LocalProtocolError)


def test_bad_handlers() -> None:
    decorator = client_for().create_function(fn_id="fn", trigger=TRIGGER)
    with pytest.raises(FunctionConfigInvalidError, match="function handler"):
        decorator("not callable")  # type: ignore[arg-type]
    decorator = client_for().create_function(
        fn_id="fn",
        trigger=TRIGGER,
        on_failure=3,  # type: ignore[arg-type]
    )
    with pytest.raises(
        FunctionConfigInvalidError, match="on_failure must be a function"
    ):
        decorator(handler)


def test_good_options_are_accepted() -> None:
    fn = client_for().create_function(
        fn_id="fn",
        trigger=TRIGGER,
        cancel=(inngest.Cancel(event="app/cancel"),),
        concurrency=[inngest.Concurrency(limit=2)],
        middleware=(inngest.MiddlewareSync,),
        retries=0,
    )(handler)
    assert fn.options.cancel == (inngest.Cancel(event="app/cancel"),)
    assert fn.options.concurrency == (inngest.Concurrency(limit=2),)
    assert fn.middleware == [inngest.MiddlewareSync]
