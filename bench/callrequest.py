"""Benchmark of call requests: our SDK and the official one side by side.

::

    python -m bench.callrequest [--quick] [--part inprocess|http|cold]
                               [--repeats N] [--json PATH]

**The requests.** One sync function does K sequential ``step.run`` calls
(K = 1, 10, 100, 1000), each returning about 200 B or 10 KB of JSON, and
returns ``{"steps": K, "bad": 0, "last": <step K-1's output>}``.  Every call
request carries all K memos, so each SDK replays K steps and the function
returns (status 200): the replay of K memos is what grows with the run, and
it is the same request every time, so it can be repeated.  The bodies are
canonical JSON as the Inngest server sends them, built deterministically;
each measuring process reports their SHA-256 and the bench checks that both
SDKs got the same bytes.  (K=1000 at 10 KB is a 10 MB body: above the ~4 MiB
beyond which a real server switches to ``use_api``, kept as a stress case.)
Dev mode sends no signature; cloud mode signs each request with the signing
key both SDKs are given (production mode), re-signed before every timed
run so the timestamp is always within our 5 minute window.

**In process.** Ours: ``CommHandler.handle_sync(IncomingRequest(...))``.
Official (``inngest==0.5.19``): ``CommHandler.post_sync(CommRequest(...))``
plus the ``json.dumps`` of its ``CommResponse.body`` that its framework
glue does.  **Floor**: ``json.loads`` of the request, HMAC-SHA256 of the body
(cloud), SHA-1 of each of the K step ids and ``json.dumps`` of the response:
the work no SDK can skip (the function's own loop is not in it).
**Bare**: the floor's work plus running the function, each ``step.run`` a
repeat counter, a SHA-1 and a memo lookup, with no checks at all: the
least an SDK that replays can do, reported as bare/floor.  Each
(SDK, case) runs in a fresh process, those of a case up at once and
taking turns, one timed run each per round
(:mod:`bench._callrequest_inprocess`); a process's peak RSS includes the
request body and the harness (this module and so our SDK, anyio and httpx,
in every process: the floor column is that baseline).  The first answer is
checked in full (status and output), then timed runs of M calls each (M
sized to ~``target`` seconds) give the time per call; every timed call's
status and the last answer are checked too.  Reported: median and min-max
over the repetitions.  glibc's malloc keeps freed memory in the measuring
processes (see :mod:`bench._callrequest_inprocess`).

**Over HTTP.** Each SDK's FastAPI glue, and ours as a plain ASGI app (the
official SDK has none), on uvicorn on 127.0.0.1 with what uvicorn picks
itself (httptools and uvloop when installed, as ``uvicorn[standard]``
brings; the report names them), one process per server, all three up at
once; a raw asyncio keep-alive client in this process at concurrency 1 and
16, K=1 (200 B), dev and cloud mode, the servers taking turns in each
round.  Every answer is compared with the first one, which is checked in
full.

**Cold start.** A fresh interpreter per SDK and run
(:mod:`bench._callrequest_cold`): import, build client, function and
handler (or FastAPI app), answer one call request; and which top-level
modules that imported.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench._callrequest_cases import (
    MODES,
    SIZES,
    Case,
)
from bench._callrequest_http import ROOT, measure_http, server_stack
from bench._callrequest_inprocess import run_inprocess, spread
from bench._callrequest_report import render
from bench.flow import run_cli

KS = (1, 10, 100, 1000)
PARTS = ("inprocess", "http", "cold")
COLD_VARIANTS = ("handler", "fastapi")


# -- cold start --------------------------------------------------------------------


def cold_once(sdk: str, variant: str) -> dict[str, Any]:
    """One cold start in a fresh interpreter (timed from outside too)."""
    started = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "bench._callrequest_cold", sdk, variant],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        msg = f"cold start of {sdk} ({variant}) failed with {proc.returncode}"
        raise RuntimeError(msg)
    result: dict[str, Any] = json.loads(out)
    result["process_s"] = wall
    return result


def run_cold(sdks: Sequence[str], repeats: int) -> list[dict[str, Any]]:
    results = []
    for variant in COLD_VARIANTS:
        for sdk in sdks:
            runs = [cold_once(sdk, variant) for _ in range(repeats)]
            last = runs[-1]
            results.append(
                {
                    "sdk": sdk,
                    "variant": variant,
                    "ms": spread([r["seconds"] * 1e3 for r in runs]),
                    "process_ms": spread([r["process_s"] * 1e3 for r in runs]),
                    "peak_rss_mib": max(r["peak_rss_mib"] or 0.0 for r in runs),
                    "modules_new": last["modules_new"],
                    "third_party": last["third_party"],
                    "notable": last["notable"],
                }
            )
    return results


# -- main ---------------------------------------------------------------------------


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    sdks = ["ours", "official"]
    notes = []
    if importlib.util.find_spec("inngest") is None:
        sdks.remove("official")
        notes.append("official SDK not installed (pip install inngest==0.5.19)")
    if "inprocess" in args.part:
        notes.append(
            "in process: glibc malloc keeps freed memory in the measuring "
            "processes (MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_ = 1 GiB)"
        )
    cases = [Case(k, size, mode) for mode in MODES for size in SIZES for k in args.k]
    summary: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "args": {
            "quick": args.quick,
            "repeats": args.repeats,
            "target_s": args.target,
            "http_requests": args.requests,
            "k": list(args.k),
        },
        "notes": notes,
    }
    if "inprocess" in args.part:
        summary["inprocess"] = run_inprocess(
            [*sdks, "bare", "floor"], cases, args.target, args.repeats
        )
    if "http" in args.part:
        servers = ["ours", "ours-asgi"] + (["official"] if "official" in sdks else [])
        stack = server_stack()
        summary["http"] = [
            {**row, "stack": stack}
            for mode in MODES
            for row in measure_http(
                servers,
                Case(1, "200B", mode),
                [1, 16],
                args.requests,
                args.http_repeats,
            )
        ]
    if "cold" in args.part:
        summary["cold"] = run_cold(sdks, args.cold_repeats)
    return summary


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.callrequest", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a fast look: K=1 and 100, fewer and shorter repetitions",
    )
    parser.add_argument(
        "--part",
        choices=PARTS,
        action="append",
        help="what to measure; repeatable; default all",
    )
    parser.add_argument(
        "--repeats", type=int, default=7, help="timed runs per in-process case"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args(argv)
    args.part = args.part or list(PARTS)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.quick:
        args.k, args.target, args.repeats = (1, 100), 0.03, min(args.repeats, 3)
        args.requests, args.http_repeats, args.cold_repeats = 300, 1, 1
    else:
        args.k, args.target = KS, 0.25
        args.requests, args.http_repeats, args.cold_repeats = 3000, 5, 5
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(argv, parse_args, run_all, render)


if __name__ == "__main__":
    sys.exit(main())
