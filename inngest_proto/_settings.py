"""Configuration: client arguments and ``INNGEST_*`` variables, resolved once.

:func:`resolve_settings` turns constructor/``serve()`` arguments plus an
environment mapping into a frozen :class:`Settings`.  It reads nothing by
itself: the caller passes ``os.environ`` (or any mapping, in tests).

The rules are those of the official Python SDK 0.5.19 (mode from
``INNGEST_DEV``, per-origin precedence, scheme prefixing, key fallbacks), with
one deliberate difference: a value that cannot be used (an origin that is not
a URL, a non-integer count, an unknown streaming mode) raises
:class:`LocalProtocolError` instead of being silently ignored.
"""

from __future__ import annotations

import enum
import urllib.parse
from collections.abc import Mapping
from typing import Literal

import attrs

from ._errors import LocalProtocolError

__all__ = [
    "DEFAULT_API_ORIGIN",
    "DEFAULT_EVENT_API_ORIGIN",
    "DEFAULT_SERVE_PATH",
    "DEFAULT_SIGNATURE_WINDOW_SECONDS",
    "DEV_SERVER_EVENT_KEY",
    "DEV_SERVER_ORIGIN",
    "Mode",
    "Settings",
    "Streaming",
    "join_api_url",
    "resolve_settings",
]

Mode = Literal["dev", "cloud"]
Streaming = Literal["force", "disable"]

DEFAULT_API_ORIGIN = "https://api.inngest.com/"
DEFAULT_EVENT_API_ORIGIN = "https://inn.gs/"
DEV_SERVER_ORIGIN = "http://127.0.0.1:8288/"
DEFAULT_SERVE_PATH = "/api/inngest"
#: Event key used in dev mode when none is configured (the Dev Server accepts any).
DEV_SERVER_EVENT_KEY = "NO_EVENT_KEY_SET"
DEFAULT_SIGNATURE_WINDOW_SECONDS = 300

# Environment variable names.
ENV_DEV = "INNGEST_DEV"
ENV_BASE_URL = "INNGEST_BASE_URL"
ENV_API_BASE_URL = "INNGEST_API_BASE_URL"
ENV_EVENT_API_BASE_URL = "INNGEST_EVENT_API_BASE_URL"
ENV_SIGNING_KEY = "INNGEST_SIGNING_KEY"
ENV_SIGNING_KEY_FALLBACK = "INNGEST_SIGNING_KEY_FALLBACK"
ENV_EVENT_KEY = "INNGEST_EVENT_KEY"
ENV_ENV = "INNGEST_ENV"
#: Platform variables consulted, in order, when ``INNGEST_ENV`` is unset.
ENV_BRANCH_FALLBACKS = (
    "RAILWAY_GIT_BRANCH",
    "RENDER_GIT_BRANCH",
    "VERCEL_GIT_COMMIT_REF",
)
ENV_SERVE_ORIGIN = "INNGEST_SERVE_ORIGIN"
ENV_SERVE_PATH = "INNGEST_SERVE_PATH"
ENV_STREAMING = "INNGEST_STREAMING"
ENV_ENABLE_UNAUTHED_SYNC = "INNGEST_ENABLE_UNAUTHED_SYNC"
ENV_CONNECT_MAX_WORKER_CONCURRENCY = "INNGEST_CONNECT_MAX_WORKER_CONCURRENCY"
ENV_THREAD_POOL_MAX_WORKERS = "INNGEST_THREAD_POOL_MAX_WORKERS"
ENV_SIGNATURE_WINDOW_SECONDS = "INNGEST_SIGNATURE_WINDOW_SECONDS"

_FALSY = frozenset({"", "0", "false"})


def _check_mode(_: object, attribute: attrs.Attribute[Mode], value: object) -> None:
    if value not in ("dev", "cloud"):
        msg = f"{attribute.name} must be 'dev' or 'cloud', got {value!r}"
        raise ValueError(msg)


def _check_streaming(
    _: object, attribute: attrs.Attribute[Streaming], value: object
) -> None:
    if value not in ("force", "disable"):
        msg = f"{attribute.name} must be 'force' or 'disable', got {value!r}"
        raise ValueError(msg)


