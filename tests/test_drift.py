"""Data drift: the statistics, the app's binning and counters, the offline harness, and their agreement with
prometheus/rules/drift.yml (the same example values are checked by promtool in prometheus/tests/drift_test.yml).
"""
import json
import re
import shutil
import threading
import time

import numpy as np
import pytest
import yaml
from helpers import metric_value
from prometheus_client import CollectorRegistry
from scipy import stats

from app.config import Settings
from app.drift import PROFILE, DriftBinner, DriftMonitors, DriftProfileError, ReferenceProfile, load_profile
from app.main import create_app
from app.model import ARTIFACT, CARD, FraudModel
from workshop import drift_harness, drift_stats
from workshop.data import FEATURES, load_dataset
from workshop.paths import RULES_DIR
from workshop.reference_profile import describe_values

UNIFORM = np.full(10, 0.1)
SKEWED = np.array([5] * 5 + [15] * 5)  # counts: 5 % in each low bin, 15 % in each high bin
SKEWED_PSI = 0.25 * np.log(2) + 0.25 * np.log(1.5)  # = 0.2747, as in prometheus/tests/drift_test.yml


# ---------------------------------------------------------------- the statistics

def test_identical_distributions_give_zero():
    assert drift_stats.psi(np.full(10, 7), UNIFORM) == pytest.approx(0, abs=1e-12)
    assert drift_stats.binned_ks(np.full(10, 7), UNIFORM) == pytest.approx(0, abs=1e-12)


def test_known_shares_give_the_values_the_promtool_tests_expect():
    assert drift_stats.psi(SKEWED, UNIFORM) == pytest.approx(SKEWED_PSI)
    assert round(float(drift_stats.psi(SKEWED, UNIFORM)), 4) == 0.2747
    assert drift_stats.binned_ks(SKEWED, UNIFORM) == pytest.approx(0.25)


def test_an_empty_bin_is_floored_at_epsilon_and_an_empty_window_has_no_value():
    live = np.array([0, 10, 10, 10, 10, 10, 10, 10, 10, 10])
    expected = (drift_stats.EPSILON - 0.1) * np.log(drift_stats.EPSILON / 0.1) + 9 * (1 / 9 - 0.1) * np.log((1 / 9) / 0.1)
    assert drift_stats.psi(live, UNIFORM) == pytest.approx(expected)
    assert np.isnan(drift_stats.psi(np.zeros(10), UNIFORM)) and np.isnan(drift_stats.binned_ks(np.zeros(10), UNIFORM))


def test_psi_noise_without_drift_is_about_bins_minus_one_over_n():
    rng = np.random.default_rng(0)
    for n in (200, 1000, 5000):
        values = [drift_stats.psi(rng.multinomial(n, UNIFORM), UNIFORM) for _ in range(2000)]
        assert np.mean(values) == pytest.approx(9 / n, rel=0.15), n


def score_only_profile(score: dict) -> ReferenceProfile:
    return ReferenceProfile.from_json({"features": {}, "score": score, "n_rows": 0})


def test_binned_ks_of_a_normal_shift_matches_the_exact_value():
    """N(0.5, 1) against the deciles of N(0, 1): the largest CDF gap over the 9 decile edges."""
    edges = stats.norm.ppf(np.linspace(0.1, 0.9, 9))
    exact = np.max(np.abs(stats.norm.cdf(edges) - stats.norm.cdf(edges - 0.5)))
    profile = score_only_profile(describe_values(stats.norm.rvs(size=200_000, random_state=1)))
    binner = DriftBinner(profile, [])
    live = stats.norm.rvs(loc=0.5, size=200_000, random_state=2)
    counts = np.bincount(binner.bins(np.empty((len(live), 0)), live)[:, 0], minlength=10)
    assert drift_stats.binned_ks(counts, UNIFORM) == pytest.approx(exact, abs=0.005)
    unbinned = stats.ks_2samp(live, profile.score.sample).statistic  # the raw test sees a bit more
    assert drift_stats.binned_ks(counts, UNIFORM) <= unbinned + 0.02


