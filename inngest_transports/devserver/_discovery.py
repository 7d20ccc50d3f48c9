"""Finding apps on this machine, as ``inngest dev`` does unless ``--no-discovery``.

Each round connects to the ports web frameworks usually serve on (and
``$PORT``), on 127.0.0.1 only, all at once; on each port that accepts, it
GETs the paths Inngest apps are usually served at.  A URL whose answer
carries ``X-Inngest-SDK`` is an app: the server syncs it like one given
with ``-u``.  Nothing but 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import os
from collections.abc import Collection

import anyio

from inngest_proto.errors import TransportError
from inngest_proto.wire import OutboundRequest

from ._app_client import AppTransport

__all__ = ["DISCOVERY_PATHS", "DISCOVERY_PORTS", "Discovery"]

#: The ports ``inngest dev`` scans: Rails, Express and Next.js, Django/Flask,
#: Vite, the usual 8000s, Redwood.
DISCOVERY_PORTS = (
    80,
    443,
    *range(3000, 3011),
    5000,
    5173,
    8000,
    8080,
    8081,
    8888,
    *range(8910, 8916),
)
#: Where apps are usually served.
DISCOVERY_PATHS = (
    "/api/inngest",
    "/x/inngest",
    "/.netlify/functions/inngest",
    "/.redwood/functions/inngest",
)
_HOST = "127.0.0.1"
_TIMEOUT = 2.0


class Discovery:
    """Scans for apps on ``ports`` (by default :data:`DISCOVERY_PORTS` and
    ``$PORT``, as each scan starts); ``own_ports`` (the server's) are skipped."""

    def __init__(
        self, own_ports: Collection[int], ports: Collection[int] | None = None
    ) -> None:
        self._own = set(own_ports)
        self._ports = None if ports is None else set(ports)
        self._transport = AppTransport(_TIMEOUT)

    def _targets(self) -> list[int]:
        ports = set(DISCOVERY_PORTS) if self._ports is None else set(self._ports)
        extra = os.environ.get("PORT", "") if self._ports is None else ""
        if extra.isdigit() and 0 < int(extra) < 65536:
            ports.add(int(extra))
        return sorted(ports - self._own)

    async def scan(self) -> list[str]:
        """The URLs of the apps that answer now."""
        open_ports: list[int] = []

        async def probe(port: int) -> None:
            with anyio.move_on_after(_TIMEOUT):
                try:
                    stream = await anyio.connect_tcp(_HOST, port)
                except OSError:
                    return
                await stream.aclose()
                open_ports.append(port)

        async with anyio.create_task_group() as tg:
            for port in self._targets():
                tg.start_soon(probe, port)
        found: list[str] = []
        for port in sorted(open_ports):
            for path in DISCOVERY_PATHS:
                url = f"http://{_HOST}:{port}{path}"
                if await self._is_app(url):
                    found.append(url)
        return found

    async def _is_app(self, url: str) -> bool:
        request = OutboundRequest(method="GET", url=url, headers={})
        try:
            response = await self._transport.request(request)
        except TransportError:
            return False
        return bool(response.headers.get("x-inngest-sdk"))

    async def aclose(self) -> None:
        await self._transport.aclose()
