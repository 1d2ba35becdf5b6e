"""The monitoring stack: Prometheus + Alertmanager (+ Grafana in Docker mode), from notebooks or the shell.

Shell (the Makefile): `python -m workshop.stack up|down|status`.
Python (notebooks, tests)::

    stack = Stack().start()   # or: with Stack(app_targets=["127.0.0.1:8123"], scrape_interval="1s") as s:
    stack.prometheus_url, stack.alertmanager_url, stack.grafana_url (None without Docker), stack.mode
    stack.stop()

Modes: "docker" when a Docker engine answers (`docker compose up` with docker-compose.yml), else "local":
the `prometheus` and `prometheus-alertmanager`/`alertmanager` binaries run as process groups bound to
127.0.0.1, with config, data, logs and a state file (pids, URLs) in `data_dir` (default .run/stack/).
Both modes use the committed prometheus/ files; local mode renders a copy with local addresses (see the
comment at the top of prometheus/prometheus.yml). `start()` is idempotent: a live stack recorded in
`data_dir` is reused (and reconfigured), never duplicated. Processes a Stack starts are stopped by
`stop()`, at interpreter exit (a notebook kernel shutting down) or by `python -m workshop.stack down`,
unless `keep_running=True` (what `up` uses, so the stack outlives the shell command).
"""
from workshop.procs import is_ready
from workshop.stack.cli import describe, main
from workshop.stack.config import render_alertmanager_config
from workshop.stack.core import Stack

__all__ = ["Stack", "describe", "is_ready", "main", "render_alertmanager_config"]
