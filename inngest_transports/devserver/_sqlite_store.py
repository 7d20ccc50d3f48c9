"""Durable storage for the embedded dev server: one SQLite file in WAL mode.

What is stored: the event log (every accepted event, and every event the
executor emitted), the executor's :class:`ExecutorState` laid out per row
(runs, their step memos, timers, run idempotency keys, the id counter), each
run's history for the UI's timeline (``_history.RunHistory``), and
the apps last synced, so a restart can register their functions again.
Queue items live inside each run (``Run.in_flight``) and, when delayed, in
the timers table; there is no separate queue table to keep in step.  How
the state maps onto those rows is in :mod:`._state_rows`.

Durability: ``synchronous=FULL``.  In WAL mode ``NORMAL`` already survives a
SIGKILL (a commit has reached the OS before it returns), but it may lose the
last commits on power loss or an OS crash, and an event we acknowledged with
HTTP 200 must not vanish then; ``FULL`` fsyncs the WAL on every commit.  The
cost is one fsync per commit, which the host keeps low by batching saves.
WAL keeps commits in order, so a crash loses a suffix of transactions, never
one from the middle: the events, the state and the "routed" marks agree.

The contract for the host (the driver):

1. Accepting events (``POST /e``): normalise each event (``id``, ``ts``),
   call :meth:`SQLiteStore.append_events`, and only then answer 200.  The
   rows are committed (fsynced) when it returns; they start "unrouted".
2. Feed each accepted event to ``Executor.receive_event`` in ``seq`` order
   and pass the seqs as ``save(..., routed=seqs)``: the mark and the state it
   led to commit together, so an event is routed exactly once.
3. After every executor input (or a batch of them), call
   :meth:`SQLiteStore.save` with the ``EmitEvent`` events of its actions as
   ``emitted``, BEFORE performing the ``CallSDK`` actions.  A step whose
   reply was saved is then never run again; a call lost in a crash is made
   again (at-least-once, as on the real server).

Group commit: ``append_events`` and ``save`` take ``hold=True`` to leave
their transaction open; the next ``hold`` write joins it, and
:meth:`SQLiteStore.commit` commits them all with one fsync.  The host then
answers the senders, and performs the calls, only after that commit; a
failed write rolls back everything held, so the host must stop then (as
for any failed save).
4. Start-up: ``load()``; re-register the stored ``apps()`` (functions are
   not in the state); :func:`requeue_in_flight` (calls cut off by the crash
   become due retry timers, same attempt); route ``unrouted_events()`` (step
   2); arm a timer for every ``state.timers`` entry; ``save``.

Threads: the store holds one connection and a lock, and every method takes
the lock, so it may be called directly on the event loop (each commit blocks
it for one fsync) or through ``anyio.to_thread.run_sync``.  ``save`` reads
the live state, so while it runs in a worker thread nothing may feed the
executor: hold the executor's lock across the ``await``.  One process per
file: two dev servers on one ``--db`` would overwrite each other's rows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sqlite3
import threading
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from inngest_proto import json_codec
from inngest_proto.executor import (
    MAX_DATA_DEPTH,
    Changes,
    ExecutorState,
    Run,
    RunStatus,
)
from inngest_proto.functions import FunctionConfig
from inngest_proto.wire import structure, unstructure

# ``requeue_in_flight`` is part of the store's contract (step 4 above), so
# it is exported from here too.
from ._run_queries import (
    EVENTS_BY_RECEIVED,
    RUN_INDEXES,
    RUN_SEARCH_TABLES,
    search_runs,
)
from ._run_search import RunPage, RunSearch
from ._state_rows import (
    StateTables,
    dumps,
    load_rows,
    requeue_in_flight,
    run_from_rows,
    trigger_ids,
)

__all__ = [
    "DEFAULT_DB_PATH",
    "SCHEMA_VERSION",
    "SQLiteStore",
    "StoreError",
    "StoredApp",
    "StoredEvent",
    "is_internal_event",
    "page_of",
    "requeue_in_flight",
]

_log = logging.getLogger("inngest.devserver")
# The trigger of a run an invoke started (``linked_runs``).
_INVOKED = "inngest/function.invoked"

#: Bumped on every incompatible change; an older file is migrated on open,
#: a newer one refused (an old binary would misread it).
SCHEMA_VERSION = 5
#: Relative to the working directory, as ``--db`` defaults.
DEFAULT_DB_PATH = os.path.join(".inngest", "dev.db")
MEMORY = ":memory:"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY, internal_id TEXT NOT NULL, name TEXT NOT NULL,
    received_at REAL NOT NULL, routed INTEGER NOT NULL, json TEXT NOT NULL,
    event_id TEXT);
CREATE INDEX events_by_internal_id ON events (internal_id);
CREATE INDEX events_unrouted ON events (seq) WHERE routed = 0;
CREATE TABLE runs (
    seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE,
    function_id TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL,
    ended_at REAL, json TEXT NOT NULL);
CREATE TABLE memos (
    run_id TEXT NOT NULL, pos INTEGER NOT NULL, step_id TEXT NOT NULL,
    json TEXT NOT NULL, PRIMARY KEY (run_id, pos));
CREATE TABLE timers (
    seq INTEGER PRIMARY KEY, timer_id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL, at REAL NOT NULL, json TEXT NOT NULL);
CREATE TABLE seen_keys (key TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE apps (url TEXT PRIMARY KEY, json TEXT NOT NULL);
"""
# Schema 2 added flow control's state: one row per limiter, debounce, batch
# and singleton lock.  Created on open, so a version 1 file gains it.
_FLOW_TABLE = (
    "CREATE TABLE IF NOT EXISTS flow (key TEXT PRIMARY KEY, json TEXT NOT NULL)"
)
# Schema 3 added the event's own ``id`` as a column, to find the event a run
# was started by without reading every event.
_EVENT_ID_INDEX = (
    "CREATE INDEX IF NOT EXISTS events_by_event_id ON events (event_id, seq)"
)
# Schema 4 added each run's history (its steps' names, kinds, attempts and
# times, for its timeline), one JSON row per run.  A run saved before has
# none: its timeline is built from its memos alone, as before.
_HISTORY_TABLE = (
    "CREATE TABLE IF NOT EXISTS history (run_id TEXT PRIMARY KEY, json TEXT NOT NULL)"
)
# Events the executor emits wrap an event's data a few levels deeper (a
# finished run's event holds its trigger and its output); a logged event
# nested deeper than this came from an older version without the ingest
# limit, and is served as a placeholder rather than break its readers.
_LOGGED_DEPTH = MAX_DATA_DEPTH + 10
# Schema 5 added what the UI searches runs and events by: indexes, each
# run's trigger event ids, and the events that resumed waits.
_SEARCH_SCHEMA = (*RUN_SEARCH_TABLES, *RUN_INDEXES)
#: Events in a time window few enough to read by time and sort.
_SORTED_WINDOW = 5000
#: Names of the events Inngest emits itself, hidden from the UI by default.
INTERNAL_EVENT_PREFIX = "inngest/"
_CONFIGS = list[FunctionConfig]

