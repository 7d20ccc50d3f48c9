"""The web UI's side of the dev server: its JSON API, its files, no-JS pages.

Routes (docs/protocol/devserver-api.rst#ui-api): ``GET /`` and ``/ui/<file>``
serve the static files shipped in ``ui/`` next to this module; ``/ui/api/*`` is
the JSON API the page polls; ``/ui/plain*`` are server-rendered pages for
browsers without JavaScript (:mod:`._ui_plain`).  Without a signing key there is
no auth; with one, the server lets only signed-in browsers and bearers here
(:mod:`._ui_login`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from inngest_proto import json_codec
from inngest_proto.executor import Run, RunStatus
from inngest_proto.functions import FunctionConfig
from inngest_proto.wire import Response, unstructure

from . import _ui_plain
from ._apps import App, Apps
from ._driver import Driver, StoredEvent
from ._ingest import EventIds, normalize_event, too_deep
from ._timeline import error_view
from ._ui_static import NO_CACHE, UI_DIR, html_response, json_body, static_file

__all__ = ["UI_DIR", "UiApi", "UiRequest"]

#: Config keys ``/ui/api/functions`` shows (as synced), and ``retries``.
_FLOW_KEYS = (
    "concurrency",
    "throttle",
    "rateLimit",
    "debounce",
    "batchEvents",
    "priority",
    "cancel",
    "singleton",
    "timeouts",
    "idempotency",
)
_STATUSES = {status.value: status for status in RunStatus}
_MAX_LIMIT = 1000

Handler = Callable[["UiRequest"], Awaitable[Response]]


class UiRequest(Protocol):
    """What the dev server's router hands over (``_api._Request``)."""

    method: str
    parts: list[str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes


class BadRequest(ValueError):
    """A request body or query the UI API refuses with 400."""


def _error(status: int, message: str) -> Response:
    return json_body(status, {"error": message})


class UiApi:
    """Answers ``/`` and ``/ui/...``; ``sync_url`` re-syncs an app by URL."""

    def __init__(
        self,
        driver: Driver,
        apps: Apps,
        sync_url: Callable[[str], Awaitable[dict[str, Any]]],
    ) -> None:
        self._driver = driver
        self._apps = apps
        self._sync_url = sync_url
        # What the apps looked like at the last version poll: their sync
        # states change outside the driver (Apps.sync), so we compare.
        self._apps_seen: tuple[tuple[str, str, str | None], ...] = ()

    def route(self, parts: Sequence[str], method: str) -> Handler | None:
        """The handler for ``/`` or ``/ui/...``; ``None`` for other paths."""
        p = list(parts)
        if not p or p == ["ui"]:
            return self._index if method == "GET" else None
        if p[0] != "ui":
            return None
        if p[1] == "api":
            return self._api_route(p[2:], method) or self._not_found
        if p[1] == "plain":
            return self._plain_route(p[2:], method) or self._not_found
        if len(p) == 2 and method == "GET":
            return self._static
        return self._not_found

    def _api_route(self, p: list[str], m: str) -> Handler | None:
        get, post = m == "GET", m == "POST"
        if p == ["version"] and get:
            return self._version
        if p == ["apps"] and get:
            return self._list_apps
        if p == ["apps", "resync"] and post:
            return self._resync
        if p == ["functions"] and get:
            return self._list_functions
        if p == ["events"]:
            return self._list_events if get else self._send_event if post else None
        if p == ["runs"] and get:
            return self._list_runs
        if len(p) == 2 and p[0] == "runs" and get:
            return self._get_run
        if len(p) == 3 and p[0] == "runs" and p[2] in ("cancel", "rerun") and post:
            return self._cancel if p[2] == "cancel" else self._rerun
        return None

    def _plain_route(self, p: list[str], m: str) -> Handler | None:
        if not p and m == "GET":
            return self._plain_index
        if len(p) == 2 and p[0] == "runs" and m == "GET":
            return self._plain_run
        if p == ["events"] and m == "POST":
            return self._plain_send
        return None

    async def _not_found(self, r: UiRequest) -> Response:
        return _error(404, f"Not found: {r.method} /{'/'.join(r.parts)}")

    # -- static files ------------------------------------------------------------------

    async def _index(self, r: UiRequest) -> Response:
        return static_file("index.html")

    async def _static(self, r: UiRequest) -> Response:
        return static_file(r.parts[1])

    # -- JSON: apps, functions -----------------------------------------------------

    async def _version(self, r: UiRequest) -> Response:
        seen = tuple((a.url, a.state, a.error) for a in self._apps.by_url.values())
        if seen != self._apps_seen:
            self._apps_seen = seen
            self._driver.history.bump()
        return json_body(200, {"version": self._driver.history.version})

    async def _list_apps(self, r: UiRequest) -> Response:
        return json_body(
            200, {"data": [self._app(a) for a in self._apps.by_url.values()]}
        )

    def _app(self, app: App) -> dict[str, Any]:
        synced = app.state == "synced"
        error = app.error if not synced else None
        if not synced and error is None:
            error = "not synced yet"
        return {
            "name": app.name,
            "url": app.url,
            "sdk": app.sdk,
            "framework": app.framework,
            "status": "synced" if synced else "error",
            "error": error,
            "synced_at": self._driver.history.synced_at.get(app.url),
            "functions": len(app.functions),
        }

    async def _resync(self, r: UiRequest) -> Response:
        try:
            url = _object_body(r.body).get("url")
        except BadRequest as err:
            return _error(400, str(err))
        app = self._apps.by_url.get(url) if isinstance(url, str) else None
        if app is None:
            return _error(404, f"App not found: {url}")
        if not app.is_connect:  # connect apps sync through their workers
            await self._sync_url(app.url)
        self._driver.history.bump()
        if app.state == "synced":
            return json_body(200, {"state": "synced"})
        return json_body(200, {"state": "error", "error": app.error or app.state})

    async def _list_functions(self, r: UiRequest) -> Response:
        out = [_function(app, fn) for app, fn in self._apps.functions()]
        return json_body(200, {"data": out})

    # -- JSON: events --------------------------------------------------------------

    async def _list_events(self, r: UiRequest) -> Response:
        try:
            limit = _limit(r.query, 50)
        except BadRequest as err:
            return _error(400, str(err))
        return json_body(200, {"data": self.events(limit)})

    def events(self, limit: int) -> list[dict[str, Any]]:
        """The latest ``limit`` events, newest first, with the runs they started."""
        return [self._event(stored) for stored in self._driver.list_events(limit)]

    def _event(self, stored: StoredEvent) -> dict[str, Any]:
        event, runs = stored.event, []
        for run_id in self._driver.runs_by_event.get(stored.internal_id, []):
            run = self._driver.executor.get_run(run_id)
            if run is not None:
                status = run.status.value
                runs.append(
                    {"run_id": run_id, "function_id": run.function_id, "status": status}
                )
        return {
            "id": event.get("id"),
            "internal_id": stored.internal_id,
            "name": event.get("name"),
            "data": event.get("data"),
            "ts": event.get("ts"),
            "received_at": stored.received_at,
            "runs": runs,
        }

    async def _send_event(self, r: UiRequest) -> Response:
        try:
            body = _object_body(r.body)
            ids = self.send(body.get("name"), body.get("data"))
        except BadRequest as err:
            return _error(400, str(err))
        return json_body(200, {"ids": ids})

    def send(self, name: Any, data: Any) -> list[str]:
        """Send one event as ``/e`` would; raises :class:`BadRequest`."""
        if not isinstance(name, str) or not name.strip():
            msg = "name must be a non-empty string"
            raise BadRequest(msg)
        if data is not None and not isinstance(data, dict):
            msg = "data must be a JSON object"
            raise BadRequest(msg)
        now_ms = int(self._driver.now() * 1000)
        internal = EventIds(None, now_ms).for_index(0)
        try:
            event = normalize_event(
                {"name": name, "data": data or {}}, internal, now_ms
            )
        except ValueError as err:
            raise BadRequest(str(err)) from None
        self._driver.receive([event], [internal])
        return [internal]

    # -- JSON: runs ----------------------------------------------------------------

    async def _list_runs(self, r: UiRequest) -> Response:
        try:
            runs = self.runs(r.query)
        except BadRequest as err:
            return _error(400, str(err))
        return json_body(200, {"data": runs})

    def runs(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """Runs newest first, filtered by ``status`` and ``function``."""
        limit = _limit(query, 100)
        status_text = query.get("status") or ""
        status = _STATUSES.get(status_text)
        if status_text and status is None:
            msg = f"status must be one of {', '.join(_STATUSES)}"
            raise BadRequest(msg)
        function = query.get("function") or ""
        out: list[dict[str, Any]] = []
        for run in reversed(list(self._driver.executor.state.runs.values())):
            if status is not None and run.status is not status:
                continue
            if function and run.function_id != function:
                continue
            out.append(self.run_summary(run))
            if len(out) >= limit:
                break
        return out

    def run_summary(self, run: Run) -> dict[str, Any]:
        return {
            "run_id": run.run_id,
            "function_id": run.function_id,
            "function_name": self._function_name(run.function_id),
            "status": run.status.value,
            "started_at": run.created_at,
            "ended_at": run.ended_at,
            "event_name": run.event.get("name"),
            "event_id": run.event.get("id"),
        }

    def run_detail(self, run: Run) -> dict[str, Any]:
        """A run with its trigger events, result and timeline."""
        completed = run.status is RunStatus.COMPLETED
        failed = run.status is RunStatus.FAILED
        out = self.run_summary(run)
        del out["event_name"], out["event_id"]
        out["events"] = run.events
        out["output"] = run.output if completed else None
        out["error"] = error_view(run.error or run.output) if failed else None
        out["timeline"] = self._driver.history.timeline(run)
        return out

    def _function_name(self, function_id: str) -> str:
        fn = self._driver.executor.functions.get(function_id)
        return fn.config.name if fn is not None else function_id

    async def _get_run(self, r: UiRequest) -> Response:
        run = self._driver.executor.get_run(r.parts[3])
        if run is None:
            return _error(404, f"Run not found: {r.parts[3]}")
        return json_body(200, {"data": self.run_detail(run)})

    async def _cancel(self, r: UiRequest) -> Response:
        run_id = r.parts[3]
        if self._driver.executor.get_run(run_id) is None:
            return _error(404, f"Run not found: {run_id}")
        self._driver.cancel(run_id)  # a finished run: a no-op
        return json_body(200, {"ok": True})

    async def _rerun(self, r: UiRequest) -> Response:
        run_id = r.parts[3]
        try:
            new = self._driver.rerun(run_id)
        except KeyError:
            return _error(404, f"Run not found: {run_id}")
        except ValueError as err:
            return _error(409, f"Cannot rerun: {err}")
        if new is None:
            return _error(409, "Cannot rerun: flow control skipped the new run")
        return json_body(200, {"run_id": new})

    # -- no-JS pages ---------------------------------------------------------------

    async def _plain_index(self, r: UiRequest) -> Response:
        runs = self.runs({"limit": "50"})
        return html_response(200, _ui_plain.index_page(runs, self.events(50)))

    async def _plain_run(self, r: UiRequest) -> Response:
        run = self._driver.executor.get_run(r.parts[3])
        if run is None:
            return html_response(
                404, _ui_plain.message_page("Run not found", r.parts[3])
            )
        return html_response(200, _ui_plain.run_page(self.run_detail(run)))

    async def _plain_send(self, r: UiRequest) -> Response:
        form = dict(urllib.parse.parse_qsl(r.body.decode("utf-8", "replace")))
        try:
            data = (
                json_codec.loads(form["data"]) if form.get("data", "").strip() else {}
            )
            self.send(form.get("name"), data)
        except RecursionError:  # before normalize_event could measure it
            message = too_deep("event data")
            return html_response(400, _ui_plain.message_page("Event not sent", message))
        except ValueError as err:  # BadRequest, or the data is not JSON
            return html_response(
                400, _ui_plain.message_page("Event not sent", str(err))
            )
        return Response(303, {"location": "/ui/plain", **NO_CACHE}, b"")


def _function(app: App, fn: FunctionConfig) -> dict[str, Any]:
    config = unstructure(fn)
    flow = {k: config[k] for k in _FLOW_KEYS if config.get(k) is not None}
    root: dict[str, Any] = next(iter(config.get("steps", {}).values()), {})
    retries = (root.get("retries") or {}).get("attempts")
    if retries is not None:
        flow["retries"] = retries
    return {
        "id": fn.id,
        "name": fn.name,
        "app": app.name,
        "triggers": config["triggers"],
        "config": flow,
    }


def _object_body(body: bytes) -> dict[str, Any]:
    try:
        parsed = json_codec.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        msg = "the body must be JSON"
        raise BadRequest(msg) from None
    if not isinstance(parsed, dict):
        msg = "the body must be a JSON object"
        raise BadRequest(msg)
    return parsed


def _limit(query: Mapping[str, str], default: int) -> int:
    try:
        limit = int(query.get("limit") or default)
    except ValueError:
        msg = "limit must be an integer"
        raise BadRequest(msg) from None
    return min(max(limit, 1), _MAX_LIMIT)
