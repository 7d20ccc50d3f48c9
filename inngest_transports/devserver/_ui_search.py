"""The web UI's list queries, read from a request's query string.

``/ui/api/runs`` and ``/ui/api/events`` (and the no-JS pages) take the
parameters below; each one is checked here and a bad one raises
:class:`~._run_search.BadSearch` naming the parameter, which the API answers
with 400: nothing in a query string reaches SQL or CEL unchecked.

Runs: ``status`` (one or more, comma-separated), ``function`` (composite
ids, comma-separated), ``app`` (an app's name), ``from`` and ``to``
(RFC 3339 times, or Unix milliseconds; ``from`` inclusive, ``to``
exclusive), ``event_id`` (the ``id`` of a trigger event), ``query`` (CEL
over the triggering event), ``cursor`` and ``limit``.

Events: ``name``, ``from``, ``to``, ``internal`` (``1`` shows the events
Inngest emits itself, hidden otherwise), ``cursor`` and ``limit``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import math
from collections.abc import Callable, Iterable, Mapping

import attrs

from inngest_proto.executor import RunStatus

from ._run_search import (
    MAX_PAGE,
    BadSearch,
    RunSearch,
    compile_query,
    decode_cursor,
    unbase64,
)

__all__ = [
    "EventSearch",
    "encode_event_cursor",
    "event_search",
    "page_limit",
    "run_search",
]

_STATUSES = {status.value: status for status in RunStatus}
#: Longest text a filter may be (a CEL query, a name, an id).
_MAX_TEXT = 2000
_EVENT_CURSOR_PREFIX = "e1."
#: Unix seconds of year 1 and year 9999: times outside are refused.
_EARLIEST, _LATEST = -62135596800.0, 253402300799.0


@attrs.frozen
class EventSearch:
    limit: int = 50
    #: Below this internal id (the previous page's last).
    before: str | None = None
    name: str | None = None
    received_from: float | None = None
    received_until: float | None = None
    hide_internal: bool = True


def page_limit(query: Mapping[str, str], default: int) -> int:
    """``limit``: an integer from 1 to :data:`~._run_search.MAX_PAGE`."""
    text = query.get("limit") or ""
    if not text:
        return default
    if not text.isdigit() or len(text) > 6 or not 1 <= int(text) <= MAX_PAGE:
        msg = f"limit must be an integer from 1 to {MAX_PAGE}"
        raise BadSearch(msg)
    return int(text)


def run_search(
    query: Mapping[str, str],
    *,
    default_limit: int,
    functions_of_app: Callable[[str], Iterable[str] | None],
    now: float,
) -> RunSearch:
    """The :class:`RunSearch` a query string asks for.

    ``functions_of_app``: the function ids of the app with that name,
    ``None`` when no app has it; ``now``: the time a ``query``'s ``now()``
    answers.
    """
    limit = page_limit(query, default_limit)
    cursor = _text(query, "cursor")
    statuses = frozenset(_status(s) for s in _list(query, "status"))
    functions = frozenset(_list(query, "function"))
    app = _text(query, "app")
    nothing = False
    if app is not None:
        of_app = functions_of_app(app)
        if of_app is None:
            raise BadSearch(f"app: no app is named {app!r}")
        app_functions = frozenset(of_app)
        functions = functions & app_functions if functions else app_functions
        nothing = not functions
    text = _text(query, "query")
    return RunSearch(
        limit=limit,
        after=None if cursor is None else decode_cursor(cursor),
        statuses=statuses,
        function_ids=functions,
        created_from=_time(query, "from"),
        created_until=_time(query, "to"),
        event_id=_text(query, "event_id"),
        query=None if text is None else compile_query(text),
        now=now,
        nothing=nothing,
    )


def event_search(query: Mapping[str, str], *, default_limit: int) -> EventSearch:
    """The :class:`EventSearch` a query string asks for."""
    internal = query.get("internal") or ""
    if internal not in ("", "0", "1", "true", "false"):
        raise BadSearch("internal must be 1 (show internal events) or 0")
    cursor = _text(query, "cursor")
    return EventSearch(
        limit=page_limit(query, default_limit),
        before=None if cursor is None else _decode_event_cursor(cursor),
        name=_text(query, "name"),
        received_from=_time(query, "from"),
        received_until=_time(query, "to"),
        hide_internal=internal not in ("1", "true"),
    )


def encode_event_cursor(internal_id: str) -> str:
    """An opaque cursor for the events after ``internal_id``."""
    raw = base64.urlsafe_b64encode(internal_id.encode()).decode().rstrip("=")
    return _EVENT_CURSOR_PREFIX + raw


def _decode_event_cursor(text: str) -> str:
    problem = BadSearch("cursor is not one this server gave out")
    if not text.startswith(_EVENT_CURSOR_PREFIX):
        raise problem
    body = text[len(_EVENT_CURSOR_PREFIX) :]
    try:
        internal_id = unbase64(body).decode()
    except (binascii.Error, ValueError):
        raise problem from None
    if not internal_id or len(internal_id) > 100 or not internal_id.isprintable():
        raise problem
    return internal_id


def _text(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name) or ""
    if len(value) > _MAX_TEXT:
        raise BadSearch(f"{name} is longer than {_MAX_TEXT} characters")
    if "\x00" in value:
        raise BadSearch(f"{name} must not contain NUL characters")
    return value.strip() or None


def _list(query: Mapping[str, str], name: str) -> list[str]:
    text = _text(query, name)
    if text is None:
        return []
    return [part.strip() for part in text.split(",") if part.strip()]


def _status(text: str) -> RunStatus:
    status = _STATUSES.get(text)
    if status is None:
        msg = f"status must be one of {', '.join(_STATUSES)}, not {text!r}"
        raise BadSearch(msg)
    return status


def _time(query: Mapping[str, str], name: str) -> float | None:
    """``name`` as Unix seconds: RFC 3339 (a time without a zone is UTC),
    or Unix milliseconds."""
    text = _text(query, name)
    if text is None:
        return None
    problem = BadSearch(
        f"{name} must be an RFC 3339 time (2025-01-31T12:00:00Z)"
        f" or Unix milliseconds, not {text[:60]!r}"
    )
    if text.lstrip("-").isdigit():
        if len(text) > 16:
            raise problem
        seconds = int(text) / 1000
    else:
        try:
            moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise problem from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        try:
            seconds = moment.timestamp()
        except (OverflowError, OSError, ValueError):
            raise problem from None
    if not math.isfinite(seconds) or not _EARLIEST <= seconds <= _LATEST:
        raise problem
    return seconds
