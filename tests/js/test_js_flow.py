"""Flow control set with the TypeScript SDK (npm ``inngest`` 4.x), on our dev server.

The node app of ``tests/js/app`` sets every option (concurrency in its list
form, throttle with and without burst, rate limit, debounce, batching,
priority, cancellation, timeouts, idempotency, singleton, cron); each test
sends events through the event API and checks the outcome Inngest gives,
through the ``/v1`` API and through the spans the app recorded (when each
``work`` step ran, by the app's clock: the wall clock, as ``time.time()``).

The dev server runs on the wall clock, so the debounce, batch timeout,
throttle and timeout scenarios take periods of 1 s; every wait is bounded.
"""

from __future__ import annotations

import datetime
import itertools
import time
import zoneinfo
from collections.abc import Iterator

import pytest

from ._jsapp import JsApp, most_at_once, parse_time, running_js_app, seconds

APP_ID = "js-app"
#: Slack for "at least a period later" (timers never fire early; this only
#: covers the order in which two clocks are read).
SLACK = 0.1


@pytest.fixture(scope="module", params=["serve", "connect"])
def js(request: pytest.FixtureRequest) -> Iterator[JsApp]:
    """One dev server and the app, served over HTTP (with checkpointing, the
    SDK's default) or as a connect worker; tests send their own events."""
    with running_js_app(request.param) as js:
        yield js


def _slug(fn: str) -> str:
    return f"{APP_ID}-{fn}"


def test_every_option_synced(js: JsApp) -> None:
    fns = {f["slug"]: f for f in js.get(f"/v1/apps/{APP_ID}/functions")}
    config = {slug: fn["config"] for slug, fn in fns.items()}
    assert config[_slug("conc-list")]["concurrency"] == [
        {"limit": 2},
        {"limit": 1, "key": "event.data.k"},
    ]
    assert config[_slug("throttled")]["throttle"]["period"] == "1s"
    assert config[_slug("rate-limited")]["rateLimit"] == {
        "limit": 1,
        "period": "1m",
        "key": "event.data.k",
    }
    assert config[_slug("debounced")]["debounce"]["period"] == "1s"
    assert config[_slug("batched")]["batchEvents"]["maxSize"] == 3
    assert config[_slug("prioritized")]["priority"] == {"run": "int(event.data.p)"}
    assert config[_slug("idempotent")]["idempotency"] == "event.data.k"
    assert config[_slug("late-start")]["timeouts"] == {"start": "1s"}
    assert config[_slug("slow-finish")]["timeouts"] == {"finish": "1s"}
    assert config[_slug("cancellable")]["cancel"][0]["event"] == "js/cancel"
    assert config[_slug("single-skip")]["singleton"]["mode"] == "skip"
    assert fns[_slug("cron-jitter")]["triggers"] == [
        {"cron": "*/30 * * * *", "jitter": "10s"}
    ]


def test_concurrency_unlimited_overlaps(js: JsApp) -> None:
    # The control for the limits below: without one, the steps overlap.
    spans = js.outputs(js.send_many("js/free", [{"n": n} for n in range(3)]))
    assert most_at_once(spans) >= 2


def test_concurrency_list_limits_the_function_and_each_key(js: JsApp) -> None:
    ids = js.send_many(
        "js/conc.list", [{"k": k, "n": n} for n, k in enumerate("aabbc")]
    )
    spans = js.outputs(ids)
    assert most_at_once(spans) <= 2  # [{limit: 2}, ...]
    for key in "abc":
        # {limit: 1, key: "event.data.k"}
        assert most_at_once([s for s in spans if s["data"]["k"] == key]) == 1


def test_throttle_without_burst_starts_one_per_period(js: JsApp) -> None:
    # limit 1 per 1 s and no burst: Inngest's GCRA lets one start through,
    # then one per period.
    ids = js.send_many("js/throttle", [{"n": n} for n in range(3)])
    js.outputs(ids)
    starts = sorted(js.first_calls(ids))
    for before, after in itertools.pairwise(starts):
        assert after - before >= 1 - SLACK, starts


def test_throttle_with_burst_starts_limit_plus_burst_at_once(js: JsApp) -> None:
    ids = js.send_many("js/throttle.burst", [{"k": "a", "n": n} for n in range(3)])
    js.outputs(ids)
    starts = sorted(js.first_calls(ids))
    # limit 1 + burst 1 start at once, the third one period (1 s) later.
    assert starts[1] - starts[0] < 1 - SLACK, starts
    assert starts[2] - starts[0] >= 1 - SLACK, starts


def test_rate_limit_drops_the_excess_per_key(js: JsApp) -> None:
    a1, a2, a3, b1 = js.send_many(
        "js/rate", [{"k": k, "n": n} for n, k in enumerate("aaab")]
    )
    first, other = js.outputs([a1, b1])
    assert (first["data"]["n"], other["data"]["n"]) == (0, 3)
    # Dropped when routed (before /e answered): no run, ever.
    assert js.runs(a2) == js.runs(a3) == []


def test_idempotency_runs_a_key_once(js: JsApp) -> None:
    first, again, other = js.send_many(
        "js/idempotent", [{"k": "o1", "n": 1}, {"k": "o1", "n": 2}, {"k": "o2", "n": 3}]
    )
    assert [s["data"]["n"] for s in js.outputs([first, other])] == [1, 3]
    assert js.runs(again) == []


