"""The local-mode stack with real Prometheus and Alertmanager binaries, scraping a real tiny exporter."""
import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta

import pandas as pd
import psutil
import pytest
import requests
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from workshop import procs, promql
from workshop.paths import REPO_ROOT
from workshop.polling import poll_until
from workshop.stack import Stack

pytestmark = [pytest.mark.stack,
              pytest.mark.requires_binaries("prometheus", "alertmanager")]
FRAUD_COUNT = 3


def processes_using(path) -> list[int]:
    """Pids whose command line mentions `path` (every stack process has its data_dir in its flags)."""
    return [p.pid for p in psutil.process_iter(["cmdline"]) if f"{path}/" in " ".join(p.info["cmdline"] or [])]


@pytest.fixture()
def run_dir(tmp_path):
    """A data_dir whose processes are killed at teardown even if the code under test failed to stop them."""
    yield tmp_path
    for pid in processes_using(tmp_path):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def exporter():
    """A stand-in for the app: the lesson's metric names on a free port of 127.0.0.1."""
    registry = CollectorRegistry()
    predictions = Counter("predictions_total", "Predictions", ["class_name"], registry=registry)
    predictions.labels(class_name="fraud").inc(FRAUD_COUNT)
    predictions.labels(class_name="non_fraud").inc(100)
    Gauge("model_accuracy", "Held-out accuracy", registry=registry).set(0.99)
    port = procs.free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield f"127.0.0.1:{port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def alertmanager_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("am") / "alertmanager.yml"
    path.write_text("route: {receiver: sink}\nreceivers:\n  - name: sink\n")
    return path


@pytest.fixture(scope="module")
def stack(exporter, alertmanager_config, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("stack")
    with Stack(mode="local", app_targets=[exporter], scrape_interval="1s", prometheus_port=0,
               alertmanager_port=0, alertmanager_config=alertmanager_config, data_dir=data_dir) as running:
        running.wait_for_targets(timeout=30)
        yield running
    assert processes_using(data_dir) == []


def test_urls_mode_and_loopback_binding(stack):
    assert stack.mode == "local" and stack.grafana_url is None
    for url in (stack.prometheus_url, stack.alertmanager_url):
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(f"{url}/-/ready", timeout=5).ok


def test_app_target_is_up_and_scraped(stack, exporter):
    up = promql.instant(stack.prometheus_url, 'up{job="ml-model-app"} == 1')
    assert up[["job", "instance"]].to_dict("records") == [{"job": "ml-model-app", "instance": exporter}]
    fraud = promql.instant(stack.prometheus_url, 'predictions_total{class_name="fraud"}')
    assert fraud["value"].tolist() == [FRAUD_COUNT]


def test_prometheus_sends_alerts_to_the_stack_alertmanager(stack):
    managers = poll_until(lambda: promql.api_get(stack.prometheus_url, "alertmanagers")["activeAlertmanagers"],
                          timeout=15, interval=0.2, what="Prometheus finding an Alertmanager")
    assert [m["url"] for m in managers] == [f"{stack.alertmanager_url}/api/v2/alerts"]


def test_status_reports_components_and_targets(stack, exporter):
    status = stack.status()
    assert status["running"] and status["mode"] == "local"
    assert set(status["components"]) == {"prometheus", "alertmanager"}
    assert all(c["ready"] and c["process_alive"] for c in status["components"].values())
    app = [t for t in status["targets"] if t["job"] == "ml-model-app"]
    assert app == [{"job": "ml-model-app", "instance": exporter, "health": "up", "last_error": ""}]


def test_second_start_reuses_the_running_stack(stack):
    pids = sorted(c["pid"] for c in stack.status()["components"].values())
    again = Stack(mode="local", data_dir=stack.data_dir).start()
    assert again.urls == stack.urls
    assert sorted(processes_using(stack.data_dir)) == pids  # still one Prometheus, one Alertmanager
    config = promql.api_get(stack.prometheus_url, "status/config")["yaml"]
    assert "scrape_interval: 1s" in config  # settings not given to the second Stack are kept
    again.stop()  # it did not start the stack, so it leaves it running
    assert stack.status()["running"]


def test_wait_for_targets_is_not_fooled_by_samples_kept_from_a_previous_run(exporter, tmp_path):
    settings = dict(mode="local", scrape_interval="1s", prometheus_port=0, alertmanager=False, data_dir=tmp_path)
    with Stack(app_targets=[exporter], **settings) as first:
        first.wait_for_targets(timeout=30)
    dead = f"127.0.0.1:{procs.free_port()}"  # nothing listens there
    with Stack(app_targets=[dead], **settings) as second:
        kept = second.query('up{job="ml-model-app"}')
        assert exporter in set(kept["instance"]), "the kept TSDB should still answer up == 1 for the old target"
        with pytest.raises(TimeoutError, match=dead):
            second.wait_for_targets(timeout=10)  # discovery needs up to 5 s; then it reports the target down


def test_reload_rereads_the_configuration(stack):
    def last_config_time():
        return pd.Timestamp(promql.api_get(stack.prometheus_url, "status/runtimeinfo")["lastConfigTime"])

    before = last_config_time()
    stack.reload()
    assert last_config_time() > before


def test_range_query_is_long_format(stack, exporter):
    promql.wait_for(stack.prometheus_url, f'count_over_time(up{{instance="{exporter}"}}[1m]) >= 3', timeout=15)
    df = promql.range_query(stack.prometheus_url, f'up{{instance="{exporter}"}}', start=timedelta(seconds=30),
                            step="1s")
    assert list(df.columns) == ["timestamp", "__name__", "instance", "job", "value"]
    assert len(df) >= 2 and df["timestamp"].is_monotonic_increasing and str(df["timestamp"].dt.tz) == "UTC"
    assert set(df["value"]) == {1.0}


def test_query_errors_are_clear(stack):
    with pytest.raises(promql.PromQLError, match="parse error") as error:
        promql.instant(stack.prometheus_url, "sum(rate(predictions_total[5m])")
    assert error.value.error_type == "bad_data"
    with pytest.raises(promql.PromQLError, match="not reachable") as error:
        promql.instant(f"http://127.0.0.1:{procs.free_port()}", "up")
    assert error.value.error_type == "unreachable"
    empty = promql.instant(stack.prometheus_url, 'up{job="no-such-job"}')
    assert empty.empty and list(empty.columns) == ["value"]
    with pytest.raises(TimeoutError, match="no-such-job"):
        promql.wait_for(stack.prometheus_url, 'up{job="no-such-job"}', timeout=1, interval=0.2)


def test_app_targets_can_move_without_restart(stack, exporter):
    """Last of the shared-stack tests: the removed target lingers in Prometheus for a few seconds."""
    extra_registry = CollectorRegistry()
    Counter("predictions_total", "Predictions", ["class_name"], registry=extra_registry).labels("fraud").inc()
    port = procs.free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=extra_registry)
    pid = stack.status()["components"]["prometheus"]["pid"]
    try:
        stack.set_app_targets([exporter, f"127.0.0.1:{port}"])
        up = stack.wait_for_targets(timeout=30)
        assert sorted(up["instance"]) == sorted([exporter, f"127.0.0.1:{port}"])
        assert stack.status()["components"]["prometheus"]["pid"] == pid
        recorded = json.loads(stack.state_path.read_text())["settings"]["app_targets"]
        assert recorded == [exporter, f"127.0.0.1:{port}"]  # what a later start() would keep
    finally:
        stack.set_app_targets([exporter])
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_busy_port_is_reported_and_nothing_is_left(exporter, alertmanager_config, run_dir):
    busy = int(exporter.rsplit(":", 1)[1])
    stack = Stack(mode="local", prometheus_port=busy, alertmanager_port=0,
                  alertmanager_config=alertmanager_config, data_dir=run_dir)
    with pytest.raises(RuntimeError, match=f"port {busy} for prometheus is in use"):
        stack.start()
    assert processes_using(run_dir) == [] and not stack.state_path.exists()


