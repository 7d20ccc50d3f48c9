"""Realtime publish and subscription tokens, built and parsed without I/O.

Wire facts (the Inngest server's ``pkg/execution/realtime`` and the official
SDKs):

* ``POST {api origin}/v1/realtime/publish?channel=C&topic=T`` with the
  message's JSON as the body, authorized like every API call (bearer of the
  hashed signing key, fallback key on 401/403).  The server answers 200 with
  an empty body; a body that is not JSON is published as a JSON string.
* ``POST {api origin}/v1/realtime/token`` with ``[{"channel": C, "name": T,
  "kind": "run"}, ...]`` answers 201 ``{"jwt": "..."}``: an HS256 JWT (issuer
  ``rt.inngest.com``, one minute to live) whose ``topics`` claim lists what
  its holder may subscribe to.
* ``GET {api origin}/v1/realtime/connect?token=JWT`` upgrades to a WebSocket
  (``ws://`` or ``wss://``); the server writes one JSON text frame per
  message: ``{"kind": "data", "data": ..., "created_at": ..., "channel": C,
  "env_id": ..., "topic": T, "run_id"?: ...}``.  The subscriber may send
  ``{"kind": "sub", "data": JWT}`` to add a token's topics.

The JWT helpers serve the dev server, which mints and checks tokens; the
clock is a parameter.

This is the protocol's side; :mod:`inngest_transports.realtime` sends these
requests and subscribes (the official SDK's API), and the dev server's hub
(``inngest_transports/devserver/_realtime_hub.py``) answers them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ._errors import ErrorCode, RemoteProtocolError
from ._http_values import OutboundRequest, OutboundResponse
from ._json import dumps_compact, loads
from ._outbound import _authed, base_headers
from ._settings import Settings, join_api_url

__all__ = [
    "CONNECT_PATH",
    "DEV_JWT_SECRET",
    "JWT_ISSUER",
    "PUBLISH_PATH",
    "TOKEN_PATH",
    "TOKEN_TTL_SECONDS",
    "InvalidTokenError",
    "RealtimeError",
    "RealtimeMessage",
    "build_publish_request",
    "build_token_request",
    "connect_url",
    "decode_jwt",
    "encode_jwt",
    "parse_message",
    "parse_publish_response",
    "parse_token_response",
    "token_key",
    "validate_channel",
    "validate_topics",
]

PUBLISH_PATH = "/v1/realtime/publish"
TOKEN_PATH = "/v1/realtime/token"  # noqa: S105 - a path, not a secret
CONNECT_PATH = "/v1/realtime/connect"
JWT_ISSUER = "rt.inngest.com"
#: The secret the real dev server signs realtime JWTs with (not a secret).
DEV_JWT_SECRET = b"dev-mode-is-not-secret"
#: How long a subscription token is good for (the server's ``DefaultExpiry``).
TOKEN_TTL_SECONDS = 60
_EXCERPT_CHARS = 200


class RealtimeError(RemoteProtocolError):
    """Inngest refused a realtime request, or answered something unusable.

    ``http_status`` is the server's status (``None`` when there was none,
    e.g. a reply that is not the expected JSON).
    """

    code = ErrorCode.REALTIME_FAILED

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class InvalidTokenError(ValueError):
    """A realtime JWT that is malformed, badly signed, expired or not ours."""


# --- input checks ----------------------------------------------------------------


def validate_channel(channel: object) -> str:
    if not isinstance(channel, str):
        msg = f"channel must be a string, got {type(channel).__name__}"
        raise TypeError(msg)
    if not channel:
        msg = "channel must be a non-empty string (e.g. 'user:123')"
        raise ValueError(msg)
    return channel


def _validate_topic(topic: object, what: str = "topic") -> str:
    if not isinstance(topic, str):
        msg = f"{what} must be a string, got {type(topic).__name__}"
        raise TypeError(msg)
    if not topic:
        msg = f"{what} must be a non-empty string (e.g. 'progress')"
        raise ValueError(msg)
    return topic


def validate_topics(topics: object) -> list[str]:
    """``topics`` as a list of non-empty strings; at least one."""
    if isinstance(topics, str | bytes) or not isinstance(topics, Iterable):
        msg = (
            "topics must be a list of topic names, got "
            f"{type(topics).__name__} (wrap a single topic in a list: [{topics!r}])"
        )
        raise TypeError(msg)
    names = [_validate_topic(t, f"topics[{i}]") for i, t in enumerate(topics)]
    if not names:
        msg = "topics must name at least one topic: a token for none receives nothing"
        raise ValueError(msg)
    return names


def _excerpt(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    if len(text) > _EXCERPT_CHARS:
        text = text[:_EXCERPT_CHARS] + "..."
    return repr(text) if text else "(empty body)"


def _hint(status: int) -> str:
    if status in (401, 403):
        return (
            "; check the signing key (INNGEST_SIGNING_KEY, and "
            "INNGEST_SIGNING_KEY_FALLBACK while rotating) and the environment "
            "(INNGEST_ENV)"
        )
    if status == 404:
        return (
            "; check the API origin (INNGEST_API_BASE_URL or INNGEST_BASE_URL) "
            "and that the server has realtime enabled"
        )
    return ""


def _failed(what: str, resp: OutboundResponse) -> RealtimeError:
    msg = f"{what} failed: HTTP {resp.status} {_excerpt(resp.body)}{_hint(resp.status)}"
    return RealtimeError(msg, resp.status)


# --- publish ---------------------------------------------------------------------


def build_publish_request(
    channel: str,
    topic: str,
    data: Any,
    *,
    settings: Settings,
    run_id: str | None = None,
) -> OutboundRequest:
    """``POST /v1/realtime/publish?channel=..&topic=..`` with ``data`` as JSON.

    ``run_id`` (optional) tags the message with the run that published it, as
    the TypeScript SDK does; subscribers see it as ``run_id``.
    """
    params = {"channel": validate_channel(channel), "topic": _validate_topic(topic)}
    if run_id is not None:
        if not isinstance(run_id, str) or not run_id:
            msg = f"run_id must be a non-empty string or None, got {run_id!r}"
            raise ValueError(msg)
        params["run_id"] = run_id
    try:
        body = dumps_compact(data)
    except (TypeError, ValueError) as err:
        msg = f"realtime data must be JSON-serializable: {err}"
        raise TypeError(msg) from err
    headers, fallback = _authed(base_headers(settings), settings)
    url = join_api_url(
        settings.api_origin, PUBLISH_PATH + "?" + urllib.parse.urlencode(params)
    )
    return OutboundRequest(
        method="POST", url=url, headers=headers, body=body, fallback_headers=fallback
    )


def parse_publish_response(resp: OutboundResponse) -> None:
    """Raises :class:`RealtimeError` unless the server accepted the message."""
    if resp.status >= 400:
        raise _failed("publishing to realtime", resp)


# --- subscription tokens ----------------------------------------------------------


def build_token_request(
    channel: str, topics: Iterable[str], *, settings: Settings
) -> OutboundRequest:
    """``POST /v1/realtime/token`` asking for a JWT for ``channel``'s ``topics``."""
    channel = validate_channel(channel)
    body = [
        {"channel": channel, "name": name, "kind": "run"}
        for name in validate_topics(topics)
    ]
    headers, fallback = _authed(base_headers(settings), settings)
    return OutboundRequest(
        method="POST",
        url=join_api_url(settings.api_origin, TOKEN_PATH),
        headers=headers,
        body=dumps_compact(body),
        fallback_headers=fallback,
    )


