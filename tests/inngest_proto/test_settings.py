"""Every environment-variable rule, table-driven.

See docs/protocol/http.rst#environment-variables.
"""

from __future__ import annotations

import enum
import urllib.parse
from typing import Any

import pytest

from inngest_proto._errors import LocalProtocolError
from inngest_proto._settings import (
    DEFAULT_API_ORIGIN,
    DEFAULT_EVENT_API_ORIGIN,
    DEV_SERVER_ORIGIN,
    Settings,
    join_api_url,
    resolve_settings,
)

KEY = "signkey-test-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
KEY2 = "signkey-test-fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

# --- mode ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dev_value", "mode"),
    [
        (None, "cloud"),
        ("", "cloud"),
        ("0", "cloud"),
        ("false", "cloud"),
        ("FALSE", "cloud"),
        ("  False  ", "cloud"),
        (" 0 ", "cloud"),
        ("   ", "cloud"),
        ("1", "dev"),
        ("true", "dev"),
        ("TRUE", "dev"),
        ("yes", "dev"),
        ("no", "dev"),  # anything but unset/""/0/false means dev
        ("http://localhost:8288", "dev"),
        ("localhost:8288", "dev"),
    ],
)
def test_mode_from_inngest_dev(dev_value: str | None, mode: str) -> None:
    env = {} if dev_value is None else {"INNGEST_DEV": dev_value}
    settings = resolve_settings(env)
    assert settings.mode == mode
    assert settings.is_dev is (mode == "dev")
    assert settings.is_cloud is (mode == "cloud")
    assert settings.is_production is (mode == "cloud")


@pytest.mark.parametrize(
    ("is_production", "dev_value", "mode"),
    [
        (True, "1", "cloud"),
        (False, None, "dev"),
        (False, "0", "dev"),
        (True, None, "cloud"),
        (None, "1", "dev"),
    ],
)
def test_is_production_overrides_inngest_dev(
    is_production: bool | None, dev_value: str | None, mode: str
) -> None:
    env = {} if dev_value is None else {"INNGEST_DEV": dev_value}
    assert resolve_settings(env, is_production=is_production).mode == mode


