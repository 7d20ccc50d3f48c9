"""Benchmark of Connect: short runs served by one worker over one connection.

::

    python -m bench.connect [--runs N] [--quick] [--repeat N]
                            [--transport connect|http] [--db memory|file]
                            [--http-calls N] [--json PATH]

The same workload served two ways, each measured ``--repeat`` times (default
3; the table shows medians, and the spread of runs/s), each time in a fresh
process (so its peak RSS is its own), with the in-memory store and with a
SQLite file in a temporary directory (durable mode), or only what
``--transport`` and ``--db`` name:

* **connect**: ONE Connect worker of this SDK
  (:func:`inngest_transports.connect.connect` with
  ``max_worker_concurrency=16``) dials the dev server's gateway; the clock
  starts once it is ACTIVE.
* **http**: the app (this SDK on the h11
  :class:`~inngest_transports.server.Server`) synced with ``dev.sync_app``;
  the dev server makes at most ``--http-calls`` calls at once (default 16,
  the worker's limit, so both serve the same number of requests in
  parallel; the dev server's own default is 64).

The function: one ``step.run`` returning a small value (after a 1 ms sleep,
so that executions can overlap in the worker), then its event's data as
output (two calls per run: the step, then the return).  ``--runs``
events are POSTed 100 per request, one request after another over one
keep-alive connection, after a warm-up of 16 runs.  Timed: from the first
POST until every run has completed.  Latency: from the POST of a run's event
to the run's end.  Checked before anything is reported: one COMPLETED run
per event with its event's data as output; for connect, that one gateway
connection was admitted and carried every request (``dev.gateway``: its
admissions, its deliveries, its listing as ``GET /v0/connect/connections``
returns it, with ``max_worker_concurrency`` 16), and that never more than 16
requests were in flight on the worker at once, counted twice: by the
gateway (delivered, not yet answered: its per-instance load) and by the
worker (executions from request to reply); for http, that never more than
``--http-calls`` calls were in flight (around the dev server's transport).

The dev server, the worker or app, and the client share one process and one
event loop, on 127.0.0.1 only: the figures are for all of them on one core.
Peak RSS is ``ru_maxrss`` of that process (interpreter and imports
included); "base" is the same figure after the warm-up, before the first
timed event.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx

import inngest_proto as inngest
from bench.devserver import DB_KINDS, dev_server, percentile
from bench.flow import (
    CountingTransport,
    Probe,
    app_server,
    in_fresh_process,
    make_client,
    peak_rss_mib,
    run_cli,
    send_all,
)
from inngest_proto.executor import Run
from inngest_transports.connect import ConnectionState, WorkerConnection, connect
from inngest_transports.devserver import DevServer
from inngest_transports.http import HttpTransport

APP_ID = "bench-connect"
EVENT_NAME = "bench/connect.short"
INSTANCE_ID = "bench-worker"
LIMIT = 16
TRANSPORTS = ("connect", "http")
DEFAULT_RUNS = 1000
QUICK_RUNS = 200
WARMUP = 16
#: How long the step works (sleeps), so that executions can overlap.
WORK_SECONDS = 0.001


# -- helpers ---------------------------------------------------------------------------


class PeakCounter(collections.Counter[str]):
    """The gateway's in-flight count per instance, remembering each one's peak."""

    def __init__(self) -> None:
        super().__init__()
        self.peak: collections.Counter[str] = collections.Counter()

    def __setitem__(self, key: str, value: int) -> None:
        super().__setitem__(key, value)
        self.peak[key] = max(self.peak[key], value)


async def small_step() -> str:
    await anyio.sleep(WORK_SECONDS)  # work: executions in the worker overlap
    return "ok"


def build_function(client: inngest.Inngest) -> inngest.Function[Any]:
    @client.create_function(
        fn_id="short", trigger=inngest.TriggerEvent(event=EVENT_NAME)
    )
    async def short(ctx: inngest.Context) -> dict[str, Any]:
        await ctx.step.run("small", small_step)
        return dict(ctx.event.data)

    return short


def count_executions(worker: WorkerConnection, probe: Probe) -> None:
    """Count the worker's executions (request received to reply queued)."""
    execute: Callable[..., Coroutine[Any, Any, None]] = worker._execute

    async def counted(*args: Any) -> None:
        with probe:
            await execute(*args)

    worker._execute = counted  # type: ignore[method-assign,assignment]


