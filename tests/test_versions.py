"""Model versions (lesson 07): version folders, the deployment file, split and shadow routing, hot reload.

The versioned models are real: the session's linear champion and a small boosted-trees challenger trained on
the same synthetic data; the app is the real create_app() with app/versions.py plugged in.
"""
import json
import shutil

import numpy as np
import pytest
from helpers import metric_value

from app import versions
from app.config import Settings
from app.drift import load_profile
from app.main import create_app
from app.model import ARTIFACT, FraudModel
from workshop.data import FEATURES
from workshop.deployment import promote, rollback, write_deployment
from workshop.drift_stats import psi

pytestmark = pytest.mark.slow  # trains a boosted-trees challenger (3-9 s) and sends ~1,000 requests: not in test-fast


@pytest.fixture()
def deployed(versioned_dir, monkeypatch):
    path, champion, challenger = versioned_dir
    monkeypatch.setattr(versions, "CHECK_EVERY_S", 0.0)  # re-check the file on every request
    write_deployment(path, champion, {challenger: 0.1})
    yield path, champion, challenger
    write_deployment(path, champion)


def scrape(client, name, **labels):
    return metric_value(client.get("/metrics").get_data(as_text=True), name, **labels)


def test_training_writes_a_version_folder_with_a_checked_artifact(versioned_dir):
    path, champion, challenger = versioned_dir
    assert challenger.startswith("gb-") and champion.startswith("lr-")
    card = json.loads((path / challenger / "model_card.json").read_text())
    assert card["version"] == challenger and (path / challenger / "reference_profile.json").exists()
    assert FraudModel.load(path / challenger).weights is None  # trees: no fast linear path
    assert FraudModel.load(path / champion).weights is not None  # the linear model keeps it
    assert FraudModel.load(path).version == champion  # "the model" in models/ is still the champion


def test_split_is_sticky_by_client_id_and_follows_the_weights(deployed, records):
    path, champion, challenger = deployed
    client = create_app(Settings(model_dir=path, log_requests=False)).test_client()
    row = records[1][0]
    answered = [client.post("/predict", json=row, headers={"X-Request-ID": f"r{i}"}) for i in range(600)]
    by_version = [r.get_json()["model_version"] for r in answered]
    assert all(r.headers["X-Model-Version"] == v for r, v in zip(answered, by_version, strict=True))
    share = by_version.count(challenger) / len(by_version)
    assert 0.05 < share < 0.15, share  # 10 % +- 4 standard errors (sd 0.012 at n = 600); the ids are fixed
    for client_id in ("alice", "bob", "carol"):
        seen = {client.post("/predict", json=row, headers={"X-Client-ID": client_id}).get_json()["model_version"]
                for _ in range(20)}
        assert len(seen) == 1, f"client {client_id} was routed to {seen}"
    assert scrape(client, "prediction_latency_seconds_count", version=challenger) == by_version.count(challenger)
    assert scrape(client, "model_routing_weight", version=challenger) == pytest.approx(0.1)


def test_shadow_scores_every_record_off_the_response_path(deployed, records):
    path, champion, challenger = deployed
    write_deployment(path, champion, {challenger: 0.0}, mode="shadow")
    app = create_app(Settings(model_dir=path, log_requests=False))
    client = app.test_client()
    rows = records[1][:200]
    assert all(client.post("/predict", json=r).get_json()["model_version"] == champion for r in rows[:50])
    client.post("/predict/batch", json={"records": rows})
    app.extensions["versions"].queue.join()  # the shadow thread has caught up
    shadow = sum(scrape(client, "shadow_predictions_total", version=challenger, class_name=c)
                 for c in ("fraud", "non_fraud"))
    dropped = scrape(client, "shadow_dropped_total", version=challenger)
    assert shadow + dropped == 250 and shadow > 0
    assert scrape(client, "prediction_latency_seconds_count", version=challenger) == 0  # it answered nobody
    assert scrape(client, "shadow_scoring_seconds_count", version=challenger) >= 1


