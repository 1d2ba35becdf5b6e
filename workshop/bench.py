"""`make bench`: load POST /predict on loopback and compare against the seed lesson's naive app, same run.

Cases: production mode (gunicorn, 2 workers) with data drift monitoring on (the default when the model has
a reference profile) and off (the same model without its profile), the single-process lesson server, and
the naive reference. The drift monitoring's own cost per record is also timed in-process (multiprocess
counters, as under gunicorn): `drift_cost_us`.
Load comes from `wrk` (C, keep-alive, cheap on 2 cores) when installed, else a Python client
(which uses CPU itself and understates throughput: install wrk for real numbers).
Every run is bounded (a few seconds per case) and targets 127.0.0.1 only.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

from workshop import procs
from workshop.appserver import AppServer
from workshop.data import FEATURES, load_dataset
from workshop.paths import MODELS_DIR, REPO_ROOT, RUN_DIR
from workshop.training import ensure_model

WRK_SCRIPT = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[{body}]]\n'
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def _seconds(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * UNITS[unit]


def load_with_wrk(url: str, body: str, seconds: float, connections: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(body=body))
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", script.name,
                          url], capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    Path(script.name).unlink()
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _seconds(re.search(r"50%\s+(\S+)", out).group(1)) * 1000,
        "p99_ms": _seconds(re.search(r"99%\s+(\S+)", out).group(1)) * 1000,
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
        "tool": "wrk",
    }


def load_with_python(url: str, body: str, seconds: float, connections: int) -> dict:
    latencies, errors, deadline = [], [0], time.monotonic() + seconds

    def worker():
        with requests.Session() as session:
            while time.monotonic() < deadline:
                start = time.perf_counter()
                response = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
                latencies.append(time.perf_counter() - start)
                errors[0] += response.status_code != 200

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ms = np.array(latencies) * 1000
    return {"req_per_s": len(ms) / seconds, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "errors": errors[0], "tool": "python"}


def measure(url: str, body: str, seconds: float, connections: int) -> dict:
    load = load_with_wrk if shutil.which("wrk") else load_with_python
    load(url, body, 1.0, connections)  # warm-up
    return load(url, body, seconds, connections)


def naive_server(model_dir: Path) -> tuple:
    port = procs.free_port()
    log = RUN_DIR / "bench" / f"naive-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    process = procs.start_process([sys.executable, "-m", "workshop.naive_app", "--port", str(port),
                                   "--model-dir", str(model_dir)], log, cwd=REPO_ROOT)
    procs.wait_http(f"http://127.0.0.1:{port}/ready", timeout=60, process=process, log_path=log)
    return process, f"http://127.0.0.1:{port}"


def without_drift_profile(model_dir: Path, dst: Path) -> Path:
    """A copy of the model without reference_profile.json: the app then runs with drift monitoring off."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("fraud_model.joblib", "model_card.json"):
        shutil.copy2(Path(model_dir) / name, dst / name)
    return dst


def drift_cost_us(model_dir: Path, repeats: int = 20_000) -> float:
    """Microseconds DriftMonitor.observe adds to a single-record request, with multiprocess counters (as
    under gunicorn). Runs in a subprocess: prometheus_client picks its value store at import time."""
    with tempfile.TemporaryDirectory() as metrics_dir:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
        out = subprocess.run([sys.executable, "-m", "workshop.bench", "--time-drift", str(model_dir),
                              "--repeats", str(repeats)], cwd=REPO_ROOT, env=env, capture_output=True,
                             text=True, timeout=300, check=True).stdout
    return float(out.strip().splitlines()[-1])


def _time_drift_observe(model_dir: Path, repeats: int) -> float:
    from prometheus_client import CollectorRegistry

    from app.drift import DriftMonitor, load_profile
    from app.model import FraudModel

    model = FraudModel.load(model_dir)
    monitor = DriftMonitor(load_profile(model_dir), model.features, CollectorRegistry())
    df, _ = load_dataset(source="synthetic", n_rows=2_000, seed=1)
    rows = df[FEATURES].to_numpy()
    scores = model.predict_proba(rows)
    singles = [(rows[i][None], scores[i][None]) for i in range(len(rows))]
    for x, p in singles[:1000]:  # warm-up
        monitor.observe(x, p)
    start = time.perf_counter()
    for i in range(repeats):
        monitor.observe(*singles[i % len(singles)])
    return (time.perf_counter() - start) / repeats * 1e6


def median_run(runs: list[dict]) -> dict:
    """The run with the median throughput (of an odd number of rounds)."""
    return sorted(runs, key=lambda r: r["req_per_s"])[len(runs) // 2]


def run(seconds: float = 5.0, connections: int = 8, model_dir: Path = MODELS_DIR, rounds: int = 3) -> list[dict]:
    ensure_model(model_dir)
    df, _ = load_dataset(source="synthetic", n_rows=2_000, seed=1)
    body = json.dumps(df[FEATURES].to_dict(orient="records")[0])
    no_profile = without_drift_profile(model_dir, RUN_DIR / "bench" / "model-without-profile")
    production = dict(production=True, workers=2, threads=2)
    cases = [("production: gunicorn 2 workers", model_dir, production),
             ("  same, drift monitoring off", no_profile, production),
             ("lesson server: python -m app", model_dir, dict(production=False))]
    servers = [AppServer(model_dir=d, env={"DISABLE_REQUEST_LOGS": "1"}, run_dir=RUN_DIR / "bench", **options)
               for _, d, options in cases]
    runs: list[list[dict]] = [[] for _ in cases]
    try:
        for server in servers:
            server.start()
            assert requests.post(f"{server.url}/predict", data=body, timeout=5,
                                 headers={"Content-Type": "application/json"}).ok
        # Drift on and off alternate, `rounds` times each (the median counts): a machine shared with other
        # work drifts in speed over a minute, and alternating spreads that over both cases.
        for _ in range(rounds):
            for i in (0, 1):
                runs[i].append(measure(f"{servers[i].url}/predict", body, seconds, connections))
        runs[2].append(measure(f"{servers[2].url}/predict", body, seconds, connections))
    finally:
        for server in servers:
            server.stop()
    results = [{"case": name, **median_run(r)} for (name, _, _), r in zip(cases, runs, strict=True)]
    process, url = naive_server(model_dir)
    try:
        results.append({"case": "naive reference (seed lesson)", **measure(f"{url}/predict", body, seconds,
                                                                           connections)})
    finally:
        procs.stop_process(process)
    results[0]["drift_cost_us"] = drift_cost_us(model_dir)
    return results


def report(results: list[dict]) -> str:
    baseline = results[-1]["req_per_s"]
    lines = [f"{'case':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'× naive':>8}"]
    for r in results:
        lines.append(f"{r['case']:34} {r['req_per_s']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
                     f"{r['errors']:7d} {r['req_per_s'] / baseline:8.1f}")
    lines.append(f"load generator: {results[0]['tool']}")
    on, off = results[0], results[1]
    if "drift_cost_us" in on:
        lines.append(f"data drift monitoring: {on['drift_cost_us']:.1f} µs per record in-process (30 values "
                     f"binned, 30 multiprocess counter increments); production throughput on/off: "
                     f"{on['req_per_s'] / off['req_per_s']:.2f} (median of alternating runs)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--model-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--time-drift", type=Path, metavar="MODEL_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=20_000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.time_drift:  # internal: drift_cost_us runs this in a subprocess
        print(_time_drift_observe(args.time_drift, args.repeats))
        return 0
    print(report(run(args.seconds, args.connections, args.model_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
