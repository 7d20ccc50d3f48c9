"""Saying that a server or worker is ready, where its user will see it.

A server started with ``Server(...).run()`` or a Connect worker says where it
listens, or which gateway it reached, in one line at INFO.  When the program
has configured logging (a handler on the logger or on any logger it
propagates to, e.g. after ``logging.basicConfig()``), the line goes through
it like any other record, with its level and format.  When logging is not
configured at all, Python would show warnings only (its last-resort
handler), and the one line that tells where to point a browser or whether
the worker is connected would be lost: then it is written to stderr as it
is, as ``python -m http.server`` or Flask's development server print where
they serve.  Nothing is added to the program's logging configuration.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["announce"]


def announce(logger: logging.Logger, message: str, *args: object) -> None:
    """Log ``message % args`` at INFO, or write it to stderr if logging is
    not configured (see the module's docstring)."""
    if logger.hasHandlers():
        logger.info(message, *args)
        return
    print(message % args if args else message, file=sys.stderr, flush=True)
