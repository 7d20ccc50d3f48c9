"""The dev server's SQLite store: round trips, schema checks, and crashes.

The crash tests drive the executor with our real SDK (the executor tests'
harness), saving after every input as the driver does, stop mid-run with a
call in flight, a run asleep and an accepted event not yet routed, then
finish from the file alone: every run completes, every event is routed, and
no step whose result was saved runs again.
"""

from __future__ import annotations

import collections
import datetime
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import inngest_proto as inngest
from inngest_proto.executor import (
    Action,
    Batched,
    CallSDK,
    Debounced,
    EmitEvent,
    ExecutorState,
    RunStatus,
)
from inngest_proto.functions import hash_step_id
from inngest_transports.devserver._sqlite_store import (
    SCHEMA_VERSION,
    SQLiteStore,
    StoredApp,
    StoredEvent,
    StoreError,
    requeue_in_flight,
)
from tests.inngest_proto.executor._harness import APP_ID, START, Harness

ROOT = Path(__file__).resolve().parents[2]
CHILD = (
    "import sys; from tests.inngest_transports.test_store import crash_child; "
    "crash_child(*sys.argv[1:])"
)


def assert_saved(store: SQLiteStore, state: ExecutorState) -> None:
    """The store holds ``state``: the runs that have not ended load with
    the rest of it, and each run that ended is stored as it is."""
    loaded = store.load() or ExecutorState()
    running = {run_id: r for run_id, r in state.runs.items() if r.is_running}
    assert loaded == attrs.evolve(state, runs=running)
    assert list(loaded.runs) == list(running)  # in creation order
    for run_id, run in state.runs.items():
        if not run.is_running:
            assert store.run(run_id) == run


class Durable(Harness):
    """The harness, saving as the driver must: after every input, before
    its calls are made, with the events it emitted and the events it routed."""

    def __init__(
        self, store: SQLiteStore, *, verify: bool = False, **options: Any
    ) -> None:
        super().__init__(**options)
        self.store = store
        self._routed: list[int] = []
        #: Load the file after every save and compare it with the executor.
        self.verify = verify

    def apply(self, actions: Iterable[Action]) -> None:
        actions = list(actions)
        super().apply(actions)
        emitted = [
            (a.event["id"], a.event) for a in actions if isinstance(a, EmitEvent)
        ]
        # Incremental, as the driver saves: only what the input changed.
        changes = self.executor.take_changes()
        self.store.save(
            self.executor.state, routed=self._routed, emitted=emitted, changes=changes
        )
        self._routed = []
        if self.verify:
            assert_saved(SQLiteStore(self.store.path), self.executor.state)

    def accept(self, name: str, event_id: str) -> list[StoredEvent]:
        """``POST /e``: log the event (the reply would go now), then route it."""
        event = {"name": name, "data": {}, "id": event_id, "ts": int(self.now * 1000)}
        self.store.append_events([event], received_at=self.now)
        return self.store.unrouted_events()

    def route(self, stored: Iterable[StoredEvent]) -> None:
        for item in stored:
            self._routed = [item.seq]
            self.apply(self.executor.receive_event(item.event, self.now))


def build(h: Durable, record: Callable[[str], None]) -> None:
    """Three functions: steps a-b-c-d with a nap, a long sleeper, and one
    the late event triggers.  ``record`` counts each step body that runs."""

    def step(name: str) -> str:
        record(name)
        return name

    @h.client.create_function(fn_id="abc", trigger=inngest.TriggerEvent(event="t/go"))
    def abc(ctx: inngest.ContextSync) -> list[str]:
        done = [ctx.step.run(n, step, n) for n in "abc"]
        ctx.step.sleep("nap", 1000)
        return [*done, ctx.step.run("d", step, "d")]

    @h.client.create_function(
        fn_id="sleeper", trigger=inngest.TriggerEvent(event="t/go")
    )
    def sleeper(ctx: inngest.ContextSync) -> str:
        ctx.step.run("s1", step, "s1")
        ctx.step.sleep("long", 3_600_000)
        return ctx.step.run("s2", step, "s2")

    @h.client.create_function(
        fn_id="late", trigger=inngest.TriggerEvent(event="t/late")
    )
    def late(ctx: inngest.ContextSync) -> str:
        return ctx.step.run("l", step, "l")

    h.serve(abc, sleeper, late)


