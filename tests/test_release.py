"""The release gate (workshop.release): a good candidate passes, a worse one is rejected with the reason, and
each gate is shown failing once on a broken input (tampered artifact, incomplete card, failing rule test,
renamed metric in a dashboard, changed held-out data)."""
import json
import shutil

import numpy as np
import pytest

from app.model import ARTIFACT, CARD
from app.versions import DEPLOYMENT
from workshop import release
from workshop.paths import PROMETHEUS_DIR
from workshop.release import expected_calibration_error

pytestmark = [pytest.mark.slow, pytest.mark.requires_binaries("promtool")]


@pytest.fixture(scope="module")
def models(tmp_path_factory, model_dir):
    """A champion (a copy of the session's model), a good candidate and a worse one, trained on its data."""
    root = tmp_path_factory.mktemp("release")
    champion = root / "models"
    shutil.copytree(model_dir, champion)
    good = release.train_candidate(root / "good", champion, C=0.1)
    worse = release.train_candidate(root / "worse", champion, lost_fraud_labels=0.67)
    return {"champion": champion, "good": good, "worse": worse, "root": root}


def gates_by_name(report) -> dict:
    return {g.name: g for g in report.gates}


def test_a_good_candidate_passes_every_gate(models):
    report = release.release_gate(models["good"], models["champion"])
    assert report.passed, report.table().to_string()
    assert list(report.table()["gate"]) == ["quality", "latency", "model_card", "rules", "dashboards"]
    assert report.holdout["frauds"] >= 10 and report.candidate["version"] != report.champion["version"]


def test_a_worse_candidate_is_rejected_by_the_quality_gate_with_the_reason(models):
    report = release.release_gate(models["worse"], models["champion"])
    assert [g.name for g in report.failed()] == ["quality"], report.table().to_string()
    reason = report.failed()[0].reason
    assert "average precision" in reason and "< champion" in reason, reason
    assert report.candidate["average_precision"] < report.champion["average_precision"] - 0.05


def test_the_held_out_data_is_the_champions_test_split_and_frozen(models):
    champion = models["champion"]
    holdout = release.load_holdout(champion)
    card = json.loads((champion / CARD).read_text())
    evaluated = release.evaluate(champion, holdout)
    assert evaluated["average_precision"] == pytest.approx(card["metrics"]["average_precision"], abs=1e-9)
    assert evaluated["recall"] == pytest.approx(card["metrics"]["recall"], abs=1e-9)
    npz = champion / release.HOLDOUT_DIR / "holdout.npz"
    saved = npz.read_bytes()
    try:
        npz.write_bytes(saved[:-1] + bytes([saved[-1] ^ 1]))
        with pytest.raises(ValueError, match="changed since it was frozen"):
            release.load_holdout(champion)
    finally:
        npz.write_bytes(saved)


def copy_model(source, target):
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(release.HOLDOUT_DIR, "*.json.tmp"))
    return target


def test_a_tampered_artifact_and_an_incomplete_card_fail_the_model_card_gate(models):
    tampered = copy_model(models["good"], models["root"] / "tampered")
    with open(tampered / ARTIFACT, "ab") as f:
        f.write(b"\0")
    report = release.release_gate(tampered, models["champion"])
    assert [g.name for g in report.failed()] == ["model_card"] and "sha256" in report.failed()[0].reason

    incomplete = copy_model(models["good"], models["root"] / "incomplete")
    card = json.loads((incomplete / CARD).read_text())
    del card["threshold_rule"], card["metrics"]["recall"]
    (incomplete / CARD).write_text(json.dumps(card))
    gate = gates_by_name(release.release_gate(incomplete, models["champion"]))["model_card"]
    assert not gate.passed and "missing threshold_rule" in gate.reason and "metrics.recall" in gate.reason


