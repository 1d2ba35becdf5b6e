"""`python -m workshop.system_deps` (`make setup`): make sure the stack can run on this machine.

The stack needs either a Docker engine or the Prometheus and Alertmanager binaries. When both are
missing on Debian/Ubuntu and we are root (or sudo works without a password), install the Debian
packages; otherwise print the exact command to run and exit 0 with a warning, so setup never fails
just because the monitoring binaries are not there yet.
"""
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

PROMETHEUS_BINARIES = ("prometheus",)
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")  # Debian name, upstream/Homebrew name
APT_PACKAGES = ("prometheus", "prometheus-alertmanager")
BREW_PACKAGES = ("prometheus", "alertmanager")
# The Debian packages also start system services on 9090/9093, the ports the workshop's stack uses.
SERVICE_NOTE = ("If ports 9090/9093 are now taken by the packages' system services, free them with:\n"
                "  sudo systemctl disable --now prometheus prometheus-alertmanager")


def find_binary(names: tuple[str, ...]) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


def missing_binaries() -> list[str]:
    missing = []
    if not find_binary(PROMETHEUS_BINARIES):
        missing.append("prometheus")
    if not find_binary(ALERTMANAGER_BINARIES):
        missing.append("alertmanager")
    return missing


def docker_engine_available(timeout: float = 15.0) -> bool:
    """True when a Docker engine answers (`docker info` succeeds), not merely when the client is installed."""
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=timeout).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def is_debian() -> bool:
    return Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


def sudo_prefix() -> list[str] | None:
    """[] when root, ["sudo", "-n"] when sudo works without a password, None otherwise."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    return None


def install_hint() -> str:
    if platform.system() == "Darwin":
        return "brew install " + " ".join(BREW_PACKAGES)
    if is_debian():
        return "sudo apt-get update && sudo apt-get install -y " + " ".join(APT_PACKAGES)
    return ("install Prometheus and Alertmanager from https://prometheus.io/download/ (binaries on PATH), "
            "or install Docker")


def apt_install(prefix: list[str], packages: tuple[str, ...] = APT_PACKAGES) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    for cmd in (["apt-get", "update", "-qq"], install):
        if subprocess.run([*prefix, *cmd], env=env).returncode != 0:
            return False
    return True


def ensure_wrk() -> int:
    """`make bench` wants wrk (a C load generator): a Python client would eat the cores it measures."""
    if shutil.which("wrk"):
        return 0
    prefix = sudo_prefix() if is_debian() else None
    if prefix is not None and apt_install(prefix, ("wrk",)) and shutil.which("wrk"):
        return 0
    print("WARNING: wrk not found; the benchmark falls back to a Python load generator, which competes for "
          "the CPU and understates throughput. Install wrk (apt-get install wrk / brew install wrk).",
          file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    if (argv if argv is not None else sys.argv[1:]) == ["--bench"]:
        return ensure_wrk()
    missing = missing_binaries()
    if not missing:
        print("system deps: prometheus and alertmanager found (local mode ready)")
        return 0
    if docker_engine_available():
        print(f"system deps: {', '.join(missing)} not on PATH, but a Docker engine answers (Docker mode)")
        return 0
    prefix = sudo_prefix() if is_debian() else None
    if prefix is not None:
        print("system deps: installing " + " ".join(APT_PACKAGES) + " with apt-get")
        if apt_install(prefix) and not missing_binaries():
            print(SERVICE_NOTE)
            return 0
    print(f"WARNING: {', '.join(missing)} missing and no Docker engine: the monitoring stack cannot start.\n"
          f"  Install with: {install_hint()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
