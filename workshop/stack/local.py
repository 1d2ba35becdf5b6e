"""Local mode: the prometheus and alertmanager binaries as process groups bound to 127.0.0.1."""
import subprocess
from pathlib import Path

from workshop import procs
from workshop.addresses import LOCALHOST
from workshop.system_deps import ALERTMANAGER_BINARIES, PROMETHEUS_BINARIES, find_binary, install_hint

STORAGE_DIRS = {"prometheus": "prometheus-data", "alertmanager": "alertmanager-data"}  # inside data_dir
SYSTEM_SERVICES = {"prometheus": "prometheus", "alertmanager": "prometheus-alertmanager"}  # Debian packages


def find_binaries(with_alertmanager: bool) -> tuple[str, str | None]:
    prometheus = find_binary(PROMETHEUS_BINARIES)
    alertmanager = find_binary(ALERTMANAGER_BINARIES) if with_alertmanager else None
    if not prometheus or (with_alertmanager and not alertmanager):
        raise RuntimeError(f"local mode needs the prometheus and alertmanager binaries: {install_hint()}")
    return prometheus, alertmanager


def choose_port(name: str, port: int) -> int:
    """`port`, or a free one for 0; a clear error when another program holds it."""
    if port == 0:
        return procs.free_port()
    if procs.port_in_use(port):
        raise RuntimeError(
            f"port {port} for {name} is in use by another program. Stop it (a workshop stack started "
            f"from another folder: `python -m workshop.stack down --data-dir DIR`; the Debian service: "
            f"`sudo systemctl disable --now {SYSTEM_SERVICES[name]}`) or pass {name}_port=0 to use a free port.")
    return port


def launch(cmd: list[str], port: int, ready_url_path: str, data_dir: Path, log: Path, ready_timeout: float,
           detach: bool) -> tuple[subprocess.Popen, str]:
    """Start one binary listening on 127.0.0.1:`port` and wait until it is ready; (process, base URL)."""
    url = f"http://{LOCALHOST}:{port}"
    process = procs.start_process([*cmd, f"--web.listen-address={LOCALHOST}:{port}"], log, cwd=data_dir,
                                  detach=detach)
    try:
        procs.wait_http(url + ready_url_path, timeout=ready_timeout, process=process, log_path=log)
    except BaseException:
        procs.stop_process(process)
        raise
    return process, url