# --- origins -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "kwargs", "api", "events"),
    [
        # defaults
        ({}, {}, DEFAULT_API_ORIGIN, DEFAULT_EVENT_API_ORIGIN),
        ({"INNGEST_DEV": "1"}, {}, DEV_SERVER_ORIGIN, DEV_SERVER_ORIGIN),
        ({}, {"is_production": False}, DEV_SERVER_ORIGIN, DEV_SERVER_ORIGIN),
        # INNGEST_DEV as URL: both origins, lowest precedence
        (
            {"INNGEST_DEV": "http://dev:9999"},
            {},
            "http://dev:9999",
            "http://dev:9999",
        ),
        ({"INNGEST_DEV": "dev:9999"}, {}, "http://dev:9999", "http://dev:9999"),
        (
            {"INNGEST_DEV": "https://dev.example.com"},
            {},
            "https://dev.example.com",
            "https://dev.example.com",
        ),
        # dev URL forced to cloud mode: still used, https:// prefixed
        (
            {"INNGEST_DEV": "dev:9999"},
            {"is_production": True},
            "https://dev:9999",
            "https://dev:9999",
        ),
        # INNGEST_BASE_URL beats INNGEST_DEV
        (
            {"INNGEST_DEV": "http://dev:1", "INNGEST_BASE_URL": "http://base:2"},
            {},
            "http://base:2",
            "http://base:2",
        ),
        # specific variables beat INNGEST_BASE_URL, each origin separately
        (
            {
                "INNGEST_DEV": "http://dev:1",
                "INNGEST_BASE_URL": "http://base:2",
                "INNGEST_API_BASE_URL": "http://api:3",
            },
            {},
            "http://api:3",
            "http://base:2",
        ),
        (
            {
                "INNGEST_BASE_URL": "http://base:2",
                "INNGEST_EVENT_API_BASE_URL": "http://events:4",
            },
            {},
            "http://base:2",
            "http://events:4",
        ),
        (
            {"INNGEST_API_BASE_URL": "http://api:3"},
            {},
            "http://api:3",
            DEFAULT_EVENT_API_ORIGIN,
        ),
        (
            {"INNGEST_DEV": "1", "INNGEST_EVENT_API_BASE_URL": "http://events:4"},
            {},
            DEV_SERVER_ORIGIN,
            "http://events:4",
        ),
        # constructor args beat everything
        (
            {
                "INNGEST_DEV": "http://dev:1",
                "INNGEST_BASE_URL": "http://base:2",
                "INNGEST_API_BASE_URL": "http://api:3",
                "INNGEST_EVENT_API_BASE_URL": "http://events:4",
            },
            {
                "api_base_url": "http://arg-api:5",
                "event_api_base_url": "http://arg-events:6",
            },
            "http://arg-api:5",
            "http://arg-events:6",
        ),
        # scheme prefixing: http:// in dev, https:// in cloud
        (
            {"INNGEST_BASE_URL": "inngest.example.com"},
            {},
            "https://inngest.example.com",
            "https://inngest.example.com",
        ),
        (
            {"INNGEST_DEV": "1", "INNGEST_BASE_URL": "inngest:8288"},
            {},
            "http://inngest:8288",
            "http://inngest:8288",
        ),
        (
            {},
            {"api_base_url": "api.example.com", "event_api_base_url": "ev:1"},
            "https://api.example.com",
            "https://ev:1",
        ),
        (
            {},
            {"is_production": False, "api_base_url": "127.0.0.1:9000"},
            "http://127.0.0.1:9000",
            DEV_SERVER_ORIGIN,
        ),
        # explicit scheme kept whatever the mode
        (
            {"INNGEST_BASE_URL": "http://plain.example.com/"},
            {},
            "http://plain.example.com/",
            "http://plain.example.com/",
        ),
        # whitespace trimmed; empty values count as unset
        (
            {"INNGEST_API_BASE_URL": "  http://api:3  ", "INNGEST_BASE_URL": ""},
            {},
            "http://api:3",
            DEFAULT_EVENT_API_ORIGIN,
        ),
        (
            {"INNGEST_API_BASE_URL": "", "INNGEST_BASE_URL": "http://base:2"},
            {"api_base_url": ""},
            "http://base:2",
            "http://base:2",
        ),
        # INNGEST_DEV flags that are not URLs fall through to the defaults
        ({"INNGEST_DEV": "true"}, {}, DEV_SERVER_ORIGIN, DEV_SERVER_ORIGIN),
        ({"INNGEST_DEV": "yes"}, {}, DEV_SERVER_ORIGIN, DEV_SERVER_ORIGIN),
        # a path in the origin is kept in settings (dropped when joining)
        (
            {"INNGEST_BASE_URL": "http://h:1/prefix"},
            {},
            "http://h:1/prefix",
            "http://h:1/prefix",
        ),
    ],
)
def test_origin_precedence(
    env: dict[str, str], kwargs: dict[str, Any], api: str, events: str
) -> None:
    settings = resolve_settings(env, **kwargs)
    assert settings.api_origin == api
    assert settings.event_api_origin == events


@pytest.mark.parametrize(
    ("env", "kwargs", "named"),
    [
        ({"INNGEST_BASE_URL": "localhost"}, {}, "INNGEST_BASE_URL"),
        ({"INNGEST_API_BASE_URL": "nohost"}, {}, "INNGEST_API_BASE_URL"),
        ({"INNGEST_EVENT_API_BASE_URL": "ftp://x.y"}, {}, "INNGEST_EVENT_API_BASE_URL"),
        ({"INNGEST_API_BASE_URL": "http://h:notaport"}, {}, "INNGEST_API_BASE_URL"),
        ({"INNGEST_API_BASE_URL": "http://"}, {}, "INNGEST_API_BASE_URL"),
        ({"INNGEST_DEV": "http://:80"}, {}, "INNGEST_DEV"),
        ({}, {"api_base_url": "nohost"}, "api_base_url"),
        ({}, {"event_api_base_url": "http://x:99999"}, "event_api_base_url"),
    ],
)
def test_bad_origin_raises(
    env: dict[str, str], kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(LocalProtocolError, match=named) as info:
        resolve_settings(env, **kwargs)
    assert "URL" in str(info.value)


def test_bad_specific_var_does_not_fall_through_silently() -> None:
    # The official SDK ignores it and uses the next source; we refuse.
    with pytest.raises(LocalProtocolError, match="INNGEST_API_BASE_URL"):
        resolve_settings(
            {"INNGEST_API_BASE_URL": "oops", "INNGEST_BASE_URL": "http://b:1"}
        )


# --- join_api_url ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "path"),
    [
        ("http://127.0.0.1:8288/", "/fn/register"),
        ("http://127.0.0.1:8288", "/fn/register"),
        ("http://h/prefix", "/fn/register"),
        ("http://h/prefix/", "/e/key"),
        ("https://api.inngest.com/", "/v0/runs/01ABC/batch"),
        ("http://h:1?x=1#frag", "/e/key"),
        ("http://user:pw@h:1/p", "/fn/register?deployId=d-1"),
    ],
)
def test_join_api_url_is_urljoin(origin: str, path: str) -> None:
    assert join_api_url(origin, path) == urllib.parse.urljoin(origin, path)


