"""Training artifacts and the service's model loader."""
import json
import shutil

import joblib
import numpy as np
import pytest

from app.drift import PROFILE
from app.model import ARTIFACT, CARD, FraudModel, ModelLoadError
from workshop.data import FEATURES, MONITORED_FEATURES, load_dataset
from workshop.training import best_f1_threshold, evaluate, make_pipeline, split_dataset


def test_model_card_is_complete_and_honest(model_dir, model_card):
    assert set(model_card) >= {"version", "created_at", "data_source", "n_rows", "feature_names", "threshold",
                               "metrics", "artifact_sha256", "split"}
    assert model_card["feature_names"] == FEATURES
    m = model_card["metrics"]
    assert 0.5 < m["roc_auc"] <= 1 and 0 < m["average_precision"] < 1
    assert m["n"] == model_card["split"]["test"]  # metrics come from the held-out test set
    assert 0 < model_card["threshold"] < 1


def test_split_is_stratified_and_disjoint():
    df, _ = load_dataset(source="synthetic", n_rows=20_000, seed=3)
    s = split_dataset(df, seed=1)
    assert len(s.X_train) + len(s.X_val) + len(s.X_test) == len(df)
    assert not set(s.X_train.index) & set(s.X_test.index) and not set(s.X_val.index) & set(s.X_test.index)
    for y in (s.y_train, s.y_val, s.y_test):
        assert y.mean() == pytest.approx(df["Class"].mean(), rel=0.35)


def test_threshold_maximises_f1():
    y = np.array([0, 0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.8, 0.9, 0.85, 0.95])
    t = best_f1_threshold(y, scores)
    assert evaluate(y, scores, t)["f1"] == max(evaluate(y, scores, c)["f1"] for c in scores)


def test_fast_path_equals_pipeline(model_dir, records):
    model = FraudModel.load(model_dir)
    df, _ = records
    X = df[FEATURES]
    np.testing.assert_allclose(model.predict_proba(X.to_numpy()), model.pipeline.predict_proba(X)[:, 1],
                               rtol=1e-9, atol=1e-12)


def test_tampered_artifact_is_refused(model_dir, tmp_path):
    copy = tmp_path / "m"
    shutil.copytree(model_dir, copy)
    pipeline = joblib.load(copy / ARTIFACT)
    pipeline.named_steps["clf"].intercept_ += 5  # a changed model must not load under the old card
    joblib.dump(pipeline, copy / ARTIFACT)
    with pytest.raises(ModelLoadError, match="sha256"):
        FraudModel.load(copy)


def test_missing_model_says_what_to_do(tmp_path):
    with pytest.raises(ModelLoadError, match="notebook 01"):
        FraudModel.load(tmp_path)


def test_non_linear_pipeline_uses_generic_path(model_dir, records, tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    df, _ = records
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(df[FEATURES], df["Class"])
    card = json.loads((model_dir / CARD).read_text())
    model = FraudModel(forest, card)
    assert model.weights is None
    np.testing.assert_allclose(model.predict_proba(df[FEATURES].to_numpy()[:10]),
                               forest.predict_proba(df[FEATURES].to_numpy()[:10])[:, 1])


def test_reference_profile(model_dir):
    profile = json.loads((model_dir / PROFILE).read_text())
    assert set(profile["features"]) == set(MONITORED_FEATURES) and "Time" not in profile["features"]
    for desc in [*profile["features"].values(), profile["score"]]:
        assert sum(desc["proportions"]) == pytest.approx(1.0)
        assert len(desc["proportions"]) == len(desc["bin_edges"]) - 1
        assert desc["bin_edges"][0] is None and desc["bin_edges"][-1] is None
        assert len(desc["sample"]) > 100


def test_pipeline_learns_on_synthetic_data():
    df, _ = load_dataset(source="synthetic", n_rows=30_000, seed=5)
    s = split_dataset(df, seed=5)
    pipe = make_pipeline().fit(s.X_train, s.y_train)
    assert evaluate(s.y_test, pipe.predict_proba(s.X_test)[:, 1], 0.5)["roc_auc"] > 0.85
