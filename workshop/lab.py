"""`make lab`: JupyterLab on notebooks/, opening on the student edition (notebooks/student/).

One definition of the command, used by `make lab` and by tests/test_lab.py (which adds a free port, a
token and no browser).
"""
import os
import sys

from workshop.paths import NOTEBOOKS_DIR, REPO_ROOT

START_DIR = "student"  # where students land; the lessons with solutions are one level up


def lab_command(port: int | None = None, token: str | None = None, browser: bool = True) -> list[str]:
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={NOTEBOOKS_DIR}",
           f"--LabApp.default_url=/lab/tree/{START_DIR}", "--ServerApp.ip=127.0.0.1"]
    if port is not None:
        cmd += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if token is not None:
        cmd.append(f"--IdentityProvider.token={token}")
    if os.geteuid() == 0:  # containers and CI run as root; JupyterLab refuses without this
        cmd.append("--ServerApp.allow_root=True")
    if not browser:
        cmd.append("--no-browser")
    return cmd


def main() -> None:
    """Replace this process with JupyterLab; extra arguments go to it (e.g. --no-browser on a remote machine)."""
    os.chdir(REPO_ROOT)
    os.execv(sys.executable, lab_command() + sys.argv[1:])


if __name__ == "__main__":
    main()
