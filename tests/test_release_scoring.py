"""The release gate's scoring cost (workshop.release_evaluation.scoring_cost) on a fake clock: per record in a
1,000-record batch is the batch's time / 1,000, and the one-record P95 is the time of a one-row call. A folded
linear model really does cost ~0.01 µs per record in a batch (one matrix-vector product and a sigmoid for 1,000
rows take ~10 µs) against ~5 µs for a single-row call (Python's per-call overhead): the fake model has that
shape, so a wrong divisor or a batch that is not really scored shows here, without timing anything."""
from types import SimpleNamespace

import numpy as np
import pytest

from workshop import release_evaluation
from workshop.release_gates import Policy, latency_gate

CALL_S, ROW_S = 5e-6, 1e-8  # per call, per row


class FakeModel:
    """predict_proba advances the fake clock by a per-call overhead plus a per-row cost, and records row counts."""

    def __init__(self, clock):
        self.clock, self.rows = clock, []

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        self.rows.append(len(rows))
        self.clock.now += CALL_S + ROW_S * len(rows)
        return np.zeros(len(rows))


@pytest.fixture
def fake(monkeypatch):
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(release_evaluation, "time", SimpleNamespace(perf_counter=lambda: clock.now))
    return FakeModel(clock)


def test_cost_per_record_is_the_batch_time_over_its_rows_and_p95_is_one_row(fake):
    us_per_record, p95_ms = release_evaluation.scoring_cost(fake, np.ones((5000, 3)), repeats=3, singles=50)
    assert fake.rows == [1000] * 3 + [1] * 50  # a real 1,000-row batch, then one row per call
    assert us_per_record == pytest.approx((CALL_S + 1000 * ROW_S) / 1000 * 1e6)  # 0.015 µs, not 15
    assert p95_ms == pytest.approx((CALL_S + ROW_S) * 1e3)  # ~0.005 ms = 5 µs


def test_a_short_holdout_divides_by_the_rows_really_scored(fake):
    us_per_record, _ = release_evaluation.scoring_cost(fake, np.ones((400, 3)), repeats=1, singles=1)
    assert fake.rows[0] == 400
    assert us_per_record == pytest.approx((CALL_S + 400 * ROW_S) / 400 * 1e6)


def test_the_latency_gate_reads_microseconds_below_a_millisecond():
    def reason(p95_ms):
        ctx = SimpleNamespace(candidate={"p95_ms_one_record": p95_ms, "us_per_record": 0.0087}, policy=Policy())
        return latency_gate(ctx)
    assert reason(0.00512).reason == "P95 to score one record 5.1 µs <= budget 10.0 ms"
    assert reason(0.00512).details["us_per_record"] == 0.0087
    slow = reason(12.5)
    assert not slow.passed and slow.reason == "P95 to score one record 12.50 ms > budget 10.0 ms"
