"""observe_many() leaves a histogram exactly as one observe() per value would (it reaches into the client's
internals for speed, so this test is what catches a prometheus_client upgrade that changes them)."""
import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram

from app.metrics import PROBABILITY_BUCKETS, observe_many


def samples(registry) -> dict:
    return {(s.name, s.labels.get("le")): s.value for m in registry.collect() for s in m.samples
            if not s.name.endswith("_created")}


@pytest.mark.parametrize("values", [
    np.random.default_rng(0).random(1000),
    np.array([0.0, 0.001, 0.0010000001, 0.5, 0.99, 1.0, 1.0, 0.25]),  # on and next to bucket bounds
    np.array([0.7]), np.array([], dtype=float), np.array([1.5, -0.1]),
])
def test_observe_many_equals_one_observe_per_value(values):
    one_by_one, bulk = CollectorRegistry(), CollectorRegistry()
    h1 = Histogram("p", "x", buckets=PROBABILITY_BUCKETS, registry=one_by_one)
    h2 = Histogram("p", "x", buckets=PROBABILITY_BUCKETS, registry=bulk)
    for v in values.tolist():
        h1.observe(v)
    observe_many(h2, values)
    expected, got = samples(one_by_one), samples(bulk)
    assert got.pop(("p_sum", None)) == pytest.approx(expected.pop(("p_sum", None)), rel=1e-12, abs=1e-12)
    assert got == expected
    assert got[("p_count", None)] == len(values)


def test_a_wrong_bucket_rule_would_be_caught():
    """side="right" (v < bound instead of v <= bound) moves values equal to a bound: the comparison sees it."""
    registry = CollectorRegistry()
    h = Histogram("p", "x", buckets=PROBABILITY_BUCKETS, registry=registry)
    observe_many(h, np.array([0.5]))
    assert samples(registry)[("p_bucket", "0.5")] == 1.0


def test_count_request_counts_like_labels_inc():
    """http_requests_total through the cached label children equals .labels(...).inc()."""
    from app.metrics import Metrics

    metrics = Metrics()
    for status in (200, 200, 400, 200):
        metrics.count_request("predict", "POST", status)
    metrics.count_request("unmatched", "BREW", 405)
    value = metrics.registry.get_sample_value
    assert value("http_requests_total", {"endpoint": "predict", "method": "POST", "status": "200"}) == 3
    assert value("http_requests_total", {"endpoint": "predict", "method": "POST", "status": "400"}) == 1
    assert value("http_requests_total", {"endpoint": "unmatched", "method": "BREW", "status": "405"}) == 1
