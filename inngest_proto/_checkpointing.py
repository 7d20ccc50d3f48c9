"""Checkpointing: run consecutive steps in one call request
(docs/protocol/executor.rst#async-checkpoints).

Without it every ``step.run`` ends the call request: the SDK answers 206
with the step's output and Inngest calls again, replaying every memo so far,
so a run of N steps costs N round trips and O(N^2) replays.  With it, a step
that ran is buffered and the function goes on; the buffered ``StepRun`` ops
are saved with ``POST /v1/checkpoint/{runId}/async`` (which also resets the
call's attempt counter: checkpointed work is progress) before the call is
answered, so a run of N sequential steps takes one call (per ``max_steps``)
and O(N) work.

The call stops checkpointing, and ends the usual way at the next step, once
``max_steps`` steps ran in it or ``max_runtime`` passed since it began, so a
call never outlives the executor's request timeout.  When a checkpoint
cannot be saved (network, a 4xx), the call is answered with the first step
whose output was not saved, as if checkpointing were off: the steps after it
run again on a later call, the at-least-once guarantee every step has.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ._engine import Outcome, ReportInterrupt, StepsReported
from ._errors import TransportError
from ._outbound import build_checkpoint_request
from ._transport import send, send_sync

if TYPE_CHECKING:
    from ._call_request import CallRequest
    from ._client import Inngest
    from ._http_values import OutboundRequest, OutboundResponse
    from ._opcodes import StepOp

__all__ = ["Checkpointer", "Checkpointing"]


def _positive_int(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"Checkpointing.{attribute.name} must be a positive int, got {value!r}"
        raise ValueError(msg)


def _positive_delta(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, datetime.timedelta) or value <= datetime.timedelta(0):
        msg = f"Checkpointing.{attribute.name} must be a positive timedelta"
        raise ValueError(msg)


def _optional_positive_int(
    instance: object, attribute: attrs.Attribute[Any], value: object
) -> None:
    if value is not None:
        _positive_int(instance, attribute, value)


@attrs.frozen(kw_only=True)
class Checkpointing:
    """``Inngest(checkpointing=...)``: how many steps one call may run.

    ``max_steps`` steps at most run in one call request; after
    ``max_runtime`` no new step starts in it.  ``flush_every`` saves the
    buffered steps every so many steps (``None``: once, when the call ends;
    fewer round trips, but a crash mid-call loses more finished work).
    """

    max_steps: int = attrs.field(default=100, validator=_positive_int)
    max_runtime: datetime.timedelta = attrs.field(
        default=datetime.timedelta(seconds=60), validator=_positive_delta
    )
    flush_every: int | None = attrs.field(
        default=None, validator=_optional_positive_int
    )


def checkpointing_option(value: object) -> Checkpointing | None:
    """``Inngest(checkpointing=...)``: ``True``, ``False``/``None`` or options."""
    if value is None or value is False:
        return None
    if value is True:
        return Checkpointing()
    if isinstance(value, Checkpointing):
        return value
    msg = (
        "Inngest(checkpointing=...) takes True, False or inngest.Checkpointing(...), "
        f"got {type(value).__name__}"
    )
    raise TypeError(msg)


class Checkpointer:
    """The steps one call request ran and has not saved yet."""

    __slots__ = ("_broken", "_client", "_config", "_ctx", "_pending", "_ran", "_start")

    def __init__(
        self, client: Inngest, config: Checkpointing, request: CallRequest
    ) -> None:
        self._client = client
        self._config = config
        self._ctx = request.ctx
        self._start = client.transport.now()
        self._pending: list[StepOp] = []
        self._ran = 0
        self._broken = False

    @classmethod
    def for_call(
        cls, client: Inngest, request: CallRequest, target: str | None
    ) -> Checkpointer | None:
        """A checkpointer when this call may run several steps, else ``None``.

        Not for a call targeting one step (a parallel step's own call), nor
        one told to plan steps, nor one without a queue item to name.
        """
        config = client.checkpointing
        ctx = request.ctx
        if (
            config is None
            or target is not None
            or ctx.disable_immediate_execution
            or not ctx.qi_id
        ):
            return None
        return cls(client, config, request)

    def has_room(self) -> bool:
        """Whether the step that just ran may be buffered (the call goes on)."""
        if self._broken or self._ran >= self._config.max_steps:
            return False
        elapsed = self._client.transport.now() - self._start
        return elapsed < self._config.max_runtime.total_seconds()

    # -- async ------------------------------------------------------------------------

    async def add(self, op: StepOp) -> None:
        """Buffer a step that ran; save the buffer when it is full."""
        self._buffer(op)
        if self._due() and not await self.flush():
            raise self._give_up()

    async def flush(self) -> bool:
        if not self._pending:
            return True
        try:
            resp = await send(self._client.transport, self._request())
        except TransportError as err:
            return self._failed(f"{type(err).__name__}: {err}")
        return self._saved(resp)

    async def finish(self, outcome: Outcome) -> Outcome:
        """Save what is left before the call is answered."""
        if not self._pending or (not self._broken and await self.flush()):
            return outcome
        return self._fallback()

    # -- sync -------------------------------------------------------------------------

    def add_sync(self, op: StepOp) -> None:
        self._buffer(op)
        if self._due() and not self.flush_sync():
            raise self._give_up()

    def flush_sync(self) -> bool:
        if not self._pending:
            return True
        try:
            resp = send_sync(self._client.transport, self._request())
        except TransportError as err:
            return self._failed(f"{type(err).__name__}: {err}")
        return self._saved(resp)

    def finish_sync(self, outcome: Outcome) -> Outcome:
        if not self._pending or (not self._broken and self.flush_sync()):
            return outcome
        return self._fallback()

    # -- shared -----------------------------------------------------------------------

    def _buffer(self, op: StepOp) -> None:
        self._pending.append(op)
        self._ran += 1

    def _due(self) -> bool:
        every = self._config.flush_every
        return every is not None and len(self._pending) >= every

    def _request(self) -> OutboundRequest:
        return build_checkpoint_request(self._client.settings, self._ctx, self._pending)

    def _saved(self, resp: OutboundResponse) -> bool:
        if 200 <= resp.status < 300:
            self._pending.clear()
            return True
        text = resp.body[:200].decode("utf-8", "replace")
        return self._failed(f"HTTP {resp.status} {text}")

    def _failed(self, why: str) -> bool:
        self._broken = True
        self._client.logger.warning(
            "inngest: could not checkpoint %d step(s) of run %s (%s); answering "
            "with the first, the others will run again",
            len(self._pending),
            self._ctx.run_id,
            why,
        )
        return False

    def _give_up(self) -> ReportInterrupt:
        return ReportInterrupt([self._pending[0]])

    def _fallback(self) -> Outcome:
        return StepsReported((self._pending[0],))
