"""Offline, seeded generator of data shaped like the Kaggle credit-card fraud set (mlg-ulb/creditcardfraud).

Same columns and dtypes as the real CSV (Time, V1..V28, Amount, Class), matched to its published summary
statistics: size, fraud share, two-day day/night Time profile, heavy-tailed Amount, per-component stds and
fraud-class means of V1..V28 (hence the same correlations with Class). Frauds are a mixture of "obvious"
ones far along the fraud direction and "subtle" ones that overlap legitimate traffic, so a scaled logistic
regression lands near the published average precision (~0.7) instead of a perfect score.
What it does not reproduce is listed in data/README.md.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

FULL_ROWS = 284_807
FULL_FRAUDS = 492
FRAUD_RATE = FULL_FRAUDS / FULL_ROWS  # 0.1727 %, published as 0.172 %
BASE_RATE = 0.00172  # the published 0.172 %: the dashboard draws it, the fraud-share alerts scale it (tested)
MIN_FRAUDS = 5  # small samples keep a handful of frauds, so metrics stay defined
N_COMPONENTS = 28
V_COLUMNS = [f"V{i}" for i in range(1, N_COMPONENTS + 1)]

# Published overall stds and fraud-class means of the PCA components V1..V28.
V_STD = np.array([1.959, 1.651, 1.516, 1.416, 1.380, 1.332, 1.237, 1.194, 1.099, 1.089, 1.021, 0.999, 0.995,
                  0.959, 0.915, 0.876, 0.849, 0.838, 0.814, 0.771, 0.735, 0.726, 0.625, 0.606, 0.521, 0.482,
                  0.404, 0.330])
V_FRAUD_MEAN = np.array([-4.77, 3.62, -7.03, 4.54, -3.15, -1.40, -5.57, 0.57, -2.58, -5.68, 3.80, -6.26, -0.11,
                         -6.97, -0.09, -4.14, -6.67, -2.25, 0.68, 0.37, 0.71, 0.01, -0.04, -0.11, 0.04, 0.05,
                         0.17, 0.08])

# Published statistics of the real file; `measure_statistics` measures the same on any frame.
REFERENCE_CLASS_CORRELATION = {"V17": -0.33, "V14": -0.30, "V12": -0.26, "V10": -0.22, "V16": -0.20,
                               "V3": -0.19, "V7": -0.19, "V11": 0.16, "V4": 0.13}
REFERENCE_STATS = {
    "rows": FULL_ROWS, "frauds": FULL_FRAUDS, "fraud share (%)": 100 * FRAUD_RATE,
    "Time mean (s)": 94_814.0, "Time max (s)": 172_792.0,
    "Amount mean": 88.35, "Amount median": 22.00, "Amount max": 25_691.16,
    "fraud Amount mean": 122.21, "fraud Amount median": 9.25, "fraud Amount max": 2_125.87,
    "V5 min": -113.7,
    **{f"corr({name}, Class)": value for name, value in REFERENCE_CLASS_CORRELATION.items()},
}

# --- Time: seconds since the first transaction, two days, fewer transactions at night.
TIME_MAX = 172_792
START_HOUR = 0.0  # clock hour at Time 0
BUSIEST_HOUR = 15.7  # places the mean Time at the real 94,814 s
LEGIT_DAY_SWING = 0.75  # rate = 1 + swing * cos(hour - busiest): quiet nights
FRAUD_DAY_SWING = 0.25  # fraud is spread more evenly over the day

# --- Amount (EUR): log-normal bodies, a few exact zeros, capped at the real maxima.
LEGIT_AMOUNT_MEDIAN, LEGIT_AMOUNT_SIGMA, LEGIT_AMOUNT_MAX = 22.3, 1.662, 25_691.16
LEGIT_ZERO_SHARE = 0.0064
FRAUD_TEST_SHARE = 0.39  # "card testing": 0 or ~1 EUR probes
FRAUD_AMOUNT_MEDIAN, FRAUD_AMOUNT_SIGMA, FRAUD_AMOUNT_MAX = 49.0, 1.85, 2_125.87

# --- V1..V28 for legitimate rows: Student-t with 3 degrees of freedom (finite variance, extreme tails:
# minima of -30 to -170 stds at full size, like the real V5 at -113.7), independent across components.
LEGIT_T_DOF = 3.0
LOOKALIKE_SHARE = 0.004  # legit rows shifted part-way along the fraud direction: the false positives
LOOKALIKE_INTENSITY = (0.0, 0.5)

# --- V1..V28 for frauds: intensity * fraud mean + noise wider than legit. Intensity has mean 1.
OBVIOUS_SHARE = 0.65
OBVIOUS_LOG_SD = 0.45
SUBTLE_INTENSITY = (0.0, 0.4)  # subtle frauds: intensity ~ U(low, high), among legit look-alikes
FRAUD_NOISE_SCALE = 1.2  # fraud noise std = scale * component std


def generate(n_rows: int = FULL_ROWS, seed: int = 0, fraud_rate: float = FRAUD_RATE) -> pd.DataFrame:
    """Return `n_rows` synthetic transactions sorted by Time, with round(n_rows * fraud_rate) frauds.

    Deterministic for a given (n_rows, seed, fraud_rate). At least MIN_FRAUDS frauds are kept, so tiny
    samples are fraud-enriched; the full default size has exactly 492 frauds like the real file.
    """
    if n_rows < 2 * MIN_FRAUDS:
        raise ValueError(f"n_rows must be at least {2 * MIN_FRAUDS}, got {n_rows}")
    if not 0 < fraud_rate <= 0.5:
        raise ValueError(f"fraud_rate must be in (0, 0.5], got {fraud_rate}")
    rng = np.random.default_rng(seed)
    n_fraud = max(MIN_FRAUDS, round(n_rows * fraud_rate))
    n_legit = n_rows - n_fraud

    frame = pd.DataFrame(np.vstack([_legit_components(rng, n_legit, fraud_rate),
                                    _fraud_components(rng, n_fraud)]), columns=V_COLUMNS)
    frame.insert(0, "Time", np.concatenate([sample_time(rng, n_legit, LEGIT_DAY_SWING),
                                            sample_time(rng, n_fraud, FRAUD_DAY_SWING)]))
    frame["Amount"] = np.concatenate([_legit_amounts(rng, n_legit), _fraud_amounts(rng, n_fraud)])
    frame["Class"] = np.repeat(np.array([0, 1], dtype=np.int64), [n_legit, n_fraud])
    # Chronological like the real file; the stable sort keeps the result a pure function of the seed.
    return frame.sort_values("Time", kind="stable", ignore_index=True)


# ---------------------------------------------------------------- Time


def _time_cdf(day_swing: float) -> np.ndarray:
    """Cumulative transaction rate over each whole second 0..TIME_MAX, normalised to end at 1."""
    hours = START_HOUR + np.arange(TIME_MAX + 1) / 3600.0
    rate = 1.0 + day_swing * np.cos(2 * np.pi * (hours - BUSIEST_HOUR) / 24.0)
    cdf = np.cumsum(rate)
    return cdf / cdf[-1]


def time_at_quantiles(quantiles: np.ndarray, day_swing: float = LEGIT_DAY_SWING) -> np.ndarray:
    """Whole seconds (as float, like the real CSV) at the given quantiles of the day/night profile."""
    return np.searchsorted(_time_cdf(day_swing), quantiles).astype(np.float64)


def sample_time(rng: np.random.Generator, n: int, day_swing: float = LEGIT_DAY_SWING) -> np.ndarray:
    """n random transaction times drawn from the two-day profile."""
    return time_at_quantiles(rng.random(n), day_swing)


def evenly_spaced_times(n: int) -> np.ndarray:
    """n sorted times at evenly spaced quantiles of the profile: deterministic, no randomness."""
    return time_at_quantiles((np.arange(n) + 0.5) / n)


# ---------------------------------------------------------------- Amount


def _lognormal_amounts(rng: np.random.Generator, n: int, median: float, sigma: float, cap: float) -> np.ndarray:
    return np.minimum(np.round(median * np.exp(sigma * rng.standard_normal(n)), 2), cap)


def _legit_amounts(rng: np.random.Generator, n: int) -> np.ndarray:
    amounts = _lognormal_amounts(rng, n, LEGIT_AMOUNT_MEDIAN, LEGIT_AMOUNT_SIGMA, LEGIT_AMOUNT_MAX)
    amounts[rng.random(n) < LEGIT_ZERO_SHARE] = 0.0
    return amounts


def _fraud_amounts(rng: np.random.Generator, n: int) -> np.ndarray:
    amounts = _lognormal_amounts(rng, n, FRAUD_AMOUNT_MEDIAN, FRAUD_AMOUNT_SIGMA, FRAUD_AMOUNT_MAX)
    probes = rng.random(n) < FRAUD_TEST_SHARE
    amounts[probes] = rng.choice([0.0, 0.76, 0.99, 1.0, 1.0, 1.0, 1.18], size=probes.sum())
    return amounts


# ---------------------------------------------------------------- V1..V28


def _uniform_moments(bounds: tuple[float, float]) -> tuple[float, float]:
    low, high = bounds
    return (low + high) / 2, (low * low + low * high + high * high) / 3


def _fraud_intensity_moments() -> tuple[float, float]:
    """Mean of an obvious fraud's intensity (so that all frauds average 1) and the variance of all intensities."""
    subtle_mean, subtle_square = _uniform_moments(SUBTLE_INTENSITY)
    subtle_share = 1.0 - OBVIOUS_SHARE
    obvious_mean = (1.0 - subtle_share * subtle_mean) / OBVIOUS_SHARE
    square = OBVIOUS_SHARE * obvious_mean**2 * np.exp(OBVIOUS_LOG_SD**2) + subtle_share * subtle_square
    return obvious_mean, square - 1.0


