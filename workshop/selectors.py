"""Do the rules, alerts, dashboard panels and promtool tests select what the app really exports?

A selector on a label value the app never produces is silently wrong (`endpoint!="metrics"` matched every
series while Flask named the scrape endpoint `metrics_endpoint`), and a renamed metric silently empties a
panel. Both checks compare the PromQL with what a live app put in its /metrics:

    seen = exported(client)                       # after the app served every endpoint (drive_every_endpoint)
    dead_selectors(promql_sources(), seen.labels) # matchers on label values the app never produces
    unknown_metrics(promql_sources(), seen.names) # metric names neither exported nor recorded by a rule

Used by tests/test_label_values.py and by the release gate (workshop.release), on the candidate model.
"""
import contextlib
import io
import json
import re
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from app.model import CARD
from app.versions import DEPLOYMENT
from workshop.paths import DASHBOARDS_DIR, RULE_TESTS_DIR, RULES_DIR
from workshop.promql import dashboard_queries
from workshop.rules import load_rules

# Labels the app does not set: Prometheus adds job/instance to every target, a recording rule adds edge.
NOT_FROM_THE_APP = {"job", "instance", "edge", "le", "__name__", "alertname", "alertstate", "severity"}
SELECTOR = re.compile(r'\{([^{}]*)\}')
# Values that depend on the trained model: a selector or test series must have their shape.
MODEL_SPECIFIC = {"version": r"(lr|gb)-[0-9a-f]{8}"}  # workshop/training.py: <kind>-<sha256[:8]>
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
# Series that come from Prometheus itself, not from the app or a recording rule.
PROMETHEUS_SERIES = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped",
                     "scrape_samples_post_metric_relabeling", "scrape_series_added"}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r'\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)')
_IDENTIFIER = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left", "group_right",
             "offset", "inf", "nan", "Inf", "NaN", "atan2"}


@dataclass(frozen=True)
class Exported:
    names: set[str]              # sample names in /metrics (histograms as _bucket/_count/_sum)
    labels: dict[str, set[str]]  # label name -> every value seen


def parse_exposition(text: str) -> Exported:
    names, labels = set(), defaultdict(set)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            names.add(sample.name)
            for label, value in sample.labels.items():
                labels[label].add(value)
    return Exported(names, dict(labels))


def drive_every_endpoint(client, row) -> None:
    """Call every endpoint once (success, client errors, an injected 500) so every label value exists."""
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


def exported_by_app(model_dir: Path, row: dict, challenger_dir: Path | None = None) -> Exported:
    """What an app exports after every endpoint was called (in process): it serves the model in `model_dir`
    as champion through lesson 07's deployment file, next to `challenger_dir` (a 50 % split) when given, so
    the versions' series exist too. Works on a scratch copy: `model_dir` is not touched."""
    from app.config import Settings
    from app.main import create_app
    from workshop.deployment import version_of_champion_copy, write_deployment

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for item in Path(model_dir).iterdir():
            if item.is_file() and item.suffix in (".json", ".joblib"):
                shutil.copyfile(item, scratch / item.name)
        (scratch / DEPLOYMENT).unlink(missing_ok=True)
        champion = version_of_champion_copy(scratch)
        challengers = {}
        if challenger_dir is not None:
            version = json.loads((Path(challenger_dir) / CARD).read_text())["version"]
            shutil.copytree(challenger_dir, scratch / version, dirs_exist_ok=True)
            challengers = {version: 0.5} if version != champion else {}
        write_deployment(scratch, champion, challengers)
        app = create_app(Settings(model_dir=scratch, enable_faults=True, log_requests=False))
        client = app.test_client()
        with contextlib.redirect_stdout(io.StringIO()):  # the app logs the injected 500: expected, not news
            drive_every_endpoint(client, row)
        return parse_exposition(client.get("/metrics").get_data(as_text=True))


def matchers(expr: str) -> list[tuple[str, str, str]]:
    """(label, operator, value) of every label matcher in a PromQL expression."""
    return [m for selector in SELECTOR.findall(expr) for m in MATCHER.findall(selector)]


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (bare identifiers, not functions, keywords or label lists)."""
    text = _STRINGS.sub('""', expr)
    text = SELECTOR.sub(" ", text)
    text = re.sub(r'\[[^\]]*\]', " ", text)          # range windows and subqueries
    text = re.sub(r'\boffset\s+\S+', " ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name not in _KEYWORDS}


def promql_sources(rules_dir: Path = RULES_DIR, dashboards_dir: Path = DASHBOARDS_DIR) -> dict[str, str]:
    """Every rule and dashboard panel expression, named by where it comes from."""
    sources = {f"rule {r.name} ({r.file})": r.expr for r in load_rules(rules_dir)}
    sources.update({f"panel {q.title!r}": q.expr for q in dashboard_queries(dashboards_dir)})
    return sources


def promtool_test_series(tests_dir: Path = RULE_TESTS_DIR) -> dict[str, str]:
    """Input series of the promtool unit tests: they must look like what the app really exports."""
    series = {}
    for path in sorted(Path(tests_dir).glob("*.yml")):
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


def unknown_metrics(sources: dict[str, str], names: set[str], rules_dir: Path = RULES_DIR) -> list[str]:
    """Metric names a source selects that neither the app exports, nor a recording rule writes, nor
    Prometheus itself produces: a renamed metric leaves such a panel or rule silently empty."""
    known = set(names) | PROMETHEUS_SERIES | {r.name for r in load_rules(rules_dir) if r.kind == "record"}
    return [f"{where}: metric {name!r} is not exported by the app nor recorded by a rule"
            for where, expr in sources.items() for name in sorted(metric_names(expr) - known)]
