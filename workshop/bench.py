"""`make bench`: load the service on loopback and compare, in the same run, against a ceiling and a baseline.

- ceiling: a bare WSGI app (workshop/bare_app.py) under the SAME gunicorn settings as production mode;
- production: `gunicorn -c app/gunicorn_conf.py` (2 workers), data drift monitoring and prediction logging
  (lesson 06) on; then drift monitoring off; then prediction logging off (FEEDBACK=off);
- model versions (lesson 07): a 90/10 split between the linear champion and a boosted-trees challenger, and
  shadow mode (the champion answers, the challenger scores off the response path: its latency cost, and the
  share of records its bounded queue had to drop at full load);
- baseline: the seed lesson's naive app (workshop/naive_app.py: Flask dev server, a DataFrame per request);
- batch scoring: 1,000-row batches on /predict/batch, columnar vs one object per record, in rows/s;
- cold start: process start to the first `/ready` 200.
Load comes from `wrk` (`make bench` installs it). Single-request cases alternate round by round: the table
shows each case's median round, and every ratio is the median of the ratios within a round (cases measured in
the same minute), with their spread, because a machine shared with other work drifts in speed within a minute. Absolute numbers
differ up to 3x between machines and sessions; the ratios printed are the result.
Every run is bounded (a few seconds per case) and targets 127.0.0.1 only.
Running wrk: workshop.bench_wrk; the cases: workshop.bench_cases; the report: workshop.bench_report.
"""
import argparse
import json
import sys
from pathlib import Path

from workshop.bench_cases import run, without_drift_profile  # noqa: F401 (re-exported for the tests)
from workshop.bench_report import report
from workshop.bench_wrk import WRK_SCRIPT, WrkOutputError, parse_wrk  # noqa: F401 (re-exported for the tests)
from workshop.paths import MODELS_DIR


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measured run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (odd: the median counts)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--model-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--json", action="store_true", help="also print the raw results as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.rounds % 2 == 0:
        parser.error("--rounds must be odd (the median round counts)")
    results = run(args.seconds, args.connections, args.rounds, args.model_dir, args.batch_rows)
    print(report(results))
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
