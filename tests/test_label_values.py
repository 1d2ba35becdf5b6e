"""Every label value that a rule, an alert, a dashboard panel or a promtool test selects is one the app exports.

A selector on a value the app never produces is silently wrong: `endpoint!="metrics"` matched every series
while Flask named the scrape endpoint `metrics_endpoint`, so Prometheus' own scrapes counted as traffic.
The app is driven through every endpoint (success, client errors, an injected 500), /metrics is scraped,
and each PromQL label matcher is checked against the label values seen.
"""
import json
import re

import pytest

from app.config import Settings
from app.main import create_app
from workshop.selectors import (
    MODEL_SPECIFIC,
    dead_selectors,
    exported_by_app,
    matchers,
    metric_names,
    promql_sources,
    promtool_test_series,
    unknown_metrics,
)


@pytest.fixture(scope="module")
def exported(model_dir, records):
    """Metric names and label values in the app's /metrics after every endpoint was called."""
    return exported_by_app(model_dir, records[1][0])


@pytest.fixture(scope="module")
def produced(exported) -> dict[str, set[str]]:
    """label name -> every value it takes."""
    return exported.labels


def test_the_app_exports_the_labels_the_lessons_rely_on(produced):
    assert {"metrics", "predict", "predict_batch", "health", "ready", "unmatched"} <= produced["endpoint"]
    assert {"200", "400", "404", "405", "413", "415", "500"} <= produced["status"]
    assert {"fraud", "non_fraud"} <= produced["class_name"]
    assert {"score", "V14", "Amount"} <= produced["feature"], "drift monitoring is on with the test model"
    assert all(re.fullmatch(MODEL_SPECIFIC["version"], v) for v in produced["version"]), produced["version"]


def test_rules_and_panels_select_only_label_values_the_app_exports(produced):
    sources = promql_sources()
    assert sum(len(matchers(e)) for e in sources.values()) >= 20  # the parser found the matchers
    assert dead_selectors(sources, produced) == []


def test_promtool_tests_feed_the_label_values_the_app_exports(produced):
    series = promtool_test_series()
    assert len(series) >= 20
    assert dead_selectors(series, produced) == []


def test_the_check_catches_the_old_metrics_endpoint_name(produced):
    """Flask's default endpoint name for the view `metrics_endpoint` made endpoint!="metrics" a no-op."""
    old = {**produced, "endpoint": {v if v != "metrics" else "metrics_endpoint" for v in produced["endpoint"]}}
    problems = dead_selectors(promql_sources(), old)
    assert problems and all('endpoint!=' in p and "'metrics'" in p for p in problems), problems
    assert any(p.startswith("rule job:http_requests:rate5m") for p in problems)


def test_the_check_catches_a_regex_and_an_equality_on_missing_values():
    produced = {"status": {"200", "400"}, "class_name": {"fraud", "non_fraud"}}
    sources = {"a": 'rate(x{status=~"5.."}[5m])', "b": 'x{class_name="legit"}', "c": 'x{clas="fraud"}',
               "d": 'x{status=~"4..", class_name!="fraud", job="ml-model-app"}', "e": 'model_info{version="1"}',
               "f": 'model_info{version="lr-0a1b2c3d"}'}
    problems = dead_selectors(sources, produced)
    assert [p[0] for p in problems] == ["a", "b", "c", "e"], problems


def test_scrapes_are_not_logged_as_requests(model_dir, capsys):
    """The request log skips endpoint "metrics" (every 5 s scrape would drown the log); /health is logged."""
    client = create_app(Settings(model_dir=model_dir, log_requests=True)).test_client()
    capsys.readouterr()
    client.get("/metrics")
    client.get("/health")
    paths = [json.loads(line).get("path") for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert paths == ["/health"]


def test_rules_and_panels_name_only_metrics_the_app_exports_or_a_rule_records(exported):
    sources = promql_sources()
    assert sum(len(metric_names(e)) for e in sources.values()) >= 20  # the parser found the names
    assert unknown_metrics(sources, exported.names) == []


def test_the_metric_check_catches_a_renamed_metric(exported):
    """Renaming prediction_latency_seconds in the app would silently empty the latency panels and rules."""
    renamed = {n.replace("prediction_latency_seconds", "predict_latency_seconds") for n in exported.names}
    problems = unknown_metrics(promql_sources(), renamed)
    assert problems and all("'prediction_latency_seconds" in p for p in problems), problems
    assert any(p.startswith("panel ") for p in problems) and any(p.startswith("rule ") for p in problems)


def test_metric_names_skips_functions_keywords_label_lists_and_strings():
    expr = ('histogram_quantile(0.95, sum by (le) (rate(prediction_latency_seconds_bucket{job="a b"}[5m]))) '
            '/ ignoring(edge) group_left job:x:rate5m offset 1m > bool 0 and on (job) up == 1 or vector(1)')
    assert metric_names(expr) == {"prediction_latency_seconds_bucket", "job:x:rate5m", "up"}
