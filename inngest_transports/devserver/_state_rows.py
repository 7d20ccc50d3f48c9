"""How the executor's state is laid out in the store's tables, and read back.

:class:`StateTables` (mixed into :class:`~._sqlite_store.SQLiteStore`) writes an
:class:`ExecutorState` as rows (runs, their memos, timers, seen keys, the id
counter, flow control) and keeps its cache of what the file holds in step,
so a save writes only what changed.  :func:`load_rows` is the way back,
and :func:`requeue_in_flight` mends what a crash left in a loaded state.

Apart from :mod:`._sqlite_store` because this is the state's side of the store:
how the rows mirror an ``ExecutorState``.  The store around it keeps the
file: opening and migrating it, the lock and the transactions (``save``
calls these writes inside both), the event log and the synced apps.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from inngest_proto.executor import (
    Batched,
    Changes,
    Debounced,
    ExecutorState,
    Run,
    Timer,
    TimerKind,
)
from inngest_proto.wire import structure, unstructure

__all__ = [
    "StateTables",
    "dumps",
    "load_rows",
    "requeue_in_flight",
    "run_from_rows",
    "trigger_ids",
]

_COMPACT = (",", ":")


def dumps(value: Any) -> str:
    """A value as a row's ``json`` column: compact JSON."""
    return json.dumps(value, separators=_COMPACT)


