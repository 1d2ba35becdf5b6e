""".github/workflows/ci.yml (CI on forks): a real workflow linter accepts it and rejects broken copies, and
it runs what .ci/run runs (same Debian packages, same make targets, .ci/run itself for the full suite), so the
two cannot drift apart silently. Static only: nothing here talks to GitHub."""
import copy
import fnmatch
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import REQUIRE_BINARIES_ENV, schema_errors

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


def run_commands(job: dict) -> list[list[str]]:
    """Every shell command of a job's `run:` steps, split into words (one per line)."""
    return [shlex.split(line) for step in job["steps"] if "run" in step
            for line in step["run"].splitlines() if line.strip()]


def uses(job: str, action: str) -> list[dict]:
    return [step for step in JOBS[job]["steps"] if step.get("uses", "").startswith(action + "@")]


STOP_DOCKER = ["sudo", "systemctl", "stop", "docker.socket", "docker.service"]


def drift(workflow: dict, ci_run: str, makefile: str = MAKEFILE) -> list[str]:
    """How the workflow departs from .ci/run (empty: they agree). The full job must run .ci/run itself (so
    WORKSHOP_REQUIRE_BINARIES=1 and `make test` come from there), install the same Debian packages first,
    override nothing through env:, and every job must stop the runner's Docker engine before its tests (the
    project's CI machine has none) and call only targets the Makefile has."""
    problems = []
    if not re.search(rf"^export {REQUIRE_BINARIES_ENV}=1$", ci_run, re.M):
        problems.append(f".ci/run does not export {REQUIRE_BINARIES_ENV}=1")
    if ci_run.strip().splitlines()[-1] != "make test":
        problems.append(".ci/run does not end with `make test`")
    jobs = workflow["jobs"]
    full = run_commands(jobs["full"])
    if ["bash", ".ci/run"] not in full:
        return problems + ["the full job does not run `bash .ci/run`"]
    installs = [c for c in full[:full.index(["bash", ".ci/run"])] if "apt-get" in c and "install" in c]
    packages = {w for c in installs for w in c[c.index("install") + 1:] if not w.startswith("-")}
    ci_run_packages = set(re.findall(r"missing\+=\(([\w-]+)\)", ci_run))
    if not packages == ci_run_packages == set(APT_PACKAGES):
        problems.append(f"apt packages: workflow {sorted(packages)}, .ci/run {sorted(ci_run_packages)}, "
                        f"workshop.system_deps {sorted(APT_PACKAGES)}")
    envs = [workflow.get("env"), *(job.get("env") for job in jobs.values()),
            *(step.get("env") for job in jobs.values() for step in job["steps"])]
    if any(envs) or any(w.startswith(REQUIRE_BINARIES_ENV) for job in jobs.values()
                        for c in run_commands(job) for w in c):
        problems.append("the workflow sets environment variables that .ci/run does not")
    phony = set(re.search(r"^\.PHONY:(.*)$", makefile, re.M)[1].split())
    for name, job in jobs.items():
        commands = run_commands(job)
        tests = [i for i, c in enumerate(commands) if c[0] == "make" or c == ["bash", ".ci/run"]]
        if STOP_DOCKER not in commands or commands.index(STOP_DOCKER) > min(tests):
            problems.append(f"{name}: the Docker engine is not stopped before the tests")
        if unknown := {c[1] for c in commands if c[0] == "make"} - phony:
            problems.append(f"{name}: make targets not in the Makefile: {sorted(unknown)}")
    return problems


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
    "expression syntax": ("'pyproject.toml') }}", "'pyproject.toml' }}", "while parsing arguments of function call"),
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

def test_workflow_and_ci_run_agree():
    assert drift(WORKFLOW, CI_RUN) == []
    assert ["make", "lint"] in run_commands(JOBS["fast"]) and ["make", "test-fast"] in run_commands(JOBS["fast"])


def drifted(edit) -> dict:
    workflow = copy.deepcopy(WORKFLOW)
    edit(workflow["jobs"])
    return workflow


def replace_run(job: str, old: str, new: str):
    def edit(jobs):
        (step,) = [s for s in jobs[job]["steps"] if old in s.get("run", "")]
        step["run"] = step["run"].replace(old, new)
    return edit


STOP_LINE = " ".join(STOP_DOCKER)
DRIFTS = {  # name: (workflow, .ci/run, what drift() must say)
    "a package only in the workflow":
        (drifted(replace_run("full", "prometheus-alertmanager", "alertmanager")), CI_RUN, "apt packages"),
    "a package only in .ci/run":
        (WORKFLOW, CI_RUN.replace("missing+=(prometheus)", "missing+=(prom)"), "apt packages"),
    "make test replaced in the workflow":
        (drifted(replace_run("full", "bash .ci/run", "make test-fast")), CI_RUN, "does not run `bash .ci/run`"),
    ".ci/run stops requiring binaries":
        (WORKFLOW, CI_RUN.replace(f"{REQUIRE_BINARIES_ENV}=1", f"{REQUIRE_BINARIES_ENV}=0"),
         f"does not export {REQUIRE_BINARIES_ENV}=1"),
    "an env override":
        (drifted(lambda jobs: jobs["full"].update(env={REQUIRE_BINARIES_ENV: "0"})), CI_RUN,
         "sets environment variables"),
    "Docker left running":
        (drifted(replace_run("fast", STOP_LINE, "true")), CI_RUN, "fast: the Docker engine is not stopped"),
    "an unknown make target":
        (drifted(replace_run("fast", "make test-fast", "make test-quick")), CI_RUN,
         "make targets not in the Makefile: ['test-quick']"),
}


@pytest.mark.parametrize("name", DRIFTS)
def test_drift_is_caught(name):
    workflow, ci_run, message = DRIFTS[name]
    problems = drift(workflow, ci_run)
    assert any(message in p for p in problems), problems


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