def test_interpreter_exit_stops_what_it_started(alertmanager_config, run_dir):
    """A notebook kernel that exits without calling stop() leaves no orphan."""
    script = textwrap.dedent(f"""
        from workshop.stack import Stack
        s = Stack(mode="local", prometheus_port=0, alertmanager_port=0,
                  alertmanager_config={str(alertmanager_config)!r}, data_dir={str(run_dir)!r}).start()
        print(s.prometheus_url)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("http://127.0.0.1:")
    assert processes_using(run_dir) == []


def test_cli_up_is_idempotent_and_down_cleans_up(alertmanager_config, run_dir):
    def cli(*args):
        result = subprocess.run([sys.executable, "-m", "workshop.stack", *args, "--data-dir", str(run_dir)],
                                cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    up = ["up", "--mode", "local", "--prometheus-port", "0", "--alertmanager-port", "0",
          "--alertmanager-config", str(alertmanager_config), "--json"]
    try:
        first = json.loads(cli(*up))
        assert first["running"]  # the processes outlive the `up` command
        second = json.loads(cli(*up))
        assert second["components"] == first["components"]
        pids = sorted(c["pid"] for c in first["components"].values())
        assert sorted(processes_using(run_dir)) == pids
        assert "prometheus" in cli("status") and "ready" in cli("status")
    finally:
        assert "stopped" in cli("down")
    assert processes_using(run_dir) == []
    assert "not running" in cli("status")


@pytest.mark.parametrize("options", [dict(prometheus_port=0), dict(scrape_interval="1s"),
                                     dict(app_targets=["127.0.0.1:1234"]), dict(alertmanager=False)])
def test_docker_mode_refuses_local_only_settings(options, tmp_path):
    """Ports 0, custom intervals or targets exist only in local mode, so auto mode never picks Docker for them."""
    with pytest.raises(ValueError, match="use mode='local'"):
        Stack(mode="docker", data_dir=tmp_path, **options).start()
