"""Benchmark of the dev server UI's run lists on a big SQLite store.

::

    python -m bench.ui_lists [--runs 100000] [--repeat 20] [--json PATH]

A SQLite file in a temporary directory is filled with ``--runs`` finished
runs (20 functions of two apps; of each function's runs one in ten Failed,
one in ten Cancelled, the rest Completed; one a second of created time), as
one save of the executor's
state, then a dev server's UI API is built on it (as ``inngest-dev --db``
does: the driver loads the file) and each scenario is timed ``--repeat``
times through the same handler the page calls (``GET /ui/api/runs``: the
query is parsed, the store searched, the JSON body encoded), reporting the
median and the worst:

* ``runs-page``: the first page of the run list (100 runs, no filter);
* ``function-status``: runs of one function that Failed (1 in 200 runs);
  the page of 100 spans 20,000 runs of created time.
* ``second-page``: the page after the first, by its cursor;
* ``deep-page``: the page after 50 pages, by cursor (keyset paging costs
  the same at any depth);
* ``cel-query``: a CEL ``query`` over the trigger event matching 1 run in
  10 (evaluated in Python, so it reads as many rows as it takes to fill
  the page: this one is slower by nature).

The event log holds each run's trigger event and the
``inngest/function.finished`` it made (twice as many events as runs):

* ``events-page``: the first page of events (50, Inngest's own hidden);
* ``events-second-page``: the page after it, by its cursor;
* ``events-by-name``: the ``inngest/function.finished`` events;
* ``events-old-hour``: the events received in a window of 1,000 seconds
  near the start of the log.

Targets (docs/devserver.rst): each of the first three under 200 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import attrs

from inngest_proto.executor import ExecutorState, Run, RunStatus
from inngest_proto.functions import FunctionConfig
from inngest_transports.devserver._apps import App, Apps
from inngest_transports.devserver._driver import Driver
from inngest_transports.devserver._sqlite_store import SQLiteStore
from inngest_transports.devserver._ui_api import UiApi

T0 = 1_700_000_000.0
APPS = ("shop", "mail")
FUNCTIONS = [f"{app}-fn{i}" for app in APPS for i in range(10)]
INTERNAL = "inngest/function.finished"


@attrs.define
class _Request:
    method: str
    parts: list[str]
    query: Mapping[str, str]
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""


def _run(i: int) -> Run:
    # Each function's runs: one in ten Failed, one in ten Cancelled.
    status = {1: RunStatus.FAILED, 2: RunStatus.CANCELLED}.get(
        (i // len(FUNCTIONS)) % 10, RunStatus.COMPLETED
    )
    event = {
        "id": f"event-{i}",
        "name": "shop/order.placed",
        "data": {"order": i, "plan": "pro" if i % 10 == 0 else "free"},
        "ts": int((T0 + i) * 1000),
        "user": {},
    }
    return Run(
        run_id=f"01BENCH{i:010d}",
        function_id=FUNCTIONS[i % len(FUNCTIONS)],
        events=[event],
        created_at=T0 + i,
        status=status,
        output={"ok": True, "order": i},
        ended_at=T0 + i + 0.25,
    )


#: Events logged per append (one received time each).
_CHUNK = 20


def _events(count: int) -> tuple[list[dict[str, Any]], list[str], list[float]]:
    """Each run's trigger and the ``inngest/function.finished`` it made."""
    events: list[dict[str, Any]] = []
    ids: list[str] = []
    times: list[float] = []
    for i in range(count):
        for k, name in enumerate(("shop/order.placed", INTERNAL)):
            events.append(
                {
                    "id": f"event-{i}" if k == 0 else f"finished-{i}",
                    "name": name,
                    "data": {"order": i},
                    "ts": int((T0 + i) * 1000),
                    "user": {},
                }
            )
            ids.append(f"01EVENT{i:010d}{k}")
            times.append(T0 + i + k * 0.25)
    return events, ids, times