def at_crash_point(h: Harness, call: CallSDK) -> bool:
    """The call that would run step c: a and b are saved, s1 too, and the
    sleeper is asleep."""
    return hash_step_id("b") in h.executor.state.runs[call.run_id].steps


def first_half(store: SQLiteStore, record: Callable[[str], None]) -> Durable:
    h = Durable(store)
    build(h, record)
    h.route(h.accept("t/go", "go-1"))
    return h


class Crash(Exception):
    pass


def crash_child(db: str, log: str) -> None:
    """Run in a subprocess: drive to the crash point, then wait to be killed."""

    def record(name: str) -> None:
        with open(log, "a") as f:
            f.write(name + "\n")

    h = first_half(SQLiteStore(db), record)

    def stop(call: CallSDK) -> None:
        if at_crash_point(h, call):
            h.accept("t/late", "late-1")  # acknowledged, never routed
            print("READY", flush=True)
            signal.pause()  # until the parent's SIGKILL

    h.intercept = stop
    h.drain()


def second_half(db: str | Path, record: Callable[[str], None]) -> Durable:
    """A fresh process's start-up: load, register, requeue, route, arm, run."""
    store = SQLiteStore(db)
    state = store.load()
    assert state is not None
    # As the driver starts: requeue before the executor indexes the state.
    assert requeue_in_flight(state, START)  # the call for step c was cut off
    h = Durable(store, state=state)
    build(h, record)
    h.route(store.unrouted_events())
    h.timers = {t.timer_id: t.at for t in state.timers.values()}
    h.run()
    return h


