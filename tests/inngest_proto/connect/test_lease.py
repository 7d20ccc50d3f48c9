"""The gateway's lease on a delivered request, on a virtual clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inngest_proto.connect import LeaseTimings, RequestLease

T0 = 5_000.0
#: The acceptance bound: a run whose worker died resumes within this.
FAILOVER_BOUND = 40.0


def test_defaults_are_the_inngest_gateways() -> None:
    timings = LeaseTimings()
    assert (timings.duration, timings.extend_interval, timings.grace) == (20, 5, 5)
    # A worker killed mid-step has its call failed (and retried) at most 25 s
    # later: well within 40 s, where a 120 s lease waited minutes.
    assert timings.worst_case_failover == 25
    assert timings.worst_case_failover < FAILOVER_BOUND


def test_extend_interval_defaults_to_a_quarter_of_the_lease() -> None:
    assert LeaseTimings(8).extend_interval == 2
    assert LeaseTimings(8, 1).extend_interval == 1


@pytest.mark.parametrize(
    ("duration", "interval", "grace"),
    [
        (0, 1, 1),
        (-1, 1, 1),
        (float("inf"), 1, 1),
        (float("nan"), 1, 1),
        (4, 0, 1),
        (4, 4, 1),  # as long as the lease: lost between two extensions
        (4, 5, 1),
        (4, 1, -1),
        (4, 1, float("nan")),
    ],
)
def test_impossible_timings_are_refused(
    duration: float, interval: float, grace: float
) -> None:
    with pytest.raises(ValueError, match=r"lease|seconds"):
        LeaseTimings(duration, interval, grace)


def test_no_grace_is_allowed() -> None:
    assert LeaseTimings(4, grace=0).worst_case_failover == 4


def test_extensions_move_the_expiry_and_rotate_the_id() -> None:
    lease = RequestLease("L0", holder="w", now=T0, timings=LeaseTimings())
    assert (lease.expires_at, lease.give_up_at) == (T0 + 20, T0 + 25)
    assert lease.extend("L0", "L1", T0 + 5, by="w") == "L1"
    assert (lease.lease_id, lease.expires_at, lease.give_up_at) == (
        "L1",
        T0 + 25,
        T0 + 30,
    )
    # The old id is no longer the lease: the holder sending it again (its
    # acknowledgement was lost) gets the current id back, and nothing moves.
    # This was refused before Inngest's gateway changed (inngest#4687).
    assert lease.extend("L0", "L2", T0 + 6, by="w") == "L1"
    assert lease.lease_id == "L1"
    assert lease.expires_at == T0 + 25


def test_only_the_holder_replays_only_the_id_just_replaced() -> None:
    lease = RequestLease("L0", holder="w", now=T0, timings=LeaseTimings())
    # Nothing replaced yet: no id but the current one is the lease.
    assert lease.extend("other", "L1", T0 + 1, by="w") is None
    assert lease.extend("L0", "L1", T0 + 5, by="w") == "L1"
    # Another worker instance does not get the lease by naming the old id.
    assert lease.extend("L0", "X", T0 + 6, by="intruder") is None
    assert lease.extend("L1", "L2", T0 + 10, by="w") == "L2"
    # Only the id just replaced is kept: the one before is refused.
    assert lease.extend("L0", "X", T0 + 11, by="w") is None
    assert lease.extend("L1", "X", T0 + 11, by="w") == "L2"
    assert (lease.lease_id, lease.expires_at) == ("L2", T0 + 30)
    # Once expired, a replay is refused like any extension (the retry owns
    # the request, even during the grace).
    assert lease.extend("L1", "X", T0 + 30, by="w") is None
    assert lease.extend("L2", "X", T0 + 30, by="w") is None


def test_a_silent_worker_loses_the_lease_and_the_grace_follows() -> None:
    lease = RequestLease("L0", holder="w", now=T0, timings=LeaseTimings())
    assert lease.extend("L0", "L1", T0 + 5, by="w")  # then the worker dies
    assert not lease.expired(T0 + 24.9)
    assert lease.expired(T0 + 25)
    # Late, during the grace: refused (the retry owns the request now), and
    # the give-up time does not move.
    assert lease.extend("L1", "L2", T0 + 26, by="w") is None
    assert lease.give_up_at == T0 + 30
    assert lease.lease_id == "L1"


@given(
    timings=st.just(LeaseTimings())
    | st.builds(
        lambda duration, share, grace: LeaseTimings(duration, duration * share, grace),
        st.floats(0.1, 200),
        st.floats(0.05, 0.95),
        st.floats(0, 10),
    ),
    gaps=st.lists(st.floats(0, 1), max_size=30),
    silent_after=st.floats(0, 1),
)
def test_a_worker_keeps_its_lease_while_it_extends_and_fails_over_when_it_dies(
    timings: LeaseTimings, gaps: list[float], silent_after: float
) -> None:
    # The worker extends after gaps of up to one interval (each a fraction
    # of it), then dies some time after its last extension.
    lease = RequestLease("L0", holder="w", now=T0, timings=timings)
    now = T0
    for n, gap in enumerate(gaps):
        now += gap * timings.extend_interval
        assert not lease.expired(now)
        assert lease.extend(lease.lease_id, f"L{n + 1}", now, by="w")
        assert lease.give_up_at == now + timings.duration + timings.grace
    crash = now + silent_after * timings.extend_interval
    # Never given up while the worker was alive, and at most
    # worst_case_failover after it died.
    assert lease.give_up_at > crash
    assert lease.give_up_at - crash <= timings.worst_case_failover + 1e-9
    assert lease.expired(lease.expires_at)
    assert lease.extend(lease.lease_id, "late", lease.expires_at, by="w") is None


@given(
    timings=st.builds(
        lambda duration, share: LeaseTimings(duration, duration * share),
        st.floats(0.1, 200),
        st.floats(0.05, 0.95),
    ),
    steps=st.lists(st.tuples(st.floats(0, 1), st.booleans()), max_size=40),
)
def test_lost_acknowledgements_never_cost_a_live_worker_its_lease(
    timings: LeaseTimings, steps: list[tuple[float, bool]]
) -> None:
    # The worker extends with the id it holds; some acknowledgements never
    # reach it, so it sends the id it had again.
    lease = RequestLease("L0", holder="w", now=T0, timings=timings)
    held, now = "L0", T0
    for n, (gap, ack_lost) in enumerate(steps):
        now += gap * timings.extend_interval
        answer = lease.extend(held, f"L{n + 1}", now, by="w")
        if lease.expired(now):
            assert answer is None
            return
        assert answer == lease.lease_id
        if not ack_lost:
            held = answer
