"""Champion vs challenger: how many labels, and how to look at an experiment every day without lying.

Fraud is rare (PREVALENCE = 0.172 % of transactions) and recall is a proportion of *frauds*, so every
figure below is counted in labelled frauds and converted to transactions at the end.

Sample sizes (normal approximation, two-sided alpha, no continuity correction):

    frauds_to_estimate(p, margin)     n = z(1-a/2)^2 p(1-p) / margin^2                        (Wald interval)
    frauds_to_detect_drop(p0, p1)     n = [z(1-a/2) sqrt(p0 q0) + z(power) sqrt(p1 q1)]^2 / (p0-p1)^2
                                      one-sample test against a KNOWN baseline recall p0
    frauds_per_arm(pa, pb)            n = [z(1-a/2) sqrt(2 pbar qbar) + z(power) sqrt(pa qa + pb qb)]^2 / (pa-pb)^2
                                      two independent arms, pooled variance under H0 (Fleiss, without the
                                      continuity correction, which would add ~8 %)
    frauds_paired(pa, pb, discordant) n = [z(1-a/2) sqrt(psi) + z(power) sqrt(psi - d^2)]^2 / d^2
                                      McNemar on the same frauds (Connor 1987); psi = share of frauds
                                      the two models disagree on, d = pa - pb

These normal-approximation formulas are the ones behind the usual reference figures (370 / 85 / 170):
the arcsine (Cohen's h) version gives 87 instead of 85, the continuity-corrected one 186 instead of 173.
The simulations below check them against the tests actually used (z-test, exact McNemar).

Sequential looks: `simulate_daily_looks` draws cumulative daily counts for two arms; `sequential_rates`
runs three decision rules on the SAME looks: a z-test checked every day (peeking: false positives near
30 % over a month), one z-test at the end (fixed horizon), and the mixture SPRT of Johari, Koomen,
Pekelis & Walsh ("Always valid inference", 2017/2022), whose statistic stays below 1/alpha with
probability >= 1 - alpha at every look under H0, so checking it daily is allowed.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil, sqrt

import numpy as np
from scipy import stats

PREVALENCE = 0.00172     # frauds per transaction in the credit-card data (492 / 284,807)


# ---------------------------------------------------------------- sample sizes

def _z(q: float) -> float:
    return float(stats.norm.ppf(q))


def transactions_for(frauds: int, prevalence: float = PREVALENCE) -> int:
    """Labelled transactions to collect so that, on average, `frauds` of them are frauds."""
    return ceil(frauds / prevalence)


def frauds_to_estimate(recall: float = 0.60, margin: float = 0.05, confidence: float = 0.95) -> int:
    """Frauds needed so the recall estimate's confidence interval is +/- `margin` (Wald, normal approx.)."""
    z = _z(1 - (1 - confidence) / 2)
    return ceil(z**2 * recall * (1 - recall) / margin**2)


def frauds_to_detect_drop(baseline: float = 0.60, dropped: float = 0.45, power: float = 0.80,
                          alpha: float = 0.05) -> int:
    """Frauds needed to detect recall falling from a known `baseline` to `dropped` (one-sample test)."""
    za, zb = _z(1 - alpha / 2), _z(power)
    num = za * sqrt(baseline * (1 - baseline)) + zb * sqrt(dropped * (1 - dropped))
    return ceil(num**2 / (baseline - dropped) ** 2)


def frauds_per_arm(recall_a: float = 0.60, recall_b: float = 0.45, power: float = 0.80,
                   alpha: float = 0.05) -> int:
    """Frauds needed IN EACH ARM of an A/B split to detect recall_a != recall_b (two-proportion z-test)."""
    za, zb = _z(1 - alpha / 2), _z(power)
    pbar = (recall_a + recall_b) / 2
    num = za * sqrt(2 * pbar * (1 - pbar)) + zb * sqrt(recall_a * (1 - recall_a) + recall_b * (1 - recall_b))
    return ceil(num**2 / (recall_a - recall_b) ** 2)


def discordant_cells(recall_a: float, recall_b: float, discordant: float) -> tuple[float, float]:
    """(P[A catches, B misses], P[A misses, B catches]) for a share `discordant` of disagreeing frauds."""
    d = recall_a - recall_b
    if not abs(d) <= discordant <= min(1.0, recall_a + recall_b, 2 - recall_a - recall_b):
        raise ValueError(f"discordant={discordant} impossible for recalls {recall_a}, {recall_b}")
    return (discordant + d) / 2, (discordant - d) / 2


