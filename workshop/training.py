"""Training plumbing shared by notebook 01, tests and notebooks that need a model quickly.

Notebook 01 shows the lesson (pipeline, split, metrics, threshold); these functions hold the
bookkeeping: evaluation on held-out data, the model card, the sha256, the reference profile.
"""
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from app.drift import PROFILE
from app.model import ARTIFACT, CARD, sha256_of
from workshop.data import FEATURES, MONITORED_FEATURES, TARGET, load_dataset
from workshop.paths import MODELS_DIR
from workshop.reference_profile import build_reference_profile


@dataclass
class Split:
    X_train: pd.DataFrame
    X_val: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_val: pd.Series
    y_test: pd.Series


def split_dataset(df: pd.DataFrame, seed: int = 42, val_size: float = 0.2, test_size: float = 0.2) -> Split:
    """Stratified train/validation/test split (frauds are rare: every part keeps the same share)."""
    X, y = df[FEATURES], df[TARGET]
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=test_size, stratify=y, random_state=seed)
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=val_size / (1 - test_size), stratify=y_rest, random_state=seed)
    return Split(X_train, X_val, X_test, y_train, y_val, y_test)


def make_pipeline(C: float = 1.0, seed: int = 42) -> Pipeline:
    return Pipeline([("scale", StandardScaler()),
                     ("clf", LogisticRegression(C=C, max_iter=1000, random_state=seed))])


def best_f1_threshold(y_true, scores) -> float:
    """The score threshold with the highest F1 on (validation) data."""
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def evaluate(y_true, scores, threshold: float) -> dict:
    predicted = (np.asarray(scores) >= threshold).astype(int)
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted)),
        "f1": float(f1_score(y_true, predicted)),
        "roc_auc": float(roc_auc_score(y_true, scores)),
        "average_precision": float(average_precision_score(y_true, scores)),
        "n": int(len(predicted)),
        "n_fraud": int(np.sum(y_true)),
    }


def save_model(pipeline, split: Split, threshold: float, metrics: dict, data_source: str, seed: int,
               models_dir: Path = MODELS_DIR, as_champion: bool = True) -> dict:
    """Write models/<version>/: the artifact, its model card (with sha256), the training reference profile.

    The version is <kind>-<sha256[:8]> (lr: the linear pipeline, gb: boosted trees). `as_champion` also copies
    the three files to models/ itself, where lessons 01-06 and the tests load "the model"; lesson 07 trains
    challengers with as_champion=False and routes between the folders (app/versions.py, models/deployment.json).
    """
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = models_dir / f".{ARTIFACT}.tmp"
    joblib.dump(pipeline, staging)
    digest = sha256_of(staging)  # the service checks this before loading
    clf = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    kind = "lr" if hasattr(clf, "coef_") else "gb"
    version_dir = models_dir / f"{kind}-{digest[:8]}"
    version_dir.mkdir(exist_ok=True)
    os.replace(staging, version_dir / ARTIFACT)
    card = {
        "version": version_dir.name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": " + ".join(type(step).__name__ for _, step in getattr(pipeline, "steps", [("", pipeline)])),
        "params": {k: v for k, v in clf.get_params().items()
                   if isinstance(v, (int, float, str, bool, type(None)))},
        "data_source": data_source,
        "n_rows": int(len(split.X_train) + len(split.X_val) + len(split.X_test)),
        "split": {"train": len(split.X_train), "validation": len(split.X_val), "test": len(split.X_test)},
        "fraud_rate_train": float(split.y_train.mean()),
        "seed": seed,
        "feature_names": list(FEATURES),
        "threshold": float(threshold),
        "threshold_rule": "maximises F1 on the validation set",
        "metrics": metrics,
        "artifact": ARTIFACT,
        "artifact_sha256": digest,
    }
    (version_dir / CARD).write_text(json.dumps(card, indent=2))
    named = hasattr(pipeline, "feature_names_in_")  # fitted on a DataFrame (the linear pipeline) or on numpy
    train_scores = pipeline.predict_proba(split.X_train if named else split.X_train.to_numpy())[:, 1]
    profile = build_reference_profile(split.X_train[MONITORED_FEATURES], train_scores, seed=seed)
    profile["model_version"] = card["version"]
    (version_dir / PROFILE).write_text(json.dumps(profile))
    if as_champion:
        for name in (ARTIFACT, CARD, PROFILE):
            shutil.copyfile(version_dir / name, models_dir / name)
    return card


def train_and_save(models_dir: Path = MODELS_DIR, source: str = "auto", n_rows: int | None = None,
                   seed: int = 42) -> dict:
    """The whole notebook-01 recipe in one call, for lessons and tests that only need *a* model."""
    df, data_source = load_dataset(source=source, n_rows=n_rows, seed=seed)
    split = split_dataset(df, seed=seed)
    pipeline = make_pipeline(seed=seed).fit(split.X_train, split.y_train)
    threshold = best_f1_threshold(split.y_val, pipeline.predict_proba(split.X_val)[:, 1])
    metrics = evaluate(split.y_test, pipeline.predict_proba(split.X_test)[:, 1], threshold)
    return save_model(pipeline, split, threshold, metrics, data_source.description, seed, models_dir)


def ensure_model(models_dir: Path = MODELS_DIR, n_rows: int = 60_000, seed: int = 42) -> dict:
    """Return the model card, training a quick model first if notebook 01 has not been run."""
    card_path = Path(models_dir) / CARD
    if card_path.exists() and (Path(models_dir) / ARTIFACT).exists():
        return json.loads(card_path.read_text())
    print(f"No model in {models_dir}: training a quick one on {n_rows:,} rows (notebook 01 does this in full).")
    return train_and_save(models_dir, n_rows=n_rows, seed=seed)


def make_challenger(seed: int = 42, max_iter: int = 200) -> HistGradientBoostingClassifier:
    """Boosted trees: non-linear in the inputs, so no fast linear path; fit it on numpy arrays (no names)."""
    return HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=0.05, max_leaf_nodes=15,
                                          l2_regularization=1.0, early_stopping=False, random_state=seed)


def train_challenger(models_dir: Path = MODELS_DIR, source: str = "auto", n_rows: int | None = None,
                     seed: int = 42, max_iter: int = 200) -> dict:
    """Lesson 07's challenger on the champion's split (same seed): models/gb-<sha256[:8]>/, not the champion."""
    df, data_source = load_dataset(source=source, n_rows=n_rows, seed=seed)
    split = split_dataset(df, seed=seed)
    model = make_challenger(seed, max_iter).fit(split.X_train.to_numpy(), split.y_train)
    threshold = best_f1_threshold(split.y_val, model.predict_proba(split.X_val.to_numpy())[:, 1])
    metrics = evaluate(split.y_test, model.predict_proba(split.X_test.to_numpy())[:, 1], threshold)
    return save_model(model, split, threshold, metrics, data_source.description, seed, models_dir, as_champion=False)
