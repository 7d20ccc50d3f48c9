"""``inngest.experimental.dev_server``'s counterpart: ``server`` runs our dev server.

``server.start()`` starts the embedded (pure-Python) dev server and returns
once it answers; ``server.stop()`` stops it; ``server.origin`` and
``server.port`` say where it is.  ``DEV_SERVER_PORT``, ``DEV_SERVER_ENABLED``
and ``DEV_SERVER_LOGS`` are honoured as by the official helper, which starts
the Go dev server through npx; ours needs no Node.  See
:class:`inngest_transports.devserver.managed.ManagedDevServer`.

The core does no I/O: the server lives in ``inngest_transports``, imported
only when ``server`` is first used, and built then (reading the environment
at that moment, not at import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inngest_transports.devserver.managed import ManagedDevServer

__all__ = ["server"]

#: Declared for type checkers; made by ``__getattr__`` on first use.
server: ManagedDevServer
_server: ManagedDevServer | None = None


def __getattr__(name: str) -> Any:
    if name != "server":
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    global _server  # noqa: PLW0603 - one server per process, as the official one
    if _server is None:
        from inngest_transports.devserver.managed import ManagedDevServer  # noqa: PLC0415

        _server = ManagedDevServer()
    return _server
