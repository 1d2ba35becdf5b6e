"""Building the training reference profile that the drift lesson compares live traffic with (written by
training next to the model; the app reads it as app.drift.ReferenceProfile)."""
import numpy as np
import pandas as pd

N_BINS = 10
SAMPLE_SIZE = 5000


def describe_values(values, n_bins: int = N_BINS, sample_size: int = SAMPLE_SIZE, seed: int = 0) -> dict:
    """Quantile bin edges (open-ended outer bins), the share per bin, moments and a fixed-seed sample."""
    values = np.asarray(values, dtype=float)
    inner = np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1]))
    edges = [-np.inf, *inner.tolist(), np.inf]
    counts, _ = np.histogram(values, bins=edges)
    rng = np.random.default_rng(seed)
    sample = rng.choice(values, size=min(sample_size, len(values)), replace=False)
    return {
        "bin_edges": [float(e) if np.isfinite(e) else None for e in edges],  # None = ±infinity (JSON)
        "proportions": (counts / counts.sum()).tolist(),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "quantiles": {str(q): float(np.quantile(values, q)) for q in (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)},
        "sample": sample.tolist(),
    }


def build_reference_profile(X: pd.DataFrame, scores, seed: int = 0) -> dict:
    return {
        "n_rows": int(len(X)),
        "features": {name: describe_values(X[name].to_numpy(), seed=seed) for name in X.columns},
        "score": describe_values(scores, seed=seed),
    }

