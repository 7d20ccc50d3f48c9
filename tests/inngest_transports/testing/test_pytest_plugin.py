"""The pytest plugin's fixtures and options, run in a pytest of their own."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

USER_TESTS = """
import datetime

import inngest_proto as inngest
from inngest_transports.testing import Status

client = inngest.Inngest(app_id="plugin-app", environ={"INNGEST_DEV": "1"})


@client.create_function(fn_id="nap", trigger=inngest.TriggerEvent(event="t/nap"))
async def nap(ctx: inngest.Context) -> str:
    await ctx.step.sleep("long", datetime.timedelta(days=30))
    return await ctx.step.run("wake", lambda: "awake")


def test_engine_fixture(inngest_engine, request):
    engine = inngest_engine(client, [nap])
    assert engine._backend == request.config.getoption("--inngest-backend")
    (event_id,) = engine.send("t/nap")
    engine.run()
    assert engine.output(event_id) == "awake"


def test_trigger_fixture(inngest_trigger):
    result = inngest_trigger(nap, inngest.Event(name="t/nap"), client)
    assert (result.status, result.output) == (Status.COMPLETED, "awake")


def test_a_failing_test_records_nothing(inngest_engine):
    engine = inngest_engine(client, [nap])
    engine.send("t/nap")
    engine.run()
    assert False, "fails on purpose"
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=USER_TESTS)
    # The plugin named explicitly, autoloading off: the same whether or not
    # this checkout is installed with its entry point.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        return pytester.runpytest_subprocess(
            "-p",
            "inngest_transports.testing.pytest_plugin",
            "-W",
            "error",
            *args,
        )
    finally:
        del os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"]


@pytest.fixture
def pytester_env(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), *sys.path]))


@pytest.mark.usefixtures("pytester_env")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_fixtures_run_functions_on_the_chosen_backend(
    pytester: pytest.Pytester, backend: str
) -> None:
    result = _run(pytester, f"--inngest-backend={backend}")
    result.assert_outcomes(passed=2, failed=1)


@pytest.mark.usefixtures("pytester_env")
def test_recording_saves_a_transcript_per_run_of_passing_tests(
    pytester: pytest.Pytester,
) -> None:
    record = pytester.path / "transcripts"
    result = _run(pytester, f"--inngest-record={record}")
    result.assert_outcomes(passed=2, failed=1)
    saved = sorted(record.rglob("*.json"))
    # One run per passing test (the engine fixture's and trigger's engines
    # are the fixture's only when made through inngest_engine).
    assert [p.parent.name for p in saved] == ["test_user.py_test_engine_fixture"]
    transcript = json.loads(saved[0].read_text())
    assert transcript["function_id"] == "plugin-app-nap"
    assert len(transcript["calls"]) == 3
