"""`make lint` is part of the suite: ruff over code and notebooks (committed clean notebooks: test_notebooks)."""
import subprocess
import sys
from pathlib import Path

from workshop.paths import REPO_ROOT


def test_ruff_finds_nothing():
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), "check", "workshop", "app", "tests", "notebooks"], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
