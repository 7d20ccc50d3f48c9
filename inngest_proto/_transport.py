"""The seam between the core and whatever performs I/O.

A transport sends the :class:`OutboundRequest` values the core builds and
owns the clock and the randomness the core must not read itself.  The httpx
transport (``inngest_transports.http``) is the default when installed: it
names itself in the ``inngest_sansio.transports`` entry point group, so the
core finds it without importing the transports package by name; tests pass a
fake.  Resending with the fallback signing key on 401/403 is protocol,
so it lives here, once, for every transport.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs

from ._errors import LocalProtocolError
from ._http_values import OutboundRequest, OutboundResponse

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "TRANSPORT_ENTRY_POINTS",
    "Transport",
    "default_transport",
    "send",
    "send_sync",
]

_AUTH_FAILED = (401, 403)

#: Seconds a transport waits on each phase of a request (connect, write, read,
#: pool) unless told otherwise: the official SDK's default ``request_timeout``.
DEFAULT_REQUEST_TIMEOUT = 30.0


@runtime_checkable
class Transport(Protocol):
    """Performs requests for the core; sync and async fronts."""

    async def request(self, req: OutboundRequest) -> OutboundResponse:
        """Send ``req``; retry connection errors (and 5xx if ``retry_on_5xx``)."""
        ...

    def request_sync(self, req: OutboundRequest) -> OutboundResponse:
        """Blocking twin of :meth:`request`."""
        ...

    def now(self) -> float:
        """Current Unix time in seconds."""
        ...

    def random_bytes(self, n: int) -> bytes:
        """``n`` bytes of randomness (event-id seeds)."""
        ...


def _with_fallback(req: OutboundRequest) -> OutboundRequest:
    """``req`` with the fallback key's headers, and no further fallback."""
    assert req.fallback_headers is not None
    return attrs.evolve(req, headers=req.fallback_headers, fallback_headers=None)


async def send(transport: Transport, req: OutboundRequest) -> OutboundResponse:
    """Send, resending once with the fallback key's auth on 401/403.

    Only requests that carry ``fallback_headers`` are resent; the second reply
    is returned whatever it is.  Errors the transport raises propagate.
    """
    resp = await transport.request(req)
    if resp.status in _AUTH_FAILED and req.fallback_headers is not None:
        resp = await transport.request(_with_fallback(req))
    return resp


def send_sync(transport: Transport, req: OutboundRequest) -> OutboundResponse:
    """Blocking twin of :func:`send`."""
    resp = transport.request_sync(req)
    if resp.status in _AUTH_FAILED and req.fallback_headers is not None:
        resp = transport.request_sync(_with_fallback(req))
    return resp


#: The entry point group a transport package registers its transports in; the
#: one named ``default`` is the client's transport when none is given.
TRANSPORT_ENTRY_POINTS = "inngest_sansio.transports"


def default_transport(timeout: float | None = DEFAULT_REQUEST_TIMEOUT) -> Transport:
    """The transport registered as the default, if one is installed.

    That is the httpx transport (the ``http`` extra): the distribution
    registers ``inngest_transports.http:HttpTransport`` as ``default`` in
    :data:`TRANSPORT_ENTRY_POINTS`, and the entry point is loaded here, on
    first use.  ``timeout`` is in seconds, ``None`` for none; the client
    passes its ``request_timeout`` here.
    """
    # Imported here, not at the top: importlib.metadata loads email.utils,
    # which imports socket, and importing the core must load no I/O module.
    import importlib.metadata  # noqa: PLC0415

    msg = (
        "no transport to reach Inngest with: install the HTTP transport "
        "(pip install 'inngest-sansio[http]') or pass transport= to Inngest()"
    )
    found = importlib.metadata.entry_points(
        group=TRANSPORT_ENTRY_POINTS, name="default"
    )
    if not found:
        raise LocalProtocolError(msg)
    # Several distributions naming a default would be a broken install; the
    # first one found is used, as importlib.metadata lists them.
    entry_point = next(iter(found))
    try:
        factory = entry_point.load()
    except ImportError as err:
        raise LocalProtocolError(msg) from err
    transport: Transport = factory(timeout=timeout)
    return transport
