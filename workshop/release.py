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
Step 1 lives in workshop.release_evaluation, step 2 in workshop.release_gates, step 3 here.
"""
import argparse
import json
import shutil
import sys
from pathlib import Path

from app.model import CARD
from workshop.paths import DASHBOARDS_DIR, MODELS_DIR  # noqa: F401 (DASHBOARDS_DIR: re-exported for the tests)
from workshop.release_evaluation import (  # noqa: F401 (re-exported: lesson 08 and the tests use release.X)
    HOLDOUT_DIR,
    Holdout,
    evaluate,
    expected_calibration_error,
    freeze_holdout,
    load_holdout,
    scoring_cost,
    train_candidate,
)
from workshop.release_gates import (  # noqa: F401 (re-exported; GATES is the same list release_gate runs)
    GATES,
    Context,
    Gate,
    Policy,
    Report,
    candidate_dir,
    dashboards_gate,
    latency_gate,
    log,
    model_card_gate,
    quality_gate,
    release_gate,
    rules_gate,
)

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