def test_join_api_url_drops_origin_path() -> None:
    assert join_api_url("http://h/prefix", "/fn/register") == "http://h/fn/register"
    assert join_api_url("http://h/prefix", "e/k") == "http://h/e/k"


# --- keys and env name -----------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "kwargs", "expected"),
    [
        ({}, {}, (None, None, None)),
        (
            {
                "INNGEST_SIGNING_KEY": KEY,
                "INNGEST_SIGNING_KEY_FALLBACK": KEY2,
                "INNGEST_EVENT_KEY": "ek-env",
            },
            {},
            (KEY, KEY2, "ek-env"),
        ),
        (
            {
                "INNGEST_SIGNING_KEY": KEY,
                "INNGEST_SIGNING_KEY_FALLBACK": KEY2,
                "INNGEST_EVENT_KEY": "ek-env",
            },
            {"signing_key": "arg-key", "signing_key_fallback": "arg-fb"},
            ("arg-key", "arg-fb", "ek-env"),
        ),
        (
            {"INNGEST_EVENT_KEY": "ek-env"},
            {"event_key": "ek-arg"},
            (None, None, "ek-arg"),
        ),
        # empty values are unset; surrounding whitespace is trimmed
        (
            {"INNGEST_SIGNING_KEY": "", "INNGEST_EVENT_KEY": " ek \n"},
            {"signing_key": "", "event_key": ""},
            (None, None, "ek"),
        ),
    ],
)
def test_keys(
    env: dict[str, str],
    kwargs: dict[str, Any],
    expected: tuple[str | None, str | None, str | None],
) -> None:
    settings = resolve_settings(env, **kwargs)
    assert (
        settings.signing_key,
        settings.signing_key_fallback,
        settings.event_key,
    ) == expected


@pytest.mark.parametrize(
    ("dev", "event_key", "effective"),
    [
        (True, None, "NO_EVENT_KEY_SET"),
        (True, "k", "k"),
        (False, None, None),
        (False, "k", "k"),
    ],
)
def test_effective_event_key(dev: bool, event_key: str | None, effective: str) -> None:
    settings = resolve_settings({}, is_production=not dev, event_key=event_key)
    assert settings.event_key == event_key
    assert settings.effective_event_key == effective


def test_keys_are_not_in_repr() -> None:
    settings = resolve_settings(
        {}, signing_key=KEY, signing_key_fallback=KEY2, event_key="secret-ek"
    )
    text = repr(settings)
    assert "0123456789abcdef" not in text
    assert "fedcba" not in text
    assert "secret-ek" not in text


@pytest.mark.parametrize(
    ("env", "env_name", "expected"),
    [
        ({}, None, None),
        ({"INNGEST_ENV": "main"}, None, "main"),
        ({"INNGEST_ENV": "main"}, "arg-branch", "arg-branch"),
        ({"RAILWAY_GIT_BRANCH": "rail"}, None, "rail"),
        ({"RENDER_GIT_BRANCH": "render"}, None, "render"),
        ({"VERCEL_GIT_COMMIT_REF": "vercel"}, None, "vercel"),
        (
            {
                "RAILWAY_GIT_BRANCH": "rail",
                "RENDER_GIT_BRANCH": "render",
                "VERCEL_GIT_COMMIT_REF": "vercel",
            },
            None,
            "rail",
        ),
        (
            {"RENDER_GIT_BRANCH": "render", "VERCEL_GIT_COMMIT_REF": "vercel"},
            None,
            "render",
        ),
        (
            {"INNGEST_ENV": "main", "RAILWAY_GIT_BRANCH": "rail"},
            None,
            "main",
        ),
        ({"INNGEST_ENV": "", "VERCEL_GIT_COMMIT_REF": "vercel"}, "", "vercel"),
        # TS-only fallbacks are not read by Python
        ({"CF_PAGES_BRANCH": "cf", "BRANCH": "b", "BRANCH_NAME": "bn"}, None, None),
    ],
)
def test_env_name(env: dict[str, str], env_name: str | None, expected: str) -> None:
    assert resolve_settings(env, env_name=env_name).env == expected