@contextlib.asynccontextmanager
async def connect_worker(
    dev: DevServer, client: inngest.Inngest, transport: HttpTransport, probe: Probe
) -> AsyncIterator[WorkerConnection]:
    """One Connect worker serving the function, ACTIVE until exit."""
    worker = connect(
        [(client, [build_function(client)])],
        instance_id=INSTANCE_ID,
        max_worker_concurrency=LIMIT,
        shutdown_signals=[],
    )
    count_executions(worker, probe)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.start)
        try:
            with anyio.fail_after(10):
                await worker.wait_for_state(ConnectionState.ACTIVE)
            yield worker
        finally:
            with anyio.fail_after(30):
                await worker.close(wait=True)
            await transport.aclose()


async def wait_all(dev: DevServer, known: int, count: int, timeout: float) -> list[Run]:
    """Wait until the ``count`` runs after the first ``known`` have ended."""
    state = dev.driver.executor.state
    # Runs exist once their POST is answered and end about in order.
    runs = list(state.runs.values())[known:]
    if len(runs) != count:
        msg = f"{len(runs)} runs for {count} events"
        raise RuntimeError(msg)
    pending = collections.deque(runs)
    with anyio.fail_after(timeout):
        while pending:
            while pending and not pending[0].is_running:
                pending.popleft()
            if pending:
                await anyio.sleep(0.005)
    return runs


def check_runs(runs: Sequence[Run], first: int, sent: Sequence[float]) -> list[float]:
    """Every run COMPLETED with its event's data; their latencies."""
    sent_at = {first + i: at for i, at in enumerate(sent)}
    latencies = []
    for run in runs:
        n = run.event["data"]["n"]
        if run.status.name != "COMPLETED" or run.output != {"n": n}:
            msg = f"run {n}: {run.status.name} {run.output!r} ({run.error!r})"
            raise RuntimeError(msg)
        assert run.ended_at is not None
        latencies.append(run.ended_at - sent_at.pop(n))
    if sent_at:
        msg = f"no run for {len(sent_at)} events"
        raise RuntimeError(msg)
    return latencies


async def workload(
    dev: DevServer, http: httpx.AsyncClient, first: int, count: int
) -> tuple[float, list[float]]:
    """Send ``count`` events (n = first, first + 1, ...) and wait for their
    runs; the wall time and the latencies, every run checked."""
    state = dev.driver.executor.state
    known = len(state.runs)
    events = [{"name": EVENT_NAME, "data": {"n": first + i}} for i in range(count)]
    started = time.perf_counter()
    sent = await send_all(dev, http, events)
    runs = await wait_all(dev, known, count, 60 + count * 0.05)
    elapsed = time.perf_counter() - started
    return elapsed, check_runs(runs, first, sent)


def summary(
    transport: str, db: str, count: int, elapsed: float, latencies: Sequence[float]
) -> dict[str, Any]:
    return {
        "transport": transport,
        "db": db,
        "runs": count,
        "seconds": elapsed,
        "runs_per_s": count / elapsed,
        "latency_p50_s": percentile(latencies, 50),
        "latency_p95_s": percentile(latencies, 95),
        "latency_max_s": max(latencies),
    }


# -- connect ---------------------------------------------------------------------------


