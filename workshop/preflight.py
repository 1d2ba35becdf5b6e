"""`make preflight`: is this machine ready for the workshop? A green/red list, the exact fix for each red item,
and a short summary a student can paste to a helper (no environment variables, no home paths).

Runs with the standard library alone, so it also explains a machine whose .venv is missing or broken.
"""
import importlib.metadata
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from workshop import system_deps
from workshop.paths import MODELS_DIR, REPO_ROOT

MIN_PYTHON = (3, 11)
VENV = REPO_ROOT / ".venv"
KERNEL = "python3"
PORTS = {  # docs/contracts.md; port: (what, likely culprit and fix, needed in Docker mode only)
    8000: ("model app", "the app from another shell (`make serve` / `make serve-prod`): stop it with Ctrl-C there",
           False),
    9090: ("Prometheus", "a workshop stack from another shell: `make down`; the Debian package's service: "
                         "`sudo systemctl disable --now prometheus`", False),
    9093: ("Alertmanager", "a workshop stack from another shell: `make down`; the Debian package's service: "
                           "`sudo systemctl disable --now prometheus-alertmanager`", False),
    3000: ("Grafana", "another Grafana or a web dev server; stop it (Docker mode needs 3000)", True),
    5001: ("alert webhook", "`make webhook` in another shell: stop it with Ctrl-C there", False),
}
SETUP = "make setup"
REINSTALL = "rm -f .venv/.installed && make setup"
KERNEL_FIX = (f'.venv/bin/python -m ipykernel install --sys-prefix --name {KERNEL} '
              f'--display-name "Python 3 (workshop)"')


@dataclass
class Item:
    name: str          # short, for the summary
    status: str        # "ok", "fail" or "info"
    detail: str
    fix: str = ""


def check_python() -> Item:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] >= MIN_PYTHON:
        return Item("python", "ok", f"Python {version}")
    need = ".".join(map(str, MIN_PYTHON))
    return Item("python", "fail", f"Python {version}, the workshop needs {need} or newer",
                f"install Python {need}+ (e.g. `sudo apt-get install python{need}-venv` or pyenv), then "
                f"`rm -rf .venv && make setup PYTHON=python{need}`")


def pinned_versions() -> dict[str, str]:
    pins = {}
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (REPO_ROOT / name).read_text().splitlines():
            if m := re.match(r"^\s*([A-Za-z0-9_.\-]+)==([^\s;#]+)", line):
                pins[m.group(1).lower()] = m.group(2)
    return pins


def check_venv() -> Item:
    if Path(sys.prefix).resolve() != VENV.resolve():
        if not (VENV / "bin" / "python").exists():
            return Item("venv", "fail", "no .venv in the repository", SETUP)
        return Item("venv", "fail", "not running inside the repository's .venv",
                    ".venv/bin/python -m workshop.preflight (or `make preflight`)")
    wrong = []
    for name, pinned in pinned_versions().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "missing"
        if installed != pinned:
            wrong.append(f"{name} {installed} (pinned {pinned})")
    if wrong:
        return Item("venv", "fail", f"{len(wrong)} packages differ from the pins: {', '.join(wrong[:4])}"
                    + (" ..." if len(wrong) > 4 else ""), REINSTALL)
    return Item("venv", "ok", f".venv with the {len(pinned_versions())} pinned packages")


def check_kernel() -> Item:
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        return Item("kernel", "fail", "jupyter_client is not installed", SETUP)
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        return Item("kernel", "fail", f"no Jupyter kernel named {KERNEL!r}", KERNEL_FIX)
    python = shutil.which(spec.argv[0]) or spec.argv[0]
    if Path(python).resolve() != (VENV / "bin" / "python").resolve():
        return Item("kernel", "fail", f"kernel {KERNEL!r} runs another Python, not .venv's: notebooks would miss "
                    "the workshop's packages", KERNEL_FIX)
    return Item("kernel", "ok", f"Jupyter kernel {KERNEL!r} ({spec.display_name}) runs .venv's Python")


def check_binaries() -> Item:
    found = {"prometheus": system_deps.find_binary(system_deps.PROMETHEUS_BINARIES),
             "alertmanager": system_deps.find_binary(system_deps.ALERTMANAGER_BINARIES),
             "promtool": shutil.which("promtool")}
    missing = [name for name, path in found.items() if not path]
    if missing:
        return Item("binaries", "fail", f"{', '.join(missing)} not on PATH (local mode and lesson 04's "
                    "rule tests need them, even where Docker runs)", system_deps.install_hint())
    return Item("binaries", "ok", "prometheus, alertmanager and promtool on PATH (local mode ready)")


