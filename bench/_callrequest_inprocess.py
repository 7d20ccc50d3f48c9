"""The in-process part of :mod:`bench.callrequest`: each SDK's handler, and
the floor, timed on one generated call request, taking turns.

Each (SDK, case) gets a fresh process (its peak RSS is its own), but the
processes of a case are up at once and time one repetition each in turn:
on a machine whose speed drifts, a slow spell touches every column of the
case alike instead of one SDK's whole measurement.

The measuring processes run with glibc's malloc told to keep freed memory
(:data:`KEEP_FREED_MEMORY`, the same for every column): otherwise each 10 MB
request's memory goes back to the OS and is faulted in again, which doubled
every 10 KB figure or not depending on the heap's layout (the floor
measured 8 ms in one process and 21 ms in the next).
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import statistics
import time
import traceback
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from typing import Any

from bench._callrequest_cases import (
    Case,
    answer_problem,
    headers_for,
    make_handler,
    peak_rss_of,
    request_body,
)

MAX_CALLS_PER_RUN = 5000
#: glibc malloc settings for the measuring processes.
KEEP_FREED_MEMORY = {
    "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
}


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of the repetitions."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


class CaseTimer:
    """One SDK (``ours``, ``official`` or ``floor``) on one case.

    Built: the first answer checked in full, and the number of calls per
    timed run sized to about ``target_s``.  Each :meth:`run` times one run
    and checks every status and the last answer.
    """

    def __init__(self, sdk: str, case: Case, target_s: float) -> None:
        self.sdk, self.case = sdk, case
        self.body = request_body(case)
        self.handle = make_handler(sdk, case)
        self._check(self.handle(self.body, headers_for(case, self.body)))
        started = time.perf_counter()
        self.handle(self.body, headers_for(case, self.body))
        once = time.perf_counter() - started
        self.calls = max(1, min(MAX_CALLS_PER_RUN, round(target_s / max(once, 1e-9))))
        self.per_call: list[float] = []

    def _check(self, answer: tuple[int, bytes], statuses: object = None) -> None:
        problem = answer_problem(self.case, answer)
        if problem is not None or statuses not in (None, {200}):
            where = "" if statuses is None else f"statuses {statuses} while timed; "
            msg = f"{self.sdk}, {self.case.label}: {where}{problem}"
            raise AssertionError(msg)

    def run(self) -> float:
        """Seconds per call over one timed run."""
        body, handle = self.body, self.handle
        headers = headers_for(self.case, body)  # signed now: inside the window
        statuses = set()
        started = time.perf_counter()
        for _ in range(self.calls):
            answer = handle(body, headers)
            statuses.add(answer[0])
        elapsed = (time.perf_counter() - started) / self.calls
        self._check(answer, statuses)
        self.per_call.append(elapsed)
        return elapsed

    def summary(self) -> dict[str, Any]:
        case = self.case
        return {
            "sdk": self.sdk,
            "k": case.k,
            "size": case.size,
            "mode": case.mode,
            "body_bytes": len(self.body),
            "body_sha256": hashlib.sha256(self.body).hexdigest(),
            "calls_per_run": self.calls,
            "us_per_call": spread([t * 1e6 for t in self.per_call]),
            "peak_rss_mib": _peak_rss_mib(),
        }


def _peak_rss_mib() -> float:
    # VmHWM where there is one: a spawned child's ru_maxrss starts at its
    # parent's peak (fork, then exec).
    peak = peak_rss_of(os.getpid())
    if peak is None:
        from bench.flow import peak_rss_mib  # noqa: PLC0415

        peak = peak_rss_mib()
    return round(peak, 1)


# -- one process per (SDK, case) -------------------------------------------------


def _serve(
    conn: Connection, sdk: str, case: tuple[int, str, str], target: float
) -> None:
    """A measuring process: build the timer, then obey ``run`` and ``done``."""
    try:
        timer = CaseTimer(sdk, Case(*case), target)
        conn.send(("ready", None))
        while conn.recv() == "run":
            conn.send(("ran", timer.run()))
        conn.send(("summary", timer.summary()))
    except Exception:  # reported to the parent, which raises it
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class _Remote:
    """The parent's handle on one measuring process."""

    def __init__(self, sdk: str, case: Case, target_s: float) -> None:
        context = multiprocessing.get_context("spawn")
        self.sdk = sdk
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, sdk, tuple(case), target_s), daemon=True
        )
        self._process.start()
        child.close()

    def ask(self, command: str | None = None) -> Any:
        try:
            if command is not None:
                self._conn.send(command)
            kind, value = self._conn.recv()
        except (EOFError, OSError) as err:
            code = self._process.exitcode
            msg = f"the {self.sdk} measuring process died (exit code {code})"
            raise RuntimeError(msg) from err
        if kind == "error":
            msg = f"the {self.sdk} measuring process failed:\n{value}"
            raise RuntimeError(msg)
        return value

    def close(self) -> None:
        self._conn.close()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` (so in processes started meanwhile)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _measure_case_apart(
    sdks: Sequence[str], case: Case, target_s: float, repeats: int
) -> list[dict[str, Any]]:
    remotes: list[_Remote] = []
    try:
        with environment(KEEP_FREED_MEMORY):
            remotes = [_Remote(sdk, case, target_s) for sdk in sdks]
        for remote in remotes:
            remote.ask()  # ready: built and its first answer checked
        for _ in range(repeats):
            for remote in remotes:
                remote.ask("run")
        return [remote.ask("done") for remote in remotes]
    finally:
        for remote in remotes:
            remote.close()


def _measure_case_here(
    sdks: Sequence[str], case: Case, target_s: float, repeats: int
) -> list[dict[str, Any]]:
    timers = [CaseTimer(sdk, case, target_s) for sdk in sdks]
    for _ in range(repeats):
        for timer in timers:
            timer.run()
    return [timer.summary() for timer in timers]


def run_inprocess(
    sdks: Sequence[str],
    cases: Sequence[Case],
    target_s: float,
    repeats: int,
    *,
    fresh: bool = True,
) -> list[dict[str, Any]]:
    """Every case, the SDKs taking turns; ``fresh=False`` times them all in
    this process (for tests)."""
    measure = _measure_case_apart if fresh else _measure_case_here
    results: list[dict[str, Any]] = []
    for case in cases:
        got = measure(sdks, case, target_s, repeats)
        if len({r["body_sha256"] for r in got}) != 1:
            msg = f"{case.label}: the SDKs were not given the same bytes"
            raise AssertionError(msg)
        results.extend(got)
    return results
