"""An embedded, pure-Python Inngest dev server (``pip install 'inngest-sansio[dev]'``).

The executor is :mod:`inngest_proto.executor`; this package is its host: an
HTTP API compatible with the parts of ``inngest dev`` SDKs and tests use
(docs/protocol/devserver-api.rst), a driver performing the executor's
actions, app syncing, and a CLI (``python -m inngest_transports.devserver``).
State is kept in memory.
"""

from __future__ import annotations

from ._apps import App
from ._cli import main
from ._driver import Driver, Store, StoredEvent
from ._gateway import GatewayConfig
from ._server import DEFAULT_PORT, DevServer

__all__ = [
    "DEFAULT_PORT",
    "App",
    "DevServer",
    "Driver",
    "GatewayConfig",
    "Store",
    "StoredEvent",
    "main",
]
