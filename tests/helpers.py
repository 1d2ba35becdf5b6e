"""Helpers the tests import (fixtures live in conftest.py; pytest puts tests/ on the import path)."""


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