def frauds_paired(recall_a: float = 0.60, recall_b: float = 0.45, discordant: float = 0.25,
                  power: float = 0.80, alpha: float = 0.05) -> int:
    """Frauds scored by BOTH models (shadow mode) needed for McNemar's test to detect recall_a != recall_b.

    `discordant` is the share of frauds the two models disagree on: 0.25 means they agree on 3 frauds
    in 4; independent models would disagree on pa*qb + pb*qa (0.51 for 0.60 vs 0.45).
    """
    discordant_cells(recall_a, recall_b, discordant)   # validates
    za, zb = _z(1 - alpha / 2), _z(power)
    d = recall_a - recall_b
    num = za * sqrt(discordant) + zb * sqrt(discordant - d**2)
    return ceil(num**2 / d**2)


# ---------------------------------------------------------------- the tests (vectorised over arrays)

def two_proportion_z(x_a, n_a, x_b, n_b) -> tuple[np.ndarray, np.ndarray]:
    """Pooled two-proportion z statistic and two-sided p-value (z = 0, p = 1 when there is no variance)."""
    x_a, n_a, x_b, n_b = (np.asarray(v, dtype=float) for v in (x_a, n_a, x_b, n_b))
    pooled = (x_a + x_b) / (n_a + n_b)
    var = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, (x_a / n_a - x_b / n_b) / np.sqrt(var), 0.0)
    return z, 2 * stats.norm.sf(np.abs(z))


def mcnemar_exact(b, c) -> np.ndarray:
    """Exact two-sided McNemar p-value from the discordant counts b (A only) and c (B only).

    Under H0 each discordant fraud is equally likely to favour either model: b ~ Binomial(b + c, 1/2).
    """
    b, c = np.asarray(b), np.asarray(c)
    return np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(b, c), b + c, 0.5))


def msprt_lambda(x_a, n_a, x_b, n_b, tau: float = 0.15) -> np.ndarray:
    """Mixture-SPRT likelihood ratio for H0: recall_a == recall_b (normal mixture, Johari et al.).

    The difference d = x_a/n_a - x_b/n_b is ~ N(theta, V); mixing theta over N(0, tau^2) gives
    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 d^2 / (2 V (V + tau^2))). V uses the pooled proportion
    (the null's variance). Reject H0 at the first look with Lambda >= 1/alpha. tau is the size of
    difference you expect (0.15 = the drop we care about); Lambda = 1 (no evidence) when V = 0.
    """
    x_a, n_a, x_b, n_b = (np.asarray(v, dtype=float) for v in (x_a, n_a, x_b, n_b))
    pooled = (x_a + x_b) / (n_a + n_b)
    var = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    d = x_a / n_a - x_b / n_b
    t2 = tau**2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lam = np.sqrt(var / (var + t2)) * np.exp(t2 * d**2 / (2 * var * (var + t2)))
    return np.where(var > 0, lam, 1.0)


def always_valid_p(x_a, n_a, x_b, n_b, tau: float = 0.15) -> np.ndarray:
    """Always-valid p-value along the last axis (the looks): running minimum of min(1, 1/Lambda)."""
    return np.minimum.accumulate(np.minimum(1.0, 1 / msprt_lambda(x_a, n_a, x_b, n_b, tau)), axis=-1)


# ---------------------------------------------------------------- simulations

@dataclass(frozen=True)
class Rate:
    """A Monte-Carlo proportion with its standard error."""
    rate: float
    se: float
    n: int

    @classmethod
    def of(cls, hits: np.ndarray) -> Rate:
        hits = np.asarray(hits, dtype=bool)
        p = float(hits.mean())
        return cls(p, sqrt(p * (1 - p) / hits.size), int(hits.size))

    def __str__(self) -> str:
        return f"{self.rate:.3f} +/- {self.se:.3f}"


@dataclass(frozen=True)
class DailyLooks:
    """Cumulative labelled frauds and detected frauds per arm after each day; shape (experiments, days)."""
    n: np.ndarray          # frauds per arm so far (same in both arms), shape (days,)
    x_a: np.ndarray        # frauds arm A caught so far
    x_b: np.ndarray


