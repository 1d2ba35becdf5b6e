"""The webhook receiver that records Alertmanager notifications (workshop/webhook.py)."""
import json
import socket
import sys
import threading
from datetime import datetime, timedelta

import pytest
import requests

from workshop import procs
from workshop.paths import REPO_ROOT
from workshop.webhook import WebhookReceiver, has_alert

NOTIFICATION = {  # the shape Alertmanager's webhook_configs post (version 4)
    "version": "4", "status": "firing", "receiver": "workshop-warning", "groupKey": "{}:{alertname=\"X\"}",
    "groupLabels": {"alertname": "ModelLatencyP95High", "job": "ml-model-app"},
    "commonLabels": {"alertname": "ModelLatencyP95High", "job": "ml-model-app", "severity": "warning"},
    "alerts": [{"status": "firing", "labels": {"alertname": "ModelLatencyP95High", "job": "ml-model-app",
                                               "severity": "warning"},
                "annotations": {"summary": "P95 is slow"}, "startsAt": "2024-01-01T00:00:00Z"}],
}


def resolved(payload: dict) -> dict:
    alerts = [{**alert, "status": "resolved"} for alert in payload["alerts"]]
    return {**payload, "status": "resolved", "alerts": alerts}


@pytest.fixture()
def receiver(tmp_path):
    with WebhookReceiver(port=0, log_path=tmp_path / "alerts.jsonl") as running:
        yield running


def test_records_payloads_in_memory_and_in_the_jsonl_file(receiver):
    assert requests.post(receiver.url, json=NOTIFICATION, timeout=5).status_code == 200
    assert requests.post(receiver.url, json=resolved(NOTIFICATION), timeout=5).status_code == 200

    statuses = [p["status"] for p in receiver.received]
    assert statuses == ["firing", "resolved"]
    first = receiver.received[0]
    assert {k: v for k, v in first.items() if k != "receivedAt"} == NOTIFICATION
    lines = receiver.log_path.read_text().splitlines()
    assert [json.loads(line) for line in lines] == receiver.received
    table = receiver.table()
    assert table[["status", "alertname", "severity", "receiver"]].values.tolist() == [
        ["firing", "ModelLatencyP95High", "warning", "workshop-warning"],
        ["resolved", "ModelLatencyP95High", "warning", "workshop-warning"]]


def test_get_returns_what_was_received_and_delete_forgets_it(receiver):
    requests.post(receiver.url, json=NOTIFICATION, timeout=5)
    body = requests.get(receiver.url, timeout=5).json()
    assert len(body) == 1 and body[0]["groupLabels"] == NOTIFICATION["groupLabels"]
    assert requests.get(receiver.url.replace("/alerts", "/health"), timeout=5).json()["received"] == 1

    assert requests.delete(receiver.url, timeout=5).ok
    assert requests.get(receiver.url, timeout=5).json() == [] and receiver.received == []
    assert receiver.log_path.read_text().count("\n") == 1  # the file keeps the history


@pytest.mark.parametrize("body, status", [(b"{not json", 400), (b"[1, 2]", 400), (b"\xff\xfe", 400)])
def test_rejects_what_is_not_a_json_object(receiver, body, status):
    response = requests.post(receiver.url, data=body, headers={"Content-Type": "application/json"}, timeout=5)
    assert response.status_code == status
    assert receiver.received == []


def test_unknown_paths_are_404(receiver):
    base = receiver.url.removesuffix("/alerts")
    assert requests.post(base + "/other", json=NOTIFICATION, timeout=5).status_code == 404
    assert requests.get(base + "/other", timeout=5).status_code == 404
    assert receiver.received == []


def test_wait_for_returns_a_payload_that_arrives_later(receiver):
    def post_later():
        requests.post(receiver.url, json=NOTIFICATION, timeout=5)
        requests.post(receiver.url, json=resolved(NOTIFICATION), timeout=5)

    poster = threading.Timer(0.2, post_later)
    poster.start()
    try:
        payload = receiver.wait_for(has_alert("ModelLatencyP95High", "resolved", job="ml-model-app"), 10)
    finally:
        poster.join()
    assert payload["status"] == "resolved"
    assert receiver.wait_for(has_alert("ModelLatencyP95High"), 0)["status"] == "firing"  # already there


def test_wait_for_times_out_naming_what_arrived(receiver):
    requests.post(receiver.url, json=NOTIFICATION, timeout=5)
    with pytest.raises(TimeoutError, match="ModelLatencyP95High"):
        receiver.wait_for(has_alert("ModelApiDown"), timeout=0.3)
    assert not has_alert("ModelLatencyP95High", job="other")(NOTIFICATION)


def test_has_alert_since_ignores_an_earlier_episode():
    started = datetime.fromisoformat(NOTIFICATION["alerts"][0]["startsAt"])  # 2024-01-01T00:00:00Z
    assert has_alert("ModelLatencyP95High", since=started)(NOTIFICATION)
    assert not has_alert("ModelLatencyP95High", since=started + timedelta(microseconds=1))(NOTIFICATION)
    nanoseconds = {**NOTIFICATION, "alerts": [{**NOTIFICATION["alerts"][0],
                                                "startsAt": "2024-01-01T00:00:05.123456789Z"}]}
    assert has_alert("ModelLatencyP95High", since=started + timedelta(seconds=5))(nanoseconds)


def test_stop_frees_the_port(tmp_path):
    receiver = WebhookReceiver(port=0, log_path=None).start()
    port = receiver.port
    with pytest.raises(RuntimeError, match="another webhook receiver"):
        WebhookReceiver(port=port, log_path=None).start()
    receiver.stop()
    receiver.stop()  # idempotent
    assert not procs.port_in_use(port)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # raises if the port were still held


def test_command_line_receiver_records_and_stops_on_sigterm(tmp_path):
    port, log = procs.free_port(), tmp_path / "cli.jsonl"
    command = [sys.executable, "-m", "workshop.webhook", "--port", str(port), "--log", log]
    process = procs.start_process(command, tmp_path / "webhook.log", cwd=REPO_ROOT)
    try:
        procs.wait_http(f"http://127.0.0.1:{port}/health", timeout=20, process=process,
                        log_path=tmp_path / "webhook.log")
        assert requests.post(f"http://127.0.0.1:{port}/alerts", json=NOTIFICATION, timeout=5).ok
        received = requests.get(f"http://127.0.0.1:{port}/alerts", timeout=5).json()
        assert received[0]["receiver"] == "workshop-warning"
    finally:
        procs.stop_process(process)
    assert process.returncode == 0  # SIGTERM is a clean shutdown
    assert json.loads(log.read_text())["status"] == "firing"
    assert "firing -> workshop-warning: ModelLatencyP95High" in (tmp_path / "webhook.log").read_text()
    assert not procs.port_in_use(port)
