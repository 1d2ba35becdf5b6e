"""The fast metric paths export exactly what the plain prometheus_client calls export."""
import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram

from app.metrics import PROBABILITY_BUCKETS, Metrics, observe_each


def samples(registry):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in registry.collect() for s in m.samples
            if not s.name.endswith("_created")}


def test_observe_each_equals_observe_value_by_value():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.random(5000), rng.random(500) ** 8, np.array(PROBABILITY_BUCKETS), [0.0, 7.5]])
    one, bulk = CollectorRegistry(), CollectorRegistry()
    h_one = Histogram("p", "p", buckets=PROBABILITY_BUCKETS, registry=one)
    h_bulk = Histogram("p", "p", buckets=PROBABILITY_BUCKETS, registry=bulk)
    for v in values.tolist():
        h_one.observe(v)
    observe_each(h_bulk, values[:1])  # the single-record path
    observe_each(h_bulk, values[1:])
    expected, got = samples(one), samples(bulk)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key  # buckets and count exact; the sum to rounding
    assert got[("p_bucket", (("le", "0.5"),))] == int(np.sum(values <= 0.5))  # a value on a bound counts in it


def test_count_request_counts_like_labels_inc():
    metrics = Metrics()
    for status in (200, 200, 400, 200):
        metrics.count_request("predict", "POST", status)
    metrics.count_request("unmatched", "BREW", 405)
    value = metrics.registry.get_sample_value
    assert value("http_requests_total", {"endpoint": "predict", "method": "POST", "status": "200"}) == 3
    assert value("http_requests_total", {"endpoint": "predict", "method": "POST", "status": "400"}) == 1
    assert value("http_requests_total", {"endpoint": "unmatched", "method": "BREW", "status": "405"}) == 1
