"""The alerting lesson end to end: a fault in the real app travels through real Prometheus (lesson-speed
rules) and a real Alertmanager to the webhook receiver, and so does its recovery and the app going down.

Everything runs on free loopback ports in a tmp dir: scrape and evaluation every 1 s, rules derived with
windows / 30 (5m -> 10s) and `for:` / 30 (5m -> 10s, 1m -> 2s), Alertmanager group_wait/interval 1 s,
20 requests/s of traffic. Waits poll with generous timeouts (a loaded 2-core machine may be slow).
"""
from datetime import UTC, datetime, timedelta

import matplotlib
import pandas as pd
import pytest
import requests
from helpers import stop_traffic_then

from workshop import alerts, promql
from workshop.appserver import AppServer
from workshop.rules import lesson_rules
from workshop.stack import Stack, render_alertmanager_config
from workshop.traffic import run_in_background
from workshop.webhook import WebhookReceiver, has_alert

pytestmark = [pytest.mark.stack, pytest.mark.slow,
              pytest.mark.requires_binaries("prometheus", "alertmanager")]

JOB = "ml-model-app"
FAST_ROUTE = {"group_wait": "1s", "group_interval": "1s"}
TIMEOUT = 60  # per step; each normally takes 2-15 s


@pytest.fixture(scope="module")
def lesson(tmp_path_factory, model_dir):
    """Webhook receiver, app with faults, stack with lesson-speed rules, background traffic."""
    tmp = tmp_path_factory.mktemp("alerting")
    lesson_rules(tmp / "rules", window_speedup=30, for_speedup=30, min_window="10s")
    receiver = WebhookReceiver(port=0, log_path=tmp / "alerts.jsonl").start()
    app = stack = traffic = None
    try:
        config = render_alertmanager_config(receiver.url, tmp / "alertmanager.yml", route=FAST_ROUTE)
        app = AppServer(port=0, model_dir=model_dir, enable_faults=True, run_dir=tmp / "app").start()
        stack = Stack(mode="local", app_targets=[f"127.0.0.1:{app.port}"], scrape_interval="1s",
                      prometheus_port=0, alertmanager_port=0, alertmanager_config=config,
                      data_dir=tmp / "stack", rules_dir=tmp / "rules").start()
        traffic = run_in_background(f"{app.url}/predict", rate=20, concurrency=8, seed=0)
        yield {"receiver": receiver, "app": app, "stack": stack, "traffic": traffic}
    finally:
        stop_traffic_then(traffic, app, stack, receiver)


def set_fault(app: AppServer, **settings) -> None:
    response = requests.post(f"{app.url}/admin/faults", json=settings, timeout=5)
    assert response.ok, response.text


def test_stack_loads_the_lesson_rules_instead_of_the_committed_ones(lesson):
    stack = lesson["stack"]
    groups = promql.api_get(stack.prometheus_url, "rules")["groups"]
    files = {g["file"] for g in groups}
    assert files and all(f.startswith(str(stack.rules_dir)) for f in files), files
    latency = next(r for g in groups for r in g["rules"] if r["name"] == "ModelLatencyP95High")
    assert latency["duration"] == 10  # `for: 5m` / 30
    recording = next(r for g in groups for r in g["rules"] if r["name"] == "job_class_name:predictions:rate5m")
    assert "[10s]" in recording["query"]


