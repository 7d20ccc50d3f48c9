"""Benchmark of flow control on the embedded dev server: debounce and concurrency.

::

    python -m bench.flow [--events N] [--keys N] [--quick] [--db memory|file]
                         [--json PATH]

Two scenarios, each measured in a fresh process (so its peak RSS is its
own), with the in-memory store and with a SQLite file in a temporary
directory (durable mode), or only the stores ``--db`` names.

* **debounce**: a function with ``debounce=Debounce(period=1 s,
  key="event.data.user")`` returning its event's data.  ``--events`` events
  over ``--keys`` users (event ``i`` is user ``i % keys``) are POSTed 100 per
  request, one request after another over one keep-alive connection, as fast
  as ``/e`` answers.  Timed: the ingestion, and until every debounced run has
  finished.  Checked: exactly one run per key, each COMPLETED with the last
  event of its key as output.  Latency: from the POST of a key's last event
  to the end of its run (the 1 s period included).
* **concurrency**: a function with ``concurrency=[Concurrency(limit=10)]``
  and one ``step.run`` (two calls per run: the step, then the return).
  ``--events`` events are POSTed the same way.  Timed: until every run has
  completed.  Checked: one COMPLETED run per event with its expected output,
  and that never more than 10 calls were in flight: counted around the dev
  server's call transport (request sent to response read) and around the
  app's handler (whose step sleeps 1 ms so that calls can overlap; it sees
  fewer at once, the rest of each call's time being HTTP and executor work
  on the same loop).  Latency: from the POST of a run's event to the run's
  end (mostly time queued for a slot).

The dev server, the app (this SDK on the h11
:class:`~inngest_transports.server.Server`) and the client share one process
and one event loop, on 127.0.0.1 only: the figures are for all three on one
core.  Peak RSS is ``ru_maxrss`` of that process (interpreter and imports
included); "base" is the same figure once the servers are up, before the
first event.  The state size is the executor's after the scenario: it keeps
every finished run (and its trigger events) in memory.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import platform
import resource
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx

import inngest_proto as inngest
from bench.devserver import DB_KINDS, dev_server, percentile, post_events
from inngest_proto.wire import OutboundRequest, OutboundResponse
from inngest_transports.devserver import DevServer
from inngest_transports.devserver._driver import CallTransport
from inngest_transports.http import HttpTransport
from inngest_transports.server import Server

APP_ID = "bench-flow"
DEBOUNCED = "bench/flow.debounced"
LIMITED = "bench/flow.limited"
BATCH = 100
LIMIT = 10
DEBOUNCE_SECONDS = 1
SCENARIOS = ("debounce", "concurrency")
QUICK_EVENTS = 500
#: How long the step of the concurrency-limited function works (sleeps).
WORK_SECONDS = 0.001


# -- helpers ---------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Kilobytes on Linux, bytes on macOS.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class Probe:
    """Counts calls of a function in progress in the app, and the most at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.calls = 0

    def __enter__(self) -> None:
        self.now += 1
        self.calls += 1
        self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        self.now -= 1


class CountingTransport:
    """Wraps the dev server's transport for calls, counting the calls in flight."""

    def __init__(self, probe: Probe, inner: CallTransport) -> None:
        self._probe = probe
        self._inner = inner

    async def request(self, request: OutboundRequest) -> OutboundResponse:
        with self._probe:
            return await self._inner.request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def make_client(
    dev: DevServer, app_id: str = APP_ID
) -> tuple[inngest.Inngest, HttpTransport]:
    """A client of this SDK for the app, and its transport (to close)."""
    transport = HttpTransport()
    client = inngest.Inngest(
        app_id=app_id,
        environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": dev.url},
        transport=transport,
    )
    return client, transport


@contextlib.asynccontextmanager
async def app_server(
    dev: DevServer,
    client: inngest.Inngest,
    transport: HttpTransport,
    functions: Sequence[inngest.Function[Any]],
) -> AsyncIterator[None]:
    """Serve ``functions`` on 127.0.0.1 and sync them with ``dev``."""
    async with anyio.create_task_group() as tg:
        app = Server(client, list(functions), host="127.0.0.1", port=0)
        host, port = await tg.start(app.serve)
        try:
            await dev.sync_app(f"http://{host}:{port}/api/inngest")
            yield
        finally:
            await transport.aclose()
            await app.shutdown()


