"""Every label value that a rule, an alert, a dashboard panel or a promtool test selects is one the app exports.

A selector on a value the app never produces is silently wrong: `endpoint!="metrics"` matched every series
while Flask named the scrape endpoint `metrics_endpoint`, so Prometheus' own scrapes counted as traffic.
The app is driven through every endpoint (success, client errors, an injected 500), /metrics is scraped,
and each PromQL label matcher is checked against the label values seen.
"""
import json
import re
from collections import defaultdict

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.main import create_app
from workshop.promql import DASHBOARDS_DIR, dashboard_queries
from workshop.rules import RULE_TESTS_DIR, load_rules

# Labels the app does not set: Prometheus adds job/instance to every target, a recording rule adds edge.
NOT_FROM_THE_APP = {"job", "instance", "edge", "le", "__name__"}
SELECTOR = re.compile(r'\{([^{}]*)\}')
# Values that depend on the trained model: a selector or test series must have their shape.
MODEL_SPECIFIC = {"version": r"(lr|gb)-[0-9a-f]{8}"}  # workshop/training.py: <kind>-<sha256[:8]>
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def matchers(expr: str) -> list[tuple[str, str, str]]:
    """(label, operator, value) of every label matcher in a PromQL expression."""
    return [m for selector in SELECTOR.findall(expr) for m in MATCHER.findall(selector)]


def promql_sources() -> dict[str, str]:
    sources = {f"rule {r.name} ({r.file})": r.expr for r in load_rules()}
    sources.update({f"panel {q.title!r}": q.expr for q in dashboard_queries(DASHBOARDS_DIR)})
    return sources


def promtool_test_series() -> dict[str, str]:
    """Input series of the promtool unit tests: they must look like what the app really exports."""
    series = {}
    for path in sorted(RULE_TESTS_DIR.glob("*.yml")):
        for i, group in enumerate(yaml.safe_load(path.read_text())["tests"]):
            for item in group.get("input_series", []):
                series[f"{path.name} test {i}: {item['series']}"] = item["series"]
    return series


def dead_selectors(sources: dict[str, str], produced: dict[str, set[str]]) -> list[str]:
    """Matchers that select (or exclude) a label value the app never produces, and unknown label names."""
    problems = []
    for where, expr in sources.items():
        for label, op, value in matchers(expr):
            if label in NOT_FROM_THE_APP:
                continue
            values = produced.get(label)
            if label in MODEL_SPECIFIC and op in ("=", "!="):
                if not re.fullmatch(MODEL_SPECIFIC[label], value):
                    problems.append(f"{where}: {label}{op}{value!r} is not a {label} the app can export")
            elif values is None:
                problems.append(f"{where}: label {label!r} is not exported by the app")
            elif op in ("=", "!=") and value not in values:
                problems.append(f"{where}: {label}{op}{value!r} but the app exports {label} in {sorted(values)}")
            elif op in ("=~", "!~") and not any(re.fullmatch(value, v) for v in values):
                problems.append(f"{where}: {label}{op}{value!r} matches none of {sorted(values)}")
    return problems


def drive_every_endpoint(client, row) -> None:
    assert client.post("/predict", json=row).status_code == 200
    assert client.post("/predict", json={**row, "V1": "x"}).status_code == 400
    assert client.post("/predict", data="{}", content_type="text/plain").status_code == 415
    assert client.post("/predict/batch", json={"records": [row] * 3}).status_code == 200
    assert client.post("/predict/batch", json={"records": [row] * 1001}).status_code == 413
    for path in ("/health", "/ready", "/metrics", "/admin/faults"):
        assert client.get(path).status_code == 200
    assert client.get("/no/such/path").status_code == 404
    assert client.get("/predict").status_code == 405
    assert client.post("/admin/faults", json={"error_rate": 1.0}).status_code == 200
    assert client.post("/predict", json=row).status_code == 500  # the lesson's injected fault
    assert client.delete("/admin/faults").status_code == 200


@pytest.fixture(scope="module")
def produced(model_dir, records) -> dict[str, set[str]]:
    """label name -> every value it takes in the app's /metrics after every endpoint was called."""
    client = create_app(Settings(model_dir=model_dir, enable_faults=True, log_requests=False)).test_client()
    drive_every_endpoint(client, records[1][0])
    values = defaultdict(set)
    for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True)):
        for sample in family.samples:
            for label, value in sample.labels.items():
                values[label].add(value)
    return dict(values)


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
