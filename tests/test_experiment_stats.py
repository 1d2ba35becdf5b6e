"""The label arithmetic of lesson 07: formulas against the reference figures, and against simulation."""
import numpy as np
import pytest
from scipy import integrate, stats

from workshop import experiment_stats as es

# ---------------------------------------------------------------- sample sizes vs the reference figures


def test_estimate_recall_within_5_points_needs_about_370_frauds():
    n = es.frauds_to_estimate(0.60, margin=0.05, confidence=0.95)
    assert n == 369                                    # 1.96^2 * 0.6 * 0.4 / 0.05^2 = 368.8
    assert es.transactions_for(n) == pytest.approx(215_000, rel=0.01)
    # and it does what it says: 95 % of simulated recall estimates land within 5 points
    est = np.random.default_rng(1).binomial(n, 0.60, size=200_000) / n
    lo, hi = np.quantile(est, [0.025, 0.975])
    assert lo == pytest.approx(0.55, abs=0.006) and hi == pytest.approx(0.65, abs=0.006)


def test_detect_drop_against_fixed_baseline_needs_about_85_frauds():
    n = es.frauds_to_detect_drop(0.60, 0.45, power=0.80, alpha=0.05)
    assert n == 85
    # simulated power of the one-sample z-test against the known baseline at that n
    x = np.random.default_rng(2).binomial(n, 0.45, size=100_000)
    z = (x / n - 0.60) / np.sqrt(0.60 * 0.40 / n)
    assert np.mean(2 * stats.norm.sf(np.abs(z)) < 0.05) == pytest.approx(0.80, abs=0.03)


def test_ab_split_needs_about_170_frauds_and_100k_transactions_per_arm():
    n = es.frauds_per_arm(0.60, 0.45, power=0.80, alpha=0.05)
    assert n == 173
    assert es.transactions_for(n) == pytest.approx(100_000, rel=0.01)


def test_arcsine_formula_would_give_nearly_the_same_figures():
    """Why the normal approximation is the one documented: Cohen's h lands within 2 frauds of it."""
    h = 2 * np.arcsin(np.sqrt(0.60)) - 2 * np.arcsin(np.sqrt(0.45))
    zsum = stats.norm.ppf(0.975) + stats.norm.ppf(0.80)
    assert int(np.ceil((zsum / h) ** 2)) - es.frauds_to_detect_drop() == 2            # 87 vs 85
    assert abs(int(np.ceil(2 * (zsum / h) ** 2)) - es.frauds_per_arm()) <= 1           # 173 vs 173


def test_more_power_or_smaller_drop_needs_more_frauds():
    assert es.frauds_per_arm(0.60, 0.50) > es.frauds_per_arm(0.60, 0.45)
    assert es.frauds_per_arm(power=0.90) > es.frauds_per_arm(power=0.80)
    assert es.frauds_to_estimate(margin=0.025) == pytest.approx(4 * es.frauds_to_estimate(), abs=4)


def test_paired_formula_needs_fewer_frauds_than_the_split():
    assert es.frauds_paired(0.60, 0.45, discordant=0.25) == 85
    independent = 0.60 * 0.55 + 0.40 * 0.45                       # models that disagree by chance
    assert es.frauds_paired(discordant=independent) < 2 * es.frauds_per_arm()


@pytest.mark.parametrize("discordant", [0.10, 0.0, 1.5])
def test_impossible_discordant_share_is_rejected(discordant):
    with pytest.raises(ValueError, match="impossible"):
        es.frauds_paired(0.60, 0.45, discordant=discordant)


# ---------------------------------------------------------------- the tests against independent implementations


def test_two_proportion_z_matches_chi_squared_without_correction():
    rng = np.random.default_rng(3)
    for x_a, x_b in rng.integers(1, 59, size=(20, 2)):
        z, p = es.two_proportion_z(x_a, 60, x_b, 60)
        chi2, p_chi, _, _ = stats.chi2_contingency([[x_a, 60 - x_a], [x_b, 60 - x_b]], correction=False)
        assert z**2 == pytest.approx(chi2) and p == pytest.approx(p_chi)
    assert es.two_proportion_z(0, 6, 0, 6) == (0.0, 1.0)          # no variance: no evidence, not NaN


def test_exact_mcnemar_matches_scipy_binomtest():
    for b in range(0, 15):
        for c in range(0, 15):
            expected = stats.binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
            assert es.mcnemar_exact(b, c) == pytest.approx(expected)


