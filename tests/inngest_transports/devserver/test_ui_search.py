"""The web UI's run and event search: every filter, keyset pages, hostile input.

Each test runs on a dev server with a SQLite store (the runs are found by SQL)
and on one without (found in memory): both must answer alike.  The runs are
made directly in the executor's state, so the tests need no app.
"""

from __future__ import annotations

import datetime
import sqlite3
import urllib.parse
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inngest_proto import json_codec
from inngest_proto.executor import ExecutorState, Run, RunStatus
from inngest_proto.functions import FunctionConfig
from inngest_transports.devserver import _run_queries, _run_search
from inngest_transports.devserver._apps import App, Apps
from inngest_transports.devserver._driver import Driver
from inngest_transports.devserver._sqlite_store import SQLiteStore
from inngest_transports.devserver._ui_api import UiApi

pytestmark = pytest.mark.anyio

T0 = 1_765_000_000.0
FUNCTIONS = ("shop-alpha", "shop-beta", "mail-gamma")
STATUSES = (
    RunStatus.COMPLETED,
    RunStatus.FAILED,
    RunStatus.CANCELLED,
    RunStatus.RUNNING,
)
COUNT = 30


@attrs.define
class _Request:
    method: str
    parts: list[str]
    query: Mapping[str, str]
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""


def _run(i: int) -> Run:
    """Run ``i``: created ``T0 + i``; function, status and plan cycle."""
    status = STATUSES[i % len(STATUSES)]
    event = {
        "id": f"ev-{i:03d}",
        "name": "shop/order",
        "data": {"n": i, "plan": "pro" if i % 3 == 0 else "free"},
        "ts": int((T0 + i) * 1000),
        "user": {},
    }
    events = [event]
    if i == 7:  # a batch: its second event's id finds it too
        events.append({**event, "id": "ev-batch"})
    return Run(
        run_id=f"01RUN{i:04d}",
        function_id=FUNCTIONS[i % len(FUNCTIONS)],
        events=events,
        created_at=T0 + i,
        status=status,
        ended_at=None if status is RunStatus.RUNNING else T0 + i + 0.5,
    )


def _config(fn_id: str) -> FunctionConfig:
    return FunctionConfig(id=fn_id, name=fn_id, steps={}, triggers=[])


@contextmanager
def _driver(kind: str) -> Iterator[Driver]:
    runs = {run.run_id: run for run in map(_run, range(COUNT))}
    if kind == "memory":
        driver = Driver(now=lambda: T0 + 100)
        driver.executor.state.runs.update(runs)
        yield driver
        return
    with SQLiteStore(":memory:") as store:
        store.save(ExecutorState(runs=runs))
        yield Driver(store=store, now=lambda: T0 + 100)


@asynccontextmanager
async def _ui(kind: str) -> AsyncIterator[UiApi]:
    with _driver(kind) as driver:
        apps = Apps(driver)
        for name, fns in (("shop", FUNCTIONS[:2]), ("mail", FUNCTIONS[2:])):
            url = f"http://127.0.0.1:1/{name}"
            functions = tuple(map(_config, fns))
            apps.by_url[url] = App(url=url, name=name, functions=functions)

        async def no_sync(url: str) -> dict[str, Any]:
            raise AssertionError(url)

        yield UiApi(driver, apps, no_sync)


async def _get(ui: UiApi, path: str, **query: str) -> tuple[int, Any]:
    parts = path.strip("/").split("/")
    handler = ui.route(parts, "GET")
    assert handler is not None
    resp = await handler(_Request("GET", parts, query))
    body = resp.body
    if resp.headers.get("content-type", "").startswith("application/json"):
        return resp.status, json_codec.loads(body)
    return resp.status, body.decode()


async def _page(ui: UiApi, **query: str) -> dict[str, Any]:
    status, body = await _get(ui, "/ui/api/runs", **query)
    assert status == 200, body
    assert isinstance(body, dict)
    return body


async def _all(ui: UiApi, **query: str) -> list[int]:
    """Every run the query finds, page by page: their numbers, in order."""
    found: list[int] = []
    cursor = ""
    for _ in range(COUNT + 2):
        page = await _page(ui, **query, **({"cursor": cursor} if cursor else {}))
        found += [int(r["run_id"][5:]) for r in page["data"]]
        if page["next_cursor"] is None:
            return found
        cursor = page["next_cursor"]
    raise AssertionError("the pages never ended")


