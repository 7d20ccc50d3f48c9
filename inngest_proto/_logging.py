"""Replay-safe logging: drop what code logs while it is only being replayed.

Each call request re-runs the user function from the top, returning memoized
step outputs until it reaches work not done yet.  A log line before that point
was already emitted by an earlier request; emitting it again would repeat it
once per request.  :class:`ReplaySafeLogger` (``ctx.logger``) and
:class:`ReplayFilter` (for any stdlib logger or handler) drop such records and
tag the others with the run's ids.

Which request is running is kept in a context variable that the engine sets
around the user function, so a plain ``logging.getLogger(...)`` with a
:class:`ReplayFilter` sees it too.  Outside any run the filter lets every
record through.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

from ._engine import Execution

__all__ = ["LoggingRun", "ReplayFilter", "ReplaySafeLogger", "RunLog", "current_run"]

#: The extra fields every record logged during a run carries.
EXTRA_FIELDS = (
    "inngest_run_id",
    "inngest_function_id",
    "inngest_step_id",
    "inngest_attempt",
)


class RunLog:
    """One call request, as logging sees it: replaying or not, and its ids."""

    __slots__ = ("_exe", "attempt", "function_id", "run_id")

    def __init__(
        self, exe: Execution, *, run_id: str, function_id: str, attempt: int
    ) -> None:
        self._exe = exe
        self.run_id = run_id
        self.function_id = function_id
        self.attempt = attempt

    @property
    def replaying(self) -> bool:
        """True until the function reaches work that no earlier request did."""
        return self._exe.replaying

    def extra(self) -> dict[str, Any]:
        """The fields added to each record (``inngest_step_id`` inside a step)."""
        return {
            "inngest_run_id": self.run_id,
            "inngest_function_id": self.function_id,
            "inngest_step_id": self._exe.step_id,
            "inngest_attempt": self.attempt,
        }


_current: contextvars.ContextVar[RunLog | None] = contextvars.ContextVar(
    "inngest_proto_run_log", default=None
)


def current_run() -> RunLog | None:
    """The call request whose user code is running here, if any."""
    return _current.get()


class LoggingRun:
    """Makes ``run`` the current request while a ``with`` block runs.

    A class rather than a ``@contextmanager`` generator: it is entered for
    every call request, and costs a third as much.
    """

    __slots__ = ("_run", "_token")

    def __init__(self, run: RunLog) -> None:
        self._run = run

    def __enter__(self) -> None:
        self._token = _current.set(self._run)

    def __exit__(self, *exc_info: object) -> None:
        _current.reset(self._token)


class ReplayFilter(logging.Filter):
    """Drop records logged while a run replays memoized steps; tag the rest.

    Attach it to a handler (it then sees records of every logger that reaches
    the handler) or to a logger (records created on that logger only).  Records
    logged during a run get ``inngest_run_id``, ``inngest_function_id``,
    ``inngest_step_id`` and ``inngest_attempt`` attributes unless already set;
    records logged outside any run pass unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        run = _current.get()
        if run is None:
            return True
        if run.replaying:
            return False
        for key, value in run.extra().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


_STDLIB = (logging.Logger, logging.LoggerAdapter)


class ReplaySafeLogger:
    """``ctx.logger``: the client's logger, silent while the run replays.

    For a stdlib logger (or adapter) each record gets the run's ids as
    ``extra`` fields (a caller's own ``extra`` wins); any other logger object
    is called as is.  Other attributes are the wrapped logger's.
    """

    __slots__ = ("_logger", "_run")

    def __init__(self, logger: Any, run: RunLog) -> None:
        self._logger = logger
        self._run = run

    @property
    def logger(self) -> Any:
        """The wrapped logger."""
        return self._logger

    def _emit(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self._run.replaying:
            return
        if isinstance(self._logger, _STDLIB):
            kwargs["extra"] = {**self._run.extra(), **(kwargs.get("extra") or {})}
            # Report the caller's line, not this method's nor _emit's.
            kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 2
        getattr(self._logger, method)(*args, **kwargs)

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._emit("debug", msg, *args, **kwargs)

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._emit("info", msg, *args, **kwargs)

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._emit("warning", msg, *args, **kwargs)

    def warn(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._emit("warning", msg, *args, **kwargs)

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._emit("error", msg, *args, **kwargs)

    def exception(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._emit("exception", msg, *args, **kwargs)

    def critical(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._emit("critical", msg, *args, **kwargs)

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        self._emit("log", level, msg, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)

    def __repr__(self) -> str:
        return f"<ReplaySafeLogger {self._logger!r}>"
