"""The offline harness that measures the deployed drift detector: replay seeded streams (no server), bin them
exactly as the app does, and run the alert's logic over them in request counts.

    harness_table(...)   detection delay and false alarms per 100k clean requests, per detector and scenario

Windows are in time in Prometheus and in requests here: window requests = request rate x window seconds,
evaluation step = rate x evaluation interval, and an alert with `for: F` fires at the (F / interval + 1)-th
consecutive evaluation where its condition holds.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from app.drift import DriftBinner, ReferenceProfile  # the app's own binning: the same bins by construction
from app.model import FraudModel
from workshop.data import FEATURES
from workshop.drift_stats import KS_THRESHOLD, MIN_SAMPLE, PSI_THRESHOLD, binned_ks, psi
from workshop.scenario_stream import stream
from workshop.scenarios import parse_scenario


def profile_shares(profile: ReferenceProfile, binner: DriftBinner) -> np.ndarray:
    """(names, max bins) reference shares in the binner's order, 0 where a feature has fewer bins."""
    monitored = profile.monitored
    out = np.zeros((len(binner.names), binner.edges.shape[1] + 1))
    for i, name in enumerate(binner.names):
        out[i, :binner.n_bins[i]] = monitored[name].shares
    return out


# ---------------------------------------------------------------- the detector, in requests