def test_latency_fault_fires_resolves_and_api_down_fires_at_the_webhook(lesson):
    receiver, app, stack = lesson["receiver"], lesson["app"], lesson["stack"]
    began = datetime.now(UTC)
    stack.wait_for_targets(timeout=TIMEOUT)
    promql.wait_for(stack.prometheus_url, f'job:prediction_latency_seconds_count:rate5m{{job="{JOB}"}} > 1',
                    timeout=TIMEOUT)  # predictions reach Prometheus before the fault
    assert alerts.alert_state(stack.prometheus_url, "ModelLatencyP95High") == alerts.INACTIVE

    # 1. A 1 s latency fault: pending, then firing, then a notification on the warning route.
    set_fault(app, latency_seconds=1.0)
    fault_on = datetime.now(UTC)
    seen = alerts.watch_alert(stack.prometheus_url, "ModelLatencyP95High", timeout=TIMEOUT, echo=None)
    assert [t.state for t in seen][-2:] == [alerts.PENDING, alerts.FIRING], seen
    firing = receiver.wait_for(has_alert("ModelLatencyP95High", job=JOB), timeout=TIMEOUT)
    assert firing["receiver"] == "workshop-warning"
    (alert,) = [a for a in firing["alerts"] if a["labels"]["alertname"] == "ModelLatencyP95High"]
    assert alert["labels"]["severity"] == "warning"
    assert alert["annotations"]["runbook"] == "docs/runbook.md#modellatencyp95high"
    assert "P95 prediction latency of ml-model-app is" in alert["annotations"]["summary"]
    info = receiver.wait_for(has_alert("ModelFaultInjectionActive", job=JOB, fault="latency"), timeout=TIMEOUT)
    assert info["receiver"] == "workshop-info"

    # 2. Clearing the fault: once the slow requests leave the window, the resolved notification arrives.
    requests.delete(f"{app.url}/admin/faults", timeout=5).raise_for_status()
    fault_off = datetime.now(UTC)
    resolved = receiver.wait_for(has_alert("ModelLatencyP95High", status="resolved", job=JOB), timeout=TIMEOUT)
    assert resolved["receiver"] == "workshop-warning"
    assert alerts.alert_state(stack.prometheus_url, "ModelLatencyP95High") == alerts.INACTIVE

    # 3. The app stops: ModelApiDown reaches the critical route (a blip at startup, before the first scrape,
    #    may have fired it earlier: only an episode that started after the stop counts).
    lesson["traffic"].stop()
    stopped = datetime.now(UTC)
    app.stop()
    down = receiver.wait_for(has_alert("ModelApiDown", since=stopped - timedelta(seconds=1)), timeout=TIMEOUT)
    assert down["receiver"] == "workshop-critical"
    assert down["commonLabels"]["severity"] == "critical" and down["groupLabels"]["job"] == JOB
    held = alerts.alertmanager_alerts(stack.alertmanager_url, filter=f'job="{JOB}"')
    assert "active" in set(held.loc[held["alertname"] == "ModelApiDown", "state"])

    # The timeline Prometheus kept: pending before firing, both inside the fault's time span.
    timeline = alerts.alert_intervals(stack.prometheus_url, began)
    latency = timeline[timeline["alertname"] == "ModelLatencyP95High"]
    assert list(latency["state"]) == [alerts.PENDING, alerts.FIRING], timeline
    slack = pd.Timedelta(seconds=2)
    assert latency["start"].iloc[0] >= pd.Timestamp(fault_on) - slack
    assert latency["start"].iloc[1] <= pd.Timestamp(fault_off) + slack
    def after(payload: dict, moment: datetime) -> str:
        return f"{(pd.Timestamp(payload['receivedAt']) - pd.Timestamp(moment)).total_seconds():.1f} s"
    print(f"\nat the webhook: firing {after(firing, fault_on)} after the fault, resolved "
          f"{after(resolved, fault_off)} after clearing it, ModelApiDown {after(down, stopped)} after the stop")


def test_alert_timeline_plot_draws_every_alert_and_notification():
    matplotlib.use("Agg")
    t0 = pd.Timestamp("2024-01-01T00:00:00Z")
    intervals = pd.DataFrame({"alertname": ["A", "A", "B"], "state": ["pending", "firing", "firing"],
                              "start": [t0, t0 + pd.Timedelta("5s"), t0 + pd.Timedelta("8s")],
                              "end": [t0 + pd.Timedelta("5s"), t0 + pd.Timedelta("20s"), t0 + pd.Timedelta("9s")]})
    notifications = pd.DataFrame({"received_at": [(t0 + pd.Timedelta("6s")).isoformat()] * 2,
                                  "status": ["firing", "resolved"], "alertname": ["A", "C"]})
    ax = alerts.plot_alert_timeline(intervals, notifications, events={"fault on": t0})
    assert [label.get_text() for label in ax.get_yticklabels()] == ["A", "C", "B"]  # by first appearance
    assert len(ax.patches) == 3 and len(ax.collections) == 2  # 3 bars, firing and resolved markers
    with pytest.raises(ValueError, match="until"):
        alerts.watch_alert("http://127.0.0.1:1", "A", until="done")
