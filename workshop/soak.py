"""Soak: production mode (real gunicorn) under steady load while workers are recycled (`max_requests`).

    python -m workshop.soak --duration 600          # `make soak`; the test suite runs a 60-90 s version

Starts gunicorn on a free loopback port with a small `max_requests` (so workers are replaced every few
seconds), sends steady traffic (workshop.traffic), and samples every few seconds: the RSS of the whole
process tree, the number of series in /metrics, the number of multiprocess .db files and the
predictions counter. The report says whether the service held: no errors, memory flat, series constant,
files bounded (dead workers' files folded by app/multiproc.py), and counts exact across recycling.
"""
import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests
from prometheus_client.parser import text_string_to_metric_families

from app.model import CARD
from workshop.appserver import AppServer
from workshop.paths import MODELS_DIR, RUN_DIR
from workshop.procs import child_pids
from workshop.traffic import run_in_background

RSS_GROWTH_LIMIT_MB = 20.0
FILES_PER_WORKER = 3  # counter_<pid>.db, histogram_<pid>.db, gauge_livemax_<pid>.db
AGGREGATE_FILES = 2   # counter_aggregate.db, histogram_aggregate.db
# 100 req/s over 2 workers with max_requests 600 +- 100: each worker lives ~12 s, so a 60 s run recycles ~10.
# Booting a worker (importing the app) takes 1-3 s on a busy 2-core machine: much shorter lifetimes would
# leave both workers booting at once, which measures the boot time, not the steady state.
RATE, MAX_REQUESTS, JITTER = 100.0, 600, 100
SCRAPE_TIMEOUT = 30.0


def rss_bytes(pid: int) -> int:
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.NoSuchProcess:
        return 0  # the process just exited (a recycled worker)


def parse_metrics(text: str) -> tuple[int, float]:
    """(number of series, total predictions) of one /metrics page."""
    series, predictions = 0, 0.0
    for family in text_string_to_metric_families(text):
        series += len(family.samples)
        if family.name == "predictions":
            predictions += sum(s.value for s in family.samples if s.name == "predictions_total")
    return series, predictions


def db_files(directory: Path) -> int:
    return len(list(directory.glob("*.db")))


@dataclass
class Sample:
    t: float
    rss_mb: float          # master + workers, as `ps` would add them up
    master_rss_mb: float
    worker_peak_mb: float  # the largest worker at that moment
    series: int
    db_files: int
    predictions: float
    workers: list[int]


