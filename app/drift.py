"""Data drift monitoring: count every input value and fraud probability into the training profile's bins.

The training reference profile (reference_profile.json, written with each model version) holds, for each
monitored feature (V1..V28, Amount; not Time, which only grows) and for the fraud "score", the decile
bin edges of the training data and the share of training rows in each bin (0.1 each, by construction).

The app only counts: drift_bin_observations_total{version, feature, bin} += 1 for the bin each value falls in
of the profile of the model version that scored it (lesson 07 serves several versions, each with its own
score deciles). Counters merge exactly across gunicorn workers and replicas, so the sliding window and the
statistics (PSI, binned KS, the verdict) live in Prometheus recording rules (prometheus/rules/drift.yml).
The reference shares are exported as gauges next to the counts.

Cost per record: a copy of its values into a per-process numpy buffer. Under gunicorn every counter
increment is a locked write to a memory-mapped file, and binning one record at a time costs as much as
scoring it, so the buffered records are binned together (one vectorised comparison against all bin edges)
and added to the counters (one increment per bin that changed) every `drift_flush_seconds` (1 s) by a
background thread, on every /metrics scrape, when the buffer is full, and when the process exits
(gunicorn's worker_exit hook, atexit): nothing seen is lost, and a scrape lags another worker's newest
records by at most that period.
"""
import atexit
import hashlib
import json
import os
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from prometheus_client import Counter, Gauge

from app.config import Settings

PROFILE = "reference_profile.json"
SCORE = "score"
BUFFER_ROWS = 4096  # records kept per process between flushes (~1 MB); a full buffer is counted at once
MAX_BINS = 10  # bin labels are single digits: the rules' binned KS sums bins with regexes like "[0-4]"


class DriftProfileError(ValueError):
    """The reference profile is missing or does not match the model's features."""


@dataclass(frozen=True)
class ReferenceBins:
    """One monitored value in training: bin edges (-inf first, +inf last: numpy.histogram's `bins`; None in
    the JSON), the training share per bin, mean, std and a fixed-seed sample of raw training values."""
    edges: np.ndarray
    shares: np.ndarray
    mean: float
    std: float
    sample: np.ndarray


@dataclass(frozen=True)
class ReferenceProfile:
    """The training reference profile saved with the model: the monitored features, then the fraud score."""
    features: dict[str, ReferenceBins]
    score: ReferenceBins
    n_rows: int
    model_version: str | None

    @property
    def monitored(self) -> dict[str, ReferenceBins]:  # in the order of the drift metrics
        return {**self.features, SCORE: self.score}

    @classmethod
    def from_json(cls, data: dict) -> "ReferenceProfile":
        def bins(e: dict) -> ReferenceBins:
            return ReferenceBins(np.array([-np.inf, *map(float, e["bin_edges"][1:-1]), np.inf]),
                                 np.asarray(e["proportions"]), e["mean"], e["std"], np.asarray(e.get("sample", [])))
        return cls({n: bins(e) for n, e in data["features"].items()}, bins(data[SCORE]), data["n_rows"],
                   data.get("model_version"))


def load_profile(model_dir: Path, model_version: str | None = None) -> ReferenceProfile:
    """The profile saved with the model; refused when it describes another model version."""
    path = Path(model_dir) / PROFILE
    if not path.exists():
        raise DriftProfileError(f"no {PROFILE} in {model_dir}: training (notebook 01) writes it with the model")
    profile = ReferenceProfile.from_json(json.loads(path.read_text()))
    if model_version and profile.model_version not in (None, model_version):
        raise DriftProfileError(f"{PROFILE} describes model {profile.model_version}, not {model_version}")
    return profile