def test_debounce_runs_once_with_the_last_event(js: JsApp) -> None:
    ids = [js.send("js/debounce", {"k": "d", "n": n}) for n in (1, 2, 3)]
    sent_last = time.time()
    (span,) = js.outputs(ids[-1:])
    assert span["data"]["n"] == 3
    # The period (1 s) counts from the last event.
    assert seconds(span)[0] >= sent_last + 1 - SLACK
    assert js.runs(ids[0]) == js.runs(ids[1]) == []


def test_batch_runs_full_at_once_and_partial_after_its_timeout(js: JsApp) -> None:
    sent = time.time()
    ids = js.send_many("js/batch", [{"n": n} for n in range(4)])
    full, partial = js.outputs([ids[0], ids[3]])
    assert (full["data"]["count"], partial["data"]["count"]) == (3, 1)
    full_at, partial_at = js.first_calls([ids[0], ids[3]])
    assert full_at < sent + 1  # maxSize reached: no timeout waited
    assert partial_at >= sent + 1 - SLACK  # timeout: 1 s
    # Each event of the batch lists the batch's run.
    assert js.runs(ids[1]) == js.runs(ids[2]) == js.runs(ids[0])


def test_priority_jumps_the_concurrency_queue(js: JsApp) -> None:
    # In one request: n1 takes the only slot; n2, n3 and vip queue behind it.
    labels = ["n1", "n2", "n3", "vip"]
    ids = js.send_many(
        "js/priority",
        [{"label": label, "p": 600 if label == "vip" else 0} for label in labels],
    )
    spans = js.outputs(ids)
    order = [s["data"]["label"] for s in sorted(spans, key=lambda s: s["start"])]
    assert order == ["n1", "vip", "n2", "n3"]


def test_start_timeout_cancels_a_run_that_waited_too_long(js: JsApp) -> None:
    # concurrency 1: the second waits behind the first's 1.5 s step, longer
    # than its start timeout (1 s).
    first, second = js.send_many("js/late", [{"n": 1}, {"n": 2}])
    assert js.outputs([first])[0]["data"]["n"] == 1
    assert js.outcome(second)[0] == "Cancelled"
    assert [s["data"]["n"] for s in js.spans("late-start")] == [1]


def test_finish_timeout_cancels_a_slow_run(js: JsApp) -> None:
    run = js.finished_run(js.send("js/slow"))
    assert run["status"] == "Cancelled"
    started = parse_time(run["run_started_at"])
    ended = parse_time(run["ended_at"])
    assert (ended - started).total_seconds() >= 1 - SLACK  # finish: 1 s


@pytest.mark.parametrize("fn", ["cancellable", "cancellable-if"])
def test_cancel_on_a_matching_event(js: JsApp, fn: str) -> None:
    trigger = "js/cancellable" if fn == "cancellable" else "js/cancellable.if"
    job = js.send(trigger, {"k": f"{fn}-1"})
    other = js.send(trigger, {"k": f"{fn}-2"})
    js.send("js/cancel", {"k": "elsewhere"})
    # Cancel events are matched when routed, before /e answers.
    assert [r["status"] for r in js.runs(job)] == ["Running"]
    js.send("js/cancel", {"k": f"{fn}-1"})
    assert js.outcome(job)[0] == "Cancelled"
    assert [r["status"] for r in js.runs(other)] == ["Running"]
    js.send("js/cancel", {"k": f"{fn}-2"})
    assert js.outcome(other)[0] == "Cancelled"


def test_singleton_skip_while_a_run_holds_the_key(js: JsApp) -> None:
    first, second, elsewhere = js.send_many(
        "js/single.skip", [{"k": "s", "n": 1}, {"k": "s", "n": 2}, {"k": "t", "n": 3}]
    )
    js.wait_until_waiting(first)
    js.wait_until_waiting(elsewhere)  # another key: not skipped
    assert js.runs(second) == []  # skipped: no run
    js.send_many("js/release", [{"k": "s"}, {"k": "t"}])
    assert js.outcome(first) == ("Completed", 1)
    assert js.outcome(elsewhere) == ("Completed", 3)
    # The key was released with the run that held it.
    again = js.send("js/single.skip", {"k": "s", "n": 4})
    js.wait_until_waiting(again)
    js.send("js/release", {"k": "s"})
    assert js.outcome(again) == ("Completed", 4)


def test_singleton_cancel_replaces_the_running_one(js: JsApp) -> None:
    first = js.send("js/single.cancel", {"k": "c1", "n": 1})
    js.wait_until_waiting(first)
    second = js.send("js/single.cancel", {"k": "c2", "n": 2})
    assert js.outcome(first)[0] == "Cancelled"
    js.wait_until_waiting(second)
    js.send("js/release", {"k": "c2"})
    assert js.outcome(second) == ("Completed", 2)


def test_cron_triggers_registered(js: JsApp) -> None:
    fns = {f["slug"]: f for f in js.get(f"/v1/apps/{APP_ID}/functions")}
    cron = fns[_slug("cron")]
    assert cron["triggers"] == [
        {"cron": "TZ=Europe/Paris 0 5 * * *"},
        {"event": "js/cron.now"},
    ]
    (tick,) = cron["next_cron_ticks"]
    at = parse_time(tick).astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    now = datetime.datetime.now(datetime.timezone.utc)
    assert (at.hour, at.minute, at.second) == (5, 0, 0)
    assert now < at <= now + datetime.timedelta(days=1)
    (jittered,) = fns[_slug("cron-jitter")]["next_cron_ticks"]
    assert parse_time(jittered) > now
    # A function with a cron and an event trigger runs on the event too.
    assert js.outcome(js.send("js/cron.now")) == ("Completed", "js/cron.now")
