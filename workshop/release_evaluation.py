"""Step 1 of the release gate (workshop.release): both models scored on the same FROZEN held-out data.

The champion's own test split is rebuilt once from its model card (data source, rows, seed) and written to
models/holdout/holdout.npz with its sha256; every later evaluation checks that sha256, so the data cannot change
under the comparison. Measured: average precision, recall at the model's own threshold, expected calibration
error (ECE, 10 equal-width bins), scoring cost per record (a 1,000-record batch) and P95 time to score one record.
Also: train_candidate, a candidate on the champion's data and split (lesson 08's good and worse candidates).
"""
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score

from app.model import CARD, FraudModel, sha256_of
from workshop.paths import MODELS_DIR

HOLDOUT_DIR = "holdout"


@dataclass(frozen=True)
class Holdout:
    X: np.ndarray
    y: np.ndarray
    features: list[str]
    sha256: str
    source: str

    @property
    def n_fraud(self) -> int:
        return int(self.y.sum())


def _source_of(card: dict) -> str:
    described = card.get("data_source", "")
    return "synthetic" if described.startswith("Synthetic") else "openml" if described.startswith("OpenML") \
        else "csv"


def freeze_holdout(champion_dir: Path, out_dir: Path | None = None) -> Path:
    """Write the champion's test split (rebuilt from its card) to out_dir/holdout.npz + holdout.json (sha256)."""
    from workshop.data import load_dataset
    from workshop.training import split_dataset

    card = json.loads((Path(champion_dir) / CARD).read_text())
    out_dir = Path(out_dir or Path(champion_dir) / HOLDOUT_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    source = _source_of(card)
    df, _ = load_dataset(source=source, n_rows=card["n_rows"], seed=card["seed"])
    split = split_dataset(df, seed=card["seed"])
    path = out_dir / "holdout.npz"
    np.savez_compressed(path, X=split.X_test.to_numpy(float), y=split.y_test.to_numpy(int),
                        features=np.array(card["feature_names"]))
    meta = {"sha256": sha256_of(path), "source": source, "rows": len(split.y_test),
            "frauds": int(split.y_test.sum()), "from_model": card["version"], "seed": card["seed"]}
    (out_dir / "holdout.json").write_text(json.dumps(meta, indent=2))
    return path


def load_holdout(models_dir: Path = MODELS_DIR) -> Holdout:
    """The frozen held-out data under models_dir/holdout/ (frozen from the champion on first use)."""
    folder = Path(models_dir) / HOLDOUT_DIR
    if not (folder / "holdout.json").exists():
        freeze_holdout(models_dir, folder)
    meta = json.loads((folder / "holdout.json").read_text())
    actual = sha256_of(folder / "holdout.npz")
    if actual != meta["sha256"]:
        raise ValueError(f"{folder}/holdout.npz changed since it was frozen (sha256 {actual[:12]}… != "
                         f"{meta['sha256'][:12]}…): delete the folder to freeze it again, on purpose")
    with np.load(folder / "holdout.npz") as data:
        return Holdout(data["X"], data["y"], data["features"].tolist(), actual, meta["source"])


def expected_calibration_error(y, p, bins: int = 10) -> float:
    """Sum over equal-width probability bins of (share of records) x |mean predicted - observed fraud rate|."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(which):
        inside = which == b
        total += inside.mean() * abs(p[inside].mean() - y[inside].mean())
    return float(total)


def scoring_cost(model: FraudModel, X: np.ndarray, repeats: int = 3, singles: int = 200) -> tuple[float, float]:
    """(µs per record in a 1,000-record batch (best of `repeats`), P95 ms to score ONE record, as /predict does)."""
    batch = X[:1000]
    best = min(_timed(model.predict_proba, batch) for _ in range(repeats))
    one = [_timed(model.predict_proba, X[i % len(X)][None, :]) for i in range(singles)]
    return best / len(batch) * 1e6, float(np.percentile(one, 95)) * 1e3


def _timed(fn, arg) -> float:
    start = time.perf_counter()
    fn(arg)
    return time.perf_counter() - start


def evaluate(model_dir: Path, holdout: Holdout) -> dict:
    """A model (loaded the way the app loads it: sha256 checked) on the frozen held-out data."""
    model = FraudModel.load(model_dir)
    if model.features != holdout.features:
        raise ValueError(f"{model.version}: its features differ from the held-out data's")
    p = model.predict_proba(holdout.X)
    caught = (p >= model.threshold) & (holdout.y == 1)
    us_per_record, p95_ms = scoring_cost(model, holdout.X)
    return {"version": model.version, "average_precision": float(average_precision_score(holdout.y, p)),
            "recall": float(caught.sum() / max(holdout.n_fraud, 1)), "threshold": model.threshold,
            "ece": expected_calibration_error(holdout.y, p), "us_per_record": us_per_record,
            "p95_ms_one_record": p95_ms}


def train_candidate(out_dir: Path, champion_dir: Path = MODELS_DIR, C: float = 1.0, lost_fraud_labels: float = 0.0,
                    seed: int = 1) -> Path:
    """A candidate on the champion's data and split: logistic regression with strength C; `lost_fraud_labels`
    relabels that share of the training frauds as legitimate (a labelling bug: the worse candidate)."""
    from workshop.data import load_dataset
    from workshop.training import best_f1_threshold, make_pipeline, save_model, split_dataset
    from workshop.training import evaluate as evaluate_split

    card = json.loads((Path(champion_dir) / CARD).read_text())
    df, source = load_dataset(source=_source_of(card), n_rows=card["n_rows"], seed=card["seed"])
    split = split_dataset(df, seed=card["seed"])
    y = split.y_train.copy()
    frauds = np.flatnonzero(y.to_numpy() == 1)
    lost = np.random.default_rng(seed).choice(frauds, int(len(frauds) * lost_fraud_labels), replace=False)
    y.iloc[lost] = 0
    pipeline = make_pipeline(C=C, seed=seed).fit(split.X_train, y)
    threshold = best_f1_threshold(split.y_val, pipeline.predict_proba(split.X_val)[:, 1])
    metrics = evaluate_split(split.y_test, pipeline.predict_proba(split.X_test)[:, 1], threshold)
    card = save_model(pipeline, split, threshold, metrics, source.description, card["seed"], Path(out_dir))
    folder = Path(out_dir) / card["version"]
    return folder if (folder / CARD).exists() else Path(out_dir)

