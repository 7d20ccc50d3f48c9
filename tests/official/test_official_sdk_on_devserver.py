"""Apps of the official SDK (``inngest==0.5.19``) run unchanged on our dev server.

Each framework (FastAPI on uvicorn, Flask on werkzeug) serves the app of
:mod:`.official_app` from a background thread; our :class:`DevServer` runs
on an anyio blocking portal (both set up by :mod:`._compat`).  The test
only does what a user would: point the official client at the dev server
with environment variables, send events with the official client, and read
statuses and outputs back over HTTP from the ``/v1`` API.  The official SDK
pulls in pydantic and more, so it lives in its own tox env; elsewhere this
module is skipped.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

#: The official SDK's pydantic models use v1-style ``class Config``; pydantic
#: warns at import, and our ``filterwarnings = error`` would make it fatal.
_PYDANTIC_CONFIG = "Support for class-based `config` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _PYDANTIC_CONFIG, DeprecationWarning)
    # Skipped, not failed, where the official SDK or a framework is absent.
    for _name in ("inngest", "fastapi", "flask", "uvicorn"):
        pytest.importorskip(_name)
    # Imported by name (not importorskip's module object) for mypy.
    import inngest

from ._compat import Compat as _Compat  # noqa: E402
from ._compat import running_compat, serve_fastapi, serve_flask  # noqa: E402
from .official_app import (  # noqa: E402
    APP_ID,
    BIG,
    DOOMED_FAILURE_ID,
    OfficialApp,
    async_app,
    sync_app,
)

Compat = _Compat[OfficialApp]

Framework = tuple[
    Callable[[inngest.Inngest], OfficialApp],
    Callable[[OfficialApp], Any],
]
FRAMEWORKS: dict[str, Framework] = {
    "fastapi": (async_app, serve_fastapi),
    "flask": (sync_app, serve_flask),
}


#: A dev server without a key and a dev-mode app; or one started with
#: ``--signing-key`` and an app in production (cloud) mode with that key,
#: which must sync and run the same (signed sync, calls and replies).
MODES: dict[str, str | None] = {
    "dev": None,
    "cloud": "signkey-prod-" + "c0ffee" * 8,
}


@pytest.fixture(
    scope="module",
    params=[(fw, mode) for fw in sorted(FRAMEWORKS) for mode in MODES],
    ids="-".join,
)
def compat(request: pytest.FixtureRequest) -> Iterator[Compat]:
    """One dev server and one synced official app per framework and mode.

    Scenarios share it: each sends its own events and reads only their runs.
    """
    framework, mode = request.param
    build, serve = FRAMEWORKS[framework]
    with running_compat(APP_ID, build, serve, signing_key=MODES[mode]) as compat:
        yield compat


def test_app_synced(compat: Compat) -> None:
    (app,) = compat.get("/v1/apps")["data"]
    assert (app["name"], app["sdk"]) == (APP_ID, "py:v0.5.19")
    fns = compat.get(f"/v1/apps/{APP_ID}/functions")
    slugs = {f["slug"] for f in fns}
    local = (
        "two",
        "nap",
        "waiter",
        "child",
        "parent",
        "heard",
        "flaky",
        "doomed",
        "big",
    )
    assert slugs == {f"{APP_ID}-{fn}" for fn in local} | {DOOMED_FAILURE_ID}


def test_two_steps_and_a_sleep(compat: Compat) -> None:
    run = compat.finished_run(compat.send("t/two", {"n": 7}))
    assert run["status"] == "Completed"
    assert run["output"] == {"a": "A", "b": "AB", "n": 7}
    assert run["ended_at"] is not None

    run = compat.finished_run(compat.send("t/nap"))
    assert (run["status"], run["output"]) == ("Completed", "rested")


def test_wait_for_event_matched_and_timed_out(compat: Compat) -> None:
    event_id = compat.send("t/w", {"key": "k1", "timeout": 10_000})
    compat.wait_until_waiting(event_id)
    compat.send("t/answer", {"key": "other", "v": "no"})
    compat.send("t/answer", {"key": "k1", "v": "yes"})
    run = compat.finished_run(event_id)
    assert (run["status"], run["output"]) == ("Completed", "yes")

    # 1 s: the official SDK refuses shorter (whole seconds only).
    run = compat.finished_run(compat.send("t/w", {"key": "k2", "timeout": 1000}))
    assert (run["status"], run["output"]) == ("Completed", None)


def test_invoke_parallel_and_send_event(compat: Compat) -> None:
    run = compat.finished_run(compat.send("t/p"))
    assert run["status"] == "Completed"
    assert run["output"] == {"doubled": 42, "both": ["L", "R"], "sent": 1}

    (sent,) = compat.events("t/sent")
    heard = compat.finished_run(sent["internal_id"])
    assert (heard["status"], heard["output"]) == ("Completed", "heard")
    assert heard["function_slug"] == f"{APP_ID}-heard"
    (invoked,) = compat.events("inngest/function.invoked")
    assert invoked["data"]["x"] == 21


def test_retry_then_success(compat: Compat) -> None:
    before = compat.app.calls["flaky"]
    run = compat.finished_run(compat.send("t/flaky"))
    assert (run["status"], run["output"]) == ("Completed", 1)
    assert compat.app.calls["flaky"] - before == 2


def test_non_retriable_error_and_on_failure(compat: Compat) -> None:
    before = compat.app.calls["doomed"]
    run = compat.finished_run(compat.send("t/doomed"))
    assert run["status"] == "Failed"
    assert run["output"]["message"] == "no way"
    assert run["output"]["name"] == "NonRetriableError"
    # retries=3, yet one attempt: NonRetriableError was honoured.
    assert compat.app.calls["doomed"] - before == 1

    (failed,) = compat.events("inngest/function.failed")
    assert failed["data"]["function_id"] == f"{APP_ID}-doomed"
    handler = compat.finished_run(failed["internal_id"])
    assert handler["function_slug"] == DOOMED_FAILURE_ID
    assert (handler["status"], handler["output"]) == ("Completed", "cleaned no way")


def test_a_state_over_4_mib_is_fetched_by_the_sdk(
    compat: Compat, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="inngest.devserver"):
        run = compat.finished_run(compat.send("t/big"))
    assert (run["status"], run["output"]) == ("Completed", [BIG, BIG])
    fetched = f"run {run['run_id']}: the SDK fetched its actions (use_api)"
    assert fetched in caplog.messages
