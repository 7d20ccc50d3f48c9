"""What the dev server takes from browsers: its own names, local pages' writes.

A server on localhost is reachable by every web page its user opens, and
without a signing key it asks for no credentials (the easier target), so
three rules hold in every mode, with or without a signing key:

* **Host** (DNS rebinding): a page on ``evil.example`` whose name is made to
  resolve to 127.0.0.1 talks to us as "its own" origin, so the browser lets
  it read every answer.  Its requests say ``Host: evil.example``; we answer
  only requests for our own names: ``localhost`` (and ``*.localhost``, which
  browsers resolve themselves), loopback addresses, the ``--host`` we bind
  and the address we are bound to, and names allowed with ``--allow-host``.
  When bound to every interface (``0.0.0.0``, ``::``), any IP address is
  ours: an address cannot be rebound, only a name can.
* **Cross-site writes** (CSRF): a page may send a form or a ``text/plain``
  ``fetch`` to any address without asking first.  A request that changes
  state (anything but GET, HEAD, OPTIONS), or opens a WebSocket (which CORS
  does not cover: the realtime stream), and that a browser marks as coming
  from another site (``Origin``, else ``Sec-Fetch-Site``, else ``Referer``)
  is refused unless that page is local: same origin, or on one of the names
  above.  SDKs and scripts send none of these headers, so they are not
  affected.
* **CORS**: answers carry ``Access-Control-Allow-Origin`` only for local
  pages, never ``*``, so a foreign page cannot read events, runs or outputs.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Iterable, Mapping

__all__ = ["SAFE_METHODS", "RequestGuard", "is_same_origin"]

#: Methods that change nothing, so a cross-site page may send them.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::", ""})  # noqa: S104
_CORS = {
    "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
    "access-control-allow-headers": "*",
    "access-control-max-age": "3600",
}
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RequestGuard:
    """The Host, cross-site and CORS rules for one server.

    ``host`` is the address or name it binds (``--host``); ``allowed_hosts``
    more names it answers to.  :meth:`bound` adds the address it got.
    """

    def __init__(self, host: str, allowed_hosts: Iterable[str] = ()) -> None:
        self._names: set[str] = set()
        self._addresses: set[_Address] = set()
        self._any_address = False
        for name in (host, *allowed_hosts):
            self._add(name)

    def _add(self, name: str) -> None:
        name = _normalize(name)
        if name in _WILDCARD_ADDRESSES:
            self._any_address = True
            return
        address = _ip(name)
        if address is None:
            self._names.add(name)
        else:
            self._addresses.add(address)

    def bound(self, address: str) -> None:
        """The address the listener got (``host`` may have been a name)."""
        self._add(address)

    # -- the rules ---------------------------------------------------------------

    def is_own_host(self, host: str) -> bool:
        """Whether ``host`` (a ``Host`` header: name or address, maybe a
        port) names this server."""
        name = _host_name(host)
        if name is None:
            return False
        address = _ip(name)
        if address is not None:
            return (
                self._any_address
                or address.is_loopback
                or address in self._addresses
                # An IPv4 address written as IPv6 (::ffff:127.0.0.1).
                or _unmapped(address) in self._addresses
                or _unmapped(address).is_loopback
            )
        return _is_localhost(name) or name in self._names

    def _is_local_origin(self, origin: str, host: str | None) -> bool:
        """Whether a page at ``origin`` is ours or on this machine."""
        parts = urllib.parse.urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (sandboxed, file://) and the like
        if is_same_origin(origin, host):
            return True
        name = _host_name(parts.netloc)
        if name is None:
            return False
        address = _ip(name)
        if address is not None:
            # Not any address, even when bound to all: a page served from
            # another machine's address is someone else's page.
            return (
                address.is_loopback
                or _unmapped(address).is_loopback
                or address in self._addresses
            )
        return _is_localhost(name) or name in self._names

    def refusal(self, method: str, headers: Mapping[str, str]) -> str | None:
        """Why this request is refused (answer 403), or ``None`` to serve it."""
        host = headers.get("host")
        if host is not None and not self.is_own_host(host):
            name = _host_name(host) or host
            return (
                f"Host {host!r} is not a name of this server, so the request is"
                " refused (it may come from a web page using DNS rebinding);"
                f" start the dev server with --allow-host {name} to allow it"
            )
        # A WebSocket is not subject to CORS: a page of any site may open
        # one and read it, so its handshake (a GET) counts as a write.
        upgrade = headers.get("upgrade", "").strip().lower() == "websocket"
        if method.upper() in SAFE_METHODS and not upgrade:
            return None
        page = self._browser_page(headers)
        if page is not None and not self._is_local_origin(page, host):
            return (
                f"Refused a cross-site request from {page}: web pages on other"
                " sites may not send events or change runs on this server"
            )
        return None

    def _browser_page(self, headers: Mapping[str, str]) -> str | None:
        """Where a browser says the request comes from; ``None`` when it does
        not look like a browser's request from another page."""
        origin = headers.get("origin")
        if origin is not None:
            return origin.strip() or "null"
        site = headers.get("sec-fetch-site", "").strip().lower()
        if site == "cross-site":
            return headers.get("referer") or "another site"
        referer = headers.get("referer")
        if referer:
            parts = urllib.parse.urlsplit(referer)
            return f"{parts.scheme}://{parts.netloc}"
        return None

    def cors_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """CORS headers for the answer: only a local page may read it."""
        origin = headers.get("origin")
        if origin is None or not self._is_local_origin(origin, headers.get("host")):
            return {}
        return {"access-control-allow-origin": origin, "vary": "Origin", **_CORS}


def is_same_origin(origin: str, host: str | None) -> bool:
    """Whether a page at ``origin`` is served by this very server: an
    ``http(s)`` origin whose host and port are the request's ``Host``."""
    parts = urllib.parse.urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or host is None:
        return False  # "null" (sandboxed, file://) and the like
    return parts.netloc.lower() == host.strip().lower()


def _normalize(name: str) -> str:
    name = name.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name


def _host_name(host: str) -> str | None:
    """The name or address of a ``Host`` value (``name``, ``name:port``,
    ``[v6]:port``); ``None`` when it is not one."""
    host = host.strip()
    try:
        parts = urllib.parse.urlsplit(f"//{host}")
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return None
    name = parts.hostname
    if not name or parts.username is not None or parts.path or parts.query:
        return None
    return _normalize(name)


def _ip(name: str) -> _Address | None:
    try:
        return ipaddress.ip_address(name.partition("%")[0])
    except ValueError:
        return None


def _unmapped(address: _Address) -> _Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _is_localhost(name: str) -> bool:
    # Browsers resolve these to loopback themselves (RFC 6761), never by DNS.
    return name == "localhost" or name.endswith(".localhost")
