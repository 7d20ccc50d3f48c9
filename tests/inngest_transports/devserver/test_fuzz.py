"""Every route of a live dev server (with a store) fed what hypothesis makes
up: bodies of any shape and depth, in any encoding, with any headers.  Each
answer must be a well-formed HTTP response below 500 (but the two 5xx the
real server gives too), the server must stay up, and a restart on the
database it filled must load and finish every run.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inngest_proto.executor import MAX_DATA_DEPTH
from inngest_transports.devserver import DevServer
from inngest_transports.devserver._sqlite_store import SQLiteStore

from ._raw_app import RawApp, raw_app

#: Per backend: enough to reach every route many times, well under a minute.
EXAMPLES = 300
_ULID = "01J00000000000000000000000"
# Nothing listens on port 9 (discard) of loopback: a sync there fails fast,
# and nothing the fuzz makes up may reach another address.
_CLOSED = "http://127.0.0.1:9/api/inngest"

#: (method, path); ``{id}`` and ``{name}`` are filled in by the test.
ROUTES = [
    ("GET", "/health"),
    ("GET", "/dev"),
    ("POST", "/e/key"),
    ("POST", "/e/{name}"),
    ("POST", "/fn/register"),
    ("DELETE", "/fn/remove"),
    ("POST", "/v0/apps/sync"),
    ("GET", "/v0/runs/{id}/batch"),
    ("GET", "/v0/runs/{id}/actions"),
    ("POST", "/v0/gql"),
    ("GET", "/v1/events"),
    ("GET", "/v1/events/{id}"),
    ("GET", "/v1/events/{id}/runs"),
    ("GET", "/v1/runs/{id}"),
    ("DELETE", "/v1/runs/{id}"),
    ("GET", "/v1/apps"),
    ("GET", "/v1/apps/{name}/functions"),
    ("POST", "/v1/checkpoint"),
    ("POST", "/v1/checkpoint/{id}/async"),
    ("POST", "/v1/checkpoint/{id}/steps"),
    ("GET", "/v1/checkpoint/{id}/output"),
    ("POST", "/v1/http/runs/{id}/async"),
    ("POST", "/v1/realtime/publish"),
    ("POST", "/v1/realtime/token"),
    ("GET", "/v1/realtime/connect"),
    ("POST", "/v0/connect/start"),
    ("POST", "/v0/connect/flush"),
    ("GET", "/v0/connect/connections"),
    ("POST", "/v0/connect/drain"),
    ("GET", "/"),
    ("GET", "/ui/app.js"),
    ("GET", "/ui/api/version"),
    ("GET", "/ui/api/apps"),
    ("POST", "/ui/api/apps/resync"),
    ("GET", "/ui/api/functions"),
    ("GET", "/ui/api/events"),
    ("POST", "/ui/api/events"),
    ("GET", "/ui/api/runs"),
    ("GET", "/ui/api/runs/{id}"),
    ("POST", "/ui/api/runs/{id}/cancel"),
    ("POST", "/ui/api/runs/{id}/rerun"),
    ("POST", "/ui/api/runs/cancel"),
    ("POST", "/ui/api/runs/rerun"),
    ("POST", "/ui/api/apps/remove"),
    ("GET", "/ui/api/workers"),
    ("POST", "/ui/api/functions/{id}/invoke"),
    ("GET", "/favicon.ico"),
    ("GET", "/ui/plain"),
    ("GET", "/ui/plain/runs/{id}"),
    ("POST", "/ui/plain/events"),
]

# Text of every kind, lone surrogates included (JSON escapes them), and the
# strings most likely to break something.
_HOSTILE_TEXT = ["\ud800", "fuzz/\udfff", "\x00", "🙂", "inngest/x", "fuzz/a", ""]
_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=12),
    st.sampled_from(_HOSTILE_TEXT),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
)
_json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)
    ),
    max_leaves=12,
)
_names = st.one_of(st.sampled_from(["fuzz/a", "fuzz/b"]), _text)
_data = st.one_of(
    st.dictionaries(st.sampled_from(["k", "n", "p", "s"]), _json_values),
    _json_values,
)
_events = st.fixed_dictionaries(
    {"name": _names},
    optional={
        "data": _data,
        "id": st.one_of(_text, _json_values),
        "ts": st.one_of(st.integers(), _json_values),
        "user": _json_values,
        "v": _json_values,
    },
)
_ops = st.fixed_dictionaries(
    {
        "id": _text,
        "op": st.sampled_from(["StepRun", "Step", "Sleep", "RunComplete", "Bogus"]),
    },
    optional={"data": _json_values, "name": _text, "opts": _json_values},
)
_functions = st.fixed_dictionaries(
    {
        "id": _text,
        "name": _text,
        "triggers": st.lists(
            st.fixed_dictionaries(
                {"event": _names}, optional={"expression": _text, "cron": _text}
            ),
            max_size=2,
        ),
        # Only loopback: events the fuzz sends may start these functions.
        "steps": st.just(
            {"step": {"id": "step", "name": "s", "runtime": {"url": _CLOSED}}}
        ),
    },
    optional={
        "idempotency": _text,
        "rateLimit": _json_values,
        "concurrency": _json_values,
        "debounce": _json_values,
        "priority": _json_values,
        "cancel": _json_values,
    },
)


@st.composite
def _bombs(draw: st.DrawFn) -> bytes:
    """JSON nested around the depth limits, and far deeper."""
    depth = draw(st.sampled_from([MAX_DATA_DEPTH, MAX_DATA_DEPTH + 1, 999, 5000]))
    inner = draw(st.sampled_from([b"[", b'{"a":']))
    close = b"]" if inner == b"[" else b"}"
    return inner * depth + b"1" + close * depth


@st.composite
def _depth_bombs(draw: st.DrawFn) -> bytes:
    bomb = draw(_bombs())
    wrapper = draw(st.sampled_from(["bare", "data", "steps", "list", "form"]))
    if wrapper == "data":
        return b'{"name":"fuzz/a","data":{"k":' + bomb + b"}}"
    if wrapper == "steps":
        return b'{"steps":[{"id":"a","op":"StepRun","data":' + bomb + b"}]}"
    if wrapper == "list":
        return b"[" + bomb + b"]"
    if wrapper == "form":
        return b"name=fuzz%2Fa&data=" + urllib.parse.quote_from_bytes(bomb).encode()
    return bomb


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


def _form(value: dict[str, Any]) -> bytes:
    fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
    return urllib.parse.urlencode(fields, errors="surrogatepass").encode()


_generic_bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=64),
    _json_values.map(_json_bytes),
    _depth_bombs(),
)
#: Bodies shaped for a route (by path prefix), so they get past the first
#: checks; any route also gets the generic ones.
_BODIES: dict[str, st.SearchStrategy[bytes]] = {
    "/e/": st.one_of(
        _events.map(_json_bytes), st.lists(_events, max_size=4).map(_json_bytes)
    ),
    "/ui/api/events": _events.map(_json_bytes),
    "/ui/plain/events": st.one_of(
        _events.map(_form),
        _bombs().map(lambda bomb: _form({"name": "fuzz/a", "data": bomb.decode()})),
    ),
    "/fn/register": st.fixed_dictionaries(
        {
            "appName": _text,
            "url": st.just(_CLOSED),
            "functions": st.lists(_functions, max_size=2),
        }
    ).map(_json_bytes),
    "/v1/checkpoint": st.fixed_dictionaries(
        {"run_id": st.just(_ULID), "steps": st.lists(_ops, max_size=3)}
    ).map(_json_bytes),
    "/v0/gql": st.fixed_dictionaries(
        {
            "query": st.sampled_from(
                [
                    "{ events(query: {}) { id name payload } }",
                    "query($id: ID!) { event(query: {eventId: $id}) { id } }",
                    '{ run(runID: "x") { id } }',
                    "{ apps { id name functions { id } } }",
                    "{",
                ]
            ),
            "variables": st.one_of(_json_values, st.just({"id": _ULID})),
        }
    ).map(_json_bytes),
}
_encodings = st.sampled_from(
    ["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32-le", "latin-1", None]
)


@st.composite
def _encoded(draw: st.DrawFn, path: str) -> bytes:
    shaped = [b for prefix, b in _BODIES.items() if path.startswith(prefix)]
    body: bytes = draw(st.one_of(*shaped, *shaped, _generic_bodies))
    encoding = draw(_encodings)
    if encoding is None:
        return body
    # Bytes that are not UTF-8 stay as they are (surrogateescape), or become
    # lone surrogates in the UTF-16 and UTF-32 forms.
    text = body.decode("utf-8", errors="surrogateescape")
    wide = encoding.startswith(("utf-16", "utf-32"))
    try:
        return text.encode(encoding, "surrogatepass" if wide else "surrogateescape")
    except UnicodeEncodeError:  # not in latin-1
        return body


# What a client can send: visible ASCII, no whitespace at either end.
_header_values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40
).map(str.strip)
_headers = st.dictionaries(
    st.one_of(
        st.sampled_from(
            [
                "content-type",
                "x-inngest-event-id-seed",
                "authorization",
                "x-inngest-expected-server-kind",
                "x-inngest-signature",
                "origin",
                "sec-fetch-site",
                "cookie",
                "accept",
            ]
        ),
        st.from_regex(r"\Ax-[a-z0-9-]{1,20}\Z"),
    ),
    _header_values,
    max_size=4,
)
_queries = st.dictionaries(
    st.one_of(
        st.sampled_from(["limit", "cursor", "name", "connection_id", "token", "url"]),
        _text,
    ),
    st.one_of(_text, st.sampled_from([_ULID, "0", "-1", "51", "1e9", _CLOSED])),
    max_size=3,
)
# Routes that store what they are sent come up more often.
_WEIGHTED = [*ROUTES, *[r for r in ROUTES if r[1].startswith(tuple(_BODIES))] * 6]


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], dict[str, str], bytes]:
    method, path = draw(
        st.one_of(
            st.sampled_from(_WEIGHTED),
            st.tuples(
                st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
                st.sampled_from([p for _, p in ROUTES]),
            ),
        )
    )
    ident = draw(st.one_of(st.just(_ULID), _text, st.sampled_from(["..", "%2F"])))
    name = draw(st.one_of(st.just("raw-app"), _text))
    path = path.replace(
        "{id}", urllib.parse.quote(ident, safe="", errors="surrogatepass")
    )
    path = path.replace(
        "{name}", urllib.parse.quote(name, safe="", errors="surrogatepass")
    )
    query = draw(_queries)
    if "url" in query:
        query["url"] = _CLOSED  # a sync PUTs there: only loopback
    return method, path, query, draw(_headers), draw(_encoded(path))


#: (method, path prefix, status, error text): the 5xx the real server gives.
_EXPECTED_5XX = [
    ("GET", "/v1/runs/", 500, "Unable to load function run"),
    ("POST", "/v0/apps/sync", 502, ""),
    ("POST", "/ui/api/apps/resync", 502, ""),
]


def _expected_5xx(method: str, path: str, resp: httpx.Response) -> bool:
    return any(
        method == m and path.startswith(p) and resp.status_code == s and t in resp.text
        for m, p, s, t in _EXPECTED_5XX
    )


def _sync_body(app: RawApp) -> dict[str, Any]:
    """Functions whose triggers and flow control evaluate CEL over the
    fuzzed events' data."""
    body = app.sync_body()
    fn_a, fn_b, fn_c = body["functions"]
    fn_a["triggers"] = [{"event": "fuzz/a"}]
    fn_a["idempotency"] = "event.data.k"
    fn_b["triggers"] = [{"event": "fuzz/a", "expression": "event.data.n > 1"}]
    fn_b["concurrency"] = [{"limit": 1, "key": "event.data.k"}]
    fn_b["priority"] = {"run": "event.data.p"}
    fn_c["triggers"] = [{"event": "fuzz/*"}]
    fn_c["rateLimit"] = {"limit": 1000, "period": "1m", "key": "event.data.s"}
    return body


