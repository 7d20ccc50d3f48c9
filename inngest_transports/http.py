"""The httpx transport: sends the core's requests, blocking or async, with retries.

:class:`HttpTransport` implements :class:`inngest_proto.Transport`.  It is what
``Inngest`` uses when no ``transport=`` is given (``pip install
'inngest-sansio[http]'``).  The async side runs on asyncio and on trio: httpx
does its I/O through anyio, and so do the sleeps between attempts.

When a request is resent (docs/protocol/events.rst#sending-events):

* A failure while connecting (refused, DNS, TLS, connect or pool timeout):
  always, for every request.  Nothing reached the server, so resending
  cannot duplicate anything.
* A failure after the request may have been sent (read or write timeout,
  connection reset, the server hanging up without a reply): only when the
  request is safe to resend, that is ``retry_on_5xx`` (events: the server
  dedupes on ``x-inngest-event-id-seed``) or a GET (run-data fetches).  The
  register POST is not resent then.  ``/fn/register`` is an upsert, so a
  duplicate would be harmless, but it runs inside the sync PUT whose sender
  is waiting for it: after a slow or dropped reply, five more full-timeout
  attempts would outlast that wait.  Failing fast answers the PUT with a
  500 and lets the Dev Server or Cloud retry the whole sync.
* HTTP >= 500: only when ``retry_on_5xx``.  The last 5xx reply is returned,
  not raised; the core's parsers turn it into an error that shows the
  server's status and body.

The same :class:`OutboundRequest` (same body, same seed header) is resent
every time.  The delay before retry ``k`` (``k = 1`` after the first
attempt) is ``backoff_base * 2**(k - 1)`` plus up to ``backoff_base`` of
random jitter: 0.1-0.2 s, 0.2-0.3 s, 0.4-0.5 s and 0.8-0.9 s by default, as
the official SDK waits.  When no attempt gets a reply, :class:`TransportError`
says what was tried and what to check.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sys
import threading
import time
import urllib.parse
import weakref
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType

import anyio
import httpx

from inngest_proto.errors import LocalProtocolError, TransportError
from inngest_proto.transport import DEFAULT_REQUEST_TIMEOUT
from inngest_proto.wire import OutboundRequest, OutboundResponse

__all__ = ["HttpTransport", "TransportError", "utf8_headers"]

_log = logging.getLogger("inngest")

# Raised before any byte of the request left: always safe to resend.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Raised once the request may have reached the server.
_MAYBE_SENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
# Resendable by HTTP semantics (RFC 9110 §9.2.2).
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TIMEOUT_PHASES: tuple[tuple[type[httpx.TimeoutException], str], ...] = (
    (httpx.ConnectTimeout, "connect"),
    (httpx.ReadTimeout, "read"),
    (httpx.WriteTimeout, "write"),
    (httpx.PoolTimeout, "pool"),
)
_LOOPBACK_HOSTS = frozenset({"localhost", "::1", "0.0.0.0"})  # noqa: S104 - a name, not a bind


Sleep = Callable[[float], object]
AsyncSleep = Callable[[float], Awaitable[object]]


class HttpTransport:
    """:class:`inngest_proto.Transport` over httpx, sync and async.

    ``timeout`` (seconds, ``None`` for none) applies to each phase of each
    attempt (connect, write, read, pool) of the clients this transport
    creates; clients passed in keep their own configuration and are never
    closed by it.  Clients are created on first use: one blocking client
    (httpx's is thread-safe), and one async client per running event loop,
    since an async connection pool belongs to the loop that opened it.
    ``sleep``, ``async_sleep`` and ``jitter`` (a float in [0, 1)) exist so
    tests need not wait.  ``close()``/``aclose()`` release connections; the
    transport stays usable afterwards.
    """

    def __init__(
        self,
        timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
        *,
        max_attempts: int = 5,
        backoff_base: float = 0.1,
        sync_client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        sleep: Sleep = time.sleep,
        async_sleep: AsyncSleep = anyio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if timeout is not None and not (_is_number(timeout) and timeout > 0):
            raise _bad_argument(
                "timeout",
                timeout,
                "a positive number of seconds or None for no timeout "
                "(Inngest(request_timeout=...) is in milliseconds or a timedelta)",
            )
        if not (isinstance(max_attempts, int) and _is_number(max_attempts)):
            raise _bad_argument("max_attempts", max_attempts, "an int >= 1")
        if max_attempts < 1:
            raise _bad_argument("max_attempts", max_attempts, "an int >= 1")
        if not (_is_number(backoff_base) and backoff_base >= 0):
            raise _bad_argument("backoff_base", backoff_base, "seconds >= 0")
        self._timeout = None if timeout is None else float(timeout)
        self._max_attempts = max_attempts
        self._backoff_base = float(backoff_base)
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._jitter = jitter
        self._lock = threading.Lock()
        self._sync_client = sync_client
        self._owns_sync_client = sync_client is None
        self._given_async_client = async_client
        # id(loop key) -> (weak ref to the key, its client); see _get_async_client.
        self._loop_clients: dict[int, tuple[weakref.ref[object], httpx.AsyncClient]]
        self._loop_clients = {}

    @property
    def timeout(self) -> float | None:
        """Seconds per phase of an attempt, for the clients created here."""
        return self._timeout

    @property
    def max_attempts(self) -> int:
        return self._max_attempts

    def backoff_delay(self, retry: int) -> float:
        """Seconds to wait before retry ``retry`` (1 = the second attempt)."""
        exponential: float = self._backoff_base * 2.0 ** (retry - 1)
        return exponential + self._backoff_base * self._jitter()

    # -- the Transport protocol -------------------------------------------------------

    def now(self) -> float:
        return time.time()

    def random_bytes(self, n: int) -> bytes:
        return os.urandom(n)

    def request_sync(self, req: OutboundRequest) -> OutboundResponse:
        client = self._get_sync_client()
        attempts = _Attempts(self, req, client.timeout, self._owns_sync_client)
        while True:
            try:
                resp = client.request(
                    req.method,
                    req.url,
                    headers=utf8_headers(req.headers),
                    content=req.body,
                )
            except (httpx.RequestError, httpx.InvalidURL) as err:
                delay = attempts.after_error(err)
            else:
                retry_in = attempts.after_reply(resp)
                if retry_in is None:
                    return _outbound(resp)
                delay = retry_in
            self._sleep(delay)

    async def request(self, req: OutboundRequest) -> OutboundResponse:
        client, one_shot = self._get_async_client()
        try:
            return await self._request_with(client, req)
        finally:
            if one_shot:
                await client.aclose()

    async def _request_with(
        self, client: httpx.AsyncClient, req: OutboundRequest
    ) -> OutboundResponse:
        owned = client is not self._given_async_client
        attempts = _Attempts(self, req, client.timeout, owned)
        while True:
            try:
                resp = await client.request(
                    req.method,
                    req.url,
                    headers=utf8_headers(req.headers),
                    content=req.body,
                )
            except (httpx.RequestError, httpx.InvalidURL) as err:
                delay = attempts.after_error(err)
            else:
                retry_in = attempts.after_reply(resp)
                if retry_in is None:
                    return _outbound(resp)
                delay = retry_in
            await self._async_sleep(delay)

    # -- clients --------------------------------------------------------------------

    def _new_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self._timeout)

    def _get_sync_client(self) -> httpx.Client:
        with self._lock:
            if self._sync_client is None:
                self._sync_client = httpx.Client(timeout=self._new_timeout())
            return self._sync_client

    def _get_async_client(self) -> tuple[httpx.AsyncClient, bool]:
        """The client for the running loop, and whether to close it after use."""
        if self._given_async_client is not None:
            return self._given_async_client, False
        key = _loop_key()
        if key is None:
            # An event loop we cannot identify: a client for this call only.
            return httpx.AsyncClient(timeout=self._new_timeout()), True
        with self._lock:
            self._prune_loop_clients()
            entry = self._loop_clients.get(id(key))
            if entry is not None and entry[0]() is key:
                return entry[1], False
            client = httpx.AsyncClient(timeout=self._new_timeout())
            self._loop_clients[id(key)] = (weakref.ref(key), client)
            return client, False

    def _prune_loop_clients(self) -> None:
        """Forget the clients of loops that are gone.

        A trio token dies with its run.  An asyncio loop outlives ``asyncio.run``
        (its sockets point back to it), but it is closed then.  The clients
        cannot be closed from another loop; dropping them lets the sockets go.
        """
        for ident, (ref, _) in list(self._loop_clients.items()):
            loop = ref()
            if loop is None or (
                isinstance(loop, asyncio.AbstractEventLoop) and loop.is_closed()
            ):
                del self._loop_clients[ident]

    def close(self) -> None:
        """Close the blocking client, if this transport created it."""
        with self._lock:
            client = self._sync_client if self._owns_sync_client else None
            if client is not None:
                self._sync_client = None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the running loop's async client, if this transport created it."""
        key = _loop_key()
        if key is None:
            return
        with self._lock:
            entry = self._loop_clients.pop(id(key), None)
        if entry is not None and entry[0]() is key:
            await entry[1].aclose()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> HttpTransport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
        self.close()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bad_argument(name: str, value: object, expected: str) -> LocalProtocolError:
    return LocalProtocolError(
        f"HttpTransport({name}=...) must be {expected}, got {value!r}"
    )


def _loop_key() -> object | None:
    """The running event loop (asyncio) or run (trio token), if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    trio = sys.modules.get("trio")  # not imported: not running trio either
    if trio is None:
        return None
    try:
        token: object = trio.lowlevel.current_trio_token()
    except RuntimeError:
        return None
    return token


def utf8_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """``headers`` as UTF-8 bytes, ready for httpx.

    httpx encodes a ``str`` as ASCII and raises ``UnicodeEncodeError`` on
    anything else, but some values carry user data: a job id holds the
    function id, which may be ``☃️``.  Go's HTTP library writes a string's
    bytes as they are (UTF-8), and so does this; ASCII is unchanged.  What
    HTTP forbids is still refused, as an ``httpx.LocalProtocolError`` from
    h11: CR, LF or NUL in a value, a name that is not a token.
    """
    return [(name.encode(), value.encode()) for name, value in headers.items()]


def _outbound(resp: httpx.Response) -> OutboundResponse:
    return OutboundResponse(
        status=resp.status_code, headers=resp.headers.multi_items(), body=resp.content
    )


class _Attempts:
    """The attempts at one request: whether, and after how long, to try again."""

    def __init__(
        self,
        transport: HttpTransport,
        req: OutboundRequest,
        timeout: httpx.Timeout,
        owned_client: bool,
    ) -> None:
        self._transport = transport
        self._req = req
        self._timeout = timeout
        self._owned_client = owned_client
        self._outcomes: list[str] = []

    def _next_delay(self) -> float | None:
        made = len(self._outcomes)
        if made >= self._transport.max_attempts:
            return None
        return self._transport.backoff_delay(made)

    def after_reply(self, resp: httpx.Response) -> float | None:
        """Seconds before the next attempt, or ``None``: return ``resp``."""
        self._outcomes.append(f"HTTP {resp.status_code}")
        if resp.status_code < 500 or not self._req.retry_on_5xx:
            return None
        delay = self._next_delay()
        if delay is not None:
            self._log_retry(f"HTTP {resp.status_code}", delay)
        return delay

    def after_error(self, err: Exception) -> float:
        """Seconds before the next attempt; raises :class:`TransportError` if none."""
        self._outcomes.append(type(err).__name__)
        resendable = self._resendable(err)
        delay = self._next_delay() if resendable else None
        if delay is None:
            raise self._error(err, resendable) from err
        self._log_retry(f"{type(err).__name__}: {err}", delay)
        return delay

    def _resendable(self, err: Exception) -> bool:
        if isinstance(err, _NOT_SENT):
            return True
        if isinstance(err, _MAYBE_SENT):
            req = self._req
            return req.retry_on_5xx or req.method.upper() in _IDEMPOTENT_METHODS
        return False  # a bad URL, proxy or protocol: trying again cannot help

    def _log_retry(self, why: str, delay: float) -> None:
        _log.debug(
            "%s %s: attempt %d failed (%s); retrying in %.2f s",
            self._req.method,
            _redact(self._req.url),
            len(self._outcomes),
            why,
            delay,
        )

    def _error(self, err: Exception, resendable: bool) -> TransportError:
        req = self._req
        made = len(self._outcomes)
        tried = f"{made} attempt{'s' if made != 1 else ''}"
        detail = str(err) or "no details"
        msg = (
            f"{req.method} {_redact(req.url)} failed after {tried} "
            f"({', '.join(self._outcomes)}): {type(err).__name__}: {detail}; "
            f"{self._hint(err)}"
        )
        if not resendable and isinstance(err, _MAYBE_SENT):
            msg += (
                f" (not resent: this {req.method.upper()} may have reached the "
                "server, and only requests safe to repeat are resent then)"
            )
        return TransportError(
            msg, url=req.url, method=req.method, attempts=made, last_error=err
        )

    def _hint(self, err: Exception) -> str:
        if isinstance(err, httpx.TimeoutException):
            return self._timeout_hint(err)
        if isinstance(err, httpx.ConnectError):
            return _reach_hint(self._req.url)
        if isinstance(err, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return (
                "check the URL: INNGEST_BASE_URL, INNGEST_API_BASE_URL and "
                "INNGEST_EVENT_API_BASE_URL must be http:// or https:// origins"
            )
        if isinstance(err, httpx.ProxyError):
            return "check the proxy settings (HTTP_PROXY, HTTPS_PROXY, NO_PROXY)"
        return (
            f"the connection to {_origin(self._req.url)} broke; check that "
            "nothing between here and Inngest (proxy, load balancer) cuts it"
        )

    def _timeout_hint(self, err: httpx.TimeoutException) -> str:
        phase = next(
            (name for kind, name in _TIMEOUT_PHASES if isinstance(err, kind)), "read"
        )
        seconds = getattr(self._timeout, phase)
        limit = "no limit" if seconds is None else f"{seconds:g} s"
        if self._owned_client:
            how = (
                "change it with Inngest(request_timeout=...) (milliseconds or a "
                "timedelta) or HttpTransport(timeout=...) (seconds)"
            )
        else:
            how = "it is the timeout of the httpx client passed to HttpTransport"
        hint = f"the {phase} timeout ({limit}) elapsed; {how}"
        if phase == "connect":
            hint += "; " + _reach_hint(self._req.url)
        return hint


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _reach_hint(url: str) -> str:
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    origin = _origin(url)
    if host in _LOOPBACK_HOSTS or host.startswith("127."):
        return (
            f"is the Inngest Dev Server running at {origin}? (INNGEST_DEV / "
            "INNGEST_BASE_URL say where it is)"
        )
    return (
        f"check that {origin} is reachable from here (network, DNS, firewall, "
        "proxy) and the origin settings (INNGEST_BASE_URL, INNGEST_API_BASE_URL, "
        "INNGEST_EVENT_API_BASE_URL; INNGEST_DEV for a Dev Server)"
    )


def _redact(url: str) -> str:
    """``url`` without the event key of ``/e/{key}``: it is a credential."""
    parts = urllib.parse.urlsplit(url)
    if not parts.path.startswith("/e/"):
        return url
    return urllib.parse.urlunsplit(parts._replace(path="/e/<event key>"))