@dataclass
class SoakReport:
    duration_s: float
    workers: int
    max_requests: int
    jitter: int
    requests: int = 0
    ok: int = 0
    errors: dict = field(default_factory=dict)
    predictions_total: float = 0.0
    latency_count: float = 0.0
    worker_pids_seen: int = 0
    scrape_errors: list = field(default_factory=list)  # /metrics requests of the sampler that failed
    samples: list = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def _window(self, which: str) -> list[Sample]:
        k = max(1, len(self.samples) // 5)
        steady = self.samples[1:] if len(self.samples) > 2 else self.samples  # sample 0 is before any load
        return steady[:k] if which == "start" else steady[-k:]

    def rss_mb(self, which: str) -> float:
        """Steady RSS of the first or last fifth of the run: the master (median) plus `workers` times the
        largest worker seen. The summed tree is a sawtooth (a recycled worker restarts small and grows back
        while it warms up), so a fully grown worker is the figure to compare; a leak in the master (it
        reaps and folds every recycled worker) or one that outlives recycling shows up here."""
        window = self._window(which)
        return (statistics.median(s.master_rss_mb for s in window)
                + self.workers * max(s.worker_peak_mb for s in window))

    def master_rss_mb(self, which: str) -> float:
        return statistics.median(s.master_rss_mb for s in self._window(which))

    def worker_peak_mb(self, which: str) -> float:
        return max(s.worker_peak_mb for s in self._window(which))

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_mb("end") - self.rss_mb("start")

    @property
    def series(self) -> tuple[int, int, set]:
        steady = self.samples[1:]
        return steady[0].series, steady[-1].series, {s.series for s in steady}

    @property
    def files(self) -> tuple[int, int, int]:
        return self.samples[0].db_files, self.samples[-1].db_files, max(s.db_files for s in self.samples)

    @property
    def file_bound(self) -> int:
        """Live workers' files, one replacement starting before the old one is reaped, the aggregates."""
        return FILES_PER_WORKER * (self.workers + 1) + AGGREGATE_FILES

    @property
    def recycled(self) -> int:
        return max(0, self.worker_pids_seen - self.workers)

    def counter_went_down(self) -> bool:
        values = [s.predictions for s in self.samples]
        return any(b < a for a, b in zip(values, values[1:], strict=False))

    def problems(self) -> list[str]:
        issues = []
        if self.error_count:
            issues.append(f"{self.error_count} errors: {self.errors}")
        if self.scrape_errors:
            issues.append(f"{len(self.scrape_errors)} /metrics scrapes failed: {self.scrape_errors[:5]}")
        if self.rss_growth_mb >= RSS_GROWTH_LIMIT_MB:
            issues.append(f"RSS grew {self.rss_growth_mb:.1f} MB (limit {RSS_GROWTH_LIMIT_MB:g})")
        start, end, seen = self.series
        if len(seen) != 1:
            issues.append(f"series count changed: {sorted(seen)}")
        if self.files[2] > self.file_bound:
            issues.append(f"{self.files[2]} .db files at most, bound {self.file_bound}")
        if self.predictions_total != self.ok or self.latency_count != self.ok:
            issues.append(f"counts not exact: predictions_total {self.predictions_total:g}, latency count "
                          f"{self.latency_count:g}, successful responses {self.ok}")
        if self.counter_went_down():
            issues.append("predictions_total went down between two scrapes")
        if self.recycled < 1:
            issues.append("no worker was recycled: raise the load or lower max_requests")
        return issues

    def __str__(self) -> str:
        s_start, s_end, _ = self.series
        f_start, f_end, f_max = self.files
        rate = self.requests / self.duration_s if self.duration_s else 0
        return "\n".join([
            f"soak: {self.duration_s:.0f} s, gunicorn {self.workers} workers, max_requests {self.max_requests} "
            f"+ jitter {self.jitter}: {self.worker_pids_seen} worker processes ({self.recycled} recycled)",
            f"  requests   {self.requests} ({rate:.0f}/s), ok {self.ok}, errors {self.error_count} {self.errors or ''}",
            f"  counts     predictions_total {self.predictions_total:g}, latency count {self.latency_count:g}, "
            f"ok responses {self.ok}",
            f"  RSS        start {self.rss_mb('start'):.1f} MB, end {self.rss_mb('end'):.1f} MB, growth "
            f"{self.rss_growth_mb:+.1f} MB (limit {RSS_GROWTH_LIMIT_MB:g}; master + {self.workers} x largest worker, "
            f"first vs last fifth of the run): master {self.master_rss_mb('start'):.1f} -> "
            f"{self.master_rss_mb('end'):.1f} MB, worker {self.worker_peak_mb('start'):.1f} -> "
            f"{self.worker_peak_mb('end'):.1f} MB",
            f"  series     start {s_start}, end {s_end} in /metrics",
            f"  .db files  start {f_start}, end {f_end}, max {f_max} (bound {self.file_bound})",
            "  verdict    " + ("; ".join(self.problems()) or "OK"),
        ])


def scrape(url: str) -> tuple[int, float]:
    return parse_metrics(requests.get(f"{url}/metrics", timeout=SCRAPE_TIMEOUT).text)


def run_soak(duration: float = 600.0, rate: float = RATE, concurrency: int = 4, workers: int = 2,
             max_requests: int = MAX_REQUESTS, jitter: int = JITTER, interval: float = 1.0, model_dir=None,
             run_dir: Path | None = None, echo=print) -> SoakReport:
    run_dir = Path(run_dir or RUN_DIR / "soak")
    env = {"APP_MAX_REQUESTS": str(max_requests), "APP_MAX_REQUESTS_JITTER": str(jitter)}
    report = SoakReport(duration_s=duration, workers=workers, max_requests=max_requests, jitter=jitter)
    server = AppServer(model_dir=model_dir, production=True, workers=workers, threads=2, env=env,
                       run_dir=run_dir)
    with server:
        metrics_dir = Path(server.environment()["PROMETHEUS_MULTIPROC_DIR"])
        master, pids = server.process.pid, set()

        def sample(t0: float) -> Sample:
            series, predictions = scrape(server.url)
            current = child_pids(master)
            pids.update(current)
            workers_mb = [rss_bytes(pid) / 2**20 for pid in current]
            master_mb = rss_bytes(master) / 2**20
            return Sample(time.monotonic() - t0, master_mb + sum(workers_mb), master_mb, max(workers_mb, default=0.0),
                          series, db_files(metrics_dir), predictions, current)

        t0 = time.monotonic()
        report.samples.append(sample(t0))
        traffic = run_in_background(f"{server.url}/predict", rate=rate, concurrency=concurrency, seed=0,
                                    timeout=10.0)
        try:
            while time.monotonic() - t0 < duration:
                time.sleep(min(interval, max(0.0, duration - (time.monotonic() - t0))))
                try:
                    report.samples.append(s := sample(t0))
                except requests.RequestException as exc:
                    report.scrape_errors.append(f"t={time.monotonic() - t0:.0f}s {type(exc).__name__}")
                    continue
                if echo and len(report.samples) % 10 == 0:
                    echo(f"  t={s.t:5.0f}s  RSS {s.rss_mb:6.1f} MB  series {s.series}  db files {s.db_files}  "
                         f"predictions {s.predictions:g}")
        finally:
            summary = traffic.stop()
        report.requests, report.ok, report.errors = summary.sent, summary.succeeded, dict(summary.errors)
        text = requests.get(f"{server.url}/metrics", timeout=SCRAPE_TIMEOUT).text
        report.samples.append(sample(t0))
        report.predictions_total = parse_metrics(text)[1]
        report.latency_count = next(s.value for f in text_string_to_metric_families(text) for s in f.samples
                                    if s.name == "prediction_latency_seconds_count")
        report.worker_pids_seen = len(pids | set(_logged_pids(server)))
    report.duration_s = report.samples[-1].t
    return report


def _logged_pids(server: AppServer) -> set[int]:
    """Every worker that served a request, from the structured log (a short-lived one may miss a sample)."""
    return {entry["pid"] for entry in map(json.loads, server.log_lines()) if entry.get("event") == "request"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (default 600)")
    parser.add_argument("--rate", type=float, default=RATE, help=f"requests/s (default {RATE:g})")
    parser.add_argument("--max-requests", type=int, default=MAX_REQUESTS,
                        help=f"gunicorn max_requests (default {MAX_REQUESTS})")
    parser.add_argument("--jitter", type=int, default=JITTER, help=f"gunicorn max_requests_jitter (default {JITTER})")
    parser.add_argument("--model-dir", type=Path, help="default: models/ (trained by make setup / lesson 01)")
    args = parser.parse_args(argv)
    model_dir = args.model_dir
    if model_dir is None and not (MODELS_DIR / CARD).exists():
        import tempfile

        from workshop.training import train_and_save

        model_dir = Path(tempfile.mkdtemp(prefix="soak-model-"))
        print(f"no trained model in models/: training a small one in {model_dir}")
        train_and_save(model_dir, source="synthetic", n_rows=40_000, seed=7)
    report = run_soak(args.duration, rate=args.rate, max_requests=args.max_requests, jitter=args.jitter,
                      model_dir=model_dir)
    print(report)
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
