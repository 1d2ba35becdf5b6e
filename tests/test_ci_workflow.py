""".github/workflows/ci.yml (CI on forks): a real workflow linter accepts it and rejects broken copies, and
it runs what .ci/run runs (same Debian packages, same make targets, .ci/run itself for the full suite), so the
two cannot drift apart silently. Static only: nothing here talks to GitHub."""
import fnmatch
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REQUIRE_BINARIES_ENV
from helpers import schema_errors

from workshop.paths import REPO_ROOT
from workshop.system_deps import APT_PACKAGES

WORKFLOW_PATH = REPO_ROOT / ".github" / "workflows" / "ci.yml"
WORKFLOW = yaml.safe_load(WORKFLOW_PATH.read_text())
JOBS = WORKFLOW["jobs"]
CI_RUN = (REPO_ROOT / ".ci" / "run").read_text()
MAKEFILE = (REPO_ROOT / "Makefile").read_text()
BIN = Path(sys.executable).parent  # the pinned linters live next to this venv's python


def actionlint(path: Path) -> subprocess.CompletedProcess:
    # shellcheck/pyflakes integrations off: the result must not depend on what else is on PATH.
    return subprocess.run([str(BIN / "actionlint"), "-oneline", "-no-color", "-shellcheck=", "-pyflakes=",
                           str(path)], capture_output=True, text=True, timeout=60)


def steps(job: str) -> list[dict]:
    return JOBS[job]["steps"]


def run_commands(job: str) -> list[list[str]]:
    """Every shell command of a job's `run:` steps, split into words (one per line)."""
    return [shlex.split(line) for step in steps(job) if "run" in step
            for line in step["run"].splitlines() if line.strip()]


def uses(job: str, action: str) -> list[dict]:
    return [step for step in steps(job) if step.get("uses", "").startswith(action + "@")]


def apt_packages(words: list[str]) -> set[str]:
    return {w for w in words[words.index("install") + 1:] if not w.startswith("-")}


# ---------------------------------------------------------------- a real linter, and proof that it can fail

def test_actionlint_accepts_the_workflow():
    result = actionlint(WORKFLOW_PATH)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_matches_the_github_workflow_schema_and_a_broken_copy_does_not(tmp_path):
    broken = tmp_path / "ci.yml"
    broken.write_text(WORKFLOW_PATH.read_text().replace("runs-on:", "runs-onn:", 1))
    errors = schema_errors(WORKFLOW_PATH, broken, schema="vendor.github-workflows")
    assert errors[str(WORKFLOW_PATH)] == []
    assert any("runs-onn" in e for e in errors[str(broken)]), errors


BROKEN = {  # name: (text replaced, replacement, what actionlint must say)
    "unknown key": ("timeout-minutes: 15", "timeout-minute: 15", 'unexpected key "timeout-minute"'),
    "expression syntax": ("hashFiles('requirements*.txt', 'pyproject.toml') }}",
                          "hashFiles('requirements*.txt', 'pyproject.toml' }}", "while parsing arguments of function call"),
    "unknown step id": ("steps.venv.outputs.cache-hit", "steps.venvv.outputs.cache-hit", 'property "venvv"'),
    "unknown runner context": ("${{ runner.os }}", "${{ runner.oss }}", 'property "oss" is not defined'),
}