def _legit_std(fraud_rate: float) -> np.ndarray:
    """Legit stds that make the overall (both classes) stds equal V_STD at this fraud rate."""
    _, intensity_var = _fraud_intensity_moments()
    fraud_var = intensity_var * V_FRAUD_MEAN**2 + (FRAUD_NOISE_SCALE * V_STD) ** 2
    between = (1 - fraud_rate) * V_FRAUD_MEAN**2
    lookalike_var = LOOKALIKE_SHARE * _uniform_moments(LOOKALIKE_INTENSITY)[1] * V_FRAUD_MEAN**2
    legit_var = (V_STD**2 - fraud_rate * (fraud_var + between)) / (1 - fraud_rate) - lookalike_var
    return np.sqrt(np.maximum(legit_var, 0.25 * V_STD**2))


def _legit_components(rng: np.random.Generator, n: int, fraud_rate: float) -> np.ndarray:
    unit_t = rng.standard_t(LEGIT_T_DOF, size=(n, N_COMPONENTS)) * np.sqrt((LEGIT_T_DOF - 2) / LEGIT_T_DOF)
    lookalike = np.where(rng.random(n) < LOOKALIKE_SHARE, rng.uniform(*LOOKALIKE_INTENSITY, n), 0.0)
    return unit_t * _legit_std(fraud_rate) + lookalike[:, None] * V_FRAUD_MEAN


