"""The README's main job: the demo runs every sample run to completion."""

from __future__ import annotations

import pytest

from examples import demo


@pytest.mark.anyio
async def test_the_demo_completes_every_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert await demo.main() == 0
    out = capsys.readouterr().out
    assert "all completed" in out
    for feature, _ in demo.EVENTS:
        assert feature in out