# ---------------------------------------------------------------- the app's bins and counters

@pytest.fixture(scope="module")
def profile(model_dir):
    return load_profile(model_dir)


def test_the_app_bins_values_as_the_profile_was_built(profile, records):
    """np.histogram built the reference proportions; the app must put every value in the same bin."""
    df, _ = records
    binner = DriftBinner(profile, list(FEATURES))
    bins = binner.bins(df[FEATURES].to_numpy(), np.zeros(len(df)))
    for i, name in enumerate(binner.names[:-1]):
        expected, _ = np.histogram(df[name], bins=profile.features[name].edges)
        assert np.bincount(bins[:, i], minlength=len(expected)).tolist() == expected.tolist(), name
    rows = np.zeros((3, len(FEATURES)))
    rows[:, FEATURES.index("V1")] = binner.edges[0][:3]
    assert binner.bins(rows, np.zeros(3))[:, 0].tolist() == [1, 2, 3]  # a value on an edge: the bin above


def test_time_is_not_monitored_and_too_many_bins_are_refused(profile):
    binner = DriftBinner(profile, list(FEATURES))
    assert "Time" not in binner.names and binner.names[-1] == "score" and len(binner.names) == 30
    fine = score_only_profile(describe_values(np.arange(1000.0), n_bins=20))
    with pytest.raises(DriftProfileError, match="at most 10 bins"):
        DriftBinner(fine, [])


def tracked(model_dir, model, flush_seconds=Settings.drift_flush_seconds):
    """A registry and the app's drift monitors, tracking the one model version in model_dir."""
    registry = CollectorRegistry()
    monitors = DriftMonitors(registry, flush_seconds)
    assert monitors.track({model.version: (model_dir, model)}) == {}
    return registry, monitors


def sample(registry, name, version, **labels):
    return registry.get_sample_value(name, {"version": version, **labels})


def test_monitor_counts_single_records_and_batches_into_precreated_series(model_dir, profile, records):
    df, _ = records
    model = FraudModel.load(model_dir)
    registry, monitors = tracked(model_dir, model)
    v = model.version
    assert sample(registry, "drift_bin_observations_total", v, feature="V14", bin="9") == 0
    assert sample(registry, "drift_reference_share", v, feature="score", bin="0") == pytest.approx(profile.score.shares[0])
    assert sample(registry, "drift_monitoring_enabled", v) == 1
    rows = df[FEATURES].to_numpy()[:300]
    scores = model.predict_proba(rows)
    for i in range(100):
        monitors.count(v, rows[i:i + 1], scores[i:i + 1])
    monitors.count(v, rows[100:], scores[100:])
    monitors.count("gb-00000000", rows, scores)  # a version without a monitor: not counted anywhere
    assert sample(registry, "drift_bin_observations_total", v, feature="V14", bin="9") == 0  # buffered
    binner = monitors.by_version[v].binner
    assert monitors.flush() == 300 * len(binner.names) and monitors.flush() == 0
    expected = np.bincount(binner.bins(rows, scores)[:, binner.names.index("V14")], minlength=10)
    counted = [sample(registry, "drift_bin_observations_total", v, feature="V14", bin=str(b)) for b in range(10)]
    assert counted == expected.tolist() and sum(counted) == 300


def counted_total(registry, version, feature="score"):
    return sum(sample(registry, "drift_bin_observations_total", version, feature=feature, bin=str(b))
               for b in range(10))