@pytest.fixture(autouse=True)
def close_stores_at_teardown(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every store a test opened, once its checks are done.

    Some tests leave a store open on purpose (a crash closes nothing);
    Python 3.13 warns about connections still open when collected.
    """
    opened: list[SQLiteStore] = []
    original = SQLiteStore.__init__

    def tracking_init(self: SQLiteStore, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(SQLiteStore, "__init__", tracking_init)
    yield
    for store in opened:
        store.close()


def check_finished(h: Durable, counts: collections.Counter[str]) -> None:
    assert counts == dict.fromkeys(["a", "b", "c", "d", "s1", "s2", "l"], 1)
    runs = {r.function_id: r for r in h.executor.state.runs.values()}
    assert {f: r.status for f, r in runs.items()} == {
        f"{APP_ID}-{f}": RunStatus.COMPLETED for f in ["abc", "sleeper", "late"]
    }
    assert runs[f"{APP_ID}-abc"].output == ["a", "b", "c", "d"]
    assert h.store.unrouted_events() == []
    names = [e.name for e in h.store.events(100)]
    assert names.count("t/go") == names.count("t/late") == 1
    assert names.count("inngest/function.finished") == 3
    # What was saved is what the executor holds.
    assert_saved(SQLiteStore(h.store.path), h.executor.state)


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_a_run_resumes_after_the_process_is_killed(tmp_path: Path) -> None:
    db, log = tmp_path / "dev.db", tmp_path / "steps.log"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(log)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == "READY\n", child.stderr.read() if child.stderr else ""
    finally:
        child.kill()  # SIGKILL: no close, no atexit, no flush
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert log.read_text().split() == ["a", "s1", "b"]
    counts = collections.Counter(log.read_text().split())
    h = second_half(db, lambda name: counts.update([name]))
    check_finished(h, counts)


def test_a_run_resumes_from_an_abandoned_store(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    counts: collections.Counter[str] = collections.Counter()
    h = first_half(SQLiteStore(db), lambda name: counts.update([name]))

    def stop(call: CallSDK) -> None:
        if at_crash_point(h, call):
            h.accept("t/late", "late-1")
            raise Crash

    h.intercept = stop
    with pytest.raises(Crash):
        h.drain()
    # ``h`` and its store are left as they are: open, never closed.
    assert counts == {"a": 1, "b": 1, "s1": 1}
    check_finished(second_half(db, lambda name: counts.update([name])), counts)


# -- round trips --------------------------------------------------------------------


def test_the_event_log_pages_newest_first(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "dev.db")
    events = [{"name": f"t/{i % 2}", "id": f"e{i}", "data": {"i": i}} for i in range(5)]
    seqs = store.append_events(events, received_at=START)
    # A client's retry repeats internal ids; the log keeps both copies.
    again = store.append_events(events[:1], received_at=START + 1)
    assert [e.event["data"]["i"] for e in store.events(3)] == [4, 3, 2]
    assert [e.internal_id for e in store.events(3, before="e2")] == ["e1", "e0", "e0"]
    # A page never ends between two copies of one event: the cursor would
    # skip the second.
    assert [e.internal_id for e in store.events(2, before="e2")] == ["e1"]
    copies = store.events(1, before="e1")
    assert [(e.internal_id, e.seq) for e in copies] == [("e0", *again), ("e0", seqs[0])]
    assert [e.seq for e in store.events(10, name="t/1")] == [seqs[3], seqs[1]]
    first = store.event("e0")
    assert first == StoredEvent(seqs[0], "e0", "t/0", START, events[0])
    assert store.event("nope") is None
    assert store.internal_id_for("e3") == "e3"
    assert store.internal_id_for("e3", received_by=START - 1) is None
    assert [e.seq for e in store.unrouted_events()] == [*seqs, *again]
    finished = {"name": "inngest/function.finished", "id": "f1", "ts": 1000, "data": {}}
    store.save(ExecutorState(), routed=seqs[:4], emitted=[("F1", finished)])
    assert [e.seq for e in store.unrouted_events()] == [seqs[4], *again]
    (logged,) = store.events(1, name="inngest/function.finished")
    assert (logged.internal_id, logged.received_at) == ("F1", 1.0)
    assert store.internal_id_for("f1") == "F1"
    store.close()
    with SQLiteStore(tmp_path / "dev.db") as reopened:
        assert len(reopened.events(100)) == 7
        # Only routed events go, oldest first.
        assert reopened.prune_events(3) == 4
        assert [e.internal_id for e in reopened.events(100)] == ["e4", "e0", "F1"]
        assert reopened.prune_events(3) == 0


def as_schema(path: Path, version: int, *statements: str) -> None:
    """Make the store file at ``path`` one of schema ``version``: run
    ``statements`` (undoing what later versions added), then say so."""
    conn = sqlite3.connect(path)
    with conn:
        for statement in statements:
            conn.execute(statement)
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),)
        )
    conn.close()


def test_a_version_2_file_gains_the_event_id_column(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "dev.db") as store:
        store.append_events([{"name": "t/a", "id": "a", "data": {}}], received_at=1)
        store.append_events(
            [{"name": "t/b", "data": {}}], received_at=2, internal_ids=["B"]
        )
    as_schema(
        tmp_path / "dev.db",
        2,
        "DROP INDEX events_by_event_id",
        "ALTER TABLE events DROP COLUMN event_id",
    )
    with SQLiteStore(tmp_path / "dev.db") as store:
        assert store.internal_id_for("a") == "a"
        assert store.internal_id_for("B") is None  # it had no id of its own


def test_run_history_is_saved_with_the_state_and_goes_with_its_run(
    tmp_path: Path,
) -> None:
    h = mid_run(SQLiteStore(tmp_path / "dev.db"))
    first, second = list(h.executor.state.runs)[:2]
    # Saved in the order given; listed in the order the runs were created.
    h.store.save(h.executor.state, history={second: '{"n":2}', first: '{"n":1}'})
    h.store.save(h.executor.state, history={second: '{"n":3}'})
    with SQLiteStore(tmp_path / "dev.db") as reopened:
        assert reopened.history() == [(first, '{"n":1}'), (second, '{"n":3}')]
    # A full save drops the rows of runs the state no longer has.
    del h.executor.state.runs[first]
    h.store.save(h.executor.state)
    assert h.store.history() == [(second, '{"n":3}')]


def test_a_version_3_file_gains_the_history_table(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "dev.db").close()
    as_schema(tmp_path / "dev.db", 3, "DROP TABLE history")
    with SQLiteStore(tmp_path / "dev.db") as store:
        assert store.history() == []
        store.save(ExecutorState(), history={"R1": "{}"})
    conn = sqlite3.connect(tmp_path / "dev.db")
    with conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        assert version.fetchone() == (str(SCHEMA_VERSION),)
        assert conn.execute("SELECT * FROM history").fetchall() == [("R1", "{}")]
    conn.close()


def mid_run(store: SQLiteStore) -> Durable:
    counts: collections.Counter[str] = collections.Counter()
    h = first_half(store, lambda name: counts.update([name]))
    h.drain()  # abc naps, sleeper sleeps
    return h


def test_state_round_trips(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "dev.db")
    assert store.load() is None
    h = mid_run(store)
    state = h.executor.state
    assert state.timers
    assert any(r.steps for r in state.runs.values())
    assert_saved(store, state)
    # Runs load in creation order (the order waits are matched in).
    assert_saved(SQLiteStore(tmp_path / "dev.db"), state)


def test_a_save_writes_only_what_changed(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "dev.db")
    h = mid_run(store)
    conn = store._conn
    before = conn.total_changes
    store.save(h.executor.state)
    assert conn.total_changes == before  # nothing changed, nothing written
    # A fresh store knows what the file holds: its first save is a no-op too.
    fresh = SQLiteStore(tmp_path / "dev.db")
    before = fresh._conn.total_changes
    fresh.save(h.executor.state)
    assert fresh._conn.total_changes == before
    # The nap ends: its timer row goes, the run row is updated, its memo is
    # added and the id counter moves; the memos saved before stay as they are.
    memos = conn.execute("SELECT COUNT(*) FROM memos").fetchone()[0]
    before = conn.total_changes
    h.advance()
    assert conn.execute("SELECT COUNT(*) FROM memos").fetchone()[0] == memos + 1
    assert conn.total_changes - before == 4


def test_a_failed_save_leaves_the_file_and_the_next_save_whole(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "dev.db")
    h = mid_run(store)
    state = h.executor.state
    saved = store.load()
    run = next(r for r in state.runs.values() if r.is_running)
    run.steps["bad"] = object()  # not JSON: the save fails half-way
    run.stack.append("bad")
    with pytest.raises(TypeError):
        store.save(state)
    assert store.load() == saved
    del run.steps["bad"]
    run.stack.pop()
    run.output = "changed"
    store.save(state)
    assert_saved(SQLiteStore(tmp_path / "dev.db"), state)


def test_memory_store() -> None:
    store = SQLiteStore(":memory:")
    assert store.path == ":memory:"
    h = mid_run(store)
    assert_saved(store, h.executor.state)
    assert len(store.events(10)) == 1


def test_the_default_path_is_created_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with SQLiteStore() as store:
        assert store.path == os.path.join(".inngest", "dev.db")
    assert (tmp_path / ".inngest" / "dev.db").is_file()
    conn = sqlite3.connect(tmp_path / ".inngest" / "dev.db")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


def test_apps_round_trip(tmp_path: Path) -> None:
    h = Durable(SQLiteStore(":memory:"))
    build(h, lambda name: None)
    configs = [c for fn in h.functions for c in fn.get_configs("http://x/api")]
    assert len(configs) == 3
    store = SQLiteStore(tmp_path / "dev.db")
    x = StoredApp(configs, name="x-app", sdk="py:v0.5.19", framework="flask")
    store.put_app("http://x/api", x)
    store.put_app("http://y/api", StoredApp([]))
    assert SQLiteStore(tmp_path / "dev.db").apps() == {
        "http://x/api": x,
        "http://y/api": StoredApp([]),
    }
    store.delete_app("http://y/api")
    assert list(store.apps()) == ["http://x/api"]


def test_apps_stored_before_they_kept_their_name_still_load(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "dev.db")
    store.put_app("http://x/api", StoredApp([]))
    store.close()
    conn = sqlite3.connect(tmp_path / "dev.db")
    with conn:
        conn.execute("UPDATE apps SET json = '[]'")  # the old layout: functions only
    conn.close()
    assert SQLiteStore(tmp_path / "dev.db").apps() == {"http://x/api": StoredApp([])}


# -- files we refuse ----------------------------------------------------------------


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    SQLiteStore(db).close()
    as_schema(db, SCHEMA_VERSION + 1)
    newer = f"schema version {SCHEMA_VERSION + 1}, newer"
    with pytest.raises(StoreError, match=newer) as err:
        SQLiteStore(db)
    assert str(db) in str(err.value)


def test_a_corrupt_file_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    db.write_bytes(b"certainly not sqlite " * 100)
    with pytest.raises(StoreError, match="not a usable dev server database") as err:
        SQLiteStore(db)
    assert str(db) in str(err.value)


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE things (x)")
    conn.close()
    with pytest.raises(StoreError, match="not an Inngest dev server database"):
        SQLiteStore(db)


def test_an_unreadable_row_is_reported_with_the_file(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    store = SQLiteStore(db)
    mid_run(store)
    store._conn.execute("UPDATE runs SET json = '{\"run_id\": 1}'")
    with pytest.raises(StoreError, match="unreadable") as err:
        store.load()
    assert str(db) in str(err.value)


def test_flow_control_state_round_trips(tmp_path: Path) -> None:
    event = {"id": "e1", "name": "t/go", "data": {}, "ts": 1, "user": {}}
    state = ExecutorState(
        limiters={"rate_limit:f": 12.5},
        debounces={"debounce:f": Debounced("app-f", event, 3.0, "debounce-1")},
        batches={"batch:f": Batched("app-f", "B1", [event], "batch-1", size=40)},
        singletons={"singleton:f": "R1"},
    )
    store = SQLiteStore(tmp_path / "dev.db")
    store.save(state)
    assert SQLiteStore(tmp_path / "dev.db").load() == state
    state.debounces.clear()
    state.limiters["rate_limit:f"] = 13.0
    store.save(state)
    assert SQLiteStore(tmp_path / "dev.db").load() == state


def test_a_version_1_file_gains_the_flow_table(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "dev.db").close()
    as_schema(tmp_path / "dev.db", 1, "DROP TABLE flow")
    store = SQLiteStore(tmp_path / "dev.db")
    store.save(ExecutorState(singletons={"s": "R1"}))
    loaded = store.load()
    assert loaded is not None
    assert loaded.singletons == {"s": "R1"}
    store.close()


def test_incremental_saves_keep_exactly_the_executor_state(tmp_path: Path) -> None:
    # Every input's changes are saved alone; after each, the file must hold
    # what the executor holds, through flow control's queues and locks too.
    h = Durable(SQLiteStore(tmp_path / "dev.db"), verify=True)
    build(h, lambda name: None)
    second = datetime.timedelta(seconds=1)

    @h.client.create_function(
        fn_id="flow",
        trigger=inngest.TriggerEvent(event="t/flow"),
        concurrency=[inngest.Concurrency(limit=1, key="event.data.k")],
        throttle=inngest.Throttle(limit=1, period=2 * second),
        singleton=inngest.Singleton(mode="cancel", key="event.data.s"),
        cancel=[inngest.Cancel(event="t/stop", if_exp="event.data.k == async.data.k")],
    )
    def flow(ctx: inngest.ContextSync) -> str:
        ctx.step.run("one", lambda: None)
        ctx.step.sleep("nap", 5 * second)
        return str(ctx.event.data.get("k"))

    @h.client.create_function(
        fn_id="calm",
        trigger=inngest.TriggerEvent(event="t/calm"),
        debounce=inngest.Debounce(period=3 * second),
        rate_limit=inngest.RateLimit(limit=5, period=60 * second),
    )
    def calm(ctx: inngest.ContextSync) -> int:
        return len(ctx.events)

    h.serve(*h.functions, flow, calm)

    def send(name: str, event_id: str, **data: Any) -> None:
        event = {"name": name, "data": data, "id": event_id, "ts": int(h.now * 1000)}
        h.store.append_events([event], received_at=h.now)
        h.route(h.store.unrouted_events())

    for n, k in enumerate("aabb"):
        send("t/flow", f"f{n}", k=k, s=f"s{n % 3}")
    for n in range(3):
        send("t/calm", f"c{n}")
    send("t/go", "go")
    h.drain()
    send("t/stop", "stop", k="b")
    h.run()
    statuses = [r.status for r in h.executor.state.runs.values()]
    assert RunStatus.CANCELLED in statuses
    assert RunStatus.COMPLETED in statuses
    assert_saved(SQLiteStore(h.store.path), h.executor.state)


def test_calls_waiting_for_a_concurrency_slot_are_requeued_after_a_crash(
    tmp_path: Path,
) -> None:
    h = Harness()
    ran: list[int] = []

    @h.client.create_function(
        fn_id="one-at-a-time",
        trigger=inngest.TriggerEvent(event="t/q"),
        concurrency=[inngest.Concurrency(limit=1)],
    )
    def one_at_a_time(ctx: inngest.ContextSync) -> int:
        ran.append(ctx.event.data["n"])
        return int(ctx.event.data["n"])

    h.serve(one_at_a_time)
    h.send("t/q", {"n": 1})
    h.send("t/q", {"n": 2})
    first, second = h.runs("one-at-a-time")
    assert len(first.in_flight) == 1  # its call was made
    assert len(second.queued) == 1  # its call waits for the one slot
    store = SQLiteStore(tmp_path / "dev.db")
    store.save(h.executor.state)

    # The process dies: the call in flight is never answered.
    state = SQLiteStore(tmp_path / "dev.db").load()
    assert state is not None
    # As the driver starts: requeue, then build the executor on the state.
    added = requeue_in_flight(state, START)
    after = Harness(state=state)
    after.serve(one_at_a_time)
    job_id = second.queued[0].job_id
    assert sorted(added) == sorted(
        [f"recover-{next(iter(first.in_flight))}", f"recover-{second.run_id}-{job_id}"]
    )
    assert all(not r.in_flight and not r.queued for r in state.runs.values())
    after.timers = {t.timer_id: t.at for t in state.timers.values()}
    after.run()
    assert ran == [1, 2]  # each once: the lost call re-made, the waiting one made
    assert [r.output for r in after.runs("one-at-a-time")] == [1, 2]


def test_a_queued_run_reopened_is_still_saved_as_it_starts(tmp_path: Path) -> None:
    # A queued run has not ended: a store reopened on the file must keep
    # writing its row, or the run stays queued in the file once it started.
    h = Durable(SQLiteStore(tmp_path / "dev.db"), verify=True)

    @h.client.create_function(
        fn_id="slow",
        trigger=inngest.TriggerEvent(event="t/slow"),
        throttle=inngest.Throttle(limit=1, period=60_000, burst=0),
    )
    def slow(ctx: inngest.ContextSync) -> str:
        return "done"

    h.serve(slow)
    h.send("t/slow")
    h.send("t/slow")
    h.drain()
    statuses = [r.status for r in h.executor.state.runs.values()]
    assert statuses == [RunStatus.COMPLETED, RunStatus.QUEUED]
    h.store = SQLiteStore(tmp_path / "dev.db")  # reopened: primed from the file
    h.run()
    reopened = SQLiteStore(tmp_path / "dev.db")
    stored = [reopened.run(run_id) for run_id in h.executor.state.runs]
    assert [r.status for r in stored if r is not None] == [RunStatus.COMPLETED] * 2


def test_a_rerun_s_origin_and_a_run_s_delays_survive_a_reload(tmp_path: Path) -> None:
    h = Durable(SQLiteStore(tmp_path / "dev.db"), verify=True)

    @h.client.create_function(
        fn_id="steps",
        trigger=inngest.TriggerEvent(event="t/go"),
        throttle=inngest.Throttle(
            limit=1, period=datetime.timedelta(seconds=10), burst=0
        ),
    )
    def steps(ctx: inngest.ContextSync) -> str:
        a = ctx.step.run("a", lambda: "A")
        return ctx.step.run("b", lambda: a + "B")

    h.serve(steps)
    h.send("t/go", {}, id="e1")
    h.send("t/go", {}, id="e2")  # throttled: starts 10 s later
    h.run()
    first, second = h.runs("steps")
    assert [d.reason for d in second.delays] == ["throttle"]
    h.apply(h.executor.rerun(first.run_id, h.now, from_step=first.stack[1]))
    h.run()
    rerun = h.runs("steps")[2]
    assert (rerun.rerun_of, rerun.rerun_from_step) == (first.run_id, first.stack[1])
    # Runs that ended are read one by one (a load has only the others).
    stored = SQLiteStore(h.store.path)
    reread = stored.run(rerun.run_id)
    assert reread is not None
    assert reread.rerun_of == first.run_id
    reread = stored.run(second.run_id)
    assert reread is not None
    assert reread.delays == second.delays
    assert_saved(stored, h.executor.state)


class _FailingStatements:
    """A connection that fails the statements starting with ``fail`` and
    passes everything else to the real one."""

    def __init__(self, conn: sqlite3.Connection, fail: str) -> None:
        self._conn = conn
        self.fail = fail

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if self.fail and sql.startswith(self.fail):
            raise sqlite3.OperationalError(f"refused: {sql[:20]}")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _store_with_held_event(
    path: Path, fail: str
) -> tuple[SQLiteStore, _FailingStatements]:
    """A store with four routed events and one appended with ``hold=True``
    (written, not committed), whose connection fails ``fail`` statements."""
    store = SQLiteStore(path)
    seqs = store.append_events(
        [{"name": "t/old", "id": f"o{i}", "data": {}} for i in range(4)],
        received_at=START,
    )
    store.save(ExecutorState(), routed=seqs)
    store.append_events(
        [{"name": "t/held", "id": "h", "data": {}}], received_at=START + 1, hold=True
    )
    failing = _FailingStatements(store._conn, fail)
    store._conn = failing  # type: ignore[assignment]
    return store, failing


def test_a_failed_write_that_joins_held_writes_undoes_only_its_own(
    tmp_path: Path,
) -> None:
    store, failing = _store_with_held_event(tmp_path / "dev.db", "DELETE FROM wait")
    with pytest.raises(StoreError, match="refused"):
        store.prune_events(1)  # deletes events, then fails
    failing.fail = ""
    store.commit()  # the driver's group commit of what it held
    store.close()
    with SQLiteStore(tmp_path / "dev.db") as reopened:
        # The held event was stored; the failed prune deleted nothing.
        names = sorted(e.event["name"] for e in reopened.events(100))
        assert names == ["t/held", *["t/old"] * 4]


def test_held_writes_lost_with_a_joined_commit_are_reported(tmp_path: Path) -> None:
    store, failing = _store_with_held_event(tmp_path / "dev.db", "COMMIT")
    with pytest.raises(StoreError, match="refused"):
        store.prune_events(1)
    failing.fail = ""
    # The rollback took the held event: the group commit must not say it
    # was stored.
    with pytest.raises(StoreError, match="held writes were lost"):
        store.commit()
    store.close()
    with SQLiteStore(tmp_path / "dev.db") as reopened:
        assert [e.event["name"] for e in reopened.events(100)] == ["t/old"] * 4


def test_seen_keys_are_kept_in_the_file_not_copied_in_the_store(
    tmp_path: Path,
) -> None:
    """There is a run idempotency key per run of the last 24 hours: the
    executor's state has them, and the store compares a full save with the
    table instead of keeping a copy of its own (which grew the process by a
    dict entry per run)."""
    store = SQLiteStore(tmp_path / "dev.db")
    keys = {f"fn:{n:05d}": START + 86_400.0 for n in range(500)}
    state = ExecutorState(seen_keys=dict(keys))
    store.save(state)
    copies = [
        name
        for name, value in vars(store).items()
        if isinstance(value, (dict, set, list)) and len(value) >= len(keys)
    ]
    assert copies == []
    # A full save compares with the table: dropped keys go, new ones come.
    del state.seen_keys["fn:00000"]
    state.seen_keys["fn:new"] = START + 90_000.0
    state.seen_keys["fn:00001"] = START + 1.0
    store.save(state)
    loaded = SQLiteStore(tmp_path / "dev.db").load()
    assert loaded is not None
    assert loaded.seen_keys == state.seen_keys
