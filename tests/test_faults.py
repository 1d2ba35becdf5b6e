"""Faults the service survives, measured: real gunicorn, real Prometheus/Alertmanager, loopback only, bounded.

(a) Prometheus restarted during traffic: serving does not notice (0 errors, latency as before).
(b) Alertmanager down while an alert fires, then back: the notification still reaches the webhook.
(c) A gunicorn worker SIGKILLed under load: the app recovers, counts stay exact, only in-flight requests fail.

A component is brought down by its pid and back with the very command line it ran with (psutil), so the
restarted binary is the same one, on the same port, with the same storage.
"""
import os
import signal
import statistics
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests
from helpers import total_predictions, worker_children

from workshop import alerts, procs, promql
from workshop.appserver import AppServer
from workshop.rules import lesson_rules
from workshop.stack import Stack, render_alertmanager_config
from workshop.traffic import CONN, run_in_background
from workshop.webhook import WebhookReceiver, has_alert

pytestmark = pytest.mark.slow


def needs_stack(test):
    return pytest.mark.stack(pytest.mark.requires_binaries("prometheus", "alertmanager")(test))

RATE, CONCURRENCY = 60, 4   # requests/s and client threads: steady, far below what 2 workers serve
WINDOW = 6.0                # seconds of traffic measured before and after each fault
TIMEOUT = 60                # per wait; each normally takes 1-5 s
CLIENT_TIMEOUT = 5.0        # workshop.traffic's default per-request timeout


@pytest.fixture(scope="module")
def production(model_dir, tmp_path_factory):
    with AppServer(model_dir=model_dir, production=True, workers=2, threads=2,
                   run_dir=tmp_path_factory.mktemp("faults-app")) as server:
        yield server


class Recorder:
    """Every request's outcome with the moment it completed (on_result callback of workshop.traffic)."""

    def __init__(self):
        self.lock, self.rows = threading.Lock(), []

    def __call__(self, result) -> None:
        with self.lock:
            self.rows.append((time.monotonic(), result.status, result.latency_s))

    def window(self, start: float, end: float) -> list:
        with self.lock:
            return [row for row in self.rows if start <= row[0] < end]


def latency_ms(rows) -> dict:
    """p50 and p95 of the window's latencies (ms) and its size."""
    values = sorted(latency * 1000 for _, status, latency in rows if latency is not None)
    q = statistics.quantiles(values, n=20, method="inclusive")  # q[9] is the median, q[18] the 95th
    return {"n": len(values), "p50": q[9], "p95": q[18]}


def command_of(pid: int) -> list[str]:
    return psutil.Process(pid).cmdline()


def bring_down(stack: Stack, name: str) -> list[str]:
    """Stop one component of a local stack (SIGTERM to its group); return the command to bring it back."""
    pid = stack.status()["components"][name]["pid"]
    command = command_of(pid)
    assert procs.stop_pid(pid)
    return command


def bring_up(stack: Stack, name: str, command: list[str], log: Path):
    process = procs.start_process(command, log, cwd=stack.data_dir)
    procs.wait_http(stack.urls[name] + "/-/ready", timeout=TIMEOUT, process=process, log_path=log)
    return process


# ---------------------------------------------------------------- (a) Prometheus restarted

# The restart competes for the same 2 cores (Prometheus replays its WAL and reloads rules), so latency may
# rise a little, as with any busy neighbour. Serving does not depend on Prometheus: a dependency would show
# as errors, or latencies of the order of the downtime (seconds). So the "during" window may be at most
# 2x the worse of the windows before and after it, plus a few ms of scheduling noise on a shared machine.
LATENCY_RATIO, P50_SLACK_MS, P95_SLACK_MS = 2.0, 2.0, 10.0


@needs_stack
def test_prometheus_restart_leaves_serving_untouched(production, tmp_path):
    recorder = Recorder()
    with Stack(mode="local", app_targets=[f"127.0.0.1:{production.port}"], scrape_interval="1s",
               prometheus_port=0, alertmanager=False, data_dir=tmp_path / "stack") as stack:
        stack.wait_for_targets(timeout=TIMEOUT)
        traffic = run_in_background(f"{production.url}/predict", rate=RATE, concurrency=CONCURRENCY, seed=1,
                                    on_result=recorder)
        restarted = None
        try:
            t0 = time.monotonic()
            time.sleep(WINDOW)  # a measurement window, not a wait for readiness
            t1 = time.monotonic()
            command = bring_down(stack, "prometheus")
            restarted = bring_up(stack, "prometheus", command, tmp_path / "prometheus-restarted.log")
            stack.wait_for_targets(timeout=TIMEOUT)  # scraping again
            t2 = time.monotonic()
            time.sleep(WINDOW)
            t3 = time.monotonic()
            scraped = promql.wait_for(stack.prometheus_url, 'sum(predictions_total{job="ml-model-app"})',
                                      timeout=TIMEOUT)
        finally:
            summary = traffic.stop()
            if restarted is not None:
                procs.stop_process(restarted)
    before, during, after = (latency_ms(recorder.window(a, b)) for a, b in ((t0, t1), (t1, t2), (t2, t3)))
    print(f"\nPrometheus down and back in {t2 - t1:.1f} s; {summary.sent} requests, errors {summary.errors}; "
          f"latency ms before p50 {before['p50']:.2f} p95 {before['p95']:.2f} | during p50 {during['p50']:.2f} "
          f"p95 {during['p95']:.2f} (n={during['n']}) | after p50 {after['p50']:.2f} p95 {after['p95']:.2f}")
    assert summary.errors == {} and summary.succeeded == summary.sent
    assert during["n"] >= RATE * (t2 - t1) * 0.5, "traffic should keep flowing while Prometheus restarts"
    for q, slack in (("p50", P50_SLACK_MS), ("p95", P95_SLACK_MS)):
        baseline = max(before[q], after[q])
        assert during[q] <= LATENCY_RATIO * baseline + slack, (q, before, during, after)
    assert scraped["value"].iloc[0] > 0  # the restarted Prometheus scrapes the app again


