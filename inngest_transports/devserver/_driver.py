"""The driver: the I/O around the pure :class:`~inngest_proto.executor.Executor`.

It owns the executor and performs every action it returns: calls go to the
app over HTTP (one task each, with :mod:`._app_client`) and their outcome is
fed back, as do the requests the server makes for a step (:class:`CallAI`:
``step.ai.infer``'s model requests and ``step.fetch``'s, made with httpx);
timers live in
a heap watched by one scheduler task on the anyio clock; emitted events are
stored; run starts and ends are recorded (and logged) for the API.

All executor inputs happen on the event loop without an ``await`` between
the input and the handling of its actions, so no lock is needed: the
cooperative scheduler already serialises them.

Persistence: a :class:`Store` (the SQLite store) may be given; the driver
then follows the contract in :mod:`._sqlite_store`'s docstring: events are logged
before ``/e`` answers, the state is saved after every input and before its
calls go out, and a restart recovers (see :meth:`Driver.run`).  While
serving, the writes of all inputs handled in one iteration of the event loop
share one transaction and one fsync (group commit): the calls they lead to
go out, and the API answers (:meth:`Driver.durable`), after that commit.
Without a store, everything lives in memory.
"""

from __future__ import annotations

import collections
import heapq
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import anyio
import anyio.abc
import httpx

from inngest_proto import json_codec
from inngest_proto.executor import (
    MAX_DATA_DEPTH,
    Action,
    CallAI,
    CallFailure,
    CallSDK,
    CancelTimer,
    Changes,
    Checkpoint,
    CheckpointRejected,
    EmitEvent,
    EndpointRun,
    EndpointSteps,
    Executor,
    ExecutorState,
    Run,
    RunFinished,
    RunSkipped,
    RunStarted,
    RunStatus,
    SetTimer,
    WaitResumed,
    read_reply,
)
from inngest_proto.functions import FunctionConfig
from inngest_proto.wire import OutboundRequest, OutboundResponse
from inngest_transports.http import utf8_headers

from . import _sqlite_store
from ._app_client import AppTransport
from ._event_log import DEFAULT_MEMORY_EVENTS, MemoryEventLog
from ._history import RunHistory
from ._ingest import EventIds
from ._run_search import RunPage, RunSearch, search_memory_runs
from ._timeline import error_line

__all__ = ["DEFAULT_MEMORY_RUNS", "Driver", "Store", "StoredEvent", "WorkerLost"]

_Call = TypeVar("_Call", CallSDK, CallAI)
_T = TypeVar("_T")
#: How a call is made: ``Driver._call`` or ``Driver._call_ai``.
_CallTask = Callable[[_Call], Coroutine[Any, Any, None]]

_log = logging.getLogger("inngest.devserver")
# The server's HTTP call timeout (docs/protocol/executor.rst#limits); its model
# requests too.
_CALL_TIMEOUT = 2 * 3600.0
# The server's HTTP client follows this many redirects.
_MAX_REDIRECTS = 60

#: Calls to apps in flight at once: as many connections to an app at most
#: (the client keeps as many idle), and a burst of events does not open
#: thousands of sockets.
MAX_CALLS_IN_FLIGHT = 64
#: Events routed between two checkpoints of a big batch
#: (:meth:`Driver.receive_in_slices`): a few milliseconds of work.
ROUTE_SLICE = 10
_OUTPUT_EXCERPT = 120
# Wire ids -> internal ids of the latest events, remembered to link the runs
# they start without asking the log; older ones are looked up there.  The
# runs of as many latest events are remembered too; a store finds the runs
# of older ones.
_RECENT_EVENT_IDS = 10_000
#: Runs that ended kept in memory without a store (``keep_runs``'s default).
DEFAULT_MEMORY_RUNS = 1_000


class _EventLog(Protocol):
    """What the API lists events from: the store, or a MemoryEventLog."""

    def append_events(
        self,
        events: Sequence[Mapping[str, Any]],
        *,
        received_at: float,
        internal_ids: Sequence[str] | None = None,
    ) -> list[int]: ...

    def events(
        self,
        limit: int = 20,
        before: str | None = None,
        *,
        name: str | None = None,
        received_from: float | None = None,
        received_until: float | None = None,
        hide_internal: bool = False,
    ) -> list[_sqlite_store.StoredEvent]: ...

    def event(self, internal_id: str) -> _sqlite_store.StoredEvent | None: ...

    def internal_id_for(
        self, event_id: str, received_by: float | None = None
    ) -> str | None: ...


class CallTransport(Protocol):
    """What the driver calls apps through: ``AppTransport``, or a wrapper of
    it (a benchmark counting calls in flight, a test's fake app)."""

    async def request(self, request: OutboundRequest) -> OutboundResponse:
        """Send one call and return the app's answer."""
        ...

    async def aclose(self) -> None:
        """Close the connections kept for reuse."""
        ...


