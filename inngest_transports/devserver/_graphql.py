"""``POST /v0/gql``: the dev server's GraphQL API, the subset tools use.

Tools written against Inngest's dev server (the official SDKs' test
harnesses among them) find a run from the event that started it, wait for
its status, and read its trigger, output and step outputs through GraphQL;
the schema (:mod:`._graphql_schema`) copies the real server's names and
shapes for exactly that.  Queries run on graphql-core.

A query is untrusted input: the body, the query text and its token count
are bounded before it is parsed, and its selection depth before it is
validated, so no query can make the server parse, walk or answer without
end.  Errors come back as the real server (gqlgen) sends them: 400 for a
body that is not JSON, 422 for a query that does not parse or validate, and
200 with ``errors`` beside ``data`` for a field that failed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    execute_sync,
    parse,
    validate,
)
from graphql.language import DocumentNode

from inngest_proto import TriggerCron, TriggerEvent
from inngest_proto.executor import Run, RunStatus, function_uuid

from ._apps import App, Apps
from ._driver import Driver, StoredEvent
from ._graphql_schema import SCHEMA_SDL
from ._rfc3339 import rfc3339

__all__ = ["MAX_BODY_BYTES", "MAX_DEPTH", "MAX_TOKENS", "GraphQLApi"]

#: A request body (query and variables) above this is refused unread.
MAX_BODY_BYTES = 256 * 1024
#: Tokens the parser reads before it gives up on a query.
MAX_TOKENS = 4000
#: Nested selections allowed (the standard introspection query needs 13).
MAX_DEPTH = 15
#: Events ``events`` lists, newest first (as the real server's page).
_EVENTS_PAGE = 50

# The dev server's run statuses in GraphQL spelling
# (docs/protocol/executor.rst#run-statuses).
_RUN_STATUS = {
    RunStatus.QUEUED: "QUEUED",
    RunStatus.RUNNING: "RUNNING",
    RunStatus.COMPLETED: "COMPLETED",
    RunStatus.FAILED: "FAILED",
    RunStatus.CANCELLED: "CANCELLED",
}
# Timeline statuses (see ``_timeline``) as span statuses.
_SPAN_STATUS = {
    "completed": "COMPLETED",
    "failed": "FAILED",
    "cancelled": "CANCELLED",
    "running": "RUNNING",
    "retrying": "RUNNING",
    "sleeping": "WAITING",
    "waiting": "WAITING",
}
_STEP_OPS = {
    "run": "RUN",
    "send": "RUN",
    "sleep": "SLEEP",
    "wait": "WAIT_FOR_EVENT",
    "invoke": "INVOKE",
    "ai": "AI_GATEWAY",
}
_ULID_CHARS = frozenset("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
# The span whose output is the function's own (no step has an empty id).
_FUNCTION_SPAN = ""
Reply = tuple[int, dict[str, Any]]


class GraphQLApi:
    """Runs one GraphQL request against the driver's runs and the apps."""

    def __init__(self, driver: Driver, apps: Apps) -> None:
        self._schema: GraphQLSchema = build_schema(SCHEMA_SDL)
        self._root = _Root(driver, apps)

    def execute(self, body: bytes) -> Reply:
        """The HTTP status and JSON body answering ``body``."""
        if len(body) > MAX_BODY_BYTES:
            return _failed(413, f"request body over {MAX_BODY_BYTES} bytes")
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as err:
            return _failed(400, f"json request body could not be decoded: {err}")
        if not isinstance(request, dict):
            return _failed(400, "json request body could not be decoded: not an object")
        query = request.get("query")
        variables = request.get("variables")
        operation = request.get("operationName")
        if not isinstance(query, str) or not query.strip():
            return _failed(422, "no operation provided", "GRAPHQL_PARSE_FAILED")
        if variables is not None and not isinstance(variables, dict):
            return _failed(400, "variables must be an object")
        if operation is not None and not isinstance(operation, str):
            return _failed(400, "operationName must be a string")
        try:
            document = parse(query, no_location=False, max_tokens=MAX_TOKENS)
        except GraphQLError as err:
            return 422, _errors([err], "GRAPHQL_PARSE_FAILED")
        too_deep = _too_deep(document)
        if too_deep is not None:
            return 422, _errors([too_deep], "GRAPHQL_VALIDATION_FAILED")
        invalid = validate(self._schema, document)
        if invalid:
            return 422, _errors(invalid, "GRAPHQL_VALIDATION_FAILED")
        result = execute_sync(
            self._schema,
            document,
            root_value=self._root,
            variable_values=variables,
            operation_name=operation,
        )
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [err.formatted for err in result.errors]
        return 200, out