# --- serve origin and path ---------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "kwargs", "origin", "path"),
    [
        ({}, {}, None, None),
        (
            {"INNGEST_SERVE_ORIGIN": "https://app.example.com"},
            {},
            "https://app.example.com",
            None,
        ),
        (
            {"INNGEST_SERVE_ORIGIN": "app.example.com"},
            {},
            "https://app.example.com",
            None,
        ),
        # https:// even in dev mode
        (
            {"INNGEST_DEV": "1", "INNGEST_SERVE_ORIGIN": "host.docker.internal:8000"},
            {},
            "https://host.docker.internal:8000",
            None,
        ),
        (
            {"INNGEST_SERVE_ORIGIN": "http://host.docker.internal:8000"},
            {},
            "http://host.docker.internal:8000",
            None,
        ),
        (
            {"INNGEST_SERVE_ORIGIN": "https://env.example.com"},
            {"serve_origin": "http://arg.example.com"},
            "http://arg.example.com",
            None,
        ),
        ({}, {"serve_origin": "arg.example.com"}, "https://arg.example.com", None),
        ({"INNGEST_SERVE_ORIGIN": ""}, {}, None, None),
        ({"INNGEST_SERVE_PATH": "/custom/inngest"}, {}, None, "/custom/inngest"),
        (
            {"INNGEST_SERVE_PATH": "/custom/inngest"},
            {"serve_path": "/arg/path"},
            None,
            "/arg/path",
        ),
        ({"INNGEST_SERVE_PATH": ""}, {}, None, None),
    ],
)
def test_serve_origin_and_path(
    env: dict[str, str],
    kwargs: dict[str, Any],
    origin: str | None,
    path: str | None,
) -> None:
    settings = resolve_settings(env, **kwargs)
    assert settings.serve_origin == origin
    assert settings.serve_path == path
    assert settings.effective_serve_path == (path or "/api/inngest")


def test_public_path_passthrough() -> None:
    settings = resolve_settings({}, public_path="/public")
    assert settings.public_path == "/public"
    assert resolve_settings({}).public_path is None


# --- streaming -----------------------------------------------------------------


class _Streaming(enum.Enum):
    DISABLE = "disable"
    FORCE = "force"


@pytest.mark.parametrize(
    ("env_value", "arg", "expected"),
    [
        (None, None, "disable"),
        ("", None, "disable"),
        ("force", None, "force"),
        ("allow", None, "force"),
        (" ALLOW ", None, "force"),
        ("disable", None, "disable"),
        ("force", "disable", "disable"),
        ("disable", "force", "force"),
        (None, "allow", "force"),
        ("force", _Streaming.DISABLE, "disable"),
        (None, _Streaming.FORCE, "force"),
        (None, True, "force"),
        ("force", False, "disable"),
    ],
)
def test_streaming(env_value: str | None, arg: Any, expected: str) -> None:
    env = {} if env_value is None else {"INNGEST_STREAMING": env_value}
    settings = resolve_settings(env, streaming=arg)
    assert settings.streaming == expected
    assert settings.streaming_enabled is (expected == "force")


@pytest.mark.parametrize(
    ("env", "arg", "named"),
    [
        ({"INNGEST_STREAMING": "sometimes"}, None, "INNGEST_STREAMING"),
        ({}, "yes", "streaming argument"),
    ],
)
def test_bad_streaming_raises(env: dict[str, str], arg: Any, named: str) -> None:
    with pytest.raises(LocalProtocolError, match=named) as info:
        resolve_settings(env, streaming=arg)
    assert "force" in str(info.value)
    assert "disable" in str(info.value)


# --- unauthenticated sync ----------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "kwargs", "expected"),
    [
        ({}, {}, True),
        ({"INNGEST_ENABLE_UNAUTHED_SYNC": "false"}, {}, False),
        ({"INNGEST_ENABLE_UNAUTHED_SYNC": " FALSE "}, {}, False),
        ({"INNGEST_ENABLE_UNAUTHED_SYNC": "0"}, {}, False),
        ({"INNGEST_ENABLE_UNAUTHED_SYNC": "true"}, {}, True),
        ({"INNGEST_ENABLE_UNAUTHED_SYNC": "no"}, {}, True),  # only false/0 disable
        ({"INNGEST_ENABLE_UNAUTHED_SYNC": ""}, {}, True),
        (
            {"INNGEST_ENABLE_UNAUTHED_SYNC": "false"},
            {"enable_unauthed_sync": True},
            True,
        ),
        ({}, {"enable_unauthed_sync": False}, False),
        # ignored in dev mode
        ({"INNGEST_DEV": "1", "INNGEST_ENABLE_UNAUTHED_SYNC": "false"}, {}, True),
        ({}, {"is_production": False, "enable_unauthed_sync": False}, True),
    ],
)
def test_enable_unauthed_sync(
    env: dict[str, str], kwargs: dict[str, Any], expected: bool
) -> None:
    assert resolve_settings(env, **kwargs).enable_unauthed_sync is expected


