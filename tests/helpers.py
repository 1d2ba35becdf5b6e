"""Helpers the tests import (fixtures live in conftest.py; pytest puts tests/ on the import path)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import papermill

from workshop.paths import APP_DIR


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


# ---------------------------------------------------------------- running lessons in a scratch tree
# What the lessons read besides app/: copied into a scratch tree whose workshop/ then resolves every path there
# (REPO_ROOT, .run/, the service's working directory), so a run never touches this checkout.
LESSON_TREE = ("notebooks", "workshop", "prometheus", "grafana-provisioning", "docs", "docker-compose.yml",
               ".env.example")
SKIP = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")


def lesson_tree(root: Path, app_files: bool) -> Path:
    """A copy of the repository's lesson material under `root`, with app/ as committed or EMPTY."""
    repo = APP_DIR.parent
    for name in LESSON_TREE:
        source = repo / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=SKIP)
        elif source.exists():
            shutil.copy2(source, root / name)
    (root / "data").symlink_to(repo / "data")  # creditcard.csv, if the user added it (read only)
    if app_files:
        shutil.copytree(APP_DIR, root / "app", ignore=SKIP)
    else:
        (root / "app").mkdir()
    return root


def use_tree(root: Path, monkeypatch) -> None:
    """Make the kernel and every process it starts import `app` and `workshop` from `root`, and prove it."""
    monkeypatch.setenv("PYTHONPATH", str(root))
    found = subprocess.run([sys.executable, "-c", "import app, workshop; print(list(app.__path__)[0]); "
                            "print(workshop.__file__)"], cwd=root / "notebooks", capture_output=True, text=True,
                           check=True).stdout.split()
    assert found == [str(root / "app"), str(root / "workshop" / "__init__.py")], found


def isolated_parameters(path: Path, tmp_path: Path, models_dir: Path) -> dict:
    """Quick parameters that keep a notebook off the default ports and folders, for those it declares."""
    candidates = {"quick": True, "prometheus_port": 0, "alertmanager_port": 0, "app_port": 0,
                  "stack_dir": str(tmp_path / "stack"), "models_dir": str(models_dir)}
    declared = papermill.inspect_notebook(str(path))
    assert "quick" in declared, f"{path.name}: the parameters cell must declare `quick`"
    return {name: value for name, value in candidates.items() if name in declared}
