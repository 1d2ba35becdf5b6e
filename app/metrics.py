"""The service's Prometheus metrics (names are the lesson's contract: docs/contracts.md).

Each app gets its own registry, so tests and notebook re-runs never hit "Duplicated timeseries".
Under gunicorn, PROMETHEUS_MULTIPROC_DIR is set and every worker writes its values to files in that
directory; /metrics then merges them, so counts are exact across workers. Gauges say how to merge.
"""
import os
from dataclasses import dataclass

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from app.multiproc import locked

INVALID_REASONS = (
    "invalid_json", "unsupported_media_type", "payload_too_large", "not_an_object", "missing_field",
    "extra_field", "non_numeric", "non_finite", "empty_batch", "batch_too_large", "method_not_allowed",
    "not_found", "duplicate_key", "too_deep", "bad_row", "out_of_range", "http_error",
)
PREDICT_STATUSES = ("200", "400", "413", "415", "500", "503")
# 0.1 ms .. 10 s: the fast path is sub-millisecond, the alerting lesson's threshold is 0.5 s.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5, 5.0, 10.0)
PROBABILITY_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)


def observe_many(histogram: Histogram, values: np.ndarray) -> None:
    """histogram.observe(v) for every v, with one increment per bucket instead of two per value.

    prometheus_client has no bulk observe; under gunicorn every increment is a locked write to a memory-mapped
    file, and 1,000 observations cost as much as parsing the batch. Same bucket rule as observe(): the first
    bucket whose upper bound is >= v. tests/test_metrics_bulk.py compares the result with observe().
    """
    if len(values) == 1:  # /predict: one value, prometheus_client's own observe()
        histogram.observe(float(values[0]))
        return
    histogram._raise_if_not_observable()
    bounds = np.asarray(histogram._upper_bounds)
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    for bucket, count in zip(histogram._buckets, counts.tolist(), strict=True):
        if count:
            bucket.inc(count)
    histogram._sum.inc(float(np.sum(values)))


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@dataclass(frozen=True)
class VersionSeries:
    """One model version's prediction series, looked up once: labels() costs ~3 µs, on every request."""
    fraud: Counter          # predictions_total{class_name="fraud"}
    non_fraud: Counter      # predictions_total{class_name="non_fraud"}
    latency: Histogram
    fraud_probability: Histogram
    errors: Counter


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # `version`: the model version that answered (one while a single model serves; lesson 07 adds more).
        self.predictions = Counter("predictions_total", "Predictions made, one per record",
                                   ["class_name", "version"], registry=r)
        self.latency = Histogram("prediction_latency_seconds", "Time to serve a prediction request",
                                 ["version"], buckets=LATENCY_BUCKETS, registry=r)
        self.fraud_probability = Histogram("fraud_probability", "Predicted fraud probabilities", ["version"],
                                           buckets=PROBABILITY_BUCKETS, registry=r)
        self.prediction_errors = Counter("prediction_errors_total", "Prediction requests that ended in a "
                                         "server error (5xx)", ["version"], registry=r)
        self.requests = Counter("http_requests_total", "HTTP requests by endpoint and status",
                                ["endpoint", "method", "status"], registry=r)
        self.invalid = Counter("invalid_requests_total", "Client mistakes (4xx) by reason", ["reason"],
                               registry=r)
        # Gauges describe the model being served; "livemax" drops values of dead workers.
        self.accuracy = Gauge("model_accuracy", "Held-out test-set accuracy from the model card (not live)",
                              multiprocess_mode="livemax", registry=r)
        self.heldout = Gauge("model_heldout_score", "Held-out test-set metrics from the model card, by version",
                             ["metric", "version"], multiprocess_mode="livemax", registry=r)
        self.info = Gauge("model_info", "Model version being served (value is always 1)", ["version"],
                          multiprocess_mode="livemax", registry=r)
        self.faults = Gauge("fault_injection_active", "1 while a lesson fault is switched on", ["fault"],
                            multiprocess_mode="livemax", registry=r)
        # Pre-create label values so the series exist (at 0) before the first fraud or first mistake.
        for reason in INVALID_REASONS:
            self.invalid.labels(reason=reason)
        # ... and the prediction endpoints' usual statuses, so rate() sees the very first error too.
        for endpoint in ("predict", "predict_batch"):
            for status in PREDICT_STATUSES:
                self.requests.labels(endpoint=endpoint, method="POST", status=status)
        for fault in ("latency", "errors"):
            self.faults.labels(fault=fault).set(0)
        self._request_children = {}
        self._versions: dict[str, VersionSeries] = {}

    def count_request(self, endpoint: str, method: str, status: int) -> None:
        """http_requests_total += 1, the label child looked up once per combination (a lookup costs ~3 µs)."""
        key = (endpoint, method, status)
        child = self._request_children.get(key)
        if child is None:
            child = self.requests.labels(endpoint=endpoint, method=method, status=str(status))
            if len(self._request_children) < 1000:  # clients choose methods and paths: keep the cache bounded
                self._request_children[key] = child
        child.inc()

    def version_series(self, version: str) -> VersionSeries:
        """A model version's prediction series, created (at 0) before its first request and kept."""
        if version not in self._versions:
            self._versions[version] = VersionSeries(
                fraud=self.predictions.labels(class_name="fraud", version=version),
                non_fraud=self.predictions.labels(class_name="non_fraud", version=version),
                latency=self.latency.labels(version=version),
                fraud_probability=self.fraud_probability.labels(version=version),
                errors=self.prediction_errors.labels(version=version))
        return self._versions[version]

    def describe_model(self, card: dict) -> None:
        """The model that answers: its accuracy (the seed's gauge), then what describe_version exports."""
        self.accuracy.set(card.get("metrics", {}).get("accuracy", float("nan")))
        self.describe_version(card)

    def describe_version(self, card: dict) -> None:
        """A served model version: model_info, its held-out scores by version, its prediction series at 0."""
        metrics = card.get("metrics", {})
        for name in ("average_precision", "roc_auc", "precision", "recall"):
            if name in metrics:
                self.heldout.labels(metric=name, version=card["version"]).set(metrics[name])
        self.info.labels(version=card["version"]).set(1)
        self.version_series(card["version"])

    def exposition(self) -> tuple[bytes, str]:
        """The text format for /metrics: this process's registry, or all workers' files merged."""
        if multiprocess_dir():
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            with locked(multiprocess_dir()):  # the master may be folding a dead worker's files
                return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