async def send_all(
    dev: DevServer, http: httpx.AsyncClient, events: Sequence[dict[str, Any]]
) -> list[float]:
    """POST ``events`` in order, ``BATCH`` per request, one request at a time;
    when (``time.time()``, the executor's clock) each event's POST began."""
    sent: list[float] = []
    for at in range(0, len(events), BATCH):
        chunk = events[at : at + BATCH]
        now = time.time()
        await post_events(http, dev.url, chunk)
        sent.extend([now] * len(chunk))
    return sent


def state_size(dev: DevServer) -> dict[str, int]:
    state = dev.driver.executor.state
    return {
        "runs": len(state.runs),
        "running": sum(run.is_running for run in state.runs.values()),
        "timers": len(state.timers),
        "debounces": len(state.debounces),
        "events_kept": len(dev.driver.list_events(10**9)),
    }


def latency_summary(latencies: Sequence[float]) -> dict[str, float]:
    return {
        "latency_p50_s": percentile(latencies, 50),
        "latency_p95_s": percentile(latencies, 95),
        "latency_max_s": max(latencies),
    }


# -- debounce --------------------------------------------------------------------------


async def bench_debounce(db: str, count: int, keys: int) -> dict[str, Any]:
    probe = Probe()
    async with dev_server(db) as dev, httpx.AsyncClient(timeout=120) as http:
        client, transport = make_client(dev)

        @client.create_function(
            fn_id="debounced",
            trigger=inngest.TriggerEvent(event=DEBOUNCED),
            debounce=inngest.Debounce(
                period=timedelta(seconds=DEBOUNCE_SECONDS), key="event.data.user"
            ),
        )
        async def debounced(ctx: inngest.Context) -> dict[str, Any]:
            with probe:
                return dict(ctx.event.data)

        async with app_server(dev, client, transport, [debounced]):
            await post_events(http, dev.url, [{"name": "bench/warm-up"}])
            base_rss = peak_rss_mib()
            events: list[dict[str, Any]] = [
                {"name": DEBOUNCED, "data": {"user": f"u{i % keys}", "i": i}}
                for i in range(count)
            ]
            started = time.perf_counter()
            sent = await send_all(dev, http, events)
            ingest_s = time.perf_counter() - started
            state = dev.driver.executor.state

            def finished() -> bool:
                return not state.debounces and not any(
                    run.is_running for run in state.runs.values()
                )

            with anyio.fail_after(60 + count * 0.01):
                while not finished():
                    await anyio.sleep(0.005)
            total_s = time.perf_counter() - started
            after = state_size(dev)
            runs = list(state.runs.values())

    # The last event of each key, and when it was sent.
    last: dict[str, tuple[dict[str, Any], float]] = {}
    for event, at in zip(events, sent, strict=True):
        last[event["data"]["user"]] = (event["data"], at)
    if len(runs) != keys or len(last) != keys:
        msg = f"debounce: {len(runs)} runs for {len(last)} keys, expected {keys}"
        raise RuntimeError(msg)
    latencies = []
    for run in runs:
        user = run.event["data"].get("user")
        expected, at = last.get(user, ({}, 0.0))
        if run.status.name != "COMPLETED" or run.output != expected:
            msg = (
                f"debounce: run of {user}: {run.status.name} {run.output!r}, "
                f"expected {expected!r} ({run.error!r})"
            )
            raise RuntimeError(msg)
        assert run.ended_at is not None
        latencies.append(run.ended_at - at)
    return {
        "scenario": "debounce",
        "db": db,
        "events": count,
        "keys": keys,
        "runs": len(runs),
        "calls": probe.calls,
        "ingest_s": ingest_s,
        "ingest_events_per_s": count / ingest_s,
        "total_s": total_s,
        "rate": count / ingest_s,
        "rate_unit": "events/s",
        **latency_summary(latencies),
        "base_rss_mib": base_rss,
        "peak_rss_mib": peak_rss_mib(),
        "state_after": after,
    }


# -- concurrency -----------------------------------------------------------------------