def test_buffered_counts_reach_the_counters_by_themselves_with_many_threads(model_dir, profile, records):
    """The flush thread moves the buffer without any scrape; concurrent observers lose nothing."""
    df, _ = records
    model = FraudModel.load(model_dir)
    registry, monitors = tracked(model_dir, model, flush_seconds=0.05)
    rows = df[FEATURES].to_numpy()[:400]
    scores = model.predict_proba(rows)

    def send(start):
        for i in range(start, 400, 4):
            monitors.count(model.version, rows[i:i + 1], scores[i:i + 1])
    threads = [threading.Thread(target=send, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + 10
    while counted_total(registry, model.version) < 400 and time.monotonic() < deadline:
        time.sleep(0.01)  # polling the flush thread's effect
    assert counted_total(registry, model.version) == 400 and counted_total(registry, model.version, "V1") == 400
    assert monitors.flush() == 0  # the thread already moved everything


def test_the_api_counts_every_record_once_per_feature(client, records):
    df, rows = records
    first = client.post("/predict", json=rows[0])
    assert first.status_code == 200
    assert client.post("/predict/batch", json={"records": rows[1:50]}).status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    version = first.get_json()["model_version"]
    assert metric_value(text, "drift_monitoring_enabled", version=version) == 1
    for feature in ("V1", "Amount", "score"):
        assert sum(metric_value(text, "drift_bin_observations_total", version=version, feature=feature, bin=str(b))
                   for b in range(10)) == 50
    assert metric_value(text, "drift_bin_observations_total", feature="Time", bin="0") == 0  # not exported


@pytest.mark.parametrize("damage", ["missing", "other_version"])
def test_the_app_serves_without_drift_monitoring_when_the_profile_is_unusable(model_dir, tmp_path, records,
                                                                             capsys, damage):
    for name in (ARTIFACT, CARD, PROFILE):
        shutil.copy(model_dir / name, tmp_path / name)
    if damage == "missing":
        (tmp_path / PROFILE).unlink()
    else:
        profile = json.loads((tmp_path / PROFILE).read_text())
        (tmp_path / PROFILE).write_text(json.dumps(profile | {"model_version": "lr-other"}))
    client = create_app(Settings(model_dir=tmp_path)).test_client()
    assert client.post("/predict", json=records[1][0]).status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    version = json.loads((tmp_path / CARD).read_text())["version"]
    assert f'drift_monitoring_enabled{{version="{version}"}} 0.0' in text
    assert "drift_bin_observations_total{" not in text
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(entry["event"] == "drift_monitoring_off" for entry in logged)


# ---------------------------------------------------------------- the rules use the harness's constants

def test_the_rules_use_the_same_window_epsilon_thresholds_minimum_and_for():
    text = (RULES_DIR / "drift.yml").read_text()
    rules = {r.get("record") or r.get("alert"): r for g in yaml.safe_load(text)["groups"] for r in g["rules"]}
    assert set(re.findall(r"\[(\w+)\]", text)) == {drift_stats.WINDOW}
    assert set(re.findall(r"clamp_min\([^,]+, ([\d.]+)\)", text)) == {str(drift_stats.EPSILON)}
    assert f">= bool {drift_stats.MIN_SAMPLE}" in rules["job_version:drift_verdict_ready:bool"]["expr"]
    verdict = rules["job_version_feature:drift_detected:bool"]["expr"]
    assert f"job_version_feature:drift_psi:5m >= bool {drift_stats.PSI_THRESHOLD}" in verdict
    assert f"job_version_feature:drift_ks:5m >= bool {drift_stats.KS_THRESHOLD}" in verdict
    assert {rules[a]["for"] for a in ("ModelInputDrift", "ModelScoreDrift")} == {drift_stats.FOR}


# ---------------------------------------------------------------- the harness

def test_detector_from_rules_converts_time_to_requests():
    lesson = drift_harness.Detector.from_rules(rate=20, window_s=30, interval_s=5, for_s=2)
    assert (lesson.window, lesson.step, lesson.for_evaluations) == (600, 100, 2)
    production = drift_harness.Detector.from_rules(rate=2, window_s=300, interval_s=5, for_s=60)
    assert (production.window, production.step, production.for_evaluations) == (600, 10, 13)
    with pytest.raises(ValueError):
        drift_harness.Detector(window=150, step=100)


def test_window_counts_are_the_counts_of_the_last_window_requests():
    rng = np.random.default_rng(3)
    bins = rng.integers(0, 10, size=(1000, 4))
    detector = drift_harness.Detector(window=300, step=100)
    counts = drift_harness.window_counts(bins, detector, 10)
    assert counts.shape == (10, 4, 10)
    for k in (0, 2, 9):
        end = (k + 1) * 100
        window = bins[max(0, end - 300):end]
        assert counts[k].tolist() == [np.bincount(window[:, f], minlength=10).tolist() for f in range(4)]


def test_firing_needs_consecutive_evaluations():
    condition = np.array([0, 1, 0, 1, 1, 1, 0, 1, 1], dtype=bool)
    assert drift_harness.firing(condition, 1).tolist() == condition.tolist()
    assert drift_harness.firing(condition, 2).tolist() == [0, 0, 0, 0, 1, 1, 0, 0, 1]


@pytest.fixture(scope="module")
def harness_inputs(model_dir, profile):
    df, _ = load_dataset(source="synthetic", n_rows=20_000, seed=0)  # the traffic simulator's default data
    return df, FraudModel.load(model_dir), profile


def test_the_lesson_detector_meets_its_targets(harness_inputs):
    """1-sigma shift of V14: detected within 500 requests; clean traffic: no false alarm in 150k requests."""
    df, model, profile = harness_inputs
    lesson = drift_harness.Detector.from_rules(rate=20, window_s=30, interval_s=5, for_s=2)
    table = drift_harness.harness_table(df, model, profile, {"lesson": lesson}, ["shift:V14:1.0@500"],
                                clean_requests=50_000, drift_requests=3_000, seeds=(1, 2, 3))
    rows = table.set_index(["scenario", "alert"])
    shift = rows.loc[("shift:V14:1@500", "inputs")]
    assert shift["detected"] == "3/3" and shift["max delay"] <= 500 and shift["flagged"] == "V14"
    assert rows.loc[("clean", "inputs"), "false alarms / 100k"] == 0
    assert rows.loc[("clean", "score"), "false alarms / 100k"] == 0
    assert rows.loc[("clean", "inputs"), "clean requests"] >= 150_000


def test_a_detector_without_a_minimum_sample_raises_false_alarms(harness_inputs):
    """The harness can fail: with no minimum sample and a low threshold, noise alone fires."""
    df, model, profile = harness_inputs
    noisy = drift_harness.Detector(window=50, step=10, min_sample=1, psi_threshold=0.1, ks_threshold=1.0)
    table = drift_harness.harness_table(df, model, profile, {"noisy": noisy}, [], clean_requests=5_000, seeds=(1,))
    assert table.set_index("alert").loc["inputs", "false alarms / 100k"] > 100


def test_a_full_buffer_and_an_oversized_batch_are_counted_exactly(model_dir, profile):
    from app.drift import BUFFER_ROWS

    model = FraudModel.load(model_dir)
    registry, monitors = tracked(model_dir, model, flush_seconds=3600)
    monitor, v = monitors.by_version[model.version], model.version
    df, _ = load_dataset(source="synthetic", n_rows=2 * BUFFER_ROWS + 300, seed=5)
    rows = df[FEATURES].to_numpy()
    scores = model.predict_proba(rows)
    monitor.observe(rows[:BUFFER_ROWS - 50], scores[:BUFFER_ROWS - 50])
    for i in range(BUFFER_ROWS - 50, BUFFER_ROWS + 50):  # fills the buffer: counted at once, then refilled
        monitor.observe(rows[i:i + 1], scores[i:i + 1])
    assert counted_total(registry, v) == BUFFER_ROWS and monitor.n_buffered == 50
    monitor.observe(rows[BUFFER_ROWS + 50:], scores[BUFFER_ROWS + 50:])  # larger than the buffer
    assert counted_total(registry, v) == len(rows) and monitor.flush() == 0
    expected = np.bincount(monitor.binner.bins(rows, scores)[:, monitor.binner.names.index("V14")], minlength=10)
    assert [sample(registry, "drift_bin_observations_total", v, feature="V14", bin=str(b))
            for b in range(10)] == expected.tolist()
