"""What ``inngest-dev`` prints: its own log lines, and other libraries' only
when they warn.

The server logs through ``inngest`` (and the executor through
``inngest_proto``): one line per run as it starts and ends, per app sync,
and at start.  Libraries it uses log too (httpx logs every request it sends
at INFO, which would be most of the output), so they are held at WARNING,
or at ``--log-level`` when that is stricter.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
from collections.abc import Generator
from typing import IO, Any

__all__ = ["LEVELS", "JsonFormatter", "logging_configured"]

#: ``--log-level`` choices, as the ``logging`` module names them.
LEVELS = ("debug", "info", "warning", "error", "critical")
#: The loggers whose level ``--log-level`` sets; everything else is a library.
OWN_LOGGERS = ("inngest", "inngest_proto", "inngest_transports")
_TEXT_FORMAT = "%(asctime)s %(message)s"
#: Fields the SDK adds to records logged during a run (``ctx.logger``).
_RUN_FIELDS = (
    "inngest_run_id",
    "inngest_function_id",
    "inngest_step_id",
    "inngest_attempt",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, RFC 3339), ``level``,
    ``logger``, ``message``, and ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
        entry: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _RUN_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


#: The ``--log-level`` choices and their numbers.
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


@contextlib.contextmanager
def logging_configured(
    level: str, *, json_lines: bool, stream: IO[str]
) -> Generator[None, None, None]:
    """Log to ``stream`` while inside: our loggers at ``level``, others at
    WARNING (or ``level`` if stricter); as text lines or JSON lines.

    Everything is put back on exit, so that calling the command from Python
    (as the tests do) leaves the process's logging as it found it.
    """
    own_level = _LEVELS[level.lower()]
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter(_TEXT_FORMAT)
    )
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in OWN_LOGGERS}
    saved_root = root.level
    root.addHandler(handler)
    root.setLevel(max(logging.WARNING, own_level))
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(own_level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root)
        for name, before in saved.items():
            logging.getLogger(name).setLevel(before)
