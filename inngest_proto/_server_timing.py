"""The informational ``Server-Timing`` header, with the official SDK's entries.

Inngest does not read it; people read it in the dev server's UI and their
proxies' logs, so it names what the official SDK names:

- ``comm_handler``: the whole request;
- ``async_block``: how long the request's own code held the event loop
  (async driver only);
- ``use_api``: fetching a run's state that was too big to send;
- ``mw.transform_input`` and ``mw.transform_output``: those middleware hooks;
- ``function``: the function's handler, without the middleware hooks that
  ran inside it (a step's ``transform_output``, ``before_execution``...).

Entries are listed by when they started; each times its first occurrence
only, as the official SDK's do.  Durations are whole milliseconds, rounded
down.  Time comes from a timer the host passes in (``time.perf_counter``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["ServerTimings", "Timer", "timing_the_loop"]

_T = TypeVar("_T")

#: A monotonic clock in seconds, e.g. ``time.perf_counter``.
Timer = Callable[[], float]

#: Middleware hooks with an entry of their own.
_TIMED_HOOKS = frozenset({"transform_input", "transform_output"})


class ServerTimings:
    """The durations of one request, read from ``timer``."""

    __slots__ = ("_blocked", "_excluded", "_spans", "_timer")

    def __init__(self, timer: Timer) -> None:
        self._timer = timer
        #: name -> [start, end]; insertion order breaks ties between starts.
        self._spans: dict[str, list[float]] = {}
        #: Middleware time inside the open ``function`` span.
        self._excluded = 0.0
        #: Seconds of ``async_block``, when the async driver measures it.
        self._blocked: float | None = None
        self.begin("comm_handler")

    def now(self) -> float:
        return self._timer()

    def begin(self, name: str) -> None:
        """Start ``name`` (its first start counts)."""
        if name not in self._spans:
            self._spans[name] = [self._timer()]  # open: only a start

    def end(self, name: str) -> None:
        """End ``name`` (its first end counts)."""
        span = self._spans.get(name)
        if span is not None and len(span) == 1:
            span.append(self._timer())

    def middleware_ran(self, hook: str, started: float) -> None:
        """A middleware hook ran from ``started`` until now."""
        ended = self._timer()
        name = f"mw.{hook}"
        if hook in _TIMED_HOOKS and name not in self._spans:
            self._spans[name] = [started, ended]
        function = self._spans.get("function")
        if function is not None and len(function) == 1:
            self._excluded += ended - started

    def blocked(self, seconds: float) -> None:
        """The async driver's measure of how long the event loop was held."""
        self._blocked = seconds

    def header(self) -> str:
        """The header's value; ends ``comm_handler`` if still open."""
        self.end("comm_handler")
        entries: list[tuple[float, str, float]] = []
        for name, span in self._spans.items():
            if len(span) != 2:
                continue
            start, end = span
            seconds = end - start
            if name == "function":
                seconds -= self._excluded
            entries.append((start, name, seconds))
        if self._blocked is not None:
            # Started with comm_handler (always the first span), as the
            # official SDK's, which lists it second.
            start = self._spans["comm_handler"][0]
            entries.insert(1, (start, "async_block", self._blocked))
        entries.sort(key=lambda entry: entry[0])  # stable: ties keep their order
        return ", ".join(
            f"{name};dur={max(int(seconds * 1000), 0)}" for _, name, seconds in entries
        )


class _LoopHolding(Awaitable[_T]):
    """Awaits a coroutine, timing each stretch it runs before suspending.

    Between two suspensions a coroutine holds the event loop; the sum of
    those stretches is the request's ``async_block``.  The coroutine
    protocol alone is enough (no event-loop API), so this works on any loop.
    """

    __slots__ = ("_coro", "_timings")

    def __init__(self, coro: Coroutine[Any, Any, _T], timings: ServerTimings) -> None:
        self._coro = coro
        self._timings = timings

    def __await__(self) -> Generator[Any, Any, _T]:
        coro, timer = self._coro, self._timings.now
        held = 0.0
        value: Any = None
        error: BaseException | None = None
        try:
            while True:
                started = timer()
                try:
                    if error is not None:
                        suspended = coro.throw(error)
                    else:
                        suspended = coro.send(value)
                except StopIteration as stop:
                    result: _T = stop.value
                    return result
                finally:
                    held += timer() - started
                try:
                    value, error = (yield suspended), None
                except GeneratorExit:
                    coro.close()
                    raise
                except BaseException as err:  # cancellation: the coroutine decides
                    value, error = None, err
        finally:
            self._timings.blocked(held)


def timing_the_loop(
    coro: Coroutine[Any, Any, _T], timings: ServerTimings
) -> Awaitable[_T]:
    """``coro``, awaited while timing how long it holds the event loop."""
    return _LoopHolding(coro, timings)
