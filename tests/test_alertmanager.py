"""prometheus/alertmanager.yml: amtool checks, rendering, a real Alertmanager delivering to the webhook."""
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
import yaml

from workshop import procs
from workshop.addresses import DOCKER_WEBHOOK_URL, LOCAL_WEBHOOK_URL
from workshop.paths import ALERTMANAGER_CONFIG
from workshop.polling import poll_until
from workshop.rules import amtool, load_rules
from workshop.stack import render_alertmanager_config
from workshop.system_deps import ALERTMANAGER_BINARIES, find_binary
from workshop.webhook import WebhookReceiver, has_alert

FAST_ROUTE = {"group_wait": "1s", "group_interval": "1s"}  # test copy only; the committed file keeps 10s/30s


def amtool_ok(path) -> str:
    result = amtool("check-config", path)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def webhook_urls(config: dict) -> list[str]:
    return [w["url"] for r in config["receivers"] for w in r.get("webhook_configs", [])]


# ---------------------------------------------------------------- the files

def test_committed_config_is_valid_and_targets_the_docker_host():
    output = amtool_ok(ALERTMANAGER_CONFIG)
    assert "3 receivers" in output and "1 inhibit rules" in output
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    assert set(webhook_urls(config)) == {DOCKER_WEBHOOK_URL}
    assert config["route"]["group_by"] == ["alertname", "job"]


def test_api_down_inhibits_every_other_alert_of_the_rules_but_info():
    """A new alert rule must be added to the inhibit rule (or be info: context that stays useful)."""
    (rule,) = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())["inhibit_rules"]
    assert rule["source_matchers"] == ['alertname="ModelApiDown"'] and rule["equal"] == ["job"]
    (matcher,) = rule["target_matchers"]
    targets = set(re.fullmatch(r'alertname=~"(.+)"', matcher).group(1).split("|"))
    expected = {r.name for r in load_rules() if r.kind == "alert" and r.severity != "info"} - {"ModelApiDown"}
    assert targets == expected


