"""Apps the dev server knows: syncs received and sync PUTs sent.

See docs/protocol/devserver-api.rst#register and
docs/protocol/devserver-api.rst#finding-apps.

An app is known by URL.  ``-u URL`` (or ``POST /v0/apps/sync``) adds a
placeholder in state ``unreachable`` and PUTs ``{"url": ...}`` to it; the SDK
answers by POSTing ``/fn/register``, which is what actually registers its
functions with the executor.  Apps are also keyed by name: an app that
syncs from a new URL replaces its old entry.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

import anyio
import attrs
import httpx

from inngest_proto import json_codec
from inngest_proto.errors import TransportError
from inngest_proto.executor import ServerAuth
from inngest_proto.functions import FunctionConfig
from inngest_proto.wire import OutboundRequest

from ._app_client import AppTransport
from ._driver import Driver
from ._ingest import InvalidSync, SyncRequest
from ._sqlite_store import StoredApp

__all__ = ["App", "Apps"]

_log = logging.getLogger("inngest.devserver")
# Fixed namespace: an app keeps its UUID across restarts and re-syncs.
_APP_NAMESPACE = uuid.UUID("1b7a2f36-53a4-4c0e-9a53-4ad4a3e61a0e")
_PUT_TIMEOUT = 10.0
# Attempts at the sync PUT while the app is not up yet, and the first delay
# (doubled after each attempt).
SYNC_ATTEMPTS = 5
SYNC_BACKOFF = 0.2


@attrs.define
class App:
    url: str
    name: str = ""
    #: ``unreachable`` until synced, ``synced``, or ``error``.
    state: str = "unreachable"
    error: str | None = None
    sdk: str = ""
    framework: str = ""
    functions: tuple[FunctionConfig, ...] = ()
    checksum: str | None = None
    sync_id: str | None = None
    #: Why a sync was refused since the last sync PUT began (``None`` if
    #: none was): the PUT's own answer does not say.
    refused: str | None = None
    #: The last sync's outcome as logged (``synced``, ``unreachable`` or
    #: ``error: ...``; ``None`` before the first): only changes are logged.
    outcome: str | None = None

    @property
    def app_id(self) -> str:
        return str(uuid.uuid5(_APP_NAMESPACE, self.name or self.url))

    @property
    def is_connect(self) -> bool:
        """Served by connect workers: never PUT-synced, called via the gateway."""
        return self.url.startswith(("ws://", "wss://"))

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.app_id,
            "name": self.name,
            "url": self.url,
            "state": self.state,
            "error": self.error,
            "sdk": self.sdk,
            "framework": self.framework,
            "method": "connect" if self.is_connect else "serve",
            "functions": [f.id for f in self.functions],
        }


class Apps:
    """The app registry and the sync PUTs (``sync_attempts`` with backoff).

    ``auth`` says which kind of server the PUTs announce, and signs them when
    the server has a signing key, as Inngest Cloud does.
    """

    def __init__(
        self,
        driver: Driver,
        *,
        auth: ServerAuth | None = None,
        sync_attempts: int = SYNC_ATTEMPTS,
        sync_backoff: float = SYNC_BACKOFF,
    ) -> None:
        self._driver = driver
        self._auth = auth or ServerAuth(None)
        self._attempts = sync_attempts
        self._backoff = sync_backoff
        # One attempt per PUT: the retrying (only while unreachable) is ours.
        self._transport = AppTransport(_PUT_TIMEOUT)
        self.by_url: dict[str, App] = {}

    # -- POST /fn/register -------------------------------------------------------------

    def register(self, sync: SyncRequest) -> dict[str, Any]:
        """Accept a checked sync; the reply body of ``/fn/register``."""
        url = sync.url
        ids = {fn.id for fn in sync.functions}
        for other in list(self.by_url.values()):
            # A restored app has no name yet; function ids carry the app id,
            # so sharing one means it is this app at its old URL.
            same = other.name == sync.app_name or (
                not other.name and any(fn.id in ids for fn in other.functions)
            )
            if same and other.url != url:
                # The app moved: its old URL's functions go.
                self._driver.register_app(other.url, [])
                del self.by_url[other.url]
        app = self.by_url.setdefault(url, App(url=url))
        if app.checksum == sync.checksum and app.state == "synced":
            assert app.sync_id is not None
            return _reply(app, modified=False)
        app.name = sync.app_name
        app.sdk, app.framework = sync.sdk, sync.framework
        app.functions = sync.functions
        app.checksum = sync.checksum
        app.sync_id = str(uuid.uuid4())
        app.state, app.error, app.refused = "synced", None, None
        if app.outcome != "unreachable":
            # (After "unreachable", the sync that PUT this logs it is back.)
            app.outcome = "synced"
        self._driver.register_app(
            url,
            sync.functions,
            name=app.name,
            sdk=app.sdk,
            framework=app.framework,
        )
        _log.info(
            "app %s synced from %s: %d function(s)",
            app.name,
            url,
            len(sync.functions),
        )
        return _reply(app, modified=True)

    def refuse(self, refusal: InvalidSync) -> None:
        """A sync was refused: log why, and keep it with its app.

        As on the real server, the app keeps the functions of its last good
        sync, and shows the error (also after a restart) until a sync
        succeeds.
        """
        who = refusal.app_name or "(no app name)"
        app = self.by_url.get(refusal.url) or next(
            (a for a in self.by_url.values() if a.name == refusal.app_name), None
        )
        # An app polled every few seconds is refused as often: say it once,
        # until the reason changes or a sync succeeds.
        repeated = app is not None and app.outcome == f"error: {refusal.detail}"
        _log.log(
            logging.DEBUG if repeated else logging.WARNING,
            "sync of app %s from %s refused: %s",
            who,
            refusal.url,
            refusal.detail,
        )
        if not refusal.app_name:
            return
        if app is None:
            if not refusal.url:
                return
            app = self.add(refusal.url)
        app.name = app.name or refusal.app_name
        app.state, app.error, app.refused = "error", refusal.detail, refusal.detail
        app.outcome = f"error: {refusal.detail}"
        app.checksum = None
        stored = StoredApp(
            list(app.functions), app.name, app.sdk, app.framework, refusal.detail
        )
        self._driver.keep_app(app.url, stored)

    def remove(self, url: str) -> bool:
        app = self.by_url.pop(url, None)
        if app is None:
            return False
        self._driver.register_app(url, [])
        return True

    def restore(self, apps: Mapping[str, StoredApp]) -> None:
        """Register apps synced before a restart (from the store).

        Their functions run at once, which is what lets runs of a crashed
        server finish; the app syncs again when it is next polled.
        """
        for url, stored in apps.items():
            self.by_url[url] = App(
                url=url,
                name=stored.name,
                state="synced" if stored.error is None else "error",
                error=stored.error,
                sdk=stored.sdk,
                framework=stored.framework,
                functions=tuple(stored.functions),
            )
            self._driver.register_app(url, stored.functions, persist=False)

    def functions(self) -> list[tuple[App, FunctionConfig]]:
        return [(app, fn) for app in self.by_url.values() for fn in app.functions]

    # -- the sync PUT ------------------------------------------------------------------

    def add(self, url: str) -> App:
        return self.by_url.setdefault(url, App(url=url))

    async def sync(self, url: str, *, attempts: int | None = None) -> App:
        """PUT the sync request to ``url``, retrying while it is unreachable
        (``attempts`` times, by default the server's ``sync_attempts``).

        Returns the app, in state ``synced`` or with ``error`` set (the SDK's
        ``message``, or why it could not be reached).  What went wrong is
        logged when it changes, not at every sync: an app that stays down
        is reported once, and again when it answers.
        """
        app = self.add(url)
        delay = self._backoff
        tries = self._attempts if attempts is None else attempts
        for attempt in range(1, tries + 1):
            app.refused = None
            error, retry = await self._put(url)
            if app.refused is not None:
                # The app POSTed /fn/register while answering, and we refused
                # it: that is why, whatever the PUT says (:meth:`refuse`
                # logged it).
                app.state, app.error = "error", app.refused
                return app
            if error is None:
                # The app has POSTed /fn/register by the time it answers the PUT.
                if app.state != "synced":
                    app.state, app.error = "synced", None
                break
            app.error = error
            app.state = "unreachable" if retry else "error"
            if not retry or attempt == tries:
                break
            await anyio.sleep(delay)
            delay *= 2
        self._report(app)
        return app

    def _report(self, app: App) -> None:
        """Log the outcome of a sync if it differs from the last one."""
        if app.state == "synced":
            outcome = "synced"
        elif app.state == "unreachable":
            outcome = "unreachable"
        else:
            outcome = f"error: {app.error}"
        before, app.outcome = app.outcome, outcome
        if outcome == before:
            return
        if app.state == "unreachable":
            why = (app.error or "").removeprefix("unreachable: ")
            _log.warning(
                "app at %s is unreachable (%s); polling it less often until it answers",
                app.url,
                why,
            )
        elif app.state != "synced":
            _log.warning("could not sync the app at %s: %s", app.url, app.error)
        elif before == "unreachable":
            _log.info("app at %s is reachable again", app.url)

    async def _put(self, url: str) -> tuple[str | None, bool]:
        """One PUT: the error (``None`` when synced), and whether to retry."""
        body = json_codec.dumps_compact({"url": url})
        headers = {
            "content-type": "application/json",
            # An SDK refuses a sync from the other kind of server.
            "x-inngest-server-kind": self._auth.server_kind,
        }
        signature = self._auth.sign(body, self._driver.now())
        if signature is not None:
            headers["x-inngest-signature"] = signature
        request = OutboundRequest(method="PUT", url=url, headers=headers, body=body)
        try:
            resp = await self._transport.request(request)
        except TransportError as err:
            cause = err.last_error
            retry = isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout)
            return f"unreachable: {type(cause).__name__}: {cause}", retry
        if resp.status < 300:
            return None, False
        try:
            answer = json_codec.loads(resp.body)
        except (ValueError, UnicodeDecodeError):
            answer = None
        message = answer.get("message") if isinstance(answer, dict) else None
        text = message or resp.body[:200].decode(errors="replace")
        return f"HTTP {resp.status}: {text}", False

    async def aclose(self) -> None:
        await self._transport.aclose()


def _reply(app: App, *, modified: bool) -> dict[str, Any]:
    return {
        "ok": True,
        "modified": modified,
        "app_id": app.app_id,
        "sync_id": app.sync_id,
    }
