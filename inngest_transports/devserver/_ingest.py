"""Checking what apps send the dev server: events (``POST /e``) and syncs.

Events are read and normalised by the executor's :func:`read_event_body` and
:func:`normalize_event` (shared with the in-process Event API); this module
adds what only the HTTP endpoint has, the internal ULIDs and the
``X-Inngest-Event-Id-Seed`` header (docs/protocol/devserver-api.rst#event-ingestion).
``POST /fn/register`` follows docs/protocol/devserver-api.rst#register
(case-insensitive keys, the checks the server does before accepting a sync).
Nothing here does I/O or keeps state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from inngest_proto import json_codec
from inngest_proto.executor import (
    MAX_DATA_DEPTH,
    MAX_EVENT_BYTES,
    ConfigProblem,
    InvalidFunctionConfig,
    expressions_of,
    normalize_event,
    read_function_config,
    surrogate_message,
    too_deep,
    ulid,
)
from inngest_proto.expressions import ExpressionError, check_expression
from inngest_proto.functions import FunctionConfig

__all__ = [
    "MAX_EVENTS_PER_REQUEST",
    "MAX_EVENT_BYTES",
    "EventIds",
    "InvalidSync",
    "SyncRequest",
    "normalize_event",
    "parse_sync",
    "too_deep",
]

#: How many events one ``/e`` request may send (an HTTP limit of the dev
#: server; each event is checked by the executor's ``normalize_event``).
MAX_EVENTS_PER_REQUEST = 5000
_SEED_ENTROPY_BYTES = 10


class EventIds:
    """Mints the internal ULIDs of one ``/e`` request.

    See docs/protocol/devserver-api.rst#event-ingestion, step 7.

    With a valid seed header the ids are reproducible, so a client resending
    the same request gets the same ids back; else they are random.
    """

    def __init__(self, seed_header: str | None, now_ms: int) -> None:
        self._seed = _parse_seed(seed_header)
        self._now_ms = now_ms

    def for_index(self, index: int) -> str:
        if self._seed is None:
            entropy = int.from_bytes(os.urandom(_SEED_ENTROPY_BYTES), "big")
            return ulid(self._now_ms, entropy)
        millis, raw = self._seed
        # The last 4 bytes, big-endian, count up from 1 (the handler counts
        # events from 1); the first 6 are kept as sent.
        low = (int.from_bytes(raw[6:], "big") + index + 1) % (1 << 32)
        entropy = int.from_bytes(raw[:6] + low.to_bytes(4, "big"), "big")
        return ulid(millis, entropy)


def _parse_seed(header: str | None) -> tuple[int, bytes] | None:
    if not header:
        return None
    millis_text, _, entropy_text = header.partition(",")
    try:
        millis = int(millis_text)
        raw = base64.b64decode(entropy_text, validate=True)
    except (ValueError, binascii.Error):
        return None
    if millis < 0 or len(raw) != _SEED_ENTROPY_BYTES:
        return None
    return millis, raw


# --- sync --------------------------------------------------------------------


class InvalidSync(Exception):
    """A sync the server rejects (400): ``message`` is the real server's
    answer, ``detail`` says why, and ``problems`` are its functions' problems.

    ``app_name`` and ``url`` are the app's, when the body got that far, so the
    refusal can be kept with the app.
    """

    def __init__(
        self,
        message: str,
        detail: str | None = None,
        *,
        problems: Sequence[ConfigProblem] = (),
        app_name: str = "",
        url: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or message
        self.problems = tuple(problems)
        self.app_name = app_name
        self.url = url

    def reply(self) -> tuple[str, dict[str, Any] | None]:
        """The ``error`` and ``data`` of the 400 body.

        The real server answers just ``message`` and keeps the reasons on
        the app; the SDKs show an app's developer only ``error``, so the
        reasons follow it there, and are listed one by one in ``data``.
        """
        if not self.problems:
            return self.message, None
        errors = [
            {"function": p.function, "field": p.field, "message": p.message}
            for p in self.problems
        ]
        return f"{self.message}: {self.detail}", {"errors": errors}


@attrs.frozen
class SyncRequest:
    app_name: str
    url: str
    functions: tuple[FunctionConfig, ...]
    sdk: str
    framework: str
    #: SHA-256 of the body as parsed, to tell an unchanged re-sync
    #: (docs/protocol/devserver-api.rst#register).
    checksum: str


def parse_sync(body: bytes) -> SyncRequest:
    """A ``POST /fn/register`` body, checked; raises :class:`InvalidSync`.

    The server kind the SDK expects is the API's to check: it knows its own.
    """
    try:
        parsed = json_codec.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        msg = f"Invalid request: {err}"
        raise InvalidSync(msg) from err
    if not isinstance(parsed, dict):
        kind = json_codec.json_type(parsed)
        msg = f"Invalid request: the body is {kind}, not an object"
        raise InvalidSync(msg)
    if json_codec.deeper_than(parsed, MAX_DATA_DEPTH):
        msg = f"Invalid request: nested deeper than {MAX_DATA_DEPTH} levels"
        raise InvalidSync(msg)
    try:
        # Names, ids and URLs go into the database and into hashes.
        json_codec.dumps_utf8(parsed)
    except UnicodeEncodeError as err:
        msg = f"Invalid request: {surrogate_message('the body', err)}"
        raise InvalidSync(msg) from None
    # Go's JSON decoding matches keys case-insensitively (the official SDK
    # sends ``appname``); later spellings win, as there.
    fields = {str(key).lower(): value for key, value in parsed.items()}
    fields.pop("featureobservations", None)
    app_name = fields.get("appname")
    if not isinstance(app_name, str) or not app_name:
        msg = "App ID required"
        raise InvalidSync(msg)
    raw_functions = fields.get("functions") or []
    if not isinstance(raw_functions, list):
        msg = "Invalid request: functions must be an array"
        raise InvalidSync(msg)
    configs = []
    problems: list[ConfigProblem] = []
    for index, raw in enumerate(raw_functions):
        try:
            config = read_function_config(raw, index=index)
        except InvalidFunctionConfig as err:
            problems.extend(err.problems)
            continue
        configs.append(config)
        problems.extend(_expression_problems(config))
    url = fields.get("url")
    if problems:
        raise InvalidSync(
            "At least one function is invalid",
            "; ".join(map(str, problems)),
            problems=problems,
            app_name=app_name,
            url=url if isinstance(url, str) else "",
        )
    checksum = hashlib.sha256(json_codec.dumps_compact(fields)).hexdigest()
    return SyncRequest(
        app_name=app_name,
        url=url if isinstance(url, str) else "",
        functions=tuple(configs),
        sdk=str(fields.get("sdk") or ""),
        framework=str(fields.get("framework") or ""),
        checksum=checksum,
    )


def _expression_problems(config: FunctionConfig) -> list[ConfigProblem]:
    """The expressions of ``config`` that do not pass registration's checks.

    One that does not compile would be accepted and then never match (or
    key, or cancel) anything; the real server refuses it here, as we do.
    """
    problems = []
    for use in expressions_of(config):
        try:
            check_expression(use.text, use.check)
        except ExpressionError as err:
            message = f"invalid expression: {err}"
            problems.append(ConfigProblem(config.id, use.field, message))
    return problems


def event_summary(event: Mapping[str, Any]) -> str:
    """``name`` and ``id`` of an event, for log lines."""
    return f"{event.get('name')} ({event.get('id')})"
