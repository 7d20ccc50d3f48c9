"""Benchmark of the embedded dev server: runs, events and /health under load.

::

    python -m bench.devserver [--db memory|file] [--only NAME] [--quick]
                              [--baseline REV] [--json PATH]

Scenarios, each with the in-memory store and with a SQLite file in a
temporary directory (durable: every acknowledged ``POST /e`` is committed),
or only the ``--db`` named:

* ``runs-S-xC``: an app (this SDK on the h11
  :class:`~inngest_transports.server.Server`) with a function of ``S``
  ``step.run`` steps (1, 3, 20) is synced; runs are started ``C`` at a time
  (1, 16, 200: ``C`` events in one POST, then wait for all ``C`` runs to
  end), a few rounds; runs per second, and each run's latency from its
  POST to its end.  Every output is checked.
* ``events-single`` / ``events-batched``: events POSTed to ``/e/{key}`` one
  request after another over one keep-alive connection, 1 or 100 per
  request, no app synced.
* ``health-burst``: 10,000 events POSTed by 10 clients at once, 100 per
  request, while another client GETs ``/health`` one after another; the
  latency of those answers (p50, p99, max) and the burst's events/s.

The dev server, the app and the benchmark's clients share one process and
one event loop (as in ``examples/demo.py``), on 127.0.0.1 only.  Besides
wall-clock rates, runs and events report the process's CPU time per run or
event (``cpu_per_unit_ms``): on a machine shared with other work, the
wall-clock figures follow the load, the CPU figures much less.

``--baseline REV`` checks REV out into a temporary git worktree and runs
every scenario there too, in a subprocess with that tree first on
``PYTHONPATH`` (this file is run as a script, so the scenarios are the same
code), alternating with this tree's, and prints the two side by side with
their ratio.  Machines shared with other work are noisy: compare runs made
side by side like this, not figures from different days.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import subprocess
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
BATCH = 100
DB_KINDS = ("memory", "file")
STEPS = (1, 3, 20)
CONCURRENCY = (1, 16, 200)
BURST_EVENTS = 10_000
BURST_CLIENTS = 10


def scenario_names() -> list[str]:
    runs = [f"runs-{s}-x{c}" for s in STEPS for c in CONCURRENCY]
    return [*runs, "events-single", "events-batched", "health-burst"]


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


# -- events ----------------------------------------------------------------------------


async def bench_events(db: str, count: int, per_request: int) -> dict[str, Any]:
    """Events per second POSTed ``per_request`` at a time, no app synced."""
    events = [{"name": "bench/ingested", "data": {"i": i}} for i in range(count)]
    async with dev_server(db) as dev, httpx.AsyncClient(timeout=60) as http:
        await post_events(http, dev.url, events[:1])  # warm-up: the connection
        started, cpu = time.perf_counter(), time.process_time()
        accepted = 0
        for at in range(0, count, per_request):
            accepted += len(
                await post_events(http, dev.url, events[at : at + per_request])
            )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        stored = len(dev.driver.list_events(count + 10))
    if accepted != count or stored != count + 1:
        msg = f"ingest: {accepted} accepted, {stored} stored, of {count} (+1)"
        raise RuntimeError(msg)
    return {
        "value": count / elapsed,
        "unit": "events/s",
        "seconds": elapsed,
        "cpu_per_unit_ms": cpu * 1000 / count,
    }


async def bench_health(db: str, count: int) -> dict[str, Any]:
    """/health latency while ``count`` events arrive from several clients."""
    per_client = count // BURST_CLIENTS
    latencies: list[float] = []
    async with dev_server(db) as dev, httpx.AsyncClient(timeout=60) as probe:
        (await probe.get(f"{dev.url}/health")).raise_for_status()
        done = anyio.Event()

        # Made before the burst: an httpx client loads its CA certificates
        # when made, which stalls the loop for a while.
        senders_http = [httpx.AsyncClient(timeout=120) for _ in range(BURST_CLIENTS)]

        async def sender(first: int, http: httpx.AsyncClient) -> None:
            async with http:
                for at in range(first, first + per_client, BATCH):
                    events = [
                        {"name": "bench/burst", "data": {"i": i}}
                        for i in range(at, min(at + BATCH, first + per_client))
                    ]
                    await post_events(http, dev.url, events)

        async def prober() -> None:
            while not done.is_set():
                started = time.perf_counter()
                (await probe.get(f"{dev.url}/health")).raise_for_status()
                latencies.append(time.perf_counter() - started)
                await anyio.sleep(0.005)

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            tg.start_soon(prober)
            async with anyio.create_task_group() as senders:
                for client, http in enumerate(senders_http):
                    senders.start_soon(sender, client * per_client, http)
            elapsed = time.perf_counter() - started
            done.set()
        stored = len(dev.driver.list_events(count + 10))
    if stored != per_client * BURST_CLIENTS:
        msg = f"burst: {stored} stored of {per_client * BURST_CLIENTS}"
        raise RuntimeError(msg)
    return {
        "value": percentile(latencies, 99) * 1000,
        "unit": "ms p99",
        "p50_ms": percentile(latencies, 50) * 1000,
        "max_ms": max(latencies) * 1000,
        "probes": len(latencies),
        "events_per_s": per_client * BURST_CLIENTS / elapsed,
    }


# -- runs ------------------------------------------------------------------------------


def _plus_one(value: int) -> int:
    return value + 1


def build_function(client: inngest.Inngest, steps: int) -> inngest.Function[Any]:
    @client.create_function(
        fn_id=f"steps-{steps}",
        trigger=inngest.TriggerEvent(event=f"bench/steps-{steps}"),
    )
    async def chain(ctx: inngest.Context) -> int:
        total = int(ctx.event.data["n"])
        for step in range(steps):
            total = await ctx.step.run(f"s{step}", _plus_one, total)
        return total

    return chain


async def run_round(
    dev: DevServer,
    http: httpx.AsyncClient,
    name: str,
    *,
    first: int,
    count: int,
    steps: int,
) -> list[float]:
    """Start ``count`` runs in one POST, wait for all; their latencies.
    Checks every output."""
    events = [{"name": name, "data": {"n": n}} for n in range(first, first + count)]
    sent = time.time()  # the executor's clock
    ids = await post_events(http, dev.url, events)
    pending = dict(zip(ids, range(first, first + count), strict=True))
    latencies = []
    with anyio.fail_after(60 + count * steps):
        while pending:
            for event_id, n in list(pending.items()):
                runs = dev.runs_for_event(event_id)
                if not runs or runs[0].is_running:
                    continue
                run = runs[0]
                if run.status.name != "COMPLETED" or run.output != n + steps:
                    msg = f"event {n}: {run.status.name} {run.output!r} {run.error!r}"
                    raise RuntimeError(msg)
                assert run.ended_at is not None
                latencies.append(run.ended_at - sent)
                del pending[event_id]
            await anyio.sleep(0.002)
    return latencies


async def bench_runs(
    db: str, steps: int, concurrency: int, rounds: int
) -> dict[str, Any]:
    """Runs per second of a ``steps``-step function, ``concurrency`` at once."""
    name = f"bench/steps-{steps}"
    async with dev_server(db) as dev, anyio.create_task_group() as tg:
        transport = HttpTransport()
        client = inngest.Inngest(
            app_id="bench",
            environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": dev.url},
            transport=transport,
        )
        app = Server(client, [build_function(client, steps)], host="127.0.0.1", port=0)
        host, port = await tg.start(app.serve)
        try:
            await dev.sync_app(f"http://{host}:{port}/api/inngest")
            async with httpx.AsyncClient(timeout=120) as http:
                # Warm-up: connections opened, code paths taken once.
                await run_round(dev, http, name, first=-5, count=5, steps=steps)
                latencies: list[float] = []
                started, cpu = time.perf_counter(), time.process_time()
                for at in range(rounds):
                    latencies += await run_round(
                        dev,
                        http,
                        name,
                        first=at * concurrency,
                        count=concurrency,
                        steps=steps,
                    )
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu
        finally:
            await transport.aclose()
            await app.shutdown()
    return {
        "value": len(latencies) / elapsed,
        "unit": "runs/s",
        "runs": len(latencies),
        "cpu_per_unit_ms": cpu * 1000 / len(latencies),
        "latency_p50_ms": percentile(latencies, 50) * 1000,
        "latency_p99_ms": percentile(latencies, 99) * 1000,
    }


def rounds_for(concurrency: int, quick: bool) -> int:
    """Rounds of a runs scenario: about as many runs at every concurrency."""
    if quick:
        return 1 if concurrency > 1 else 5
    return {1: 20, 16: 4}.get(concurrency, 1)


async def run_scenario(name: str, db: str, quick: bool) -> dict[str, Any]:
    if name.startswith("runs-"):
        _, steps, concurrency = name.split("-")
        c = int(concurrency.removeprefix("x"))
        return await bench_runs(db, int(steps), c, rounds_for(c, quick))
    if name == "events-single":
        return await bench_events(db, 200 if quick else 1000, 1)
    if name == "events-batched":
        return await bench_events(db, 2000 if quick else 5000, BATCH)
    if name == "health-burst":
        return await bench_health(db, 2000 if quick else BURST_EVENTS)
    msg = f"unknown scenario {name!r}"
    raise ValueError(msg)


# -- side by side ----------------------------------------------------------------------


def run_child(
    tree: Path, names: Sequence[str], db: str, quick: bool
) -> dict[str, dict[str, Any]]:
    """The scenarios run in a subprocess that imports the packages of ``tree``."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "out.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--db", db]
        cmd += [arg for name in names for arg in ("--only", name)]
        cmd += ["--json", str(out)] + (["--quick"] if quick else [])
        env = {**os.environ, "PYTHONPATH": str(tree)}
        # Run from the tree, so that nothing of ours shadows its packages.
        subprocess.run(cmd, cwd=tree, env=env, check=True)  # noqa: S603 - this file
        results: dict[str, dict[str, Any]] = json.loads(out.read_text())["results"]
        return results


