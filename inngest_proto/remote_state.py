"""Large payloads: keep big step outputs in your own store, not in Inngest.

Every call request carries the output of every step done so far, so a run
whose steps return megabytes pays for them again on each replay, and Inngest
caps one step's output (4 MiB) and a run's whole state.  This middleware
writes a ``step.run`` output whose JSON encoding is larger than
``threshold_bytes`` to a *driver* (a store such as S3) and sends Inngest a
small *reference* instead; when a later request brings the reference back as
a memo, the driver loads the value and the function sees it unchanged.
Outputs at or under the threshold stay inline, as without the middleware.

The reference is the one the official SDK's
``inngest.experimental.remote_state_middleware`` writes, so a run started by
either SDK can be finished by the other::

    {"__REMOTE_STATE__": true, "__STRATEGY__": "inngest/s3",
     "bucket": "...", "key": "inngest/remote_state/<run id>/<random>"}

This module is sans-IO: it decides *what* to store and load; the driver does
the I/O.  Drivers are synchronous, like the official SDK's (boto3 is), so in
an ``async def`` function a driver call blocks the event loop for as long as
the store takes to answer.  The concrete drivers live in
``inngest_transports.remote_state``.

Only ``step.run`` outputs are offloaded.  The function's own return value
stays inline: it is the run's result that ``step.invoke`` callers, the
``inngest/function.finished`` event and the REST API hand to code that may not
share your store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeGuard

from ._errors import InngestError, NonRetriableError
from ._middleware import MiddlewareSync, TransformOutputResult
from ._opcodes import Opcode

if TYPE_CHECKING:
    from ._client import Inngest
    from ._context import Context, ContextSync
    from ._function import Function
    from ._memos import StepMemo, StepMemos

__all__ = [
    "DEFAULT_THRESHOLD_BYTES",
    "REMOTE_STATE_MARKER",
    "STRATEGY_MARKER",
    "RemoteStateError",
    "RemoteStateLostError",
    "RemoteStateMiddleware",
    "StateDriver",
    "is_reference",
    "json_size",
    "make_reference",
    "reference_field",
    "references",
]

#: Key whose presence marks a step output as a reference (official SDK's name).
REMOTE_STATE_MARKER: Final = "__REMOTE_STATE__"
#: Key naming the driver that wrote the reference, e.g. ``"inngest/s3"``.
STRATEGY_MARKER: Final = "__STRATEGY__"

#: 64 KiB.  Below this a payload costs Inngest little and a store round trip
#: (tens of milliseconds to S3, on every replay) would cost more than it
#: saves; above it, a few dozen such outputs would already push a call request
#: towards the 4 MiB at which the executor stops inlining state.
DEFAULT_THRESHOLD_BYTES: Final = 64 * 1024


class RemoteStateError(InngestError):
    """The store failed or cannot serve a reference; the run is retried.

    Raised for network errors, throttling, denied access, a driver that does
    not know the reference's strategy or bucket: things a retry or a fixed
    deploy can mend.
    """


class RemoteStateLostError(RemoteStateError, NonRetriableError):
    """The payload a reference points to is gone or unreadable.

    Non-retriable: a deleted or corrupt object does not come back, so each
    retry would replay the function only to fail the same way, hours later.
    The run fails at once with this message instead.
    """


class StateDriver(Protocol):
    """A store for step outputs; the official SDK's driver protocol.

    Methods are synchronous and may do I/O.  A driver written for the
    official SDK works here unchanged.
    """

    def load_steps(self, steps: StepMemos) -> None:
        """Replace the ``data`` of each memo holding one of this driver's
        references (see :func:`references`) with the stored value.

        Raise :class:`RemoteStateLostError` when the value is gone and
        :class:`RemoteStateError` when the store fails.
        """
        ...

    def save_step(self, run_id: str, value: object) -> dict[str, object]:
        """Store ``value`` (a JSON-ready step output) and return its reference
        (built with :func:`make_reference`)."""
        ...


def make_reference(strategy: str, **fields: str) -> dict[str, object]:
    """The reference a driver returns: the markers plus where to find the value."""
    return {REMOTE_STATE_MARKER: True, STRATEGY_MARKER: strategy, **fields}


def is_reference(
    value: object, strategy: str | None = None
) -> TypeGuard[dict[str, Any]]:
    """Whether ``value`` is a reference (of ``strategy``, when given).

    Like the official SDK, the marker key's presence is what counts.
    """
    if not isinstance(value, dict) or REMOTE_STATE_MARKER not in value:
        return False
    found = value.get(STRATEGY_MARKER)
    if not isinstance(found, str):
        return False
    return strategy is None or found == strategy


def reference_field(reference: dict[str, Any], name: str) -> str:
    """A required string field of a reference; a damaged one fails the run.

    A reference the SDK wrote always has its fields, so a missing one means
    the stored state was altered; retrying cannot repair it.
    """
    value = reference.get(name)
    if not isinstance(value, str) or not value:
        strategy = reference.get(STRATEGY_MARKER)
        msg = (
            f"remote state reference of strategy {strategy!r} has no valid "
            f"{name!r} field (got {value!r}); the run's stored state is damaged"
        )
        raise RemoteStateLostError(msg)
    return value


def references(
    steps: StepMemos, strategy: str
) -> Iterator[tuple[StepMemo, dict[str, Any]]]:
    """``(memo, reference)`` for each memo whose data is a ``strategy`` reference.

    For drivers' :meth:`StateDriver.load_steps`: assign ``memo.data``.
    """
    for memo in steps.values():
        data = memo.data
        if memo.error is None and is_reference(data, strategy):
            yield memo, data


class _Stop(Exception):
    """Counting passed the limit; the rest of the encoding is not needed."""


def json_size(value: object, *, limit: int | None = None) -> int:
    """Bytes of ``value``'s JSON encoding as the SDK puts it on the wire.

    The encoding is ``json.dumps``' default (ASCII only, so characters are
    bytes).  With ``limit``, counting stops as soon as the size exceeds it and
    the result is then only known to be ``> limit``: checking a 100 MiB
    output against 64 KiB encodes about 64 KiB of it.  Raises ``TypeError``
    or ``ValueError`` for values JSON cannot encode.
    """
    encoder = json.JSONEncoder(allow_nan=False)
    if limit is None:
        return len(encoder.encode(value))
    size = 0
    try:
        # iterencode yields the text piece by piece, so a huge value is not
        # encoded in full just to learn that it is over the limit.
        for chunk in encoder.iterencode(value):
            size += len(chunk)
            if size > limit:
                raise _Stop
    except _Stop:
        pass
    return size


def _check_threshold(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"threshold_bytes must be an int >= 0 (bytes), got {value!r}"
        raise ValueError(msg)
    return value


class RemoteStateMiddleware(MiddlewareSync):
    """Offloads ``step.run`` outputs over ``threshold_bytes`` to a driver.

    Give it to a client or a function with :meth:`factory`::

        driver = S3Driver(bucket="my-bucket")
        client = inngest.Inngest(
            app_id="app",
            middleware=[RemoteStateMiddleware.factory(driver)],
        )

    ``threshold_bytes=0`` offloads every ``step.run`` output, as the official
    SDK's middleware does.
    """

    def __init__(
        self,
        client: Inngest,
        raw_request: object,
        driver: StateDriver,
        *,
        threshold_bytes: int = DEFAULT_THRESHOLD_BYTES,
    ) -> None:
        super().__init__(client, raw_request)
        self._driver = driver
        self._threshold = _check_threshold(threshold_bytes)
        self._run_id: str | None = None

    @classmethod
    def factory(
        cls,
        driver: StateDriver,
        *,
        threshold_bytes: int = DEFAULT_THRESHOLD_BYTES,
    ) -> Callable[[Inngest, object], RemoteStateMiddleware]:
        """A middleware factory for ``Inngest(middleware=[...])`` or a function.

        ``threshold_bytes``: outputs whose JSON encoding is larger go to the
        driver; the rest stay inline.  Checked here, so a bad value fails at
        startup rather than in a run.
        """
        _check_threshold(threshold_bytes)

        def _factory(client: Inngest, raw_request: object) -> RemoteStateMiddleware:
            return cls(client, raw_request, driver, threshold_bytes=threshold_bytes)

        return _factory

    @property
    def threshold_bytes(self) -> int:
        return self._threshold

    def transform_input(
        self,
        ctx: Context | ContextSync,
        function: Function[Any],
        steps: StepMemos,
    ) -> None:
        """Load referenced outputs so the function replays real values."""
        self._run_id = ctx.run_id
        held = [
            (memo, memo.data)
            for memo in steps.values()
            if memo.error is None and is_reference(memo.data)
        ]
        if not held:
            return  # nothing offloaded yet: no store round trip
        self._driver.load_steps(steps)
        for memo, reference in held:
            # Still the very reference object: no driver claimed it.  Letting
            # the function see the marker dict as its step's output would be
            # a silent wrong answer; a retry after a config fix can succeed.
            if memo.data is reference:
                msg = (
                    f"step output is a remote state reference of strategy "
                    f"{reference[STRATEGY_MARKER]!r} that "
                    f"{type(self._driver).__name__} did not load; configure "
                    "the driver that stored it"
                )
                raise RemoteStateError(msg)

    def transform_output(self, result: TransformOutputResult) -> None:
        """Store a large ``step.run`` output and send its reference instead."""
        step = result.step
        if step is None or step.op != Opcode.STEP_RUN or not result.has_output():
            return
        output = result.output
        # A small output that merely looks like a reference is stored too:
        # inline, it would be taken for one on replay.
        if not is_reference(output) and not self._over_threshold(output):
            return
        if self._run_id is None:
            msg = "RemoteStateMiddleware.transform_output ran before transform_input"
            raise RuntimeError(msg)
        reference = self._driver.save_step(self._run_id, output)
        if not is_reference(reference):
            msg = (
                f"{type(self._driver).__name__}.save_step returned "
                f"{reference!r}, not a reference; build it with make_reference()"
            )
            raise TypeError(msg)
        result.output = reference

    def _over_threshold(self, output: object) -> bool:
        try:
            return json_size(output, limit=self._threshold) > self._threshold
        except (TypeError, ValueError, RecursionError):
            # Not JSON: leave it for the SDK's serializer, which reports it
            # the usual way (OutputUnserializableError).
            return False
