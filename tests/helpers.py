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
