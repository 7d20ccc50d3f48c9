"""Polling apps: each on its own schedule, backing off while unreachable, and
a log line per change of state rather than per poll."""

from __future__ import annotations

import logging

import anyio
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from inngest_proto.errors import TransportError
from inngest_proto.wire import OutboundRequest, OutboundResponse
from inngest_transports.devserver import DevServer
from inngest_transports.devserver._polling import PollSchedule

# -- the schedule, on a virtual clock ------------------------------------------------


def test_a_new_app_waits_one_interval() -> None:
    schedule = PollSchedule(5.0)
    assert schedule.start(["a"], now=0.0) == []
    assert schedule.start(["a"], now=4.9) == []
    assert schedule.start(["a"], now=5.0) == ["a"]


def test_unreachable_apps_back_off_and_recover() -> None:
    schedule = PollSchedule(5.0, max_backoff=30.0)
    schedule.start(["a"], now=0.0)
    polled: list[float] = []
    now = 0.0
    outcomes = [False, False, False, False, False, True, True]
    while outcomes:
        if schedule.start(["a"], now):
            polled.append(now)
            schedule.finished("a", reachable=outcomes.pop(0))
        now += 0.5
    # After each failure twice the last wait (10, 20, then the 30 s cap);
    # every 5 s again once it answers.
    assert polled == [5.0, 15.0, 35.0, 65.0, 95.0, 125.0, 130.0]


def test_a_poll_in_flight_is_not_started_again() -> None:
    schedule = PollSchedule(1.0)
    schedule.start(["slow", "fast"], now=0.0)
    assert schedule.start(["slow", "fast"], now=1.0) == ["fast", "slow"]
    schedule.finished("fast", reachable=True)
    # "slow" still answers its first poll: only "fast" goes again.
    assert schedule.start(["slow", "fast"], now=2.0) == ["fast"]
    assert schedule.next_due() is None  # both in flight
    schedule.finished("fast", reachable=True)
    assert schedule.next_due() == 3.0


def test_removed_apps_are_forgotten() -> None:
    schedule = PollSchedule(1.0)
    schedule.start(["a"], now=0.0)
    assert schedule.start([], now=1.0) == []
    schedule.finished("a", reachable=True)  # its poll ended after removal
    assert schedule.next_due() is None


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        PollSchedule(0)


@given(
    interval=st.floats(0.01, 100),
    cap=st.floats(0.01, 1000),
    outcomes=st.lists(st.booleans(), max_size=80),
)
def test_the_wait_follows_the_failures(
    interval: float, cap: float, outcomes: list[bool]
) -> None:
    schedule = PollSchedule(interval, max_backoff=cap)
    schedule.start(["a"], now=0.0)
    now, failures = interval, 0
    for reachable in outcomes:
        assert schedule.start(["a"], now) == ["a"]
        assert schedule.start(["a"], now) == []  # in flight
        schedule.finished("a", reachable=reachable)
        failures = 0 if reachable else failures + 1
        wait = (
            interval if reachable else min(interval * 2**failures, max(cap, interval))
        )
        due = schedule.next_due()
        assert due is not None
        assert due == pytest.approx(now + wait)
        assert interval * (1 - 1e-9) <= due - now <= max(cap, interval) * (1 + 1e-9)
        now = due


# -- a fake app client ---------------------------------------------------------------


class _FakeApps:
    """Stands in for the HTTP client: each URL is up, down or slow."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.slow: set[str] = set()
        self.puts: dict[str, int] = {}

    async def request(self, request: OutboundRequest) -> OutboundResponse:
        self.puts[request.url] = self.puts.get(request.url, 0) + 1
        if request.url in self.slow:
            await anyio.sleep(60)
        if request.url in self.down:
            cause = httpx.ConnectError("connection refused")
            raise TransportError(
                "down", url=request.url, method="PUT", attempts=1, last_error=cause
            )
        return OutboundResponse(200, {}, b"{}")

    async def aclose(self) -> None:
        return


def _dev(fake: _FakeApps, **kwargs: object) -> DevServer:
    dev = DevServer(port=0, sync_attempts=1, **kwargs)  # type: ignore[arg-type]
    dev.apps._transport = fake  # type: ignore[assignment]
    return dev


def _messages(caplog: pytest.LogCaptureFixture, url: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if url in r.getMessage()]


@pytest.mark.anyio
async def test_a_state_change_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="inngest")
    fake = _FakeApps()
    dev = _dev(fake)
    url = "http://127.0.0.1:1/api/inngest"
    for up in [False, False, False, True, True, False, False, True]:
        (fake.down.discard if up else fake.down.add)(url)
        await dev.apps.sync(url, attempts=1)
    assert fake.puts[url] == 8
    said = _messages(caplog, url)
    assert len(said) == 4, said
    assert "is unreachable" in said[0]
    assert "is unreachable (ConnectError: connection refused);" in said[0]
    assert said[1] == f"app at {url} is reachable again"
    assert "is unreachable" in said[2]
    assert said[3] == f"app at {url} is reachable again"


@pytest.mark.anyio
async def test_an_app_answering_errors_is_logged_once_per_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = _FakeApps()
    dev = _dev(fake)
    url = "http://127.0.0.1:1/api/inngest"
    answers = [b"broken", b"broken", b"broken", b"other"]

    async def failing(request: OutboundRequest) -> OutboundResponse:
        return OutboundResponse(500, {}, answers.pop(0))

    fake.request = failing  # type: ignore[method-assign]
    for _ in range(4):
        await dev.apps.sync(url, attempts=1)
    said = _messages(caplog, url)
    assert said == [
        f"could not sync the app at {url}: HTTP 500: broken",
        f"could not sync the app at {url}: HTTP 500: other",
    ]


@pytest.mark.anyio
async def test_polls_run_side_by_side_and_dead_apps_back_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = _FakeApps()
    slow, dead, fine = (f"http://127.0.0.1:{port}/api/inngest" for port in (1, 2, 3))
    fake.slow.add(slow)
    fake.down.add(dead)
    dev = _dev(fake, poll_interval=0.05)
    async with anyio.create_task_group() as tg:
        await tg.start(dev.serve)
        for url in (slow, dead, fine):
            dev.apps.add(url)
        await anyio.sleep(0.62)
        await dev.shutdown()
    # The slow app's poll never ended; the others went on beside it.
    assert fake.puts[slow] == 1
    assert fake.puts[fine] >= 8
    # Polled at 0.05, then 0.1, 0.2 and 0.4 s apart: at most 4 (not 12).
    assert 2 <= fake.puts[dead] <= 4
    assert len(_messages(caplog, dead)) == 1