#: Statuses of runs that have not ended (their rows are rewritten).
_NOT_ENDED = frozenset({RunStatus.QUEUED.value, RunStatus.RUNNING.value})
# The same in SQL, spelled out in the queries below (a constant text, not
# formatted in): status IN ('Queued', 'Running').
# Retention deletes the runs that ended longest ago.  Created on open,
# whatever the file's version: an index changes nothing an older version
# reads.
_ENDED_INDEX = (
    "CREATE INDEX IF NOT EXISTS runs_by_end ON runs (ended_at)"
    " WHERE ended_at IS NOT NULL"
)


class StoreError(Exception):
    """The database file cannot be used; the message names the file."""


@attrs.frozen
class StoredEvent:
    #: Position in the log (receipt order).
    seq: int
    #: The id ``POST /e`` answered with (not unique: client retries repeat it).
    internal_id: str
    name: str
    #: Unix seconds.
    received_at: float
    #: The event in wire form, as stored.
    event: dict[str, Any]
    #: Why the stored event cannot be served (then ``event`` is a
    #: placeholder with its name and empty data), else ``None``.
    unreadable: str | None = None


@attrs.frozen
class StoredApp:
    """A synced app as the store keeps it, to serve it again after a restart."""

    functions: list[FunctionConfig]
    name: str = ""
    sdk: str = ""
    framework: str = ""
    #: Why the app's last sync was refused (its functions are the last good
    #: sync's), shown until a sync succeeds.
    error: str | None = None


