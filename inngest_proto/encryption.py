"""End-to-end encryption of step outputs and event data (PyNaCl secretbox).

With :class:`EncryptionMiddleware` on a client, what the app sends to Inngest
is ciphertext: every ``step.run`` output, the function's return value, and the
``"encrypted"`` field of the events it sends.  The Inngest server stores and
forwards these values without being able to read them; the middleware decrypts
them again when a call request brings them back.

The format on the wire is the one of the official ``inngest_encryption``
package and of the TypeScript ``@inngest/middleware-encryption`` (its
``inngest/libsodium`` strategy), so apps on either SDK read each other's data::

    {"__ENCRYPTED__": true, "__STRATEGY__": "inngest/libsodium",
     "data": base64(nonce[24] + secretbox(json))}

The key is BLAKE2b-256 of the user's key string.  This module does no I/O and
reads no clock; PyNaCl draws each nonce from the operating system's random
source.  The crypto (:func:`derive_key`, :class:`Cipher`) stands apart from the
middleware glue so each can be used and tested on its own.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

try:
    import nacl.encoding
    import nacl.exceptions
    import nacl.hash
    import nacl.secret
    import nacl.utils
except ImportError as _err:  # pragma: no cover - exercised in a subprocess
    _msg = (
        "inngest_proto.encryption needs PyNaCl; install the extra: "
        "pip install 'inngest-sansio[encryption]'"
    )
    raise ImportError(_msg) from _err

from . import _json
from ._errors import InngestError
from ._middleware import MiddlewareSync, TransformOutputResult
from ._opcodes import Opcode

if TYPE_CHECKING:
    from ._client import Inngest
    from ._context import Context, ContextSync
    from ._events import Event
    from ._function import Function

__all__ = [
    "DEFAULT_EVENT_ENCRYPTION_FIELD",
    "ENCRYPTION_MARKER",
    "STRATEGY",
    "STRATEGY_MARKER",
    "Cipher",
    "DecryptionError",
    "EncryptionMiddleware",
    "derive_key",
    "is_encrypted",
]

#: Set to ``true`` in every encrypted value.
ENCRYPTION_MARKER: Final = "__ENCRYPTED__"
#: Names the algorithm; other values (or none) are not ours to decrypt.
STRATEGY_MARKER: Final = "__STRATEGY__"
STRATEGY: Final = "inngest/libsodium"
#: The event data field encrypted by default (events stay routable: the rest
#: of the data is left readable for expressions, concurrency keys and so on).
DEFAULT_EVENT_ENCRYPTION_FIELD: Final = "encrypted"

_KEY_SIZE: Final = nacl.secret.SecretBox.KEY_SIZE  # 32
_NONCE_SIZE: Final = nacl.secret.SecretBox.NONCE_SIZE  # 24
_MAC_SIZE: Final = nacl.secret.SecretBox.MACBYTES  # 16
#: Opcodes whose ``TransformOutputResult.output`` is data the user produced.
_OUTPUT_OPS: Final = frozenset({Opcode.STEP_RUN.value, Opcode.STEP.value})


class DecryptionError(InngestError):
    """An encrypted value could not be decrypted: wrong key, a value changed in
    transit or storage, or a format this middleware does not know."""


# --- keys ---------------------------------------------------------------------


def derive_key(secret_key: str | bytes) -> bytes:
    """The 32-byte secretbox key for a user's key.

    A ``str`` is hashed with BLAKE2b-256 (unkeyed) over its UTF-8 bytes, as
    both official middlewares do.  ``bytes`` are the key itself: 64 hex digits
    (what the official Python package expects of bytes) or 32 raw bytes.
    """
    if isinstance(secret_key, str):
        if not secret_key.strip():
            msg = "the encryption key is empty; give a long random string"
            raise ValueError(msg)
        return nacl.hash.blake2b(
            secret_key.encode("utf-8"),
            digest_size=_KEY_SIZE,
            encoder=nacl.encoding.RawEncoder,
        )
    if isinstance(secret_key, bytes):
        if len(secret_key) == _KEY_SIZE:
            return secret_key
        if len(secret_key) == 2 * _KEY_SIZE:
            try:
                return bytes.fromhex(secret_key.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                pass
        msg = (
            f"an encryption key given as bytes must be {_KEY_SIZE} raw bytes or "
            f"{2 * _KEY_SIZE} hex digits, got {len(secret_key)} bytes; "
            "or pass a str, which is hashed into a key"
        )
        raise ValueError(msg)
    msg = f"an encryption key must be a str or bytes, got {type(secret_key).__name__}"
    raise TypeError(msg)


def _fallback_list(keys: Sequence[str | bytes] | None) -> list[str | bytes]:
    if keys is None:
        return []
    if isinstance(keys, str | bytes):
        # A lone string would otherwise be read as a list of 1-char keys.
        msg = "fallback_decryption_keys must be a list of keys, not a single key"
        raise TypeError(msg)
    return list(keys)


# --- values -------------------------------------------------------------------


def is_encrypted(value: object) -> bool:
    """Whether ``value`` is an encrypted value this module writes and reads."""
    return (
        isinstance(value, Mapping)
        and value.get(ENCRYPTION_MARKER) is True
        and value.get(STRATEGY_MARKER) == STRATEGY
    )


def _is_marked(value: object) -> bool:
    # Marked as encrypted, whatever the strategy: ours, or one we must refuse
    # rather than hand ciphertext to the function as if it were its data.
    return isinstance(value, Mapping) and value.get(ENCRYPTION_MARKER) is True


def _looks_like_event(value: object) -> bool:
    return (
        isinstance(value, Mapping)
        and isinstance(value.get("name"), str)
        and isinstance(value.get("data"), Mapping)
    )


class Cipher:
    """Encrypts with one key, decrypts with it or any fallback key.

    Pure value transforms: nothing here logs, sends or mutates its input.
    """

    __slots__ = ("_boxes",)

    def __init__(
        self,
        secret_key: str | bytes,
        *,
        fallback_decryption_keys: Sequence[str | bytes] | None = None,
    ) -> None:
        keys = [secret_key, *_fallback_list(fallback_decryption_keys)]
        self._boxes = [nacl.secret.SecretBox(derive_key(k)) for k in keys]

    def encrypt(self, value: Any) -> dict[str, Any]:
        """Encrypt a JSON value (always with the primary key, a fresh nonce)."""
        return self._encrypt_with_nonce(value, nacl.utils.random(_NONCE_SIZE))

    def _encrypt_with_nonce(self, value: Any, nonce: bytes) -> dict[str, Any]:
        # Separate so tests can pin the nonce and check the exact bytes.
        try:
            # json.dumps' defaults, as the official Python package encodes;
            # any JSON text decrypts the same on every side.
            plain = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as err:
            msg = f"only JSON values can be encrypted: {err}"
            raise TypeError(msg) from None
        sealed = self._boxes[0].encrypt(plain.encode("utf-8"), nonce)
        return {
            ENCRYPTION_MARKER: True,
            STRATEGY_MARKER: STRATEGY,
            "data": base64.b64encode(bytes(sealed)).decode("ascii"),
        }

    def decrypt(self, value: Any) -> Any:
        """Decrypt an encrypted value; anything not marked encrypted is
        returned unchanged (so encryption can be turned on for running apps).

        Raises :class:`DecryptionError` for a value marked encrypted that no
        key opens, that is malformed, or that uses another strategy.
        """
        if not _is_marked(value):
            return value
        strategy = value.get(STRATEGY_MARKER)
        if strategy != STRATEGY:
            shown = "no strategy (the TypeScript middleware's legacy AES format)"
            if strategy is not None:
                shown = f"strategy {strategy!r}"
            msg = f"cannot decrypt a value encrypted with {shown}; only {STRATEGY!r}"
            raise DecryptionError(msg)
        token = value.get("data")
        if not isinstance(token, str):
            msg = "malformed encrypted value: its 'data' is not a base64 string"
            raise DecryptionError(msg)
        try:
            sealed = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            msg = "malformed encrypted value: its 'data' is not valid base64"
            raise DecryptionError(msg) from None
        if len(sealed) < _NONCE_SIZE + _MAC_SIZE:
            msg = "malformed encrypted value: too short to hold a nonce and a MAC"
            raise DecryptionError(msg)
        plain = self._open(sealed)
        try:
            return _json.loads(plain.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError is a ValueError too
            msg = "an encrypted value decrypted to something that is not JSON"
            raise DecryptionError(msg) from None

    def _open(self, sealed: bytes) -> bytes:
        for box in self._boxes:
            try:
                return box.decrypt(sealed)
            except nacl.exceptions.CryptoError:
                continue
        fallbacks = len(self._boxes) - 1
        tried = "the key"
        if fallbacks:
            tried = f"the key or its {fallbacks} fallback key(s)"
        msg = (
            f"could not decrypt a value with {tried}: it was encrypted with "
            "another key (add that key to fallback_decryption_keys), or it "
            "was altered"
        )
        raise DecryptionError(msg)

    def encrypt_event_data(
        self, data: Mapping[str, Any], field: str = DEFAULT_EVENT_ENCRYPTION_FIELD
    ) -> Mapping[str, Any]:
        """``data`` with ``data[field]`` encrypted; ``data`` itself (the same
        object) when that field is missing, ``None`` or already encrypted."""
        value = data.get(field)
        if value is None or is_encrypted(value):
            return data
        return {**data, field: self.encrypt(value)}

    def decrypt_event_data(self, data: Mapping[str, Any]) -> Mapping[str, Any]:
        """Event data with every encrypted part decrypted; ``data`` itself
        (the same object) when nothing in it is encrypted.

        Both shapes other SDKs send are read: one encrypted field (any name)
        beside plain ones, or the whole data encrypted, which may sit beside
        plain keys such as an invoke's ``_inngest``.
        """
        if _is_marked(data):
            plain = self.decrypt(data)
            if not isinstance(plain, Mapping):
                got = _json.json_type(plain)
                msg = f"encrypted event data decrypted to {got}, not an object"
                raise DecryptionError(msg)
            envelope = {ENCRYPTION_MARKER, STRATEGY_MARKER, "data"}
            rest = {k: v for k, v in data.items() if k not in envelope}
            return {**rest, **plain}
        out: dict[str, Any] | None = None
        for key, value in data.items():
            if _is_marked(value):
                if out is None:
                    out = dict(data)
                out[key] = self.decrypt(value)
        return data if out is None else out

    def decrypt_memo(self, value: Any) -> Any:
        """A memoized step's output, decrypted.

        A ``step.run`` output is encrypted whole.  A ``wait_for_event`` memo is
        the matched event as the server stored it, whose data may hold an
        encrypted field: that is decrypted as trigger events are.
        """
        if _is_marked(value):
            return self.decrypt(value)
        if _looks_like_event(value):
            data = self.decrypt_event_data(value["data"])
            if data is not value["data"]:
                return {**value, "data": data}
        return value


# --- the middleware -------------------------------------------------------------


def _checked_field(field: object) -> str:
    if not isinstance(field, str) or not field:
        msg = f"event_encryption_field must be a non-empty string, got {field!r}"
        raise ValueError(msg)
    return field


class EncryptionMiddleware(MiddlewareSync):
    """Encrypts what the app sends to Inngest and decrypts what comes back.

    Usually given through :meth:`factory`::

        client = inngest.Inngest(
            app_id="my-app",
            middleware=[EncryptionMiddleware.factory("my-secret-key")],
        )

    Encrypted: ``step.run`` outputs, the function's output, and the
    ``event_encryption_field`` of sent events (and of ``step.invoke`` data,
    when an invoke step is passed to ``transform_output``).
    Decrypted: memoized step outputs and the trigger events' data.  With
    ``decrypt_only`` nothing is encrypted (for rolling encryption in or out).
    """

    def __init__(
        self,
        client: Inngest,
        raw_request: object,
        secret_key: bytes | str,
        *,
        decrypt_only: bool = False,
        event_encryption_field: str = DEFAULT_EVENT_ENCRYPTION_FIELD,
        fallback_decryption_keys: list[bytes | str] | None = None,
    ) -> None:
        super().__init__(client, raw_request)
        self.cipher = Cipher(
            secret_key, fallback_decryption_keys=fallback_decryption_keys
        )
        self.decrypt_only = decrypt_only
        self.event_encryption_field = _checked_field(event_encryption_field)

    @classmethod
    def factory(
        cls,
        secret_key: bytes | str,
        *,
        decrypt_only: bool = False,
        event_encryption_field: str = DEFAULT_EVENT_ENCRYPTION_FIELD,
        fallback_decryption_keys: list[bytes | str] | None = None,
    ) -> Callable[[Inngest, object], EncryptionMiddleware]:
        """A middleware factory for ``Inngest(middleware=[...])`` or a function.

        The keys are checked here, so a bad key fails when the app starts, not
        on its first request.
        """
        Cipher(secret_key, fallback_decryption_keys=fallback_decryption_keys)
        field = _checked_field(event_encryption_field)
        fallbacks = _fallback_list(fallback_decryption_keys)

        def build(client: Inngest, raw_request: object) -> EncryptionMiddleware:
            return cls(
                client,
                raw_request,
                secret_key,
                decrypt_only=decrypt_only,
                event_encryption_field=field,
                fallback_decryption_keys=fallbacks,
            )

        return build

    def _warn_already_encrypted(self) -> None:
        self.client.logger.warning(
            "encryption middleware: not encrypting a value that is already "
            "encrypted (is the middleware added twice?)"
        )

    def _decrypt_event(self, event: Event) -> Event:
        data = self.cipher.decrypt_event_data(event.data)
        return event if data is event.data else attrs.evolve(event, data=data)

    def _encrypt_event_data(self, data: Mapping[str, Any]) -> Mapping[str, Any]:
        if is_encrypted(data.get(self.event_encryption_field)):
            self._warn_already_encrypted()
            return data
        return self.cipher.encrypt_event_data(data, self.event_encryption_field)

    def transform_input(
        self, ctx: Context | ContextSync, function: Function[Any], steps: Any
    ) -> None:
        """Decrypt memoized step outputs and the trigger events' data."""
        for memo in steps.values():
            if memo.error is None:
                memo.data = self.cipher.decrypt_memo(memo.data)
        # Events are frozen: replace them.  ``ctx.event`` is usually
        # ``ctx.events[0]``; decrypt it once.
        done: dict[int, Event] = {}

        def once(event: Event) -> Event:
            if id(event) not in done:
                done[id(event)] = self._decrypt_event(event)
            return done[id(event)]

        ctx.events[:] = [once(event) for event in ctx.events]
        ctx.event = once(ctx.event)

    def transform_output(self, result: TransformOutputResult) -> None:
        """Encrypt a step's or the function's output, and invoke data."""
        if self.decrypt_only:
            return
        step = result.step
        if step is not None and step.op == Opcode.INVOKE.value:
            self._encrypt_invoke_payload(step.opts)
            return
        if step is not None and step.op not in _OUTPUT_OPS:
            return
        if result.has_output():
            if is_encrypted(result.output):
                self._warn_already_encrypted()
                return
            result.output = self.cipher.encrypt(result.output)

    def _encrypt_invoke_payload(self, opts: dict[str, Any] | None) -> None:
        # The invoked function receives ``payload.data`` as its event data.
        payload = None if opts is None else opts.get("payload")
        if not isinstance(payload, dict):
            return
        data = payload.get("data")
        if isinstance(data, Mapping):
            encrypted = self._encrypt_event_data(data)
            if encrypted is not data:
                payload["data"] = dict(encrypted)

    def before_send_events(self, events: list[Event]) -> None:
        """Encrypt the ``event_encryption_field`` of every event sent."""
        if self.decrypt_only:
            return
        for i, event in enumerate(events):
            data = self._encrypt_event_data(event.data)
            if data is not event.data:
                events[i] = attrs.evolve(event, data=data)
