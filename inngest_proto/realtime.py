"""Realtime (publish, subscription tokens, the message stream) without I/O.

Builds the publish and token requests and parses their answers and the
stream's messages; the dev server's side signs and checks the tokens.  The
transport that sends them is :mod:`inngest_transports.realtime`.
"""

from __future__ import annotations

from ._realtime import (
    CONNECT_PATH,
    DEV_JWT_SECRET,
    JWT_ISSUER,
    PUBLISH_PATH,
    TOKEN_PATH,
    TOKEN_TTL_SECONDS,
    InvalidTokenError,
    RealtimeError,
    RealtimeMessage,
    build_publish_request,
    build_token_request,
    connect_url,
    decode_jwt,
    encode_jwt,
    parse_message,
    parse_publish_response,
    parse_token_response,
    token_key,
    validate_channel,
    validate_topics,
)

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
