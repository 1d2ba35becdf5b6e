"""Model versions (lesson 07): version folders, the deployment file, split and shadow routing, hot reload.

The versioned models are real: the session's linear champion and a small boosted-trees challenger trained on
the same synthetic data; the app is the real create_app() with app/versions.py plugged in.
"""
import json
import shutil

import pytest
from helpers import metric_value

from app import versions
from app.config import Settings
from app.main import create_app
from app.model import ARTIFACT, FraudModel
from workshop.deployment import promote, rollback, write_deployment


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