def _expected(keep: Any) -> list[int]:
    return [i for i in reversed(range(COUNT)) if keep(i)]


STORES = pytest.mark.parametrize("kind", ["sqlite", "memory"])


@STORES
async def test_pages_cover_every_run_once_newest_first(kind: str) -> None:
    async with _ui(kind) as ui:
        first = await _page(ui, limit="7")
        assert [r["run_id"] for r in first["data"]][:2] == ["01RUN0029", "01RUN0028"]
        assert first["data"][0]["event_id"] == "ev-029"
        assert first["next_cursor"] is not None
        assert await _all(ui, limit="7") == _expected(lambda i: True)
        # A page that ends exactly at the last run says there is no next one.
        assert await _all(ui, limit="10") == _expected(lambda i: True)
        whole = await _page(ui, limit="30")
        assert whole["next_cursor"] is None


@STORES
async def test_runs_started_after_a_page_do_not_shift_the_next(kind: str) -> None:
    async with _ui(kind) as ui:
        first = await _page(ui, limit="5")
        newer = attrs.evolve(_run(0), run_id="01RUN9999", created_at=T0 + 1000)
        driver = ui._driver
        driver.executor.state.runs[newer.run_id] = newer
        if driver._store is not None:
            driver._store.save(driver.executor.state)
        second = await _page(ui, limit="5", cursor=first["next_cursor"])
        assert second["data"][0]["run_id"] == "01RUN0024"


@STORES
async def test_filter_by_status_one_or_several(kind: str) -> None:
    async with _ui(kind) as ui:
        assert await _all(ui, status="Failed", limit="3") == _expected(
            lambda i: i % 4 == 1
        )
        both = await _all(ui, status="Failed,Cancelled", limit="4")
        assert both == _expected(lambda i: i % 4 in (1, 2))


@STORES
async def test_filter_by_function_and_status(kind: str) -> None:
    async with _ui(kind) as ui:
        alpha = await _all(ui, function="shop-alpha", limit="4")
        assert alpha == _expected(lambda i: i % 3 == 0)
        done = await _all(ui, function="shop-alpha", status="Completed", limit="2")
        assert done == _expected(lambda i: i % 3 == 0 and i % 4 == 0)
        two = await _all(ui, function="shop-alpha,mail-gamma")
        assert two == _expected(lambda i: i % 3 != 1)


@STORES
async def test_filter_by_app(kind: str) -> None:
    async with _ui(kind) as ui:
        assert await _all(ui, app="shop") == _expected(lambda i: i % 3 != 2)
        assert await _all(ui, app="mail", limit="3") == _expected(lambda i: i % 3 == 2)
        # An app and a function of another app: nothing, not everything.
        assert await _all(ui, app="mail", function="shop-alpha") == []
        status, body = await _get(ui, "/ui/api/runs", app="nope")
        assert status == 400
        assert "no app" in body["error"]


@STORES
async def test_filter_by_time_range(kind: str) -> None:
    def iso(at: float) -> str:
        moment = datetime.datetime.fromtimestamp(at, datetime.timezone.utc)
        return moment.isoformat().replace("+00:00", "Z")

    async with _ui(kind) as ui:
        window = await _all(ui, limit="2", **{"from": iso(T0 + 5), "to": iso(T0 + 9)})
        assert window == [8, 7, 6, 5]
        by_ms = await _all(ui, **{"from": str(int((T0 + 25) * 1000))})
        assert by_ms == [29, 28, 27, 26, 25]
        # A time without a zone is UTC, as the UI's time fields send it.
        naive = iso(T0 + 28).removesuffix("Z")
        assert await _all(ui, to=naive) == _expected(lambda i: i < 28)


@STORES
async def test_filter_by_trigger_event_id(kind: str) -> None:
    async with _ui(kind) as ui:
        assert await _all(ui, event_id="ev-012") == [12]
        assert await _all(ui, event_id="ev-batch") == [7]
        assert await _all(ui, event_id="ev-nope") == []


@STORES
async def test_filter_by_cel_query_over_the_trigger(kind: str) -> None:
    async with _ui(kind) as ui:
        pro = await _all(ui, query='event.data.plan == "pro"', limit="3")
        assert pro == _expected(lambda i: i % 3 == 0)
        mixed = await _all(
            ui, query="event.data.n >= 20 && event.data.n < 25", status="Failed"
        )
        assert mixed == [21]
        assert await _all(ui, query="event.data.missing == 1") == []


