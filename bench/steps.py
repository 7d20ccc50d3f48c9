"""Benchmark of a long sequential run end to end: checkpointing vs round trips.

::

    python -m bench.steps [--steps N] [--repeat R] [--json PATH]

One function of ``--steps`` sequential ``step.run``s (each returns a small
int) runs on the embedded dev server (in memory), from the event's POST to
the run's end, ``--repeat`` times for each of:

* **ours, checkpointing**: this SDK with ``Inngest(checkpointing=True)`` on
  the h11 server, in the dev server's process: the steps run in one call
  and are saved with one checkpoint request;
* **ours**: the same without checkpointing: one call per step;
* **official**: ``inngest==0.5.19`` on FastAPI/uvicorn in a process of its
  own (when installed): one call per step, each replaying every step so far.

The output of every run is checked (the sum of the step values).  Reported:
the median wall time with min-max, and each variant's ratio to "ours,
checkpointing".
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx

import inngest_proto as inngest
from bench.devserver import dev_server
from bench.flow import app_server, run_cli
from inngest_proto.executor import RunStatus
from inngest_transports.devserver import DevServer
from inngest_transports.http import HttpTransport

from ._official_steps_app import EVENT

VARIANTS = ("ours, checkpointing", "ours", "official")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def our_app(
    dev: DevServer, steps: int, checkpointing: bool
) -> AsyncIterator[None]:
    transport = HttpTransport()
    client = inngest.Inngest(
        app_id="bench-steps-ours",
        environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": dev.url},
        transport=transport,
        checkpointing=inngest.Checkpointing(max_steps=steps + 1)
        if checkpointing
        else False,
    )

    @client.create_function(
        fn_id="steps", trigger=inngest.TriggerEvent(event=EVENT), retries=0
    )
    def many(ctx: inngest.ContextSync) -> int:
        total = 0
        for i in range(steps):
            total += ctx.step.run(f"s{i}", lambda n: n, i)
        return total

    async with app_server(dev, client, transport, [many]):
        yield


@contextlib.asynccontextmanager
async def official_app(dev: DevServer, steps: int) -> AsyncIterator[None]:
    port = _free_port()
    env = {**os.environ, "INNGEST_DEV": "1", "INNGEST_BASE_URL": dev.url}
    proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "bench._official_steps_app", str(port), str(steps)],
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/inngest"
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(url)).status_code < 500:
                        break
                await anyio.sleep(0.05)
        await dev.sync_app(url)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def one_run(dev: DevServer, http: httpx.AsyncClient, steps: int) -> float:
    started = time.perf_counter()
    resp = await http.post(f"{dev.url}/e/bench", json={"name": EVENT, "data": {}})
    resp.raise_for_status()
    (event_id,) = resp.json()["ids"]
    (run,) = await dev.wait_for_runs(event_id, timeout=600)
    wall = time.perf_counter() - started
    if run.status is not RunStatus.COMPLETED or run.output != sum(range(steps)):
        msg = f"run {run.run_id} ended {run.status.value} with {run.output!r}"
        raise RuntimeError(msg)
    return wall


async def measure(variant: str, steps: int, repeat: int) -> dict[str, Any]:
    async with dev_server("memory") as dev:
        if variant == "official":
            app = official_app(dev, steps)
        else:
            app = our_app(dev, steps, checkpointing=variant == "ours, checkpointing")
        async with app, httpx.AsyncClient() as http:
            await one_run(dev, http, steps)  # warm up (imports, connections)
            times = [await one_run(dev, http, steps) for _ in range(repeat)]
    return {
        "variant": variant,
        "steps": steps,
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
    }


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    variants = list(VARIANTS)
    if importlib.util.find_spec("inngest") is None:
        print("official SDK not installed (pip install inngest==0.5.19): skipped")
        variants.remove("official")
    results = [anyio.run(measure, v, args.steps, args.repeat) for v in variants]
    base = results[0]["median_s"]
    for result in results:
        result["ratio"] = round(result["median_s"] / base, 1)
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "results": results,
    }


def render(summary: dict[str, Any]) -> str:
    lines = [
        f"Python {summary['python']}, {summary['cpus']} CPUs",
        f"{'variant':<22}{'steps':>6}{'median s':>10}{'min-max s':>18}{'x ckpt':>8}",
    ]
    for r in summary["results"]:
        spread = f"{r['min_s']}-{r['max_s']}"
        lines.append(
            f"{r['variant']:<22}{r['steps']:>6}{r['median_s']:>10}{spread:>18}"
            f"{r['ratio']:>8}"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(argv, parse_args, run_all, render)


if __name__ == "__main__":
    sys.exit(main())