def _fraud_components(rng: np.random.Generator, n: int) -> np.ndarray:
    obvious_mean, _ = _fraud_intensity_moments()
    log_mu = np.log(obvious_mean) - OBVIOUS_LOG_SD**2 / 2  # log-normal with mean obvious_mean
    obvious = rng.random(n) < OBVIOUS_SHARE
    intensity = np.where(obvious, np.exp(log_mu + OBVIOUS_LOG_SD * rng.standard_normal(n)),
                         rng.uniform(*SUBTLE_INTENSITY, n))
    noise = rng.standard_normal((n, N_COMPONENTS)) * (FRAUD_NOISE_SCALE * V_STD)
    return intensity[:, None] * V_FRAUD_MEAN + noise


# ---------------------------------------------------------------- comparison with the real data


def measure_statistics(frame: pd.DataFrame) -> dict[str, float]:
    """The REFERENCE_STATS statistics measured on `frame` (any source with the Kaggle columns)."""
    fraud_amount = frame.loc[frame["Class"] == 1, "Amount"]
    class_correlation = frame[list(REFERENCE_CLASS_CORRELATION)].corrwith(frame["Class"])
    return {
        "rows": len(frame), "frauds": int(frame["Class"].sum()), "fraud share (%)": 100 * frame["Class"].mean(),
        "Time mean (s)": frame["Time"].mean(), "Time max (s)": frame["Time"].max(),
        "Amount mean": frame["Amount"].mean(), "Amount median": frame["Amount"].median(),
        "Amount max": frame["Amount"].max(),
        "fraud Amount mean": fraud_amount.mean(), "fraud Amount median": fraud_amount.median(),
        "fraud Amount max": fraud_amount.max(),
        "V5 min": frame["V5"].min(),
        **{f"corr({name}, Class)": value for name, value in class_correlation.items()},
    }

