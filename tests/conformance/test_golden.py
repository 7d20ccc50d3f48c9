"""Every golden transcript, replayed through our comm handler in process.

Each exchange's request goes to our app (rebuilt in ``tests/golden_app.py``)
at the recording's signature time; ``tests/conformance/checks.py`` says what
must match and lists every deliberate difference.
"""

from __future__ import annotations

import pytest

from inngest_proto._converter import unstructure
from tests.conformance.checks import check_exchange
from tests.conformance.golden import SIGNED_AT, Replay, http_scenarios, load

SCENARIOS = http_scenarios()


def test_every_http_transcript_is_replayed() -> None:
    assert len(SCENARIOS) == 51


@pytest.mark.anyio
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_transcript(scenario: str) -> None:
    golden = load(scenario)
    replay = Replay.for_scenario(golden)
    for index, exchange in enumerate(golden["exchanges"]):
        replay.prime(exchange)
        before = len(replay.transport.sent)
        request = replay.request(exchange["request"])
        if replay.sync:
            ours = replay.handler.handle_sync(request, now=SIGNED_AT)
        else:
            ours = await replay.handler.handle(request, now=SIGNED_AT)
        check_exchange(
            ours,
            scenario=scenario,
            index=index,
            exchange=exchange,
            golden=golden,
            replay=replay,
            outbound_before=before,
        )


def test_unstructure_is_used_for_ops() -> None:
    # Guard: the conformance suite relies on the converter for op bodies.
    assert unstructure([]) == []
