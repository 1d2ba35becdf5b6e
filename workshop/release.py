"""The release gate, as code: may this candidate model replace the champion? (lesson 08)

    report = release_gate("models/lr-1a2b3c4d")        # or a version name under models/
    report.table()                                     # one row per gate: passed, reason
    report.passed

    make release CANDIDATE=models/lr-1a2b3c4d          # the same, then register + deploy it as a canary
    python -m workshop.release CANDIDATE [--mode canary|shadow] [--weight 0.1] [--no-deploy]

1. Both models are scored on the same FROZEN held-out data: the champion's own test split, rebuilt once from
   its model card (data source, rows, seed) and written to models/holdout/holdout.npz with its sha256; every
   later evaluation checks that sha256, so the data cannot change under the comparison.
   Measured: average precision, recall at the model's own threshold, expected calibration error (ECE, 10
   equal-width bins), scoring cost per record (a 1,000-record batch) and P95 time to score one record.
2. Gates, each with a reason when it fails: quality not worse than the champion beyond a tolerance, latency
   budget, model card complete and sha256 matching, `promtool test rules` passes, and every dashboard panel and
   rule still selects metrics and label values an app serving the candidate exports (workshop.selectors).
3. A candidate that passes is registered (copied to models/<version>/) and deployed through lesson 07's
   deployment file: a canary (a share of the requests) or a shadow (scores every request, answers none).
Every step is one JSON line on stdout (`log`), so CI and the notebook read the same record.
"""
import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from app.model import ARTIFACT, CARD, FraudModel, ModelLoadError, sha256_of
from workshop.paths import DASHBOARDS_DIR, MODELS_DIR, RULE_TESTS_DIR, RULES_DIR
from workshop.rules import promtool, rule_files, rule_test_files
from workshop.selectors import dead_selectors, exported_by_app, promql_sources, unknown_metrics

HOLDOUT_DIR = "holdout"
CARD_FIELDS = ("version", "created_at", "model", "data_source", "n_rows", "seed", "feature_names", "threshold",
               "threshold_rule", "metrics", "artifact", "artifact_sha256")
CARD_METRICS = ("average_precision", "recall", "precision")


def log(event: str, **fields) -> dict:
    """One structured log line (JSON on stdout): what the pipeline did, when, with which numbers."""
    record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event, **fields}
    print(json.dumps(record, default=str), flush=True)
    return record


# ---------------------------------------------------------------- 1. evaluation on frozen held-out data

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


# ---------------------------------------------------------------- 2. gates

@dataclass(frozen=True)
class Policy:
    """What the gates accept. Tolerances are absolute: on ~20 held-out frauds one fraud is 5 recall points."""
    ap_tolerance: float = 0.05        # candidate AP >= champion AP - this
    recall_tolerance: float = 0.10    # candidate recall >= champion recall - this
    ece_tolerance: float = 0.01       # candidate ECE <= champion ECE + this
    max_p95_ms_one_record: float = 10.0  # scoring one record: a small part of the 500 ms P95 the alerts allow


@dataclass
class Gate:
    name: str
    passed: bool
    reason: str
    details: dict = field(default_factory=dict)


@dataclass
class Context:
    """What a gate looks at."""
    candidate_dir: Path
    champion_dir: Path
    candidate: dict      # evaluate() of the candidate
    champion: dict       # evaluate() of the champion
    card: dict           # the candidate's model card
    policy: Policy
    holdout: Holdout
    rules_dir: Path = RULES_DIR                # what the rules and dashboards gates check (tests point
    rule_tests_dir: Path = RULE_TESTS_DIR      # them at broken copies to show the gates can fail)
    dashboards_dir: Path = DASHBOARDS_DIR


