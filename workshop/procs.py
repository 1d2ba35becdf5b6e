"""Process plumbing shared by the stack, the app server and the benchmark.

- `free_port()` / `port_in_use()`: pick or check a TCP port on 127.0.0.1.
- `start_process(cmd, log_path)`: run a command in its own process group with output to a log file;
  unless `detach=True`, it is stopped when this interpreter exits (a notebook kernel shutting down too).
- `is_ready(url)` / `wait_http(url)`: ask once / poll a URL until it answers 2xx; fail fast with the log tail if the process died.
- `stop_process(popen)` / `stop_pid(pid)`: SIGTERM the whole group, then SIGKILL after a grace period.
"""
import atexit
import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path

import psutil
import requests

from workshop.polling import poll_until

_STOP_AT_EXIT: list[subprocess.Popen] = []


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def start_process(cmd: list[str], log_path: str | Path, cwd: str | Path | None = None,
                  env: dict | None = None, detach: bool = False) -> subprocess.Popen:
    """Start `cmd` as the leader of a new session (so its children are stopped with it)."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    if not detach:
        _STOP_AT_EXIT.append(process)
    return process


def log_tail(log_path: str | Path | None, lines: int = 20) -> str:
    if not log_path or not Path(log_path).exists():
        return ""
    return "\n".join(Path(log_path).read_text(errors="replace").splitlines()[-lines:])


def is_ready(url: str) -> bool:
    """True if `url` answers 2xx right now."""
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def wait_http(url: str, timeout: float = 30.0, process: subprocess.Popen | None = None,
              log_path: str | Path | None = None) -> requests.Response:
    """Poll `url` until it answers 2xx; RuntimeError if `process` exits, TimeoutError at the deadline."""
    def probe() -> requests.Response | str:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process {process.args[0]} exited with code {process.returncode} before "
                               f"{url} was ready; log {log_path}:\n{log_tail(log_path)}")
        try:
            response = requests.get(url, timeout=2)
            return response if response.ok else f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            return type(exc).__name__

    # back-off between polls, not a guess at how long startup takes
    return poll_until(probe, done=lambda r: isinstance(r, requests.Response), timeout=timeout, interval=0.02,
                      backoff=1.5, max_interval=0.5, what=f"{url} ready",
                      describe=lambda last: f"({last}); log {log_path}:\n{log_tail(log_path)}")


def pid_alive(pid: int) -> bool:
    """True if `pid` runs and is not a zombie (a zombie has exited, its parent just has not reaped it)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def pid_command(pid: int) -> str | None:
    """The command line of a running process, or None if it is gone (or not ours to read)."""
    try:
        return " ".join(psutil.Process(pid).cmdline()) or None
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def child_pids(pid: int) -> list[int]:
    """The direct children of `pid` (e.g. a gunicorn master's workers); [] if it is gone."""
    try:
        return [child.pid for child in psutil.Process(pid).children() if child.status() != psutil.STATUS_ZOMBIE]
    except psutil.NoSuchProcess:
        return []


def _signal_group(pid: int, sig: int) -> None:
    """Signal the process group led by `pid` (every process started by `start_process` leads one)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a process started by `start_process` and everything it spawned; reap it."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(timeout)
        _signal_group(process.pid, signal.SIGKILL)  # children that outlived the leader
    if process in _STOP_AT_EXIT:
        _STOP_AT_EXIT.remove(process)


def stop_pid(pid: int, timeout: float = 10.0) -> bool:
    """Stop a process group this interpreter did not start (e.g. `stack up` in another shell)."""
    if not pid_alive(pid):
        return False
    leader = psutil.Process(pid)
    _signal_group(pid, signal.SIGTERM)
    _, alive = psutil.wait_procs([leader], timeout=timeout)
    if alive:
        _signal_group(pid, signal.SIGKILL)
    return True


@atexit.register
def _stop_all_at_exit() -> None:
    for process in list(_STOP_AT_EXIT):
        stop_process(process, timeout=5)