async def bench_concurrency(db: str, count: int) -> dict[str, Any]:
    probe, in_flight = Probe(), Probe()
    async with dev_server(db) as dev, httpx.AsyncClient(timeout=120) as http:
        dev.driver._transport = CountingTransport(in_flight, dev.driver._transport)
        client, transport = make_client(dev)

        async def double(n: int) -> int:
            await anyio.sleep(WORK_SECONDS)  # work: calls in progress overlap
            return n * 2

        @client.create_function(
            fn_id="limited",
            trigger=inngest.TriggerEvent(event=LIMITED),
            concurrency=[inngest.Concurrency(limit=LIMIT)],
        )
        async def limited(ctx: inngest.Context) -> dict[str, Any]:
            with probe:
                n = int(ctx.event.data["n"])
                doubled = await ctx.step.run("double", double, n)
                return {"n": n, "doubled": doubled}

        async with app_server(dev, client, transport, [limited]):
            await post_events(http, dev.url, [{"name": "bench/warm-up"}])
            base_rss = peak_rss_mib()
            events = [{"name": LIMITED, "data": {"n": n}} for n in range(count)]
            state = dev.driver.executor.state
            started = time.perf_counter()
            sent = await send_all(dev, http, events)
            ingest_s = time.perf_counter() - started
            # Every run exists once its POST is answered; they end about in
            # the order they were queued, so the scan is linear in all.
            pending = collections.deque(state.runs.values())
            with anyio.fail_after(60 + count * 0.05):
                while pending:
                    while pending and not pending[0].is_running:
                        pending.popleft()
                    if pending:
                        await anyio.sleep(0.005)
            total_s = time.perf_counter() - started
            after = state_size(dev)
            runs = list(state.runs.values())

    if len(runs) != count:
        msg = f"concurrency: {len(runs)} runs for {count} events"
        raise RuntimeError(msg)
    latencies = []
    sent_at = dict(enumerate(sent))
    for run in runs:
        n = run.event["data"]["n"]
        expected = {"n": n, "doubled": n * 2}
        if run.status.name != "COMPLETED" or run.output != expected:
            msg = f"concurrency: run {n}: {run.status.name} {run.output!r}"
            raise RuntimeError(msg)
        assert run.ended_at is not None
        latencies.append(run.ended_at - sent_at.pop(n))
    if sent_at:
        msg = f"concurrency: no run for {len(sent_at)} events"
        raise RuntimeError(msg)
    if max(probe.most, in_flight.most) > LIMIT:
        msg = (
            f"concurrency: {in_flight.most} calls in flight at once "
            f"({probe.most} in the app), limit {LIMIT}"
        )
        raise RuntimeError(msg)
    return {
        "scenario": "concurrency",
        "db": db,
        "events": count,
        "runs": len(runs),
        "calls": probe.calls,
        "calls_made": in_flight.calls,
        "most_calls_in_flight": in_flight.most,
        "most_calls_in_app": probe.most,
        "ingest_s": ingest_s,
        "ingest_events_per_s": count / ingest_s,
        "total_s": total_s,
        "rate": count / total_s,
        "rate_unit": "runs/s",
        **latency_summary(latencies),
        "base_rss_mib": base_rss,
        "peak_rss_mib": peak_rss_mib(),
        "state_after": after,
    }


# -- main ------------------------------------------------------------------------------


def measure(scenario: str, db: str, count: int, keys: int) -> dict[str, Any]:
    """One measurement (run in a process of its own)."""
    if scenario == "debounce":
        return anyio.run(bench_debounce, db, count, keys)
    return anyio.run(bench_concurrency, db, count)