def simulate_daily_looks(recall_a: float = 0.60, recall_b: float = 0.60, frauds_per_day: int = 6,
                         days: int = 30, experiments: int = 4000, seed: int = 0) -> DailyLooks:
    """`experiments` independent A/B tests, each arm labelling `frauds_per_day` frauds a day.

    6 frauds a day per arm is ~3,500 transactions a day per arm at 0.172 %: 180 frauds per arm in
    30 days, about the fixed-horizon sample size for 0.60 vs 0.45.
    """
    rng = np.random.default_rng(seed)
    shape = (experiments, days)
    return DailyLooks(
        n=frauds_per_day * np.arange(1, days + 1),
        x_a=rng.binomial(frauds_per_day, recall_a, size=shape).cumsum(axis=1),
        x_b=rng.binomial(frauds_per_day, recall_b, size=shape).cumsum(axis=1),
    )


@dataclass(frozen=True)
class SequentialRates:
    """Share of experiments that declared a difference, per decision rule, on the same daily looks."""
    peeking: Rate            # z-test checked every day, stop at the first p < alpha
    fixed_horizon: Rate      # one z-test on the last day
    msprt: Rate              # stop at the first day with Lambda >= 1/alpha
    peeking_median_day: float    # median day of the first rejection (NaN if none)
    msprt_median_day: float


def _median_first_day(reject: np.ndarray) -> float:
    hit = reject.any(axis=1)
    return float(np.median(reject[hit].argmax(axis=1) + 1)) if hit.any() else float("nan")


def sequential_rates(looks: DailyLooks, alpha: float = 0.05, tau: float = 0.15) -> SequentialRates:
    """Run peeking z-test, fixed-horizon z-test and mSPRT on the same looks. Under H0 the rates are
    false-positive rates; with a real difference they are powers."""
    _, p = two_proportion_z(looks.x_a, looks.n, looks.x_b, looks.n)
    z_reject = p < alpha
    m_reject = msprt_lambda(looks.x_a, looks.n, looks.x_b, looks.n, tau) >= 1 / alpha
    return SequentialRates(
        peeking=Rate.of(z_reject.any(axis=1)),
        fixed_horizon=Rate.of(z_reject[:, -1]),
        msprt=Rate.of(m_reject.any(axis=1)),
        peeking_median_day=_median_first_day(z_reject),
        msprt_median_day=_median_first_day(m_reject),
    )


def power_curves(recall_a: float = 0.60, recall_b: float = 0.45, discordant: float = 0.25,
                 max_frauds: int = 400, experiments: int = 3000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulated power against frauds labelled, for shadow mode vs an A/B split.

    Returns (frauds, paired, unpaired): `paired[i]` is the power of the exact McNemar test when both
    models score the same frauds[i] frauds; `unpaired[i]` that of the z-test with frauds[i] frauds IN
    EACH ARM (2 x frauds[i] labelled in all). Each experiment is one growing stream of frauds, so the
    curves are smooth in n (common random numbers).
    """
    rng = np.random.default_rng(seed)
    frauds = np.arange(1, max_frauds + 1)
    b, c = discordant_cells(recall_a, recall_b, discordant)
    cell = rng.choice(3, size=(experiments, max_frauds), p=[b, c, 1 - b - c])
    paired = mcnemar_exact((cell == 0).cumsum(axis=1), (cell == 1).cumsum(axis=1)) < alpha
    x_a = rng.binomial(1, recall_a, size=(experiments, max_frauds)).cumsum(axis=1)
    x_b = rng.binomial(1, recall_b, size=(experiments, max_frauds)).cumsum(axis=1)
    unpaired = two_proportion_z(x_a, frauds, x_b, frauds)[1] < alpha
    return frauds, paired.mean(axis=0), unpaired.mean(axis=0)


def frauds_needed(frauds: np.ndarray, power_curve: np.ndarray, power: float = 0.80) -> int:
    """Smallest n from which the simulated power stays >= `power` (robust to the exact test's sawtooth)."""
    below = np.flatnonzero(np.asarray(power_curve) < power)
    if below.size and below[-1] == len(frauds) - 1:
        raise ValueError(f"power {power} not reached within {frauds[-1]} frauds")
    return int(frauds[below[-1] + 1]) if below.size else int(frauds[0])