def _fill(path: Path, count: int) -> float:
    started = time.perf_counter()
    runs = {run.run_id: run for run in map(_run, range(count))}
    events, ids, times = _events(count)
    with SQLiteStore(path) as store:
        seqs = []
        # A commit (and fsync) per chunk of events received at one time.
        for start in range(0, len(events), _CHUNK):
            seqs += store.append_events(
                events[start : start + _CHUNK],
                received_at=times[start],
                internal_ids=ids[start : start + _CHUNK],
            )
        store.save(ExecutorState(runs=runs), routed=seqs)
    return time.perf_counter() - started


def _config(fn_id: str) -> FunctionConfig:
    return FunctionConfig(id=fn_id, name=fn_id, steps={}, triggers=[])


async def _time(
    ui: UiApi, query: Mapping[str, str], repeat: int, listing: str = "runs"
) -> dict[str, Any]:
    parts = ["ui", "api", listing]
    handler = ui.route(parts, "GET")
    assert handler is not None
    took = []
    body: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        resp = await handler(_Request("GET", parts, query))
        took.append((time.perf_counter() - started) * 1000)
        assert resp.status == 200, resp.body[:200]
        body = json.loads(resp.body)
    return {
        "median_ms": round(statistics.median(took), 2),
        "max_ms": round(max(took), 2),
        "runs": len(body["data"]),
        "next_cursor": body["next_cursor"],
    }


async def _bench(count: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dev.db"
        fill_s = _fill(path, count)
        started = time.perf_counter()
        with SQLiteStore(path) as store:
            driver = Driver(store=store)
            load_s = time.perf_counter() - started
            apps = Apps(driver)
            for app in APPS:
                url = f"http://127.0.0.1:1/{app}"
                fns = tuple(_config(f) for f in FUNCTIONS if f.startswith(app))
                apps.by_url[url] = App(url=url, name=app, functions=fns)

            async def no_sync(url: str) -> dict[str, Any]:
                raise AssertionError(url)

            ui = UiApi(driver, apps, no_sync)
            results: dict[str, Any] = {}
            results["runs-page"] = await _time(ui, {}, repeat)
            results["function-status"] = await _time(
                ui, {"function": FUNCTIONS[3], "status": "Failed"}, repeat
            )
            cursor = results["runs-page"]["next_cursor"]
            results["second-page"] = await _time(ui, {"cursor": cursor}, repeat)
            for _ in range(49):
                page = await _time(ui, {"cursor": cursor}, 1)
                cursor = page["next_cursor"]
            results["deep-page"] = await _time(ui, {"cursor": cursor}, repeat)
            results["cel-query"] = await _time(
                ui, {"query": 'event.data.plan == "pro"'}, max(1, repeat // 4)
            )
            events = await _time(ui, {}, repeat, "events")
            results["events-page"] = events
            results["events-second-page"] = await _time(
                ui, {"cursor": events["next_cursor"]}, repeat, "events"
            )
            results["events-by-name"] = await _time(
                ui, {"name": INTERNAL, "internal": "1"}, repeat, "events"
            )
            window = {"from": str(int((T0 + 1000) * 1000))}
            window["to"] = str(int((T0 + 2000) * 1000))
            results["events-old-hour"] = await _time(ui, window, repeat, "events")
    for result in results.values():
        del result["next_cursor"]
    return {
        "runs": count,
        "fill_s": round(fill_s, 1),
        "open_s": round(load_s, 1),
        "scenarios": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    report = anyio.run(_bench, args.runs, args.repeat)
    print(f"{report['runs']} finished runs in SQLite")
    print(f"  filled in {report['fill_s']} s, opened in {report['open_s']} s")
    for name, result in report["scenarios"].items():
        print(
            f"  {name:20} median {result['median_ms']:8.2f} ms"
            f"  max {result['max_ms']:8.2f} ms  ({result['runs']} runs)"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