def check_docker(available=None) -> Item:
    docker = system_deps.docker_engine_available(timeout=10) if available is None else available
    if docker:
        return Item("docker", "info", "a Docker engine answers: Docker mode, Grafana on http://127.0.0.1:3000")
    return Item("docker", "info", "no Docker engine: local mode; the notebooks draw the Grafana panels inline")


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def workshop_stack_ports() -> set[int]:
    """Ports the workshop's own running stack holds (they are not a problem); empty when unknown."""
    try:
        from workshop.stack import Stack

        components = Stack().status()["components"]
    except Exception:  # packages missing or no stack state: nothing to exempt
        return set()
    return {int(m.group(1)) for info in components.values()
            if info.get("ready") and (m := re.search(r":(\d+)$", info["url"].rstrip("/")))}


def check_ports(ports: dict = PORTS, ours: set[int] | None = None, docker: bool = True) -> list[Item]:
    ours = workshop_stack_ports() if ours is None else ours
    items = []
    for port, (what, hint, docker_only) in ports.items():
        name = f"port {port}"
        if not port_in_use(port):
            items.append(Item(name, "ok", f"port {port} ({what}) is free"))
        elif port in ours:
            items.append(Item(name, "ok", f"port {port} ({what}) is the workshop's running stack (`make down` stops it)"))
        elif docker_only and not docker:
            items.append(Item(name, "info", f"port {port} ({what}) is taken, but only Docker mode needs it"))
        else:
            finder = (f"`lsof -nP -iTCP:{port} -sTCP:LISTEN`" if platform.system() == "Darwin"
                      else f"`ss -ltnp 'sport = :{port}'`")
            items.append(Item(name, "fail", f"port {port} ({what}) is in use by another program",
                              f"find it with {finder}; likely {hint}"))
    return items


def check_model(models_dir: Path = MODELS_DIR) -> Item:
    try:
        from workshop.training import ARTIFACT, CARD, PROFILE
    except ImportError:
        return Item("model", "fail", "cannot look for the model: the workshop's packages are missing", SETUP)
    missing = [name for name in (ARTIFACT, CARD, PROFILE) if not (Path(models_dir) / name).exists()]
    if missing:
        return Item("model", "fail", f"no trained model ({', '.join(missing)} missing in models/)",
                    "run notebook 01, or a quick model in ~10 s: "
                    "`.venv/bin/python -c \"from workshop.training import ensure_model; ensure_model()\"`")
    return Item("model", "ok", "models/ holds the model, its card and the reference profile")


def run_checks() -> list[Item]:
    docker = check_docker()
    return [check_python(), check_venv(), check_kernel(), check_binaries(), docker,
            *check_ports(docker="Docker mode" in docker.detail), check_model()]


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def report(items: list[Item], color: bool = False) -> str:
    marks = {"ok": ("✔", "32"), "fail": ("✘", "31"), "info": ("●", "36")}
    lines = ["Workshop preflight"]
    for item in items:
        mark, code = marks[item.status]
        mark = f"\033[{code}m{mark}\033[0m" if color else mark
        lines.append(f"  {mark} {item.detail}")
        if item.fix:
            lines.append(f"      fix: {item.fix}")
    failed = [i for i in items if i.status == "fail"]
    lines += ["", "--- paste this to a helper ---",
              f"preflight {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {platform.system()} "
              f"{platform.machine()} · Python {platform.python_version()} · commit {_commit()}",
              "ok: " + ", ".join(i.name for i in items if i.status == "ok")]
    lines += [f"FAIL {i.name}: {i.detail}" for i in failed]
    lines += [f"info {i.name}: {i.detail}" for i in items if i.status == "info"]
    lines += ["---", f"{len(failed)} problem(s)" + (": fix them top to bottom, then run `make preflight` again"
                                                    if failed else ": ready for the workshop")]
    return "\n".join(lines)


def main(argv=None) -> int:
    items = run_checks()
    print(report(items, color=sys.stdout.isatty() and "NO_COLOR" not in os.environ))
    return 1 if any(i.status == "fail" for i in items) else 0


if __name__ == "__main__":
    sys.exit(main())
