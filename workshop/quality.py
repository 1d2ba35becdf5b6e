"""Model quality arithmetic for lesson 06: error bars, sample sizes, PR-AUC from a histogram, CBPE.

    wilson(x, n)                         95 % Wilson interval of a rate (recall = TP / labelled frauds)
    frauds_for_margin(0.6, 0.05)         labelled frauds for recall +-5 points (~370)
    frauds_for_drop(0.60, 0.45)          labelled frauds to detect a drop with 80 % power (~85)
    average_precision_from_buckets(...)  PR-AUC from cumulative histogram buckets (Prometheus `le` counts)
    cbpe(probabilities, threshold)       precision/recall expected from calibrated probabilities, no labels
    expected_calibration_error(y, p)     is the model calibrated enough for CBPE?

The app and the recording rules do the live counting; these are the few lines a team checks them with.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

Z95 = float(norm.ppf(0.975))  # 1.96


def wilson(x, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper Wilson score bounds of x successes in n trials (NaN where n == 0)."""
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = x + z * z / 2
        half = z * np.sqrt(np.clip(x * (n - x) / n, 0, None) + z * z / 4)
        return (centre - half) / (n + z * z), (centre + half) / (n + z * z)


def frauds_for_margin(recall: float, margin: float, z: float = Z95) -> int:
    """Labelled frauds so that recall's 95 % interval is +-margin (normal approximation)."""
    return int(np.ceil(z * z * recall * (1 - recall) / margin ** 2))


def frauds_for_drop(baseline: float, dropped: float, power: float = 0.8, alpha: float = 0.05) -> int:
    """Labelled frauds to detect recall falling from `baseline` (known) to `dropped`, two-sided test."""
    z_a, z_b = norm.ppf(1 - alpha / 2), norm.ppf(power)
    spread = z_a * np.sqrt(baseline * (1 - baseline)) + z_b * np.sqrt(dropped * (1 - dropped))
    return int(np.ceil((spread / (baseline - dropped)) ** 2))


def average_precision_from_buckets(fraud_cumulative, legit_cumulative) -> float:
    """PR-AUC (average precision) from cumulative bucket counts, as Prometheus stores them (`le`, +Inf last).

    Thresholds sit at the bucket edges: "score > le". Every fraud in a bucket gets the precision of the
    threshold just below its bucket, which is exactly scikit-learn's average_precision_score of the scores
    rounded up to their bucket's edge (ties inside a bucket). The gap to the raw scores' AP is the ordering
    inside buckets that the histogram forgets."""
    fraud, legit = (np.diff(np.asarray(c, dtype=float), prepend=0.0) for c in (fraud_cumulative, legit_cumulative))
    total_fraud = fraud.sum()
    if total_fraud == 0:
        return float("nan")
    frauds_from = np.cumsum(fraud[::-1])[::-1]  # frauds scoring in this bucket or above
    all_from = np.cumsum((fraud + legit)[::-1])[::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(all_from > 0, frauds_from / all_from, 0.0)
    return float(np.sum(fraud / total_fraud * precision))


@dataclass(frozen=True)
class Estimate:
    precision: float
    recall: float
    tp: float
    fp: float
    fn: float


def cbpe(probabilities, threshold: float) -> Estimate:
    """Confidence-based performance estimation: if the probabilities are calibrated, a record scored p is a
    fraud with probability p, so the expected confusion matrix is a sum of probabilities (no labels needed)."""
    p = np.asarray(probabilities, dtype=float)
    alert = p >= threshold
    tp, fp, fn = p[alert].sum(), (1 - p[alert]).sum(), p[~alert].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return Estimate(float(tp / (tp + fp)), float(tp / (tp + fn)), float(tp), float(fp), float(fn))


def expected_calibration_error(y, p, bins: int = 10) -> float:
    """ECE over equal-count bins: the mean |observed fraud share - mean probability|, weighted by bin size."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    return float(sum(len(b) / len(p) * abs(y[b].mean() - p[b].mean())
                     for b in np.array_split(order, bins) if len(b)))