def parse_token_response(
    resp: OutboundResponse, channel: str, topics: Iterable[str]
) -> dict[str, Any]:
    """``{"channel", "topics", "key"}``: what ``@inngest/realtime`` subscribes with."""
    if resp.status >= 400:
        raise _failed("creating a realtime subscription token", resp)
    try:
        data = loads(resp.body)
    except ValueError:
        data = None
    jwt = data.get("jwt") if isinstance(data, dict) else None
    if not isinstance(jwt, str) or not jwt:
        msg = (
            f"realtime token reply (HTTP {resp.status}) has no 'jwt' string: "
            f"{_excerpt(resp.body)}"
        )
        raise RealtimeError(msg, resp.status)
    return {"channel": channel, "topics": list(topics), "key": jwt}


def token_key(token: Mapping[str, Any] | str) -> str:
    """The JWT of a token from :func:`parse_token_response`, or a bare JWT."""
    key = token if isinstance(token, str) else token.get("key")
    if not isinstance(key, str) or not key:
        msg = (
            "token must be a JWT string or the mapping get_subscription_token "
            f"returns (with a 'key'), got {token!r}"
        )
        raise ValueError(msg)
    return key


def connect_url(api_origin: str, token: Mapping[str, Any] | str) -> str:
    """``ws(s)://{api host}/v1/realtime/connect?token=JWT``."""
    parts = urllib.parse.urlsplit(api_origin)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
        msg = f"the API origin must be an http(s):// URL, got {api_origin!r}"
        raise ValueError(msg)
    scheme = "wss" if parts.scheme in ("https", "wss") else "ws"
    query = urllib.parse.urlencode({"token": token_key(token)})
    return urllib.parse.urlunsplit((scheme, parts.netloc, CONNECT_PATH, query, ""))


