"""The one skip rule for live tests: a missing prometheus/alertmanager/promtool/amtool skips the test
locally, but fails it when WORKSHOP_REQUIRE_BINARIES=1 (set by .ci/run), so CI cannot go green by
skipping every live test after a broken install step. Proven by running pytest with an empty PATH."""
import os
import subprocess
import sys

import pytest
from helpers import REQUIRE_BINARIES_ENV, missing

from workshop.paths import REPO_ROOT

PROBE = "tests/test_required_binaries.py::test_probe_needs_prometheus_and_promtool"


@pytest.mark.requires_binaries("prometheus", "promtool")
def test_probe_needs_prometheus_and_promtool():
    assert not missing("prometheus", "promtool")


def run_probe(tmp_path, require: bool) -> subprocess.CompletedProcess:
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    env = {**os.environ, "PATH": str(empty)}  # no binary can be found
    env.pop(REQUIRE_BINARIES_ENV, None)
    if require:
        env[REQUIRE_BINARIES_ENV] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", PROBE, "-q", "-rs", "-p", "no:cacheprovider"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # two pytest runs in subprocesses
def test_missing_binary_is_a_skip_by_default_and_a_failure_when_required(tmp_path):
    skipped = run_probe(tmp_path, require=False)
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout, skipped.stdout + skipped.stderr
    assert "prometheus, promtool not installed" in skipped.stdout
    failed = run_probe(tmp_path, require=True)
    # pytest reports a failure in setup as an error: exit code 1, the run is red, nothing is skipped
    assert failed.returncode == 1 and "1 error" in failed.stdout, failed.stdout + failed.stderr
    assert "skipped" not in failed.stdout
    assert f"{REQUIRE_BINARIES_ENV}=1 and prometheus, promtool not installed" in failed.stdout


def test_missing_lists_only_absent_binaries(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert missing("prometheus", "alertmanager", "amtool") == ["prometheus", "alertmanager", "amtool"]
    (tmp_path / "alertmanager").write_text("#!/bin/sh\n")
    (tmp_path / "alertmanager").chmod(0o755)
    assert missing("prometheus", "alertmanager") == ["prometheus"]  # upstream name counts for Alertmanager
