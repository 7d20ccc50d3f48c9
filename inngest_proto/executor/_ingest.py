"""Reading what a client sends the Event API (``POST /e``): the body, then each event.

One reading serves every server of this package: the dev server's HTTP
endpoint wraps it in its limits and status codes, and :class:`InProcessAPI`
(the ``TestEngine``'s transport) answers ``client.send`` with it, so an event
a test sends is checked and filled in as the dev server would.  The rules
follow the real server (docs/protocol/devserver-api.rst#event-ingestion):
normalisation order, error texts, reserved names, ``ts`` bounds.  Time comes
in as ``now_ms``; ids come from the caller.
"""

from __future__ import annotations

from typing import Any

from .. import _json
from .._converter import unstructure
from .._errors import BodyInvalidError
from .._events import parse_event
from ._reply import MAX_DATA_DEPTH

__all__ = [
    "MAX_EVENT_BYTES",
    "InvalidEventBody",
    "normalize_event",
    "read_event_body",
    "surrogate_message",
    "too_deep",
]

#: Per-event ceiling of ``/e`` in the dev server
#: (docs/protocol/devserver-api.rst#event-ingestion).
MAX_EVENT_BYTES = 3 * 1024 * 1024
_RESERVED_PREFIX = "inngest/"
# ts bounds in ms: 1980-01-01 and 2100-01-01 (UTC).
_MIN_TS = 315_532_800_000
_MAX_TS = 4_102_444_800_000


class InvalidEventBody(ValueError):
    """A ``/e`` body that holds no event: its text is the server's answer."""


def read_event_body(body: bytes) -> list[Any]:
    """The events of a ``/e`` body, not yet checked one by one.

    An empty body sends none; one object is one event.  Raises
    :class:`InvalidEventBody` for anything else.
    """
    if not body.strip():
        return []
    try:
        parsed = _json.loads(body)
    except (ValueError, UnicodeDecodeError):
        parsed = None
    except RecursionError:
        msg = (
            f"Request body is nested deeper than the {MAX_DATA_DEPTH} levels"
            " of objects and arrays this dev server accepts in event data"
        )
        raise InvalidEventBody(msg) from None
    if isinstance(parsed, dict):
        return [parsed]
    if isinstance(parsed, list):
        return parsed
    msg = "Request body must contain an event object or an array of event objects"
    raise InvalidEventBody(msg)


def normalize_event(raw: Any, internal_id: str | None, now_ms: int) -> dict[str, Any]:
    """One event of ``/e`` as stored and routed; raises ``ValueError`` with
    the text the server answers
    (docs/protocol/devserver-api.rst#event-ingestion, steps 1-8).

    An event sent without an id gets ``internal_id``; with ``None`` it keeps
    none, for the caller to name.
    """
    if not isinstance(raw, dict):
        msg = f"event must be a JSON object, got {_json.json_type(raw)}"
        raise ValueError(msg)
    name = raw.get("name")
    if isinstance(name, str) and name.lower().startswith(_RESERVED_PREFIX):
        msg = f"event name is reserved for internal use: {name}"
        raise ValueError(msg)
    if name == "" or name is None:
        msg = "event name is empty"
        raise ValueError(msg)
    for field in ("name", "id"):
        _check_utf8(raw.get(field), f"event {field}")
    for field in ("data", "user"):
        # Before anything recurses into it (encoding, cattrs, CEL).
        if _json.deeper_than(raw.get(field), MAX_DATA_DEPTH):
            raise ValueError(too_deep(f"event {field}"))
    try:
        # Types (data an object, ts an integer, ...) as the SDK checks them;
        # unknown fields are dropped, as the server's decoding does.
        event: dict[str, Any] = unstructure(parse_event(raw))
    except (BodyInvalidError, TypeError, ValueError) as err:
        raise ValueError(str(err)) from err
    try:
        size = len(_json.dumps_utf8(event))
    except UnicodeEncodeError as err:
        # In data or user: SQLite, SDKs and key hashes all need UTF-8.
        raise ValueError(surrogate_message("the event", err)) from None
    if size > MAX_EVENT_BYTES:
        msg = f"event is larger than the limit of {MAX_EVENT_BYTES} bytes"
        raise ValueError(msg)
    data = event["data"]
    data.pop("_inngest", None)  # reserved for the server's own metadata
    ts = event.get("ts") or 0
    if ts and not _MIN_TS <= ts <= _MAX_TS:
        msg = f"event ts {ts} is not between 1980 and 2100 (Unix milliseconds)"
        raise ValueError(msg)
    event["ts"] = ts or now_ms
    event.setdefault("user", {})
    if not event.get("id"):
        event.pop("id", None)
        if internal_id is not None:
            event["id"] = internal_id
    return event


def too_deep(what: str) -> str:
    """Why ``what`` (e.g. ``event data``) nested too deep is refused."""
    return (
        f"{what} is nested deeper than the {MAX_DATA_DEPTH} levels"
        " of objects and arrays this dev server accepts"
    )


def _check_utf8(value: Any, what: str) -> None:
    """Refuse a string with a lone surrogate: JSON can escape one (``\\ud800``)
    but UTF-8 cannot encode it, so it could be neither stored nor sent on."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError as err:
            raise ValueError(surrogate_message(what, err)) from None


def surrogate_message(what: str, err: UnicodeEncodeError) -> str:
    """Why ``what``, which ``err`` could not encode as UTF-8, is refused."""
    code = ord(err.object[err.start])
    return (
        f"{what} holds a lone surrogate (U+{code:04X}), which is not valid"
        " Unicode: escape pairs must come in high-low order"
    )
