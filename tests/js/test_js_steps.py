"""Every step kind of the TypeScript SDK (npm ``inngest`` 4.x) on our dev server.

The node app of ``tests/js/app`` runs in three ways: served over HTTP with
the SDK's checkpointing on (its default) and off, and as a connect worker.
Each test sends events through the event API and checks the runs' final
status and output through the ``/v1`` API, and, where that API cannot show
it (how often a step ran), what the app itself counted.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest

from ._jsapp import MODES, JsApp, parse_time, running_js_app

APP_ID = "js-app"
#: The length of each of the big app's outputs (1.5 MiB).
BIG = 1536 * 1024


@pytest.fixture(scope="module", params=MODES)
def js(request: pytest.FixtureRequest) -> Iterator[JsApp]:
    """One dev server and node app per mode; tests send their own events."""
    with running_js_app(request.param) as js:
        yield js


def _slug(fn: str) -> str:
    return f"{APP_ID}-{fn}"


def test_app_synced(js: JsApp) -> None:
    (app,) = js.get("/v1/apps")["data"]
    # Over HTTP the SDK says "js"; in WORKER_CONNECT, "typescript".
    sdk = "typescript:v4.24.0" if js.mode == "connect" else "js:v4.24.0"
    assert (app["name"], app["sdk"]) == (APP_ID, sdk)
    assert app["method"] == ("connect" if js.mode == "connect" else "serve")
    slugs = {f["slug"] for f in js.get(f"/v1/apps/{APP_ID}/functions")}
    assert {_slug("every-step"), _slug("doomed-failure"), _slug("cron")} <= slugs


def test_every_step_kind(js: JsApp) -> None:
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
    event_id = js.send(
        "js/steps", {"n": 21, "until": until.isoformat().replace("+00:00", "Z")}
    )
    run = js.finished_run(event_id)
    assert run["status"] == "Completed", run
    assert run["output"] == {
        "a": "A",
        "invoked": {"doubled": 42},
        "sent": 1,
        "both": ["L", "R"],
    }
    # Slept 1 s, then until `until`: the run cannot have ended earlier.
    ended = parse_time(run["ended_at"])
    assert ended >= until
    # The step ran once, however often the function was called.
    assert js.stats()["stepRuns"]["every-step/a"] == 1

    sent = [e for e in js.events("js/sent") if e["data"]["n"] == 21]
    (event,) = sent
    heard = js.finished_run(event["internal_id"])
    assert (heard["status"], heard["output"]) == ("Completed", "heard 21")
    invoked = [
        e for e in js.events("inngest/function.invoked") if e["data"].get("x") == 21
    ]
    assert len(invoked) == 1


def test_wait_for_event_with_match(js: JsApp) -> None:
    event_id = js.send("js/wait.match", {"key": "m1", "timeout": "10s"})
    js.wait_until_waiting(event_id)
    js.send("js/answer", {"key": "other", "v": "no"})
    js.send("js/answer", {"key": "m1", "v": "yes"})
    assert js.outcome(event_id) == ("Completed", "yes")


def test_wait_for_event_with_if(js: JsApp) -> None:
    event_id = js.send("js/wait.if", {"key": "i1", "timeout": "10s"})
    js.wait_until_waiting(event_id)
    js.send("js/answer", {"key": "i1", "v": "no"})  # the key matches, `if` not
    js.send("js/answer", {"key": "other", "v": "maybe"})
    js.send("js/answer", {"key": "i1", "v": "yes"})
    assert js.outcome(event_id) == ("Completed", "yes")


def test_wait_for_event_without_condition(js: JsApp) -> None:
    event_id = js.send("js/wait.any")
    js.wait_until_waiting(event_id)
    js.send("js/anything", {"v": "first"})
    assert js.outcome(event_id) == ("Completed", "first")


def test_wait_for_event_times_out(js: JsApp) -> None:
    event_id = js.send("js/wait.match", {"key": "m2", "timeout": "1s"})
    assert js.outcome(event_id) == ("Completed", None)


def test_retry_then_success(js: JsApp) -> None:
    assert js.outcome(js.send("js/flaky")) == ("Completed", "steady")
    # Failed once, retried, succeeded: the step's code ran twice.
    assert js.stats()["stepRuns"]["flaky/shaky"] == 2


def test_retries_run_out(js: JsApp) -> None:
    status, output = js.outcome(js.send("js/exhausted"))
    assert status == "Failed"
    assert output["message"] == "always broken"
    # retries: 1, so two attempts of the step.
    assert js.stats()["stepRuns"]["exhausted/always"] == 2


def test_non_retriable_error_and_on_failure(js: JsApp) -> None:
    status, output = js.outcome(js.send("js/doomed"))
    assert status == "Failed"
    assert (output["name"], output["message"]) == ("NonRetriableError", "no way")
    # retries: 3, yet one call: the NonRetriableError was honoured.
    assert js.stats()["calls"]["doomed"] == 1

    (failed,) = [
        e
        for e in js.events("inngest/function.failed")
        if e["data"]["function_id"] == _slug("doomed")
    ]
    handler = js.finished_run(failed["internal_id"])
    assert handler["function_slug"] == _slug("doomed-failure")
    assert handler["status"] == "Completed"
    assert handler["output"] == {"note": "cleaned no way", "original": "js/doomed"}


def test_large_outputs(js: JsApp) -> None:
    # Three step outputs of 1.5 MiB (a call request over 4 MiB leaves them
    # out, and the SDK fetches them) and a function output of 1.5 MiB.
    status, output = js.outcome(js.send("js/big"))
    assert status == "Completed"
    head, _, tail = output.partition(":")
    assert head == f"o{BIG},t{BIG},t{BIG}"
    assert tail == "z" * BIG
