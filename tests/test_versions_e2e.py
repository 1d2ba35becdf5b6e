"""Model versions end to end (lesson 07's "Done when"): a real app, a real Prometheus with the version rules at
lesson speed, real traffic.

- gunicorn (2 workers) under continuous load: promote the challenger, then roll back, by rewriting the
  deployment file: zero non-2xx responses, both versions answered, no metric series lost.
- 90/10 split: chi-square under the critical value, no SRM alert; one heavy client pinned to the challenger
  (a sticky X-Client-ID) skews the split and fires the SRM alert; a latency fault on the challenger only
  fires the canary latency alert for the challenger, never for the champion.
"""
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from helpers import metric_value

from app.versions import bucket_of
from workshop import alerts, promql
from workshop.appserver import AppServer
from workshop.data import FEATURES, load_dataset
from workshop.deployment import promote, rollback, write_deployment
from workshop.polling import poll_until
from workshop.rules import lesson_rules
from workshop.stack import Stack
from workshop.traffic import run_in_background

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.requires_binaries("prometheus")]
# Lesson speed for these rules: 10m windows -> 30 s, 5m -> 20 s; `for:` 10m/5m -> 5 s.
WINDOWS = {"10m": "30s", "5m": "20s", "2h": "10m"}
FORS = {"10m": "5s", "5m": "5s", "1m": "5s"}


@pytest.fixture()
def models(versioned_dir, tmp_path):
    source, champion, challenger = versioned_dir
    path = tmp_path / "models"
    shutil.copytree(source, path)
    write_deployment(path, champion, {challenger: 0.1})
    return path, champion, challenger


def post_many(url: str, rows: list[dict], n: int, client_id=None, concurrency: int = 4) -> list[int]:
    """n POSTs to /predict (X-Client-ID from client_id(i) when given); the status codes."""
    local = threading.local()

    def one(i: int) -> int:
        session = local.__dict__.setdefault("s", requests.Session())
        headers = {"X-Client-ID": client_id(i)} if client_id else {}
        return session.post(f"{url}/predict", json=rows[i % len(rows)], headers=headers, timeout=10).status_code

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(n)))


def drift_scores(text: str, version: str) -> float:
    """Records whose score was counted for `version` (its drift series, summed over the 10 score bins)."""
    return sum(metric_value(text, "drift_bin_observations_total", version=version, feature="score", bin=str(b))
               for b in range(10))


def test_promote_and_roll_back_under_load_fail_no_request(models, tmp_path):
    """Under load: a new challenger arrives (10 %), is promoted, then rolled back. No request fails, no series
    is lost, and each version's drift counts start with its first request and count every record it scored."""
    path, champion, challenger = models
    write_deployment(path, champion)  # the champion alone; the challenger arrives under load
    with AppServer(port=0, model_dir=path, production=True, workers=2, run_dir=tmp_path / "app",
                   env={"DISABLE_REQUEST_LOGS": "1"}) as app:
        traffic = run_in_background(f"{app.url}/predict", rate=0, duration=24, concurrency=4, progress=False)
        time.sleep(3)
        before = requests.get(f"{app.url}/metrics", timeout=5).text
        write_deployment(path, champion, {challenger: 0.1})
        time.sleep(4)  # load is running on the 90/10 split
        promote(path, challenger)
        time.sleep(5)  # workers re-check the file at most once a second
        rollback(path, champion)
        time.sleep(4)
        summary = traffic.stop()
        # each worker's drift buffer reaches the counters within a second (its flush thread); poll, not sleep
        text = poll_until(lambda: requests.get(f"{app.url}/metrics", timeout=5).text,
                          lambda t: sum(drift_scores(t, v) for v in (champion, challenger)) >= summary.sent,
                          timeout=10, what="every scored record in the drift counters")
    assert summary.errors == {} and summary.succeeded == summary.sent > 200, summary
    assert drift_scores(before, champion) > 0 and f'version="{challenger}"' not in before  # not served yet
    for version in (champion, challenger):  # both answered; their series survive both reloads
        assert f'prediction_latency_seconds_count{{version="{version}"}}' in text
        assert f'predictions_total{{class_name="fraud",version="{version}"}}' in text
        assert metric_value(text, "drift_monitoring_enabled", version=version) == 1
    answered = {v: metric_value(text, "prediction_latency_seconds_count", version=v) for v in (champion, challenger)}
    assert sum(answered.values()) == summary.sent
    assert answered[challenger] > 0.2 * summary.sent, answered  # 10 % before and after, 100 % while promoted
    drifted = {v: drift_scores(text, v) for v in (champion, challenger)}
    assert drifted == answered, (drifted, answered)  # one record per request, each binned by its own version
    print(f"\npromote + rollback under load: {summary.sent} requests, {summary.achieved_rate:.0f}/s, "
          f"p99 {summary.latency_p99_ms:.1f} ms, non-2xx: {summary.errors or 0}, answered by {answered}, "
          f"scores counted for drift by {drifted}")


