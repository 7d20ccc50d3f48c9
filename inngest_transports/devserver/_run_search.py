"""Searching runs for the web UI: filters, keyset cursors and pages.

A :class:`RunSearch` says which runs a page holds; the SQLite store answers it
with indexed SQL (``SQLiteStore.search_runs``), a dev server without a store
with :func:`search_memory_runs` over the executor's runs.  Both list runs
newest first by ``(created_at, run_id)`` and page by keyset: the cursor is the
key of the last run of the page, and the next page starts strictly below it,
so a page never repeats or skips a run however many runs start meanwhile.

The ``query`` filter is a CEL expression over the run's triggering event, as
Inngest's run search has (``event.data.plan == "pro"``).  SQL cannot evaluate
it, so candidates are read in key order and tested one by one, at most
:data:`CEL_SCAN_BUDGET` of them per page: a page may then come back short,
with a cursor to scan on from (``RunPage.scanned_to``), instead of a search
over a huge store taking as long as reading it all.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import itertools
import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from inngest_proto.executor import Run, RunStatus
from inngest_proto.expressions import Expression, ExpressionError, compile_expression

__all__ = [
    "CEL_SCAN_BUDGET",
    "MAX_PAGE",
    "BadSearch",
    "RunKey",
    "RunPage",
    "RunSearch",
    "RunSummary",
    "compile_query",
    "decode_cursor",
    "encode_cursor",
    "page_runs",
    "search_memory_runs",
    "unbase64",
]

#: The most runs (or events) one page may ask for.
MAX_PAGE = 1000
#: Runs a ``query`` search tests per page at most (see the module's doc).
CEL_SCAN_BUDGET = 500

#: A run's place in the list: ``(created_at, run_id)``, newest first.
RunKey = tuple[float, str]

_CURSOR_PREFIX = "r1."


class BadSearch(ValueError):
    """A search the client asked for cannot be made; the message says why."""


@attrs.frozen
class RunSearch:
    """Which runs a page holds (every filter set must hold: AND)."""

    limit: int = 100
    #: Below this key (the previous page's cursor); ``None``: the newest.
    after: RunKey | None = None
    statuses: frozenset[RunStatus] = frozenset()
    #: Composite function ids (``<app>-<fn>``); empty: all functions.  A
    #: filter by app is its functions' ids.
    function_ids: frozenset[str] = frozenset()
    #: ``created_at`` in ``[created_from, created_until)``, Unix seconds.
    created_from: float | None = None
    created_until: float | None = None
    #: The ``id`` of one of the run's trigger events.
    event_id: str | None = None
    #: CEL over the triggering event (``event``), compiled ...
    query: Expression | None = None
    #: ... and the time its ``now()`` answers (Unix seconds).
    now: float | None = None
    #: An app filter that names no function: the page is empty.
    nothing: bool = False


@attrs.frozen
class RunSummary:
    """What a run list shows of a run."""

    run_id: str
    function_id: str
    status: RunStatus
    created_at: float
    ended_at: float | None
    #: The first trigger event, in wire form.
    event: dict[str, Any]
    #: The run this one reran, if any.
    rerun_of: str | None = None

    @property
    def key(self) -> RunKey:
        return (self.created_at, self.run_id)

    @classmethod
    def of(cls, run: Run) -> RunSummary:
        return cls(
            run.run_id,
            run.function_id,
            run.status,
            run.created_at,
            run.ended_at,
            run.event,
            run.rerun_of,
        )


@attrs.frozen
class RunPage:
    runs: list[RunSummary]
    #: The cursor of the next page; ``None`` when there is none.
    next_cursor: RunKey | None
    #: Set when a ``query`` search stopped at its scan budget before the
    #: page was full: more runs may match below ``next_cursor``.
    partial: bool = False


def encode_cursor(key: RunKey) -> str:
    """An opaque cursor for the page after ``key``."""
    raw = json.dumps([key[0], key[1]], separators=(",", ":")).encode()
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> RunKey:
    """The key a cursor of :func:`encode_cursor` holds; :class:`BadSearch` else."""
    problem = BadSearch("cursor is not one this server gave out")
    if not text.startswith(_CURSOR_PREFIX) or len(text) > 200:
        raise problem
    body = text[len(_CURSOR_PREFIX) :]
    try:
        raw = json.loads(unbase64(body))
    except (binascii.Error, ValueError):
        raise problem from None
    if (
        not isinstance(raw, list)
        or len(raw) != 2
        or not isinstance(raw[0], (int, float))
        or isinstance(raw[0], bool)
        or not isinstance(raw[1], str)
        or raw[0] != raw[0]  # NaN
    ):
        raise problem
    return (float(raw[0]), raw[1])


def unbase64(text: str) -> bytes:
    """Unpadded URL-safe base64, strictly: any other character is an error
    (``binascii.Error``), where the lenient decoder would skip it."""
    padded = text + "=" * (-len(text) % 4)
    return base64.b64decode(padded, altchars=b"-_", validate=True)


def compile_query(text: str) -> Expression:
    """A run search's CEL ``query``; :class:`BadSearch` when it does not compile."""
    try:
        return compile_expression(text)
    except (ExpressionError, RecursionError) as err:
        raise BadSearch(f"query is not a valid expression: {err}") from None


def query_matches(
    query: Expression, event: Mapping[str, Any], now: float | None
) -> bool:
    """Whether the run whose trigger is ``event`` passes ``query`` at ``now``."""
    try:
        return query.matches({"event": event}, now=now)
    except (ExpressionError, RecursionError):
        return False  # a stored event CEL cannot read matches nothing


def page_runs(newest_first: Iterable[RunSummary], search: RunSearch) -> RunPage:
    """The page of ``search`` out of ``newest_first``: the runs that pass its
    other filters, in key order, newest first (without a ``query``, its first
    ``limit + 1`` are enough)."""
    if search.query is None:
        top = list(itertools.islice(newest_first, search.limit + 1))
        page = top[: search.limit]
        more = len(top) > search.limit
        return RunPage(page, page[-1].key if more else None)
    found: list[RunSummary] = []
    last: RunSummary | None = None
    for scanned, summary in enumerate(newest_first):
        if last is not None and (
            len(found) == search.limit or scanned == CEL_SCAN_BUDGET
        ):
            # ``summary`` is one more candidate: the next page starts after
            # the last one tested.
            return RunPage(found, last.key, len(found) < search.limit)
        last = summary
        if query_matches(search.query, summary.event, search.now):
            found.append(summary)
    return RunPage(found, None)


def search_memory_runs(runs: Iterable[Run], search: RunSearch) -> RunPage:
    """Answer ``search`` from runs in memory (a dev server without a store)."""
    if search.nothing:
        return RunPage([], None)
    candidates = (RunSummary.of(run) for run in runs if _passes(run, search))
    if search.query is None:
        return page_runs(heapq.nlargest(search.limit + 1, candidates, key=_key), search)
    return page_runs(sorted(candidates, key=_key, reverse=True), search)


def _key(summary: RunSummary) -> RunKey:
    return summary.key


def _passes(run: Run, search: RunSearch) -> bool:
    if search.after is not None and (run.created_at, run.run_id) >= search.after:
        return False
    if search.statuses and run.status not in search.statuses:
        return False
    if search.function_ids and run.function_id not in search.function_ids:
        return False
    if search.created_from is not None and run.created_at < search.created_from:
        return False
    if search.created_until is not None and run.created_at >= search.created_until:
        return False
    if search.event_id is not None:
        return any(str(e.get("id")) == search.event_id for e in run.events)
    return True