async def bench_connect(db: str, count: int) -> dict[str, Any]:
    executions = Probe()
    async with dev_server(db) as dev, httpx.AsyncClient(timeout=120) as http:
        gateway = dev.gateway
        load = PeakCounter()
        gateway._load = load
        admitted: list[str] = []
        admit = gateway.admit

        def counted_admit(sock: Any, hello: Any) -> str | None:
            problem = admit(sock, hello)
            if problem is None:
                admitted.append(hello.connection_id)
            return problem

        gateway.admit = counted_admit  # type: ignore[method-assign]
        client, transport = make_client(dev, APP_ID)
        async with connect_worker(dev, client, transport, executions) as worker:
            # Warm-up: code paths taken once.
            await workload(dev, http, -WARMUP, WARMUP)
            base_rss = peak_rss_mib()
            delivered = len(gateway.deliveries)
            calls_before = executions.calls
            elapsed, latencies = await workload(dev, http, 0, count)
            connection_id = worker.get_connection_id()
            listing = (await http.get(f"{dev.url}/v0/connect/connections")).json()
            connections = gateway.connections()
            deliveries = gateway.deliveries[delivered:]
    result = summary("connect", db, count, elapsed, latencies)
    used = {conn for _, conn in deliveries}
    problems = []
    if admitted != [connection_id] or used != {connection_id}:
        problems.append(
            f"connections: {len(admitted)} admitted, {len(used)} used "
            f"({sorted(used)}), the worker's is {connection_id}"
        )
    listed = listing.get("data", [])
    if (
        len(listed) != 1
        or len(connections) != 1
        or (
            listed[0]["id"],
            listed[0]["instance_id"],
            listed[0]["max_worker_concurrency"],
        )
        != (connection_id, INSTANCE_ID, LIMIT)
    ):
        problems.append(f"listing: {listed!r}")
    most = max(load.peak[INSTANCE_ID], executions.most)
    if most > LIMIT:
        problems.append(
            f"in flight: {load.peak[INSTANCE_ID]} at the gateway, "
            f"{executions.most} in the worker, limit {LIMIT}"
        )
    if problems:
        raise RuntimeError("connect: " + "; ".join(problems))
    return {
        **result,
        "connections": len(admitted),
        "calls_made": len(deliveries),
        "calls_handled": executions.calls - calls_before,
        "most_in_flight": load.peak[INSTANCE_ID],
        "most_in_worker": executions.most,
        "limit": LIMIT,
        "base_rss_mib": base_rss,
        "peak_rss_mib": peak_rss_mib(),
    }


# -- http ------------------------------------------------------------------------------


async def bench_http(db: str, count: int, slots: int) -> dict[str, Any]:
    in_flight = Probe()
    async with dev_server(db) as dev, httpx.AsyncClient(timeout=120) as http:
        # No call was made yet: the driver's transport and slots are unused.
        dev.driver._transport = CountingTransport(in_flight, dev.driver._transport)
        dev.driver._call_slots = anyio.CapacityLimiter(slots)
        client, transport = make_client(dev, APP_ID)
        async with app_server(dev, client, transport, [build_function(client)]):
            await workload(dev, http, -WARMUP, WARMUP)  # warm-up
            base_rss = peak_rss_mib()
            calls_before = in_flight.calls
            elapsed, latencies = await workload(dev, http, 0, count)
    if in_flight.most > slots:
        msg = f"http: {in_flight.most} calls in flight at once, limit {slots}"
        raise RuntimeError(msg)
    return {
        **summary("http", db, count, elapsed, latencies),
        "connections": None,
        "calls_made": in_flight.calls - calls_before,
        "calls_handled": None,
        "most_in_flight": in_flight.most,
        "most_in_worker": None,
        "limit": slots,
        "base_rss_mib": base_rss,
        "peak_rss_mib": peak_rss_mib(),
    }


# -- main ------------------------------------------------------------------------------


def measure(transport: str, db: str, count: int, slots: int) -> dict[str, Any]:
    """One measurement (run in a process of its own)."""
    if transport == "connect":
        return anyio.run(bench_connect, db, count)
    return anyio.run(bench_http, db, count, slots)


def measure_apart(transport: str, db: str, count: int, slots: int) -> dict[str, Any]:
    """:func:`measure` in a fresh process."""
    return in_fresh_process(measure, transport, db, count, slots)


