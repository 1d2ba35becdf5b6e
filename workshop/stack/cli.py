"""`python -m workshop.stack up|down|status` (the Makefile's up, down and status)."""
import argparse
import json
import subprocess
import sys
from pathlib import Path

from workshop.paths import ALERTMANAGER_CONFIG
from workshop.stack.core import DEFAULT_DATA_DIR, DEFAULT_PORTS, Stack


def describe(status: dict) -> str:
    if not status["mode"]:
        return f"stack not running (no live stack recorded in {status['data_dir']})"
    health = "running" if status["running"] else "NOT READY"
    lines = [f"mode: {status['mode']}  ({health}; state in {status['data_dir']})"]
    for name, info in status["components"].items():
        pid = f"pid {info['pid']}" if info["pid"] else "container"
        pid += "  (anonymous viewers; admin password in .env)" if name == "grafana" else ""
        lines.append(f"  {name:<13}{info['url']:<26}{'ready' if info['ready'] else 'not ready':<11}{pid}")
    if "grafana" not in status["components"]:
        lines.append("  grafana      Docker mode only: the notebooks draw the dashboard panels inline")
    for t in status["targets"]:
        error = f"  ({t['last_error']})" if t["last_error"] else ""
        lines.append(f"  target {t['job']:<14}{t['instance']:<28}{t['health']}{error}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.stack", description="Start, stop or inspect the monitoring stack.")
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--mode", choices=["auto", "docker", "local"], default="auto")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--app-target", action="append", help="host:port of the app (repeatable; local mode)")
    parser.add_argument("--scrape-interval", help="e.g. 1s (local mode; default from prometheus.yml)")
    parser.add_argument("--prometheus-port", type=int, default=DEFAULT_PORTS["prometheus"])
    parser.add_argument("--alertmanager-port", type=int, default=DEFAULT_PORTS["alertmanager"])
    parser.add_argument("--alertmanager-config", type=Path, default=ALERTMANAGER_CONFIG)
    parser.add_argument("--no-alertmanager", action="store_true", help="Prometheus only (local mode)")
    parser.add_argument("--rules-dir", type=Path, help="rule files from here, not prometheus/rules (local mode)")
    parser.add_argument("--json", action="store_true", help="status as JSON")
    args = parser.parse_args(argv)
    stack = Stack(mode=args.mode, app_targets=args.app_target, scrape_interval=args.scrape_interval,
                  prometheus_port=args.prometheus_port, alertmanager_port=args.alertmanager_port,
                  alertmanager=not args.no_alertmanager, alertmanager_config=args.alertmanager_config,
                  data_dir=args.data_dir, keep_running=True, rules_dir=args.rules_dir)
    try:
        if args.command == "up":
            stack.start()
        elif args.command == "down":
            stack.stop(force=True)
            print("stack stopped")
            return 0
    except (RuntimeError, ValueError, OSError, TimeoutError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    status = stack.status()
    print(json.dumps(status, indent=2) if args.json else describe(status))
    return 0