class Store(_EventLog, Protocol):
    """Where the dev server survives restarts: :class:`~._sqlite_store.SQLiteStore`."""

    def load(self) -> ExecutorState | None: ...

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
    ) -> None: ...

    def append_events(
        self,
        events: Sequence[Mapping[str, Any]],
        *,
        received_at: float,
        internal_ids: Sequence[str] | None = None,
        hold: bool = False,
    ) -> list[int]: ...

    def commit(self) -> None: ...

    def history(self) -> list[tuple[str, str]]: ...

    def search_runs(self, search: RunSearch) -> RunPage: ...

    def wait_matches(self, internal_id: str) -> list[tuple[str, str]]: ...

    def history_of(self, run_id: str) -> str | None: ...

    def run(self, run_id: str) -> Run | None: ...

    def runs_of_event(self, internal_id: str) -> list[str]: ...

    def linked_runs(
        self, run_id: str, created_since: float
    ) -> list[tuple[str, Run]]: ...

    def recent_runs(
        self, limit: int, *, status: RunStatus | None = None, function: str = ""
    ) -> list[tuple[str, Run]]: ...

    def prune_runs(
        self, *, keep: int | None = None, ended_before: float | None = None
    ) -> int: ...

    def prune_events(self, keep: int) -> int: ...

    def unrouted_events(self) -> list[_sqlite_store.StoredEvent]: ...

    def put_app(self, app_url: str, app: _sqlite_store.StoredApp) -> None: ...

    def delete_app(self, app_url: str) -> None: ...

    def apps(self) -> dict[str, _sqlite_store.StoredApp]: ...


class WorkerLost(Exception):
    """Raised by :attr:`Driver.connect` when the Connect worker that took a
    call stopped responding (its lease expired): nothing the function did was
    seen, so the executor retries at once (``CallFailure.WORKER_LOST``)."""


#: An event as ``/v1/events`` shows it: the wire event, its internal id and
#: when it came.
StoredEvent = _sqlite_store.StoredEvent