@attrs.frozen(kw_only=True)
class Settings:
    """Everything the SDK needs to know about where it runs and how to talk.

    Origins are normalized (scheme present) but keep whatever path they were
    given; use :func:`join_api_url` to build request URLs.  ``event_key`` is
    the *configured* key (``None`` when unset); :attr:`effective_event_key` is
    the one to send with.  Keys are left out of ``repr``.
    """

    mode: Mode = attrs.field(validator=_check_mode)
    api_origin: str
    event_api_origin: str
    signing_key: str | None = attrs.field(default=None, repr=False)
    signing_key_fallback: str | None = attrs.field(default=None, repr=False)
    event_key: str | None = attrs.field(default=None, repr=False)
    #: Environment (branch) name, sent as ``X-Inngest-Env``.
    env: str | None = None
    #: Origin advertised at sync (``https://`` prefixed when given bare).
    serve_origin: str | None = None
    #: Path the endpoint is mounted on and advertised at (``None``: default).
    serve_path: str | None = None
    #: Overrides only the advertised path (``serve(public_path=...)``).
    public_path: str | None = None
    streaming: Streaming = attrs.field(default="disable", validator=_check_streaming)
    #: Whether an unsigned out-of-band sync is accepted (always in dev mode).
    enable_unauthed_sync: bool = True
    connect_max_worker_concurrency: int | None = None
    thread_pool_max_workers: int | None = None
    #: Max age/skew of a request signature's timestamp; 0 disables the check.
    signature_window_seconds: int = DEFAULT_SIGNATURE_WINDOW_SECONDS

    @property
    def is_dev(self) -> bool:
        return self.mode == "dev"

    @property
    def is_cloud(self) -> bool:
        return self.mode == "cloud"

    @property
    def is_production(self) -> bool:
        """The official SDK's name for cloud mode."""
        return self.mode == "cloud"

    @property
    def streaming_enabled(self) -> bool:
        return self.streaming == "force"

    @property
    def effective_event_key(self) -> str | None:
        """The key to send events with: configured, else the dev placeholder.

        ``None`` in cloud mode without a key (sending must then fail).
        """
        if self.event_key is not None:
            return self.event_key
        return DEV_SERVER_EVENT_KEY if self.is_dev else None

    @property
    def effective_serve_path(self) -> str:
        """The path the endpoint is mounted on."""
        return self.serve_path or DEFAULT_SERVE_PATH


def join_api_url(origin: str, path: str) -> str:
    """``urljoin(origin, "/path")``: scheme and host of ``origin`` + ``path``.

    Any path, query or fragment of ``origin`` is dropped, as the official
    Python SDK does.  ``path`` may carry a query string.
    """
    parts = urllib.parse.urlsplit(origin)
    path, _, query = path.partition("?")
    if not path.startswith("/"):
        path = "/" + path
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, query, ""))


# --- helpers -----------------------------------------------------------------


