"""End to end: the app in production mode (gunicorn, 2 workers), a real Prometheus with the lesson-speed copy
of the rules (drift window 30 s, `for: 2s`, scrape and evaluation every 1 s) and simulated loopback traffic.
Clean traffic must give a verdict ("ready") without any drift alert; a 1-sigma shift of V14 must make
ModelInputDrift fire for V14, and for V14 only.
"""
import pytest

from workshop import promql
from workshop.alerts import watch_alert
from workshop.appserver import AppServer
from workshop.polling import poll_until
from workshop.rules import lesson_rules
from workshop.stack import Stack
from workshop.traffic import run_in_background

pytestmark = [pytest.mark.stack, pytest.mark.slow,
              pytest.mark.requires_binaries("prometheus", "alertmanager")]
RATE = 50             # requests/s on loopback: 1500 values in the 30 s lesson window, 500 (a verdict) after 10 s
MAX_TRAFFIC_S = 60    # every traffic run is bounded, even when an assertion stops the test early
CLEAN_VERDICTS_S = 8  # how long clean traffic must stay alert-free once a verdict is possible
DRIFT_ALERTS = ("ModelInputDrift", "ModelScoreDrift")


def drift_alerts(prom_url: str) -> list[dict]:
    return [a for a in promql.api_get(prom_url, "alerts")["alerts"] if a["labels"]["alertname"] in DRIFT_ALERTS]


def value(prom_url: str, query: str) -> float:
    return promql.instant(prom_url, query)["value"].item()


def alert_at_the_newest_evaluation(prom_url: str) -> tuple[float, dict]:
    """(time of the drift group's newest evaluation, V14's ModelInputDrift as that evaluation left it): the
    alert is read between two reads of the evaluation time that agree, so no evaluation ran in between."""
    def read():
        before = promql.last_evaluation(prom_url, "data-drift")
        alert = next(a for a in drift_alerts(prom_url) if a["labels"]["alertname"] == "ModelInputDrift"
                     and a["labels"]["feature"] == "V14")
        return before, alert, promql.last_evaluation(prom_url, "data-drift")

    before, alert, after = poll_until(read, done=lambda r: r[0] == r[2], timeout=10, interval=0.1,
                                      what="an alert read between two evaluations")
    return before, alert


@pytest.fixture()
def live(model_dir, tmp_path):
    lesson_rules(tmp_path / "rules")
    with AppServer(port=0, model_dir=model_dir, production=True, workers=2, threads=2,
                   env={"DISABLE_REQUEST_LOGS": "1"}, run_dir=tmp_path / "app") as app, \
            Stack(mode="local", app_targets=[f"127.0.0.1:{app.port}"], scrape_interval="1s", prometheus_port=0,
                  alertmanager=False, data_dir=tmp_path / "stack", rules_dir=tmp_path / "rules") as stack:
        stack.wait_for_targets(timeout=30)
        yield app, stack.prometheus_url


def test_drift_alert_fires_on_a_shifted_feature_and_stays_silent_on_clean_traffic(live):
    app, prom = live
    clean = run_in_background(f"{app.url}/predict", rate=RATE, duration=MAX_TRAFFIC_S, seed=1)
    try:
        assert value(prom, "max(drift_monitoring_enabled)") == 1
        promql.wait_for(prom, "job_version:drift_verdict_ready:bool == 1", timeout=40, interval=0.5)
        with pytest.raises(TimeoutError):  # no drift alert, not even pending, for CLEAN_VERDICTS_S
            poll_until(lambda: drift_alerts(prom), timeout=CLEAN_VERDICTS_S, what="a drift alert")
        assert value(prom, "job_version:drift_features_drifted:count") == 0
        assert value(prom, 'max(job_version_feature:drift_psi:5m{feature!="score"})') < 0.1  # noise: ~9 / 1000 values
    finally:
        summary = clean.stop()
    assert summary.succeeded == summary.sent > 0, summary

    # Both gunicorn workers counted into the same series: every record once per feature, exactly.
    scraped = f'sum(drift_bin_observations_total{{feature="score"}}) == {summary.succeeded} and sum(predictions_total) == {summary.succeeded}'
    promql.wait_for(prom, scraped, timeout=10, interval=0.5)
    assert value(prom, 'sum(drift_bin_observations_total{feature="V14"})') == summary.succeeded

    drift = run_in_background(f"{app.url}/predict", rate=RATE, duration=MAX_TRAFFIC_S, seed=2,
                              scenario="shift:V14:1.0@0")
    try:
        watch_alert(prom, "ModelInputDrift", timeout=45, echo=None)
        firing = [a for a in drift_alerts(prom) if a["labels"]["alertname"] == "ModelInputDrift"
                  and a["state"] == "firing"]
        assert {a["labels"]["feature"] for a in firing} == {"V14"}
        assert firing[0]["labels"]["severity"] == "warning" and float(firing[0]["value"]) > 0.1  # its PSI
        flagged = promql.instant(prom, "job_version_feature:drift_detected:bool == 1")
        assert set(flagged["feature"]) <= {"V14", "score"}
        at, alert = alert_at_the_newest_evaluation(prom)
        assert promql.instant(prom, 'job_version_feature:drift_psi:5m{feature="V14"}', at)["value"].item() == \
            pytest.approx(float(alert["value"]), rel=1e-12)  # what the lesson's checks and dashboard read
    finally:
        drift.stop()