@contextlib.contextmanager
def checked_out(rev: str) -> Any:
    """``rev`` checked out into a temporary worktree: (its path, its hash)."""
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}").strip()
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        tree = Path(tmp) / "tree"
        _git("worktree", "add", "--detach", str(tree), commit)
        try:
            yield tree, commit
        finally:
            _git("worktree", "remove", "--force", str(tree))


def _git(*args: str) -> str:
    """Run git in this repository; its output."""
    repo = Path(__file__).resolve().parent.parent
    return subprocess.run(  # noqa: S603 - git with our own arguments
        ["git", "-C", str(repo), *args],  # noqa: S607 - git from PATH, as a user runs it
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def side_by_side(args: argparse.Namespace) -> dict[str, Any]:
    ours = Path(__file__).resolve().parent.parent
    names = args.only or scenario_names()
    results: dict[str, Any] = {"baseline": {}, "current": {}}
    with checked_out(args.baseline) as (tree, commit):
        results["baseline_commit"] = commit
        for db in args.db or DB_KINDS:
            for name in names:
                key = f"{db}/{name}"
                print(f"{key} ...", file=sys.stderr, flush=True)
                base = run_child(tree, [name], db, args.quick)
                cur = run_child(ours, [name], db, args.quick)
                results["baseline"][key] = base[key]
                results["current"][key] = cur[key]
    return results


# -- main ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


async def run_here(args: argparse.Namespace) -> dict[str, Any]:
    results = {}
    for db in args.db or DB_KINDS:
        for name in args.only or scenario_names():
            results[f"{db}/{name}"] = await run_scenario(name, db, args.quick)
    return {"results": results}


def _figure(result: dict[str, Any]) -> str:
    value = result["value"]
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def render(summary: dict[str, Any]) -> str:
    lines = []
    if "baseline" in summary:
        lines.append(f"baseline {summary['baseline_commit'][:12]} vs this tree")
        lines.append(
            f"  {'scenario':<28} {'unit':<9} {'baseline':>9} {'this':>9} {'ratio':>6}"
            f" {'CPU/unit ratio':>15}"
        )
        for key, cur in summary["current"].items():
            base = summary["baseline"][key]
            ratio = cur["value"] / base["value"] if base["value"] else math.inf
            cpu = ""
            if "cpu_per_unit_ms" in cur:
                cpu_ratio = base["cpu_per_unit_ms"] / cur["cpu_per_unit_ms"]
                cpu = f"{cpu_ratio:.2f}x less"
            lines.append(
                f"  {key:<28} {cur['unit']:<9} {_figure(base):>9} "
                f"{_figure(cur):>9} {ratio:>5.2f}x {cpu:>15}"
            )
        lines.append(
            "  (ms p99: lower is better; the others: higher is better; CPU: the "
            "baseline's CPU time per run or event over this tree's)"
        )
    else:
        lines.append(f"  {'scenario':<28} {'unit':<9} {'value':>9}  details")
        for key, result in summary["results"].items():
            details = ", ".join(
                f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                for k, v in result.items()
                if k not in ("value", "unit")
            )
            lines.append(
                f"  {key:<28} {result['unit']:<9} {_figure(result):>9}  {details}"
            )
    m = summary["machine"]
    lines.append(f"Python {m['python']}, {m['cpus']} CPUs, {m['platform']}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.devserver", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--db",
        choices=DB_KINDS,
        action="append",
        help="store: memory or file (SQLite, durable); repeatable; default both",
    )
    parser.add_argument(
        "--only",
        choices=scenario_names(),
        action="append",
        help="run only this scenario; repeatable; default all",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer runs and events (a smoke test)"
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also run every scenario on this git revision, side by side",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--json", type=Path, help="also write the results as JSON to this file"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    summary = side_by_side(args) if args.baseline else anyio.run(run_here, args)
    summary["machine"] = machine()
    if not args.child:
        print(render(summary))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