def _failed(status: int, message: str, code: str | None = None) -> Reply:
    error: dict[str, Any] = {"message": message}
    if code is not None:
        error["extensions"] = {"code": code}
    return status, {"errors": [error], "data": None}


def _errors(errors: list[GraphQLError], code: str) -> dict[str, Any]:
    formatted = []
    for err in errors:
        one: dict[str, Any] = dict(err.formatted)
        extensions: dict[str, Any] = dict(one.get("extensions") or {})
        one["extensions"] = {**extensions, "code": code}
        formatted.append(one)
    return {"errors": formatted, "data": None}


# -- limits ----------------------------------------------------------------------------


def _too_deep(document: DocumentNode) -> GraphQLError | None:
    """An error when an operation nests selections deeper than :data:`MAX_DEPTH`.

    Fragments count where they are spread.  Each fragment's depth is worked
    out once, so fragments spreading each other many times cost no more than
    their text; a cycle counts as nothing here (validation rejects it).
    """
    fragments = {
        d.name.value: d
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    known: dict[str, int] = {}

    def depth(selections: SelectionSetNode | None, visiting: frozenset[str]) -> int:
        if selections is None:
            return 0
        deepest = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                inner = 1 + depth(selection.selection_set, visiting)
            elif isinstance(selection, InlineFragmentNode):
                inner = depth(selection.selection_set, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                inner = fragment_depth(selection.name.value, visiting)
            else:  # pragma: no cover - the three kinds above are all there are
                inner = 0
            deepest = max(deepest, inner)
            if deepest > MAX_DEPTH:
                break
        return deepest

    def fragment_depth(name: str, visiting: frozenset[str]) -> int:
        if name in known:
            return known[name]
        fragment = fragments.get(name)
        if fragment is None or name in visiting:
            return 0
        known[name] = depth(fragment.selection_set, visiting | {name})
        return known[name]

    for definition in document.definitions:
        if (
            isinstance(definition, OperationDefinitionNode)
            and depth(definition.selection_set, frozenset()) > MAX_DEPTH
        ):
            return GraphQLError(
                f"query is nested deeper than {MAX_DEPTH} levels", definition
            )
    return None


# -- resolvers -------------------------------------------------------------------------


class _Root:
    """The ``Query`` type: each method resolves the field of its name."""

    def __init__(self, driver: Driver, apps: Apps) -> None:
        self._driver = driver
        self._apps = apps

    # graphql-core calls ``root.<field>(info, **arguments)``; no resolver
    # here needs ``info``.

    def apps(
        self, info: object, filter: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        method = (filter or {}).get("method")
        out = [self._app(app) for app in self._apps.by_url.values()]
        return [a for a in out if method is None or a["method"] == method]

    def app(self, info: object, id: str) -> dict[str, Any] | None:
        return next(
            (self._app(a) for a in self._apps.by_url.values() if a.app_id == id), None
        )

    def functions(self, info: object) -> list[dict[str, Any]]:
        return [
            self._function(app, fn_id)
            for app in self._apps.by_url.values()
            for fn_id in (fn.id for fn in app.functions)
        ]

    def event(self, info: object, query: Mapping[str, Any]) -> dict[str, Any] | None:
        event_id = str(query["eventId"])
        stored = self._driver.event(event_id)
        if stored is None:
            # The SDKs' event id (the one in the payload) finds it too.
            internal = self._driver.internal_id(event_id)
            stored = self._driver.event(internal) if internal else None
        if stored is None:
            msg = f"event not found: {event_id}"
            raise GraphQLError(msg)
        return self._event(stored)

    def events(self, info: object, query: Mapping[str, Any]) -> list[dict[str, Any]]:
        before = query.get("lastEventId")
        listed = self._driver.list_events(_EVENTS_PAGE, str(before) if before else None)
        return [self._event(stored) for stored in listed]

    def run(self, info: object, runID: str) -> dict[str, Any]:
        return self._run_v2(self._find_run(runID))

    def runTrigger(self, info: object, runID: str) -> dict[str, Any]:
        run = self._find_run(runID)
        ids = [
            internal
            for event in run.events
            if (internal := self._driver.internal_id(str(event.get("id")))) is not None
        ]
        first = run.event
        cron = first.get("data", {}).get("cron") if first.get("name") == _CRON else None
        return {
            "eventName": None if cron is not None else first.get("name"),
            "IDs": ids,
            "payloads": [_json_text(event) for event in run.events],
            "timestamp": _time(_ts_seconds(first.get("ts"), run.created_at))
            or _time(run.created_at),
            "isBatch": run.batch_id is not None,
            "batchID": run.batch_id,
            "cron": cron if isinstance(cron, str) else None,
        }

    def runTraceSpanOutputByID(self, info: object, outputID: str) -> dict[str, Any]:
        run_id, step_id = _decode_output_id(outputID)
        run = self._find_run(run_id)
        if step_id == _FUNCTION_SPAN:
            if run.status is RunStatus.COMPLETED:
                return {"input": None, "data": _json_text(run.output), "error": None}
            if run.status is RunStatus.FAILED:
                return {"input": None, "data": None, "error": _step_error(run.error)}
            return {"input": None, "data": None, "error": None}
        item = next((i for i in self._driver.timeline(run) if i["id"] == step_id), None)
        if item is None:
            msg = f"span output not found: {outputID}"
            raise GraphQLError(msg)
        if item["status"] == "completed":
            return {"input": None, "data": _json_text(item["output"]), "error": None}
        if item["error"] is not None:
            return {"input": None, "data": None, "error": _step_error(item["error"])}
        return {"input": None, "data": None, "error": None}

    # -- objects -------------------------------------------------------------------

    def _find_run(self, run_id: str) -> Run:
        if len(run_id) != 26 or not set(run_id.upper()) <= _ULID_CHARS:
            msg = f"error parsing runID: {run_id!r} is not a ULID"
            raise GraphQLError(msg)
        run = self._driver.get_run(run_id.upper())
        if run is None:
            msg = f"error retrieving run: run not found: {run_id}"
            raise GraphQLError(msg)
        return run

    def _app(self, app: App) -> dict[str, Any]:
        return {
            "id": app.app_id,
            "externalID": app.name,
            "name": app.name,
            "sdkLanguage": _sdk_part(app.sdk, 0),
            "sdkVersion": _sdk_part(app.sdk, 1),
            "framework": app.framework or None,
            "url": app.url,
            "checksum": app.checksum,
            "error": app.error,
            "functions": lambda info: [
                self._function(app, f.id) for f in app.functions
            ],
            "method": "CONNECT" if app.is_connect else "SERVE",
            "connected": app.state == "synced",
            "functionCount": len(app.functions),
            "autodiscovered": False,
        }

    def _function(self, app: App | None, slug: str) -> dict[str, Any]:
        registered = self._driver.executor.functions.get(slug)
        config = registered.config if registered is not None else None
        triggers: list[dict[str, Any]] = []
        for trigger in config.triggers if config is not None else []:
            if isinstance(trigger, TriggerEvent):
                triggers.append(
                    {
                        "type": "EVENT",
                        "value": trigger.event,
                        "condition": trigger.expression,
                    }
                )
            elif isinstance(trigger, TriggerCron):
                triggers.append(
                    {"type": "CRON", "value": trigger.cron, "condition": None}
                )
        if app is None and registered is not None:
            app = self._apps.by_url.get(registered.app_url)
        limits = [c.limit for c in (config.concurrency or [])] if config else []
        return {
            "id": registered.uuid if registered is not None else function_uuid(slug),
            "name": config.name if config is not None else slug,
            "slug": slug,
            "concurrency": min(limits, default=0),
            "triggers": triggers,
            "url": registered.runtime_url if registered is not None else "",
            "appID": app.app_id if app is not None else "",
            "app": lambda info: self._app(app if app is not None else App(url="")),
        }

    def _event(self, stored: StoredEvent) -> dict[str, Any]:
        event = stored.event
        runs = self._driver.runs_for_event(stored.internal_id)
        return {
            "id": stored.internal_id,
            "externalID": event.get("id"),
            "name": event.get("name"),
            "createdAt": _time(_ts_seconds(event.get("ts"), stored.received_at)),
            "payload": _json_text(event.get("data")),
            "totalRuns": len(runs),
            "raw": _json_text(event),
            "functionRuns": lambda info: [
                self._run_v1(run, stored.internal_id) for run in runs
            ],
        }

    def _run_v1(self, run: Run, event_id: str) -> dict[str, Any]:
        return {
            "id": run.run_id,
            "functionID": run.function_id,
            "function": lambda info: self._function(None, run.function_id),
            "status": _run_status(run),
            "startedAt": _time(run.created_at),
            "finishedAt": _time(run.ended_at),
            "output": _run_output(run),
            "eventID": event_id,
        }

    def _run_v2(self, run: Run) -> dict[str, Any]:
        fn = self._function(None, run.function_id)
        ids = [
            internal
            for event in run.events
            if (internal := self._driver.internal_id(str(event.get("id")))) is not None
        ]
        return {
            "id": run.run_id,
            "appID": fn["appID"] or function_uuid(""),
            "functionID": fn["id"],
            "function": fn,
            "traceID": run.run_id,
            "queuedAt": _time(run.created_at),
            "startedAt": _time(run.created_at),
            "endedAt": _time(run.ended_at) if not run.is_running else None,
            "status": _run_status(run),
            "triggerIDs": ids,
            "eventName": run.event.get("name"),
            "isBatch": run.batch_id is not None,
            "output": _run_output(run),
            "trace": lambda info, preview=None: self._trace(run, fn),
            "hasAI": False,
        }

    def _trace(self, run: Run, fn: Mapping[str, Any]) -> dict[str, Any]:
        """The run's span (the function) with one child span per step."""
        children = []
        for item in self._driver.timeline(run):
            if item["kind"] == "function":
                continue
            status = _SPAN_STATUS.get(item["status"], "RUNNING")
            has_output = status in ("COMPLETED", "FAILED")
            children.append(
                _span(
                    run,
                    fn,
                    span_id=item["id"],
                    name=item["name"],
                    status=status,
                    started=item["started_at"],
                    ended=item["ended_at"],
                    output_id=_output_id(run.run_id, item["id"])
                    if has_output
                    else None,
                    attempts=len(item["attempts"]) or None,
                    step_op=_STEP_OPS.get(item["kind"]),
                    parent=run.run_id,
                )
            )
        status = _RUN_STATUS.get(run.status, "RUNNING")
        finished = run.status in (RunStatus.COMPLETED, RunStatus.FAILED)
        root = _span(
            run,
            fn,
            span_id=run.run_id,
            name=fn["name"],
            status=status,
            started=run.created_at,
            ended=run.ended_at,
            output_id=_output_id(run.run_id, _FUNCTION_SPAN) if finished else None,
            attempts=None,
            step_op=None,
            parent=None,
        )
        root["childrenSpans"] = children
        return root


def _span(
    run: Run,
    fn: Mapping[str, Any],
    *,
    span_id: str,
    name: str,
    status: str,
    started: float | None,
    ended: float | None,
    output_id: str | None,
    attempts: int | None,
    step_op: str | None,
    parent: str | None,
) -> dict[str, Any]:
    duration = None
    if started is not None and ended is not None:
        duration = round(max(ended - started, 0.0) * 1000)
    return {
        "appID": fn["appID"] or function_uuid(""),
        "functionID": fn["id"],
        "runID": run.run_id,
        "spanID": span_id,
        "traceID": run.run_id,
        "name": name,
        "status": status,
        "attempts": attempts,
        "duration": duration,
        "outputID": output_id,
        "queuedAt": _time(started if started is not None else run.created_at),
        "startedAt": _time(started),
        "endedAt": _time(ended),
        "childrenSpans": [],
        "stepOp": step_op,
        "stepID": span_id if parent is not None else None,
        "stepType": step_op or "",
        "isRoot": parent is None,
        "parentSpanID": parent,
    }


_CRON = "inngest/scheduled.timer"


def _run_status(run: Run) -> str:
    return _RUN_STATUS.get(run.status, "RUNNING")


def _run_output(run: Run) -> str | None:
    """``output``: JSON text of the return value, or of the SDK's error body."""
    if run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
        return _json_text(run.output)
    return None


def _step_error(error: Any) -> dict[str, Any]:
    if not isinstance(error, Mapping):
        return {"message": str(error), "name": "Error", "stack": None}
    message = error.get("message")
    name, stack = error.get("name"), error.get("stack")
    return {
        "message": message if isinstance(message, str) else str(error.get("error", "")),
        "name": name if isinstance(name, str) else None,
        "stack": stack if isinstance(stack, str) else None,
    }


def _output_id(run_id: str, step_id: str) -> str:
    raw = f"{run_id}:{step_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_output_id(output_id: str) -> tuple[str, str]:
    try:
        padded = output_id + "=" * (-len(output_id) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    run_id, sep, step_id = text.partition(":")
    if not sep:
        msg = f"error parsing span identifier: {output_id!r}"
        raise GraphQLError(msg)
    return run_id, step_id


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _ts_seconds(ts: Any, fallback: float) -> float:
    if isinstance(ts, int | float) and not isinstance(ts, bool) and ts > 0:
        return ts / 1000
    return fallback


def _time(at: float | None) -> str | None:
    """RFC 3339 in UTC; ``None`` for no time or one out of range."""
    if at is None:
        return None
    try:
        return rfc3339(at)
    except (OverflowError, OSError, ValueError):
        return None


def _sdk_part(sdk: str, index: int) -> str:
    """``"py:v0.5.1"`` -> ``"py"`` / ``"0.5.1"`` (language, version)."""
    parts = sdk.split(":", 1)
    if index >= len(parts):
        return ""
    return parts[index].removeprefix("v") if index else parts[index]
