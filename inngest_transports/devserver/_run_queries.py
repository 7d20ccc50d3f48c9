"""How the SQLite store answers a :class:`~._run_search.RunSearch` in SQL.

Every filter but the CEL ``query`` is a SQL condition, and the order is the
keyset ``(created_at, run_id)`` descending, so each page is one indexed range
scan whatever the number of runs: :data:`RUN_INDEXES` cover the list alone,
by status, by function, and by function and status (the UI's filters); a
run's trigger event ids are in their own table, ``run_events``.  Rows are
read ``limit + 1`` at a time (the extra one says whether a next page exists);
with a ``query``, in chunks, testing each run's trigger event in Python up to
the scan budget.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from inngest_proto.executor import RunStatus

from ._run_search import RunKey, RunPage, RunSearch, RunSummary, page_runs

__all__ = ["EVENTS_BY_RECEIVED", "RUN_INDEXES", "RUN_SEARCH_TABLES", "search_runs"]

#: Events by the time they came, for a search in a window of time.
EVENTS_BY_RECEIVED = (
    "CREATE INDEX IF NOT EXISTS events_by_received ON events (received_at)"
)
#: Tables and indexes of schema 5 (run search), created on open.
RUN_SEARCH_TABLES = (
    "CREATE TABLE IF NOT EXISTS run_events (event_id TEXT NOT NULL,"
    " run_id TEXT NOT NULL, PRIMARY KEY (event_id, run_id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS run_events_by_run ON run_events (run_id)",
    # The internal id of each event that resumed a wait, and the wait.
    "CREATE TABLE IF NOT EXISTS wait_matches (internal_id TEXT NOT NULL,"
    " run_id TEXT NOT NULL, step_id TEXT NOT NULL,"
    " PRIMARY KEY (internal_id, run_id, step_id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS events_by_name ON events (name, internal_id)",
    EVENTS_BY_RECEIVED,
)
RUN_INDEXES = (
    "CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created_at, run_id)",
    "CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, created_at, run_id)",
    "CREATE INDEX IF NOT EXISTS runs_by_function ON runs"
    " (function_id, created_at, run_id)",
    "CREATE INDEX IF NOT EXISTS runs_by_function_status ON runs"
    " (function_id, status, created_at, run_id)",
)
_STATUSES = {status.value: status for status in RunStatus}
#: Rows read per statement while a ``query`` search scans.
_SCAN_CHUNK = 500
_COLUMNS = "run_id, function_id, status, created_at, ended_at, json"


def search_runs(conn: sqlite3.Connection, search: RunSearch) -> RunPage:
    """One page of runs for ``search``; the caller holds the store's lock."""
    if search.nothing:
        return RunPage([], None)
    rows: Iterable[tuple[Any, ...]] = (
        _select(conn, search, search.after, search.limit + 1)
        if search.query is None
        else _scan(conn, search)
    )
    return page_runs(map(_summary, rows), search)


def _scan(conn: sqlite3.Connection, search: RunSearch) -> Iterator[tuple[Any, ...]]:
    after = search.after
    while True:
        rows = _select(conn, search, after, _SCAN_CHUNK)
        yield from rows
        if len(rows) < _SCAN_CHUNK:
            return
        after = (rows[-1][3], rows[-1][0])


def _select(
    conn: sqlite3.Connection, search: RunSearch, after: RunKey | None, limit: int
) -> list[tuple[Any, ...]]:
    where: list[str] = []
    args: list[Any] = []
    if after is not None:
        where.append("(created_at, run_id) < (?, ?)")
        args += after
    if search.statuses:
        where.append(f"status IN ({', '.join('?' * len(search.statuses))})")
        args += sorted(status.value for status in search.statuses)
    if search.function_ids:
        where.append(f"function_id IN ({', '.join('?' * len(search.function_ids))})")
        args += sorted(search.function_ids)
    if search.created_from is not None:
        where.append("created_at >= ?")
        args.append(search.created_from)
    if search.created_until is not None:
        where.append("created_at < ?")
        args.append(search.created_until)
    if search.event_id is not None:
        where.append("run_id IN (SELECT run_id FROM run_events WHERE event_id = ?)")
        args.append(search.event_id)
    condition = f"WHERE {' AND '.join(where)}" if where else ""
    # Every fragment above is a constant; the values are all parameters.
    sql = (
        f"SELECT {_COLUMNS} FROM runs {condition}"  # noqa: S608
        " ORDER BY created_at DESC, run_id DESC LIMIT ?"
    )
    return conn.execute(sql, (*args, limit)).fetchall()


def _summary(row: tuple[Any, ...]) -> RunSummary:
    run_id, function_id, status, created_at, ended_at, text = row
    raw = json.loads(text)
    events = raw.get("events") or [{}]
    rerun_of = raw.get("rerun_of")
    return RunSummary(
        run_id,
        function_id,
        _STATUSES.get(status, RunStatus.RUNNING),
        created_at,
        ended_at,
        events[0] if isinstance(events[0], dict) else {},
        rerun_of if isinstance(rerun_of, str) else None,
    )
