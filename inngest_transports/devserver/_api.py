"""The dev server's HTTP API: routing and the JSON bodies.

The API is described in docs/protocol/devserver-api.rst; the sections named
below are its sections.

Implemented: ``/e/{key}`` (Event ingestion), ``/health`` and ``/dev`` (Health),
``/fn/register`` and ``/fn/remove`` (Register, Finding apps),
``/v0/runs/{id}/batch|actions`` (Run data), ``/v1/events``,
``/v1/events/{id}``, ``/v1/events/{id}/runs`` (REST events), ``/v1/runs/{id}``
(GET, DELETE: REST runs), ``/v1/apps/{name}/functions`` and
``/v1/checkpoint/{id}/async`` (Other REST routes, and
docs/protocol/executor.rst#async-checkpoints), the durable
endpoints' ``/v1/checkpoint`` routes (:mod:`._durable_endpoints`) and
``POST /v0/gql`` (:mod:`._graphql`).
Connect (Connect endpoints, with :mod:`._gateway`): ``POST /v0/connect/start`` and
``/v0/connect/flush``.  Routes that are ours, not the real server's:
``POST /v0/apps/sync?url=`` (what its UI's "add app" does), ``GET /v1/apps``,
``GET /v0/connect/connections`` and ``POST /v0/connect/drain?connection_id=``;
``/`` and ``/ui/*``, the web UI (:mod:`._ui_api`).

Unlike the real server, nothing is cached: a test may poll ``/v1`` freely.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import anyio
from google.protobuf.message import DecodeError

from inngest_proto import json_codec
from inngest_proto.connect import connect_pb2 as pb
from inngest_proto.executor import (
    CheckpointRejected,
    InvalidEventBody,
    Run,
    RunStatus,
    ServerAuth,
    function_uuid,
    parse_checkpoint,
    read_event_body,
)
from inngest_proto.functions import FunctionConfig
from inngest_proto.wire import Response, unstructure

from ._api_responses import JSON_HEADERS, envelope, error, json_response
from ._apps import Apps
from ._driver import ROUTE_SLICE, Driver, StoredEvent
from ._durable_endpoints import DurableEndpoints
from ._gateway import ACCOUNT_ID, ENVIRONMENT_ID, Gateway
from ._graphql import GraphQLApi
from ._ingest import (
    MAX_EVENTS_PER_REQUEST,
    EventIds,
    InvalidSync,
    normalize_event,
    parse_sync,
)
from ._realtime_hub import RealtimeApi
from ._rfc3339 import rfc3339
from ._sqlite_store import StoreError
from ._ui_api import UiApi
from ._ui_login import UiLogin

__all__ = ["ACCOUNT_ID", "ENVIRONMENT_ID", "DevApi"]

_log = logging.getLogger("inngest.devserver")
_ULID_CHARS = frozenset("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
_ULID_LENGTH = 26
_DEFAULT_LIMIT, _MAX_LIMIT = 20, 51
#: The function config fields ``/v1/apps/{name}/functions`` shows under ``config``.
_FLOW_OPTIONS = frozenset(
    {
        "batchEvents",
        "cancel",
        "concurrency",
        "debounce",
        "idempotency",
        "priority",
        "rateLimit",
        "singleton",
        "throttle",
        "timeouts",
    }
)
# The public prefix and the one of the private beta, which SDKs still use.
_CHECKPOINT_PREFIXES = (["v1", "checkpoint"], ["v1", "http"])

Handler = Callable[["_Request"], Awaitable[Response]]

#: Run statuses the v1 REST API spells otherwise (it has none before a run ends).
_V1_STATUS = {RunStatus.QUEUED: RunStatus.RUNNING.value}


class _Request:
    def __init__(
        self,
        method: str,
        parts: list[str],
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> None:
        self.method = method
        self.parts = parts
        self.query = query
        self.headers = headers
        self.body = body


class DevApi:
    """Answers one request; ``sync_url`` PUTs the sync request to an app.

    ``auth`` holds the signing key, if any: with one, the API presents itself
    as Inngest Cloud does (``X-Inngest-Server-Kind: cloud``, syncs expecting
    cloud) and its routes require the key as a bearer token.
    """

    def __init__(
        self,
        driver: Driver,
        apps: Apps,
        sync_url: Callable[[str], Awaitable[dict[str, Any]]],
        *,
        auth: ServerAuth | None = None,
        info: Mapping[str, Any] | None = None,
        gateway: Gateway | None = None,
        event_keys: Sequence[str] = (),
    ) -> None:
        self._driver = driver
        #: Taken by one ``/e`` request at a time (made on first use, in
        #: the event loop).
        self._ingest_turn: anyio.Lock | None = None
        # As on Inngest: without configured keys, any key is accepted.
        self._event_keys = [key.encode() for key in event_keys]
        self._gateway = gateway
        self._apps = apps
        self._sync_url = sync_url
        self._auth = auth or ServerAuth(None)
        self._info = dict(info or {})
        #: ``/v1/realtime/*`` (publish, token, the subscribe WebSocket).
        self.realtime = RealtimeApi(
            self._authorized, secret=self._auth.derive_secret("realtime")
        )
        #: ``/`` and ``/ui/*``: the web UI; with a signing key, behind
        #: :attr:`ui_login`.
        self.ui = UiApi(driver, apps, sync_url, gateway)
        self.ui_login = UiLogin(self._auth)
        #: ``/v1/checkpoint`` in sync mode: durable endpoints.
        self.endpoints = DurableEndpoints(
            driver,
            mint_realtime=self.realtime.mint,
        )
        #: ``POST /v0/gql``: the GraphQL subset tools use.
        self.graphql = GraphQLApi(driver, apps)

    async def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Response:
        parts = [p for p in path.split("/") if p]
        request = _Request(method.upper(), parts, query, headers, body)
        response = await self._answer(request)
        # Nothing is acknowledged, or shown, before it is stored: the
        # writes of this request (and of others handled meanwhile) are
        # committed together first.  A failed commit raises: a 500.
        await self._driver.durable()
        # Every answer says what kind of server this is, as the real
        # server's middleware does: SDKs compare it with their own mode.
        response.headers["x-inngest-server-kind"] = self._auth.server_kind
        return response

    async def _answer(self, request: _Request) -> Response:
        if request.method == "OPTIONS":
            return Response(204, dict(JSON_HEADERS), b"")
        if not request.parts or request.parts[0] == "ui":
            # Every UI route, present and future, is behind the sign-in.
            if self.ui_login.is_login(request.parts):
                return await self.ui_login.answer(request)
            if not self.ui_login.allows(request):
                return self.ui_login.refuse(request)
        route = self._route(request)
        if route is None:
            path = "/" + "/".join(request.parts)
            return error(404, f"Not found: {request.method} {path}")
        handler, public = route
        if not public and not self._authorized(request.headers):
            return error(401, "Authentication failed")
        return await handler(request)

    def _route(self, r: _Request) -> tuple[Handler, bool] | None:
        p, m = r.parts, r.method
        if not p or p[0] == "ui":
            ui = self.ui.route(p, m)
            return None if ui is None else (ui, True)
        if p == ["favicon.ico"] and m == "GET":
            return self.ui.favicon, True  # an icon: public, even with a key
        if p == ["health"] and m == "GET":
            return self._health, True
        if p == ["dev"] and m == "GET":
            return self._dev, False
        if len(p) == 2 and p[0] == "e" and m == "POST":
            return self._events, True
        if p == ["fn", "register"] and m == "POST":
            return self._register, False
        if p == ["fn", "remove"] and m == "DELETE":
            return self._remove, False
        if p == ["v0", "apps", "sync"] and m == "POST":
            return self._sync, False
        if len(p) == 4 and p[:2] == ["v0", "runs"] and m == "GET":
            return self._run_data, False
        if p == ["v0", "gql"] and m == "POST":
            return self._graphql, False
        if p[:2] == ["v1", "events"] and m == "GET" and len(p) <= 4:
            return self._v1_events, False
        if p[:2] == ["v1", "runs"] and len(p) == 3 and m in ("GET", "DELETE"):
            return self._v1_run, False
        if p[:2] == ["v1", "apps"] and m == "GET":
            return self._v1_apps, False
        if p == ["v1", "signals"] and m == "POST":
            return self._v1_signals, False
        if p[:2] in _CHECKPOINT_PREFIXES and p[-1:] == ["output"]:
            # A client redirected here has the run's token, not the key.
            return self._checkpoint_output, True
        if p[:2] in _CHECKPOINT_PREFIXES and m in ("GET", "POST"):
            return self._v1_checkpoint, False
        if p[:2] == ["v1", "realtime"]:
            realtime = self.realtime.route(p[2:], m)  # does its own auth
            return None if realtime is None else (realtime, True)
        if p[:2] == ["v0", "connect"] and self._gateway is not None:
            return self._connect_route(r)
        return None

    def _connect_route(self, r: _Request) -> tuple[Handler, bool] | None:
        what, m = r.parts[2:], r.method
        if what == ["start"] and m == "POST":
            return self._connect_start, False
        if what == ["flush"] and m == "POST":
            return self._connect_flush, False
        if what == ["connections"] and m == "GET":
            return self._connect_list, False
        if len(what) == 3 and what[0] == "envs" and what[2] == "conns" and m == "GET":
            return self._connect_list, False  # the real server's dev-only listing
        if what == ["drain"] and m == "POST":
            return self._connect_drain, False
        return None

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        # Without a signing key: no auth
        # (docs/protocol/devserver-api.rst#errors-and-auth).
        return self._auth.bearer_ok(headers)

    # -- docs/protocol/devserver-api.rst#event-ingestion and #health -----------

    async def _health(self, r: _Request) -> Response:
        return json_response(200, {"status": 200, "message": "OK"})

    async def _dev(self, r: _Request) -> Response:
        functions = [
            self._function_json(app.name, fn) for app, fn in self._apps.functions()
        ]
        return json_response(
            200,
            {
                **self._info,
                "authed": self._auth.enabled,
                "functions": functions,
                "handlers": None,
                "isSingleNodeService": True,
                "isMissingSigningKey": not self._auth.enabled,
                "isMissingEventKeys": not self._event_keys,
                "features": {},
            },
        )

    def _event_key_known(self, key: str) -> bool:
        if not self._event_keys:
            return True
        given = key.encode()
        # Every key compared, in constant time: timing tells nothing.
        matches = [hmac.compare_digest(given, known) for known in self._event_keys]
        return any(matches)

    async def _events(self, r: _Request) -> Response:
        if not self._event_key_known(r.parts[1]):
            return json_response(
                401, {"status": 401, "message": "", "error": "Event key not found"}
            )
        try:
            raw_events = read_event_body(r.body)
        except InvalidEventBody as err:
            return error(400, str(err))
        if not raw_events:
            return json_response(200, {"ids": [], "status": 200})
        if len(raw_events) > MAX_EVENTS_PER_REQUEST:
            return error(
                400, f"Too many events: at most {MAX_EVENTS_PER_REQUEST} per request"
            )
        # One request's events at a time, in the order they came, each
        # batch checked and routed in slices with checkpoints between: a
        # burst of big batches leaves room for every other request (a
        # /health among them answers in milliseconds), not a queue of
        # batches all being worked on at once.
        if self._ingest_turn is None:
            self._ingest_turn = anyio.Lock()
        turn = self._ingest_turn
        try:
            turn.acquire_nowait()  # free: no round through the event loop
        except anyio.WouldBlock:
            await turn.acquire()
        try:
            return await self._ingest(r, raw_events)
        finally:
            turn.release()

    async def _ingest(self, r: _Request, raw_events: list[Any]) -> Response:
        now_ms = _now_ms(self._driver)
        minted = EventIds(r.headers.get("x-inngest-event-id-seed"), now_ms)
        ids: list[str] = []
        events: list[dict[str, Any]] = []
        invalid: str | None = None
        for index, raw in enumerate(raw_events):
            if index and index % ROUTE_SLICE == 0:
                await anyio.sleep(0)
            internal = minted.for_index(index)
            try:
                events.append(normalize_event(raw, internal, now_ms))
            except ValueError as err:
                invalid = str(err)
                break
            ids.append(internal)
        try:
            # Committed (with a store) before we answer (``handle`` waits
            # for the commit): an acknowledged event survives a crash.
            # Events before an invalid one are published, as the real
            # server does.
            await self._driver.receive_in_slices(events, ids)
        # The database's failures; any other error is a bug, which the
        # server answers 500 too, without claiming the events went unstored.
        except StoreError:
            _log.exception("dev server: could not store %d event(s)", len(events))
            return error(500, "Could not store the events")
        if invalid is not None:
            ids.append("")  # the invalid event's slot stays empty
            return json_response(400, {"ids": ids, "status": 400, "error": invalid})
        return json_response(200, {"ids": ids, "status": 200})

    # -- docs/protocol/devserver-api.rst#register ----------------------------------

    async def _register(self, r: _Request) -> Response:
        # The SDK copies the kind our sync PUT announced; an app that was
        # asked by another server (or is in the other mode) is refused.
        expected = r.headers.get("x-inngest-expected-server-kind")
        ours = self._auth.server_kind
        if expected and expected != ours:
            return error(400, f"Expected server kind {ours}, got {expected}")
        try:
            sync = parse_sync(r.body)
        except InvalidSync as err:
            self._apps.refuse(err)
            return error(400, *err.reply())
        return json_response(200, self._apps.register(sync))

    async def _remove(self, r: _Request) -> Response:
        url = r.query.get("url", "")
        if not self._apps.remove(url):
            return error(404, f"App not found: {url}")
        return json_response(200, {"ok": True})

    async def _sync(self, r: _Request) -> Response:
        url = r.query.get("url", "")
        if not url.startswith(("http://", "https://")):
            return error(400, "url must be an http:// or https:// URL")
        app = await self._sync_url(url)
        return json_response(200 if app.get("state") == "synced" else 502, app)

    async def _graphql(self, r: _Request) -> Response:
        status, body = self.graphql.execute(r.body)
        return json_response(status, body)

    # -- docs/protocol/devserver-api.rst#connect-endpoints -------------------------

    async def _connect_start(self, r: _Request) -> Response:
        assert self._gateway is not None
        try:
            # Only ``exclude_gateways``, which one gateway cannot honour.
            pb.StartRequest.FromString(r.body)
        except (DecodeError, UnicodeDecodeError):
            return error(400, "invalid StartRequest")
        started = self._gateway.start(r.headers.get("host"))
        return _protobuf(started.SerializeToString())

    async def _connect_flush(self, r: _Request) -> Response:
        assert self._gateway is not None
        if not r.body:
            return error(400, "empty body: an SDKResponse is required")
        try:
            flushed = self._gateway.flush(r.body)
        except ValueError as err:
            return error(400, str(err))
        return _protobuf(flushed.SerializeToString())

    async def _connect_list(self, r: _Request) -> Response:
        assert self._gateway is not None
        conns = self._gateway.connections()
        app = r.query.get("app_id") or r.query.get("app")
        if app:
            conns = [c for c in conns if app in c["apps"] or app in c["app_ids"]]
        return json_response(200, {"data": conns})

    async def _connect_drain(self, r: _Request) -> Response:
        assert self._gateway is not None
        connection_id = r.query.get("connection_id", "")
        if not await self._gateway.drain(connection_id):
            return error(404, f"Connection not found: {connection_id}")
        return json_response(200, {"ok": True})

    # -- docs/protocol/devserver-api.rst#run-data ----------------------------------

    async def _run_data(self, r: _Request) -> Response:
        run_id, what = r.parts[2], r.parts[3]
        if what not in ("batch", "actions"):
            return error(404, f"Not found: {what}")
        if not _is_ulid(run_id):
            return error(400, f"invalid run ID: {run_id}")
        run = self._driver.get_run(run_id)
        if run is None or not run.is_running:
            return error(
                410, f"runtime state is no longer available for runID: {run_id}"
            )
        # Only a call request too large to carry the state leads here.
        _log.info("run %s: the SDK fetched its %s (use_api)", run_id, what)
        if what == "batch":
            return json_response(200, run.events)
        return json_response(200, {step: run.steps[step] for step in run.stack})

    # -- docs/protocol/devserver-api.rst#rest-events and #rest-runs ---------------

    async def _v1_events(self, r: _Request) -> Response:
        if len(r.parts) == 2:
            return self._list_events(r.query)
        internal = r.parts[2]
        if not _is_ulid(internal):
            return error(400, f"invalid event ID: {internal}")
        stored = self._driver.event(internal)
        if len(r.parts) == 3:
            if stored is None:
                return error(404, f"Event not found: {internal}")
            return envelope(_event_json(stored))
        if r.parts[3] != "runs":
            return error(404, f"Not found: {r.parts[3]}")
        runs = self._driver.runs_for_event(internal)
        return envelope([self._run_json(run) for run in runs])

    def _list_events(self, query: Mapping[str, str]) -> Response:
        try:
            limit = int(query.get("limit", _DEFAULT_LIMIT))
        except ValueError:
            return error(400, "limit must be an integer")
        limit = min(max(limit, 1), _MAX_LIMIT)
        name, cursor = query.get("name") or None, query.get("cursor") or None
        if cursor is not None and not _is_ulid(cursor):
            return error(400, f"invalid cursor: {cursor}")
        # Newest first by internal id; the cursor is the last id of the
        # previous page, so events that came in one request page in order.
        listed = self._driver.list_events(limit, cursor, name=name)
        return envelope([_event_json(stored) for stored in listed])

    async def _v1_run(self, r: _Request) -> Response:
        run_id = r.parts[2]
        run = self._driver.get_run(run_id)
        if r.method == "DELETE":
            if run is None:
                return error(404, f"Run not found: {run_id}")
            # A finished run: a no-op (docs/protocol/devserver-api.rst#rest-runs).
            self._driver.cancel(run_id)
            return Response(200, dict(JSON_HEADERS), b"")
        if run is None:
            # The real server answers 500 here, not 404
            # (docs/protocol/devserver-api.rst#rest-runs).
            return error(500, f"Unable to load function run: {run_id}")
        return envelope(self._run_json(run))

    async def _v1_signals(self, r: _Request) -> Response:
        """Resume the run waiting for ``{"signal": name, "data": ...}``."""
        try:
            body = json_codec.loads(r.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return error(400, "Invalid request body: want JSON {signal, data}")
        signal = body.get("signal") if isinstance(body, dict) else None
        if not isinstance(signal, str) or not signal:
            return error(400, "Invalid request body: signal must be a non-empty string")
        run_id = self._driver.signal(signal, body.get("data"))
        if run_id is None:
            return error(404, "No signal found")
        return envelope({"run_id": run_id})

    async def _v1_apps(self, r: _Request) -> Response:
        if len(r.parts) == 2:
            return envelope([app.describe() for app in self._apps.by_url.values()])
        if len(r.parts) == 4 and r.parts[3] == "functions":
            name = r.parts[2]
            return json_response(
                200,
                [
                    self._function_json(app.name, fn)
                    for app, fn in self._apps.functions()
                    if app.name == name
                ],
            )
        return error(404, "Not found")

    async def _v1_checkpoint(self, r: _Request) -> Response:
        # ``/v1/http`` routes go on with ``/runs``; strip it to share the rest.
        if r.parts[1] == "checkpoint":
            rest = r.parts[2:]
        elif r.parts[2:3] == ["runs"]:
            rest = r.parts[3:]
        else:
            return error(404, f"Not found: {r.method} /{'/'.join(r.parts)}")
        if len(rest) == 2 and rest[1] == "async" and r.method == "POST":
            return self._checkpoint_async(rest[0], r.body)
        if not rest and r.method == "POST":
            return self.endpoints.new_run(r.body)
        if len(rest) == 2 and rest[1] == "steps" and r.method == "POST":
            return self.endpoints.steps(rest[0], r.body)
        return error(404, f"Not found: {r.method} /{'/'.join(r.parts)}")

    async def _checkpoint_output(self, r: _Request) -> Response:
        # /v1/checkpoint/{id}/output or /v1/http/runs/{id}/output
        rest = r.parts[2:] if r.parts[1] == "checkpoint" else r.parts[3:]
        if len(rest) != 2 or (r.parts[1] == "http" and r.parts[2] != "runs"):
            return error(404, f"Not found: {r.method} /{'/'.join(r.parts)}")
        return await self.endpoints.output(rest[0], r.query)

    def _checkpoint_async(self, run_id: str, body: bytes) -> Response:
        if not _is_ulid(run_id):
            return error(400, f"invalid request body: invalid run ID: {run_id}")
        try:
            self._driver.checkpoint(parse_checkpoint(body, run_id))
        except CheckpointRejected as err:
            _log.warning("dev server: checkpoint for run %s refused: %s", run_id, err)
            return error(err.status, "Failed to checkpoint steps", str(err))
        return Response(200, dict(JSON_HEADERS), b"")

    def _function_json(self, app_name: str, fn: FunctionConfig) -> dict[str, Any]:
        """A function as the API lists it: what it runs on, its flow control,
        and (ours) when its cron triggers fire next."""
        config = unstructure(fn)
        out = {
            "id": function_uuid(fn.id),
            "slug": fn.id,
            "name": fn.name,
            "app": app_name,
            "triggers": config["triggers"],
            "config": {k: v for k, v in config.items() if k in _FLOW_OPTIONS},
        }
        ticks = self._driver.executor.next_ticks(fn.id)
        if ticks:
            out["next_cron_ticks"] = [rfc3339(t) for t in ticks]
        return out

    def _run_json(self, run: Run) -> dict[str, Any]:
        first = run.event.get("id")
        internal = self._driver.internal_id(str(first)) if first else None
        out: dict[str, Any] = {
            "run_id": run.run_id,
            "run_started_at": rfc3339(run.created_at),
            "function_id": function_uuid(run.function_id),
            "function_slug": run.function_id,
            "function_version": 1,
            "environment_id": ENVIRONMENT_ID,
            "event_id": internal,
            # The server's v1 API knows no status before a run ends: a queued
            # run is "Running" there too (GraphQL and the UI say Queued).
            "status": _V1_STATUS.get(run.status, run.status.value),
            "ended_at": None if run.ended_at is None else rfc3339(run.ended_at),
        }
        if not run.is_running:
            out["output"] = run.output
        return out


def _protobuf(body: bytes) -> Response:
    headers = {**JSON_HEADERS, "content-type": "application/octet-stream"}
    return Response(200, headers, body)


def _event_json(stored: StoredEvent) -> dict[str, Any]:
    event = stored.event
    out = {
        "internal_id": stored.internal_id,
        "account_id": ACCOUNT_ID,
        "environment_id": ENVIRONMENT_ID,
        "source": "",
        "source_id": None,
        "received_at": rfc3339(stored.received_at),
        "id": event.get("id"),
        "name": event.get("name"),
        "data": event.get("data"),
        "user": event.get("user"),
        "ts": event.get("ts"),
    }
    if "v" in event:
        out["v"] = event["v"]
    return out


def _is_ulid(text: str) -> bool:
    return len(text) == _ULID_LENGTH and set(text.upper()) <= _ULID_CHARS


def _now_ms(driver: Driver) -> int:
    return int(driver.now() * 1000)