def quality_gate(ctx: Context) -> Gate:
    c, b, p = ctx.candidate, ctx.champion, ctx.policy
    worse = []
    if c["average_precision"] < b["average_precision"] - p.ap_tolerance:
        worse.append(f"average precision {c['average_precision']:.3f} < champion {b['average_precision']:.3f} "
                     f"- {p.ap_tolerance}")
    if c["recall"] < b["recall"] - p.recall_tolerance:
        worse.append(f"recall {c['recall']:.3f} < champion {b['recall']:.3f} - {p.recall_tolerance}")
    if c["ece"] > b["ece"] + p.ece_tolerance:
        worse.append(f"calibration error {c['ece']:.4f} > champion {b['ece']:.4f} + {p.ece_tolerance}")
    return Gate("quality", not worse, "; ".join(worse) or "not worse than the champion beyond the tolerances",
                {k: round(c[k] - b[k], 4) for k in ("average_precision", "recall", "ece")})


def latency_gate(ctx: Context) -> Gate:
    p95, budget = ctx.candidate["p95_ms_one_record"], ctx.policy.max_p95_ms_one_record
    ok = p95 <= budget
    return Gate("latency", ok, f"P95 to score one record {p95:.2f} ms {'<=' if ok else '>'} budget {budget} ms",
                {"p95_ms_one_record": round(p95, 3), "us_per_record": round(ctx.candidate["us_per_record"], 2)})


def model_card_gate(ctx: Context) -> Gate:
    card, problems = ctx.card, []
    problems += [f"missing {name}" for name in CARD_FIELDS if card.get(name) in (None, "", [], {})]
    problems += [f"metrics.{name} missing" for name in CARD_METRICS if name not in card.get("metrics", {})]
    artifact = ctx.candidate_dir / ARTIFACT
    if card.get("artifact_sha256") and sha256_of(artifact) != card["artifact_sha256"]:
        problems.append(f"{ARTIFACT} sha256 does not match the card")
    champion = json.loads((ctx.champion_dir / CARD).read_text())
    if card.get("feature_names") != champion["feature_names"]:
        problems.append("feature_names differ from the champion's (the API's schema would change)")
    return Gate("model_card", not problems, "; ".join(problems) or "complete, sha256 matches, same features")


def rules_gate(ctx: Context) -> Gate:
    checked = promtool("check", "rules", *rule_files(ctx.rules_dir))
    if checked.returncode:
        return Gate("rules", False, "promtool check rules: " + " ".join((checked.stdout + checked.stderr).split())[:400])
    tested = promtool("test", "rules", *rule_test_files(ctx.rule_tests_dir))
    if tested.returncode:
        blocks = tested.stdout.split("Unit Testing:")[1:]
        failing = [Path(b.split()[0]).name for b in blocks if "SUCCESS" not in b]
        return Gate("rules", False, f"promtool test rules FAILED in {', '.join(failing)}: "
                    + " ".join(tested.stderr.replace("FAILED:", "").split())[:400])
    return Gate("rules", True, f"promtool check + test rules pass ({len(rule_test_files(ctx.rule_tests_dir))} test files)")


def dashboards_gate(ctx: Context) -> Gate:
    row = dict(zip(ctx.holdout.features, ctx.holdout.X[0].tolist(), strict=True))
    seen = exported_by_app(ctx.champion_dir, row, challenger_dir=ctx.candidate_dir)
    sources = promql_sources(ctx.rules_dir, ctx.dashboards_dir)
    problems = unknown_metrics(sources, seen.names, ctx.rules_dir) + dead_selectors(sources, seen.labels)
    return Gate("dashboards", not problems, "; ".join(problems[:5]) or
                f"all {len(sources)} panel and rule queries select metrics and labels the app exports",
                {"problems": len(problems)})


GATES: list[Callable[[Context], Gate]] = [quality_gate, latency_gate, model_card_gate, rules_gate, dashboards_gate]


@dataclass
class Report:
    candidate: dict
    champion: dict
    gates: list[Gate]
    holdout: dict

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def failed(self) -> list[Gate]:
        return [g for g in self.gates if not g.passed]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([{"gate": g.name, "passed": g.passed, "reason": g.reason} for g in self.gates])

    def metrics(self) -> pd.DataFrame:
        names = ["average_precision", "recall", "ece", "us_per_record", "p95_ms_one_record"]
        return pd.DataFrame({"champion " + self.champion["version"]: [self.champion[n] for n in names],
                             "candidate " + self.candidate["version"]: [self.candidate[n] for n in names]},
                            index=names)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "candidate": self.candidate, "champion": self.champion,
                "holdout": self.holdout, "gates": [asdict(g) for g in self.gates]}


