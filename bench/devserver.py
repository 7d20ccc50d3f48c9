"""Benchmark of the embedded dev server: events ingested and runs per second.

::

    python -m bench.devserver [--runs N] [--events N] [--db memory|file]
                              [--json PATH]

Two measurements, each with the in-memory store and with a SQLite file in a
temporary directory (durable mode: every acknowledged ``POST /e`` is
fsynced), or only the one ``--db`` names:

* **ingest**: ``--events`` events POSTed to ``/e/{key}`` with httpx over one
  keep-alive connection, one request after another, first 100 events per
  request, then 1 per request.  No app is synced, so only ingestion (parsing,
  storing, routing to no function) is measured.
* **runs**: an app (this SDK on the h11 :class:`~inngest_transports.server.Server`)
  with one function of three ``step.run`` steps is synced; ``--runs`` events
  are sent (100 per request, all requests at once) and the clock stops when
  every run has completed.  Latency is per run, from the start of the POST
  that carried its event to the run's end.  Every run's output is checked.

The dev server, the app and the benchmark's client share one process and
one event loop (as in ``examples/demo.py``), on 127.0.0.1 only: the figures
are for all three together on one core.  The SQLite file goes in the
temporary directory (``TMPDIR`` picks the disk).

Past a few hundred runs in flight the runs figure falls steeply (400 runs:
about 10 runs/s against about 100 for 200): the driver makes every call at
once through one httpx client, whose connection pool (httpcore 1.0.9)
spends time quadratic in the requests queued for its 100 connections
(encode/httpcore#1035).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx

import inngest_proto as inngest
from inngest_transports.devserver import DevServer
from inngest_transports.devserver._sqlite_store import SQLiteStore
from inngest_transports.http import HttpTransport
from inngest_transports.server import Server

EVENT_KEY = "bench"
EVENT_NAME = "bench/run.requested"
BATCH = 100
DB_KINDS = ("memory", "file")


# -- helpers ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def dev_server(db: str) -> AsyncIterator[DevServer]:
    """A dev server on 127.0.0.1 with the ``db`` store, serving until exit."""
    with contextlib.ExitStack() as stack:
        store = None
        if db == "file":
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-"))
            store = stack.enter_context(SQLiteStore(Path(tmp) / "dev.db"))
        dev = DevServer(
            host="127.0.0.1", port=0, retry_scale=0.01, poll=False, store=store
        )
        async with anyio.create_task_group() as tg:
            await tg.start(dev.serve)
            try:
                yield dev
            finally:
                await dev.shutdown()


async def post_events(
    http: httpx.AsyncClient, url: str, events: Sequence[dict[str, Any]]
) -> list[str]:
    """POST ``events`` to ``/e/{key}``; the internal ids it returns."""
    body = events[0] if len(events) == 1 else list(events)
    response = await http.post(f"{url}/e/{EVENT_KEY}", json=body)
    response.raise_for_status()
    ids: list[str] = response.json()["ids"]
    if len(ids) != len(events) or not all(ids):
        msg = f"expected {len(events)} ids, got {ids!r}"
        raise RuntimeError(msg)
    return ids


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


# -- ingestion -------------------------------------------------------------------------


async def bench_ingest(db: str, count: int, per_request: int) -> dict[str, Any]:
    """Events per second POSTed ``per_request`` at a time, no app synced."""
    events = [{"name": "bench/ingested", "data": {"i": i}} for i in range(count)]
    async with dev_server(db) as dev, httpx.AsyncClient(timeout=60) as http:
        await post_events(http, dev.url, events[:1])  # warm-up: the connection
        started = time.perf_counter()
        accepted = 0
        for at in range(0, count, per_request):
            accepted += len(
                await post_events(http, dev.url, events[at : at + per_request])
            )
        elapsed = time.perf_counter() - started
        stored = len(dev.driver.list_events(count + 10))
    if accepted != count or stored != count + 1:
        msg = f"ingest: {accepted} accepted, {stored} stored, of {count} (+1)"
        raise RuntimeError(msg)
    return {
        "db": db,
        "events": count,
        "per_request": per_request,
        "seconds": elapsed,
        "events_per_s": count / elapsed,
    }


# -- runs ------------------------------------------------------------------------------


def build_functions(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(
        fn_id="three-steps", trigger=inngest.TriggerEvent(event=EVENT_NAME)
    )
    async def three_steps(ctx: inngest.Context) -> dict[str, Any]:
        n = int(ctx.event.data["n"])
        a = await ctx.step.run("one", lambda: n + 1)
        b = await ctx.step.run("two", lambda: a * 2)
        c = await ctx.step.run("three", lambda: f"{n}:{b}")
        return {"n": n, "a": a, "b": b, "c": c}

    return [three_steps]


def expected_output(n: int) -> dict[str, Any]:
    return {"n": n, "a": n + 1, "b": (n + 1) * 2, "c": f"{n}:{(n + 1) * 2}"}


async def send_and_wait(
    dev: DevServer, http: httpx.AsyncClient, first: int, count: int, timeout: float
) -> tuple[float, list[float]]:
    """Send ``count`` events (n = first, first+1, ...) at once, wait for every
    run; the wall time and each run's latency.  Checks every output."""
    sent_at: dict[str, tuple[int, float]] = {}  # event id -> (n, send time)

    async def send(at: int, size: int) -> None:
        events = [{"name": EVENT_NAME, "data": {"n": n}} for n in range(at, at + size)]
        now = time.time()  # the executor's clock
        ids = await post_events(http, dev.url, events)
        for n, event_id in zip(range(at, at + size), ids, strict=True):
            sent_at[event_id] = (n, now)

    pending: set[str] = set()

    def all_done() -> bool:
        for event_id in list(pending):
            runs = dev.runs_for_event(event_id)
            if runs and not runs[0].is_running:
                pending.discard(event_id)
        return not pending

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for at in range(first, first + count, BATCH):
            tg.start_soon(send, at, min(BATCH, first + count - at))
    pending.update(sent_at)
    with anyio.fail_after(timeout):
        while not all_done():
            await anyio.sleep(0.005)
    elapsed = time.perf_counter() - started

    latencies = []
    for event_id, (n, sent) in sent_at.items():
        runs = dev.runs_for_event(event_id)
        if len(runs) != 1:
            msg = f"event {n}: {len(runs)} runs, expected 1"
            raise RuntimeError(msg)
        run = runs[0]
        if run.status.name != "COMPLETED" or run.output != expected_output(n):
            msg = f"event {n}: run {run.status.name}, {run.output!r} {run.error!r}"
            raise RuntimeError(msg)
        assert run.ended_at is not None
        latencies.append(run.ended_at - sent)
    return elapsed, latencies


