"""The pytest plugin: fixtures for testing Inngest functions in process.

Installed with the package (entry point ``pytest11``), so the fixtures are
there in any project that has ``inngest-sansio`` installed:

``inngest_engine``
    A factory: ``inngest_engine(client, functions, **options)`` returns a
    :class:`~inngest_transports.testing.TestEngine` (options as its own).
    Async functions run on the backend ``--inngest-backend`` names
    (``asyncio`` by default, or ``trio``).  With ``--inngest-record=DIR``
    every run the test's engines finished is saved as a transcript under
    ``DIR/<test>/`` when the test passes, for the determinism check.

``inngest_trigger``
    :func:`~inngest_transports.testing.trigger` with the same backend: run
    one function to its end and get its :class:`Result`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import inngest_proto as inngest

from ._engine import TestEngine
from ._trigger import Result, trigger

__all__ = ["inngest_engine", "inngest_trigger"]

EngineFactory = Callable[..., TestEngine]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("inngest", "Inngest functions (inngest-sansio)")
    group.addoption(
        "--inngest-backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="event loop the test engines run async functions on",
    )
    group.addoption(
        "--inngest-record",
        metavar="DIR",
        default=None,
        help="save a transcript of every run the test engines finished in DIR",
    )


@pytest.fixture
def inngest_engine(request: pytest.FixtureRequest) -> Iterator[EngineFactory]:
    """Make :class:`TestEngine`\\ s; see the module docstring."""
    backend = request.config.getoption("--inngest-backend")
    engines: list[TestEngine] = []

    def make(
        client: inngest.Inngest,
        functions: Sequence[inngest.Function[Any]],
        **options: Any,
    ) -> TestEngine:
        options.setdefault("backend", backend)
        engine = TestEngine(client, functions, **options)
        engines.append(engine)
        return engine

    yield make
    record = request.config.getoption("--inngest-record")
    if record and _passed(request):
        _save_transcripts(engines, Path(record) / _safe(request.node.nodeid))


@pytest.fixture
def inngest_trigger(request: pytest.FixtureRequest) -> Callable[..., Result]:
    """:func:`trigger` on the ``--inngest-backend`` backend."""
    backend = request.config.getoption("--inngest-backend")

    def run(*args: Any, **options: Any) -> Result:
        options.setdefault("backend", backend)
        return trigger(*args, **options)

    return run


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Keep each phase's report on the item, so a fixture can tell at
    # teardown whether the test passed (pytest's documented recipe).
    report = yield
    setattr(item, f"_inngest_report_{report.when}", report)
    return report


def _passed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "_inngest_report_call", None)
    return bool(report is not None and report.passed)


def _safe(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")


def _save_transcripts(engines: Sequence[TestEngine], directory: Path) -> None:
    from ._transcripts import Transcript  # noqa: PLC0415 - only when recording

    for n, engine in enumerate(engines):
        for run in engine.runs():
            if run.ended_at is None or not engine.exchanges_of(run.run_id):
                continue
            name = f"{n}-{_safe(run.function_id)}-{run.run_id}.json"
            directory.mkdir(parents=True, exist_ok=True)
            Transcript.from_engine(engine, run.run_id).save(directory / name)