def candidate_dir(candidate: str | Path, models_dir: Path = MODELS_DIR) -> Path:
    """A model folder (with model_card.json), or a version name under models_dir."""
    for path in (Path(candidate), Path(models_dir) / str(candidate)):
        if (path / CARD).exists():
            return path
    raise FileNotFoundError(f"no model card in {candidate} nor in {Path(models_dir) / str(candidate)}")


def release_gate(candidate: str | Path, models_dir: Path = MODELS_DIR, policy: Policy = Policy(),
                 gates: list[Callable[[Context], Gate]] | None = None, **dirs: Path) -> Report:
    """Evaluate candidate and champion (models_dir) on the frozen held-out data, then run every gate."""
    models_dir = Path(models_dir)
    path = candidate_dir(candidate, models_dir)
    holdout = load_holdout(models_dir)
    log("holdout", rows=len(holdout.y), frauds=holdout.n_fraud, sha256=holdout.sha256[:16], source=holdout.source)
    card = json.loads((path / CARD).read_text())
    try:
        cand = evaluate(path, holdout)
    except (ModelLoadError, ValueError, KeyError) as exc:  # a tampered artifact is refused before loading
        cand = {"version": card.get("version", path.name), "error": str(exc)}
        gate = Gate("model_card", False, f"cannot load the candidate: {exc}")
        log("gate", name=gate.name, passed=False, reason=gate.reason)
        return Report(cand, {"version": "-"}, [gate], {"sha256": holdout.sha256})
    champ = evaluate(models_dir, holdout)
    for who, result in (("candidate", cand), ("champion", champ)):
        log("evaluated", role=who, **{k: round(v, 6) if isinstance(v, float) else v for k, v in result.items()})
    ctx = Context(path, models_dir, cand, champ, card, policy, holdout, **dirs)
    results = []
    for gate_fn in GATES if gates is None else gates:
        gate = gate_fn(ctx)
        results.append(gate)
        log("gate", name=gate.name, passed=gate.passed, reason=gate.reason, **gate.details)
    report = Report(cand, champ, results, {"sha256": holdout.sha256, "rows": len(holdout.y),
                                           "frauds": holdout.n_fraud})
    log("gate_decision", candidate=cand["version"], passed=report.passed,
        failed=[g.name for g in report.failed()])
    return report


# ---------------------------------------------------------------- 3. register and deploy

def register(candidate: str | Path, models_dir: Path = MODELS_DIR) -> str:
    """Copy the candidate to models_dir/<version>/ (the card last: a folder with a card is complete)."""
    source = candidate_dir(candidate, models_dir)
    card = json.loads((source / CARD).read_text())
    target = Path(models_dir) / card["version"]
    if source.resolve() != target.resolve():
        target.mkdir(parents=True, exist_ok=True)
        for item in sorted(source.iterdir(), key=lambda p: p.name == CARD):
            if item.is_file():
                shutil.copyfile(item, target / item.name)
    log("registered", version=card["version"], folder=str(target))
    return card["version"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.release", description=__doc__.split("\n")[0])
    parser.add_argument("candidate", help="a model folder, or a version under --models-dir")
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--mode", choices=("canary", "shadow"), default="canary")
    parser.add_argument("--weight", type=float, default=0.1, help="canary share of requests (default 0.1)")
    parser.add_argument("--no-deploy", action="store_true", help="only evaluate and gate")
    args = parser.parse_args(argv)
    report = release_gate(args.candidate, args.models_dir)
    if not report.passed:
        for gate in report.failed():
            print(f"REJECTED by {gate.name}: {gate.reason}", file=sys.stderr)
        return 1
    version = register(args.candidate, args.models_dir)
    if not args.no_deploy:
        from workshop.canary import deploy
        deploy(args.models_dir, version, mode=args.mode, weight=args.weight)
    return 0


if __name__ == "__main__":
    sys.exit(main())