# --- integers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "kwargs", "concurrency", "pool", "window"),
    [
        ({}, {}, None, None, 300),
        (
            {
                "INNGEST_CONNECT_MAX_WORKER_CONCURRENCY": "10",
                "INNGEST_THREAD_POOL_MAX_WORKERS": "0",
                "INNGEST_SIGNATURE_WINDOW_SECONDS": "60",
            },
            {},
            10,
            0,
            60,
        ),
        (
            {
                "INNGEST_CONNECT_MAX_WORKER_CONCURRENCY": " 7 ",
                "INNGEST_THREAD_POOL_MAX_WORKERS": "32",
                "INNGEST_SIGNATURE_WINDOW_SECONDS": "0",
            },
            {},
            7,
            32,
            0,
        ),
        (
            {
                "INNGEST_CONNECT_MAX_WORKER_CONCURRENCY": "10",
                "INNGEST_SIGNATURE_WINDOW_SECONDS": "60",
            },
            {
                "max_worker_concurrency": 3,
                "thread_pool_max_workers": 4,
                "signature_window_seconds": 30,
            },
            3,
            4,
            30,
        ),
        (
            {
                "INNGEST_CONNECT_MAX_WORKER_CONCURRENCY": "",
                "INNGEST_THREAD_POOL_MAX_WORKERS": "",
                "INNGEST_SIGNATURE_WINDOW_SECONDS": "",
            },
            {},
            None,
            None,
            300,
        ),
    ],
)
def test_integers(
    env: dict[str, str],
    kwargs: dict[str, Any],
    concurrency: int | None,
    pool: int | None,
    window: int,
) -> None:
    settings = resolve_settings(env, **kwargs)
    assert settings.connect_max_worker_concurrency == concurrency
    assert settings.thread_pool_max_workers == pool
    assert settings.signature_window_seconds == window


@pytest.mark.parametrize(
    ("env", "kwargs", "named"),
    [
        (
            {"INNGEST_CONNECT_MAX_WORKER_CONCURRENCY": "ten"},
            {},
            "INNGEST_CONNECT_MAX_WORKER_CONCURRENCY",
        ),
        (
            {"INNGEST_CONNECT_MAX_WORKER_CONCURRENCY": "1.5"},
            {},
            "INNGEST_CONNECT_MAX_WORKER_CONCURRENCY",
        ),
        (
            {"INNGEST_CONNECT_MAX_WORKER_CONCURRENCY": "-1"},
            {},
            "INNGEST_CONNECT_MAX_WORKER_CONCURRENCY",
        ),
        (
            {"INNGEST_THREAD_POOL_MAX_WORKERS": "-1"},
            {},
            "INNGEST_THREAD_POOL_MAX_WORKERS",
        ),
        (
            {"INNGEST_THREAD_POOL_MAX_WORKERS": "many"},
            {},
            "INNGEST_THREAD_POOL_MAX_WORKERS",
        ),
        (
            {"INNGEST_SIGNATURE_WINDOW_SECONDS": "5m"},
            {},
            "INNGEST_SIGNATURE_WINDOW_SECONDS",
        ),
        (
            {"INNGEST_SIGNATURE_WINDOW_SECONDS": "-5"},
            {},
            "INNGEST_SIGNATURE_WINDOW_SECONDS",
        ),
        ({}, {"max_worker_concurrency": -1}, "max_worker_concurrency"),
        ({}, {"max_worker_concurrency": True}, "max_worker_concurrency"),
        ({}, {"signature_window_seconds": -1}, "signature_window_seconds"),
    ],
)
def test_bad_integers_raise(
    env: dict[str, str], kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(LocalProtocolError, match=named) as info:
        resolve_settings(env, **kwargs)
    assert "integer" in str(info.value)


# --- the Settings value ------------------------------------------------------------


def test_settings_is_frozen_and_validated() -> None:
    settings = resolve_settings({})
    with pytest.raises(AttributeError):
        settings.mode = "dev"  # type: ignore[misc]
    with pytest.raises(ValueError, match="mode"):
        Settings(mode="prod", api_origin="x", event_api_origin="y")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="streaming"):
        Settings(mode="dev", api_origin="x", event_api_origin="y", streaming="allow")  # type: ignore[arg-type]


def test_environment_is_only_read_through_the_mapping() -> None:
    # Nothing leaks in from the real process environment.
    settings = resolve_settings({}, is_production=True)
    assert settings.signing_key is None
    assert settings.api_origin == DEFAULT_API_ORIGIN
