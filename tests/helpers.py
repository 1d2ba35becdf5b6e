"""Helpers the tests import (fixtures live in conftest.py; pytest puts tests/ on the import path)."""
import json
import subprocess
import sys
from pathlib import Path


def metric_value(text: str, name: str, **labels) -> float:
    """Value of one sample in Prometheus text exposition format (0 if absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


# ---------------------------------------------------------------- which monitoring binaries a test needs
REQUIRE_BINARIES_ENV = "WORKSHOP_REQUIRE_BINARIES"


def missing(*names: str) -> list[str]:
    """The named binaries (prometheus, alertmanager, promtool, amtool) that are not on PATH."""
    from workshop.system_deps import ALERTMANAGER_BINARIES, PROMETHEUS_BINARIES, find_binary

    binary_names = {"prometheus": PROMETHEUS_BINARIES, "alertmanager": ALERTMANAGER_BINARIES}
    return [name for name in names if not find_binary(binary_names.get(name, (name,)))]


# ---------------------------------------------------------------- a real gunicorn server's workers and counts
def worker_children(server) -> list[int]:
    """PIDs of the gunicorn master's worker processes."""
    from workshop.procs import child_pids

    return child_pids(server.process.pid)


def scrape(url, name, **labels) -> float:
    import requests

    return metric_value(requests.get(f"{url}/metrics", timeout=5).text, name, **labels)


def total_predictions(url) -> float:
    return scrape(url, "predictions_total", class_name="fraud") + scrape(url, "predictions_total",
                                                                         class_name="non_fraud")


# ---------------------------------------------------------------- files against a bundled JSON schema
def schema_errors(*paths: Path, schema: str) -> dict[str, list[str]]:
    """Validate files against a schema bundled with check-jsonschema (offline, e.g. vendor.compose-spec,
    vendor.github-workflows): {file: [errors]} for every file given. One run for all: loading a schema takes 1-3 s."""
    check = Path(sys.executable).with_name("check-jsonschema")  # pinned in requirements-dev.txt
    result = subprocess.run([str(check), "-o", "json", "--builtin-schema", schema, *map(str, paths)],
                            capture_output=True, text=True, timeout=60)
    report = json.loads(result.stdout)
    assert not report["parse_errors"], report
    errors = {str(path): [] for path in paths}
    for error in report["errors"]:
        errors[error["filename"]].append(f"{error['path']}: {error['message']}")
    assert (result.returncode == 0) == (report["status"] == "ok") == (not any(errors.values())), result
    return errors


# ---------------------------------------------------------------- end-to-end fixtures' teardown
def stop_traffic_then(traffic, *parts) -> None:
    """Stop the background traffic first (so no request meets a stopped server), then each part in order
    (app, stack, webhook receiver); a part that never started is None."""
    if traffic is not None:
        traffic.stop()
    for part in parts:
        if part is not None:
            part.stop()
