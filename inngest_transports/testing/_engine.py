"""The engine: a client's functions on the executor core and a virtual clock.

Sync functions run inline; async ones on an event loop the engine runs
(on asyncio, one loop for all the calls one :meth:`TestEngine.send`,
:meth:`~TestEngine.advance` or :meth:`~TestEngine.run` makes, each call in a
copy of the caller's context, its leftover tasks cancelled when it returns,
as ``asyncio.run`` would; on trio, ``trio.run`` per call), so call the
engine from sync test code (or from a worker thread), not from inside a
running event loop.

Retries use Inngest's real backoff table: with the virtual clock that costs
nothing.  Trigger, ``wait_for_event``, ``cancel`` and flow-control
expressions are real CEL (:mod:`inngest_proto.expressions`), evaluated at
the virtual time.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar

import anyio

import inngest_proto as inngest
from inngest_proto.executor import (
    Action,
    CallAI,
    CallSDK,
    CancelTimer,
    Checkpoint,
    EmitEvent,
    Executor,
    InProcessAPI,
    Run,
    RunFinished,
    RunSkipped,
    RunStarted,
    RunStatus,
    SetTimer,
    WaitResumed,
    normalize_event,
)
from inngest_proto.wire import (
    IncomingRequest,
    OutboundRequest,
    OutboundResponse,
    query_from_url,
    unstructure,
)

from ._stubs import Exchange, Stubs

__all__ = ["DEFAULT_START", "TestEngine", "TestEngineError"]

#: Where the virtual clock starts unless told: 2026-01-01T00:00:00Z.
DEFAULT_START = 1_767_225_600.0

_APP_URL = "http://inngest-testing.invalid/api/inngest"

EventLike = inngest.Event | Mapping[str, Any]


class TestEngineError(AssertionError):
    """A test expectation the engine checks failed (e.g. no single run), or
    the functions did not settle within the limits given."""

    __test__ = False  # not a pytest test class, despite its name


def _seconds(value: float | datetime.timedelta) -> float:
    seconds = value.total_seconds() if isinstance(value, datetime.timedelta) else value
    if seconds < 0:
        msg = f"time only moves forward, got {value!r}"
        raise ValueError(msg)
    return float(seconds)


class TestEngine:
    """Runs ``functions`` of ``client`` in process on a virtual clock.

    ``start`` is the virtual Unix time to begin at; ``backend`` the anyio
    backend async functions run on (``"asyncio"`` or ``"trio"``).  The
    client must be in dev mode, or have a signing key (then calls are
    signed and verified as in production).  ``ai_provider`` answers the
    model requests of ``step.ai.infer`` (the request Inngest would make,
    in; the provider's response, out; raise to simulate no reply); without
    it, ``step.ai.infer`` raises :class:`TestEngineError`.

    While the engine works (inside :meth:`send`, :meth:`run_until_idle`,
    :meth:`advance`, :meth:`run`) it swaps the client's transport for one
    that routes sent events (``step.send_event``, ``client.send``) to the
    engine, and restores the original transport before returning; the
    client is never left changed.
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(
        self,
        client: inngest.Inngest,
        functions: Sequence[inngest.Function[Any]],
        *,
        start: float | datetime.datetime = DEFAULT_START,
        backend: str = "asyncio",
        max_calls: int = 10_000,
        ai_provider: Callable[[OutboundRequest], OutboundResponse] | None = None,
        step_stubs: Mapping[str, Any] | None = None,
        invoke_stubs: Mapping[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.now = start.timestamp() if isinstance(start, datetime.datetime) else start
        self.handler = inngest.CommHandler(
            client=client, functions=list(functions), framework="testing"
        )
        settings = client.settings
        self._signing_key = settings.signing_key if settings.is_cloud else None
        self.executor = Executor(
            signing_key=self._signing_key,
        )
        self._backend = backend
        self._max_calls = max_calls
        self._feed = InProcessAPI(
            self.executor,
            now=lambda: self.now,
            accept=self._accept_sent,
            apply=self._apply,
            random_bytes=random.Random(0).randbytes,  # noqa: S311 (deterministic)
        )
        self._ai_provider = ai_provider
        self._queue: list[CallSDK | CallAI] = []
        self._outbox: list[dict[str, Any]] = []
        self._timers: dict[str, float] = {}
        self._queries: dict[str, Mapping[str, str]] = {}
        self._sent = 0
        self._received = 0
        #: Events the functions sent (``step.send_event``, ``client.send``),
        #: in wire form, in the order they were sent.
        self.sent_events: list[dict[str, Any]] = []
        #: Events the executor emitted (``inngest/function.finished``, ...).
        self.emitted_events: list[dict[str, Any]] = []
        #: Every action the executor returned, in order (for debugging).
        self.actions: list[Action] = []
        #: Runs an event did not start, with why (rate limit, idempotency, ...).
        self.skipped: list[RunSkipped] = []
        #: Every call made to the SDK, in order (see :meth:`exchanges_of`).
        self.exchanges: list[Exchange] = []
        #: Checkpoints the functions saved (``Inngest(checkpointing=...)``).
        self.checkpoints: list[Checkpoint] = self._feed.checkpoints
        self._stubs = Stubs(client, step_stubs, invoke_stubs)
        configs = [config for fn in functions for config in fn.get_configs(_APP_URL)]
        self._apply(self.executor.register_app(_APP_URL, configs, self.now))

    # -- inputs ---------------------------------------------------------------------

    def send(
        self,
        event: str | EventLike | Sequence[EventLike],
        data: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> list[str]:
        """Send events as the Event API receives them, and run what they start.

        ``event`` is an event name (with ``data`` and other ``fields`` such
        as ``id`` or ``user``), an :class:`inngest_proto.Event`, a mapping in
        wire form, or a list of events.  Returns the event ids (given ones
        are kept).  Each is checked and filled in as the dev server's ``/e``
        does (``normalize_event``); one it refuses raises
        :class:`TestEngineError`.  Runs until idle; no time passes.
        """
        if isinstance(event, str):
            events: list[EventLike] = [
                {"name": event, "data": dict(data or {}), **fields}
            ]
        elif isinstance(event, inngest.Event | Mapping):
            events = [event]
        else:
            events = list(event)
        ids = []
        for one in events:
            raw = unstructure(one) if isinstance(one, inngest.Event) else dict(one)
            self._received += 1
            try:
                wire = normalize_event(
                    raw, f"test-event-{self._received:06d}", int(self.now * 1000)
                )
            except ValueError as err:
                msg = f"the Event API refuses {raw.get('name')!r}: {err}"
                raise TestEngineError(msg) from None
            ids.append(str(wire["id"]))
            self._apply(self.executor.receive_event(wire, self.now))
        self.run_until_idle()
        return ids

    def cancel(self, run_id: str) -> None:
        """Cancel a run, as ``DELETE /v1/runs/{id}`` does."""
        self._apply(self.executor.cancel(run_id, self.now))
        self.run_until_idle()

    # -- driving --------------------------------------------------------------------

    def run_until_idle(self) -> None:
        """Perform queued calls, and those they lead to, until none is queued.

        No time passes: sleeps, waits and retries stay pending.
        """
        with self.client.using_transport(self._feed), _CallLoop(self._backend) as loop:
            for _ in range(self._max_calls):
                self._flush_outbox()
                if not self._queue:
                    return
                call = self._queue.pop(0)
                if isinstance(call, CallAI):
                    self._perform_ai(call)
                else:
                    self._perform(call, loop)
        msg = f"still calling after {self._max_calls} calls: a loop?"
        raise TestEngineError(msg)

    def advance(self, by: float | datetime.timedelta) -> None:
        """Move the clock ``by`` seconds (or a timedelta), firing the timers
        due on the way in order, each at its own time, and running what they
        lead to.  The clock then reads exactly ``now + by``."""
        target = self.now + _seconds(by)
        self.run_until_idle()
        while self._fire_next(until=target):
            pass
        self.now = max(self.now, target)

    def run(
        self,
        max_time: float | datetime.timedelta | None = None,
        *,
        max_timers: int = 10_000,
    ) -> None:
        """Run until nothing is left: jump the clock to each next timer.

        With ``max_time`` (seconds or a timedelta), timers due later than
        ``max_time`` from now stay pending and the clock stops at the last
        timer fired; pass it with cron functions, whose timers never run
        out.  Raises :class:`TestEngineError` after ``max_timers`` timers.
        """
        until = None if max_time is None else self.now + _seconds(max_time)
        self.run_until_idle()
        for _ in range(max_timers):
            if not self._fire_next(until=until):
                return
        msg = f"timers still set after {max_timers} fired: give run() a max_time"
        raise TestEngineError(msg)

    def run_until_done(self, event_id: str, *, max_timers: int = 10_000) -> None:
        """Like :meth:`run`, but stop once every run ``event_id`` started ended.

        Safe with cron functions: their timers fire only while the runs are
        still going.
        """
        self.run_until_idle()
        for _ in range(max_timers):
            if all(run.ended_at is not None for run in self.runs_of(event_id)):
                return
            if not self._fire_next(until=None):
                return
        msg = f"the runs of {event_id} did not end after {max_timers} timers fired"
        raise TestEngineError(msg)

    @property
    def next_timer_at(self) -> float | None:
        """When the earliest pending timer fires (``None`` when none is set)."""
        return min(self._timers.values(), default=None)

    # -- inspection -----------------------------------------------------------------

    def runs(self, fn_id: str | None = None) -> list[Run]:
        """The runs so far, oldest first; only ``fn_id``'s when given."""
        runs = list(self.executor.state.runs.values())
        if fn_id is None:
            return runs
        composite = f"{self.client.app_id}-{fn_id}"
        return [r for r in runs if r.function_id in (composite, fn_id)]

    def runs_of(self, event_id: str) -> list[Run]:
        """The runs ``event_id`` started (one per function it triggered)."""
        return [
            r for r in self.runs() if any(e.get("id") == event_id for e in r.events)
        ]

    def run_of(self, event_id: str) -> Run:
        """The single run ``event_id`` started; raises if not exactly one."""
        runs = self.runs_of(event_id)
        if len(runs) != 1:
            names = [r.function_id for r in runs]
            msg = f"event {event_id!r} started {len(runs)} runs, not one: {names}"
            raise TestEngineError(msg)
        return runs[0]

    def output(self, event_id: str) -> Any:
        """The output of the single run ``event_id`` started, which must have
        completed; raises :class:`TestEngineError` otherwise (with the
        run's error when it failed)."""
        run = self.run_of(event_id)
        if run.status is not RunStatus.COMPLETED:
            detail = f": {run.error}" if run.error else ""
            msg = (
                f"the run {run.run_id} of {run.function_id} is "
                f"{run.status.value}, not Completed{detail}"
            )
            if run.is_running and self._timers:
                msg += " (timers are pending: call run() or advance())"
            raise TestEngineError(msg)
        return run.output

    # -- stubs and records ----------------------------------------------------------

    def stub_step(self, step_id: str, value: Any) -> None:
        """From now on, step ``step_id`` never runs and returns ``value``.

        Any step kind.  ``None`` or :data:`Timeout` is a ``wait_for_event``
        that timed out (or a finished sleep); an exception instance makes the
        step fail with it (the function sees a ``StepError``); other values
        are its output (typed values are serialized as the step's would be).
        ``"id:1"`` names the second step called ``"id"``.
        """
        self._stubs.steps[step_id] = value

    def stub_invoke(self, function_id: str, value: Any) -> None:
        """``step.invoke`` of ``function_id`` returns ``value`` without a run.

        ``function_id`` is the function's id, with or without this app's id;
        ``value`` may be a callable taking the invoke's data, or an exception
        instance to make the invoke fail.
        """
        self._stubs.invokes[function_id] = value

    def exchanges_of(self, run_id: str) -> list[Exchange]:
        """Every call made for ``run_id``, in order: request and response."""
        return [x for x in self.exchanges if x.run_id == run_id]

    # -- internals ------------------------------------------------------------------

    def _accept_sent(self, event: dict[str, Any]) -> str:
        self._sent += 1
        if not event.get("id"):
            event["id"] = f"sent-event-{self._sent:06d}"
        self.sent_events.append(event)
        self._outbox.append(event)
        return str(event["id"])

    def _flush_outbox(self) -> None:
        while self._outbox:
            self._apply(self.executor.receive_event(self._outbox.pop(0), self.now))

    def _apply(self, actions: Sequence[Action]) -> None:
        for action in actions:
            self.actions.append(action)
            if isinstance(action, CallSDK | CallAI):
                self._queue.append(action)
            elif isinstance(action, SetTimer):
                self._timers[action.timer_id] = action.at
            elif isinstance(action, CancelTimer):
                self._timers.pop(action.timer_id, None)
            elif isinstance(action, EmitEvent):
                self.emitted_events.append(action.event)
            elif isinstance(action, RunSkipped):
                self.skipped.append(action)
            elif not isinstance(
                action, RunStarted | RunFinished | WaitResumed
            ):  # pragma: no cover
                msg = f"unexpected executor action {action!r}"
                raise TestEngineError(msg)

    def _perform(self, call: CallSDK, loop: _CallLoop) -> None:
        req = call.request
        headers = dict(req.headers)
        body = self._stubs.inject(req.body, headers, self._signing_key, self.now)
        query = self._queries.get(req.url)
        if query is None:
            # Calls of a function share a few URLs (a stepId each); parsed once.
            query = self._queries[req.url] = MappingProxyType(query_from_url(req.url))
        incoming = IncomingRequest(
            method=req.method, url=req.url, headers=headers, body=body, query=query
        )
        saved_before = len(self.checkpoints)
        resp = self.handler.handle_sync(incoming, now=self.now, run_async=loop.run)
        checkpointed = tuple(
            unstructure(op)
            for checkpoint in self.checkpoints[saved_before:]
            for op in checkpoint.ops
        )
        # The Event API got what the call sent before its reply arrived.
        self._flush_outbox()
        self.exchanges.append(
            Exchange(
                run_id=call.run_id,
                function_id=query.get("fnId", ""),
                target=None
                if query.get("stepId") in (None, "step")
                else query["stepId"],
                now=self.now,
                request_body=body,
                status=resp.status,
                response_body=resp.body,
                checkpointed=checkpointed,
            )
        )
        answered = self._stubs.answer_invokes(resp.status, resp.body)
        reply = OutboundResponse(resp.status, resp.headers, answered)
        self._apply(
            self.executor.call_finished(call.run_id, call.request_id, reply, self.now)
        )

    def _perform_ai(self, call: CallAI) -> None:
        if self._ai_provider is None:
            msg = (
                "a step.ai.infer needs a model: pass TestEngine(..., "
                "ai_provider=...) to answer its request"
            )
            raise TestEngineError(msg)
        try:
            reply = self._ai_provider(call.request)
        # Not narrower: the provider is the test's own code, and whatever it
        # raises is its way to say the request got no reply.
        except Exception as err:
            text = f"{type(err).__name__}: {err}"
            self._apply(
                self.executor.ai_failed(call.run_id, call.request_id, text, self.now)
            )
            return
        self._apply(
            self.executor.ai_finished(call.run_id, call.request_id, reply, self.now)
        )

    def _fire_next(self, until: float | None) -> bool:
        """Fire the earliest timer (if due by ``until``) and run what follows."""
        if not self._timers:
            return False
        timer_id = min(self._timers, key=lambda t: (self._timers[t], t))
        at = self._timers[timer_id]
        if until is not None and at > until:
            return False
        del self._timers[timer_id]
        self.now = max(self.now, at)
        self._apply(self.executor.timer_fired(timer_id, self.now))
        self.run_until_idle()
        return True


_T = TypeVar("_T")


class _CallLoop:
    """Runs the async functions of one stretch of calls.

    On asyncio, one event loop serves them all: a loop per call (as
    ``anyio.run`` makes) cost more than the rest of a call's work.  Each
    call still gets what ``asyncio.run`` gives it: a copy of the caller's
    context, and its tasks left running are cancelled when it returns.
    Other backends get ``anyio.run`` per call.
    """

    def __init__(self, backend: str) -> None:
        self._backend = backend
        self._loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> _CallLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    def run(self, fn: Callable[[], Awaitable[_T]]) -> _T:
        if self._backend != "asyncio":
            return anyio.run(fn, backend=self._backend)
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        loop = self._loop
        # The task runs in a copy of the context it is made in.
        task = contextvars.copy_context().run(loop.create_task, _awaited(fn))
        try:
            return loop.run_until_complete(task)
        finally:
            leftovers = asyncio.all_tasks(loop)
            if leftovers:
                for leftover in leftovers:
                    leftover.cancel()
                loop.run_until_complete(
                    asyncio.gather(*leftovers, return_exceptions=True)
                )


async def _awaited(fn: Callable[[], Awaitable[_T]]) -> _T:
    return await fn()
