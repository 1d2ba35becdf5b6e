"""`make bench`: load the service on loopback and compare, in the same run, against a ceiling and a baseline.

- ceiling: a bare WSGI app (workshop/bare_app.py) under the SAME gunicorn settings as production mode;
- production: `gunicorn -c app/gunicorn_conf.py` (2 workers), data drift monitoring and prediction logging
  (lesson 06) on; then drift monitoring off; then prediction logging off (FEEDBACK=off);
- model versions (lesson 07): a 90/10 split between the linear champion and a boosted-trees challenger, and
  shadow mode (the champion answers, the challenger scores off the response path: its latency cost, and the
  share of records its bounded queue had to drop at full load);
- baseline: the seed lesson's naive app (workshop/naive_app.py: Flask dev server, a DataFrame per request);
- batch scoring: 1,000-row batches on /predict/batch, columnar vs one object per record, in rows/s;
- cold start: process start to the first `/ready` 200.
Load comes from `wrk` (`make bench` installs it). Single-request cases alternate round by round and the
median round counts: a machine shared with other work drifts in speed within a minute. Absolute numbers
differ up to 3x between machines and sessions; the ratios printed are the result.
Every run is bounded (a few seconds per case) and targets 127.0.0.1 only.
"""
import argparse
import contextlib
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

from app.drift import PROFILE
from workshop import procs
from workshop.appserver import AppServer
from workshop.data import FEATURES, load_dataset
from workshop.deployment import version_of_champion_copy, write_deployment
from workshop.paths import MODELS_DIR, REPO_ROOT, RUN_DIR
from workshop.training import ensure_model, train_challenger

BENCH_DIR = RUN_DIR / "bench"
# A level-2 long bracket: a JSON body never contains "]==]" (it may contain "]]").
WRK_SCRIPT = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[{body}]==]\n'
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}  # to milliseconds
PERCENTILE_LINE = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)
GOALS = {"share_of_ceiling": 0.50, "drift_on_off": 0.95, "logging_on_off": 0.85, "columnar_rows_per_s": 50_000}


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
    steadier figure on a busy machine."""
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


def check_answers(url: str, body: str) -> None:
    response = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code} to the benchmark's body: {response.text[:300]}")


class CeilingServer(AppServer):
    """The bare WSGI app under production mode's gunicorn command, config file and environment."""

    def command(self) -> list[str]:
        return [*super().command()[:-1], "workshop.bare_app:app"]


class NaiveServer(AppServer):
    """The seed lesson's way of serving: Flask dev server, a DataFrame per request."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "workshop.naive_app", "--port", str(self.port), "--model-dir",
                str(self.model_dir)]


def without_drift_profile(model_dir: Path, dst: Path) -> Path:
    """A copy of the model without its reference profile: the app then serves with drift monitoring off."""
    dst.mkdir(parents=True, exist_ok=True)
    for path in Path(model_dir).iterdir():
        if path.is_file() and path.name != PROFILE:
            shutil.copy2(path, dst / path.name)
    (dst / PROFILE).unlink(missing_ok=True)
    return dst


def versioned_copies(model_dir: Path, dst: Path) -> dict[str, Path]:
    """Two copies of the model folder with a boosted-trees challenger: one split 90/10, one in shadow mode.
    The challenger is the one lesson 07 trained when models/ has a gb-* folder, else a quick one."""
    dst.mkdir(parents=True, exist_ok=True)
    base = dst / "base"
    shutil.rmtree(base, ignore_errors=True)
    shutil.copytree(model_dir, base, ignore=shutil.ignore_patterns("deployment.json"))
    champion = version_of_champion_copy(base)
    trained = sorted(d.name for d in base.glob("gb-*") if (d / "model_card.json").exists())
    challenger = trained[-1] if trained else train_challenger(base, source="synthetic", n_rows=60_000,
                                                              max_iter=100)["version"]
    copies = {}
    for mode, weight in (("split", 0.1), ("shadow", 0.0)):
        copies[mode] = dst / mode
        shutil.rmtree(copies[mode], ignore_errors=True)
        shutil.copytree(base, copies[mode])
        write_deployment(copies[mode], champion, {challenger: weight}, mode=mode)
    return copies


def shadow_drop_share(url: str) -> float | None:
    """Share of the records handed to the shadow version that its bounded queue dropped."""
    from prometheus_client.parser import text_string_to_metric_families
    totals = {"shadow_predictions": 0.0, "shadow_dropped": 0.0}
    for family in text_string_to_metric_families(requests.get(f"{url}/metrics", timeout=10).text):
        if family.name in totals:
            totals[family.name] += sum(sample.value for sample in family.samples if sample.name.endswith("_total"))
    seen = sum(totals.values())
    return totals["shadow_dropped"] / seen if seen else None


def cold_start_s(server: AppServer, timeout: float = 60.0) -> float:
    """Seconds from starting the server's process to its first `/ready` 200 (polled every 10 ms)."""
    server.port = procs.free_port()
    server.run_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    process = procs.start_process(server.command(), server.log_path, cwd=REPO_ROOT, env=server.environment())
    try:
        while time.monotonic() - start < timeout:
            if process.poll() is not None:
                raise RuntimeError(f"{server.command()} exited with {process.returncode}; log {server.log_path}:\n"
                                   f"{procs.log_tail(server.log_path)}")
            try:
                if requests.get(f"{server.url}/ready", timeout=1).status_code == 200:
                    return time.monotonic() - start
            except requests.RequestException:  # not listening yet, or no worker accepting yet
                pass
            time.sleep(0.01)
        raise TimeoutError(f"{server.url}/ready not 200 after {timeout:.0f} s")
    finally:
        procs.stop_process(process)