@pytest.mark.parametrize("name", BROKEN)
def test_actionlint_rejects_a_broken_copy(name, tmp_path):
    old, new, message = BROKEN[name]
    text = WORKFLOW_PATH.read_text()
    assert old in text, f"the workflow no longer contains {old!r}: update this test"
    broken = tmp_path / "ci.yml"
    broken.write_text(text.replace(old, new, 1))
    result = actionlint(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stdout, result.stdout


# ---------------------------------------------------------------- the workflow runs what .ci/run runs

def test_full_job_runs_ci_run_itself():
    """The full suite is `.ci/run`, not a copy of it: WORKSHOP_REQUIRE_BINARIES=1 and `make test` come from there."""
    assert ["bash", ".ci/run"] in run_commands("full")
    assert re.search(rf"^export {REQUIRE_BINARIES_ENV}=1$", CI_RUN, re.M)
    assert CI_RUN.strip().splitlines()[-1] == "make test"


def test_nothing_in_the_workflow_overrides_what_ci_run_sets():
    envs = [WORKFLOW.get("env", {})] + [job.get("env", {}) for job in JOBS.values()] + \
        [step.get("env", {}) for job in JOBS.values() for step in job["steps"]]
    assert envs and not any(envs), envs  # no env: at any level (WORKSHOP_*, PYTEST_ADDOPTS, ...)
    assert not [c for job in JOBS for c in run_commands(job) if any(w.startswith(REQUIRE_BINARIES_ENV) for w in c)]


def test_workflow_installs_the_same_debian_packages_as_ci_run():
    (install,) = [words for words in run_commands("full") if "apt-get" in words and "install" in words]
    ci_run = set(re.findall(r"missing\+=\(([\w-]+)\)", CI_RUN))
    assert apt_packages(install) == ci_run == set(APT_PACKAGES) == {"prometheus", "prometheus-alertmanager"}
    # ... and before the suite, so .ci/run finds them (its own install step is then a no-op).
    commands = run_commands("full")
    assert commands.index(install) < commands.index(["bash", ".ci/run"])


@pytest.mark.parametrize("job", JOBS)
def test_every_job_stops_the_docker_engine_before_the_tests(job):
    """Hosted runners have a Docker engine, the project's CI machine has none: without this the suite would take
    the Docker-mode paths (workshop.system_deps, Stack cleanup running `docker compose down`)."""
    commands = run_commands(job)
    stop = ["sudo", "systemctl", "stop", "docker.socket", "docker.service"]
    first_test = next(i for i, c in enumerate(commands) if c[0] == "make" or c == ["bash", ".ci/run"])
    assert stop in commands and commands.index(stop) < first_test, commands


def test_fast_job_runs_the_makefile_targets():
    assert ["make", "lint"] in run_commands("fast") and ["make", "test-fast"] in run_commands("fast")
    targets = {w[1] for job in JOBS for w in run_commands(job) if w[0] == "make"}
    phony = set(re.search(r"^\.PHONY:(.*)$", MAKEFILE, re.M)[1].split())
    assert targets <= phony, targets - phony


def test_python_version_is_the_projects():
    environment = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    conda_python = next(d for d in environment["dependencies"] if isinstance(d, str) and d.startswith("python="))
    docker_python = re.search(r"^FROM python:(\d+\.\d+)", (REPO_ROOT / "Dockerfile").read_text(), re.M)[1]
    for job in JOBS:
        (setup,) = uses(job, "actions/setup-python")
        assert setup["with"]["python-version"] == conda_python.split("=")[1] == docker_python == "3.11"


def test_caches_are_keyed_on_every_file_the_install_depends_on():
    """A stale venv must never be reused: the keys hash at least the Makefile's install-stamp prerequisites."""
    stamp_inputs = re.search(r"^\$\(STAMP\):(.*)$", MAKEFILE, re.M)[1].split()
    assert "requirements.txt" in stamp_inputs and "pyproject.toml" in stamp_inputs
    for job in JOBS:
        (venv,) = uses(job, "actions/cache")
        assert venv["with"]["path"] == ".venv"
        key = venv["with"]["key"]
        assert "steps.python.outputs.python-version" in key  # the venv links to that exact interpreter
        (hashed,) = re.findall(r"hashFiles\(([^)]*)\)", key)
        patterns = re.findall(r"'([^']+)'", hashed)
        (setup,) = uses(job, "actions/setup-python")
        pip_patterns = setup["with"]["cache-dependency-path"].split()
        for name in stamp_inputs:
            assert any(fnmatch.fnmatch(name, p) for p in patterns), f"{job}: venv key ignores {name}"
            assert any(fnmatch.fnmatch(name, p) for p in pip_patterns), f"{job}: pip cache key ignores {name}"


def test_a_failed_run_keeps_the_executed_notebooks():
    (upload,) = uses("full", "actions/upload-artifact")
    assert upload["if"] == "failure()"
    paths = upload["with"]["path"].split()
    # tests/test_notebooks.py executes the lessons into pytest's tmp_path (default basetemp under /tmp)
    assert any(p.startswith("/tmp/pytest-of-") and p.endswith("*.ipynb") for p in paths), paths