def _env_str(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value, or ``None`` when unset or empty."""
    value = env.get(name)
    return value or None


def _first(*values: str | None) -> str | None:
    for value in values:
        if value:
            return value
    return None


def _strip_or_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _dev_flag(env: Mapping[str, str]) -> bool:
    value = env.get(ENV_DEV)
    return value is not None and value.strip().lower() not in _FALSY


def _looks_like_url(value: str) -> bool:
    """True for ``http(s)://...``, ``host:port`` or a dotted host name.

    ``"1"``, ``"true"``, ``"yes"`` are not URLs (``INNGEST_DEV`` flags).
    """
    if "://" in value:
        return True
    return "." in value or ":" in value


def _normalize_origin(value: str, mode: Mode, source: str) -> str:
    """Prefix a scheme when missing and check the result is a usable URL."""
    expected = (
        "expected a URL such as 'http://127.0.0.1:8288' or a 'host:port' "
        "/ 'host.domain' without scheme"
    )
    url = value.strip()
    if not _looks_like_url(url):
        msg = f"{source} is not a URL: {value!r}; {expected}"
        raise LocalProtocolError(msg)
    if "://" not in url:
        url = ("http://" if mode == "dev" else "https://") + url
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        msg = f"{source} is not a valid URL: {value!r} ({exc}); {expected}"
        raise LocalProtocolError(msg) from exc
    if parts.scheme.lower() not in ("http", "https"):
        msg = f"{source} must be an http:// or https:// URL, got {value!r}"
        raise LocalProtocolError(msg)
    if not parts.hostname:
        msg = f"{source} has no host: {value!r}; {expected}"
        raise LocalProtocolError(msg)
    return parts.geturl()


def _resolve_origin(
    env: Mapping[str, str],
    mode: Mode,
    *,
    arg: str | None,
    arg_name: str,
    specific_var: str,
    default: str,
) -> str:
    if arg:
        return _normalize_origin(arg, mode, f"the {arg_name} argument")
    for name in (specific_var, ENV_BASE_URL):
        value = env.get(name)
        if value is not None and value.strip():
            return _normalize_origin(value, mode, name)
    dev_value = (env.get(ENV_DEV) or "").strip()
    if dev_value and _looks_like_url(dev_value):
        return _normalize_origin(dev_value, mode, ENV_DEV)
    return default


def _parse_int(
    env: Mapping[str, str],
    name: str,
    *,
    arg: int | None,
    arg_name: str,
    minimum: int,
) -> int | None:
    source = f"the {arg_name} argument"
    value: int | None = arg
    if value is None:
        raw = (env.get(name) or "").strip()
        if not raw:
            return None
        source = name
        try:
            value = int(raw, 10)
        except ValueError:
            msg = f"{name} must be an integer >= {minimum}, got {raw!r}"
            raise LocalProtocolError(msg) from None
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{source} must be an integer >= {minimum}, got {value!r}"
        raise LocalProtocolError(msg)
    if value < minimum:
        msg = f"{source} must be an integer >= {minimum}, got {value}"
        raise LocalProtocolError(msg)
    return value


def _resolve_streaming(
    env: Mapping[str, str], arg: str | bool | enum.Enum | None
) -> Streaming:
    if isinstance(arg, bool):
        return "force" if arg else "disable"
    source = "the streaming argument"
    raw: object = arg.value if isinstance(arg, enum.Enum) else arg
    if raw is None:
        raw = (env.get(ENV_STREAMING) or "").strip()
        source = ENV_STREAMING
        if not raw:
            return "disable"
    value = raw.strip().lower() if isinstance(raw, str) else raw
    if value in ("force", "allow"):
        return "force"
    if value == "disable":
        return "disable"
    msg = f"{source} must be 'force', 'allow' or 'disable', got {raw!r}"
    raise LocalProtocolError(msg)


def _resolve_serve_origin(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    return value if "://" in value else "https://" + value


# --- entry point -------------------------------------------------------------


def resolve_settings(
    env: Mapping[str, str],
    *,
    is_production: bool | None = None,
    signing_key: str | None = None,
    signing_key_fallback: str | None = None,
    event_key: str | None = None,
    env_name: str | None = None,
    api_base_url: str | None = None,
    event_api_base_url: str | None = None,
    serve_origin: str | None = None,
    serve_path: str | None = None,
    public_path: str | None = None,
    streaming: str | bool | enum.Enum | None = None,
    enable_unauthed_sync: bool | None = None,
    max_worker_concurrency: int | None = None,
    thread_pool_max_workers: int | None = None,
    signature_window_seconds: int | None = None,
) -> Settings:
    """Resolve client/``serve()`` arguments against ``env`` (e.g. ``os.environ``).

    Arguments win over variables.  ``env_name`` is the client's ``env``
    argument.  Raises :class:`LocalProtocolError` naming the argument or
    variable whose value is unusable.
    """
    mode: Mode
    if is_production is not None:
        mode = "cloud" if is_production else "dev"
    else:
        mode = "dev" if _dev_flag(env) else "cloud"

    api_origin = _resolve_origin(
        env,
        mode,
        arg=api_base_url,
        arg_name="api_base_url",
        specific_var=ENV_API_BASE_URL,
        default=DEV_SERVER_ORIGIN if mode == "dev" else DEFAULT_API_ORIGIN,
    )
    event_api_origin = _resolve_origin(
        env,
        mode,
        arg=event_api_base_url,
        arg_name="event_api_base_url",
        specific_var=ENV_EVENT_API_BASE_URL,
        default=DEV_SERVER_ORIGIN if mode == "dev" else DEFAULT_EVENT_API_ORIGIN,
    )

    branch = _first(
        env_name,
        _env_str(env, ENV_ENV),
        *(_env_str(env, name) for name in ENV_BRANCH_FALLBACKS),
    )

    if mode == "dev":
        unauthed_sync = True
    elif enable_unauthed_sync is not None:
        unauthed_sync = bool(enable_unauthed_sync)
    else:
        raw = (env.get(ENV_ENABLE_UNAUTHED_SYNC) or "").strip().lower()
        unauthed_sync = raw not in ("false", "0")

    window = _parse_int(
        env,
        ENV_SIGNATURE_WINDOW_SECONDS,
        arg=signature_window_seconds,
        arg_name="signature_window_seconds",
        minimum=0,
    )

    return Settings(
        mode=mode,
        api_origin=api_origin,
        event_api_origin=event_api_origin,
        signing_key=_strip_or_none(_first(signing_key, _env_str(env, ENV_SIGNING_KEY))),
        signing_key_fallback=_strip_or_none(
            _first(signing_key_fallback, _env_str(env, ENV_SIGNING_KEY_FALLBACK))
        ),
        event_key=_strip_or_none(_first(event_key, _env_str(env, ENV_EVENT_KEY))),
        env=branch,
        serve_origin=_resolve_serve_origin(
            serve_origin if serve_origin is not None else env.get(ENV_SERVE_ORIGIN)
        ),
        serve_path=(
            serve_path if serve_path is not None else _env_str(env, ENV_SERVE_PATH)
        )
        or None,
        public_path=public_path,
        streaming=_resolve_streaming(env, streaming),
        enable_unauthed_sync=unauthed_sync,
        connect_max_worker_concurrency=_parse_int(
            env,
            ENV_CONNECT_MAX_WORKER_CONCURRENCY,
            arg=max_worker_concurrency,
            arg_name="max_worker_concurrency",
            # 0 is no limit, as the connect gateway reads it.
            minimum=0,
        ),
        thread_pool_max_workers=_parse_int(
            env,
            ENV_THREAD_POOL_MAX_WORKERS,
            arg=thread_pool_max_workers,
            arg_name="thread_pool_max_workers",
            minimum=0,
        ),
        signature_window_seconds=(
            DEFAULT_SIGNATURE_WINDOW_SECONDS if window is None else window
        ),
    )
