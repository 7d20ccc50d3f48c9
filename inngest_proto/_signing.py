"""Signing keys, request verification and response signing.

Two mechanisms share the signing key (docs/protocol/http.rst#signing-keys):

* HMAC-SHA256 signatures in ``X-Inngest-Signature: t=<unix s>&s=<hex>`` on
  requests from Inngest and on our responses.  The HMAC key is the *text* of
  the signing key after its ``signkey-<env>-`` prefix, as UTF-8.
* A bearer token for calls to the Inngest API: SHA-256 of the *hex-decoded*
  key after its prefix.

Everything here is pure: callers pass the header, body bytes and the current
time in, and get a key, a header value or an exception back.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from typing import NoReturn

from . import _json
from ._errors import (
    HeaderMissingError,
    InvalidSigningKeyError,
    SignatureExpiredError,
    SignatureVerificationError,
    SigningKeyMissingError,
)
from ._jcs import canonicalize

__all__ = [
    "compute_signature",
    "hash_event_key",
    "hash_signing_key",
    "sign_response",
    "strip_key_prefix",
    "verify_request",
]

_KEY_PREFIX = re.compile(r"^signkey-\w+-")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_SIGNATURE_LENGTH = 64  # hex digits of a SHA-256 digest
_EXPECTED_HEADER_FORM = "expected 't=<unix seconds>&s=<64 hex digits>'"


def strip_key_prefix(key: str) -> str:
    """Drop one leading ``signkey-<env>-``; a key without one is returned as is."""
    prefix = _KEY_PREFIX.match(key)
    return key[prefix.end() :] if prefix else key


def hash_signing_key(key: str) -> str:
    """The bearer token for Inngest API calls, as the official Python SDK sends it.

    Lowercase hex SHA-256 of the hex-decoded key (prefix removed).  Raises
    :class:`InvalidSigningKeyError` when the key is not hex, without echoing
    the secret part.
    """
    prefix = _KEY_PREFIX.match(key)
    secret = key[prefix.end() :] if prefix else key
    # Stricter than bytes.fromhex, which would also skip embedded whitespace.
    if _HEX.fullmatch(secret) is None:
        where = f"after {prefix.group()!r}" if prefix else "of the key"
        msg = (
            f"invalid signing key: the part {where} ({len(secret)} characters) "
            "must be an even number of hexadecimal digits; a signing key looks "
            "like signkey-<env>-<hex>. Copy it from your environment's Signing "
            "Key page in the Inngest dashboard."
        )
        raise InvalidSigningKeyError(msg)
    return hashlib.sha256(bytes.fromhex(secret)).hexdigest()


def hash_event_key(key: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 event key (shown by introspection)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def compute_signature(body: bytes, key: str, timestamp: int) -> str:
    """Hex HMAC-SHA256 of ``body`` followed by the decimal ``timestamp``.

    The HMAC key is the UTF-8 text of ``key`` without its prefix; it is
    deliberately *not* hex-decoded, unlike :func:`hash_signing_key`.
    """
    return _hmac_hex(_hmac_key(key), body, str(timestamp).encode("ascii"))


def sign_response(body: bytes, key: str, now_unix: int) -> str:
    """The ``X-Inngest-Signature`` value for a response: ``t=<now>&s=<hex>``.

    ``body`` must be exactly the bytes put on the wire; responses are never
    canonicalized.  Sign with the key that verified the request.
    """
    return f"t={now_unix}&s={compute_signature(body, key, now_unix)}"


def verify_request(  # noqa: PLR0917 - positional order is the agreed API
    header: str | None,
    body: bytes,
    signing_key: str,
    fallback_key: str | None,
    now_unix: float,
    window_seconds: float = 300.0,
) -> str:
    """Check a request's ``X-Inngest-Signature``; return the key that verified it.

    The returned key (``signing_key`` or ``fallback_key``, as given) is the
    one to sign the response with.  ``window_seconds`` bounds ``|now - t|``
    against replays; pass ``math.inf`` to disable the check.  An empty
    ``fallback_key`` counts as none, as an empty environment variable would.

    Raises :class:`HeaderMissingError`, :class:`SignatureExpiredError` or
    :class:`SignatureVerificationError` (the base of both), and
    :class:`SigningKeyMissingError` if ``signing_key`` is empty.
    """
    if not signing_key:
        msg = (
            "cannot verify requests without a signing key; set "
            "INNGEST_SIGNING_KEY to this environment's signing key"
        )
        raise SigningKeyMissingError(msg)
    if not window_seconds >= 0:  # also rejects NaN
        msg = f"window_seconds must be >= 0 (or math.inf), got {window_seconds!r}"
        raise ValueError(msg)
    if header is None:
        msg = (
            "cannot verify the request: it has no X-Inngest-Signature header. "
            "Inngest Cloud signs every request; if this one comes from the "
            "Inngest Dev Server, run the SDK in dev mode (INNGEST_DEV=1)"
        )
        raise HeaderMissingError(msg)

    timestamp, signature = _parse_signature_header(header)
    skew = now_unix - timestamp
    # Checked before any hashing: stale requests are rejected cheaply.
    if abs(skew) > window_seconds:
        direction = "old" if skew > 0 else "far in the future"
        msg = (
            f"the request signature is too {direction}: its timestamp t={timestamp} "
            f"is {abs(skew):.0f} s from now, more than the {window_seconds:g} s "
            "allowed; check that this machine's clock is correct (a replayed "
            "request looks like this too)"
        )
        raise SignatureExpiredError(msg)

    timestamp_bytes = str(timestamp).encode("ascii")
    candidates: tuple[tuple[str, bytes], ...] = ((signing_key, _hmac_key(signing_key)),)
    if fallback_key:
        candidates += ((fallback_key, _hmac_key(fallback_key)),)

    # Fast path: the server sends the canonical bytes it signed, so genuine
    # requests match without parsing the body.
    verified = _first_matching_key(body, timestamp_bytes, signature, candidates)
    if verified is not None:
        return verified

    # Slow path: the body may have been re-serialized in transit (or by a
    # framework); what was signed is its JCS form.
    canonical_body = _canonicalize_body(body)
    if canonical_body is not None and canonical_body != body:
        verified = _first_matching_key(
            canonical_body, timestamp_bytes, signature, candidates
        )
        if verified is not None:
            return verified

    msg = "the request signature does not match; check that INNGEST_SIGNING_KEY"
    if fallback_key:
        msg += " (or INNGEST_SIGNING_KEY_FALLBACK)"
    msg += " is this environment's signing key"
    raise SignatureVerificationError(msg)


def _parse_signature_header(header: str) -> tuple[int, str]:
    # A query string; the server writes "t=...&s=..." but order is not
    # significant, and unknown fields are ignored for forward compatibility.
    timestamp_text: str | None = None
    signature: str | None = None
    for field in header.strip().split("&"):
        name, _, value = field.partition("=")
        if name == "t":
            if timestamp_text is not None:
                _raise_malformed("'t' appears more than once")
            timestamp_text = value
        elif name == "s":
            if signature is not None:
                _raise_malformed("'s' appears more than once")
            signature = value

    if timestamp_text is None:
        _raise_malformed("the timestamp 't' is missing")
    if signature is None:
        _raise_malformed("the signature 's' is missing")
    # isdigit() alone would accept non-ASCII digits; the length cap keeps
    # int() cheap on hostile input (19 digits covers any int64).
    if not (
        timestamp_text.isascii()
        and timestamp_text.isdigit()
        and len(timestamp_text) <= 19
    ):
        _raise_malformed("'t' must be a Unix time in whole seconds")
    # hmac.compare_digest only accepts ASCII str.
    if len(signature) != _SIGNATURE_LENGTH or not signature.isascii():
        _raise_malformed(f"'s' must be {_SIGNATURE_LENGTH} hex digits")
    return int(timestamp_text), signature


def _raise_malformed(problem: str) -> NoReturn:
    msg = (
        f"the X-Inngest-Signature header is malformed: {problem}; "
        f"{_EXPECTED_HEADER_FORM}"
    )
    raise SignatureVerificationError(msg)


def _first_matching_key(
    message_body: bytes,
    timestamp_bytes: bytes,
    signature: str,
    candidates: tuple[tuple[str, bytes], ...],
) -> str | None:
    """The first key (as configured) whose HMAC over the message is ``signature``."""
    for key, key_bytes in candidates:
        expected = _hmac_hex(key_bytes, message_body, timestamp_bytes)
        if hmac.compare_digest(expected, signature):
            return key
    return None


def _canonicalize_body(body: bytes) -> bytes | None:
    """The JCS form of a JSON body, or None when it is not (canonical) JSON."""
    if not body:
        return None
    try:
        return canonicalize(_json.loads(body))
    except (ValueError, TypeError, RecursionError):
        # Not JSON, not UTF-8, NaN, nested too deeply: it cannot have been
        # signed by the server, so the signature simply does not match.
        return None


@functools.lru_cache(maxsize=16)
def _hmac_key(key: str) -> bytes:
    # Cached: an app has one or two keys, used twice per signed call.
    return strip_key_prefix(key).encode("utf-8")


#: Below this size the message is joined and hashed in one C call
#: (``hmac.digest``); above it, two updates spare copying a large body.
_ONE_SHOT_BYTES = 64 * 1024


def _hmac_hex(key_bytes: bytes, body: bytes, timestamp_bytes: bytes) -> str:
    if len(body) < _ONE_SHOT_BYTES:
        return hmac.digest(key_bytes, body + timestamp_bytes, "sha256").hex()
    mac = hmac.new(key_bytes, body, hashlib.sha256)
    mac.update(timestamp_bytes)
    return mac.hexdigest()
