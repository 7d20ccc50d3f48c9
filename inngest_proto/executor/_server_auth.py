"""The server's side of the signing key: how it presents itself and what it accepts.

A server with a signing key is what Inngest Cloud (or a self-hosted Inngest
server) is to an SDK: it announces ``X-Inngest-Server-Kind: cloud``, signs
what it sends to apps, and accepts API calls whose bearer token is the key's
hash.  Without a key it is a dev server, announces ``dev``, signs nothing and
asks for nothing.  The secrets the server keeps for its own tokens (realtime
subscriptions, web UI sessions) are derived from the key, so nobody who
lacks the key can mint them.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Mapping

from .._signing import hash_signing_key, sign_response, strip_key_prefix

__all__ = [
    "SERVER_KIND_CLOUD",
    "SERVER_KIND_DEV",
    "ServerAuth",
]

SERVER_KIND_DEV = "dev"
SERVER_KIND_CLOUD = "cloud"


class ServerAuth:
    """What a server with (or without) ``signing_key`` signs and accepts."""

    def __init__(self, signing_key: str | None) -> None:
        self._key = signing_key or None
        tokens: list[str] = []
        if self._key is not None:
            tokens.append(strip_key_prefix(self._key))
            # A key that is not hex has no hash: only the key itself works.
            with contextlib.suppress(ValueError):
                tokens.append(hash_signing_key(self._key))
        self._tokens = tuple(tokens)

    @property
    def enabled(self) -> bool:
        """Whether the server has a signing key (and so acts as cloud)."""
        return self._key is not None

    @property
    def server_kind(self) -> str:
        """``X-Inngest-Server-Kind`` of everything the server sends."""
        return SERVER_KIND_CLOUD if self._key is not None else SERVER_KIND_DEV

    def sign(self, body: bytes, now: float) -> str | None:
        """``X-Inngest-Signature`` for a request to an app, or ``None``
        without a key.  ``body`` must be the bytes sent; the SDK hashes their
        JCS form, so send canonical (or compact ASCII) JSON."""
        if self._key is None:
            return None
        return sign_response(body, self._key, int(now))

    def bearer_ok(self, headers: Mapping[str, str]) -> bool:
        """Whether ``Authorization: Bearer`` carries the key or its hash (with
        or without a ``signkey-<env>-`` prefix); always true without a key."""
        if self._key is None:
            return True
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        token = strip_key_prefix(token.strip())
        if not token.isascii():
            # No key or hash is (and compare_digest refuses such text).
            return False
        # Every candidate is compared, so timing does not say which matched.
        matches = [hmac.compare_digest(token, ok) for ok in self._tokens]
        return any(matches)

    def derive_secret(self, purpose: str) -> bytes | None:
        """A secret for the server's own tokens (``purpose`` names which),
        unguessable without the key; ``None`` without a key."""
        if self._key is None:
            return None
        key = strip_key_prefix(self._key).encode("utf-8")
        return hmac.digest(key, b"inngest-dev-server/" + purpose.encode(), "sha256")

    def derive_token(self, purpose: str) -> str | None:
        """:meth:`derive_secret` as text (for a URL or a cookie)."""
        secret = self.derive_secret(purpose)
        return None if secret is None else secret.hex()
