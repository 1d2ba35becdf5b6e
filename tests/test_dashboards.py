"""Grafana provisioning: fixed datasource uids, dashboards that load as provisioned, PromQL that parses."""
import json
import re
import shutil
import subprocess
from itertools import combinations

import pytest
import yaml

from workshop.paths import DASHBOARDS_DIR, REPO_ROOT, RULES_DIR
from workshop.promql import OVERVIEW_DASHBOARD, dashboard_panels, dashboard_queries
from workshop.rules import load_rules, parse_duration
from workshop.synthetic import BASE_RATE

PROVISIONING = REPO_ROOT / "grafana-provisioning"
DATASOURCES = yaml.safe_load((PROVISIONING / "datasources" / "datasources.yml").read_text())["datasources"]
DASHBOARD_FILES = sorted(DASHBOARDS_DIR.glob("*.json"))
DASHBOARDS = {path.name: json.loads(path.read_text()) for path in DASHBOARD_FILES}
PANEL_TYPES = {"timeseries", "stat", "gauge", "bargauge", "table", "piechart", "heatmap", "alertlist", "text",
               "row", "barchart", "histogram", "state-timeline", "status-history", "logs"}
SEED_QUERIES = {  # the seed lesson's queries, verbatim, and the panel type that shows each
    "histogram_quantile(0.95, sum(rate(prediction_latency_seconds_bucket[5m])) by (le))": "timeseries",
    "sum(rate(predictions_total[5m]))": "timeseries",
    "sum(rate(predictions_total[5m])) by (class_name)": "piechart",
}
SCRAPE_INTERVAL_S = 5
promtool = shutil.which("promtool")


