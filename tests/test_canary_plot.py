"""The canary timeline reads well: a linear axis from 0 when both P95s sit near a millisecond, a log axis with
millisecond ticks when a slow candidate is hundreds of times above the champion."""
from datetime import UTC, datetime, timedelta

import matplotlib
import pandas as pd
import pytest

from workshop import canary

matplotlib.use("Agg")


def result(candidate_p95_ms: list[float], champion_p95_ms: list[float], decision: str) -> canary.CanaryResult:
    n = len(candidate_p95_ms)
    steps = pd.DataFrame({"t_s": [2.0 * (i + 1) for i in range(n)],
                          "p95_candidate_s": [v / 1000 for v in candidate_p95_ms],
                          "p95_champion_s": [v / 1000 for v in champion_p95_ms],
                          "failures": [[] for _ in range(n - 1)] + [["P95 latency"] if decision == "rollback" else []]})
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return canary.CanaryResult("lr-cand", "lr-champ", 0.3, decision, "", start, start + timedelta(seconds=2 * n),
                               steps)


def tick_labels(ax) -> list[str]:
    ax.figure.canvas.draw()
    low, high = ax.get_ylim()
    return [t.get_text() for t, v in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True) if low <= v <= high]


def test_a_narrow_range_gets_a_linear_axis_from_zero_with_ms_ticks():
    ax = canary.plot_canary(result([0.97, 1.02, 1.1, 1.05], [1.0, 0.98, 1.04, 1.0], "promote"))
    labels = tick_labels(ax)
    assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0
    assert labels[0] == "0" and len(labels) >= 4 and all(t.endswith(" ms") for t in labels[1:]), labels
    assert ax.get_ylabel() == "P95 latency (ms)"


@pytest.mark.parametrize("candidate", [[480.0, 490.0], [float("nan"), 490.0]])
def test_a_wide_range_gets_a_log_axis_with_ms_ticks(candidate):
    ax = canary.plot_canary(result(candidate, [1.0, 1.1], "rollback"))
    labels = tick_labels(ax)
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "P95 latency (ms, log scale)"
    assert {"1 ms", "10 ms", "100 ms"} <= set(labels), labels