class SQLiteStore(StateTables):
    """The dev server's database at ``path`` (``":memory:"`` for none).

    Parent directories are created.  Raises :class:`StoreError` for a file
    that is not a dev server database, is corrupt, or has a newer schema.
    """

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_DB_PATH) -> None:
        self._path = MEMORY if path == MEMORY else os.fspath(path)
        self._lock = threading.Lock()
        #: Why writes held for :meth:`commit` were lost, if they were.
        self._held_lost: BaseException | None = None
        # What the file holds, so a save writes only what changed.  Only
        # runs that have not ended: the others never change, and stay out of
        # memory (a soak of many runs must not grow the process).
        self._texts: dict[str, str] = {}  # running run id -> its saved JSON
        self._memo_counts: dict[str, int] = {}
        self._timer_ids: set[str] = set()
        self._counter = 0
        self._flow: dict[str, str] = {}
        self._event_count = 0  # rows in the events table
        if self._path != MEMORY:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        try:
            # Autocommit mode: transactions are the explicit BEGIN/COMMIT
            # below, not the sqlite3 module's implicit ones.  The lock, not
            # the module's thread check, keeps use to one thread at a time.
            self._conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as err:
            raise StoreError(f"cannot open the database {self._path}: {err}") from err
        try:
            with self._guard():
                self._open()
        except BaseException:
            self._conn.close()
            raise

    @property
    def path(self) -> str:
        return self._path

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- opening --------------------------------------------------------------------

    def _open(self) -> None:
        conn = self._conn
        conn.execute("PRAGMA busy_timeout = 5000")
        # Reading the header here is what fails first on a file that is not
        # a database at all.
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute("PRAGMA synchronous = FULL")
        with self._transaction():
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "meta" not in tables:
                if tables:
                    msg = f"{self._path} is not an Inngest dev server database"
                    raise StoreError(msg)
                # Statement by statement: executescript would COMMIT first.
                extra = [_FLOW_TABLE, _EVENT_ID_INDEX, _HISTORY_TABLE, *_SEARCH_SCHEMA]
                for statement in [*_SCHEMA.split(";"), *extra]:
                    if statement.strip():
                        conn.execute(statement)
                conn.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("schema_version", str(SCHEMA_VERSION)), ("counter", "0")],
                )
            version = int(self._meta("schema_version"))
            if version < SCHEMA_VERSION:
                conn.execute(_FLOW_TABLE)
                if version < 3:
                    self._add_event_ids()
                conn.execute(_HISTORY_TABLE)
                if version < 5:
                    self._add_search_tables()
                conn.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                    (str(SCHEMA_VERSION),),
                )
            if version == SCHEMA_VERSION:
                # Added to schema 5 after the first files of it were made.
                conn.execute(EVENTS_BY_RECEIVED)
            if version <= SCHEMA_VERSION:
                conn.execute(_ENDED_INDEX)
        if version > SCHEMA_VERSION:
            msg = (
                f"{self._path} has schema version {version}, newer than the "
                f"{SCHEMA_VERSION} this inngest-sansio understands; upgrade, "
                "or start with another --db"
            )
            raise StoreError(msg)
        self._prime()

    def _add_event_ids(self) -> None:
        """Schema 3: fill the ``event_id`` column from each event's JSON."""
        conn = self._conn
        columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
        if "event_id" not in columns:
            conn.execute("ALTER TABLE events ADD COLUMN event_id TEXT")
        ids = []
        for seq, text in conn.execute("SELECT seq, json FROM events"):
            stored = _stored_event(seq, "", "", 0.0, text)
            event_id = None if stored.unreadable else stored.event.get("id")
            ids.append((None if event_id is None else str(event_id), seq))
        conn.executemany("UPDATE events SET event_id = ? WHERE seq = ?", ids)
        conn.execute(_EVENT_ID_INDEX)

    def _add_search_tables(self) -> None:
        """Schema 5: the search indexes, and ``run_events`` from the runs."""
        conn = self._conn
        for statement in _SEARCH_SCHEMA:
            conn.execute(statement)
        for run_id, text in conn.execute("SELECT run_id, json FROM runs").fetchall():
            try:
                events = json.loads(text).get("events") or []
            except (ValueError, AttributeError):
                continue  # load() reports an unreadable run
            conn.executemany(
                "INSERT OR IGNORE INTO run_events VALUES (?, ?)",
                [(event_id, run_id) for event_id in trigger_ids(events)],
            )

    def _prime(self) -> None:
        """Learn which rows exist, so the first save is incremental too."""
        conn = self._conn
        self._texts = dict(
            conn.execute(
                "SELECT run_id, json FROM runs WHERE status IN ('Queued', 'Running')"
            )
        )
        self._memo_counts = dict(
            conn.execute(
                "SELECT run_id, COUNT(*) FROM memos WHERE run_id IN"
                " (SELECT run_id FROM runs WHERE status IN ('Queued', 'Running'))"
                " GROUP BY run_id"
            )
        )
        self._timer_ids = {r[0] for r in conn.execute("SELECT timer_id FROM timers")}
        self._counter = int(self._meta("counter"))
        self._flow = dict(conn.execute("SELECT key, json FROM flow"))
        self._event_count = int(
            conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        )

    def _meta(self, key: str) -> str:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,))
        found = row.fetchone()
        if found is None:
            raise StoreError(f"{self._path}: the meta table has no {key!r}")
        return str(found[0])

    @contextlib.contextmanager
    def _guard(self) -> Generator[None, None, None]:
        """SQLite's errors as :class:`StoreError`, naming the file."""
        try:
            yield
        except sqlite3.DatabaseError as err:
            msg = f"{self._path} is not a usable dev server database: {err}"
            raise StoreError(msg) from err

    @contextlib.contextmanager
    def _transaction(self, *, hold: bool = False) -> Generator[None, None, None]:
        """One transaction, committed at the end unless ``hold``: then it is
        left open for :meth:`commit`.

        A transaction left open (held writes the driver has not committed
        yet) is joined through a savepoint: if this one fails, only its own
        writes are undone and the held ones still commit with the next
        :meth:`commit`; if it succeeds and is not ``hold``, the held writes
        commit with it, which only stores them sooner.  Should that commit
        fail, the held writes are gone with it, and the next :meth:`commit`
        says so instead of reporting them stored."""
        joined = self._conn.in_transaction
        if joined:
            self._conn.execute("SAVEPOINT joined")
        else:
            # IMMEDIATE takes the write lock up front, so a transaction
            # never fails half-way for want of it.
            self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._undo(joined=joined)
            raise
        if joined:
            self._conn.execute("RELEASE joined")
        if not hold:
            try:
                self._conn.execute("COMMIT")
            except BaseException as err:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                if joined:
                    self._held_lost = err
                raise

    def _undo(self, *, joined: bool) -> None:
        """Roll back a failed transaction: only its savepoint when it joined
        held writes, unless SQLite already rolled back the whole thing (as it
        does on some errors: a full disk, an I/O error)."""
        if not self._conn.in_transaction:
            if joined:
                self._held_lost = StoreError(
                    f"{self._path}: the held writes were rolled back by SQLite"
                )
            return
        if joined:
            self._conn.execute("ROLLBACK TO joined")
            self._conn.execute("RELEASE joined")
        else:
            self._conn.execute("ROLLBACK")

    def commit(self) -> None:
        """Commit the writes made with ``hold=True`` (one fsync for all).

        Raises :class:`StoreError` when they were lost meanwhile: a joined
        transaction's commit or rollback took them (see :meth:`_transaction`)."""
        with self._lock, self._guard():
            lost, self._held_lost = self._held_lost, None
            if lost is not None:
                msg = f"{self._path}: held writes were lost: {lost}"
                raise StoreError(msg) from lost
            if self._conn.in_transaction:
                self._conn.execute("COMMIT")

    # -- events ---------------------------------------------------------------------

    def append_events(
        self,
        events: Sequence[Mapping[str, Any]],
        *,
        received_at: float,
        internal_ids: Sequence[str] | None = None,
        hold: bool = False,
    ) -> list[int]:
        """Log accepted events, unrouted; committed when this returns, or
        with ``hold``, by the next :meth:`commit`.

        Answer the sender only once they are committed.  ``internal_ids``
        default to each event's ``id``.  Returns the events' seqs.
        """
        ids = [str(e["id"]) for e in events] if internal_ids is None else internal_ids
        rows = [_event_row(i, e, received_at) for i, e in zip(ids, events, strict=True)]
        with self._lock, self._guard(), self._transaction(hold=hold):
            return [self._insert_event(row, routed=False) for row in rows]

    def _insert_event(self, row: _EventRow, *, routed: bool) -> int:
        cur = self._conn.execute(
            "INSERT INTO events (internal_id, name, received_at, json, event_id,"
            " routed) VALUES (?, ?, ?, ?, ?, ?)",
            (*row, int(routed)),
        )
        assert cur.lastrowid is not None
        self._event_count += 1
        return cur.lastrowid

    def events(
        self,
        limit: int = 20,
        before: str | None = None,
        *,
        name: str | None = None,
        received_from: float | None = None,
        received_until: float | None = None,
        hide_internal: bool = False,
    ) -> list[StoredEvent]:
        """Newest first, as Inngest lists them: by internal id, descending.

        ``before``: the internal id of the last event already seen (the
        API's cursor).  Copies of one event (a client's retry repeats its
        internal id) are never split across pages: a page ends before them
        unless they would be all of it.  ``received_from``/``received_until``
        bound ``received_at`` (from inclusive, until exclusive);
        ``hide_internal`` leaves out the events Inngest emits itself
        (``inngest/...``).
        """
        # Only the conditions in use, so that a name filter is one range of
        # the events_by_name index.
        where: list[str] = []
        args: list[Any] = []
        if name is not None:
            where.append("name = ?")
            args.append(name)
        if received_from is not None:
            where.append("received_at >= ?")
            args.append(received_from)
        if received_until is not None:
            where.append("received_at < ?")
            args.append(received_until)
        if hide_internal:
            # A range test rather than LIKE, whose case folding and
            # wildcards in the prefix would need escaping.
            where.append("NOT (name >= ? AND name < ?)")
            args += _prefix_range(INTERNAL_EVENT_PREFIX)
        order = "ORDER BY internal_id DESC, seq DESC"
        page_where = " AND ".join([*where, "internal_id < ?"] if before else where)
        page_args = [*args, before] if before else args
        # By name: one range of events_by_name, in order, whatever the time.
        index = "" if name else self._events_index(received_from, received_until)
        rows = self._events(
            f"{index} {'WHERE ' + page_where if page_where else ''} {order} LIMIT ?",
            (*page_args, limit + 1),
        )
        copies = " AND ".join(["internal_id = ?", *where])
        return page_of(
            rows,
            limit,
            lambda last: self._events(f"WHERE {copies} {order}", (last, *args)),
        )

    def _events_index(self, start: float | None, end: float | None) -> str:
        """How to read a page of events received in ``[start, end)``.

        The list's order is the internal id's: reading that index from the
        newest skips every event newer than the window, a long way for an
        old one.  A window of few events is read from ``events_by_received``
        and sorted instead; a wide one (which a reading in order leaves
        soon) in order.  SQLite cannot tell the two apart without
        statistics, so we count, at most :data:`_SORTED_WINDOW` rows.
        """
        if start is None and end is None:
            return ""
        with self._lock, self._guard():
            (count,) = self._conn.execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM events"
                " INDEXED BY events_by_received WHERE received_at >= ?"
                " AND received_at < ? LIMIT ?)",
                (
                    -math.inf if start is None else start,
                    math.inf if end is None else end,
                    _SORTED_WINDOW,
                ),
            ).fetchone()
        if count < _SORTED_WINDOW:
            return "INDEXED BY events_by_received"
        return "INDEXED BY events_by_internal_id"

    def internal_id_for(
        self, event_id: str, received_by: float | None = None
    ) -> str | None:
        """The internal id of the latest event logged with this ``id``
        (received at ``received_by`` or before, if given)."""
        with self._lock, self._guard():
            found = self._conn.execute(
                "SELECT internal_id FROM events WHERE event_id = ?"
                " AND (? IS NULL OR received_at <= ?) ORDER BY seq DESC LIMIT 1",
                (event_id, received_by, received_by),
            ).fetchone()
        return None if found is None else str(found[0])

    def prune_events(self, keep: int) -> int:
        """Delete the oldest events beyond the newest ``keep``; returns how
        many went.  Events not routed yet are kept whatever their age."""
        with self._lock, self._guard():
            excess = self._event_count - keep
            if excess <= 0:
                return 0
            with self._transaction():
                cur = self._conn.execute(
                    "DELETE FROM events WHERE seq IN (SELECT seq FROM events"
                    " WHERE routed = 1 ORDER BY seq LIMIT ?)",
                    (excess,),
                )
                # The waits those events resumed go with them: nothing can
                # show an event's page any more.
                self._conn.execute(
                    "DELETE FROM wait_matches WHERE internal_id NOT IN"
                    " (SELECT internal_id FROM events)"
                )
            self._event_count -= cur.rowcount
            return cur.rowcount

    def event(self, internal_id: str) -> StoredEvent | None:
        """The first event logged with this internal id."""
        found = self._events(
            "WHERE internal_id = ? ORDER BY seq LIMIT 1", (internal_id,)
        )
        return found[0] if found else None

    def unrouted_events(self) -> list[StoredEvent]:
        """Accepted events the executor has not seen yet, oldest first."""
        return self._events("WHERE routed = 0 ORDER BY seq", ())

    def _events(self, sql: str, args: Sequence[Any]) -> list[StoredEvent]:
        with self._lock, self._guard():
            # ``sql`` is always one of the constant tails above.
            select = "SELECT seq, internal_id, name, received_at, json FROM events"
            rows = self._conn.execute(f"{select} {sql}", args).fetchall()
        try:
            return [_stored_event(*row) for row in rows]
        except ValueError as err:
            raise StoreError(f"{self._path}: a logged event is not JSON") from err

    # -- executor state -------------------------------------------------------------

    def save(
        self,
        state: ExecutorState,
        *,
        routed: Iterable[int] = (),
        emitted: Iterable[tuple[str, Mapping[str, Any]]] = (),
        changes: Changes | None = None,
        history: Mapping[str, str] | None = None,
        resumed: Iterable[tuple[str, str, str]] = (),
        hold: bool = False,
    ) -> None:
        """Persist ``state`` in one transaction, writing only what changed.
        With ``hold`` it is committed by the next :meth:`commit`, with the
        writes of other saves and appends held until then.

        ``changes`` (from ``Executor.take_changes``) names the runs, flow
        rows and seen keys that changed; without it every running run is
        compared, which costs a serialization each.

        ``routed``: seqs of logged events the executor has now received.
        ``emitted``: ``(internal id, event)`` of ``EmitEvent`` actions (the
        executor routed them itself), logged received at their ``ts``.
        ``history``: run id -> the JSON text of its history, for the runs
        whose history changed (``RunHistory.take_changes``).
        ``resumed``: ``(internal id, run id, step id)`` of waits events
        resumed, for the UI's event page (:meth:`wait_matches`).
        """
        rows = [_event_row(i, e, float(e["ts"]) / 1000) for i, e in emitted]
        with self._lock, self._guard():
            try:
                with self._transaction(hold=hold):
                    if changes is None:
                        self._write_state(state)
                    else:
                        self._write_changes(state, changes)
                    self._conn.executemany(
                        "UPDATE events SET routed = 1 WHERE seq = ?",
                        [(seq,) for seq in routed],
                    )
                    for row in rows:
                        self._insert_event(row, routed=True)
                    self._conn.executemany(
                        "INSERT OR REPLACE INTO history VALUES (?, ?)",
                        (history or {}).items(),
                    )
                    self._conn.executemany(
                        "INSERT OR IGNORE INTO wait_matches VALUES (?, ?, ?)",
                        list(resumed),
                    )
            except BaseException:
                # The cache was updated as rows were written: make it say
                # what the file holds again.
                self._prime()
                raise

    # -- searching (the web UI) -----------------------------------------------------

    def search_runs(self, search: RunSearch) -> RunPage:
        """A page of runs, newest first, by indexed SQL (see :mod:`._run_queries`)."""
        with self._lock, self._guard():
            try:
                return search_runs(self._conn, search)
            except (ValueError, AttributeError, TypeError) as err:
                msg = f"{self._path}: a stored run is unreadable: {err!r}"
                raise StoreError(msg) from err

    def wait_matches(self, internal_id: str) -> list[tuple[str, str]]:
        """``(run id, step id)`` of the waits the event ``internal_id`` resumed."""
        with self._lock, self._guard():
            rows = self._conn.execute(
                "SELECT run_id, step_id FROM wait_matches WHERE internal_id = ?"
                " ORDER BY run_id, step_id",
                (internal_id,),
            ).fetchall()
        return [(str(run_id), str(step_id)) for run_id, step_id in rows]

    def load(self) -> ExecutorState | None:
        """The saved state, or ``None`` if nothing was ever saved.

        Only runs that have not ended are in it: the others are read one
        by one (:meth:`run`) when asked for.
        """
        with self._lock, self._guard():
            conn = self._conn
            runs = conn.execute(
                "SELECT json FROM runs WHERE status IN ('Queued', 'Running')"
                " ORDER BY seq"
            ).fetchall()
            memos = conn.execute(
                "SELECT run_id, step_id, json FROM memos WHERE run_id IN"
                " (SELECT run_id FROM runs WHERE status IN ('Queued', 'Running'))"
                " ORDER BY run_id, pos"
            ).fetchall()
            timers = conn.execute("SELECT json FROM timers ORDER BY seq").fetchall()
            keys = dict(conn.execute("SELECT key, expires_at FROM seen_keys"))
            counter = int(self._meta("counter"))
            flow = conn.execute("SELECT key, json FROM flow").fetchall()
            any_run = conn.execute("SELECT 1 FROM runs LIMIT 1").fetchone()
        if not (any_run or timers or keys or counter or flow):
            return None
        state = ExecutorState(seen_keys=keys, counter=counter)
        try:
            load_rows(state, runs=runs, memos=memos, timers=timers, flow=flow)
        # Not narrower: JSON and cattrs raise a variety of errors for a damaged
        # row; each is reported as an unreadable store, never a traceback.
        except Exception as err:
            msg = (
                f"{self._path}: a stored run, memo, timer or flow-control row"
                f" is unreadable: {err!r}"
            )
            raise StoreError(msg) from err
        return state

    def history(self) -> list[tuple[str, str]]:
        """``(run id, JSON text)`` of the history of every run that has not
        ended, in the order the runs were created (as ``save`` got them)."""
        with self._lock, self._guard():
            rows = self._conn.execute(
                "SELECT history.run_id, history.json FROM history"
                " JOIN runs USING (run_id) WHERE status IN ('Queued', 'Running')"
                " ORDER BY runs.seq"
            )
            return [(str(run_id), str(text)) for run_id, text in rows]

    def history_of(self, run_id: str) -> str | None:
        """The JSON text of one run's history, if it has one."""
        with self._lock, self._guard():
            found = self._conn.execute(
                "SELECT json FROM history WHERE run_id = ?", (run_id,)
            ).fetchone()
        return None if found is None else str(found[0])

    def run(self, run_id: str) -> Run | None:
        """One stored run, ended or not, with its memos (as it was last
        saved).  Raises :class:`StoreError` for an unreadable row."""
        with self._lock, self._guard():
            conn = self._conn
            found = conn.execute(
                "SELECT json FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if found is None:
                return None
            memos = conn.execute(
                "SELECT step_id, json FROM memos WHERE run_id = ? ORDER BY pos",
                (run_id,),
            ).fetchall()
        try:
            return run_from_rows(found[0], memos)
        except Exception as err:  # JSON and cattrs raise a variety of errors
            msg = f"{self._path}: the stored run {run_id} is unreadable: {err!r}"
            raise StoreError(msg) from err

    def recent_runs(
        self, limit: int, *, status: RunStatus | None = None, function: str = ""
    ) -> list[tuple[str, Run]]:
        """``(run id, run)`` of the latest ``limit`` runs created, newest
        first, of ``status`` and of the function ``function`` if given.
        An unreadable run is left out (and logged)."""
        with self._lock, self._guard():
            rows = self._conn.execute(
                "SELECT run_id FROM runs WHERE (? IS NULL OR status = ?)"
                " AND (? = '' OR function_id = ?) ORDER BY seq DESC LIMIT ?",
                (
                    *[None if status is None else status.value] * 2,
                    *[function] * 2,
                    limit,
                ),
            ).fetchall()
        return self._runs_by_id(str(r[0]) for r in rows)

    def linked_runs(self, run_id: str, created_since: float) -> list[tuple[str, Run]]:
        """``(run id, run)`` of the runs created since ``created_since`` that
        rerun ``run_id`` or that one of its invokes started (their trigger
        is an ``inngest/function.invoked`` whose correlation id starts with
        ``run_id.``), in creation order.  An unreadable run is left out."""
        prefix = run_id + "."
        with self._lock, self._guard():
            rows = self._conn.execute(
                "SELECT run_id FROM runs WHERE created_at >= ? AND"
                " (json_extract(json, '$.rerun_of') = ? OR"
                " (json_extract(json, '$.events[0].name') = ? AND substr(json_extract("
                "json, '$.events[0].data._inngest.correlation_id'), 1, ?) = ?))"
                " ORDER BY seq",
                (created_since, run_id, _INVOKED, len(prefix), prefix),
            ).fetchall()
        return self._runs_by_id(str(r[0]) for r in rows)

    def _runs_by_id(self, run_ids: Iterable[str]) -> list[tuple[str, Run]]:
        found = []
        for run_id in run_ids:
            try:
                run = self.run(run_id)
            except StoreError as err:
                _log.error("%s", err)
                continue
            if run is not None:
                found.append((run_id, run))
        return found

    def runs_of_event(self, internal_id: str) -> list[str]:
        """Ids of the stored runs the logged event ``internal_id`` started,
        in the order they were created.

        A run names its trigger events by their ``id``, which a client's
        retry repeats: a run belongs to the latest event logged with that
        id by the time it was created.
        """
        with self._lock, self._guard():
            conn = self._conn
            logged = conn.execute(
                "SELECT event_id, MIN(received_at) FROM events"
                " WHERE internal_id = ? AND event_id IS NOT NULL",
                (internal_id,),
            ).fetchone()
            if logged is None or logged[0] is None:
                return []
            event_id, received_at = logged
            candidates = conn.execute(
                "SELECT runs.run_id, runs.created_at FROM run_events"
                " JOIN runs USING (run_id) WHERE run_events.event_id = ?"
                " AND runs.created_at >= ? ORDER BY runs.seq",
                (event_id, received_at),
            ).fetchall()
            found = []
            for run_id, created_at in candidates:
                latest = conn.execute(
                    "SELECT internal_id FROM events WHERE event_id = ?"
                    " AND received_at <= ? ORDER BY seq DESC LIMIT 1",
                    (event_id, created_at),
                ).fetchone()
                if latest is not None and latest[0] == internal_id:
                    found.append(str(run_id))
        return found

    def prune_runs(
        self, *, keep: int | None = None, ended_before: float | None = None
    ) -> int:
        """Delete runs that ended, with their memos and history: those that
        ended before ``ended_before`` (Unix seconds), and all but the
        ``keep`` that ended last.  Runs that have not ended are kept
        whatever their age.  Returns how many went."""
        with self._lock, self._guard():
            conn = self._conn
            doomed: list[str] = []
            if ended_before is not None:
                doomed += [
                    str(r[0])
                    for r in conn.execute(
                        "SELECT run_id FROM runs WHERE ended_at IS NOT NULL"
                        " AND ended_at < ?",
                        (ended_before,),
                    )
                ]
            if keep is not None:
                doomed += [
                    str(r[0])
                    for r in conn.execute(
                        "SELECT run_id FROM runs WHERE ended_at IS NOT NULL"
                        " ORDER BY ended_at DESC, seq DESC LIMIT -1 OFFSET ?",
                        (keep,),
                    )
                ]
            doomed = list(dict.fromkeys(doomed))
            if doomed:
                with self._transaction():
                    self._delete_runs(doomed)
            return len(doomed)

    # -- apps -----------------------------------------------------------------------

    def put_app(self, app_url: str, app: StoredApp) -> None:
        """Remember a sync, to register its functions again after a restart."""
        text = dumps(
            {
                "name": app.name,
                "sdk": app.sdk,
                "framework": app.framework,
                "functions": unstructure(app.functions),
                **({} if app.error is None else {"error": app.error}),
            }
        )
        with self._lock, self._guard(), self._transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO apps VALUES (?, ?)", (app_url, text)
            )

    def delete_app(self, app_url: str) -> None:
        with self._lock, self._guard(), self._transaction():
            self._conn.execute("DELETE FROM apps WHERE url = ?", (app_url,))

    def apps(self) -> dict[str, StoredApp]:
        """The synced apps, by URL."""
        with self._lock, self._guard():
            found = self._conn.execute("SELECT url, json FROM apps ORDER BY url")
            rows = found.fetchall()
        try:
            return {url: _stored_app(json.loads(text)) for url, text in rows}
        # Not narrower: JSON and cattrs raise a variety of errors for a
        # damaged row; each is reported as an unreadable store.
        except Exception as err:
            msg = f"{self._path}: a stored app is unreadable: {err!r}"
            raise StoreError(msg) from err