def datasource_refs(node):
    """Every `datasource` value anywhere in a dashboard (panel, target, options)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            yield from datasource_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from datasource_refs(item)


def parse_errors(exprs: list[str], tmp_path) -> str:
    """promtool (2.42 has no query parser command) parses each expression as a recording rule."""
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:query_{i}:check", "expr": e}
                                                          for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    return "" if result.returncode == 0 else result.stdout + result.stderr


def test_datasources_have_fixed_uids_and_compose_urls():
    by_uid = {ds["uid"]: ds for ds in DATASOURCES}
    assert by_uid["prometheus"]["type"] == "prometheus"
    assert by_uid["prometheus"]["url"] == "http://prometheus:9090"
    assert by_uid["prometheus"]["jsonData"]["timeInterval"] == f"{SCRAPE_INTERVAL_S}s"
    assert by_uid["alertmanager"]["type"] == "alertmanager"
    assert by_uid["alertmanager"]["url"] == "http://alertmanager:9093"
    assert by_uid["alertmanager"]["jsonData"]["implementation"] == "prometheus"
    assert sum(ds.get("isDefault", False) for ds in DATASOURCES) == 1


def test_dashboard_provider_reads_the_json_folder():
    (provider,) = yaml.safe_load((PROVISIONING / "dashboards" / "dashboards.yml").read_text())["providers"]
    assert provider["type"] == "file"
    container_path = provider["options"]["path"]
    assert container_path.startswith("/etc/grafana/provisioning/")
    assert (PROVISIONING / container_path.removeprefix("/etc/grafana/provisioning/")) == DASHBOARDS_DIR


def test_dashboards_have_unique_fixed_uids():
    assert DASHBOARDS, "no dashboard JSON"
    uids = [d.get("uid") for d in DASHBOARDS.values()]
    assert all(uids) and len(set(uids)) == len(uids)
    assert DASHBOARDS[OVERVIEW_DASHBOARD.name]["uid"] == "ml-model-overview"


@pytest.mark.parametrize("name", [p.name for p in DASHBOARD_FILES])
def test_dashboard_references_only_provisioned_datasources(name):
    text = (DASHBOARDS_DIR / name).read_text()
    assert "__inputs" not in text and "${DS_" not in text
    uids, names = {ds["uid"] for ds in DATASOURCES}, {ds["name"] for ds in DATASOURCES}
    refs = list(datasource_refs(DASHBOARDS[name]))
    assert refs
    for ref in refs:  # an object {type, uid}, or a name (the alert list's source filter)
        assert (ref["uid"] in uids) if isinstance(ref, dict) else (ref in names), ref
    for panel in dashboard_panels(DASHBOARDS[name]):
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "prometheus"}, panel["title"]


@pytest.mark.parametrize("name", [p.name for p in DASHBOARD_FILES])
def test_panels_have_unique_ids_known_types_and_a_valid_layout(name):
    panels = list(dashboard_panels(DASHBOARDS[name]))
    ids = [p["id"] for p in panels]
    assert len(set(ids)) == len(ids)
    for panel in panels:
        assert panel["type"] in PANEL_TYPES, panel["type"]
        assert panel.get("title"), panel["id"]
        g = panel["gridPos"]
        valid = g["x"] >= 0 and g["y"] >= 0 and g["w"] >= 1 and g["h"] >= 1 and g["x"] + g["w"] <= 24
        assert valid, panel["title"]
    for a, b in combinations(panels, 2):
        ga, gb = a["gridPos"], b["gridPos"]
        overlap = (ga["x"] < gb["x"] + gb["w"] and gb["x"] < ga["x"] + ga["w"]
                   and ga["y"] < gb["y"] + gb["h"] and gb["y"] < ga["y"] + ga["h"])
        assert not overlap, (a["title"], b["title"])


def test_seed_queries_are_verbatim_in_the_overview():
    queries = {(q.expr, q.type) for q in dashboard_queries()}
    for expr, panel_type in SEED_QUERIES.items():
        assert (expr, panel_type) in queries, expr


def test_overview_covers_the_lesson_panels():
    queries = dashboard_queries()
    by_type = {}
    for q in queries:
        by_type.setdefault(q.type, []).append(q.expr)
    assert 'up{job="ml-model-app"}' in by_type["stat"]
    assert "model_accuracy" in by_type["stat"]
    assert any("model_info" in e for e in by_type["stat"])
    assert any("prediction_latency_seconds_bucket" in e for e in by_type["heatmap"])
    fraud_share = [q.expr for q in queries if "fraud" in q.title.lower() and q.type == "timeseries"]
    assert fraud_share == ['job:predictions_fraud:share_5m{job="ml-model-app"}', f"vector({BASE_RATE})"]
    assert {'job:http_requests_errors:ratio_5m{job="ml-model-app"}',
            'job:http_requests_client_errors:ratio_5m{job="ml-model-app"}'} <= set(by_type["timeseries"])
    (alerts,) = [p for p in dashboard_panels(DASHBOARDS[OVERVIEW_DASHBOARD.name]) if p["type"] == "alertlist"]
    assert alerts["options"]["stateFilter"]["firing"] is True


def test_queries_use_fixed_windows_of_at_least_two_scrapes():
    for q in dashboard_queries(DASHBOARDS_DIR):
        assert "$" not in q.expr, q  # no Grafana variables: the same PromQL runs in notebooks and tests
        for window in re.findall(r"\[([^\]:]+)(?::[^\]]*)?\]", q.expr):
            assert parse_duration(window) >= 2 * SCRAPE_INTERVAL_S, (q.title, window)


def test_dashboard_queries_flattens_rows_and_skips_hidden_targets(tmp_path):
    dashboard = {"uid": "x", "panels": [
        {"id": 1, "type": "row", "title": "collapsed", "panels": [
            {"id": 2, "type": "stat", "title": "inner",
             "targets": [{"expr": "up"}, {"expr": "hidden", "hide": True}]}]},
        {"id": 3, "type": "text", "title": "notes"}]}
    (tmp_path / "d.json").write_text(json.dumps(dashboard))
    assert dashboard_queries(tmp_path / "d.json") == [("inner", "stat", "up")]
    assert dashboard_queries(tmp_path) == [("inner", "stat", "up")]


@pytest.mark.requires_binaries("promtool")
def test_every_query_parses(tmp_path):
    exprs = [q.expr for q in dashboard_queries(DASHBOARDS_DIR)]
    assert exprs
    assert parse_errors(exprs, tmp_path) == ""
    assert "parse error" in parse_errors(["sum(rate(predictions_total[5m])"], tmp_path)  # the check can fail


def test_non_seed_panels_read_recording_rules_the_alerts_read():
    """A panel and an alert showing the same quantity must not disagree: outside the seed's three verbatim
    queries, no panel computes a window itself; it reads a recording rule, the one the alerts read."""
    rules = load_rules()
    recorded = {r.name for r in rules if r.kind == "record"}
    alert_inputs = {name for r in rules if r.kind == "alert" for name in recorded if name in r.expr}
    shown = set()
    for q in dashboard_queries(DASHBOARDS_DIR):
        if q.expr in SEED_QUERIES:
            continue
        assert "[" not in q.expr, f"{q.title!r} computes its own window: {q.expr}"
        shown |= {name for name in re.findall(r"[a-z_]+:[a-z_0-9]+:[a-z_0-9]+", q.expr)}
    assert shown <= recorded, shown - recorded
    assert {"job:predictions_fraud:share_5m", "job:http_requests_errors:ratio_5m",
            "job:http_requests_client_errors:ratio_5m"} <= shown & alert_inputs


def test_one_base_rate_for_data_dashboard_and_alerts():
    assert BASE_RATE == pytest.approx(492 / 284_807, abs=1e-5)  # the published 0.172 %
    drawn = [q.expr for q in dashboard_queries(OVERVIEW_DASHBOARD) if q.expr.startswith("vector(")]
    assert drawn == [f"vector({BASE_RATE})"]
    (too_high,) = [r for r in load_rules() if r.name == "FraudShareTooHigh"]
    threshold = float(re.search(r"share_5m > ([0-9.]+)", too_high.expr).group(1))
    assert threshold == pytest.approx(10 * BASE_RATE)  # "10x the training base rate"
    alerts_text = (RULES_DIR / "alerts.yml").read_text()
    assert f"p = {BASE_RATE}" in alerts_text and f"{100 * BASE_RATE:.3f} %" in alerts_text
