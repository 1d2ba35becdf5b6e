"""Load the trained pipeline safely and score records fast.

joblib files are pickles and run code when loaded, so the artifact's sha256 is checked against the
model card *before* loading. A StandardScaler -> LogisticRegression pipeline is then folded into one
weight vector and bias: scoring a record is a dot product and a sigmoid (~1 µs), no DataFrame.
"""
import hashlib
import json
from pathlib import Path

import joblib
import numpy as np

ARTIFACT = "fraud_model.joblib"
CARD = "model_card.json"


class ModelLoadError(RuntimeError):
    """The model artifact is missing, tampered with, or not what the card describes."""


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class FraudModel:
    def __init__(self, pipeline, card: dict):
        self.pipeline = pipeline
        self.card = card
        self.version = card["version"]
        self.threshold = float(card["threshold"])
        self.features = list(card["feature_names"])
        self.weights, self.bias = self._fold_linear(pipeline)

    @classmethod
    def load(cls, model_dir: Path) -> "FraudModel":
        model_dir = Path(model_dir)
        card_path, artifact = model_dir / CARD, model_dir / ARTIFACT
        if not card_path.exists() or not artifact.exists():
            raise ModelLoadError(f"no model in {model_dir}: run notebook 01 (make workshop) to train one")
        card = json.loads(card_path.read_text())
        actual = sha256_of(artifact)
        if actual != card["artifact_sha256"]:
            raise ModelLoadError(f"{artifact} sha256 {actual[:12]}… does not match the model card; refusing to load")
        pipeline = joblib.load(artifact)
        expected = list(getattr(pipeline, "feature_names_in_", card["feature_names"]))
        if expected != list(card["feature_names"]):
            raise ModelLoadError("model card feature_names differ from the pipeline's")
        return cls(pipeline, card)

    @staticmethod
    def _fold_linear(pipeline):
        """(w, b) such that sigmoid(x @ w + b) equals the pipeline's fraud probability, or (None, None)."""
        steps = [step for _, step in pipeline.steps] if hasattr(pipeline, "steps") else [pipeline]
        if len(steps) != 2 or not hasattr(steps[0], "scale_") or not hasattr(steps[1], "coef_"):
            return None, None
        scaler, clf = steps
        scale = np.where(scaler.scale_ == 0, 1.0, scaler.scale_) if scaler.with_std else np.ones_like(scaler.mean_)
        mean = scaler.mean_ if scaler.with_mean else np.zeros_like(scale)
        coef = clf.coef_[0]
        weights = coef / scale
        bias = float(clf.intercept_[0] - np.dot(mean, weights))
        return weights, bias

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """Fraud probability for each row of a (n, n_features) float array in `self.features` order."""
        if self.weights is None:  # not a linear pipeline: slower generic path
            return self.pipeline.predict_proba(rows)[:, 1]
        with np.errstate(over="ignore", invalid="ignore"):  # absurd inputs give +-inf or NaN scores; the app checks
            z = rows @ self.weights + self.bias
            return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))