def is_internal_event(name: str) -> bool:
    """Whether ``name`` is one of the events Inngest emits itself."""
    return name.startswith(INTERNAL_EVENT_PREFIX)


def _prefix_range(prefix: str) -> tuple[str, str]:
    """``[low, high)`` holding exactly the strings that start with ``prefix``."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def page_of(
    rows: Sequence[StoredEvent],
    limit: int,
    copies_of: Callable[[str], list[StoredEvent]],
) -> list[StoredEvent]:
    """The page of ``limit`` events from ``rows`` (sorted newest first, at
    least ``limit + 1`` of them when there are more).

    A client's retried request repeats internal ids; the next page starts
    below the cursor's internal id, so copies of one event must not be split
    across pages: the page ends before them, unless they are all of it (then
    it is ``copies_of(that id)``, all of them).
    """
    if len(rows) <= limit or rows[limit].internal_id != rows[limit - 1].internal_id:
        return list(rows[:limit])
    last = rows[limit - 1].internal_id
    kept = [e for e in rows[:limit] if e.internal_id != last]
    return kept or copies_of(last)


_EventRow = tuple[str, str, float, str, "str | None"]


def _event_row(
    internal_id: str, event: Mapping[str, Any], received_at: float
) -> _EventRow:
    event_id = event.get("id")
    return (
        internal_id,
        str(event["name"]),
        received_at,
        dumps(dict(event)),
        None if event_id is None else str(event_id),
    )


def _stored_event(
    seq: int, internal_id: str, name: str, received_at: float, text: str
) -> StoredEvent:
    event: Any = None
    try:
        event = json.loads(text)
        too_deep = json_codec.deeper_than(event, _LOGGED_DEPTH)
    except RecursionError:
        too_deep = True
    if not too_deep:
        return StoredEvent(seq, internal_id, name, received_at, event)
    placeholder = {
        "id": internal_id,
        "name": name,
        "data": {},
        "user": {},
        "ts": int(received_at * 1000),
    }
    reason = f"nested deeper than the {MAX_DATA_DEPTH} levels allowed"
    return StoredEvent(seq, internal_id, name, received_at, placeholder, reason)


def _stored_app(raw: Any) -> StoredApp:
    if isinstance(raw, list):
        # Files written before apps kept their name held just the functions.
        return StoredApp(structure(raw, _CONFIGS))
    return StoredApp(
        structure(raw["functions"], _CONFIGS),
        name=str(raw.get("name", "")),
        sdk=str(raw.get("sdk", "")),
        framework=str(raw.get("framework", "")),
        error=None if raw.get("error") is None else str(raw["error"]),
    )
