"""Alertmanager keeps a notification log across restarts: an alert it already sent stays quiet until
repeat_interval (1 h), even after a stop and start. A lesson re-run within the hour would wait forever for
its webhook, so lesson stacks start with `fresh=True`. This proves both halves with the real binaries."""
from datetime import UTC, datetime, timedelta

import pytest
import requests

from workshop.stack import Stack, render_alertmanager_config
from workshop.webhook import WebhookReceiver, has_alert

pytestmark = [pytest.mark.stack,
              pytest.mark.requires_binaries("prometheus", "alertmanager")]

ALERT = {"alertname": "LessonRerunProbe", "job": "ml-model-app", "severity": "warning"}
QUIET_WAIT = 6  # seconds: group_wait is 1 s, so a notification that is coming arrives well within this


@pytest.fixture
def receiver():
    with WebhookReceiver(port=0) as webhook:
        yield webhook


def run_once(data_dir, config, receiver, fresh: bool, timeout: float) -> bool:
    """Start the stack, send the probe alert straight to Alertmanager, report whether the webhook got it."""
    receiver.clear()
    with Stack(mode="local", prometheus_port=0, alertmanager_port=0, alertmanager_config=config,
               data_dir=data_dir, fresh=fresh) as stack:
        now = datetime.now(UTC)
        alert = {"labels": ALERT, "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=5)).isoformat()}
        requests.post(f"{stack.alertmanager_url}/api/v2/alerts", json=[alert], timeout=5).raise_for_status()
        try:
            receiver.wait_for(has_alert(ALERT["alertname"]), timeout=timeout)
            return True
        except TimeoutError:
            return False


def test_a_restarted_alertmanager_stays_quiet_unless_started_fresh(tmp_path, receiver):
    config = render_alertmanager_config(receiver.url, tmp_path / "alertmanager.yml",
                                        route={"group_wait": "1s", "group_interval": "1s"})
    data_dir = tmp_path / "stack"
    assert run_once(data_dir, config, receiver, fresh=True, timeout=30), "first notification never arrived"
    assert not run_once(data_dir, config, receiver, fresh=False, timeout=QUIET_WAIT), \
        "kept storage: the same alert should count as already sent"
    assert run_once(data_dir, config, receiver, fresh=True, timeout=30), "fresh storage should notify again"