@STORES
async def test_a_cel_search_stops_at_its_scan_budget_and_resumes(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_run_search, "CEL_SCAN_BUDGET", 4)
    async with _ui(kind) as ui:
        page = await _page(ui, query="event.data.n == 3")
        # Four runs tested (29..26), none matched: an empty page, partial.
        assert (page["data"], page["partial"]) == ([], True)
        assert await _all(ui, query="event.data.n == 3") == [3]
        assert await _all(ui, query='event.data.plan == "pro"') == _expected(
            lambda i: i % 3 == 0
        )


HOSTILE: list[dict[str, str]] = [
    {"cursor": "garbage"},
    {"cursor": "r1.!!!"},
    {"cursor": "r1." + "QUFB"},  # valid base64, not JSON
    {"cursor": "r1.WyJhIiwxXQ"},  # ["a",1]: the fields swapped
    {"cursor": "r1.W05hTiwieCJd"},  # [NaN,"x"]
    {"cursor": "e1.MDFB"},  # an events cursor
    {"cursor": "r1." + "A" * 500},
    {"limit": "0"},
    {"limit": "1001"},
    {"limit": "9" * 40},
    {"limit": "-5"},
    {"limit": "ten"},
    {"query": "event.data.("},
    {"query": "nobody == 1"},
    {"query": "(" * 5000},
    {"query": "x" * 3000},
    {"from": "yesterday"},
    {"from": "99999999999999999999"},
    {"to": "2025-13-45T99:00:00Z"},
    {"to": "-99999999999999"},
    {"status": "Bogus"},
    {"status": "Failed,,nope"},
    {"event_id": "a\x00b"},
]


@STORES
@pytest.mark.parametrize("query", HOSTILE, ids=lambda q: repr(q)[:40])
async def test_hostile_run_queries_get_a_400_with_a_reason(
    kind: str, query: dict[str, str]
) -> None:
    async with _ui(kind) as ui:
        status, body = await _get(ui, "/ui/api/runs", **query)
        assert status == 400, body
        assert isinstance(body["error"], str)
        assert body["error"]
        # The no-JS page names its runs' cursor ``runs_cursor``.
        plain = {("runs_cursor" if k == "cursor" else k): v for k, v in query.items()}
        plain_status, _ = await _get(ui, "/ui/plain", **plain)
        assert plain_status == 400


@STORES
async def test_plain_pages_page_with_links(kind: str) -> None:
    async with _ui(kind) as ui:
        status, html = await _get(ui, "/ui/plain", status="Failed")
        assert status == 200
        assert html.count('href="/ui/plain/runs/') == 8  # runs 1, 5, ..., 29
        status, html = await _get(ui, "/ui/plain", limit="10")
        assert status == 200
        start = html.index('class="older" href="') + len('class="older" href="')
        href = html[start : html.index('"', start)].replace("&amp;", "&")
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(href).query))
        assert query.keys() == {"limit", "runs_cursor"}  # the filters are kept
        status, older = await _get(ui, "/ui/plain", **query)
        assert status == 200
        assert "/ui/plain/runs/01RUN0029" in html
        assert "/ui/plain/runs/01RUN0029" not in older
        assert "/ui/plain/runs/01RUN0019" in older
        assert "/ui/plain/runs/01RUN0009" not in older


def test_a_schema_4_file_gains_the_search_tables(tmp_path: Any) -> None:
    path = tmp_path / "dev.db"
    with SQLiteStore(path) as store:
        store.save(ExecutorState(runs={r.run_id: r for r in map(_run, range(5))}))
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DROP TABLE run_events")
        conn.execute("DROP TABLE wait_matches")
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'"
            " AND (name LIKE 'runs_by_%' OR name = 'events_by_name')"
        ).fetchall():
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.close()
    with SQLiteStore(path) as store:
        search = _run_search.RunSearch(event_id="ev-003")
        assert [s.run_id for s in store.search_runs(search).runs] == ["01RUN0003"]
        assert store.wait_matches("nothing") == []
    conn = sqlite3.connect(path)
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'")
    assert version.fetchone() == ("5",)
    conn.close()


