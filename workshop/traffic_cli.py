"""`workshop-traffic` / `python -m workshop.traffic`: simulated traffic from the shell (see workshop.traffic)."""
import argparse
import json
import sys

from workshop.data import SOURCES
from workshop.scenarios import parse_scenario, usage
from workshop.traffic import (
    DEFAULT_ROWS,
    DEFAULT_SEED,
    DEFAULT_SOURCE,
    DEFAULT_URL,
    RemoteTargetError,
    check_target,
    default_dataset,
    simulate,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workshop-traffic", description="Replay dataset records against the model app's /predict.",
        epilog=usage(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=DEFAULT_URL, help=f"prediction endpoint (default {DEFAULT_URL})")
    parser.add_argument("--rate", type=float, default=10.0, help="target requests/s, 0 = unlimited (default 10)")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--count", type=int, help="stop after this many requests")
    parser.add_argument("--concurrency", type=int, default=4, help="worker threads (default 4)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the dataset and the sampling")
    parser.add_argument("--scenario", default="clean", help="traffic scenario spec (see below; default clean)")
    parser.add_argument("--source", default=DEFAULT_SOURCE, choices=SOURCES, help="dataset source (default synthetic)")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows to load from the source")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-request timeout in seconds")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--allow-remote", action="store_true", help="allow a target that is not this machine")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.count is None and args.duration is None:
        parser.error("give --count and/or --duration")
    try:
        check_target(args.url, args.allow_remote)
        scenario = parse_scenario(args.scenario)
        df = default_dataset(args.seed, args.source, args.rows)
    except RemoteTargetError as exc:
        print(f"workshop-traffic: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:  # bad URL, scenario spec or data source
        parser.error(str(exc))
    summary = simulate(args.url, df, rate=args.rate, duration=args.duration, count=args.count,
                       concurrency=args.concurrency, seed=args.seed, scenario=scenario, timeout=args.timeout,
                       progress=not args.no_progress, allow_remote=args.allow_remote)
    print(json.dumps(summary.as_dict(), indent=2) if args.json else summary)
    return 1 if summary.sent and not summary.succeeded else 0

