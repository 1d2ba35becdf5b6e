"""End to end: the real app, real Prometheus (local mode, committed rules), simulated traffic, and then every
panel query of every provisioned dashboard must return data; the inline drawing must show every panel.

Dashboards are found by globbing the provisioning folder, so a dashboard added later is covered too.
"""
import json
import math
import shutil
import time
from datetime import timedelta

import matplotlib
import pytest
import requests

from workshop import panels, promql
from workshop.appserver import AppServer
from workshop.data import FEATURES, load_dataset
from workshop.deployment import write_deployment
from workshop.labels import LabelFeeder
from workshop.paths import DASHBOARDS_DIR
from workshop.promql import dashboard_queries
from workshop.stack import Stack
from workshop.traffic import simulate

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pytestmark = [pytest.mark.stack, pytest.mark.slow,
              pytest.mark.requires_binaries("prometheus", "alertmanager")]
DASHBOARD_FILES = sorted(DASHBOARDS_DIR.glob("*.json"))
N_REQUESTS = 1500
FRAUD_SCENARIO = "fraud:0.05@0"  # the synthetic data has 0.17 % frauds: too few for the fraud panels
DATA_TIMEOUT_S = 20.0  # recording rules need a few evaluations (1 s each here) after the last scrape


def has_finite_value(df) -> bool:
    return not df.empty and any(math.isfinite(v) for v in df["value"])


def post_invalid_requests(url: str) -> int:
    """A few client mistakes of different kinds, so the 4xx panels have something to show."""
    df, _ = load_dataset(source="synthetic", n_rows=10, seed=3)
    good = df[FEATURES].to_dict(orient="records")[0]
    bodies = [{"json": good | {"Amount": "12.50"}}, {"json": {k: v for k, v in good.items() if k != "V14"}},
              {"data": "not json", "headers": {"Content-Type": "application/json"}}]
    statuses = [requests.post(f"{url}/predict", timeout=5, **body).status_code for body in bodies]
    assert all(400 <= s < 500 for s in statuses), statuses
    return len(statuses)


@pytest.fixture(scope="module")
def live(versioned_dir, tmp_path_factory):
    """Stack and app up with two model versions serving (90/10), traffic sent and scraped; yields (stack,
    traffic summary)."""
    run_dir = tmp_path_factory.mktemp("live")
    source, champion, challenger = versioned_dir
    model_dir = run_dir / "models"
    shutil.copytree(source, model_dir)
    write_deployment(model_dir, champion, {challenger: 0.1})
    with AppServer(port=0, model_dir=model_dir, run_dir=run_dir / "app") as app, \
            Stack(mode="local", app_targets=[f"127.0.0.1:{app.port}"], scrape_interval="1s", prometheus_port=0,
                  alertmanager=False, data_dir=run_dir / "stack") as stack:
        stack.wait_for_targets(timeout=30)
        # Mistakes before and after the traffic: http_requests_total{status="400"} is created by the first
        # one, and rate() only sees increases after a series' first scrape.
        invalid = post_invalid_requests(app.url)
        feeder = LabelFeeder(app.url, mean_delay_s=0.5, coverage=1.0)  # every prediction labelled (Model quality)
        summary = simulate(f"{app.url}/predict", rate=0, count=N_REQUESTS, concurrency=4,
                           scenario=FRAUD_SCENARIO, seed=5, progress=False, on_result=feeder.observe)
        labels = feeder.stop()
        assert labels["acknowledged"] == N_REQUESTS, labels
        invalid += post_invalid_requests(app.url)
        assert summary.succeeded == N_REQUESTS and summary.frauds_predicted > 0, summary
        # everything sent has been scraped: predictions and client errors
        promql.wait_for(stack.prometheus_url, f'sum(predictions_total{{job="ml-model-app"}}) >= {summary.succeeded}',
                        timeout=20)
        promql.wait_for(stack.prometheus_url, f'sum(invalid_requests_total{{job="ml-model-app"}}) >= {invalid}',
                        timeout=20)
        promql.wait_for(stack.prometheus_url, f'sum(model_feedback_total{{job="ml-model-app"}}) >= {N_REQUESTS}',
                        timeout=20)
        yield stack, summary


def test_app_target_is_up(live):
    stack, _ = live
    up = promql.instant(stack.prometheus_url, 'up{job="ml-model-app"}')
    assert up["value"].tolist() == [1.0]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_every_panel_query_returns_finite_data(live, path):
    stack, _ = live
    queries = dashboard_queries(path)
    assert queries, f"{path.name} has no queries"
    deadline = time.monotonic() + DATA_TIMEOUT_S
    failures = []
    for query in queries:
        try:
            promql.wait_for(stack.prometheus_url, query.expr, has_finite_value,
                            timeout=max(0.0, deadline - time.monotonic()), interval=0.5)
        except (TimeoutError, promql.PromQLError) as exc:
            failures.append(f"{query.title!r} ({query.type}): {query.expr}\n    {str(exc).splitlines()[-1]}")
    assert failures == [], f"{path.name}: panels without data:\n" + "\n".join(failures)


def test_seed_queries_show_the_traffic(live):
    stack, summary = live
    url = stack.prometheus_url
    versions = promql.instant(url, "sum by (version) (predictions_total)")
    assert len(versions) == 2 and versions["value"].min() > 0, versions  # both versions answered
    p95 = promql.instant(url, "histogram_quantile(0.95, sum(rate(prediction_latency_seconds_bucket[5m])) by (le))")
    assert 0 < p95["value"].item() < 5  # seconds: a loopback prediction is fast
    by_class = promql.instant(url, "sum(rate(predictions_total[5m])) by (class_name)")
    rates = dict(zip(by_class["class_name"], by_class["value"], strict=True))
    assert rates["fraud"] > 0 and rates["non_fraud"] > rates["fraud"]  # ~5 % frauds sent, not 50 %
    (client_errors,) = [q.expr for q in dashboard_queries() if q.title == "Error ratio" and "client_errors" in q.expr]
    share = promql.instant(url, client_errors)["value"].item()
    assert 0 < share < 0.05  # 6 mistakes among ~1500 requests


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_inline_drawing_shows_every_panel(live, path):
    stack, _ = live
    fig, report = panels.draw_dashboard(stack.prometheus_url, path, since=timedelta(minutes=2))
    plt.close(fig)
    assert len(report) == len(list(promql.dashboard_panels(json.loads(path.read_text()), rows=False)))
    bad = report[report["status"] != "ok"]
    assert bad.empty, f"{path.name}:\n{bad.to_string()}"


def test_the_data_check_rejects_empty_and_nan_results(live):
    stack, _ = live
    assert not has_finite_value(promql.instant(stack.prometheus_url, "no_such_metric_total"))
    assert not has_finite_value(promql.instant(stack.prometheus_url, "vector(0) / vector(0)"))  # NaN
    assert has_finite_value(promql.instant(stack.prometheus_url, "vector(0)"))
