"""Drive the executor end to end against our real SDK, on a virtual clock.

:class:`Harness` serves the test's functions with a real ``CommHandler``,
performs every ``CallSDK`` action by calling ``handle_sync`` in process,
keeps the timers the executor sets and fires them by advancing the clock.
Events the functions send (``step.send_event``, ``client.send``) go through
the client's transport, the executor package's :class:`InProcessAPI` (the one
the shipped ``TestEngine`` uses too), and reach the executor as through the
Event API: before the SDK's reply to the call that sent them.

The harness stays here rather than being the ``TestEngine``: that engine
plugs in real CEL and runs async functions on an event loop, while these
tests drive the core with the stand-in matchers (or any given ones) and
intercept single calls, needing nothing but ``inngest_proto``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

import inngest_proto as inngest
from inngest_proto._call_handler import query_from_url
from inngest_proto._http_values import IncomingRequest, OutboundResponse
from inngest_proto.executor import (
    Action,
    CallFailure,
    CallSDK,
    CancelTimer,
    EmitEvent,
    Executor,
    InProcessAPI,
    Run,
    RunFinished,
    RunSkipped,
    RunStarted,
    SetTimer,
    WaitResumed,
)

APP_ID = "exec-app"
APP_URL = "http://app.test/api/inngest"
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@attrs.frozen
class NoReply:
    """A call that got no reply, and why (``call_failed``'s ``why``)."""

    text: str
    why: CallFailure


#: Replaces the SDK for one call: a response, an error text (the call failed
#: without a reply), a :class:`NoReply`, or ``None`` to let the real SDK answer.
Intercept = Callable[[CallSDK], OutboundResponse | str | NoReply | None]


class Harness:
    def __init__(self, **executor_options: Any) -> None:
        self.now = START
        self.outbox: list[dict[str, Any]] = []
        executor_options.setdefault("retry_scale", 0.0)
        self.executor = Executor(**executor_options)
        self.api = InProcessAPI(
            self.executor,
            now=lambda: self.now,
            accept=self._accept_sent,
            apply=self.apply,
            random_bytes=bytes,
        )
        #: What the SDK fetched from ``/v0/runs/{id}/...`` (``use_api``).
        self.fetched = self.api.fetched
        self.client = inngest.Inngest(
            app_id=APP_ID, environ={"INNGEST_DEV": "1"}, transport=self.api
        )
        self._sent = 0
        self.functions: list[inngest.Function[Any]] = []
        self.handler: inngest.CommHandler | None = None
        self.intercept: Intercept | None = None
        self.calls: list[CallSDK] = []
        self.replies: list[OutboundResponse | str | NoReply] = []
        self.emitted: list[dict[str, Any]] = []
        self.finished: dict[str, RunFinished] = {}
        self.started: list[RunStarted] = []
        self.resumed: list[WaitResumed] = []
        self.skipped: list[RunSkipped] = []
        self.timers: dict[str, float] = {}
        self.actions: list[Action] = []
        self._queue: list[CallSDK] = []

    # -- setup --------------------------------------------------------------------

    def serve(self, *functions: inngest.Function[Any]) -> None:
        self.functions = list(functions)
        self.handler = inngest.CommHandler(
            client=self.client, functions=self.functions, framework="test"
        )
        configs = [c for fn in functions for c in fn.get_configs(APP_URL)]
        self.apply(self.executor.register_app(APP_URL, configs, self.now))

    # -- inputs -------------------------------------------------------------------

    def send(self, name: str, data: Mapping[str, Any] | None = None, **kw: Any) -> None:
        event = {"name": name, "data": dict(data or {}), **kw}
        self.apply(self.executor.receive_event(event, self.now))

    def apply(self, actions: Iterable[Action]) -> None:
        for action in actions:
            self.actions.append(action)
            if isinstance(action, CallSDK):
                self._queue.append(action)
            elif isinstance(action, SetTimer):
                self.timers[action.timer_id] = action.at
            elif isinstance(action, CancelTimer):
                self.timers.pop(action.timer_id, None)
            elif isinstance(action, EmitEvent):
                self.emitted.append(action.event)
            elif isinstance(action, RunStarted):
                self.started.append(action)
            elif isinstance(action, RunSkipped):
                self.skipped.append(action)
            elif isinstance(action, RunFinished):
                self.finished[action.run_id] = action
            elif isinstance(action, WaitResumed):
                self.resumed.append(action)
            else:
                msg = f"unexpected action {action!r}"
                raise AssertionError(msg)

    def _accept_sent(self, event: dict[str, Any]) -> str:
        self._sent += 1
        event.setdefault("id", f"sent-{self._sent}")
        self.outbox.append(event)
        return str(event["id"])

    def _flush_outbox(self) -> None:
        while self.outbox:
            self.apply(self.executor.receive_event(self.outbox.pop(0), self.now))

    def _perform(self, call: CallSDK) -> None:
        self.calls.append(call)
        reply = self.intercept(call) if self.intercept is not None else None
        if reply is None:
            assert self.handler is not None
            req = call.request
            incoming = IncomingRequest(
                method=req.method,
                url=req.url,
                headers=req.headers,
                body=req.body,
                query=query_from_url(req.url),
            )
            resp = self.handler.handle_sync(incoming, now=self.now)
            reply = OutboundResponse(resp.status, resp.headers, resp.body)
        self.replies.append(reply)
        # The Event API received what the call sent before its reply arrived.
        self._flush_outbox()
        if isinstance(reply, str):
            actions = self.executor.call_failed(
                call.run_id, call.request_id, reply, self.now
            )
        elif isinstance(reply, NoReply):
            actions = self.executor.call_failed(
                call.run_id, call.request_id, reply.text, self.now, why=reply.why
            )
        else:
            actions = self.executor.call_finished(
                call.run_id, call.request_id, reply, self.now
            )
        self.apply(actions)

    def drain(self, max_calls: int = 500) -> None:
        """Perform queued calls (and the calls they lead to) without moving time."""
        for _ in range(max_calls):
            if not self._queue:
                return
            self._perform(self._queue.pop(0))
        msg = f"still calling after {max_calls} calls"
        raise AssertionError(msg)

    def advance(self) -> bool:
        """Move the clock to the earliest timer and fire it; False if none is set."""
        if not self.timers:
            return False
        timer_id = min(self.timers, key=lambda t: (self.timers[t], t))
        self.now = max(self.now, self.timers.pop(timer_id))
        self.apply(self.executor.timer_fired(timer_id, self.now))
        return True

    def run(self, max_timers: int = 500) -> None:
        """Drain, firing timers as they come due, until nothing is left to do."""
        self.drain()
        for _ in range(max_timers):
            if not self.advance():
                return
            self.drain()
        msg = f"still running after {max_timers} timers"
        raise AssertionError(msg)

    def run_answered_with(self, reply: OutboundResponse) -> Run:
        """The run, to its end, of a function whose every call is answered
        with ``reply`` instead of by the SDK (triggered by ``t/go``)."""

        @self.client.create_function(
            fn_id="answered", trigger=inngest.TriggerEvent(event="t/go")
        )
        def answered(ctx: inngest.ContextSync) -> None:
            raise AssertionError("never called: the reply answers instead")

        self.intercept = lambda call: reply
        self.serve(answered)
        self.send("t/go")
        self.run()
        return self.only_run("answered")

    def sleeping_run(self) -> Run:
        """The run of a function (``sleeper``, on ``t/go``) that sleeps an
        hour, its calls answered and its sleep not over."""

        @self.client.create_function(
            fn_id="sleeper", trigger=inngest.TriggerEvent(event="t/go")
        )
        def sleeper(ctx: inngest.ContextSync) -> str:
            ctx.step.sleep("nap", 3_600_000)
            return "woke"

        self.serve(sleeper)
        self.send("t/go")
        self.drain()  # calls answered, timers not fired
        return self.only_run("sleeper")

    # -- queries ------------------------------------------------------------------

    def only_run(self, fn_id: str) -> Run:
        runs = self.runs(fn_id)
        assert len(runs) == 1, runs
        return runs[0]

    def runs(self, fn_id: str) -> list[Run]:
        composite = f"{APP_ID}-{fn_id}"
        return [
            r for r in self.executor.state.runs.values() if r.function_id == composite
        ]

    def bodies(self, run: Run) -> list[dict[str, Any]]:
        """The call-request bodies sent for ``run``, in order."""
        return [
            json.loads(c.request.body) for c in self.calls if c.run_id == run.run_id
        ]

    def step_ids(self, run: Run) -> list[str]:
        """The ``stepId`` of each call sent for ``run``."""
        return [
            query_from_url(c.request.url)["stepId"]
            for c in self.calls
            if c.run_id == run.run_id
        ]


SDK_HEADERS = {"content-type": "application/json", "x-inngest-sdk": "fake-sdk:v0"}


def fake_reply(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> OutboundResponse:
    """A reply as an SDK would send it (``X-Inngest-SDK`` included)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return OutboundResponse(status, {**SDK_HEADERS, **(headers or {})}, raw)


def op(kind: str, step_id: str, **fields: Any) -> dict[str, Any]:
    """One op of a 206 body, as a fake SDK reports it."""
    return {
        "id": step_id,
        "op": kind,
        "name": step_id,
        "displayName": step_id,
        **fields,
    }