def in_fresh_process(
    fn: Callable[..., dict[str, Any]], *args: object
) -> dict[str, Any]:
    """``fn(*args)`` in a fresh process: its peak RSS is its own."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        result: dict[str, Any] = pool.submit(fn, *args).result()
    return result


def measure_apart(scenario: str, db: str, count: int, keys: int) -> dict[str, Any]:
    """:func:`measure` in a fresh process."""
    return in_fresh_process(measure, scenario, db, count, keys)


def plan(args: argparse.Namespace) -> tuple[list[tuple[str, str]], list[str]]:
    """The (scenario, db) pairs to measure, and notes on the ones left out."""
    scenarios: list[str] = args.scenario or list(SCENARIOS)
    dbs: list[str] = args.db or list(DB_KINDS)
    pairs = [(scenario, db) for scenario in scenarios for db in dbs]
    notes: list[str] = []
    return pairs, notes


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    pairs, notes = plan(args)
    results = [
        measure_apart(scenario, db, args.events, args.keys) for scenario, db in pairs
    ]
    return {
        "args": {"events": args.events, "keys": args.keys, "measured": pairs},
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "notes": notes,
        "results": results,
    }


def render(summary: dict[str, Any]) -> str:
    lines = [
        f"  {'scenario':<12} {'db':<7} {'events':>6} {'runs':>6} {'ingest s':>8} "
        f"{'total s':>8} {'rate':>14} {'p50 s':>6} {'max s':>6} "
        f"{'base MiB':>8} {'peak MiB':>8}"
    ]
    for r in summary["results"]:
        rate = f"{r['rate']:.0f} {r['rate_unit']}"
        lines.append(
            f"  {r['scenario']:<12} {r['db']:<7} {r['events']:>6} {r['runs']:>6} "
            f"{r['ingest_s']:>8.2f} {r['total_s']:>8.2f} {rate:>14} "
            f"{r['latency_p50_s']:>6.2f} {r['latency_max_s']:>6.2f} "
            f"{r['base_rss_mib']:>8.0f} {r['peak_rss_mib']:>8.0f}"
        )
    lines.append("")
    for r in summary["results"]:
        after = r["state_after"]
        extra = (
            f"{r['keys']} keys, debounce {DEBOUNCE_SECONDS} s"
            if r["scenario"] == "debounce"
            else f"at most {r['most_calls_in_flight']} calls in flight, "
            f"{r['most_calls_in_app']} in the app's handler (limit {LIMIT}); "
            f"{r['calls_made']} calls made"
        )
        lines.append(
            f"  {r['scenario']} ({r['db']}): {extra}; {r['calls']} calls handled; "
            "state "
            f"after: {after['runs']} runs ({after['running']} running), "
            f"{after['timers']} timers, {after['debounces']} debounces, "
            f"{after['events_kept']} events kept"
        )
    machine = summary["machine"]
    lines += ["", *summary["notes"]]
    lines += [
        "rate: debounce, events ingested/s; concurrency, runs completed/s "
        "(total s: from the first POST to the last run's end)",
        f"Python {machine['python']}, {machine['cpus']} CPUs, {machine['platform']}; "
        "every run's output checked",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.flow", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--events",
        type=int,
        default=10_000,
        help="events sent per measurement (default 10000)",
    )
    parser.add_argument(
        "--keys", type=int, default=100, help="debounce keys (default 100)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: {QUICK_EVENTS} events (overrides --events)",
    )
    parser.add_argument(
        "--scenario",
        choices=SCENARIOS,
        action="append",
        help="scenario to measure; repeatable; default both",
    )
    parser.add_argument(
        "--db",
        choices=DB_KINDS,
        action="append",
        help="store to measure: memory or file (SQLite, durable); repeatable; "
        "default both",
    )
    parser.add_argument(
        "--json", type=Path, help="also write the results as JSON to this file"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.events = QUICK_EVENTS
    if args.keys < 1 or args.events < args.keys:
        parser.error("--keys must be at least 1 and --events at least --keys")
    return args


def report(summary: dict[str, Any], text: str, json_path: Path | None) -> None:
    """Print the table; also write ``summary`` as JSON when asked."""
    print(text)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(summary, indent=2) + "\n")


def run_cli(
    argv: Sequence[str] | None,
    parse: Callable[[Sequence[str] | None], argparse.Namespace],
    run: Callable[[argparse.Namespace], dict[str, Any]],
    show: Callable[[dict[str, Any]], str],
) -> int:
    """What every benchmark's ``main`` does: parse, measure, print (and save)."""
    args = parse(argv)
    summary = run(args)
    report(summary, show(summary), args.json)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(argv, parse_args, run_all, render)


if __name__ == "__main__":
    sys.exit(main())