def median_run(runs: list[dict]) -> dict:
    """The run with the median throughput (of an odd number of rounds)."""
    return sorted(runs, key=lambda r: r["req_per_s"])[len(runs) // 2]


def bodies(n_batch: int) -> dict[str, str]:
    df, _ = load_dataset(source="synthetic", n_rows=max(n_batch, 100), seed=1)
    records = df[FEATURES].to_dict(orient="records")
    return {"single": json.dumps(records[0]),
            "columnar": json.dumps({"columns": list(FEATURES), "data": df[FEATURES].to_numpy()[:n_batch].tolist()}),
            "records": json.dumps({"records": records[:n_batch]})}


def run(seconds: float = 5.0, connections: int = 8, rounds: int = 3, model_dir: Path = MODELS_DIR,
        batch_rows: int = 1000) -> dict:
    ensure_model(model_dir)
    body = bodies(batch_rows)
    no_profile = without_drift_profile(model_dir, BENCH_DIR / "model-without-profile")
    versioned = versioned_copies(model_dir, BENCH_DIR / "versions")
    feedback_db = BENCH_DIR / "feedback.sqlite"  # the bench's own label store, emptied each run
    for stale in BENCH_DIR.glob("feedback.sqlite*"):
        stale.unlink()
    production = dict(production=True, workers=2, threads=2, run_dir=BENCH_DIR, env={"FEEDBACK_DB": str(feedback_db)})
    servers = {"ceiling": CeilingServer(**production),
               "production": AppServer(model_dir=model_dir, **production),
               "drift_off": AppServer(model_dir=no_profile, **production),
               "logging_off": AppServer(model_dir=model_dir, **{**production, "env": {"FEEDBACK": "off"}}),
               **{mode: AppServer(model_dir=versioned[mode], **{**production, "env": {  # own label stores
                   "FEEDBACK_DB": str(feedback_db.with_name(f"feedback.sqlite.{mode}"))}}) for mode in ("split", "shadow")},
               "naive": NaiveServer(model_dir=model_dir, run_dir=BENCH_DIR)}
    runs: dict[str, list[dict]] = {name: [] for name in servers}
    batch: dict[str, dict] = {}
    try:
        for server in servers.values():
            server.start()
            check_answers(f"{server.url}/predict", body["single"])
        for _ in range(rounds):
            for name in ("ceiling", "production", "drift_off", "logging_off", "split", "shadow"):
                runs[name].append(measure(servers[name], "/predict", body["single"], seconds, connections))
        runs["naive"].append(measure(servers["naive"], "/predict", body["single"], seconds, connections))
        shadow_dropped = shadow_drop_share(servers["shadow"].url)
        for fmt in ("columnar", "records"):
            try:
                check_answers(f"{servers['production'].url}/predict/batch", body[fmt])
            except RuntimeError as exc:
                batch[fmt] = {"unsupported": str(exc)}
                continue
            result = measure(servers["production"], "/predict/batch", body[fmt], seconds, connections)
            batch[fmt] = {**result, "rows_per_s": result["req_per_s"] * batch_rows}
    finally:
        for server in servers.values():
            server.stop()
    cold = {name: statistics.median(cold_start_s(servers[name]) for _ in range(rounds))
            for name in ("ceiling", "production")}
    return {"single": {name: median_run(r) for name, r in runs.items()}, "batch": batch, "cold_start_s": cold,
            "shadow_dropped_share": shadow_dropped,
            "batch_rows": batch_rows, "rounds": rounds, "seconds": seconds, "connections": connections}


LABELS = {"ceiling": "ceiling: bare WSGI, same gunicorn", "production": "production: drift + pred. log on",
          "drift_off": "production, drift monitoring off", "logging_off": "production, prediction log off",
          "split": "split 90/10: linear + boosted trees", "shadow": "shadow: linear answers, trees shadow",
          "naive": "baseline: naive seed-style app"}


def _ratio(single: dict, off: str) -> float | None:
    """production / the case without one feature (None when that case was not run)."""
    return single["production"]["req_per_s"] / single[off]["req_per_s"] if off in single else None


def _goal(value: float, goal: float) -> str:
    return f"goal >= {goal:g}: {'met' if value >= goal else 'NOT met'}"


def _cpu(r: dict) -> str:
    return "n/a" if r.get("cpu_us") is None else f"{r['cpu_us']:.0f}"


def _cpu_ratios(ceiling: dict, prod: dict, drift_off: dict) -> list[str]:
    if None in (ceiling.get("cpu_us"), prod.get("cpu_us"), drift_off.get("cpu_us")):
        return []
    return [f"server CPU per request (steadier than req/s on a shared machine): ceiling / production "
            f"{ceiling['cpu_us'] / prod['cpu_us']:.2f}, drift off / on {drift_off['cpu_us'] / prod['cpu_us']:.2f}"]


def _versions_lines(prod: dict, split: dict, shadow: dict, dropped: float | None) -> list[str]:
    """Lesson 07: what a second model version costs the service, split and shadow, against one model."""
    drop = "n/a" if dropped is None else f"{dropped:.0%}"
    return [f"model versions, throughput vs one model: split 90/10 {split['req_per_s'] / prod['req_per_s']:.2f}, "
            f"shadow {shadow['req_per_s'] / prod['req_per_s']:.2f}",
            f"shadow latency bound: p50 {shadow['p50_ms']:.2f} ms vs {prod['p50_ms']:.2f} ms, p99 "
            f"{shadow['p99_ms']:.2f} ms vs {prod['p99_ms']:.2f} ms (one model); records the shadow queue dropped "
            f"at full load: {drop}"]


def report(results: dict) -> str:
    single, batch, cold = results["single"], results["batch"], results["cold_start_s"]
    ceiling, prod, naive = single["ceiling"], single["production"], single["naive"]
    lines = [f"POST /predict, {results['connections']} connections, {results['seconds']:g} s per run, median of "
             f"{results['rounds']} alternating rounds (naive: 1 run)",
             f"{'case':36} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'x ceiling':>10} {'x naive':>8}"
             f" {'CPU us/req':>11}"]
    for name, r in single.items():
        lines.append(f"{LABELS[name]:36} {r['req_per_s']:8.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
                     f"{r['errors']:7d} {r['req_per_s'] / ceiling['req_per_s']:10.2f} "
                     f"{r['req_per_s'] / naive['req_per_s']:8.1f} {_cpu(r):>11}")
    share = prod["req_per_s"] / ceiling["req_per_s"]
    on_off = prod["req_per_s"] / single["drift_off"]["req_per_s"]
    lines += ["",
              f"production / ceiling throughput: {share:.2f} ({_goal(share, GOALS['share_of_ceiling'])}); "
              f"p99 {prod['p99_ms']:.1f} ms vs the ceiling's {ceiling['p99_ms']:.1f} ms",
              f"drift monitoring on / off throughput: {on_off:.2f} ({_goal(on_off, GOALS['drift_on_off'])})",
              *([f"prediction logging on / off throughput: {logged:.2f} ({_goal(logged, GOALS['logging_on_off'])})"]
                if (logged := _ratio(single, "logging_off")) else []),
              *_cpu_ratios(ceiling, prod, single["drift_off"]),
              f"production / naive baseline throughput: {prod['req_per_s'] / naive['req_per_s']:.1f}x",
              *_versions_lines(prod, single["split"], single["shadow"], results.get("shadow_dropped_share")),
              "",
              f"POST /predict/batch, {results['batch_rows']:,}-row batches, production mode"]
    for fmt, label in (("columnar", 'columnar {"columns": [...], "data": [[...]]}'),
                       ("records", 'one object per record {"records": [...]}')):
        r = batch.get(fmt, {})
        if "unsupported" in r:
            lines.append(f"  {label:46} not served: {r['unsupported'][:120]}")
        elif r:
            lines.append(f"  {label:46} {r['rows_per_s']:9,.0f} rows/s  p99 {r['p99_ms']:.0f} ms  "
                         f"errors {r['errors']}  CPU {_cpu(r)} us per batch")
    if "rows_per_s" in batch.get("columnar", {}):
        rows = batch["columnar"]["rows_per_s"]
        lines.append(f"  columnar: {_goal(rows, GOALS['columnar_rows_per_s'])} rows/s"
                     + (f"; {rows / batch['records']['rows_per_s']:.1f}x the records format"
                        if "rows_per_s" in batch.get("records", {}) else ""))
    lines += ["",
              f"cold start, process start to /ready 200 (median of {results['rounds']}): production "
              f"{cold['production']:.2f} s, bare gunicorn {cold['ceiling']:.2f} s "
              f"(the app's own share: {cold['production'] - cold['ceiling']:.2f} s)"]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measured run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (odd: the median counts)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--model-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--json", action="store_true", help="also print the raw results as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.rounds % 2 == 0:
        parser.error("--rounds must be odd (the median round counts)")
    results = run(args.seconds, args.connections, args.rounds, args.model_dir, args.batch_rows)
    print(report(results))
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
