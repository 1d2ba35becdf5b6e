"""The drift lesson's statistics, computed as the deployed detector computes them.

The app counts values into the training profile's decile bins (app/drift.py); Prometheus turns the counts
of a sliding window into statistics (prometheus/rules/drift.yml). These functions compute the SAME
statistics from the same bins, epsilon and thresholds (tests/test_drift.py checks the rules agree):

    psi(live_counts, reference_shares)       sum((live - ref) * ln(live / ref)), shares floored at EPSILON
    binned_ks(live_counts, reference_shares) max |cumulative live share - cumulative reference share|

Reading PSI (population stability index): < 0.1 no meaningful change, 0.1-0.25 moderate, > 0.25
significant. With N values in the window and no drift, N x PSI is roughly chi-squared with bins - 1
degrees of freedom, so pure noise gives PSI ~ (bins - 1) / N: 0.009 at N = 1000, 0.09 at N = 100.
That is why there is no verdict below MIN_SAMPLE values.
"""
import numpy as np

# ---- the deployed detector: the same constants as prometheus/rules/drift.yml (tests/test_drift.py checks)
EPSILON = 1e-4           # an empty bin counts as a 0.01 % share (ln(0) is -inf)
PSI_THRESHOLD = 0.25     # "significant" in the usual reading
KS_THRESHOLD = 0.15      # binned KS distance (max cumulative share difference)
MIN_SAMPLE = 500         # values in the window before any verdict
WINDOW = "5m"            # production window; the lesson-speed copy uses 30s
FOR = "1m"               # production `for:`; the lesson-speed copy uses 2s


# ---------------------------------------------------------------- the statistics

def shares(counts: np.ndarray) -> np.ndarray:
    """Counts -> shares along the last axis (an empty window gives NaN: there is nothing to compare)."""
    counts = np.asarray(counts, dtype=float)
    total = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts / total


def psi(live_counts, reference_shares, eps: float = EPSILON) -> np.ndarray:
    """Population stability index over the last axis (bins); NaN for an empty window."""
    live = np.maximum(shares(live_counts), eps)
    ref = np.maximum(np.asarray(reference_shares, dtype=float), eps)
    return ((live - ref) * np.log(live / ref)).sum(axis=-1)


def binned_ks(live_counts, reference_shares) -> np.ndarray:
    """Kolmogorov-Smirnov distance on the bins: the largest gap between the cumulative shares."""
    gap = np.cumsum(shares(live_counts) - np.asarray(reference_shares, dtype=float), axis=-1)
    return np.abs(gap[..., :-1]).max(axis=-1)
