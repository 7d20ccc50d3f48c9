"""Sync payloads and introspection bodies, built from plain values.

* :class:`RegisterRequest`: the body of ``POST {api_origin}/fn/register``
  (out-of-band sync).  Keys ``appName`` and ``deployType`` as the server's
  struct spells them (the official SDK sends ``appname``/``deploy_type``).
* :class:`InBandSyncResponse`: the body answering an in-band ``PUT``.
* :class:`UnauthenticatedIntrospection` / :class:`AuthenticatedIntrospection`:
  the ``GET`` bodies.

Each constructor is the builder: constants (SDK identity, schema and payload
versions, capabilities) are defaults; callers pass only what varies.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import attrs

from ._converter import converter, register_wire_model, strip_none
from ._errors import FunctionConfigInvalidError
from ._function_config import FunctionConfig
from ._version import SCHEMA_VERSION, SDK_LANGUAGE, __version__

__all__ = [
    "DEPLOY_TYPE_PING",
    "REGISTER_PAYLOAD_VERSION",
    "SDK_AUTHOR",
    "SDK_WIRE_VERSION",
    "AuthenticatedIntrospection",
    "Capabilities",
    "InBandSyncResponse",
    "Mode",
    "RegisterRequest",
    "UnauthenticatedIntrospection",
]

Mode: TypeAlias = Literal["dev", "cloud"]

#: ``sdk`` in the register body: ``<language>:v<version>``.
SDK_WIRE_VERSION = f"{SDK_LANGUAGE}:v{__version__}"
SDK_AUTHOR = "inngest"
#: ``v`` in the register body.
REGISTER_PAYLOAD_VERSION = "0.1"
#: The only deploy type: the server was pinged (``PUT``) and the SDK answered.
DEPLOY_TYPE_PING = "ping"

_MODES = ("dev", "cloud")


def _check_functions(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, list) or not value:
        msg = "no functions found: an app must serve at least one function"
        raise FunctionConfigInvalidError(msg)


@attrs.frozen(kw_only=True)
class Capabilities:
    """What this SDK supports beyond the basics; sent with syncs and introspection."""

    connect: str = "v1"
    in_band_sync: str = "v1"
    trust_probe: str = "v1"


@attrs.frozen(kw_only=True)
class RegisterRequest:
    """Out-of-band sync body; ``app_version`` is left out unless set."""

    app_id: str
    app_version: str | None = None
    capabilities: Capabilities = Capabilities()
    deploy_type: str = DEPLOY_TYPE_PING
    framework: str
    functions: list[FunctionConfig] = attrs.field(validator=_check_functions)
    sdk: str = SDK_WIRE_VERSION
    url: str
    v: str = REGISTER_PAYLOAD_VERSION


@attrs.frozen(kw_only=True)
class UnauthenticatedIntrospection:
    """``GET`` body without a valid signature (dev mode).

    ``function_count`` counts user functions, not on-failure handlers.
    """

    schema_version: str = SCHEMA_VERSION
    function_count: int
    has_event_key: bool
    has_signing_key: bool
    has_signing_key_fallback: bool
    mode: Mode = attrs.field(validator=attrs.validators.in_(_MODES))


@attrs.frozen(kw_only=True)
class AuthenticatedIntrospection:
    """``GET`` body for a correctly signed request in cloud mode.

    Hashes are full hex digests (``None`` when the key is not set);
    ``serve_origin``/``serve_path`` are what the app passed to ``serve()``.
    Unset values go out as ``null`` here, but are left out inside an in-band
    sync response.
    """

    schema_version: str = SCHEMA_VERSION
    api_origin: str
    app_id: str
    authentication_succeeded: Literal[True] = True
    capabilities: Capabilities = Capabilities()
    env: str | None
    event_api_origin: str
    event_key_hash: str | None
    framework: str
    function_count: int
    has_event_key: bool
    has_signing_key: bool
    has_signing_key_fallback: bool
    mode: Mode = attrs.field(validator=attrs.validators.in_(_MODES))
    sdk_language: str = SDK_LANGUAGE
    sdk_version: str = __version__
    serve_origin: str | None = None
    serve_path: str | None = None
    signing_key_fallback_hash: str | None
    signing_key_hash: str | None


@attrs.frozen(kw_only=True)
class InBandSyncResponse:
    """Body answering an in-band sync; ``None`` fields are left out."""

    app_id: str
    app_version: str | None = None
    env: str | None = None
    framework: str
    functions: list[FunctionConfig]
    inspection: AuthenticatedIntrospection
    platform: str | None = None
    sdk_author: str = SDK_AUTHOR
    sdk_language: str = SDK_LANGUAGE
    sdk_version: str = __version__
    url: str


def _unstructure_inspection(value: AuthenticatedIntrospection) -> dict[str, Any]:
    return strip_none(converter.unstructure(value))


register_wire_model(Capabilities, omit_none=False)
register_wire_model(UnauthenticatedIntrospection, omit_none=False)
register_wire_model(AuthenticatedIntrospection, omit_none=False)
register_wire_model(
    RegisterRequest,
    renames={
        "app_id": "appName",
        "app_version": "appVersion",
        "deploy_type": "deployType",
    },
)
register_wire_model(
    InBandSyncResponse,
    renames={"app_version": "appVersion"},
    unstruct_hooks={"inspection": _unstructure_inspection},
)