def test_msprt_lambda_is_the_normal_mixture_likelihood_ratio():
    """Lambda = integral of N(d; theta, V) N(theta; 0, tau^2) dtheta / N(d; 0, V), by quadrature."""
    tau = 0.15
    for x_a, x_b, n in [(36, 27, 60), (100, 90, 180), (3, 5, 6), (50, 50, 90)]:
        pooled = (x_a + x_b) / (2 * n)
        v = pooled * (1 - pooled) * 2 / n
        d = x_a / n - x_b / n
        mix, _ = integrate.quad(lambda t, d=d, v=v: stats.norm.pdf(d, t, np.sqrt(v)) * stats.norm.pdf(t, 0, tau),
                                -1, 1, points=[d])
        assert es.msprt_lambda(x_a, n, x_b, n, tau) == pytest.approx(mix / stats.norm.pdf(d, 0, np.sqrt(v)),
                                                                      rel=1e-6)


def test_always_valid_p_never_increases():
    looks = es.simulate_daily_looks(0.60, 0.50, experiments=50, seed=4)
    p = es.always_valid_p(looks.x_a, looks.n, looks.x_b, looks.n)
    assert (np.diff(p, axis=1) <= 0).all() and ((p > 0) & (p <= 1)).all()


# ---------------------------------------------------------------- peeking vs always-valid, on the same looks


def controls_false_positives(rate: es.Rate, alpha: float = 0.05) -> bool:
    """The acceptance check: measured FPR within two Monte-Carlo standard errors of alpha or below."""
    return rate.rate <= alpha + 2 * rate.se


@pytest.fixture(scope="module")
def aa():
    return es.sequential_rates(es.simulate_daily_looks(0.60, 0.60, experiments=4000, seed=0))


@pytest.fixture(scope="module")
def drop():
    return es.sequential_rates(es.simulate_daily_looks(0.60, 0.45, experiments=4000, seed=100))


def test_peeking_every_day_inflates_false_positives_to_about_30_percent(aa):
    assert aa.peeking.rate >= 0.2
    assert aa.peeking.rate == pytest.approx(0.29, abs=0.03)
    assert not controls_false_positives(aa.peeking)      # the check below can fail, and fails here


def test_fixed_horizon_z_test_has_its_nominal_5_percent(aa):
    assert abs(aa.fixed_horizon.rate - 0.05) <= 3 * aa.fixed_horizon.se


def test_msprt_checked_every_day_keeps_false_positives_at_most_5_percent(aa):
    assert controls_false_positives(aa.msprt)
    assert aa.msprt.se < 0.005                             # enough experiments for a tight estimate


def test_power_on_a_real_drop_fixed_horizon_vs_msprt(drop):
    assert drop.fixed_horizon.rate == pytest.approx(0.80, abs=0.03)   # 180 frauds per arm ~ the 173 needed
    # always-valid costs power at this horizon, but buys the right to stop early
    assert 0.4 < drop.msprt.rate < drop.fixed_horizon.rate
    assert drop.msprt_median_day < 30


def test_simulation_is_seeded():
    a = es.simulate_daily_looks(seed=7, experiments=10)
    b = es.simulate_daily_looks(seed=7, experiments=10)
    assert np.array_equal(a.x_a, b.x_a) and np.array_equal(a.x_b, b.x_b)


# ---------------------------------------------------------------- shadow mode: paired vs unpaired


@pytest.fixture(scope="module")
def curves():
    return es.power_curves(0.60, 0.45, discordant=0.25, max_frauds=300, experiments=3000, seed=0)


def test_simulated_split_needs_what_the_formula_says(curves):
    frauds, _, unpaired = curves
    assert es.frauds_needed(frauds, unpaired) == pytest.approx(es.frauds_per_arm(), rel=0.08)


def test_shadow_mode_needs_far_fewer_labelled_frauds(curves):
    frauds, paired, unpaired = curves
    n_paired, n_split_total = es.frauds_needed(frauds, paired), 2 * es.frauds_needed(frauds, unpaired)
    # the exact test is a little conservative: a few more frauds than the normal formula's 85
    assert es.frauds_paired() <= n_paired <= 1.15 * es.frauds_paired()
    assert n_paired < 0.35 * n_split_total


def test_frauds_needed_refuses_a_curve_that_never_gets_there(curves):
    frauds, paired, _ = curves
    with pytest.raises(ValueError, match="not reached"):
        es.frauds_needed(frauds[:40], paired[:40])