def test_rendered_copy_changes_only_the_webhook_urls_and_route_timings(tmp_path):
    committed = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    rendered_path = render_alertmanager_config(LOCAL_WEBHOOK_URL, tmp_path / "am.yml", route=FAST_ROUTE)
    amtool_ok(rendered_path)
    rendered = yaml.safe_load(rendered_path.read_text())
    assert set(webhook_urls(rendered)) == {LOCAL_WEBHOOK_URL}
    assert {k: rendered["route"][k] for k in FAST_ROUTE} == FAST_ROUTE
    assert all(set(FAST_ROUTE).isdisjoint(child) for child in rendered["route"]["routes"])  # children inherit
    for receiver in rendered["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = DOCKER_WEBHOOK_URL
    rendered["route"].update({k: committed["route"][k] for k in FAST_ROUTE})
    assert rendered == committed


def test_render_refuses_a_config_without_the_workshop_webhook(tmp_path):
    source = tmp_path / "other.yml"
    source.write_text("route: {receiver: x}\n"
                      "receivers: [{name: x, webhook_configs: [{url: 'http://example.com/'}]}]\n")
    with pytest.raises(ValueError, match="no webhook receiver"):
        render_alertmanager_config(LOCAL_WEBHOOK_URL, tmp_path / "out.yml", source=source)


def test_commented_slack_and_email_examples_are_valid_when_uncommented(tmp_path):
    """Students copy these examples: uncommenting them must give a valid config."""
    lines, out, inside = ALERTMANAGER_CONFIG.read_text().splitlines(), [], False
    for line in lines:
        if re.fullmatch(r"    # (slack|email)_configs:", line):
            inside = True
        elif not line.startswith("    # "):
            inside = False
        out.append(line.replace("    # ", "    ", 1) if inside else line)
    uncommented = tmp_path / "uncommented.yml"
    uncommented.write_text("\n".join(out) + "\n")
    config = yaml.safe_load(uncommented.read_text())
    kinds = {kind for receiver in config["receivers"] for kind in receiver if kind.endswith("_configs")}
    assert kinds == {"webhook_configs", "slack_configs", "email_configs"}
    amtool_ok(uncommented)


# ---------------------------------------------------------------- a real Alertmanager

@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    with WebhookReceiver(port=0, log_path=tmp_path_factory.mktemp("webhook") / "alerts.jsonl") as running:
        yield running


@pytest.fixture(scope="module")
def alertmanager(receiver, tmp_path_factory):
    binary = find_binary(ALERTMANAGER_BINARIES)
    if binary is None:
        pytest.fail("Alertmanager is not installed (make setup installs it)")
    workdir = tmp_path_factory.mktemp("alertmanager")
    config = render_alertmanager_config(receiver.url, workdir / "alertmanager.yml", route=FAST_ROUTE)
    port, log = procs.free_port(), workdir / "alertmanager.log"
    process = procs.start_process([binary, f"--config.file={config}", f"--storage.path={workdir / 'data'}",
                                   f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                                  log, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    try:
        procs.wait_http(f"{url}/-/ready", timeout=30, process=process, log_path=log)
        yield url
    finally:
        procs.stop_process(process)


def post_alerts(am_url: str, *alerts: dict, resolved: bool = False) -> None:
    """POST alerts to Alertmanager's API v2 the way Prometheus does (firing: endsAt in the future).
    A firing alert starts now, so a new group waits group_wait before its first notification."""
    now = datetime.now(UTC)
    starts, ends = (now - timedelta(minutes=1), now) if resolved else (now, now + timedelta(minutes=5))
    body = [{"labels": alert["labels"], "annotations": alert.get("annotations", {"summary": "test"}),
             "startsAt": starts.isoformat(), "endsAt": ends.isoformat()} for alert in alerts]
    response = requests.post(f"{am_url}/api/v2/alerts", json=body, timeout=5)
    assert response.ok, response.text


def alert(name: str, job: str, severity: str | None, **labels: str) -> dict:
    severity_label = {"severity": severity} if severity else {}
    return {"labels": {"alertname": name, "job": job, **severity_label, **labels}}


def api_alerts(am_url: str, job: str, **params) -> list[dict]:
    response = requests.get(f"{am_url}/api/v2/alerts", params={"filter": f'job="{job}"', **params}, timeout=5)
    response.raise_for_status()
    return response.json()


@pytest.mark.stack
@pytest.mark.requires_binaries("alertmanager")
def test_alerts_are_routed_by_severity_and_grouped_by_alertname_and_job(alertmanager, receiver):
    job = f"routing-{uuid.uuid4().hex[:8]}"
    post_alerts(alertmanager,
                alert("ModelErrorRatioHigh", job, "critical", instance="a"),
                alert("ModelErrorRatioHigh", job, "critical", instance="b"),
                alert("ModelLatencyP95High", job, "warning"),
                alert("ModelFaultInjectionActive", job, "info", fault="latency"),
                alert("SomethingUnlabelled", job, None))

    errors = receiver.wait_for(has_alert("ModelErrorRatioHigh", job=job), timeout=20)
    assert errors["receiver"] == "workshop-critical"
    assert errors["groupLabels"] == {"alertname": "ModelErrorRatioHigh", "job": job}
    assert sorted(a["labels"]["instance"] for a in errors["alerts"]) == ["a", "b"]  # one notification, both
    expected_receivers = {"ModelLatencyP95High": "workshop-warning",
                          "ModelFaultInjectionActive": "workshop-info",
                          "SomethingUnlabelled": "workshop-info"}
    for name, receiver_name in expected_receivers.items():
        payload = receiver.wait_for(has_alert(name, job=job), timeout=20)
        assert payload["receiver"] == receiver_name, name
        assert [a["labels"]["alertname"] for a in payload["alerts"]] == [name]


@pytest.mark.stack
@pytest.mark.requires_binaries("alertmanager")
def test_resolved_alerts_are_delivered_too(alertmanager, receiver):
    job = f"resolve-{uuid.uuid4().hex[:8]}"
    latency = alert("ModelLatencyP95High", job, "warning")
    post_alerts(alertmanager, latency)
    receiver.wait_for(has_alert("ModelLatencyP95High", job=job), timeout=20)
    post_alerts(alertmanager, latency, resolved=True)
    payload = receiver.wait_for(has_alert("ModelLatencyP95High", status="resolved", job=job), timeout=20)
    assert payload["status"] == "resolved" and payload["receiver"] == "workshop-warning"


@pytest.mark.stack
@pytest.mark.requires_binaries("alertmanager")
def test_model_api_down_inhibits_the_other_alerts_of_its_job(alertmanager, receiver):
    job, other_job = (f"{kind}-{uuid.uuid4().hex[:8]}" for kind in ("inhibit", "unaffected"))
    # The app goes down first (as in real life: its other alerts need minutes of data to fire).
    post_alerts(alertmanager, alert("ModelApiDown", job, "critical", instance="app:8000"))
    down = receiver.wait_for(has_alert("ModelApiDown", job=job), timeout=20)
    assert down["receiver"] == "workshop-critical"
    post_alerts(alertmanager,
                alert("ModelLatencyP95High", job, "warning"),
                alert("ModelNoTraffic", job, "warning"),
                alert("ModelLatencyP95High", other_job, "warning"))  # same alert, other job: not inhibited
    receiver.wait_for(has_alert("ModelLatencyP95High", job=other_job), timeout=20)

    # Alertmanager marks the inhibited alerts when their group is flushed: poll its API until it has.
    inhibited = ("ModelLatencyP95High", "ModelNoTraffic")
    states = poll_until(lambda: {a["labels"]["alertname"]: a["status"] for a in api_alerts(alertmanager, job)},
               done=lambda states: all(states.get(name, {}).get("state") == "suppressed" for name in inhibited),
               timeout=20, interval=0.1, what=f"{inhibited} suppressed")
    down_fingerprint = next(a["fingerprint"] for a in api_alerts(alertmanager, job)
                            if a["labels"]["alertname"] == "ModelApiDown")
    assert states["ModelLatencyP95High"]["inhibitedBy"] == [down_fingerprint]
    assert states["ModelApiDown"]["state"] == "active"
    visible = {a["labels"]["alertname"] for a in api_alerts(alertmanager, job, inhibited="false")}
    assert visible == {"ModelApiDown"}

    # Barrier instead of a sleep: an alert posted now is delivered after any flush of the earlier groups.
    post_alerts(alertmanager, alert("ModelClientErrorRatioHigh", other_job, "warning"))
    receiver.wait_for(has_alert("ModelClientErrorRatioHigh", job=other_job), timeout=20)
    delivered = {a["labels"]["alertname"] for p in receiver.received for a in p["alerts"]
                 if a["labels"].get("job") == job}
    assert delivered == {"ModelApiDown"}