def test_wait_matches_are_saved_with_the_state() -> None:
    with SQLiteStore(":memory:") as store:
        store.save(ExecutorState(), resumed=[("01EV", "01RUN", "step-hash")])
        assert store.wait_matches("01EV") == [("01RUN", "step-hash")]
        assert store.wait_matches("01OTHER") == []


def test_pruned_events_take_their_wait_matches_along() -> None:
    with SQLiteStore(":memory:") as store:
        events = [
            {"id": f"w{i}", "name": "t/answer", "data": {}, "ts": 0, "user": {}}
            for i in range(3)
        ]
        ids = ["01EV0", "01EV1", "01EV2"]
        seqs = store.append_events(events, received_at=T0, internal_ids=ids)
        resumed = [(internal, f"01RUN{i}", "wait") for i, internal in enumerate(ids)]
        store.save(ExecutorState(), routed=seqs, resumed=resumed)
        assert store.prune_events(1) == 2
        assert store.wait_matches("01EV0") == []
        assert store.wait_matches("01EV1") == []
        assert store.wait_matches("01EV2") == [("01RUN2", "wait")]


# -- events ---------------------------------------------------------------------------


@asynccontextmanager
async def _events_ui(kind: str) -> AsyncIterator[tuple[UiApi, list[str]]]:
    """12 events, one a second from ``T0``: ``a/one`` (0, 3, 6, 9), ``b/two``
    (1, 4, 7, 10) and Inngest's own ``inngest/function.finished`` (the
    rest); with their internal ids, oldest first."""
    async with _ui(kind) as ui:
        clock = [T0]
        driver = ui._driver
        driver._now = lambda: clock[0]
        names = ("a/one", "b/two", "inngest/function.finished")
        ids = []
        for i in range(12):
            clock[0] = T0 + i
            internal = f"01EVENT{i:04d}"
            event = {
                "id": f"wire-{i}",
                "name": names[i % 3],
                "data": {"i": i},
                "ts": int(clock[0] * 1000),
                "user": {},
            }
            driver.receive([event], [internal])
            ids.append(internal)
        yield ui, ids


async def _events(ui: UiApi, **query: str) -> list[int]:
    """Every event the query finds, page by page: their numbers, in order."""
    found: list[int] = []
    cursor = ""
    for _ in range(20):
        status, page = await _get(
            ui, "/ui/api/events", **query, **({"cursor": cursor} if cursor else {})
        )
        assert status == 200, page
        found += [int(e["internal_id"][7:]) for e in page["data"]]
        if page["next_cursor"] is None:
            return found
        cursor = page["next_cursor"]
    raise AssertionError("the pages never ended")


@STORES
async def test_events_hide_internal_ones_unless_asked(kind: str) -> None:
    async with _events_ui(kind) as (ui, _):
        assert await _events(ui, limit="3") == [10, 9, 7, 6, 4, 3, 1, 0]
        every = await _events(ui, limit="5", internal="1")
        assert every == list(reversed(range(12)))


@STORES
async def test_events_by_name_and_time(kind: str) -> None:
    async with _events_ui(kind) as (ui, _):
        assert await _events(ui, name="a/one", limit="2") == [9, 6, 3, 0]
        window = {"from": str(int((T0 + 3) * 1000)), "to": str(int((T0 + 8) * 1000))}
        assert await _events(ui, **window) == [7, 6, 4, 3]
        assert await _events(ui, **window, internal="1") == [7, 6, 5, 4, 3]
        assert await _events(ui, name="inngest/function.finished") == []
        finished = await _events(ui, name="inngest/function.finished", internal="1")
        assert finished == [11, 8, 5, 2]


@STORES
async def test_the_event_page_has_the_payload(kind: str) -> None:
    async with _events_ui(kind) as (ui, ids):
        status, body = await _get(ui, f"/ui/api/events/{ids[4]}")
        assert status == 200, body
        event = body["data"]
        assert (event["name"], event["id"], event["internal"]) == (
            "b/two",
            "wire-4",
            False,
        )
        assert event["event"]["data"] == {"i": 4}
        assert (event["runs"], event["resumed"]) == ([], [])
        # By the id it was sent with, as the lists show it, too.
        status, body = await _get(ui, "/ui/api/events/wire-4")
        assert status == 200, body
        assert body["data"]["internal_id"] == ids[4]
        status, body = await _get(ui, "/ui/api/events/01NOPE")
        assert status == 404
        status, html = await _get(ui, f"/ui/plain/events/{ids[4]}")
        assert status == 200
        assert "wire-4" in html


