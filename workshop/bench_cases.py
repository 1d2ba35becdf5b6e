"""The benchmark's cases (workshop.bench): the servers it compares (ceiling, production with and without drift
monitoring or prediction logging, split and shadow model versions, the naive baseline), their request bodies,
batch scoring and cold start, run round by round; run() returns the raw results."""
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import requests

from app.drift import PROFILE
from workshop import procs
from workshop.appserver import AppServer
from workshop.bench_wrk import BENCH_DIR, measure
from workshop.data import FEATURES, load_dataset
from workshop.deployment import version_of_champion_copy, write_deployment
from workshop.paths import MODELS_DIR, REPO_ROOT
from workshop.training import ensure_model, train_challenger


def check_answers(url: str, body: str) -> None:
    response = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code} to the benchmark's body: {response.text[:300]}")


class CeilingServer(AppServer):
    """The bare WSGI app under production mode's gunicorn command, config file and environment."""

    def command(self) -> list[str]:
        return [*super().command()[:-1], "workshop.bare_app:app"]


class FlaskFloorServer(AppServer):
    """An empty Flask view (workshop/flask_floor_app.py) under the same gunicorn command and environment."""

    def command(self) -> list[str]:
        return [*super().command()[:-1], "workshop.flask_floor_app:app"]


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
    servers = {"ceiling": CeilingServer(**production), "flask_floor": FlaskFloorServer(**production),
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
            for name in ("ceiling", "flask_floor", "production", "drift_off", "logging_off", "split", "shadow"):
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
            "per_round_req_per_s": {name: [r["req_per_s"] for r in rs] for name, rs in runs.items()},
            "shadow_dropped_share": shadow_dropped,
            "batch_rows": batch_rows, "rounds": rounds, "seconds": seconds, "connections": connections}