@dataclass(frozen=True)
class Detector:
    """The alert's logic in request counts (see the module docstring for the time equivalence)."""

    window: int                    # requests in the sliding window
    step: int                      # requests between two rule evaluations
    for_evaluations: int = 1       # consecutive drifted evaluations before the alert fires
    min_sample: int = MIN_SAMPLE
    psi_threshold: float = PSI_THRESHOLD
    ks_threshold: float = KS_THRESHOLD

    def __post_init__(self):
        if self.step < 1 or self.window < self.step or self.window % self.step:
            raise ValueError(f"window ({self.window}) must be a positive multiple of step ({self.step})")

    @classmethod
    def from_rules(cls, rate: float, window_s: float, interval_s: float, for_s: float, **thresholds):
        """The detector Prometheus runs at `rate` requests/s with these window, evaluation interval and for."""
        step = max(1, round(rate * interval_s))
        window = max(1, round(window_s / interval_s)) * step
        return cls(window, step, math.ceil(for_s / interval_s) + 1, **thresholds)

    def drifted(self, window_counts: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """(evaluations, names) booleans: ready, and PSI or KS over its threshold."""
        n = window_counts.sum(axis=-1)
        psi_values, ks_values = psi(window_counts, reference), binned_ks(window_counts, reference)
        with np.errstate(invalid="ignore"):
            over = (psi_values >= self.psi_threshold) | (ks_values >= self.ks_threshold)
        return over & (n >= self.min_sample)


def window_counts(bins: np.ndarray, detector: Detector, n_bins: int) -> np.ndarray:
    """(evaluations, names, bins) counts of the window ending at each evaluation (after every `step`)."""
    n, names = bins.shape
    blocks = n // detector.step
    flat = (np.arange(blocks * detector.step) // detector.step)[:, None] * names + np.arange(names)
    index = flat * n_bins + bins[:blocks * detector.step]
    counts = np.bincount(index.ravel(), minlength=blocks * names * n_bins).reshape(blocks, names, n_bins)
    cumulative = np.concatenate([np.zeros((1, names, n_bins), dtype=np.int64), np.cumsum(counts, axis=0)])
    lag = detector.window // detector.step
    ends = np.arange(1, blocks + 1)
    return cumulative[ends] - cumulative[np.maximum(ends - lag, 0)]


def firing(condition: np.ndarray, for_evaluations: int) -> np.ndarray:
    """Per evaluation: the alert fires (condition held for `for_evaluations` consecutive evaluations)."""
    run = np.zeros(len(condition), dtype=int)
    streak = 0
    for i, c in enumerate(condition):
        streak = streak + 1 if c else 0
        run[i] = streak
    return run >= for_evaluations


# ---------------------------------------------------------------- replaying streams offline

def load_model(models_dir) -> FraudModel:
    """The served model, loaded (and sha256-checked) exactly as the app loads it: it scores the replays."""
    return FraudModel.load(models_dir)


@dataclass
class Replay:
    """The bins of a replayed stream: (n, names) bin indices and the drift ground truth per request."""

    scenario: str
    bins: np.ndarray
    drifted: np.ndarray

    @property
    def onset(self) -> int | None:
        hits = np.flatnonzero(self.drifted)
        return int(hits[0]) if len(hits) else None


def replay(df: pd.DataFrame, scenario, n: int, seed: int, model, binner: DriftBinner, profile: ReferenceProfile) -> Replay:
    """Generate n records of `scenario` (shifts in units of the training profile's std), score them with the
    served model and bin them exactly as the app does."""
    scenario = parse_scenario(scenario)
    std = {name: bins.std for name, bins in profile.features.items()}
    rows = np.empty((n, len(FEATURES)))
    drifted = np.zeros(n, dtype=bool)
    for index, record, is_drifted in stream(df, scenario, n, seed, std=std):
        rows[index] = [record[f] for f in FEATURES]
        drifted[index] = is_drifted
    bins = binner.bins(rows, model.predict_proba(rows)).astype(np.int16)
    return Replay(scenario.name, bins, drifted)


@dataclass
class Outcome:
    scenario: str
    alert: str                 # "inputs" (any input feature) or "score"
    delay: int | None          # requests from onset to the first firing evaluation (None: never fired)
    false_alarms: int          # alert instances that started firing before the onset
    clean_requests: int        # requests before the onset (all of them for a clean stream)
    drifted_features: str      # the alert instances that fired first after the onset


def run_detector(rep: Replay, detector: Detector, reference: np.ndarray, names: np.ndarray) -> list[Outcome]:
    """Run the detector over a replay. Like the rules, the input alert has one instance per feature: each
    instance that starts firing before the onset is a false alarm; the delay is to the first one after it."""
    counts = window_counts(rep.bins, detector, reference.shape[1])
    flags = detector.drifted(counts, reference)
    ends = (np.arange(len(counts)) + 1) * detector.step  # requests seen at each evaluation
    onset = rep.onset if rep.onset is not None else len(rep.bins)
    outcomes = []
    for alert, columns in (("inputs", range(len(names) - 1)), ("score", [len(names) - 1])):
        fires = np.column_stack([firing(flags[:, j], detector.for_evaluations) for j in columns])
        starts = fires & ~np.vstack([np.zeros((1, fires.shape[1]), dtype=bool), fires[:-1]])
        early = int(starts[ends <= onset].sum())
        late = np.flatnonzero(starts.any(axis=1) & (ends > onset))
        delay = int(ends[late[0]] - onset) if rep.onset is not None and len(late) else None
        flagged = [names[columns[j]] for j in np.flatnonzero(starts[late[0]])] if delay is not None else []
        outcomes.append(Outcome(rep.scenario, alert, delay, early, min(onset, len(rep.bins)), ",".join(flagged)))
    return outcomes


def harness_table(df: pd.DataFrame, model, profile: ReferenceProfile, detectors: dict[str, Detector],
                  drift_scenarios: Iterable[str], clean_requests: int = 200_000, drift_requests: int = 5_000,
                  seeds: Iterable[int] = (1, 2, 3), progress: bool = False) -> pd.DataFrame:
    """One row per (detector, scenario, alert): median/max detection delay over the seeds, false alarms per
    100k clean requests (from `clean_requests` clean requests per seed plus every pre-onset prefix)."""
    binner = DriftBinner(profile, list(FEATURES))
    reference = profile_shares(profile, binner)
    names = np.array(binner.names)
    seeds = list(seeds)
    replays = [replay(df, "clean", clean_requests, seed, model, binner, profile) for seed in seeds]
    replays += [replay(df, spec, drift_requests, 1000 + seed, model, binner, profile)
                for spec in drift_scenarios for seed in seeds]
    rows = []
    for label, detector in detectors.items():
        for rep in replays:
            rows += [{"detector": label, **asdict(o)} for o in run_detector(rep, detector, reference, names)]
    frame = pd.DataFrame(rows)
    table = []
    for (label, scenario, alert), group in frame.groupby(["detector", "scenario", "alert"], sort=False):
        delays = group["delay"].dropna()
        drifted = scenario != "clean"
        table.append({
            "detector": label, "scenario": scenario, "alert": alert,
            "detected": f"{len(delays)}/{len(group)}" if drifted else "",
            "median delay": float(delays.median()) if drifted and len(delays) else None,
            "max delay": float(delays.max()) if drifted and len(delays) else None,
            "false alarms / 100k": 1e5 * group["false_alarms"].sum() / group["clean_requests"].sum(),
            "clean requests": int(group["clean_requests"].sum()),
            "flagged": group["drifted_features"].iloc[0],
        })
    return pd.DataFrame(table)