def aggregate(repeats: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One row of repeated measurements: medians, and the spread of runs/s."""
    first = repeats[0]
    row = {key: first[key] for key in ("transport", "db", "runs", "limit")}
    for key in (
        "seconds",
        "runs_per_s",
        "latency_p50_s",
        "latency_max_s",
        "base_rss_mib",
        "peak_rss_mib",
    ):
        row[key] = statistics.median(r[key] for r in repeats)
    rates = [r["runs_per_s"] for r in repeats]
    row["runs_per_s_min"], row["runs_per_s_max"] = min(rates), max(rates)
    row["repeats"] = len(repeats)
    # Limits hold in every repeat (checked); the most seen in any of them.
    for key in ("most_in_flight", "most_in_worker", "connections", "calls_made"):
        values = [r[key] for r in repeats if r[key] is not None]
        row[key] = max(values) if values else None
    return row


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    transports: list[str] = args.transport or list(TRANSPORTS)
    dbs: list[str] = args.db or list(DB_KINDS)
    pairs = [(transport, db) for db in dbs for transport in transports]
    # Interleaved (connect, http, connect, http, ...): drift hits both alike.
    measured: dict[tuple[str, str], list[dict[str, Any]]] = {p: [] for p in pairs}
    for _ in range(args.repeat):
        for transport, db in pairs:
            measured[transport, db].append(
                measure_apart(transport, db, args.runs, args.http_calls)
            )
    return {
        "args": {
            "runs": args.runs,
            "repeat": args.repeat,
            "http_calls": args.http_calls,
            "measured": pairs,
        },
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "results": [aggregate(measured[pair]) for pair in pairs],
        "repeats": [r for pair in pairs for r in measured[pair]],
    }


def render(summary: dict[str, Any]) -> str:
    lines = [
        f"  {'transport':<9} {'db':<7} {'runs':>5} {'seconds':>8} {'runs/s':>7} "
        f"{'(min-max)':>11} {'p50 s':>6} {'max s':>6} {'calls':>6} "
        f"{'in flight':>9} {'base MiB':>8} {'peak MiB':>8}"
    ]
    for r in summary["results"]:
        spread = f"({r['runs_per_s_min']:.0f}-{r['runs_per_s_max']:.0f})"
        lines.append(
            f"  {r['transport']:<9} {r['db']:<7} {r['runs']:>5} {r['seconds']:>8.2f} "
            f"{r['runs_per_s']:>7.0f} {spread:>11} {r['latency_p50_s']:>6.2f} "
            f"{r['latency_max_s']:>6.2f} {r['calls_made']:>6} "
            f"{r['most_in_flight']:>4}/{r['limit']:<4} "
            f"{r['base_rss_mib']:>8.0f} {r['peak_rss_mib']:>8.0f}"
        )
    lines.append("")
    rates = {(r["transport"], r["db"]): r["runs_per_s"] for r in summary["results"]}
    for r in summary["results"]:
        if r["transport"] == "connect":
            lines.append(
                f"  connect ({r['db']}): {r['connections']} connection, "
                f"{r['calls_made']} requests over it; at most "
                f"{r['most_in_flight']} in flight at the gateway, "
                f"{r['most_in_worker']} executing in the worker "
                f"(max_worker_concurrency {r['limit']})"
            )
            http = rates.get(("http", r["db"]))
            if http:
                lines.append(
                    f"  connect / http ({r['db']}): {r['runs_per_s'] / http:.2f}x "
                    "(medians)"
                )
    machine = summary["machine"]
    repeat = summary["args"]["repeat"]
    lines += [
        "",
        f"medians of {repeat} repeat(s), each in a fresh process; seconds: from "
        f"the first POST until every run completed (after a warm-up of {WARMUP} "
        "runs); calls: requests the dev server made (step, then return); "
        "in flight: most at once / limit",
        f"Python {machine['python']}, {machine['cpus']} CPUs, {machine['platform']}; "
        "every run's output checked",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.connect", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=DEFAULT_RUNS,
        help=f"runs to time per measurement (default {DEFAULT_RUNS})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: {QUICK_RUNS} runs (overrides --runs)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="measurements of each (transport, store), each in a fresh process; "
        "the table shows medians (default 3)",
    )
    parser.add_argument(
        "--transport",
        choices=TRANSPORTS,
        action="append",
        help="how the function is served: connect (one worker) or http (the "
        "app synced); repeatable; default both",
    )
    parser.add_argument(
        "--db",
        choices=DB_KINDS,
        action="append",
        help="store to measure: memory or file (SQLite, durable); repeatable; "
        "default both",
    )
    parser.add_argument(
        "--http-calls",
        type=int,
        default=LIMIT,
        help=f"calls in flight at once over HTTP (default {LIMIT}, as the "
        "worker's max_worker_concurrency; the dev server's own is 64)",
    )
    parser.add_argument(
        "--json", type=Path, help="also write the results as JSON to this file"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = QUICK_RUNS
    if min(args.runs, args.repeat, args.http_calls) < 1:
        parser.error("--runs, --repeat and --http-calls must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(argv, parse_args, run_all, render)


if __name__ == "__main__":
    sys.exit(main())
