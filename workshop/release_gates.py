"""Step 2 of the release gate (workshop.release): the gates, each with a reason when it fails, and
release_gate(), which evaluates candidate and champion (workshop.release_evaluation) and runs them.

Gates: quality not worse than the champion beyond a tolerance, latency budget, model card complete and sha256
matching, `promtool test rules` passes, and every dashboard panel and rule still selects metrics and label
values an app serving the candidate exports (workshop.selectors). Every step is one JSON line on stdout (`log`).
"""
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from app.model import ARTIFACT, CARD, ModelLoadError, sha256_of
from workshop.paths import DASHBOARDS_DIR, MODELS_DIR, RULE_TESTS_DIR, RULES_DIR
from workshop.release_evaluation import Holdout, evaluate, load_holdout
from workshop.rules import promtool, rule_files, rule_test_files
from workshop.selectors import dead_selectors, exported_by_app, promql_sources, unknown_metrics

CARD_FIELDS = ("version", "created_at", "model", "data_source", "n_rows", "seed", "feature_names", "threshold",
               "threshold_rule", "metrics", "artifact", "artifact_sha256")
CARD_METRICS = ("average_precision", "recall", "precision")


def log(event: str, **fields) -> dict:
    """One structured log line (JSON on stdout): what the pipeline did, when, with which numbers."""
    record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event, **fields}
    print(json.dumps(record, default=str), flush=True)
    return record



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
    return Gate("latency", ok, f"P95 to score one record {_duration_ms(p95)} {'<=' if ok else '>'} budget {budget} ms",
                {"p95_ms_one_record": round(p95, 4), "us_per_record": round(ctx.candidate["us_per_record"], 4)})


def _duration_ms(ms: float) -> str:
    """A duration given in ms, in µs below a millisecond (a one-record score takes a few µs)."""
    return f"{ms * 1e3:.1f} µs" if ms < 1 else f"{ms:.2f} ms"


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

