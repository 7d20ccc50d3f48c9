"""More of what apps written with the TypeScript SDK do, on our dev server.

Trigger expressions and wildcards, ``RetryAfterError``, invoke errors (the
invoked function failing, the invocation timing out), ``sendEvent`` with
several events, a function returning nothing, a step output over Inngest's
4 MiB limit, checkpointing that hands a long call back to the server, and a
failing step beside a good one in ``Promise.allSettled``; in each of the
app's modes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ._jsapp import MODES, RUN_TIMEOUT, JsApp, running_js_app


@pytest.fixture(scope="module", params=MODES)
def js(request: pytest.FixtureRequest) -> Iterator[JsApp]:
    with running_js_app(request.param) as js:
        yield js


def test_trigger_expression(js: JsApp) -> None:
    skipped, taken = js.send_many(
        "js/cond", [{"go": False, "n": 1}, {"go": True, "n": 2}]
    )
    assert js.outcome(taken) == ("Completed", 2)
    assert js.runs(skipped) == []


def test_wildcard_trigger(js: JsApp) -> None:
    assert js.outcome(js.send("js/wild.card")) == ("Completed", "js/wild.card")


def test_retry_after_error(js: JsApp) -> None:
    assert js.outcome(js.send("js/retry.after")) == ("Completed", "attempt 1")


def test_invoke_errors_reach_the_caller(js: JsApp) -> None:
    status, output = js.outcome(js.send("js/invoke.errors"))
    assert status == "Completed", output
    assert output == {"broken": "child broke", "sleepy": "InngestInvokeTimeoutError"}


def test_send_event_with_several_events(js: JsApp) -> None:
    assert js.outcome(js.send("js/send.many", {"k": js.mode})) == ("Completed", 2)
    fanned = [e for e in js.events("js/fanned") if e["data"]["k"] == js.mode]
    assert sorted(e["data"]["i"] for e in fanned) == [1, 2]


def test_nothing_returned_is_null(js: JsApp) -> None:
    assert js.outcome(js.send("js/nothing")) == ("Completed", None)


def test_step_output_over_4_mib_fails_each_attempt(js: JsApp) -> None:
    status, output = js.outcome(js.send("js/too.big"))
    assert status == "Failed", output
    # retries: 1, so two attempts of the step, each refused.
    assert js.stats()["stepRuns"]["too-big/huge"] == 2


def test_long_call_handed_back_by_checkpointing(js: JsApp) -> None:
    assert js.outcome(js.send("js/long.call")) == ("Completed", "abcde")
    # Each step ran once, in whichever call.
    runs = js.stats()["stepRuns"]
    assert [runs[f"long-call/{s}"] for s in "abcde"] == [1] * 5


def test_a_failing_step_beside_a_good_one(js: JsApp) -> None:
    status, output = js.outcome(js.send("js/parallel.fail"))
    assert (status, output) == ("Completed", ["fulfilled", "rejected"])


def test_step_fetch_is_made_by_the_server(js: JsApp) -> None:
    status, output = js.outcome(
        js.send("js/fetch", {"url": f"{js.app_url}/echo", "n": 3})
    )
    assert status == "Completed", output
    assert output == {
        "status": 201,
        "body": {"method": "POST", "probe": "yes", "body": '{"n":3}'},
    }


def test_signals(js: JsApp) -> None:
    signal = f"sig-{js.mode}"
    waiting = js.send("js/signal.wait", {"signal": signal, "timeout": "30s"})
    # Sent until a run waits for it: an unknown signal answers no run id.
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        status, sent = js.outcome(js.send("js/signal.send", {"signal": signal, "v": 5}))
        assert status == "Completed", sent
        if sent.get("runId"):
            break
        assert time.monotonic() < deadline, f"no run waited for {signal}"
        time.sleep(0.2)
    (run,) = js.runs(waiting)
    assert sent["runId"] == run["run_id"]
    assert js.outcome(waiting) == ("Completed", {"signal": signal, "data": {"v": 5}})