def test_promote_and_roll_back_without_restart_or_failed_request(deployed, records):
    path, champion, challenger = deployed
    client = create_app(Settings(model_dir=path, log_requests=False)).test_client()
    row = records[1][0]
    promote(path, challenger)
    after = [client.post("/predict", json=row) for _ in range(20)]
    assert {r.status_code for r in after} == {200} and {r.get_json()["model_version"] for r in after} == {challenger}
    assert FraudModel.load(path).version == challenger  # the champion copy in models/ followed
    assert client.get("/ready").get_json()["model_version"] == challenger
    rollback(path, champion)
    back = [client.post("/predict", json=row) for _ in range(20)]
    assert {r.get_json()["model_version"] for r in back} == {champion}
    for version in (champion, challenger):  # no series lost: both versions keep theirs
        assert scrape(client, "prediction_latency_seconds_count", version=version) == 20


def test_a_tampered_version_is_refused_and_the_old_routing_stays(deployed, records, tmp_path):
    path, champion, challenger = deployed
    copy = tmp_path / "models"
    shutil.copytree(path, copy)
    client = create_app(Settings(model_dir=copy, log_requests=False)).test_client()
    with open(copy / challenger / ARTIFACT, "ab") as f:
        f.write(b"tampered")
    write_deployment(copy, challenger)  # promote the tampered version
    answers = [client.post("/predict", json=records[1][0]) for _ in range(30)]
    assert {r.status_code for r in answers} == {200}
    assert scrape(client, "model_deployment_reloads_total", result="error") == 1
    assert client.get("/ready").get_json()["model_version"] == champion  # still the old champion


def test_a_bad_deployment_file_is_refused_by_the_writer(versioned_dir):
    path, champion, challenger = versioned_dir
    with pytest.raises(ValueError, match="sum to at most 1"):
        write_deployment(path, champion, {challenger: 1.5})
    with pytest.raises(FileNotFoundError):
        write_deployment(path, "lr-00000000")
    write_deployment(path, champion)


def test_a_fault_on_one_version_fails_only_that_version(deployed, records):
    path, champion, challenger = deployed
    app = create_app(Settings(model_dir=path, log_requests=False, enable_faults=True))
    client = app.test_client()
    client.post("/admin/faults", json={"error_rate": 1.0, "version": challenger})
    answers = [client.post("/predict", json=records[1][0], headers={"X-Request-ID": f"f{i}"}) for i in range(300)]
    failed = {r.headers["X-Model-Version"] for r in answers if r.status_code == 500}
    assert failed == {challenger}
    assert all(r.status_code == 200 for r in answers if r.headers["X-Model-Version"] == champion)
    assert scrape(client, "prediction_errors_total", version=challenger) == sum(r.status_code == 500 for r in answers)
    assert scrape(client, "prediction_errors_total", version=champion) == 0


# ---------------------------------------------------------------- score drift per version
def score_bins(text: str, name: str, version: str) -> np.ndarray:
    """A version's 10 score bins of `name` (drift_bin_observations_total or drift_reference_share)."""
    return np.array([metric_value(text, name, version=version, feature="score", bin=str(b)) for b in range(10)])


def assert_in_own_deciles(counts: np.ndarray, reference: np.ndarray, who: str) -> None:
    """Reference-like traffic fills each training score bin with about its training share (0.1 for deciles)."""
    shares = counts / counts.sum()
    assert np.abs(shares - reference).max() < 0.03 and psi(counts, reference) < 0.02, \
        f"{who}: live shares {shares.round(3).tolist()} vs training {np.round(reference, 3).tolist()}"