# --- messages --------------------------------------------------------------------


@attrs.frozen
class RealtimeMessage:
    """One message a subscriber received.

    ``kind`` is ``"data"`` for what :func:`publish` sent (``"datastream-start"``,
    ``"chunk"`` and the like for streams); ``data`` is its decoded JSON.
    ``raw`` is the whole frame, for fields this class does not name.
    """

    kind: str
    channel: str | None
    topic: str | None
    data: Any
    created_at: str | None = None
    run_id: str | None = None
    env_id: str | None = None
    fn_id: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_message(frame: str | bytes) -> RealtimeMessage:
    """A WebSocket text frame as a :class:`RealtimeMessage`.

    Raises :class:`RealtimeError` for a frame that is not a JSON object with
    a string ``kind``.
    """
    try:
        raw = loads(frame)
    except ValueError:
        raw = None
    if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
        excerpt = _excerpt(frame.encode() if isinstance(frame, str) else frame)
        msg = f"realtime frame is not a message object: {excerpt}"
        raise RealtimeError(msg)
    return RealtimeMessage(
        kind=raw["kind"],
        channel=_opt_str(raw.get("channel")),
        topic=_opt_str(raw.get("topic")),
        data=raw.get("data"),
        created_at=_opt_str(raw.get("created_at")),
        run_id=_opt_str(raw.get("run_id")),
        env_id=_opt_str(raw.get("env_id")),
        fn_id=_opt_str(raw.get("fn_id")),
        raw=raw,
    )


# --- JWT (HS256), for the dev server ----------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    # Strict, as the server's decoder: the unpadded URL alphabet only.
    if "=" in text or not text.isascii():
        raise InvalidTokenError("malformed token: bad base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as err:
        raise InvalidTokenError("malformed token: bad base64url") from err


def encode_jwt(claims: Mapping[str, Any], secret: bytes) -> str:
    """``claims`` signed as an HS256 JWT."""
    header = _b64(dumps_compact({"alg": "HS256", "typ": "JWT"}))
    payload = _b64(dumps_compact(dict(claims)))
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def decode_jwt(
    token: str, secret: bytes, now: float, *, issuer: str = JWT_ISSUER
) -> dict[str, Any]:
    """The claims of a valid token; :class:`InvalidTokenError` otherwise.

    Checks what the server checks: HS256 only, the signature, the issuer,
    an ``exp`` in the future and an ``iat`` not in it.
    """
    pieces = token.split(".") if isinstance(token, str) else []
    if len(pieces) != 3:
        raise InvalidTokenError("malformed token: expected header.payload.signature")
    header_b64, payload_b64, signature_b64 = pieces
    try:
        header = loads(_unb64(header_b64))
        claims = loads(_unb64(payload_b64))
    except (ValueError, UnicodeDecodeError) as err:
        if isinstance(err, InvalidTokenError):
            raise
        raise InvalidTokenError("malformed token: not JSON") from err
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidTokenError("token is not signed with HS256")
    expected = hmac.new(
        secret, f"{header_b64}.{payload_b64}".encode("ascii"), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(expected, _unb64(signature_b64)):
        raise InvalidTokenError("token signature is invalid")
    if not isinstance(claims, dict):
        raise InvalidTokenError("token claims are not an object")
    if claims.get("iss") != issuer:
        raise InvalidTokenError(f"token issuer is not {issuer}")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise InvalidTokenError("token has no expiry")
    if now >= exp:
        raise InvalidTokenError("token has expired")
    if iat is not None and (not _is_number(iat) or iat > now):
        raise InvalidTokenError("token is used before it was issued")
    return claims


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
