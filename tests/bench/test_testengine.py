"""bench.testengine runs its functions to their checked outputs (no timing)."""

from __future__ import annotations

import pytest

from bench.testengine import VARIANTS, measure, render, summarize


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variant_runs_and_its_output_is_checked(variant: str) -> None:
    samples = measure(variant, steps=3, repeat=2)

    assert len(samples) == 2
    assert all(wall > 0 and cpu >= 0 for wall, cpu in samples)


def test_the_side_by_side_report_has_both_trees_and_the_ratio() -> None:
    base = summarize([(0.004, 0.004), (0.006, 0.006)])
    cur = summarize([(0.002, 0.002), (0.003, 0.002)])
    summary = {
        "baseline_commit": "0123456789abcdef",
        "baseline": dict.fromkeys(VARIANTS, base),
        "current": dict.fromkeys(VARIANTS, cur),
        "machine": {"python": "3", "cpus": 2, "load": 1.0, "platform": "x"},
    }

    text = render(summary, steps=20)

    assert "baseline 0123456789ab vs this tree" in text
    assert "2.00x" in text  # 5 ms over 2.5 ms of wall time