def test_each_version_bins_its_scores_in_its_own_training_deciles(deployed, records):
    """Two versions, one traffic: each version's fraud probabilities land near 10 % per decile of ITS profile,
    whereas the challenger's scores binned with the champion's deciles (one profile for all: the old behaviour)
    fail the same check. Shadow mode counts the challenger's background scores too."""
    path, champion, challenger = deployed
    app = create_app(Settings(model_dir=path, log_requests=False))
    client = app.test_client()
    rows = records[1]
    pinned = {v: next(f"client-{i}" for i in range(1000) if (versions.bucket_of(f"client-{i}") >= 0.9) == (v == challenger))
              for v in (champion, challenger)}
    for version, client_id in pinned.items():
        for start in range(0, len(rows), 1000):
            answer = client.post("/predict/batch", json={"records": rows[start:start + 1000]},
                                 headers={"X-Client-ID": client_id})
            assert answer.get_json()["model_version"] == version
    text = client.get("/metrics").get_data(as_text=True)
    counts = {v: score_bins(text, "drift_bin_observations_total", v) for v in (champion, challenger)}
    reference = {v: score_bins(text, "drift_reference_share", v) for v in (champion, challenger)}
    for version in (champion, challenger):
        assert counts[version].sum() == len(rows), version  # every record, counted for the version that scored it
        assert metric_value(text, "drift_monitoring_enabled", version=version) == 1
        assert_in_own_deciles(counts[version], reference[version], version)
    assert not np.allclose(*(load_profile(path / v, v).score.edges[1:-1][:5] for v in (champion, challenger)))
    # The old behaviour: the challenger's scores in the champion's score deciles.
    scores = FraudModel.load(path / challenger).predict_proba(np.array([[r[f] for f in FEATURES] for r in rows]))
    old = np.histogram(scores, load_profile(path / champion, champion).score.edges)[0]
    with pytest.raises(AssertionError):
        assert_in_own_deciles(old, reference[champion], "the challenger in the champion's deciles")
    print(f"\nchallenger score shares per bin, its own deciles: {(counts[challenger] / len(rows)).round(3).tolist()}; "
          f"in the champion's deciles: {(old / len(rows)).round(3).tolist()} (PSI {psi(old, reference[champion]):.2f})")
    # Shadow: the champion answers, the challenger's background scores go to its own bins.
    write_deployment(path, champion, {challenger: 0.0}, mode="shadow")
    client.post("/predict/batch", json={"records": rows[:1000]})
    app.extensions["versions"].queue.join()
    text = client.get("/metrics").get_data(as_text=True)
    shadowed = sum(metric_value(text, "shadow_predictions_total", version=challenger, class_name=c)
                   for c in ("fraud", "non_fraud"))
    assert shadowed == 1000 and score_bins(text, "drift_bin_observations_total", challenger).sum() == len(rows) + 1000
    assert score_bins(text, "drift_bin_observations_total", champion).sum() == len(rows) + 1000


def test_a_version_whose_profile_is_unusable_is_served_without_drift_counts(deployed, records, tmp_path, capsys):
    """Drift is monitoring, not serving: a challenger whose reference profile describes another model is routed and
    answers as configured, its drift counting is off (and says so), the champion's counting goes on."""
    path, champion, challenger = deployed
    copy = tmp_path / "models"
    shutil.copytree(path, copy)
    profile = json.loads((copy / challenger / "reference_profile.json").read_text())
    (copy / challenger / "reference_profile.json").write_text(json.dumps(profile | {"model_version": "gb-0ther000"}))
    client = create_app(Settings(model_dir=copy, log_requests=False)).test_client()
    answers = [client.post("/predict", json=records[1][0], headers={"X-Request-ID": f"p{i}"}) for i in range(200)]
    assert {r.status_code for r in answers} == {200}
    answered = [r.get_json()["model_version"] for r in answers]
    text = client.get("/metrics").get_data(as_text=True)
    assert metric_value(text, "drift_monitoring_enabled", version=challenger) == 0 and answered.count(challenger) > 0
    assert metric_value(text, "drift_monitoring_enabled", version=champion) == 1
    assert not [line for line in text.splitlines()
                if line.startswith("drift_bin_observations_total{") and f'version="{challenger}"' in line]
    assert score_bins(text, "drift_bin_observations_total", champion).sum() == answered.count(champion)
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(e["event"] == "drift_monitoring_off" and e.get("version") == challenger for e in logged)