# ---------------------------------------------------------------- (b) Alertmanager down, then back

# Prometheus re-sends a firing alert every --rules.alert.resend-delay (1m by default): that retry is what
# delivers an alert that fired while Alertmanager was down. The test restarts Prometheus with 1s, as the
# lesson stack shortens every other interval.
RESEND_DELAY = "--rules.alert.resend-delay=1s"


@needs_stack
def test_alert_fired_while_alertmanager_was_down_is_delivered_when_it_returns(production, tmp_path):
    lesson_rules(tmp_path / "rules", window_speedup=30, for_speedup=30, min_window="10s")  # ModelApiDown: for 2s
    dead = f"127.0.0.1:{procs.free_port()}"  # nothing listens there
    processes = []
    with WebhookReceiver(port=0, log_path=None) as receiver:
        config = render_alertmanager_config(receiver.url, tmp_path / "alertmanager.yml",
                                            route={"group_wait": "1s", "group_interval": "1s"})
        with Stack(mode="local", app_targets=[f"127.0.0.1:{production.port}"], scrape_interval="1s",
                   prometheus_port=0, alertmanager_port=0, alertmanager_config=config,
                   data_dir=tmp_path / "stack", rules_dir=tmp_path / "rules", fresh=True) as stack:
            try:
                processes.append(bring_up(stack, "prometheus", [*bring_down(stack, "prometheus"), RESEND_DELAY],
                                          tmp_path / "prometheus-fast-resend.log"))
                stack.wait_for_targets(timeout=TIMEOUT)
                am_command = bring_down(stack, "alertmanager")
                stack.set_app_targets([dead])  # the "app" goes down while Alertmanager is down
                alerts.watch_alert(stack.prometheus_url, "ModelApiDown", timeout=TIMEOUT, echo=None)
                failed = promql.wait_for(stack.prometheus_url, "sum(prometheus_notifications_errors_total) > 0",
                                         timeout=TIMEOUT)  # Prometheus tried to notify and could not
                assert receiver.received == []
                back = time.monotonic()
                processes.append(bring_up(stack, "alertmanager", am_command, tmp_path / "alertmanager-back.log"))
                payload = receiver.wait_for(has_alert("ModelApiDown", instance=dead), timeout=TIMEOUT)
                delivered = time.monotonic() - back
            finally:
                for process in processes:
                    procs.stop_process(process)
    print(f"\nModelApiDown fired with Alertmanager down ({failed['value'].iloc[0]:g} failed notification "
          f"sends); delivered {delivered:.1f} s after Alertmanager was started again")
    assert payload["receiver"] == "workshop-critical"


# ---------------------------------------------------------------- (c) a worker SIGKILLed under load

def test_sigkilled_worker_is_replaced_and_counts_stay_exact(production):
    before = total_predictions(production.url)
    recorder = Recorder()
    traffic = run_in_background(f"{production.url}/predict", rate=RATE * 2, concurrency=CONCURRENCY, seed=2,
                                on_result=recorder)
    try:
        time.sleep(WINDOW / 2)  # load before the kill
        workers = worker_children(production)
        victim = workers[0]
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + TIMEOUT
        while not (len(current := worker_children(production)) == len(workers) and victim not in current):
            assert time.monotonic() < deadline, f"worker {victim} not replaced: {current}"
            time.sleep(0.05)
        requests.get(f"{production.url}/ready", timeout=10).raise_for_status()
        replaced_in = time.monotonic() - killed_at
        time.sleep(WINDOW / 2)  # load after the replacement
    finally:
        summary = traffic.stop()
    failures = [row for row in recorder.rows if not row[1].startswith("2")]
    counted = total_predictions(production.url) - before
    print(f"\nworker {victim} SIGKILLed: replaced in {replaced_in:.1f} s; {summary.sent} requests, {summary.succeeded} ok, "
          f"failed {summary.errors or 0} at {[f'{t - killed_at:+.3f} s' for t, _, _ in failures]} from the kill; "
          f"predictions_total +{counted:g}")
    # Only requests on the killed worker's connections fail: the one in flight, or the next one sent on that
    # kept-alive connection before the client notices it is gone (all within ~0.1 s of the kill). A client
    # connection fails once and is replaced, so at most CONCURRENCY fail, as broken connections, never 5xx.
    assert len(failures) <= CONCURRENCY and set(summary.errors) <= {CONN}, summary.errors
    assert all(killed_at <= t <= killed_at + CLIENT_TIMEOUT + 1 for t, _, _ in failures)  # the kill's, not later
    # Every success is counted once. A request killed after its prediction was counted but before the
    # response left counts without succeeding: the excess is at most the failures.
    assert summary.succeeded <= counted <= summary.succeeded + len(failures), (summary.succeeded, counted, failures)
    metrics_dir = Path(production.environment()["PROMETHEUS_MULTIPROC_DIR"])
    assert not list(metrics_dir.glob(f"*_{victim}.db")), "the dead worker's files were folded away"
    for _ in range(4):  # every worker (the new one too) reports the same total
        assert total_predictions(production.url) - before == counted