class StateTables:
    """Writing the executor's state, incrementally (mixed into the store)."""

    _conn: sqlite3.Connection
    # What the file holds of the runs that have not ended (see
    # ``SQLiteStore.__init__``); every write keeps these in step with the
    # rows it writes.  A run that ended is written once more and forgotten:
    # its rows never change, and the host drops it from the state.
    _texts: dict[str, str]
    _memo_counts: dict[str, int]
    _timer_ids: set[str]
    _counter: int
    _flow: dict[str, str]

    def _write_changes(self, state: ExecutorState, changes: Changes) -> None:
        conn = self._conn
        # Run ids are ULIDs: sorted, new runs get rows in creation order,
        # the order they load (and waits are matched) in.
        for run_id in sorted(changes.runs):
            run = state.runs.get(run_id)
            if run is not None:
                self._write_run(run)
        self._write_timers(state)
        keys = state.seen_keys
        for key in changes.seen_keys:
            if key in keys:
                conn.execute(
                    "INSERT OR REPLACE INTO seen_keys VALUES (?, ?)", (key, keys[key])
                )
            else:  # expired and dropped
                conn.execute("DELETE FROM seen_keys WHERE key = ?", (key,))
        self._write_counter(state)
        for key in changes.flow:
            text = _flow_row(state, key)
            if text is None:
                if self._flow.pop(key, None) is not None:
                    conn.execute("DELETE FROM flow WHERE key = ?", (key,))
            elif self._flow.get(key) != text:
                conn.execute("INSERT OR REPLACE INTO flow VALUES (?, ?)", (key, text))
                self._flow[key] = text

    def _write_state(self, state: ExecutorState) -> None:
        conn = self._conn
        for run in state.runs.values():
            self._write_run(run)
        # Runs that ended stay in the file when the host drops them from
        # the state (retention deletes them: ``_delete_runs``); a running
        # run missing from the state is gone.
        self._delete_runs([r for r in self._texts if r not in state.runs])
        self._write_timers(state)
        keys = state.seen_keys
        # Compared with the table, not a copy kept in memory: there is a key
        # per run of the last 24 hours, and the state has them already.
        stored = dict(conn.execute("SELECT key, expires_at FROM seen_keys"))
        changed = [(k, v) for k, v in keys.items() if stored.get(k) != v]
        conn.executemany("INSERT OR REPLACE INTO seen_keys VALUES (?, ?)", changed)
        old_keys = [(k,) for k in stored if k not in keys]
        conn.executemany("DELETE FROM seen_keys WHERE key = ?", old_keys)
        self._write_counter(state)
        flow = _flow_rows(state)
        changed_flow = [(k, t) for k, t in flow.items() if self._flow.get(k) != t]
        conn.executemany("INSERT OR REPLACE INTO flow VALUES (?, ?)", changed_flow)
        old_flow = [(k,) for k in self._flow if k not in flow]
        conn.executemany("DELETE FROM flow WHERE key = ?", old_flow)
        self._flow = flow

    def _delete_runs(self, run_ids: Sequence[str]) -> None:
        """Delete runs and everything kept with them."""
        gone = [(run_id,) for run_id in run_ids]
        conn = self._conn
        conn.executemany("DELETE FROM runs WHERE run_id = ?", gone)
        conn.executemany("DELETE FROM memos WHERE run_id = ?", gone)
        conn.executemany("DELETE FROM history WHERE run_id = ?", gone)
        conn.executemany("DELETE FROM run_events WHERE run_id = ?", gone)
        conn.executemany("DELETE FROM wait_matches WHERE run_id = ?", gone)
        for run_id in run_ids:
            self._texts.pop(run_id, None)
            self._memo_counts.pop(run_id, None)

    def _write_timers(self, state: ExecutorState) -> None:
        conn = self._conn
        # Timers are never changed once set, only set and dropped.
        new_timers = [t for i, t in state.timers.items() if i not in self._timer_ids]
        conn.executemany(
            "INSERT INTO timers (timer_id, run_id, at, json) VALUES (?, ?, ?, ?)",
            [(t.timer_id, t.run_id, t.at, dumps(unstructure(t))) for t in new_timers],
        )
        old_timers = [(i,) for i in self._timer_ids if i not in state.timers]
        conn.executemany("DELETE FROM timers WHERE timer_id = ?", old_timers)
        self._timer_ids = set(state.timers)

    def _write_counter(self, state: ExecutorState) -> None:
        if state.counter != self._counter:
            self._conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'counter'", (str(state.counter),)
            )
            self._counter = state.counter

    def _write_run(self, run: Run) -> None:
        run_id = run.run_id
        # Memos are kept out of the run's row: they are append-only and can
        # be large, so each save inserts only the new ones.
        # Taken out for the moment it is written, not copied without them
        # (attrs.evolve checks every field again): nothing runs meanwhile.
        steps, run.steps = run.steps, {}
        try:
            text = dumps(unstructure(run))
        finally:
            run.steps = steps
        if run_id not in self._texts:  # a new row: index its trigger events
            self._conn.executemany(
                "INSERT OR IGNORE INTO run_events VALUES (?, ?)",
                [(event_id, run_id) for event_id in trigger_ids(run.events)],
            )
        if self._texts.get(run_id) != text:
            status, times = run.status.value, (run.created_at, run.ended_at)
            # An upsert, not REPLACE: the run keeps its seq, so runs load in
            # the order they were created (the order waits are matched in).
            self._conn.execute(
                "INSERT INTO runs (run_id, function_id, status, created_at,"
                " ended_at, json) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id)"
                " DO UPDATE SET status = excluded.status,"
                " ended_at = excluded.ended_at, json = excluded.json",
                (run_id, run.function_id, status, *times, text),
            )
        saved = self._memo_counts.get(run_id, 0)
        if len(run.steps) < saved:  # not the executor's doing: rewrite them
            self._conn.execute("DELETE FROM memos WHERE run_id = ?", (run_id,))
            saved = 0
        fresh = itertools.islice(run.steps.items(), saved, None)
        # REPLACE: a run that ended is not counted any more, so writing it
        # again (a full save) writes its memos again, over the same rows.
        self._conn.executemany(
            "INSERT OR REPLACE INTO memos VALUES (?, ?, ?, ?)",
            [(run_id, p, i, dumps(m)) for p, (i, m) in enumerate(fresh, saved)],
        )
        if run.is_running:
            self._texts[run_id] = text
            self._memo_counts[run_id] = len(run.steps)
        else:
            self._texts.pop(run_id, None)
            self._memo_counts.pop(run_id, None)


def trigger_ids(events: Iterable[Any]) -> list[str]:
    """The distinct ``id``s of a run's trigger events, for ``run_events``."""
    ids = (e.get("id") for e in events if isinstance(e, dict))
    return list(dict.fromkeys(str(i) for i in ids if i is not None))


