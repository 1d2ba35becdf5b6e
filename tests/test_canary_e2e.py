"""The release pipeline end to end, with a real Prometheus scraping the real app under steady traffic:
a good candidate passes the gate, runs as a canary and is promoted; a candidate with injected latency (only on
its own version) is rolled back by the canary analysis; the webhook receives both decisions; and no request
fails during either switch. Scrape every 1 s, canary looks every 2 s over a 10 s window (lesson speed).
"""
import json
import shutil
import time

import pytest
import requests
from helpers import stop_traffic_then

from app.versions import DEPLOYMENT
from workshop import canary, promql, release
from workshop.appserver import AppServer
from workshop.stack import Stack
from workshop.traffic import run_in_background
from workshop.webhook import WebhookReceiver

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.requires_binaries("prometheus", "promtool")]

POLICY = canary.CanaryPolicy(duration_s=16, step_s=2, window="10s", min_requests=15)
WEIGHT = 0.3


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, model_dir):
    tmp = tmp_path_factory.mktemp("canary")
    models = shutil.copytree(model_dir, tmp / "models")
    good = release.train_candidate(tmp / "good", models, C=0.1)
    slow = release.train_candidate(tmp / "slow", models, C=0.3)
    flaky = release.train_candidate(tmp / "flaky", models, C=0.5)
    receiver = WebhookReceiver(port=0, log_path=tmp / "decisions.jsonl").start()
    app = stack = traffic = None
    try:
        app = AppServer(port=0, model_dir=models, enable_faults=True, run_dir=tmp / "app").start()
        stack = Stack(mode="local", app_targets=[f"127.0.0.1:{app.port}"], scrape_interval="1s",
                      prometheus_port=0, alertmanager=False, data_dir=tmp / "stack", fresh=True).start()
        traffic = run_in_background(f"{app.url}/predict", rate=30, concurrency=8, seed=0, progress=False)
        yield {"models": models, "good": good, "slow": slow, "flaky": flaky, "receiver": receiver, "app": app, "stack": stack,
               "traffic": traffic}
    finally:
        stop_traffic_then(traffic, app, stack, receiver)


def serving(app) -> str:
    return requests.get(f"{app.url}/ready", timeout=5).json()["model_version"]


def test_a_good_candidate_passes_the_gate_runs_as_a_canary_and_is_promoted(pipeline):
    models, app, prom = pipeline["models"], pipeline["app"], pipeline["stack"].prometheus_url
    champion = serving(app)
    report = release.release_gate(pipeline["good"], models)
    assert report.passed, report.table().to_string()
    version = release.register(pipeline["good"], models)
    canary.deploy(models, version, weight=WEIGHT)
    result = canary.analyse(prom, models, version, POLICY, webhook_url=pipeline["receiver"].url)
    print(f"\n{result.decision} after {result.seconds:.1f} s: {result.reason}")
    print(result.steps[["t_s", "candidate_requests", "p95_candidate_s", "p95_champion_s", "score_psi", "srm_p",
                        "candidate_share"]].to_string())
    assert result.decision == canary.PROMOTE, result.reason
    assert result.seconds >= POLICY.duration_s and result.steps["enough_data"].sum() >= 3
    assert abs(result.steps["candidate_share"].iloc[-1] - WEIGHT) < 0.1  # the split did route ~30 %
    assert json.loads((models / DEPLOYMENT).read_text()) == {"champion": version, "challengers": {},
                                                             "mode": "split"}
    promql.wait_for(prom, f'model_routing_weight{{version="{version}"}} == 1', timeout=20)
    assert serving(app) == version != champion  # no restart: the app re-read the deployment file


def test_a_candidate_with_injected_latency_is_rolled_back_automatically(pipeline):
    models, app, prom = pipeline["models"], pipeline["app"], pipeline["stack"].prometheus_url
    champion = serving(app)
    version = release.register(pipeline["slow"], models)
    canary.deploy(models, version, weight=WEIGHT)
    requests.post(f"{app.url}/admin/faults", json={"latency_seconds": 0.25, "version": version},
                  timeout=5).raise_for_status()
    try:
        result = canary.analyse(prom, models, version, POLICY, webhook_url=pipeline["receiver"].url)
    finally:
        requests.delete(f"{app.url}/admin/faults", timeout=5)
    print(f"\n{result.decision} after {result.seconds:.1f} s: {result.reason}")
    assert result.decision == canary.ROLLBACK and "P95 latency" in result.reason, result.reason
    assert result.seconds < POLICY.duration_s  # the first failed look decides
    assert result.steps["p95_candidate_s"].iloc[-1] > 0.1 > result.steps["p95_champion_s"].iloc[-1]
    assert json.loads((models / DEPLOYMENT).read_text())["champion"] == champion
    promql.wait_for(prom, f'model_routing_weight{{version="{version}"}} == 0', timeout=20)
    assert serving(app) == champion


def test_the_webhook_received_each_decision_and_no_request_failed(pipeline):
    received = pipeline["receiver"].received
    decisions = [p["decision"]["decision"] for p in received]
    assert decisions == [canary.PROMOTE, canary.ROLLBACK], decisions
    assert [p["alerts"][0]["labels"]["alertname"] for p in received] == ["CanaryPromoted", "CanaryRolledBack"]
    assert "P95 latency" in received[1]["alerts"][0]["annotations"]["summary"]
    summary = pipeline["traffic"].stop()
    print(f"\n{summary}")
    assert summary.sent >= 500 and summary.errors == {} and summary.succeeded == summary.sent, summary


def test_errors_and_a_broken_split_fail_their_checks(pipeline):
    """The error-ratio and SRM checks can fail too: a candidate answering half its requests with 500 is rolled
    back for its error ratio, and a look told the wrong weight (5 % instead of 30 %) sees a sample ratio mismatch."""
    models, app, prom = pipeline["models"], pipeline["app"], pipeline["stack"].prometheus_url
    traffic = run_in_background(f"{app.url}/predict", rate=30, concurrency=8, seed=1, progress=False)
    try:
        version = release.register(pipeline["flaky"], models)
        canary.deploy(models, version, weight=WEIGHT)
        requests.post(f"{app.url}/admin/faults", json={"error_rate": 0.5, "version": version},
                      timeout=5).raise_for_status()
        promql.wait_for(prom, f'model_routing_weight{{version="{version}"}} == {WEIGHT}', timeout=20)
        since = time.time()
        promql.wait_for(prom, f'sum(increase(prediction_latency_seconds_count{{version="{version}"}}[10s])) > 40',
                        timeout=30)
        champion = json.loads((models / DEPLOYMENT).read_text())["champion"]
        wrong = canary.look(prom, version, champion, 0.05, POLICY, since)
        assert any(f.startswith("sample ratio mismatch") for f in wrong["failures"]), wrong
        result = canary.analyse(prom, models, version, POLICY)
    finally:
        requests.delete(f"{app.url}/admin/faults", timeout=5)
        summary = traffic.stop()
    assert result.decision == canary.ROLLBACK and "error ratio" in result.reason, result.reason
    assert set(summary.errors) == {"500"}, summary  # only the injected faults failed
