"""Recording and alerting rules: promtool checks and unit tests, test coverage, the lesson-speed variant."""
import re
import shutil
from pathlib import Path

import pytest
import yaml

from workshop.paths import REPO_ROOT, RULES_DIR
from workshop.rules import (
    DERIVED_MARKER,
    LESSON_SPEEDUPS,
    duration_converter,
    format_duration,
    lesson_rules,
    load_rules,
    parse_duration,
    promtool,
    rewrite_ranges,
    rule_files,
    rule_test_files,
    rules_table,
)
from workshop.stack.config import render_local_config

SEVERITIES = {"critical", "warning", "info"}
RULE_TEST_FILES = rule_test_files()
RUNBOOK = REPO_ROOT / "docs" / "runbook.md"


def promtool_ok(*args) -> str:
    result = promtool(*args)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def alert_test_cases() -> dict[str, dict[str, list]]:
    """alertname -> {"firing": [expected alerts of each firing case], "silent": [eval times]}."""
    cases: dict[str, dict[str, list]] = {}
    for path in RULE_TEST_FILES:
        for group in yaml.safe_load(path.read_text())["tests"]:
            for case in group.get("alert_rule_test", []):
                entry = cases.setdefault(case["alertname"], {"firing": [], "silent": []})
                if case.get("exp_alerts"):
                    entry["firing"].append(case["exp_alerts"])
                else:
                    entry["silent"].append(case["eval_time"])
    return cases


# ---------------------------------------------------------------- the committed rules

def test_rule_files_pass_promtool_check():
    output = promtool_ok("check", "rules", *rule_files())
    assert output.count("SUCCESS") == len(rule_files()) >= 2


def test_rule_unit_tests_pass():
    assert RULE_TEST_FILES, "no promtool unit tests in prometheus/tests"
    output = promtool_ok("test", "rules", *RULE_TEST_FILES)
    assert output.count("SUCCESS") == len(RULE_TEST_FILES)


def test_every_alert_has_a_firing_and_a_silent_case_with_labels_and_annotations():
    cases = alert_test_cases()
    for rule in (r for r in load_rules() if r.kind == "alert"):
        assert rule.name in cases, f"{rule.name} has no promtool unit test"
        firing, silent = cases[rule.name]["firing"], cases[rule.name]["silent"]
        assert firing, f"{rule.name} has no test case where it fires"
        assert silent, f"{rule.name} has no test case where it must not fire"
        for expected in (alert for case in firing for alert in case):
            assert expected["exp_labels"]["severity"] == rule.severity, rule.name
            annotations = set(expected.get("exp_annotations", {}))
            assert {"summary", "description", "runbook"} <= annotations, rule.name
    unknown = set(cases) - {r.name for r in load_rules() if r.kind == "alert"}
    assert not unknown, f"tests for alerts that do not exist: {unknown}"


def test_every_recording_rule_is_tested_directly_or_through_a_tested_rule():
    rules = load_rules()
    tested_exprs = [case["expr"] for path in RULE_TEST_FILES
                    for group in yaml.safe_load(path.read_text())["tests"]
                    for case in group.get("promql_expr_test", [])]
    tested_exprs += [r.expr for r in rules if r.kind == "alert"]  # every alert is tested (test above)
    covered = {r.name for r in rules if r.kind == "record" and any(r.name in e for e in tested_exprs)}
    # a rule is covered when a covered rule reads it (e.g. the bucket rates behind the quantiles)
    while more := {r.name for r in rules if r.kind == "record" and r.name not in covered
                   and any(r.name in c.expr for c in rules if c.name in covered)}:
        covered |= more
    assert {r.name for r in rules if r.kind == "record"} == covered


def test_alerts_carry_severity_summary_description_and_a_runbook_section():
    runbook_sections = set(re.findall(r"^## (\w+)$", RUNBOOK.read_text(), flags=re.M))
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in (r for r in group["rules"] if "alert" in r):
                name = rule["alert"]
                assert rule["labels"]["severity"] in SEVERITIES, name
                annotations = rule["annotations"]
                without_value = ("ModelApiDown", "ModelMetricsAbsent", "ModelFaultInjectionActive")  # 0 or 1
                assert "$value" in annotations["description"] or name in without_value, name
                assert annotations["runbook"] == f"docs/runbook.md#{name.lower()}", name
                assert name in runbook_sections, f"docs/runbook.md has no '## {name}' section"


def test_recording_rules_follow_the_naming_convention_and_aggregate_by_job():
    for rule in (r for r in load_rules() if r.kind == "record"):
        level, metric, operations = rule.name.split(":")
        assert level.split("_")[0] == "job" and metric and operations, rule.name
        assert "by (job" in rule.expr or rule.expr.startswith("histogram_quantile("), rule.name