def _flow_row(state: ExecutorState, key: str) -> str | None:
    """The row ``key`` (``kind:bucket``) should hold, ``None`` if none."""
    kind, _, bucket = key.partition(":")
    if kind == "limiter" and bucket in state.limiters:
        return repr(state.limiters[bucket])
    if kind == "debounce" and bucket in state.debounces:
        return dumps(unstructure(state.debounces[bucket]))
    if kind == "batch" and bucket in state.batches:
        return dumps(unstructure(state.batches[bucket]))
    if kind == "singleton" and bucket in state.singletons:
        return dumps(state.singletons[bucket])
    return None


def _flow_rows(state: ExecutorState) -> dict[str, str]:
    """Flow control's state as rows: ``kind:bucket`` -> JSON (each as
    :func:`_flow_row` renders it)."""
    # ``inputs`` is not kept: the executor restores it from its runs.
    keys = [
        *(f"limiter:{bucket}" for bucket in state.limiters),
        *(f"debounce:{bucket}" for bucket in state.debounces),
        *(f"batch:{bucket}" for bucket in state.batches),
        *(f"singleton:{bucket}" for bucket in state.singletons),
    ]
    rows = {key: _flow_row(state, key) for key in keys}
    return {key: text for key, text in rows.items() if text is not None}


def _load_flow(state: ExecutorState, rows: Iterable[tuple[str, str]]) -> None:
    for key, text in rows:
        kind, _, bucket = key.partition(":")
        value = json.loads(text)
        if kind == "limiter":
            state.limiters[bucket] = float(value)
        elif kind == "debounce":
            state.debounces[bucket] = structure(value, Debounced)
        elif kind == "batch":
            state.batches[bucket] = structure(value, Batched)
        elif kind == "singleton":
            state.singletons[bucket] = str(value)


def load_rows(
    state: ExecutorState,
    *,
    runs: Sequence[tuple[str]],
    memos: Sequence[tuple[str, str, str]],
    timers: Sequence[tuple[str]],
    flow: Iterable[tuple[str, str]],
) -> None:
    """Fill ``state`` from the ``json`` of its rows, each table in load order.

    Raises whatever JSON and cattrs raise for an unreadable row.
    """
    _load_flow(state, flow)
    steps: dict[str, list[tuple[str, str]]] = {}
    for run_id, step_id, text in memos:
        steps.setdefault(run_id, []).append((step_id, text))
    for (text,) in runs:
        raw = json.loads(text)
        run = _run(raw, steps.get(raw["run_id"], []))
        state.runs[run.run_id] = run
    for (text,) in timers:
        timer = structure(json.loads(text), Timer)
        state.timers[timer.timer_id] = timer


def run_from_rows(text: str, memos: Iterable[tuple[str, str]]) -> Run:
    """A run from its row's ``json`` and its ``(step id, json)`` memo rows,
    in order.  Raises whatever JSON and cattrs raise for an unreadable row."""
    return _run(json.loads(text), memos)


def _run(raw: dict[str, Any], memos: Iterable[tuple[str, str]]) -> Run:
    raw["steps"] = {step_id: json.loads(text) for step_id, text in memos}
    return structure(raw, Run)


def requeue_in_flight(state: ExecutorState, now: float) -> list[str]:
    """Turn calls a crash cut off into retry timers due at ``now``.

    A loaded state still lists the calls that were in flight when the
    process died; no reply will ever come for them.  Each becomes a retry
    timer carrying the same queue item with the same attempt (a crash is not
    the function's failure), which the executor dispatches as a new call when
    the host fires it.  Returns the new timer ids.  Call once, after ``load``
    and before an ``Executor`` is built on the state: the executor counts
    the concurrency slots in use when it is built.
    """
    added = []
    for run in state.runs.values():
        if not run.is_running:
            continue
        # Request ids are unique ULIDs, so these ids cannot clash.
        cut_off = [(f"recover-{rid}", job) for rid, job in run.in_flight.items()]
        # Calls that waited for a concurrency slot wait again once fired:
        # the slots they waited for were held by calls that are gone.
        cut_off += [(f"recover-{run.run_id}-{job.job_id}", job) for job in run.queued]
        for timer_id, job in cut_off:
            state.timers[timer_id] = Timer(
                timer_id=timer_id,
                run_id=run.run_id,
                kind=TimerKind.RETRY,
                at=now,
                job=job,
            )
            run.timer_ids.append(timer_id)
            added.append(timer_id)
        run.in_flight.clear()
        run.queued.clear()
    return added