def test_a_failing_rule_test_and_a_renamed_metric_fail_their_gates(models, tmp_path):
    prometheus = shutil.copytree(PROMETHEUS_DIR, tmp_path / "prometheus")
    dashboards = shutil.copytree(release.DASHBOARDS_DIR, tmp_path / "dashboards")
    test_file = prometheus / "tests" / "recording_test.yml"
    text = test_file.read_text()
    test_file.write_text(text.replace("job_class_name:predictions:rate5m", "job_class_name:predictions:rate1m", 1))
    overview = dashboards / "ml-model-overview.json"
    overview.write_text(overview.read_text().replace("predictions_total", "prediction_total"))
    report = release.release_gate(models["good"], models["champion"], rules_dir=prometheus / "rules",
                                  rule_tests_dir=prometheus / "tests", dashboards_dir=dashboards)
    gates = gates_by_name(report)
    assert [g.name for g in report.failed()] == ["rules", "dashboards"], report.table().to_string()
    assert gates["rules"].reason.startswith("promtool test rules FAILED in recording_test.yml: expr:"), gates["rules"].reason
    assert "'prediction_total' is not exported" in gates["dashboards"].reason, gates["dashboards"].reason


def test_the_latency_budget_gate_fails_over_budget(models):
    report = release.release_gate(models["good"], models["champion"], release.Policy(max_p95_ms_one_record=1e-6),
                                  gates=[release.latency_gate])
    assert not report.passed and "> budget" in report.failed()[0].reason


def test_cli_rejects_the_worse_candidate_and_deploys_the_good_one_as_a_canary(models, capsys):
    champion = models["champion"]
    assert release.main([str(models["worse"]), "--models-dir", str(champion)]) == 1
    err = capsys.readouterr().err
    assert "REJECTED by quality: average precision" in err, err
    assert not (champion / DEPLOYMENT).exists()
    assert release.main([str(models["good"]), "--models-dir", str(champion), "--weight", "0.2"]) == 0
    out = capsys.readouterr().out
    events = [json.loads(line)["event"] for line in out.splitlines() if line.startswith("{")]
    assert events[-3:] == ["gate_decision", "registered", "deployed"], events
    version = json.loads((models["good"] / CARD).read_text())["version"]
    spec = json.loads((champion / DEPLOYMENT).read_text())
    assert spec["challengers"] == {version: 0.2} and spec["mode"] == "split"
    assert (champion / version / CARD).exists() and spec["champion"] != version
    from workshop.canary import deploy
    shadow = deploy(champion, version, mode="shadow", weight=0.0)  # scores every request, answers none
    assert shadow == {"champion": spec["champion"], "challengers": {version: 0.0}, "mode": "shadow"}
    (champion / DEPLOYMENT).unlink()


def test_expected_calibration_error_on_known_cases():
    y = np.array([0] * 90 + [1] * 10)
    assert expected_calibration_error(y, np.full(100, 0.1)) == pytest.approx(0.0)  # calibrated on average
    assert expected_calibration_error(y, np.full(100, 0.5)) == pytest.approx(0.4)  # |0.5 - 0.1| in one bin
    perfect = np.r_[np.zeros(90), np.ones(10)]
    assert expected_calibration_error(y, perfect) == pytest.approx(0.0)


def test_the_canary_watches_alerts_that_exist_and_lesson_07s_challenger_alerts_carry_a_version():
    """A misspelt alert name in the policy would never fire: every name must be an alerting rule."""
    from workshop.canary import CanaryPolicy
    from workshop.rules import load_rules

    rules = {r.name: r for r in load_rules() if r.kind == "alert"}
    assert set(CanaryPolicy().alerts) <= set(rules), set(CanaryPolicy().alerts) - set(rules)
    # look() also stops on any firing alert labelled with the candidate's version: lesson 07's challenger guards
    assert {"ModelChallengerErrorRatioHigh", "ModelChallengerLatencyP95High"} <= set(rules)
    assert all("version" in rules[n].summary for n in ("ModelChallengerErrorRatioHigh", "ModelChallengerLatencyP95High"))