def test_rules_table_lists_every_rule():
    table = rules_table()
    assert len(table) == len(load_rules()) > 10
    latency = table.set_index("name").loc["ModelLatencyP95High"]
    assert (latency["for"], latency["severity"], latency["kind"]) == ("5m", "warning", "alert")


def test_alert_rules_live_only_in_prometheus_rules():
    holders = {p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "prometheus").rglob("*.yml")
               if re.search(r"^\s*- alert:", p.read_text(), flags=re.M)}
    assert Path("prometheus/rules/alerts.yml") in holders
    assert {p.parent for p in holders} == {Path("prometheus/rules")}  # what Prometheus loads (rules/*.yml)


# ---------------------------------------------------------------- durations and range rewriting

@pytest.mark.parametrize("text, seconds, canonical", [
    ("30s", 30, "30s"), ("5m", 300, "5m"), ("90s", 90, "1m30s"), ("1h30m", 5400, "1h30m"), ("2h", 7200, "2h"),
    ("500ms", 0.5, "500ms"), ("0s", 0, "0s"), ("1d", 86400, "1d"),
])
def test_durations_parse_and_format(text, seconds, canonical):
    assert parse_duration(text) == seconds
    assert format_duration(seconds) == canonical


@pytest.mark.parametrize("bad", ["5", "m", "5 m", "-5m", "5min", ""])
def test_invalid_durations_are_rejected(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_rewrite_ranges_converts_windows_and_subqueries_but_not_strings_or_offsets():
    speedup = duration_converter(10, minimum="20s")
    expr = 'rate(x{status=~"5[0-9]{2}", a="[5m]"}[5m]) + max_over_time(y[1h:1m]) + z[ 2h ] offset 1h + w[1m:]'
    assert rewrite_ranges(expr, speedup, duration_converter(10)) == (
        'rate(x{status=~"5[0-9]{2}", a="[5m]"}[30s]) + max_over_time(y[6m:6s]) + z[ 12m ] offset 1h'
        ' + w[20s:]')


def test_converters_scale_clamp_and_map():
    assert duration_converter(30)("5m") == "10s"
    assert duration_converter(30)("1m") == "2s"
    assert duration_converter(10, minimum="20s")("1m") == "20s"
    mapping = duration_converter({"5m": "45s", "300s": "45s", "2h": "10m"})
    assert mapping("5m") == "45s" and mapping("2h") == "10m"
    with pytest.raises(KeyError, match="10m"):
        mapping("10m")
    with pytest.raises(ValueError):
        duration_converter(0)


# ---------------------------------------------------------------- the lesson-speed variant

@pytest.fixture(scope="module")
def lesson_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lesson-rules")
    lesson_rules(path)
    return path


def test_lesson_rules_pass_promtool_check(lesson_dir):
    derived = sorted(lesson_dir.glob("*.yml"))
    assert [p.name for p in derived] == [p.name for p in rule_files()]
    assert promtool_ok("check", "rules", *derived).count("SUCCESS") == len(derived)


def test_lesson_rules_change_only_windows_and_for(lesson_dir):
    for source in rule_files():
        window_speedup, for_speedup = LESSON_SPEEDUPS.get(source.name, (10, 30))
        windows = duration_converter(window_speedup, minimum="20s")
        derived_text = (lesson_dir / source.name).read_text()
        assert derived_text.startswith(DERIVED_MARKER)
        original, derived = yaml.safe_load(source.read_text()), yaml.safe_load(derived_text)
        assert [g["name"] for g in derived["groups"]] == [g["name"] for g in original["groups"]]
        for group, derived_group in zip(original["groups"], derived["groups"], strict=True):
            for rule, fast in zip(group["rules"], derived_group["rules"], strict=True):
                assert {k: v for k, v in fast.items() if k not in ("expr", "for")} == \
                       {k: v for k, v in rule.items() if k not in ("expr", "for")}
                assert fast["expr"] == rewrite_ranges(rule["expr"], windows)
                if "for" in rule:
                    assert parse_duration(fast["for"]) == round(parse_duration(rule["for"]) / for_speedup)
    recording = (lesson_dir / "recording.yml").read_text()
    assert "[5m]" not in recording and "[2h]" not in recording
    assert "rate(predictions_total[30s])" in recording and "increase(predictions_total[12m])" in recording


def test_lesson_rules_with_an_explicit_mapping(tmp_path):
    source = tmp_path / "source"  # only these two files: a mapping must name every duration its rules use
    source.mkdir()
    for name in ("recording.yml", "alerts.yml"):
        shutil.copy(RULES_DIR / name, source)
    mapping = {"5m": "1m", "2h": "15m"}
    lesson_rules(tmp_path, src_dir=source, window_speedup=mapping, for_speedup={"1m": "5s", "5m": "15s", "10m": "30s"})
    recording = yaml.safe_load((tmp_path / "recording.yml").read_text())
    exprs = [r["expr"] for g in recording["groups"] for r in g["rules"]]
    assert any("[1m]" in e for e in exprs) and any("[15m]" in e for e in exprs)
    alerts = {r["alert"]: r for g in yaml.safe_load((tmp_path / "alerts.yml").read_text())["groups"]
              for r in g["rules"]}
    assert alerts["ModelLatencyP95High"]["for"] == "15s" and alerts["ModelApiDown"]["for"] == "5s"
    with pytest.raises(KeyError, match="10m"):  # a mapping must name every duration the rules use
        lesson_rules(tmp_path / "incomplete", src_dir=source, window_speedup=mapping, for_speedup={"1m": "5s", "5m": "15s"})


def test_lesson_rules_never_overwrite_the_source_and_replace_only_derived_files(tmp_path):
    with pytest.raises(ValueError, match="differ"):
        lesson_rules(RULES_DIR)
    (tmp_path / "old.yml").write_text(f"{DERIVED_MARKER}.lesson_rules from old.yml\ngroups: []\n")
    (tmp_path / "mine.yml").write_text("groups: []\n")
    written = lesson_rules(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.yml")) == sorted([*(p.name for p in written), "mine.yml"])


def _bucket_series(le: str, values: str) -> dict:
    labels = f'job="ml-model-app", instance="app:8000", le="{le}"'
    return {"series": f"prediction_latency_seconds_bucket{{{labels}}}", "values": values}


def test_lesson_rules_fire_within_seconds_of_a_fault(lesson_dir, tmp_path):
    """The lesson's promise at rule level, with a 5 s scrape and evaluation interval: ModelLatencyP95High
    fires within 25 s of a latency fault (not at once: `for`) and resolves within 30 s of clearing it;
    ModelApiDown fires within 10 s of the app stopping (Prometheus' side; Alertmanager adds group_wait).
    Traffic: 20 requests/s (100 per 5 s sample), from 60 s to 120 s a 1 s latency fault (4 slow requests/s),
    then fast again; the app stops at 200 s."""
    alerts = yaml.safe_load((lesson_dir / "alerts.yml").read_text())
    for group in alerts["groups"]:  # annotations are tested elsewhere; here only the timing matters
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(alerts))
    fast = "0+100x12 1200x11 1300+100x23"              # le=0.1 and le=0.5: fast requests only
    everything = "0+100x12 1220+20x11 1540+100x23"     # le=1, +Inf and _count: fast and slow
    scenario = {
        "rule_files": [str(lesson_dir / "recording.yml"), str(tmp_path / "alerts.yml")],
        "evaluation_interval": "5s",
        "tests": [{
            "interval": "5s",
            "input_series": [
                _bucket_series("0.1", fast), _bucket_series("0.5", fast), _bucket_series("1", everything),
                _bucket_series("+Inf", everything),
                {"series": 'prediction_latency_seconds_count{job="ml-model-app", instance="app:8000"}',
                 "values": everything},
                {"series": 'up{job="ml-model-app", instance="app:8000"}', "values": "1x40 0x8"},
            ],
            "alert_rule_test": [
                {"eval_time": "60s", "alertname": "ModelLatencyP95High", "exp_alerts": []},
                {"eval_time": "70s", "alertname": "ModelLatencyP95High", "exp_alerts": []},
                {"eval_time": "85s", "alertname": "ModelLatencyP95High",
                 "exp_alerts": [{"exp_labels": {"severity": "warning", "job": "ml-model-app"}}]},
                {"eval_time": "150s", "alertname": "ModelLatencyP95High", "exp_alerts": []},
                {"eval_time": "200s", "alertname": "ModelApiDown", "exp_alerts": []},
                {"eval_time": "210s", "alertname": "ModelApiDown",
                 "exp_alerts": [{"exp_labels": {"severity": "critical", "job": "ml-model-app",
                                                "instance": "app:8000"}}]},
            ],
        }],
    }
    test_file = tmp_path / "lesson_timing_test.yml"
    test_file.write_text(yaml.safe_dump(scenario, sort_keys=False))
    promtool_ok("test", "rules", test_file)


def test_a_local_stack_can_load_the_lesson_rules_instead_of_the_committed_ones(lesson_dir, tmp_path):
    """Stack(rules_dir=...) -> render_local_config(rules_dir=...): same file pattern, another folder."""
    addresses = {"app.yml": ["127.0.0.1:8000"], "prometheus.yml": [], "alertmanager.yml": []}
    render_local_config(tmp_path, addresses)
    default = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    assert render_local_config(tmp_path, addresses, rules_dir=lesson_dir)  # changed: Stack reloads Prometheus
    lesson = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    assert default["rule_files"] == [str(RULES_DIR / "*.yml")]
    assert lesson["rule_files"] == [str(lesson_dir.resolve() / "*.yml")]
    assert {k: v for k, v in lesson.items() if k != "rule_files"} == \
           {k: v for k, v in default.items() if k != "rule_files"}