class Driver:
    """Performs the executor's actions; the one place that feeds it inputs.

    ``now`` is the wall clock (the executor's times are Unix seconds);
    ``transport`` sends call requests (one attempt each: the executor does
    the retrying).
    """

    def __init__(
        self,
        *,
        retry_scale: float = 1.0,
        signing_key: str | None = None,
        store: Store | None = None,
        transport: CallTransport | None = None,
        now: Callable[[], float] = time.time,
        max_calls_in_flight: int = MAX_CALLS_IN_FLIGHT,
        keep_events: int | None = None,
        keep_runs: int | None = None,
        keep_runs_for: float | None = None,
    ) -> None:
        self._max_calls_in_flight = max_calls_in_flight
        self._call_slots: anyio.CapacityLimiter | None = None
        state = store.load() if store is not None else None
        if state is not None:
            # Calls cut off by the crash get no reply: retry them (same
            # attempt) once the scheduler runs.
            _sqlite_store.requeue_in_flight(state, now())
        self.executor = Executor(
            signing_key=signing_key,
            retry_scale=retry_scale,
            state=state,
        )
        self._store = store
        # Group commit (with a store, while serving): the writes of every
        # input handled in one loop iteration are held in one transaction
        # and committed once by ``_commit_held``; the calls they lead to
        # wait for that commit, and so do the API's answers (``durable``).
        self._group_commit = False
        self._held = False  # saves or writes not handed to a commit yet
        self._pending = _PendingSave()
        self._after_commit: list[tuple[_CallTask[Any], Any]] = []
        self._commit_wanted: anyio.Event | None = None
        #: Set when what is held now is committed.
        self._committed: anyio.Event | None = None
        #: Set when the commit running in its thread is done.
        self._in_flight: anyio.Event | None = None
        self._commit_error: BaseException | None = None
        self._now = now
        self._transport: CallTransport = transport or AppTransport(_CALL_TIMEOUT)
        self._tasks: anyio.abc.TaskGroup | None = None
        #: Makes the requests of steps (``CallAI``); open while serving.
        self._ai_client: httpx.AsyncClient | None = None
        #: Performs calls to ``ws(s)://`` runtime URLs: the Connect gateway.
        #: It raises :class:`WorkerLost` when the worker stopped responding,
        #: any other exception when the call could not be made.
        self.connect: Callable[[CallSDK], Awaitable[OutboundResponse]] | None = None
        self._timers: list[tuple[float, str]] = []
        # Whether timers were set or dropped since the last save.
        self._timers_changed = False
        self._timer_changed: anyio.Event | None = None
        # Where the API lists events from.  With a store, every event stays
        # until ``keep_events`` newer ones came (all, without it).
        self._keep_events = keep_events
        self._log: _EventLog = (
            store
            if store is not None
            else MemoryEventLog(keep_events or DEFAULT_MEMORY_EVENTS)
        )
        if store is not None and keep_events is not None:
            _log.info("events: only the newest %d are kept", keep_events)
        # The latest internal id of recent wire ``id``s: runs name their
        # trigger by wire id, the API by internal id.
        self._internal_by_id: collections.OrderedDict[str, str] = (
            collections.OrderedDict()
        )
        # Internal event id -> the runs it started, for the latest events;
        # a store lists those of older ones (``runs_for_event``).
        self._runs_by_event: collections.OrderedDict[str, list[str]] = (
            collections.OrderedDict()
        )
        # Retention of runs that ended (docs/devserver.rst#runs-and-memory).  With a
        # store they leave memory once saved, and the store keeps them until
        # retention deletes them; without one they stay in memory, at most
        # ``keep_runs`` of them (by default DEFAULT_MEMORY_RUNS).
        if keep_runs is not None and keep_runs < 1:
            raise ValueError(f"keep_runs must be at least 1, not {keep_runs}")
        if keep_runs_for is not None and not keep_runs_for > 0:
            raise ValueError(f"keep_runs_for must be positive, not {keep_runs_for}")
        self._keep_runs = (
            keep_runs if store is not None or keep_runs else DEFAULT_MEMORY_RUNS
        )
        self._keep_runs_for = keep_runs_for
        # Without a store: the runs that ended, by when, oldest first.
        self._ended: collections.OrderedDict[str, float] = collections.OrderedDict()
        # With a store: runs ended since its runs were last pruned by count.
        self._ended_since_prune = 0
        # Without a store: the waits each event resumed (the store keeps
        # them otherwise), by the event's internal id, for as many events
        # as the memory log keeps.
        self._wait_matches: collections.OrderedDict[str, list[tuple[str, str]]] = (
            collections.OrderedDict()
        )
        self._changed: anyio.Event | None = None
        #: Attempts and timings of recent runs, for the web UI.
        self.history = RunHistory()
        if store is not None:
            self._reload_records(store)

    def _reload_records(self, store: Store) -> None:
        """Put back the history of the loaded runs' steps (the runs of
        events logged before the restart are listed from the store), and
        apply the run retention."""
        for run_id, saved in store.history():
            try:
                self.history.restore(run_id, saved)
            except ValueError as err:
                # The UI's record only: the run itself loaded, and its
                # timeline falls back to its memos.
                _log.warning("%s", err)
        self._prune_stored_runs(count=True)

    def now(self) -> float:
        """The executor's clock: Unix seconds."""
        return self._now()

    # -- lifecycle ---------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until cancelled: the timer scheduler and every call in flight.

        With a store, this first finishes the recovery begun in ``__init__``
        (loaded state, calls cut off requeued): the loaded timers are armed
        and events logged but never routed are routed, then saved.
        """
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            self._call_slots = anyio.CapacityLimiter(self._max_calls_in_flight)
            self._ai_client = httpx.AsyncClient(
                timeout=_CALL_TIMEOUT,
                follow_redirects=True,
                max_redirects=_MAX_REDIRECTS,
            )
            self._timer_changed = anyio.Event()
            self._changed = anyio.Event()
            if self._store is not None:
                self._commit_wanted = anyio.Event()
                self._committed = anyio.Event()
                self._commit_error = None
                self._group_commit = True
                tasks.start_soon(self._commit_held)
            # Timers of a loaded state were set before the restart.  Armed
            # before routing below, whose new timers its SetTimers arm.
            for timer in self.executor.state.timers.values():
                heapq.heappush(self._timers, (timer.at, timer.timer_id))
            self._route_unrouted()
            tasks.start_soon(self._schedule_timers)
            task_status.started()
            try:
                await anyio.sleep_forever()
            finally:
                self._tasks = None
                self._group_commit = False
                # What was held is committed; the calls it led to are not
                # made (a restart requeues them, as calls cut off).
                self._after_commit.clear()
                if self._held and self._commit_error is None:
                    done, _ = self._write_held()
                    assert self._store is not None
                    self._store.commit()
                    done.set()
                with anyio.CancelScope(shield=True):
                    await self._transport.aclose()
                    await self._ai_client.aclose()
                self._ai_client = None

    # -- inputs ------------------------------------------------------------------------

    def receive(
        self, events: Sequence[dict[str, Any]], internal_ids: list[str]
    ) -> None:
        """Store validated events (``/e``) and route them, in order.

        With a store, the events are written before anything else: if
        that raises, nothing was routed and ``/e`` must not acknowledge.
        While serving, they are committed with the routing's writes by the
        next group commit: acknowledge after :meth:`durable`.
        """
        now = self._now()
        seqs = self._append(events, internal_ids, now)
        self._route(events, internal_ids, seqs, now)

    async def receive_in_slices(
        self, events: Sequence[dict[str, Any]], internal_ids: list[str]
    ) -> None:
        """:meth:`receive` for a batch that may be big: the events are stored
        at once, then routed :data:`ROUTE_SLICE` at a time, other tasks
        running between slices, so that a batch of thousands does not stall
        the server (``/health`` answers meanwhile).

        Once stored, every event is routed even if the caller is cancelled.
        """
        if self._group_commit:
            await self._commit_idle()  # else the append waits on its lock
        now = self._now()
        seqs = self._append(events, internal_ids, now)
        with anyio.CancelScope(shield=True):
            for at in range(0, len(events), ROUTE_SLICE):
                if at:
                    await anyio.sleep(0)
                end = at + ROUTE_SLICE
                self._route(events[at:end], internal_ids[at:end], seqs[at:end], now)

    def _append(
        self, events: Sequence[dict[str, Any]], internal_ids: list[str], now: float
    ) -> list[int]:
        """Log events (unrouted); their seqs."""
        if self._store is not None and self._group_commit:
            return self._hold_write(
                lambda store: store.append_events(
                    events, received_at=now, internal_ids=internal_ids, hold=True
                )
            )
        return self._log.append_events(
            events, received_at=now, internal_ids=internal_ids
        )

    def _route(
        self,
        events: Sequence[dict[str, Any]],
        internal_ids: Sequence[str],
        seqs: Sequence[int],
        now: float,
    ) -> None:
        """Route logged events, in order: one input, saved once."""
        actions: list[Action] = []
        for event, internal_id in zip(events, internal_ids, strict=True):
            self._remember_event(event, internal_id)
            actions.extend(self.executor.receive_event(event, now))
        # One save for them all, before any call goes out.
        self._perform(actions, routed=seqs)

    def _route_unrouted(self) -> None:
        """Route events logged before a crash cut off their routing."""
        if self._store is None:
            return
        for stored in self._store.unrouted_events():
            problem = _unroutable(stored)
            if problem is not None:
                _log.error(
                    "event %s (%s) is not routed: %s",
                    stored.internal_id,
                    stored.name,
                    problem,
                )
                self._save(routed=(stored.seq,))
                continue
            actions = self.executor.receive_event(stored.event, self._now())
            self._perform(actions, routed=(stored.seq,))
        # Also commits what requeue_in_flight changed (outside the executor,
        # so not in its changes): a full compare, once.
        self._save(full=True)

    def checkpoint(self, checkpoint: Checkpoint) -> None:
        """Save checkpointed steps; raises :class:`CheckpointRejected`."""
        actions = self.executor.checkpoint(checkpoint, self._now())
        # Recorded before the save, to be saved with the steps.
        self.history.checkpoint(checkpoint.run_id, checkpoint.ops, self._now())
        self._perform(actions)

    def start_endpoint_run(self, start: EndpointRun) -> None:
        """A durable endpoint's new run; raises :class:`CheckpointRejected`."""
        if self.get_run(start.run_id) is not None:
            # Ended and out of the executor's memory, but its id is taken: a
            # new run under it would overwrite the stored one.
            raise CheckpointRejected("Run already exists", status=409)
        actions = self.executor.start_endpoint_run(start, self._now())
        self.history.endpoint_ops(start.run_id, start.ops, self._now())
        self._perform(actions)

    def endpoint_steps(self, steps: EndpointSteps) -> None:
        """More steps of one; raises :class:`CheckpointRejected`."""
        actions = self.executor.endpoint_steps(steps, self._now())
        self.history.endpoint_ops(steps.run_id, steps.ops, self._now())
        self._perform(actions)

    def cancel(self, run_id: str) -> None:
        self._perform(self.executor.cancel(run_id, self._now()))

    def signal(self, name: str, data: Any) -> str | None:
        """Resume the run waiting for signal ``name``; its id, or ``None``."""
        run_id, actions = self.executor.signal(name, data, self._now())
        self._perform(actions)
        return run_id

    def rerun(self, run_id: str, *, from_step: str | None = None) -> str | None:
        """A new run of ``run_id``'s function with its events (from step
        ``from_step``: ``Executor.rerun``); its id, or ``None`` when flow
        control skipped it.  Raises :class:`KeyError` (unknown run) or
        :class:`ValueError` (function gone, or not a step of the run)."""
        actions = self.executor.rerun(
            run_id, self._now(), from_step=from_step, run=self.get_run(run_id)
        )
        self._perform(actions)
        started = [a.run_id for a in actions if isinstance(a, RunStarted)]
        return started[0] if started else None

    def register_app(
        self,
        app_url: str,
        configs: Sequence[FunctionConfig],
        *,
        persist: bool = True,
        name: str = "",
        sdk: str = "",
        framework: str = "",
    ) -> None:
        """A sync (no ``configs``: the app was removed).  ``persist=False``
        for apps restored from the store, which has them already; ``name``,
        ``sdk`` and ``framework`` are kept with them for the API."""
        if self._store is not None and persist:
            if configs:
                stored = _sqlite_store.StoredApp(list(configs), name, sdk, framework)
                self._store.put_app(app_url, stored)
            else:
                self._store.delete_app(app_url)
        self._perform(self.executor.register_app(app_url, configs, self._now()))
        self.history.app_synced(app_url, self._now())

    def keep_app(self, app_url: str, app: _sqlite_store.StoredApp) -> None:
        """Store an app as it is, without registering anything: a refused
        sync keeps its reason there, and its last good sync's functions."""
        if self._store is not None:
            self._store.put_app(app_url, app)

    # -- waiting -----------------------------------------------------------------------

    async def wait_until(self, check: Callable[[], bool], timeout: float) -> None:
        """Return once ``check()`` holds, re-checked after every change.

        Raises :class:`TimeoutError` after ``timeout`` seconds.
        """
        with anyio.fail_after(timeout):
            while not check():
                if self._changed is None:
                    await anyio.sleep(0.01)  # not running yet
                    continue
                await self._changed.wait()

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = anyio.Event()

    # -- actions -----------------------------------------------------------------------

    def _perform(self, actions: list[Action], routed: Iterable[int] = ()) -> None:
        """Handle one input's actions; ``routed``: the logged events it was.

        The state is saved before any call goes out, so a step whose reply
        was saved never runs again.  A failing save propagates: the server
        stops (fail-stop) rather than run on with state it cannot keep, and a
        restart resumes from the last commit.
        """
        now = self._now()
        calls: list[CallSDK] = []
        ai_calls: list[CallAI] = []
        emitted: list[tuple[str, Mapping[str, Any]]] = []
        resumed: list[tuple[str, str, str]] = []
        ended: list[str] = []
        for action in actions:
            if isinstance(action, CallSDK):
                calls.append(action)
                self._record_call(action, now)
            elif isinstance(action, CallAI):
                ai_calls.append(action)
            elif isinstance(action, SetTimer):
                self._timers_changed = True
                heapq.heappush(self._timers, (action.at, action.timer_id))
                if self._timer_changed is not None:
                    self._timer_changed.set()
            elif isinstance(action, CancelTimer):
                # Left in the heap: firing a cancelled timer is a no-op.
                self._timers_changed = True
            elif isinstance(action, EmitEvent):
                internal = EventIds(None, int(now * 1000)).for_index(0)
                self._remember_event(action.event, internal)
                if self._store is None:  # else logged by the save below
                    self._log.append_events(
                        [action.event], received_at=now, internal_ids=[internal]
                    )
                emitted.append((internal, action.event))
            elif isinstance(action, RunStarted):
                self._run_started(action)
            elif isinstance(action, RunFinished):
                self._run_finished(action)
                ended.append(action.run_id)
            elif isinstance(action, WaitResumed):
                # The event was remembered when it came in, or by its
                # EmitEvent above (emitted before the executor routes it).
                resumed_by = self.internal_id(action.event_id)
                if resumed_by is not None:
                    resumed.append((resumed_by, action.run_id, action.step_id))
            elif isinstance(action, RunSkipped):
                events = ", ".join(action.event_ids)
                _log.info(
                    "no run of %s for %s: %s",
                    action.function_id,
                    events,
                    action.reason,
                )
        self._save(routed=routed, emitted=emitted, resumed=resumed)
        if ended and self._store is not None and self._group_commit:
            # Out of memory only once written, by the next group commit.
            self._pending.ended.extend(ended)
        elif ended:
            self._runs_ended(ended, now)
        for call in calls:
            self._start(self._call, call)
        for ai_call in ai_calls:
            self._start(self._call_ai, ai_call)
        self._notify()

    def _save(
        self,
        *,
        routed: Iterable[int] = (),
        emitted: Iterable[tuple[str, Mapping[str, Any]]] = (),
        resumed: Iterable[tuple[str, str, str]] = (),
        full: bool = False,
    ) -> None:
        if self._store is None:
            self.executor.take_changes()
            self.history.drop_changes()
            for internal, run_id, step_id in resumed:
                self._wait_matches.setdefault(internal, []).append((run_id, step_id))
                self._wait_matches.move_to_end(internal)
            while len(self._wait_matches) > (
                self._keep_events or DEFAULT_MEMORY_EVENTS
            ):
                self._wait_matches.popitem(last=False)
            return
        if self._group_commit:
            # Written by the next group commit: once for all the inputs
            # handled until then, however many touched a run.
            assert self._commit_wanted is not None
            self._pending.add(routed, emitted, resumed, full=full)
            self._held = True
            self._commit_wanted.set()
            return
        self._write(routed, emitted, resumed, full=full, hold=False)

    def _write(
        self,
        routed: Iterable[int],
        emitted: Iterable[tuple[str, Mapping[str, Any]]],
        resumed: Iterable[tuple[str, str, str]],
        *,
        full: bool,
        hold: bool,
    ) -> None:
        """Save what changed since the last save."""
        assert self._store is not None
        changes = self.executor.take_changes()
        history = self.history.take_changes()
        routed, emitted = list(routed), list(emitted)
        nothing = not (changes.runs or changes.flow or changes.seen_keys or history)
        quiet = nothing and not routed and not emitted and not self._timers_changed
        if quiet and not full:
            return  # e.g. a timer that fired after it was cancelled
        self._timers_changed = False
        self._store.save(
            self.executor.state,
            routed=routed,
            emitted=emitted,
            changes=None if full else changes,
            history=history,
            resumed=resumed,
            hold=hold,
        )
        keep = self._keep_events
        # In batches of a hundredth, not a few rows every request.
        if keep is not None and (routed or emitted):
            dropped = self._store.prune_events(keep + keep // 100)
            if dropped:
                dropped += self._store.prune_events(keep)
                _log.info("events: %d old ones dropped, %d kept", dropped, keep)

    # -- group commit ------------------------------------------------------------------

    def _hold_write(self, write: Callable[[Store], _T]) -> _T:
        """Make a ``hold=True`` write; it is committed by ``_commit_held``.

        A failed write is rolled back.  If writes were held before it, they
        went with it, and inputs already acted on them: the server must stop
        (fail-stop, as for any failed save), so the error is also handed to
        ``_commit_held``.  Alone, it lost nothing else (``/e`` answers 500).
        """
        assert self._store is not None
        assert self._commit_wanted is not None
        if self._commit_error is not None:
            raise self._commit_error
        try:
            result = write(self._store)
        except BaseException as err:
            if self._held:
                self._commit_error = err
                self._commit_wanted.set()
            raise
        self._held = True
        self._commit_wanted.set()
        return result

    async def _commit_held(self) -> None:
        """Once per loop iteration with inputs: write what they changed,
        commit it with one fsync in a worker thread (the loop serves on
        meanwhile; inputs then gather for the next commit), then make the
        calls they led to and wake who waits in :meth:`durable`."""
        assert self._store is not None
        while True:
            assert self._commit_wanted is not None
            await self._commit_wanted.wait()
            self._commit_wanted = anyio.Event()
            # Inputs ready in this iteration of the loop join this commit.
            await anyio.sleep(0)
            done, calls = self._write_held()
            try:
                await anyio.to_thread.run_sync(self._store.commit)
            except Exception as err:
                self._commit_error = err
                raise
            finally:
                self._in_flight = None
                done.set()
            for fn, action in calls:
                self._start(fn, action)

    def _write_held(self) -> tuple[anyio.Event, list[tuple[_CallTask[Any], Any]]]:
        """Write the pending saves into the open transaction, on the loop
        (a save reads the live state).  Returns the event set once that
        transaction is committed, and the calls that wait for it."""
        assert self._committed is not None
        done, self._committed = self._committed, anyio.Event()
        calls, self._after_commit = self._after_commit, []
        pending, self._pending = self._pending, _PendingSave()
        self._in_flight = done
        self._held = False
        try:
            if self._commit_error is not None:
                raise self._commit_error
            if pending.wanted:
                self._write(
                    pending.routed,
                    pending.emitted,
                    pending.resumed,
                    full=pending.full,
                    hold=True,
                )
            if pending.ended:
                self._runs_ended(pending.ended, self._now())
        except Exception as err:
            self._commit_error = err
            self._in_flight = None
            done.set()
            raise
        return done, calls

    async def durable(self) -> None:
        """Return once every write made so far is committed.

        Raises the store's error if the commit failed (the server is
        stopping then): what was written is not acknowledged.
        """
        if self._held and self._committed is not None:
            await self._committed.wait()
        elif self._in_flight is not None:
            await self._in_flight.wait()
        if self._commit_error is not None:
            raise self._commit_error

    async def _commit_idle(self) -> None:
        """Wait while a commit runs in its thread: the store is busy."""
        while self._in_flight is not None:
            await self._in_flight.wait()

    def _runs_ended(self, run_ids: list[str], now: float) -> None:
        """Runs ended (and were saved): retention decides what stays."""
        if self._store is not None:
            # The store has them: out of memory, and from there on read
            # from the store (``get_run``, ``timeline``).
            for run_id in run_ids:
                self.executor.forget(run_id)
                self.history.forget(run_id)
            self._ended_since_prune += len(run_ids)
            keep = self._keep_runs
            # By count in batches of a hundredth, as events are.
            self._prune_stored_runs(
                count=keep is not None and self._ended_since_prune > keep // 100
            )
            return
        for run_id in run_ids:
            self._ended[run_id] = now
        self._prune_memory_runs(now)

    def _prune_stored_runs(self, *, count: bool) -> None:
        assert self._store is not None
        keep = self._keep_runs if count else None
        ended_before = (
            None if self._keep_runs_for is None else self._now() - self._keep_runs_for
        )
        if keep is None and ended_before is None:
            return
        if count:
            self._ended_since_prune = 0
        dropped = self._store.prune_runs(keep=keep, ended_before=ended_before)
        if dropped:
            _log.info("runs: %d that ended long ago deleted", dropped)

    def _prune_memory_runs(self, now: float) -> None:
        """Without a store, runs that ended beyond the retention are dropped."""
        keep = self._keep_runs
        horizon = None if self._keep_runs_for is None else now - self._keep_runs_for
        while self._ended:
            run_id, ended_at = next(iter(self._ended.items()))
            too_many = keep is not None and len(self._ended) > keep
            if not too_many and (horizon is None or ended_at >= horizon):
                break
            del self._ended[run_id]
            self.executor.forget(run_id)
            self.history.forget(run_id)

    def _start(
        self, fn: Callable[[_Call], Coroutine[Any, Any, None]], action: _Call
    ) -> None:
        if self._held:
            # Not before the state that led to it is committed.
            self._after_commit.append((fn, action))
            return
        if self._tasks is None:
            # Not serving (yet, or any more): the call is dropped, so the run
            # stalls like a call lost in flight, rather than crashing here.
            _log.warning(
                "dev server not running; call of run %s dropped", action.run_id
            )
            return
        self._tasks.start_soon(fn, action)

    async def _call(self, action: CallSDK) -> None:
        assert self._call_slots is not None  # set before any call can start
        try:
            if self.connect is not None and action.request.url.startswith(
                ("ws://", "wss://")
            ):
                # Not in a call slot: the gateway queues by worker capacity.
                response = await self.connect(action)
            else:
                async with self._call_slots:
                    response = await self._transport.request(action.request)
        except WorkerLost as err:
            self._call_failed(action, f"{err}", CallFailure.WORKER_LOST)
            return
        # Not narrower: the SDK's transport (HTTP or a connect worker) fails in
        # many ways; any failure to get a reply is the call's, not the server's.
        except Exception as err:
            self._call_failed(action, f"{err}", CallFailure.NO_REPLY)
            return
        reply = read_reply(response)  # once, for the history and the executor
        self.history.call_finished(action.run_id, action.request_id, reply, self._now())
        self._perform(
            self.executor.call_finished(
                action.run_id, action.request_id, response, self._now(), reply=reply
            )
        )

    def _call_failed(self, action: CallSDK, text: str, why: CallFailure) -> None:
        now = self._now()
        self.history.call_failed(action.run_id, action.request_id, text, now)
        self._perform(
            self.executor.call_failed(
                action.run_id, action.request_id, text, now, why=why
            )
        )

    async def _call_ai(self, action: CallAI) -> None:
        """Make a model or ``step.fetch`` request; any HTTP status is the
        executor's to judge."""
        assert self._ai_client is not None  # open while serving, as tasks are
        req = action.request
        try:
            resp = await self._ai_client.request(
                req.method, req.url, headers=utf8_headers(req.headers), content=req.body
            )
        # Not narrower: the SDK chose the URL, method and headers, and httpx
        # raises HTTPError, InvalidURL or a ValueError for what it cannot send;
        # any failure to get a reply is the step's, never the server's.
        except Exception as err:
            # Like Go's url.Error, without the query (Gemini's key is there).
            where = urllib.parse.urlsplit(req.url)._replace(query="").geturl()
            text = f'{req.method.title()} "{where}": {type(err).__name__}: {err}'
            self._perform(
                self.executor.ai_failed(
                    action.run_id, action.request_id, text, self._now()
                )
            )
            return
        # A header sent more than once: its values joined by "," as Go's.
        headers = {name: ",".join(resp.headers.get_list(name)) for name in resp.headers}
        response = OutboundResponse(resp.status_code, headers, resp.content)
        self._perform(
            self.executor.ai_finished(
                action.run_id,
                action.request_id,
                response,
                self._now(),
                url=str(resp.url),
            )
        )

    async def _schedule_timers(self) -> None:
        while True:
            assert self._timer_changed is not None
            changed = self._timer_changed
            if self._timers:
                at, timer_id = self._timers[0]
                delay = at - self._now()
                if delay <= 0:
                    heapq.heappop(self._timers)
                    self._perform(self.executor.timer_fired(timer_id, self._now()))
                    continue
                with anyio.move_on_after(delay):
                    await changed.wait()
            else:
                await changed.wait()
            if changed.is_set():
                self._timer_changed = anyio.Event()

    # -- records -----------------------------------------------------------------------

    def _record_call(self, call: CallSDK, now: float) -> None:
        run = self.executor.get_run(call.run_id)
        job = None if run is None else run.in_flight.get(call.request_id)
        if run is not None and job is not None:
            self.history.call_started(
                call.run_id,
                call.request_id,
                attempt=job.attempt,
                target=job.target,
                now=now,
                memos=run.steps,
            )

    def _remember_event(self, event: Mapping[str, Any], internal_id: str) -> None:
        self.history.bump()
        event_id = str(event.get("id"))
        self._internal_by_id[event_id] = internal_id
        self._internal_by_id.move_to_end(event_id)
        if len(self._internal_by_id) > _RECENT_EVENT_IDS:
            self._internal_by_id.popitem(last=False)
        # A new event has started no run yet: no need to ask the store.
        if internal_id not in self._runs_by_event:
            self._recent_runs_of(internal_id, [])

    def internal_id(self, event_id: str) -> str | None:
        """The internal id of the latest event sent with this ``id``."""
        found = self._internal_by_id.get(event_id)
        return found if found is not None else self._log.internal_id_for(event_id)

    def list_events(
        self, limit: int = 20, before: str | None = None, *, name: str | None = None
    ) -> list[StoredEvent]:
        """Newest first by internal id; ``before``: the internal id of the
        last one seen (the API's cursor)."""
        return self._log.events(limit, before, name=name)

    def event(self, internal_id: str) -> StoredEvent | None:
        """The first event logged with this internal id."""
        return self._log.event(internal_id)

    def search_events(
        self,
        limit: int,
        before: str | None,
        *,
        name: str | None,
        received_from: float | None,
        received_until: float | None,
        hide_internal: bool,
    ) -> list[StoredEvent]:
        """:meth:`list_events` with the UI's filters (the store's ``events``)."""
        return self._log.events(
            limit,
            before,
            name=name,
            received_from=received_from,
            received_until=received_until,
            hide_internal=hide_internal,
        )

    def search_runs(self, search: RunSearch) -> RunPage:
        """A page of runs for the UI: from the store's indexed tables when
        there is one, else from the runs in memory."""
        if self._store is not None:
            return self._store.search_runs(search)
        return search_memory_runs(self.executor.state.runs.values(), search)

    def wait_matches(self, internal_id: str) -> list[tuple[str, str]]:
        """``(run id, step id)`` of the waits an event resumed."""
        if self._store is not None:
            return self._store.wait_matches(internal_id)
        return list(self._wait_matches.get(internal_id, []))

    def get_run(self, run_id: str) -> Run | None:
        """A run in memory, else one the store kept after it ended."""
        run = self.executor.get_run(run_id)
        if run is not None or self._store is None:
            return run
        try:
            return self._store.run(run_id)
        except _sqlite_store.StoreError as err:
            _log.error("%s", err)
            return None

    def timeline(self, run: Run) -> list[dict[str, Any]]:
        """The run's timeline items (docs/protocol/devserver-api.rst#timeline-items)."""
        saved = None
        if self._store is not None and self.executor.get_run(run.run_id) is None:
            saved = self._store.history_of(run.run_id)
        return self.history.timeline(run, saved)

    def recent_runs(
        self, limit: int, *, status: RunStatus | None = None, function: str = ""
    ) -> list[Run]:
        """The latest ``limit`` runs, newest first, of ``status`` and of the
        function ``function`` if given: from the store when there is one
        (it has them all), else from memory."""
        if self._store is not None:
            return [
                self.executor.get_run(run_id) or run
                for run_id, run in self._store.recent_runs(
                    limit, status=status, function=function
                )
            ]
        out: list[Run] = []
        for run in reversed(self.executor.state.runs.values()):
            if status is not None and run.status is not status:
                continue
            if function and run.function_id != function:
                continue
            out.append(run)
            if len(out) >= limit:
                break
        return out

    def linked_runs(self, run: Run) -> list[Run]:
        """The runs that may be ``run``'s reruns or the runs its invokes
        started (each created after it): from the store when there is one,
        else from memory."""
        if self._store is None:
            return list(self.executor.state.runs.values())
        return [
            self.executor.get_run(run_id) or other
            for run_id, other in self._store.linked_runs(run.run_id, run.created_at)
        ]

    def runs_for_event(self, internal_id: str) -> list[Run]:
        """The runs the event ``internal_id`` started, oldest first."""
        return [
            run
            for run_id in self._run_ids_of_event(internal_id)
            if (run := self.get_run(run_id)) is not None
        ]

    def _run_ids_of_event(self, internal_id: str) -> list[str]:
        found = self._runs_by_event.get(internal_id)
        if found is None:
            # Not a recent event: the store knows (its runs are saved).
            store = self._store
            found = [] if store is None else store.runs_of_event(internal_id)
            if found:
                self._recent_runs_of(internal_id, found)
        return found

    def _recent_runs_of(self, internal_id: str, run_ids: list[str]) -> None:
        """Remember the runs of an event, among the latest events' only."""
        self._runs_by_event[internal_id] = run_ids
        if len(self._runs_by_event) > _RECENT_EVENT_IDS:
            self._runs_by_event.popitem(last=False)

    def _list_run(self, run_id: str, event_ids: Iterable[str]) -> None:
        """List the run under each of its events: every event of a batch
        lists it, as the server's UI does (it finds runs by trigger id)."""
        for event_id in dict.fromkeys(event_ids):
            internal = self.internal_id(event_id)
            if internal is not None:
                listed = self._run_ids_of_event(internal)
                if internal not in self._runs_by_event:
                    self._recent_runs_of(internal, listed)
                listed.append(run_id)

    def _run_started(self, action: RunStarted) -> None:
        self._list_run(action.run_id, action.event_ids)
        self.history.run_started(action.run_id)
        _log.info("run %s %s started", action.run_id, action.function_id)

    def _run_finished(self, action: RunFinished) -> None:
        self.history.run_finished(action.run_id)
        if not _log.isEnabledFor(logging.INFO):
            return  # the line below costs an excerpt of the output
        run = self.executor.get_run(action.run_id)
        fn = run.function_id if run is not None else "?"
        took = _took(run)
        if action.status is RunStatus.COMPLETED:
            _log.info(
                "run %s %s completed in %s: %s",
                action.run_id,
                fn,
                took,
                _excerpt(action.output),
            )
        elif action.status is RunStatus.FAILED:
            _log.info(
                "run %s %s failed in %s: %s",
                action.run_id,
                fn,
                took,
                _excerpt(error_line(action.error)),
            )
        else:
            _log.info("run %s %s cancelled after %s", action.run_id, fn, took)


def _unroutable(stored: StoredEvent) -> str | None:
    """Why a logged event must not be routed, if it must not.

    Only an event logged by a version without today's ingest checks can
    fail them; routing it would start runs that cannot be saved (nested
    too deep for Python's recursion) or keys that cannot be hashed (a lone
    surrogate), and would fail again at every start.
    """
    if stored.unreadable is not None:
        return stored.unreadable
    if json_codec.deeper_than(stored.event.get("data"), MAX_DATA_DEPTH):
        return f"nested deeper than the {MAX_DATA_DEPTH} levels allowed"
    try:
        json_codec.dumps_utf8(stored.event)
    except UnicodeEncodeError:
        return "it holds a lone surrogate, which has no UTF-8 form"
    return None


def _took(run: Run | None) -> str:
    if run is None or run.ended_at is None:
        return "?"
    return f"{run.ended_at - run.created_at:.1f} s"


def _excerpt(value: Any) -> str:
    try:
        text = (
            value
            if isinstance(value, str)
            else json_codec.dumps_compact(value).decode()
        )
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _OUTPUT_EXCERPT else text[: _OUTPUT_EXCERPT - 3] + "..."


class _PendingSave:
    """What the saves asked for since the last group commit wrote them."""

    __slots__ = ("emitted", "ended", "full", "resumed", "routed", "wanted")

    def __init__(self) -> None:
        self.wanted = False
        self.full = False
        #: Runs that ended: they leave memory once written.
        self.ended: list[str] = []
        self.routed: list[int] = []
        self.emitted: list[tuple[str, Mapping[str, Any]]] = []
        self.resumed: list[tuple[str, str, str]] = []

    def add(
        self,
        routed: Iterable[int],
        emitted: Iterable[tuple[str, Mapping[str, Any]]],
        resumed: Iterable[tuple[str, str, str]],
        *,
        full: bool,
    ) -> None:
        self.wanted = True
        self.full = self.full or full
        self.routed.extend(routed)
        self.emitted.extend(emitted)
        self.resumed.extend(resumed)
