"""Running `wrk` for the benchmark (workshop.bench): one bounded load run against a loopback URL, its report
parsed into throughput, latency percentiles and errors, and the server's CPU time per request."""
import contextlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import psutil

from workshop.appserver import AppServer
from workshop.paths import RUN_DIR

BENCH_DIR = RUN_DIR / "bench"
# A level-2 long bracket: a JSON body never contains "]==]" (it may contain "]]").
WRK_SCRIPT = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[{body}]==]\n'
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}  # to milliseconds
PERCENTILE_LINE = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)


class WrkOutputError(ValueError):
    """wrk's report lacks a line the benchmark needs (e.g. run without --latency)."""


def parse_wrk(text: str) -> dict:
    """Throughput, latency percentiles (ms) and errors from `wrk --latency`'s report.

    Percentiles come only from the "Latency Distribution" block, one anchored line each, so a number
    elsewhere that ends in "99%" (a standard-deviation share like "72.99%") is never taken for p99.
    """
    block = text.partition("Latency Distribution")[2]
    percentiles = {int(p): float(v) * UNITS[u] for p, v, u in PERCENTILE_LINE.findall(block)}
    rate = re.search(r"^Requests/sec:\s+([\d.]+)\s*$", text, re.M)
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", text, re.M)
    if not block or {50, 99} - set(percentiles) or rate is None or total is None:
        raise WrkOutputError(f"not a complete `wrk --latency` report:\n{text}")
    non_2xx = re.search(r"^\s*Non-2xx or 3xx responses: (\d+)\s*$", text, re.M)
    sockets = re.search(r"^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)\s*$", text, re.M)
    errors = {"non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
              "socket_errors": sum(map(int, sockets.groups())) if sockets else 0}
    return {"req_per_s": float(rate.group(1)), "requests": int(total.group(1)), "p50_ms": percentiles[50],
            "p99_ms": percentiles[99], **errors, "errors": sum(errors.values())}


def load(url: str, body: str, seconds: float, connections: int) -> dict:
    """One wrk run POSTing `body` to `url`."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `make bench` (it installs wrk) or `apt-get install wrk`")
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", dir=BENCH_DIR, delete=False) as script:
        script.write(WRK_SCRIPT.format(body=body))
    try:
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
                              "-s", script.name, url], capture_output=True, text=True, timeout=seconds + 60,
                             check=True).stdout
    finally:
        Path(script.name).unlink()
    return parse_wrk(out)


def server_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by process `pid` and its children (gunicorn's workers); None
    if it is gone. Unlike req/s, CPU per request barely moves when other work shares the cores, so it is the
    steadier figure on a busy machine. Workers that already exited (recycled after `max_requests`) count too,
    through the master's children_user/children_system: without them a recycle during a run made the figure
    drop, even below zero, and the CPU a new worker spends booting went unseen."""
    try:
        master = psutil.Process(pid)
        processes = [master, *master.children()]
    except psutil.NoSuchProcess:
        return None
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):  # a worker may exit meanwhile
            times = process.cpu_times()
            total += times.user + times.system
            if process is master:  # the reaped workers' CPU
                total += times.children_user + times.children_system
    return total


def measure(server: AppServer, path: str, body: str, seconds: float, connections: int) -> dict:
    """A warm-up run, then a measured one, with the server's CPU time per request."""
    url = f"{server.url}{path}"
    load(url, body, 1, connections)
    before = server_cpu_s(server.process.pid)
    result = load(url, body, seconds, connections)
    after = server_cpu_s(server.process.pid)
    result["cpu_us"] = None if before is None else (after - before) / max(result["requests"], 1) * 1e6
    return result