class DriftBinner:
    """Vectorised binning: (n, n_features) inputs + (n,) scores -> (n, n_features + 1) bin indices.

    A value equal to an edge falls in the bin above it (numpy.histogram's convention, used to build the
    profile). Features with fewer distinct deciles have fewer bins: missing edges are padded with +inf.
    """

    def __init__(self, profile: ReferenceProfile, feature_names: list[str]):
        monitored = profile.monitored
        self.names = list(monitored)  # monitored features in profile order, then "score"
        missing = [n for n in self.names[:-1] if n not in feature_names]
        if missing:
            raise DriftProfileError(f"profile features {missing} are not model inputs")
        self.columns = np.array([feature_names.index(n) for n in self.names[:-1]], dtype=int)
        self.n_bins = [len(monitored[n].shares) for n in self.names]
        if max(self.n_bins) > MAX_BINS:
            raise DriftProfileError(f"at most {MAX_BINS} bins per feature, the profile has {max(self.n_bins)}")
        self.edges = np.full((len(self.names), max(self.n_bins) - 1), np.inf)
        for i, name in enumerate(self.names):
            self.edges[i, :self.n_bins[i] - 1] = monitored[name].edges[1:-1]

    def bins(self, rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
        values = np.column_stack([rows[:, self.columns], scores])
        return (values[:, :, None] >= self.edges[None, :, :]).sum(axis=2)


class DriftMonitor:
    """One model version's counting: its reference bins, its counter children (pre-created at 0) and a buffer."""

    def __init__(self, profile: ReferenceProfile, feature_names: list[str], version: str, observations: Counter,
                 reference: Gauge):
        self.binner = binner = DriftBinner(profile, feature_names)
        self.version = version
        monitored = profile.monitored
        self.stride = binner.edges.shape[1] + 1
        self.children = [None] * (len(binner.names) * self.stride)  # flat index: feature * stride + bin
        for f, name in enumerate(binner.names):
            for b in range(binner.n_bins[f]):
                labels = {"version": version, "feature": name, "bin": str(b)}
                self.children[f * self.stride + b] = observations.labels(**labels)
                reference.labels(**labels).set(monitored[name].shares[b])
        self.offsets = np.arange(len(binner.names)) * self.stride
        self.rows = np.empty((BUFFER_ROWS, len(feature_names)))  # inputs seen, not yet counted
        self.scores = np.empty(BUFFER_ROWS)
        self.n_buffered = 0
        self.lock = threading.Lock()

    def observe(self, rows: np.ndarray, scores: np.ndarray) -> None:
        """Keep the records; they are binned and counted together at the next flush (or when the buffer fills)."""
        n = len(rows)
        with self.lock:
            if self.n_buffered + n > BUFFER_ROWS:
                self._count_buffered()
            if n > BUFFER_ROWS:  # a batch larger than the buffer is counted at once
                self._count(rows, scores)
            else:
                self.rows[self.n_buffered:self.n_buffered + n] = rows
                self.scores[self.n_buffered:self.n_buffered + n] = scores
                self.n_buffered += n

    def flush(self) -> int:
        """Count the buffered records into the counters; returns how many values (records x names) it counted."""
        with self.lock:  # held while counting: once flush() returns, every earlier record is counted
            return self._count_buffered()

    def _count_buffered(self) -> int:
        n, self.n_buffered = self.n_buffered, 0
        return self._count(self.rows[:n], self.scores[:n]) if n else 0

    def _count(self, rows: np.ndarray, scores: np.ndarray) -> int:
        flat = self.binner.bins(rows, scores) + self.offsets
        counts = np.bincount(flat.ravel(), minlength=len(self.children))
        for i in np.flatnonzero(counts).tolist():
            self.children[i].inc(int(counts[i]))
        return flat.size


class DriftMonitors:
    """The drift metrics and one DriftMonitor per model version, found by the version that scored the records."""

    def __init__(self, registry, flush_seconds: float = Settings.drift_flush_seconds):
        self.observations = Counter(
            "drift_bin_observations_total", "Input values (and fraud probabilities, feature=\"score\") per "
            "training-decile bin of the version that scored them", ["version", "feature", "bin"], registry=registry)
        self.reference = Gauge("drift_reference_share", "Share of the version's training values in each bin (the "
                               "reference)", ["version", "feature", "bin"], multiprocess_mode="livemax", registry=registry)
        self.enabled = Gauge("drift_monitoring_enabled", "1 when the version's records are counted into its "
                             "reference profile's bins (0: no usable reference_profile.json)", ["version"],
                             multiprocess_mode="livemax", registry=registry)
        self.flush_seconds = flush_seconds
        self.built: dict[tuple[str, str], DriftMonitor] = {}  # (version, profile sha256) -> monitor, all flushed
        self.by_version: dict[str, DriftMonitor] = {}  # replaced whole by track(), never edited in place
        self.lock = threading.Lock()
        self.flusher_pid = None  # the process whose flush thread runs (a forked worker starts its own)

    def track(self, versions: dict) -> dict[str, str]:
        """{version: (folder, model)}: load and check each folder's profile; count that version's records into its
        bins from now on. Returns {version: why not} for the versions served without drift monitoring."""
        by_version, off = dict(self.by_version), {}  # a version no longer served keeps its monitor: in-flight
        for version, (folder, model) in versions.items():  # requests still count into it
            try:
                by_version[version] = self._monitor(Path(folder), model)
            except (DriftProfileError, OSError, KeyError, ValueError) as exc:
                by_version.pop(version, None)
                off[version] = str(exc)
            self.enabled.labels(version=version).set(version not in off)
        self.by_version = by_version  # one assignment: a request sees the old versions or the new ones
        return off

    def _monitor(self, folder: Path, model) -> DriftMonitor:
        """The version's monitor: built from its profile (checked against the model), reused while unchanged."""
        path = folder / PROFILE
        key = (model.version, hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "")
        if key not in self.built:
            monitor = DriftMonitor(load_profile(folder, model.version), model.features, model.version,
                                   self.observations, self.reference)
            with self.lock:
                self.built[key] = monitor
        return self.built[key]

    def count(self, version: str, rows: np.ndarray, scores: np.ndarray) -> None:
        """Keep records `version` scored (inputs, fraud probabilities) for its monitor; no monitor, no count."""
        monitor = self.by_version.get(version)
        if monitor is not None:
            monitor.observe(rows, scores)
            if self.flusher_pid != os.getpid():
                self._start_flusher()

    def observe(self, scored) -> None:
        """The after-scoring hook: an app.main.Scored, counted for the version that scored it."""
        self.count(scored.model_version, scored.inputs, scored.probabilities)

    def flush(self) -> int:
        """Count every version's buffered records; returns how many values it counted."""
        with self.lock:
            monitors = list(self.built.values())
        return sum(monitor.flush() for monitor in monitors)

    def _start_flusher(self) -> None:
        with self.lock:
            if self.flusher_pid == os.getpid():
                return
            self.flusher_pid = os.getpid()
        ref = weakref.ref(self)  # the thread and atexit must not keep a discarded app's monitors alive
        threading.Thread(target=_flush_periodically, args=(ref, self.flush_seconds), name="drift-flush",
                         daemon=True).start()
        atexit.register(_flush_if_alive, ref)


def _flush_if_alive(ref: weakref.ref) -> bool:
    monitor = ref()
    if monitor is not None:
        monitor.flush()
    return monitor is not None


def _flush_periodically(ref: weakref.ref, seconds: float) -> None:
    while True:
        time.sleep(seconds)  # a timer: the flush period, not a wait for something to happen
        if not _flush_if_alive(ref):
            return


def init_app(app, service) -> None:
    """Registered by the drift lesson: count every scored record, if the model's reference profile is there."""
    drift = app.extensions["drift"] = DriftMonitors(service.metrics.registry, service.settings.drift_flush_seconds)
    if service.model is not None:  # one version here; lesson 07's router tracks every version it loads
        off = drift.track({service.model.version: (service.settings.model_dir, service.model)})
        for version, reason in off.items():
            service.warn("drift_monitoring_off", version=version, reason=reason)
    service.after_scoring.append(drift.observe)  # an app.main.Scored: inputs and scores, by the version that scored
    service.before_metrics.append(drift.flush)  # a scrape sees this process's buffered counts
