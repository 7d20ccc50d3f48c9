"""How the dev server's memory grows with the runs it has run.

::

    python bench/run_memory.py [--runs 10000] [--db memory|file] [--step 1000]

The driver (the dev server without its HTTP front) runs ``--runs`` runs of a
one-call function whose app is faked in process (each call answers 200 with
a small output at once), 100 events at a time, with no store (``memory``)
or a SQLite file in a temporary directory (``file``).  It prints the
process's resident set size every ``--step`` runs and the growth per 1,000
runs over the second half (the first is the warm-up: imports, caches, and
without a store the memory event log filling up to its 10,000 events, two
a run).  A restart on the file is measured too: the RSS after loading it.

Run as a script, so another tree's code can be measured with the same
file: ``PYTHONPATH=/path/to/other/tree python bench/run_memory.py``.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from inngest_proto.executor import normalize_event
from inngest_proto.functions import FunctionConfig
from inngest_proto.wire import OutboundRequest, OutboundResponse, structure
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
        tg.cancel_scope.cancel()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--step", type=int, default=1000)
    parser.add_argument("--db", choices=("memory", "file"), default="memory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dev.db"
        store = SQLiteStore(path) if args.db == "file" else None
        samples = anyio.run(_soak, store, args.runs, args.step)
        half = len(samples) // 2 - 1
        warm_up = (half + 1) * args.step
        per = (samples[-1] - samples[half]) / ((args.runs - warm_up) / 1000)
        print(f"growth after {warm_up} runs: {per:.2f} MiB per 1,000 runs")
        if store is not None:
            store.close()
            before = _rss_mib()
            restarted: Any = SQLiteStore(path)
            driver = Driver(store=restarted, transport=_App())
            after = _rss_mib()
            print(
                f"restart: {after - before:.1f} MiB to load the file"
                f" ({len(driver.executor.state.runs)} runs in memory)"
            )
            restarted.close()


if __name__ == "__main__":
    main()