async def bench_runs(db: str, count: int, warmup: int = 10) -> dict[str, Any]:
    """Runs per second of the three-step function, and their latencies."""
    async with dev_server(db) as dev, anyio.create_task_group() as tg:
        transport = HttpTransport()
        client = inngest.Inngest(
            app_id="bench",
            environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": dev.url},
            transport=transport,
        )
        app = Server(client, build_functions(client), host="127.0.0.1", port=0)
        host, port = await tg.start(app.serve)
        try:
            await dev.sync_app(f"http://{host}:{port}/api/inngest")
            timeout = 30 + count * 0.5
            async with httpx.AsyncClient(timeout=60) as http:
                # Warm-up: connections opened, code paths taken once.
                await send_and_wait(dev, http, -warmup, warmup, timeout)
                elapsed, latencies = await send_and_wait(dev, http, 0, count, timeout)
        finally:
            await transport.aclose()
            await app.shutdown()
    return {
        "db": db,
        "runs": count,
        "steps_per_run": 3,
        "seconds": elapsed,
        "runs_per_s": count / elapsed,
        "latency_p50_ms": percentile(latencies, 50) * 1000,
        "latency_p95_ms": percentile(latencies, 95) * 1000,
        "latency_max_ms": max(latencies) * 1000,
    }


# -- main ------------------------------------------------------------------------------


async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    dbs: list[str] = args.db or list(DB_KINDS)
    ingest, runs = [], []
    for db in dbs:
        for per_request in (BATCH, 1):
            ingest.append(await bench_ingest(db, args.events, per_request))
        runs.append(await bench_runs(db, args.runs))
    return {
        "args": {"runs": args.runs, "events": args.events, "db": dbs},
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "ingest": ingest,
        "runs": runs,
    }


def render(summary: dict[str, Any]) -> str:
    lines = [
        "events ingested (no app synced; sequential POSTs, one keep-alive connection)",
        f"  {'db':<7} {'events/req':>10} {'events':>7} {'seconds':>8} {'events/s':>9}",
    ]
    lines.extend(
        f"  {r['db']:<7} {r['per_request']:>10} {r['events']:>7} "
        f"{r['seconds']:>8.2f} {r['events_per_s']:>9.0f}"
        for r in summary["ingest"]
    )
    lines += [
        "",
        "runs of a 3-step function (send all events, wait for every run)",
        f"  {'db':<7} {'runs':>5} {'seconds':>8} {'runs/s':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}",
    ]
    lines.extend(
        f"  {r['db']:<7} {r['runs']:>5} {r['seconds']:>8.2f} {r['runs_per_s']:>7.1f} "
        f"{r['latency_p50_ms']:>7.0f} {r['latency_p95_ms']:>7.0f} "
        f"{r['latency_max_ms']:>7.0f}"
        for r in summary["runs"]
    )
    machine = summary["machine"]
    lines += [
        "",
        f"Python {machine['python']}, {machine['cpus']} CPUs, {machine['platform']}; "
        "every run's output checked",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.devserver", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--runs", type=int, default=200, help="runs to time (default 200)"
    )
    parser.add_argument(
        "--events",
        type=int,
        default=5000,
        help="events to ingest per measurement (default 5000)",
    )
    parser.add_argument(
        "--db",
        choices=DB_KINDS,
        action="append",
        help="store to measure: memory or file (SQLite, durable); "
        "repeatable; default both",
    )
    parser.add_argument(
        "--json", type=Path, help="also write the results as JSON to this file"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.events < 1:
        parser.error("--runs and --events must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    summary = anyio.run(run_all, args)
    print(render(summary))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