@STORES
@pytest.mark.parametrize(
    "query",
    [
        {"cursor": "nope"},
        {"cursor": "r1.WzEsIngiXQ"},  # a runs cursor
        {"cursor": "e1.%%%"},
        {"cursor": "e1.gA"},  # not UTF-8
        {"limit": "0"},
        {"limit": "100000"},
        {"internal": "yes please"},
        {"from": "soon"},
        {"to": "1e400"},
        {"name": "x" * 5000},
    ],
    ids=lambda q: repr(q)[:40],
)
async def test_hostile_event_queries_get_a_400_with_a_reason(
    kind: str, query: dict[str, str]
) -> None:
    async with _events_ui(kind) as (ui, _):
        status, body = await _get(ui, "/ui/api/events", **query)
        assert status == 400, body
        assert body["error"]
        plain = {("events_cursor" if k == "cursor" else k): v for k, v in query.items()}
        plain_status, _ = await _get(ui, "/ui/plain", **plain)
        assert plain_status == 400


class _PlanSpy:
    """A connection that records SQLite's plan of every statement."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.plans: list[list[str]] = []

    def execute(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        plan = self._conn.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall()
        self.plans.append([row[3] for row in plan])
        return self._conn.execute(sql, args)


@pytest.mark.parametrize(
    "search",
    [
        _run_search.RunSearch(),
        _run_search.RunSearch(after=(T0 + 5, "01RUN0005")),
        _run_search.RunSearch(statuses=frozenset({RunStatus.FAILED})),
        _run_search.RunSearch(function_ids=frozenset({"shop-alpha"})),
        _run_search.RunSearch(
            function_ids=frozenset({"shop-alpha"}),
            statuses=frozenset({RunStatus.FAILED}),
            after=(T0 + 5, "01RUN0005"),
        ),
        _run_search.RunSearch(created_from=T0, created_until=T0 + 5),
        _run_search.RunSearch(event_id="ev-001"),
    ],
    ids=["all", "cursor", "status", "function", "function-status", "time", "event"],
)
def test_each_run_search_is_an_indexed_range_not_a_scan_and_sort(
    search: _run_search.RunSearch,
) -> None:
    """What keeps the lists fast on 100,000 runs (bench/ui_lists.py times
    them): every search reads one index range, in the list's order."""
    with SQLiteStore(":memory:") as store:
        spy = _PlanSpy(store._conn)
        _run_queries.search_runs(spy, search)  # type: ignore[arg-type]
    (plan,) = spy.plans
    assert "USING INDEX" in plan[0], plan
    if search.event_id is None:
        assert not any("TEMP B-TREE" in step for step in plan), plan


# -- property: paging finds exactly what a filter over every run finds ----------------

_QUERIES = ["event.data.n >= 2", "event.data.n == 1"]
_RUN_SETS = st.lists(
    st.tuples(
        st.integers(0, 5),  # created_at: few values, so that runs tie on it
        st.sampled_from(STATUSES),
        st.sampled_from(FUNCTIONS),
        st.sampled_from(["e1", "e2", "e3"]),
        st.integers(0, 3),  # event.data.n
    ),
    max_size=25,
)
_SEARCHES = st.fixed_dictionaries(
    {
        "limit": st.integers(1, 6),
        "statuses": st.frozensets(st.sampled_from(STATUSES), max_size=2),
        "function_ids": st.frozensets(st.sampled_from(FUNCTIONS), max_size=2),
        "created_from": st.none() | st.integers(0, 5).map(float),
        "created_until": st.none() | st.integers(0, 6).map(float),
        "event_id": st.none() | st.sampled_from(["e1", "e2"]),
        "query": st.none()
        | st.sampled_from(["event.data.n >= 2", "event.data.n == 1"]),
    }
)


def _page_through(search: _run_search.RunSearch, answer: Any, total: int) -> list[str]:
    found: list[str] = []
    for _ in range(total + 2):
        page = answer(search)
        found += [summary.run_id for summary in page.runs]
        if page.next_cursor is None:
            return found
        cursor = _run_search.encode_cursor(page.next_cursor)
        search = attrs.evolve(search, after=_run_search.decode_cursor(cursor))
    raise AssertionError("the pages never ended")


