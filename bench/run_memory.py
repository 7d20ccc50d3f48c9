"""How the dev server's memory grows with the runs it has run, and how long
it takes to start again on a file of finished runs.

::

    python bench/run_memory.py [--runs 100000] [--db memory|file|both]

The driver (the dev server without its HTTP front) runs ``--runs`` runs of a
one-call function whose app is faked in process (each call answers 200 with
a small output at once), 100 events at a time, with no store (``memory``)
or a SQLite file in a temporary directory (``file``); ``both`` (the
default) does one, then the other.  It prints the process's resident set
size every ``--step`` runs, then the RSS after 1,000, 10,000 and 100,000
runs and the ratio of the last to the 10,000 one (the first 10,000 are the
warm-up: imports, caches, and without a store the memory event log filling
up to its 10,000 events, two a run).

On the file, the restart is measured in a new process (``--restart PATH``):
a ``DevServer`` on the file, from opening the store until ``GET /health``
answers, and the whole process (Python's start and the imports too), with
the number of runs it loaded into memory (only those that have not ended).
``--file PATH`` keeps the file (it must not exist), and ``--restart PATH``
times only the start on a file kept so.

Run as a script, so another tree's code can be measured with the same
file: ``PYTHONPATH=/path/to/other/tree python bench/run_memory.py``.
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

from inngest_proto.executor import normalize_event
from inngest_proto.functions import FunctionConfig
from inngest_proto.wire import OutboundRequest, OutboundResponse, structure
from inngest_transports.devserver import DevServer
from inngest_transports.devserver._app_client import AppTransport
from inngest_transports.devserver._driver import Driver
from inngest_transports.devserver._ingest import EventIds
from inngest_transports.devserver._sqlite_store import SQLiteStore

_APP_URL = "http://127.0.0.1:9/api/inngest"
_HEADERS = {"content-type": "application/json", "x-inngest-sdk": "bench:v0"}
_OUTPUT = b'{"user": {"id": 7, "name": "Ada Lovelace", "plan": "pro"}, "ok": true}'
_BATCH = 100


class _App(AppTransport):
    def __init__(self) -> None:
        super().__init__(1.0)

    async def request(self, request: OutboundRequest) -> OutboundResponse:
        return OutboundResponse(200, dict(_HEADERS), _OUTPUT)


def _config() -> FunctionConfig:
    raw = {
        "id": "soak",
        "name": "soak",
        "triggers": [{"event": "t/soak"}],
        "steps": {
            "step": {
                "id": "step",
                "name": "step",
                "runtime": {
                    "type": "http",
                    "url": f"{_APP_URL}?fnId=soak&stepId=step",
                },
                "retries": {"attempts": 0},
            }
        },
    }
    return structure(raw, FunctionConfig)


def _rss_mib() -> float:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def _soak(store: SQLiteStore | None, runs: int, step: int) -> list[float]:
    driver = Driver(store=store, transport=_App())
    samples: list[float] = []
    async with anyio.create_task_group() as tg:
        await tg.start(driver.run)
        driver.register_app(_APP_URL, [_config()])
        for sent in range(0, runs, _BATCH):
            now_ms = int(time.time() * 1000)
            ids = EventIds(None, now_ms)
            internal = [ids.for_index(i) for i in range(_BATCH)]
            events = [
                normalize_event(
                    {"name": "t/soak", "data": {"n": sent + i}}, internal[i], now_ms
                )
                for i in range(_BATCH)
            ]
            driver.receive(events, internal)
            await driver.wait_until(
                lambda: (
                    not any(r.is_running for r in driver.executor.state.runs.values())
                ),
                60,
            )
            if (sent + _BATCH) % step == 0:
                samples.append(_rss_mib())
                print(f"{sent + _BATCH:>7} runs: {samples[-1]:8.1f} MiB", flush=True)
        await driver.durable()  # the last runs' ends are in the file
        tg.cancel_scope.cancel()
    return samples


_MARKS = (1_000, 10_000, 100_000)


async def _serve_once(path: Path) -> dict[str, Any]:
    """Open a dev server on ``path``; the seconds until ``/health`` answers."""
    started = time.perf_counter()
    with SQLiteStore(path) as store:
        dev = DevServer(host="127.0.0.1", port=0, poll=False, store=store)
        async with anyio.create_task_group() as tg:
            url = await tg.start(dev.serve)
            async with httpx.AsyncClient(timeout=60) as http:
                (await http.get(f"{url}/health")).raise_for_status()
            serving = time.perf_counter() - started
            loaded = len(dev.driver.executor.state.runs)
            await dev.shutdown()
    return {"serving_s": serving, "runs_loaded": loaded}


def _restart(path: Path) -> dict[str, Any]:
    """A dev server started on ``path`` in a new process."""
    started = time.perf_counter()
    out = subprocess.run(  # noqa: S603 (this interpreter, this file)
        [sys.executable, __file__, "--restart", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    return result


def _soak_and_report(db: str, runs: int, step: int, keep: Path | None) -> None:
    print(f"-- {db}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = keep or Path(tmp) / "dev.db"
        store = SQLiteStore(path) if db == "file" else None
        samples = anyio.run(_soak, store, runs, step)
        at = {(i + 1) * step: rss for i, rss in enumerate(samples)}
        marks = [n for n in _MARKS if n in at]
        print("  ".join(f"RSS after {n:,} runs: {at[n]:.1f} MiB" for n in marks))
        if 10_000 in at and runs > 10_000:
            print(f"RSS({runs:,}) / RSS(10,000): {at[runs] / at[10_000]:.2f}")
        if store is None:
            return
        store.close()
        with sqlite3.connect(path) as conn:
            ended = conn.execute(
                "SELECT COUNT(*) FROM runs WHERE status NOT IN ('Queued', 'Running')"
            ).fetchone()[0]
        size = path.stat().st_size / 2**20
        restart = _restart(path)
        print(
            f"restart on {ended:,} finished runs ({size:.0f} MiB file):"
            f" /health answers {restart['serving_s']:.2f} s after opening the"
            f" store, {restart['process_s']:.2f} s after the process started;"
            f" {restart['runs_loaded']} runs loaded into memory"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--step", type=int, default=1000)
    parser.add_argument("--db", choices=("memory", "file", "both"), default="both")
    parser.add_argument(
        "--file", type=Path, help="the SQLite file to write (kept), not a temporary one"
    )
    parser.add_argument(
        "--restart",
        type=Path,
        metavar="PATH",
        help="only time a dev server's start on the SQLite file PATH",
    )
    args = parser.parse_args()
    if args.restart is not None:
        print(json.dumps(anyio.run(_serve_once, args.restart)))
        return
    for db in ("memory", "file") if args.db == "both" else (args.db,):
        _soak_and_report(db, args.runs, args.step, args.file)


if __name__ == "__main__":
    main()
