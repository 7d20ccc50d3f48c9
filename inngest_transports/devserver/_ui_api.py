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
from inngest_proto.executor import FLOW_CONTROL_KEYS, FlowDelay, Run, RunStatus
from inngest_proto.functions import FunctionConfig
from inngest_proto.wire import Response, unstructure

from . import _ui_plain
from ._apps import App, Apps
from ._driver import Driver, StoredEvent
from ._gateway import Gateway
from ._ingest import EventIds, normalize_event, too_deep
from ._run_search import BadSearch, RunSummary, encode_cursor
from ._sqlite_store import is_internal_event
from ._timeline import error_view
from ._ui_flow import describe_flow
from ._ui_search import encode_event_cursor, event_search, run_search
from ._ui_static import NO_CACHE, UI_DIR, html_response, json_body, static_file

__all__ = ["UI_DIR", "UiApi", "UiRequest"]

#: The event that starts a run of one function directly (``step.invoke``
#: sends it; so does the UI's Invoke button, without a caller to resume).
_INVOKED = "inngest/function.invoked"
#: Run ids one bulk action takes at most.
_MAX_BULK = 1000
#: Cron ticks listed per function.
_NEXT_TICKS = 3
#: What Re-sync means for a Connect app (the gateway cannot ask a worker to
#: send its functions again: the protocol has no such message).
_CONNECT_RESYNC = (
    "Connect apps sync when a worker connects: the functions shown are the"
    " ones its workers sent then. Restart the worker to sync changes."
)

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
        gateway: Gateway | None = None,
    ) -> None:
        self._driver = driver
        self._apps = apps
        self._sync_url = sync_url
        self._gateway = gateway
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
        if p == ["apps", "remove"] and post:
            return self._remove_app
        if p == ["workers"] and get:
            return self._list_workers
        if p == ["functions"] and get:
            return self._list_functions
        if len(p) == 3 and p[0] == "functions" and p[2] == "invoke" and post:
            return self._invoke
        if p == ["events"]:
            return self._list_events if get else self._send_event if post else None
        if len(p) == 2 and p[0] == "events" and get:
            return self._get_event
        if p == ["runs"] and get:
            return self._list_runs
        if len(p) == 2 and p[0] == "runs" and get:
            return self._get_run
        if p == ["runs", "cancel"] and post:
            return self._bulk_cancel
        if p == ["runs", "rerun"] and post:
            return self._bulk_rerun
        if len(p) == 3 and p[0] == "runs" and p[2] in ("cancel", "rerun") and post:
            return self._cancel if p[2] == "cancel" else self._rerun
        return None

    def _plain_route(self, p: list[str], m: str) -> Handler | None:
        if not p and m == "GET":
            return self._plain_index
        if len(p) == 2 and p[0] == "runs" and m == "GET":
            return self._plain_run
        if len(p) == 2 and p[0] == "events" and m == "GET":
            return self._plain_event
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

    async def favicon(self, r: UiRequest) -> Response:
        """``GET /favicon.ico``, which browsers ask for on any page without
        an icon ``<link>`` (the JSON API's, a 404's): the UI's icon."""
        return static_file("favicon.svg")

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
        status = "synced" if synced else app.state
        if status not in ("synced", "unreachable"):
            status = "error"
        workers = None
        if app.is_connect and self._gateway is not None:
            workers = sum(
                1 for c in self._gateway.connections() if app.name in c["apps"]
            )
        return {
            "name": app.name,
            "url": app.url,
            "kind": "connect" if app.is_connect else "http",
            "sdk": app.sdk,
            "framework": app.framework,
            "status": status,
            "error": error,
            "synced_at": self._driver.history.synced_at.get(app.url),
            "functions": len(app.functions),
            "workers": workers,
        }

    async def _resync(self, r: UiRequest) -> Response:
        try:
            url = _object_body(r.body).get("url")
        except BadRequest as err:
            return _error(400, str(err))
        app = self._apps.by_url.get(url) if isinstance(url, str) else None
        if app is None:
            return _error(404, f"App not found: {url}")
        if app.is_connect:
            return json_body(200, {"state": "connect", "message": _CONNECT_RESYNC})
        await self._sync_url(app.url)
        self._driver.history.bump()
        if app.state == "synced":
            return json_body(200, {"state": "synced"})
        return json_body(200, {"state": "error", "error": app.error or app.state})

    async def _remove_app(self, r: UiRequest) -> Response:
        """Forget an app and its functions (as ``DELETE /fn/remove`` does);
        its runs stay listed, and fail at their next call."""
        try:
            url = _object_body(r.body).get("url")
        except BadRequest as err:
            return _error(400, str(err))
        if not isinstance(url, str) or not self._apps.remove(url):
            return _error(404, f"App not found: {url}")
        self._driver.history.bump()
        return json_body(200, {"ok": True})

    async def _list_workers(self, r: UiRequest) -> Response:
        if self._gateway is None:
            return json_body(200, {"data": [], "gateway": None})
        ages = self._gateway.heartbeat_ages()
        workers = []
        for conn in self._gateway.connections():
            workers.append({**conn, "heartbeat_age": ages.get(conn["id"])})
        return json_body(200, {"data": workers, "gateway": self._gateway.url})

    async def _list_functions(self, r: UiRequest) -> Response:
        out = []
        for app, fn in self._apps.functions():
            item = _function(app, fn)
            item["next_ticks"] = self._driver.executor.next_ticks(fn.id, _NEXT_TICKS)
            out.append(item)
        return json_body(200, {"data": out})

    async def _invoke(self, r: UiRequest) -> Response:
        """Start a run of one function with ``{"data": {...}}``, as
        ``step.invoke`` would but with no caller waiting for it."""
        function_id = r.parts[3]
        if function_id not in self._driver.executor.functions:
            return _error(404, f"Function not found: {function_id}")
        try:
            data = _object_body(r.body).get("data")
            internal = self._accept(_INVOKED, data, {"fn_id": function_id})
        except BadRequest as err:
            return _error(400, str(err))
        runs = self._driver.runs_for_event(internal)
        if not runs:
            return _error(409, "Cannot invoke: flow control skipped the run")
        return json_body(200, {"run_id": runs[0].run_id, "event_id": internal})

    # -- JSON: events --------------------------------------------------------------

    async def _list_events(self, r: UiRequest) -> Response:
        try:
            events, cursor = self.events(r.query)
        except BadSearch as err:
            return _error(400, str(err))
        return json_body(200, {"data": events, "next_cursor": cursor})

    def events(
        self, query: Mapping[str, str], default_limit: int = 50
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of events, newest first, with the runs they started, and
        the next page's cursor; raises :class:`BadSearch`."""
        search = event_search(query, default_limit=default_limit)
        listed = self._driver.search_events(
            search.limit + 1,
            search.before,
            name=search.name,
            received_from=search.received_from,
            received_until=search.received_until,
            hide_internal=search.hide_internal,
        )
        # One more than the page was asked for, to know whether there is a
        # next page; the store never splits copies of one event, so the
        # page ends before the last one's copies (they lead the next page).
        page = listed[: search.limit]
        if len(listed) > search.limit and (
            listed[search.limit].internal_id == page[-1].internal_id
        ):
            last = page[-1].internal_id
            page = [e for e in page if e.internal_id != last] or [
                e for e in listed if e.internal_id == last
            ]
        cursor = None
        if len(listed) > len(page):
            cursor = encode_event_cursor(page[-1].internal_id)
        return [self._event(stored) for stored in page], cursor

    def _event(self, stored: StoredEvent) -> dict[str, Any]:
        event, runs = stored.event, []
        for run in self._driver.runs_for_event(stored.internal_id):
            status = run.status.value
            runs.append(
                {"run_id": run.run_id, "function_id": run.function_id, "status": status}
            )
        return {
            "id": event.get("id"),
            "internal_id": stored.internal_id,
            "name": event.get("name"),
            "data": event.get("data"),
            "ts": event.get("ts"),
            "received_at": stored.received_at,
            "internal": is_internal_event(stored.name),
            "runs": runs,
        }

    def event_detail(self, stored: StoredEvent) -> dict[str, Any]:
        """An event's page: its whole payload, the runs it started and the
        waits it resumed."""
        out = self._event(stored)
        out["event"] = stored.event
        out["unreadable"] = stored.unreadable
        resumed = []
        for run_id, step_id in self._driver.wait_matches(stored.internal_id):
            run = self._driver.get_run(run_id)
            resumed.append(
                {
                    "run_id": run_id,
                    "step_id": step_id,
                    "step_name": self._step_name(run, step_id),
                    "function_id": None if run is None else run.function_id,
                    "status": None if run is None else run.status.value,
                }
            )
        out["resumed"] = resumed
        return out

    def _step_name(self, run: Run | None, step_id: str) -> str:
        """The name the timeline shows for a step (its hashed id if unknown)."""
        if run is None:
            return step_id
        for item in self._driver.timeline(run):
            if item.get("id") == step_id:
                return str(item.get("name") or step_id)
        return step_id

    def _find_event(self, event_id: str) -> StoredEvent | None:
        """The event with this internal id, else the latest sent with this
        ``id`` (what the lists and runs show as the event's id)."""
        stored = self._driver.event(event_id)
        if stored is None:
            internal = self._driver.internal_id(event_id)
            stored = None if internal is None else self._driver.event(internal)
        return stored

    async def _get_event(self, r: UiRequest) -> Response:
        stored = self._find_event(r.parts[3])
        if stored is None:
            return _error(404, f"Event not found: {r.parts[3]}")
        return json_body(200, {"data": self.event_detail(stored)})

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
        return [self._accept(name, data)]

    def _accept(
        self, name: str, data: Any, internal_meta: dict[str, Any] | None = None
    ) -> str:
        """Check, store and route one event; its internal id.

        ``internal_meta`` makes it an event of the server's own (its
        ``data._inngest``, which events from outside may not set): the
        checks run on the data alone, then the metadata is added.
        """
        if data is not None and not isinstance(data, dict):
            msg = "data must be a JSON object"
            raise BadRequest(msg)
        now_ms = int(self._driver.now() * 1000)
        internal = EventIds(None, now_ms).for_index(0)
        checked_name = name if internal_meta is None else "ui/invoke"
        try:
            event = normalize_event(
                {"name": checked_name, "data": data or {}}, internal, now_ms
            )
        except ValueError as err:
            raise BadRequest(str(err)) from None
        if internal_meta is not None:
            event["name"] = name
            event["data"]["_inngest"] = internal_meta
        self._driver.receive([event], [internal])
        return internal

    # -- JSON: runs ----------------------------------------------------------------

    async def _list_runs(self, r: UiRequest) -> Response:
        try:
            page = self.runs(r.query)
        except BadSearch as err:
            return _error(400, str(err))
        return json_body(200, page)

    def runs(
        self, query: Mapping[str, str], default_limit: int = 100
    ) -> dict[str, Any]:
        """A page of runs newest first, as ``/ui/api/runs`` answers it:
        ``data``, ``next_cursor`` and ``partial`` (a ``query`` search
        stopped at its scan budget); raises :class:`BadSearch`."""
        search = run_search(
            query,
            default_limit=default_limit,
            functions_of_app=self._functions_of_app,
            now=self._driver.now(),
        )
        page = self._driver.search_runs(search)
        cursor = page.next_cursor
        return {
            "data": [self._summary_json(s) for s in page.runs],
            "next_cursor": None if cursor is None else encode_cursor(cursor),
            "partial": page.partial,
        }

    def _functions_of_app(self, name: str) -> list[str] | None:
        apps = [a for a in self._apps.by_url.values() if a.name == name]
        if not apps:
            return None
        return [fn.id for app in apps for fn in app.functions]

    def _summary_json(self, summary: RunSummary) -> dict[str, Any]:
        return {
            "run_id": summary.run_id,
            "function_id": summary.function_id,
            "function_name": self._function_name(summary.function_id),
            "status": summary.status.value,
            "started_at": summary.created_at,
            "ended_at": summary.ended_at,
            "event_name": summary.event.get("name"),
            "event_id": summary.event.get("id"),
            "rerun_of": summary.rerun_of,
        }

    def run_summary(self, run: Run) -> dict[str, Any]:
        return self._summary_json(RunSummary.of(run))

    def run_detail(self, run: Run) -> dict[str, Any]:
        """A run with its trigger events, result and timeline."""
        completed = run.status is RunStatus.COMPLETED
        failed = run.status is RunStatus.FAILED
        out = self.run_summary(run)
        del out["event_name"], out["event_id"]
        out["events"] = run.events
        out["output"] = run.output if completed else None
        out["error"] = error_view(run.error or run.output) if failed else None
        out["timeline"] = self._reused_first(run, self._driver.timeline(run))
        out["rerun_from_step"] = run.rerun_from_step
        out["event_internal_ids"] = self._event_internal_ids(run)
        out.update(self._relatives(run, out["timeline"]))
        out["delays"] = [_delay(d, run) for d in run.delays]
        return out

    def _reused_first(
        self, run: Run, timeline: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """A rerun from a step: the steps whose results it copied come first,
        under their names in the original run, with ``reused_from`` set (the
        history knows them only by their memo, so by their hashed ids)."""
        original = (
            self._driver.get_run(run.rerun_of)
            if run.rerun_of is not None and run.rerun_from_step is not None
            else None
        )
        if original is None or run.rerun_from_step not in original.stack:
            return timeline
        copied = set(original.stack[: original.stack.index(run.rerun_from_step)])
        source = {i["id"]: i for i in self._driver.timeline(original)}
        reused, rest = [], []
        for item in timeline:
            if item["id"] in copied and not item["attempts"]:
                known = source.get(item["id"])
                if known is not None:
                    item["name"], item["kind"] = known["name"], known["kind"]
                item["reused_from"] = original.run_id
                reused.append(item)
            else:
                rest.append(item)
        return reused + rest

    def _event_internal_ids(self, run: Run) -> list[str | None]:
        return [
            self._driver.internal_id(str(e.get("id"))) if e.get("id") else None
            for e in run.events
        ]

    def _relatives(self, run: Run, timeline: list[dict[str, Any]]) -> dict[str, Any]:
        """The runs linked to ``run``: its reruns, the run that invoked it,
        and the runs its invoke steps started (set on their items)."""
        reruns: list[str] = []
        children: dict[str, str] = {}  # correlation id -> child run id
        prefix = run.run_id + "."
        for other in self._driver.linked_runs(run):
            if other.rerun_of == run.run_id:
                reruns.append(other.run_id)
            correlation = _invoked_meta(other).get("correlation_id")
            if isinstance(correlation, str) and correlation.startswith(prefix):
                children[correlation] = other.run_id
        for item in timeline:
            if item.get("kind") == "invoke":
                item["child_run_id"] = children.get(prefix + str(item.get("id")))
        invoked_by: dict[str, Any] | None = None
        meta = _invoked_meta(run)
        if meta:
            correlation = meta.get("correlation_id")
            if isinstance(correlation, str) and "." in correlation:
                parent, _, step = correlation.partition(".")
                invoked_by = {"run_id": parent, "step_id": step}
            else:  # by the UI's Invoke button or the API: no caller
                invoked_by = {"run_id": None, "step_id": None}
        return {"reruns": reruns, "invoked_by": invoked_by}

    def _function_name(self, function_id: str) -> str:
        fn = self._driver.executor.functions.get(function_id)
        return fn.config.name if fn is not None else function_id

    async def _get_run(self, r: UiRequest) -> Response:
        run = self._driver.get_run(r.parts[3])
        if run is None:
            return _error(404, f"Run not found: {r.parts[3]}")
        return json_body(200, {"data": self.run_detail(run)})

    async def _cancel(self, r: UiRequest) -> Response:
        run_id = r.parts[3]
        if self._driver.get_run(run_id) is None:
            return _error(404, f"Run not found: {run_id}")
        self._driver.cancel(run_id)  # a finished run: a no-op
        return json_body(200, {"ok": True})

    async def _rerun(self, r: UiRequest) -> Response:
        """A new run; ``{"from_step": id}`` reruns from that step (the steps
        before it are not run again)."""
        run_id = r.parts[3]
        try:
            body = _object_body(r.body) if r.body.strip() else {}
        except BadRequest as err:
            return _error(400, str(err))
        from_step = body.get("from_step")
        if from_step is not None and not isinstance(from_step, str):
            return _error(400, "from_step must be a step id (a string)")
        try:
            new = self._driver.rerun(run_id, from_step=from_step)
        except KeyError:
            return _error(404, f"Run not found: {run_id}")
        except ValueError as err:
            return _error(409, f"Cannot rerun: {err}")
        if new is None:
            return _error(409, "Cannot rerun: flow control skipped the new run")
        return json_body(200, {"run_id": new})

    async def _bulk_cancel(self, r: UiRequest) -> Response:
        """Cancel every run of ``{"run_ids": [...]}``; the ones not found or
        already ended are said so, not an error."""
        try:
            run_ids = _run_ids(r.body)
        except BadRequest as err:
            return _error(400, str(err))
        results = []
        for run_id in run_ids:
            run = self._driver.get_run(run_id)
            if run is None:
                results.append({"run_id": run_id, "result": "not found"})
            elif not run.is_running:
                results.append({"run_id": run_id, "result": "already ended"})
            else:
                self._driver.cancel(run_id)
                results.append({"run_id": run_id, "result": "cancelled"})
        return json_body(200, {"data": results})

    async def _bulk_rerun(self, r: UiRequest) -> Response:
        """Rerun every run of ``{"run_ids": [...]}``; each result names the
        new run, or why there is none."""
        try:
            run_ids = _run_ids(r.body)
        except BadRequest as err:
            return _error(400, str(err))
        results: list[dict[str, Any]] = []
        for run_id in run_ids:
            try:
                new = self._driver.rerun(run_id)
            except KeyError:
                results.append({"run_id": run_id, "result": "not found"})
                continue
            except ValueError as err:
                results.append({"run_id": run_id, "result": f"cannot rerun: {err}"})
                continue
            if new is None:
                skipped = "skipped by flow control"
                results.append({"run_id": run_id, "result": skipped})
            else:
                results.append({"run_id": run_id, "result": "rerun", "new_run_id": new})
        return json_body(200, {"data": results})

    # -- no-JS pages ---------------------------------------------------------------

    async def _plain_index(self, r: UiRequest) -> Response:
        # Each list pages on its own: ``runs_cursor`` and ``events_cursor``
        # are the lists' cursors; the other parameters are the filters.
        runs_query = {**r.query, "cursor": r.query.get("runs_cursor", "")}
        events_query = {**r.query, "cursor": r.query.get("events_cursor", "")}
        try:
            runs = self.runs(runs_query, default_limit=50)
            events, events_cursor = self.events(events_query)
        except BadSearch as err:
            return html_response(400, _ui_plain.message_page("Bad request", str(err)))
        page = _ui_plain.index_page(
            runs["data"],
            events,
            query=r.query,
            runs_cursor=runs["next_cursor"],
            events_cursor=events_cursor,
        )
        return html_response(200, page)

    async def _plain_event(self, r: UiRequest) -> Response:
        stored = self._find_event(r.parts[3])
        if stored is None:
            return html_response(
                404, _ui_plain.message_page("Event not found", r.parts[3])
            )
        return html_response(200, _ui_plain.event_page(self.event_detail(stored)))

    async def _plain_run(self, r: UiRequest) -> Response:
        run = self._driver.get_run(r.parts[3])
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
    flow = {k: config[k] for k in FLOW_CONTROL_KEYS if config.get(k) is not None}
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
        "flow": describe_flow(flow),
    }


def _invoked_meta(run: Run) -> dict[str, Any]:
    """The ``_inngest`` metadata of a run started by an invoke, else ``{}``."""
    event = run.events[0] if run.events else {}
    if event.get("name") != _INVOKED or not isinstance(event.get("data"), dict):
        return {}
    meta = event["data"].get("_inngest")
    return meta if isinstance(meta, dict) else {}


def _delay(delay: FlowDelay, run: Run) -> dict[str, Any]:
    """A flow-control hold as the UI shows it; one still open when the run
    ended lasted until then."""
    until = delay.until if delay.until is not None else run.ended_at
    return {
        "reason": delay.reason,
        "since": delay.since,
        "until": until,
        "seconds": None if until is None else max(until - delay.since, 0.0),
    }


def _run_ids(body: bytes) -> list[str]:
    ids = _object_body(body).get("run_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        msg = "run_ids must be a list of run ids"
        raise BadRequest(msg)
    if len(ids) > _MAX_BULK:
        msg = f"at most {_MAX_BULK} run ids at once"
        raise BadRequest(msg)
    return list(dict.fromkeys(ids))


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
