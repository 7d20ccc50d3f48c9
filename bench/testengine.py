"""Benchmark of the TestEngine: one run of a function of sequential steps.

::

    python -m bench.testengine [--steps N] [--repeat R] [--rounds K]
                               [--baseline REV] [--json PATH]

A function of ``--steps`` sequential ``step.run``s (each returns a small
int; 20 by default) runs on :class:`~inngest_transports.testing.TestEngine`,
once as a sync function and once as an async one (on asyncio).  Each
sample is one ``engine.send(event)`` on a fresh engine (made before the
clock starts): the run from its event to its end, every call of it (one
per step and the last one) made in process, with the executor building
and reading each call as the dev server does.  Every output is checked.
Reported: the median wall time and CPU time per run.

``--baseline REV`` checks REV out into a temporary git worktree and times
the same runs there, in a subprocess with that tree first on
``PYTHONPATH`` (this file is run as a script, so the function is the same
code), taking turns with this tree's for ``--rounds`` rounds so that both
see the same load, and prints the two side by side with the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import inngest_proto as inngest
from inngest_transports.testing import TestEngine

VARIANTS = ("sync", "async")
_EVENT = "bench/steps"


def build_functions(
    client: inngest.Inngest, steps: int
) -> dict[str, inngest.Function[Any]]:
    """A sync and an async function of ``steps`` sequential steps."""

    def plus_zero(value: int) -> int:
        return value

    async def plus_zero_async(value: int) -> int:
        return value

    @client.create_function(
        fn_id="steps-sync", trigger=inngest.TriggerEvent(event=f"{_EVENT}.sync")
    )
    def steps_sync(ctx: inngest.ContextSync) -> int:
        return sum(ctx.step.run(f"s{i}", plus_zero, i) for i in range(steps))

    @client.create_function(
        fn_id="steps-async", trigger=inngest.TriggerEvent(event=f"{_EVENT}.async")
    )
    async def steps_async(ctx: inngest.Context) -> int:
        total = 0
        for i in range(steps):
            total += await ctx.step.run(f"s{i}", plus_zero_async, i)
        return total

    return {"sync": steps_sync, "async": steps_async}


def measure(variant: str, steps: int, repeat: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of ``repeat`` runs of ``variant`` on fresh engines."""
    client = inngest.Inngest(app_id="bench-testengine", environ={"INNGEST_DEV": "1"})
    function = build_functions(client, steps)[variant]
    expected = sum(range(steps))
    samples = []
    for _ in range(repeat):
        engine = TestEngine(client, [function])
        started, cpu = time.perf_counter(), time.process_time()
        (event_id,) = engine.send(f"{_EVENT}.{variant}")
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        output = engine.output(event_id)
        if output != expected:
            msg = f"the {variant} run returned {output!r}, not {expected}"
            raise RuntimeError(msg)
        samples.append((wall, cpu))
    return samples


def run_here(steps: int, repeat: int) -> dict[str, list[tuple[float, float]]]:
    measure("sync", steps, max(3, repeat // 10))  # imports and caches warm up
    return {variant: measure(variant, steps, repeat) for variant in VARIANTS}


# -- side by side ------------------------------------------------------------------


@contextmanager
def checked_out(rev: str) -> Iterator[tuple[Path, str]]:
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


def run_child(
    tree: Path, steps: int, repeat: int
) -> dict[str, list[tuple[float, float]]]:
    """The samples of one round, timed in a process importing ``tree``."""
    with tempfile.TemporaryDirectory(prefix="bench-testengine-") as tmp:
        out = Path(tmp) / "samples.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child"]
        cmd += ["--steps", str(steps), "--repeat", str(repeat), "--json", str(out)]
        env = {**os.environ, "PYTHONPATH": str(tree)}
        # Run from the tree, so that nothing of ours shadows its packages.
        subprocess.run(cmd, cwd=tree, env=env, check=True)  # noqa: S603 - this file
        samples: dict[str, list[tuple[float, float]]] = json.loads(out.read_text())
        return samples


def side_by_side(args: argparse.Namespace) -> dict[str, Any]:
    ours = Path(__file__).resolve().parent.parent
    kept: dict[str, dict[str, list[tuple[float, float]]]] = {
        "baseline": {v: [] for v in VARIANTS},
        "current": {v: [] for v in VARIANTS},
    }
    with checked_out(args.baseline) as (tree, commit):
        for round_ in range(args.rounds):
            print(f"round {round_ + 1}/{args.rounds} ...", file=sys.stderr, flush=True)
            for name, where in (("baseline", tree), ("current", ours)):
                for variant, samples in run_child(
                    where, args.steps, args.repeat
                ).items():
                    kept[name][variant].extend(samples)
    return {
        "baseline_commit": commit,
        "baseline": {v: summarize(s) for v, s in kept["baseline"].items()},
        "current": {v: summarize(s) for v, s in kept["current"].items()},
    }


# -- report ------------------------------------------------------------------------


def summarize(samples: Sequence[Sequence[float]]) -> dict[str, float]:
    walls = [wall for wall, _ in samples]
    cpus = [cpu for _, cpu in samples]
    return {
        "runs": len(samples),
        "wall_ms": statistics.median(walls) * 1000,
        "wall_min_ms": min(walls) * 1000,
        "cpu_ms": statistics.median(cpus) * 1000,
    }


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def render(summary: dict[str, Any], steps: int) -> str:
    lines = [f"one run of {steps} sequential steps on the TestEngine, medians"]
    if "baseline" in summary:
        lines.append(f"baseline {summary['baseline_commit'][:12]} vs this tree")
        lines.append(
            f"  {'function':<9} {'wall ms':>8} {'this':>7} {'ratio':>6}"
            f"   {'CPU ms':>7} {'this':>7} {'ratio':>6}"
        )
        for variant in VARIANTS:
            base, cur = summary["baseline"][variant], summary["current"][variant]
            lines.append(
                f"  {variant:<9} {base['wall_ms']:>8.2f} {cur['wall_ms']:>7.2f}"
                f" {base['wall_ms'] / cur['wall_ms']:>5.2f}x"
                f"   {base['cpu_ms']:>7.2f} {cur['cpu_ms']:>7.2f}"
                f" {base['cpu_ms'] / cur['cpu_ms']:>5.2f}x"
            )
        lines.append(
            "  (ratio: the baseline's time over this tree's: higher is faster)"
        )
    else:
        lines.append(f"  {'function':<9} {'wall ms':>8} {'min':>7} {'CPU ms':>7}")
        for variant in VARIANTS:
            r = summary["current"][variant]
            lines.append(
                f"  {variant:<9} {r['wall_ms']:>8.2f} {r['wall_min_ms']:>7.2f}"
                f" {r['cpu_ms']:>7.2f}"
            )
    m = summary["machine"]
    lines.append(
        f"Python {m['python']}, {m['cpus']} CPUs, load {m['load']:.1f}, {m['platform']}"
    )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.testengine", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--steps", type=int, default=20, help="steps of the function (20)"
    )
    parser.add_argument(
        "--repeat", type=int, default=200, help="runs timed per round (200)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="turns each tree takes (--baseline; 3)"
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also time the runs on this git revision, side by side",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--json", type=Path, help="also write the results as JSON to this file"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        assert args.json is not None
        args.json.write_text(json.dumps(run_here(args.steps, args.repeat)))
        return 0
    if args.baseline:
        summary = side_by_side(args)
    else:
        samples = run_here(args.steps, args.repeat)
        summary = {"current": {v: summarize(s) for v, s in samples.items()}}
    summary["machine"] = machine()
    print(render(summary, args.steps))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