def test_srm_and_canary_alerts_on_a_real_prometheus(models, tmp_path):
    path, champion, challenger = models
    rows = load_dataset(source="synthetic", n_rows=500, seed=3)[0][FEATURES].to_dict(orient="records")
    rules = tmp_path / "rules"
    lesson_rules(rules, window_speedup=WINDOWS, for_speedup=FORS)
    start = time.monotonic()
    with AppServer(port=0, model_dir=path, enable_faults=True, run_dir=tmp_path / "app",
                   env={"DISABLE_REQUEST_LOGS": "1"}) as app, \
            Stack(mode="local", app_targets=[f"127.0.0.1:{app.port}"], scrape_interval="1s",
                  evaluation_interval="1s", prometheus_port=0, alertmanager=False, rules_dir=rules,
                  data_dir=tmp_path / "stack", fresh=True) as stack:
        stack.wait_for_targets(timeout=30)
        prom = stack.prometheus_url
        # 1. The configured 90/10 split: random request ids, no client id.
        statuses = post_many(app.url, rows, 1600)
        assert set(statuses) == {200}
        promql.wait_for(prom, "job:prediction_requests_routed:increase10m >= 1000", timeout=30)
        chi2 = promql.instant(prom, "job:srm_chi2:10m")["value"].item()
        critical = promql.instant(prom, "job:srm_chi2_critical:p001")["value"].item()
        assert chi2 < critical, (chi2, critical)
        assert alerts.alert_state(prom, "ModelVersionSampleRatioMismatch") == alerts.INACTIVE
        # 2. A heavy client whose sticky id lands on the challenger sends half of the traffic.
        heavy = next(f"client-{i}" for i in range(1000) if bucket_of(f"client-{i}") >= 0.9)
        post_many(app.url, rows, 2000, client_id=lambda i: heavy if i % 2 else f"r{i}-{time.time_ns()}")
        alerts.watch_alert(prom, "ModelVersionSampleRatioMismatch", timeout=60, echo=None)
        # 3. A latency fault on the challenger only.
        requests.post(f"{app.url}/admin/faults", json={"latency_seconds": 0.3, "version": challenger}, timeout=5)
        stop = threading.Event()
        load = threading.Thread(target=lambda: [post_many(app.url, rows, 200, concurrency=8)
                                                for _ in iter(lambda: stop.is_set(), True)], daemon=True)
        load.start()
        try:
            alerts.watch_alert(prom, "ModelChallengerLatencyP95High", timeout=90, echo=None, version=challenger)
        finally:
            stop.set()
            load.join(30)
        fired = alerts.prometheus_alerts(prom)
        latency = fired[fired["alertname"] == "ModelChallengerLatencyP95High"]
        assert {labels["version"] for labels in latency["labels"]} == {challenger}
        p95 = promql.instant(prom, "job_version:prediction_latency_seconds:p95_5m")
        by_version = dict(zip(p95["version"], p95["value"], strict=True))
        assert by_version[challenger] > 0.25 > by_version[champion], by_version
    print(f"\nSRM + canary end to end: {time.monotonic() - start:.0f} s; 90/10 chi-square {chi2:.2f} "
          f"(critical {critical}); P95 by version {by_version}")