@settings(max_examples=150, deadline=None)
@given(rows=_RUN_SETS, spec=_SEARCHES, budget=st.integers(1, 4))
def test_paging_finds_what_filtering_every_run_finds(
    rows: list[tuple[int, RunStatus, str, str, int]],
    spec: dict[str, Any],
    budget: int,
) -> None:
    """SQL and memory agree with a plain filter, with ties on the time, a
    scan budget that stops query searches early, and cursors round-tripped."""
    runs = {}
    for i, (at, status, fn, event_id, n) in enumerate(rows):
        event = {"id": event_id, "name": "t/x", "data": {"n": n}, "ts": 0, "user": {}}
        run_id = f"01R{(i * 7919) % 1000:04d}"  # ids not in creation order
        runs[run_id] = Run(
            run_id=run_id,
            function_id=fn,
            events=[event],
            created_at=T0 + at,
            status=status,
        )
    query = spec.pop("query")
    frm, until = spec.pop("created_from"), spec.pop("created_until")
    search = _run_search.RunSearch(
        **spec,
        created_from=None if frm is None else T0 + frm,
        created_until=None if until is None else T0 + until,
        query=None if query is None else _run_search.compile_query(query),
    )

    def wanted(run: Run) -> bool:
        n = run.event["data"]["n"]
        return (
            (not search.statuses or run.status in search.statuses)
            and (not search.function_ids or run.function_id in search.function_ids)
            and (frm is None or run.created_at >= T0 + frm)
            and (until is None or run.created_at < T0 + until)
            and (search.event_id is None or run.event["id"] == search.event_id)
            and (query != "event.data.n >= 2" or n >= 2)
            and (query != "event.data.n == 1" or n == 1)
        )

    expected = [
        run.run_id
        for run in sorted(
            runs.values(), key=lambda r: (r.created_at, r.run_id), reverse=True
        )
        if wanted(run)
    ]
    saved = _run_search.CEL_SCAN_BUDGET
    _run_search.CEL_SCAN_BUDGET = budget
    try:
        in_memory = _page_through(
            search,
            lambda s: _run_search.search_memory_runs(runs.values(), s),
            len(runs),
        )
        with SQLiteStore(":memory:") as store:
            store.save(ExecutorState(runs=dict(runs)))
            in_sql = _page_through(search, store.search_runs, len(runs))
    finally:
        _run_search.CEL_SCAN_BUDGET = saved
    assert in_memory == expected
    assert in_sql == expected


def test_without_a_store_wait_matches_are_kept_for_as_many_events_as_events() -> None:
    driver = Driver(keep_events=2)
    driver._save(resumed=[(f"01EV{i}", f"01RUN{i}", "wait") for i in range(3)])
    assert driver.wait_matches("01EV0") == []
    assert driver.wait_matches("01EV1") == [("01RUN1", "wait")]
    assert driver.wait_matches("01EV2") == [("01RUN2", "wait")]


@pytest.mark.parametrize(
    ("window", "index"),
    [
        ((None, None), "events_by_internal_id"),
        ((T0 + 10, T0 + 20), "events_by_received"),  # 20 events: read by time
        ((T0, None), "events_by_internal_id"),  # all 6,000: read in order
        ((None, T0 + 1), "events_by_received"),
    ],
)
def test_an_event_search_in_time_reads_the_index_that_ends_it_soon(
    window: tuple[float | None, float | None], index: str
) -> None:
    events = [
        {"id": f"e{i}", "name": "t/x", "data": {}, "ts": 0, "user": {}}
        for i in range(6000)
    ]
    with SQLiteStore(":memory:") as store:
        for start in range(0, len(events), 2):
            pair = events[start : start + 2]
            ids = [f"01EV{start + k:06d}" for k in range(2)]
            store.append_events(pair, received_at=T0 + start // 2, internal_ids=ids)
        real = store._conn
        spy = _PlanSpy(real)
        store._conn = spy  # type: ignore[assignment]
        try:
            found = store.events(10, received_from=window[0], received_until=window[1])
        finally:
            store._conn = real
    page_plan = spy.plans[-1]
    assert index in page_plan[0], page_plan
    # Either way, the page is the newest of the window.
    newest = 5999 if window[1] is None else int(window[1] - T0) * 2 - 1
    assert found[0].internal_id == f"01EV{newest:06d}"
