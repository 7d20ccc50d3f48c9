"""Flow control set with the official SDK (``inngest==0.5.19``), on our dev server.

The app of :mod:`.official_flow_app` sets each option of
docs/protocol/executor.rst#cron-triggers, the cancellation and timeout sections
and docs/protocol/executor.rst#flow-control (rate limit, idempotency, debounce,
batching, concurrency, throttle, priority, singleton, cancel, timeouts, cron);
each test sends events with the official client and checks the outcome the
executor must produce, through the ``/v1`` API where it shows it and through our
:class:`DevServer`'s helpers (runs, run state, next cron ticks) where it does
not.  Times inside the app are ``time.monotonic()``, the tests' clock too.

The dev server runs on the wall clock, so the debounce, batch timeout,
throttle and ``timeouts.finish`` scenarios take the shortest periods the
official SDK accepts (1 s); every wait is bounded.  Skipped where the
official SDK is absent (it lives in the ``official`` tox env).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

# Importing _compat skips this module where the official SDK or a framework
# is absent (and the official modules import without pydantic's warning).
from ._compat import Compat as _Compat
from ._compat import running_compat, serve_fastapi
from .official_flow_app import (
    APP_ID,
    HOURLY,
    PER_USER_STEP,
    FlowApp,
    Span,
    flow_app,
)

Compat = _Compat[FlowApp]
#: Bounds every wait: the longest scenario takes about 1 s.
WAIT = 10.0
#: Slack for "at least a period later" on a loaded machine (the server's
#: timers never fire early, so this only covers clock reading order).
SLACK = 0.1


@pytest.fixture(scope="module")
def compat() -> Iterator[Compat]:
    """One dev server and the synced flow app; scenarios send their own events."""
    with running_compat(APP_ID, flow_app, serve_fastapi) as compat:
        yield compat


def _slug(fn: str) -> str:
    return f"{APP_ID}-{fn}"


def _finished(compat: Compat, event_id: str) -> tuple[str, object]:
    run = compat.finished_run(event_id)
    return run["status"], run.get("output")


def _overlap(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def test_every_option_synced(compat: Compat) -> None:
    fns = {f["slug"]: f for f in compat.get(f"/v1/apps/{APP_ID}/functions")}
    config = {slug: fn["config"] for slug, fn in fns.items()}
    assert config[_slug("rate-limited")]["rateLimit"] == {
        "limit": 1,
        "period": "1m",
        "key": "event.data.user",
    }
    assert config[_slug("idempotent")]["idempotency"] == "event.data.order"
    assert config[_slug("debounced")]["debounce"]["period"] == "1s"
    assert config[_slug("batched")]["batchEvents"]["maxSize"] == 3
    assert config[_slug("per-user")]["concurrency"][0]["key"] == "event.data.user"
    assert config[_slug("throttled")]["throttle"]["period"] == "1s"
    assert config[_slug("skip-singleton")]["singleton"]["mode"] == "skip"
    assert config[_slug("cancellable")]["cancel"][0]["event"] == "flow/stop"
    assert config[_slug("timeboxed")]["timeouts"] == {"finish": "1s"}
    assert fns[_slug("hourly")]["triggers"] == [{"cron": HOURLY}]


def test_rate_limit_drops_the_excess_per_key(compat: Compat) -> None:
    a1, a2, a3, b1 = compat.send_many(
        "flow/rate",
        [{"user": u, "n": n} for u, n in (("a", 1), ("a", 2), ("a", 3), ("b", 4))],
    )
    assert _finished(compat, a1) == ("Completed", 1)
    assert _finished(compat, b1) == ("Completed", 4)  # another key, its own limit
    # Dropped when routed (before /e answered): no run row, ever.
    assert compat.runs(a2) == compat.runs(a3) == []


def test_idempotency_runs_a_key_once(compat: Compat) -> None:
    first, again, other = compat.send_many(
        "flow/idem",
        [{"order": "o1", "n": 1}, {"order": "o1", "n": 2}, {"order": "o2", "n": 3}],
    )
    assert _finished(compat, first) == ("Completed", 1)
    assert _finished(compat, other) == ("Completed", 3)
    assert compat.runs(again) == []
    (later,) = compat.send_many("flow/idem", [{"order": "o1", "n": 4}])
    assert compat.runs(later) == []


def test_debounce_runs_once_with_the_last_event(compat: Compat) -> None:
    ids = [compat.send("flow/debounce", {"n": n}) for n in (1, 2, 3)]
    sent_last = time.time()
    (run,) = compat.wait_for_runs(ids[-1], timeout=WAIT)
    assert (run.status.value, run.output) == ("Completed", {"n": 3, "events": 1})
    # The period (1 s) counts from the last event.
    assert run.created_at >= sent_last + 1 - SLACK
    assert _finished(compat, ids[-1]) == ("Completed", {"n": 3, "events": 1})
    assert compat.runs(ids[0]) == compat.runs(ids[1]) == []


def test_batch_runs_full_at_once_and_partial_after_its_timeout(
    compat: Compat,
) -> None:
    sent = time.time()
    a1, lone, _a2, _a3 = compat.send_many(
        "flow/batch",
        [
            {"group": "a", "n": 1},
            {"group": "b", "n": 9},  # another key: its own batch
            {"group": "a", "n": 2},
            {"group": "a", "n": 3},
        ],
    )
    (full,) = compat.wait_for_runs(a1, timeout=WAIT)
    assert (full.status.value, full.output) == ("Completed", [1, 2, 3])
    assert [e["data"]["n"] for e in full.events] == [1, 2, 3]
    assert full.created_at < sent + 1  # max_size reached: no timeout waited
    assert _finished(compat, a1) == ("Completed", [1, 2, 3])

    (partial,) = compat.wait_for_runs(lone, timeout=WAIT)
    assert (partial.status.value, partial.output) == ("Completed", [9])
    assert partial.created_at >= sent + 1 - SLACK  # timeout: 1 s


def test_concurrency_one_never_overlaps_steps(compat: Compat) -> None:
    ids = compat.send_many("flow/serial", [{"n": n} for n in (1, 2, 3)])
    for event_id in ids:
        assert _finished(compat, event_id)[0] == "Completed"
    spans = sorted(compat.app.spans["serial"], key=lambda s: s.start)
    assert [s.label for s in spans] == ["s1", "s2", "s3"]
    for before, after in itertools.pairwise(spans):
        assert after.start >= before.end, spans


def test_keyed_concurrency_limits_each_key_apart(compat: Compat) -> None:
    ids = compat.send_many(
        "flow/per-user",
        [{"user": "a", "n": 1}, {"user": "a", "n": 2}, {"user": "b", "n": 1}],
    )
    for event_id in ids:
        assert _finished(compat, event_id)[0] == "Completed"
    spans = {s.label: s for s in compat.app.spans["per-user"]}
    assert sorted(spans) == ["a1", "a2", "b1"]
    assert not _overlap(spans["a1"], spans["a2"]), spans
    # Key "b" has its own slot: it ran alongside a1 (both started at once).
    assert _overlap(spans["b1"], spans["a1"]), spans
    assert spans["a2"].start - spans["a1"].start >= PER_USER_STEP - SLACK


def test_throttle_delays_starts_beyond_the_burst(compat: Compat) -> None:
    ids = compat.send_many("flow/throttle", [{"n": n} for n in (1, 2, 3)])
    for event_id in ids:
        assert _finished(compat, event_id)[0] == "Completed"
    starts = {s.label: s.start for s in compat.app.spans["throttled"]}
    # limit 1 per 1 s with burst 1: limit + burst start at once (executor
    # _limits.throttle, as Go's GCRA), the third one period later.
    assert abs(starts["t2"] - starts["t1"]) < 1 - SLACK
    assert starts["t3"] - min(starts["t1"], starts["t2"]) >= 1 - SLACK
    runs = [compat.dev.runs_for_event(i)[0] for i in ids]
    assert all(r.first_call_at is not None for r in runs)
    first_calls = [r.first_call_at or 0.0 for r in runs]
    assert first_calls[2] - first_calls[0] >= 1 - SLACK


def test_priority_jumps_the_concurrency_queue(compat: Compat) -> None:
    # In one request: n1 takes the only slot, n2, n3 and vip queue behind it.
    ids = compat.send_many(
        "flow/ranked",
        [
            {"label": "n1", "vip": False},
            {"label": "n2", "vip": False},
            {"label": "n3", "vip": False},
            {"label": "vip", "vip": True},
        ],
    )
    for event_id in ids:
        assert _finished(compat, event_id)[0] == "Completed"
    assert [compat.dev.runs_for_event(i)[0].priority for i in ids] == [0, 0, 0, 600]
    assert compat.app.order == ["n1", "vip", "n2", "n3"]


def test_singleton_skip_while_a_run_holds_the_lock(compat: Compat) -> None:
    first, second = compat.send_many("flow/skip", [{"n": 1}, {"n": 2}])
    assert _finished(compat, first) == ("Completed", 1)
    assert compat.runs(second) == []  # skipped: no run row
    # The lock went with the run that held it.
    assert _finished(compat, compat.send("flow/skip", {"n": 3})) == ("Completed", 3)


def test_singleton_cancel_replaces_the_running_one(compat: Compat) -> None:
    first = compat.send("flow/latest", {"hold": True, "n": 1})
    second = compat.send("flow/latest", {"hold": False, "n": 2})
    assert _finished(compat, second) == ("Completed", 2)
    assert _finished(compat, first)[0] == "Cancelled"


def test_cancel_on_a_matching_event(compat: Compat) -> None:
    job = compat.send("flow/job", {"id": "j1"})
    other = compat.send("flow/job", {"id": "j2"})
    compat.send("flow/stop", {"id": "elsewhere"})
    # Cancel events are matched when routed, before /e answers.
    assert [r["status"] for r in compat.runs(job)] == ["Running"]
    compat.send("flow/stop", {"id": "j1"})
    assert _finished(compat, job)[0] == "Cancelled"
    assert [r["status"] for r in compat.runs(other)] == ["Running"]
    compat.send("flow/stop", {"id": "j2"})  # so it sleeps no longer
    assert _finished(compat, other)[0] == "Cancelled"


def test_finish_timeout_cancels_a_slow_run(compat: Compat) -> None:
    fast = compat.send("flow/timebox", {"slow": False})
    slow = compat.send("flow/timebox", {"slow": True})
    assert _finished(compat, fast) == ("Completed", "done")
    (run,) = compat.wait_for_runs(slow, timeout=WAIT)
    assert run.status.value == "Cancelled"
    assert run.first_call_at is not None
    assert run.ended_at is not None
    assert run.ended_at - run.first_call_at >= 1 - SLACK  # finish: 1 s
    assert _finished(compat, slow)[0] == "Cancelled"


def test_cron_trigger_is_scheduled_for_its_next_tick(compat: Compat) -> None:
    now = time.time()
    (tick,) = compat.portal.call(compat.dev.driver.executor.next_ticks, _slug("hourly"))
    # "0 * * * *": the next full hour (UTC), within the hour.
    assert tick % 3600 == 0
    assert now < tick <= now + 3600
    (fn,) = [
        f
        for f in compat.get(f"/v1/apps/{APP_ID}/functions")
        if f["slug"] == _slug("hourly")
    ]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(tick))
    assert [t[:19] for t in fn["next_cron_ticks"]] == [stamp]
