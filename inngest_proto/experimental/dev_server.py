"""``inngest.experimental.dev_server``'s counterpart: ``server`` runs our dev server.

``server.start()`` starts the embedded (pure-Python) dev server and returns
once it answers; ``server.stop()`` stops it; ``server.origin`` and
``server.port`` say where it is.  ``DEV_SERVER_PORT``, ``DEV_SERVER_ENABLED``
and ``DEV_SERVER_LOGS`` are honoured as by the official helper, which starts
the Go dev server through npx; ours needs no Node.  See
:class:`inngest_transports.devserver.managed.ManagedDevServer`.

The core does no I/O: the server lives in ``inngest_transports``, which
registers it as ``default`` in the ``inngest_sansio.dev_servers`` entry point
group; it is loaded only when ``server`` is first used, and built then
(reading the environment at that moment, not at import).  The core never
imports the transports package by name.
"""

from __future__ import annotations

from typing import Any, Protocol

from .._errors import LocalProtocolError

__all__ = ["DEV_SERVER_ENTRY_POINTS", "DevServerHandle", "server"]

#: The entry point group the dev server registers itself in, as ``default``.
DEV_SERVER_ENTRY_POINTS = "inngest_sansio.dev_servers"


class DevServerHandle(Protocol):
    """What ``server`` offers, as the official helper does."""

    @property
    def port(self) -> int: ...

    @property
    def origin(self) -> str: ...

    @property
    def enabled(self) -> bool: ...

    @property
    def is_running(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


#: Declared for type checkers; made by ``__getattr__`` on first use.
server: DevServerHandle
_server: DevServerHandle | None = None


def _load_server() -> DevServerHandle:
    # Imported here: importlib.metadata loads email.utils, which imports
    # socket, and importing the core must load no I/O module.
    import importlib.metadata  # noqa: PLC0415

    msg = "no dev server to start: install it with pip install 'inngest-sansio[dev]'"
    found = importlib.metadata.entry_points(
        group=DEV_SERVER_ENTRY_POINTS, name="default"
    )
    if not found:
        raise LocalProtocolError(msg)
    try:
        factory = next(iter(found)).load()
    except ImportError as err:
        raise LocalProtocolError(msg) from err
    handle: DevServerHandle = factory()
    return handle


def __getattr__(name: str) -> Any:
    if name != "server":
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    global _server  # noqa: PLW0603 - one server per process, as the official one
    if _server is None:
        _server = _load_server()
    return _server