@contextmanager
def _served(backend: str, db: Path) -> Iterator[tuple[DevServer, httpx.Client]]:
    with (
        SQLiteStore(db) as store,
        anyio.from_thread.start_blocking_portal(backend) as portal,
    ):
        dev = DevServer(port=0, poll=False, store=store, retry_scale=0.0001)
        future, url = portal.start_task(dev.serve)
        try:
            with httpx.Client(base_url=url, timeout=30) as http:
                yield dev, http
        finally:
            portal.call(dev.shutdown)
            future.result(timeout=10)


def _finished(http: httpx.Client, run_ids: list[str]) -> bool:
    for run_id in run_ids:
        run = http.get(f"/v1/runs/{run_id}").json()["data"]
        if run["status"] == "Running":
            return False
    return True


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_no_request_breaks_the_server_or_its_database(
    backend: str, tmp_path: Path
) -> None:
    db = tmp_path / "dev.db"
    replies = dict.fromkeys(("fuzz-a", "fuzz-b", "fuzz-c"), (200, b'{"ok": true}'))
    with raw_app(replies) as app, _served(backend, db) as (dev, http):
        synced = http.post("/fn/register", json=_sync_body(app))
        assert synced.status_code == 200, synced.text

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(requests())
        def fuzz(
            request: tuple[str, str, dict[str, str], dict[str, str], bytes],
        ) -> None:
            method, path, query, headers, body = request
            # Encoded here: httpx would refuse lone surrogates in the query.
            quoted = urllib.parse.urlencode(query, errors="surrogatepass")
            url = f"{path}?{quoted}" if quoted else path
            resp = http.request(method, url, headers=headers, content=body)
            assert resp.status_code < 500 or _expected_5xx(method, path, resp), (
                method,
                path,
                resp.status_code,
                resp.text[:300],
            )
            assert http.get("/health").status_code == 200

        fuzz()
        # Runs that ended are read from the store (a lock makes it safe
        # from this thread).
        runs = [run.run_id for run in dev.driver.recent_runs(100_000)]
    # The database holds whatever the fuzz got stored: a restart loads it
    # and every run finishes.
    with raw_app(replies), _served(backend, db) as (dev, http):
        assert http.get("/health").status_code == 200
        assert all(dev.get_run(run_id) is not None for run_id in runs)
        deadline = time.monotonic() + 20
        while not _finished(http, runs):
            assert time.monotonic() < deadline, "runs still going after the restart"
            time.sleep(0.05)
