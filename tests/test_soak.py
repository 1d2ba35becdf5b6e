"""Worker recycling keeps metrics exact and the multiprocess directory bounded (app/multiproc.py), and a
short soak of the real gunicorn under steady load proves it (`make soak` runs the 10-minute version)."""
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from helpers import metric_value
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import Metrics
from app.multiproc import fold_dead_worker, locked
from workshop.paths import REPO_ROOT
from workshop.soak import FILES_PER_WORKER, Sample, SoakReport, run_soak

SOAK_SECONDS = 60

WORKER = textwrap.dedent("""
    import os
    from app.metrics import Metrics
    m = Metrics()
    for i in range({n}):
        m.predictions.labels(class_name="fraud" if i % 10 == 0 else "non_fraud", version="lr-0a1b2c3d").inc()
        m.latency.labels(version="lr-0a1b2c3d").observe(0.001 * (i % 7))
    print(os.getpid())
""")


def run_worker(directory, n: int) -> int:
    """A real process writing metrics into the multiprocess directory, like a gunicorn worker; its pid."""
    result = subprocess.run([sys.executable, "-c", WORKER.format(n=n)], capture_output=True, text=True,
                            check=True, cwd=REPO_ROOT, env={"PROMETHEUS_MULTIPROC_DIR": str(directory)})
    return int(result.stdout)


def exposition(directory) -> str:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    return generate_latest(registry).decode()


def summed_values(directory) -> dict:
    """Every counter and histogram sample of the directory (gauges of dead workers are meant to go)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(exposition(directory)) if family.type != "gauge"
            for s in family.samples}


def test_folding_dead_workers_keeps_every_value_and_bounds_the_files(tmp_path):
    pids = [run_worker(tmp_path, n) for n in (30, 50, 70)]
    full = exposition(tmp_path)
    values = summed_values(tmp_path)
    assert metric_value(full, "predictions_total", class_name="non_fraud") == 27 + 45 + 63
    assert len(list(tmp_path.glob("*.db"))) == 3 * 3  # counter, histogram, livemax gauge per process
    for done, pid in enumerate(pids, start=1):
        fold_dead_worker(pid, str(tmp_path))
        assert summed_values(tmp_path) == values, f"values changed after folding {done} worker(s)"
        assert not list(tmp_path.glob(f"*_{pid}.db"))
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["counter_aggregate.db", "histogram_aggregate.db"]
    assert metric_value(full, "prediction_latency_seconds_count") == 150


def test_plain_mark_process_dead_lets_files_pile_up(tmp_path):
    """The pitfall the fold fixes: prometheus_client alone keeps every dead worker's counter files."""
    pids = [run_worker(tmp_path, 5) for _ in range(3)]
    for pid in pids:
        multiprocess.mark_process_dead(pid, str(tmp_path))
    assert len(list(tmp_path.glob("counter_*.db"))) == 3


def test_a_scrape_waits_while_the_master_folds(tmp_path, monkeypatch):
    run_worker(tmp_path, 5)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    metrics, done = Metrics(), threading.Event()
    with locked(str(tmp_path), exclusive=True):
        reader = threading.Thread(target=lambda: (metrics.exposition(), done.set()), daemon=True)
        reader.start()
        assert not done.wait(0.5), "/metrics read the files while a fold held the lock"
    assert done.wait(10), "/metrics never finished after the lock was released"


def report(**changes) -> SoakReport:
    good = SoakReport(duration_s=60, workers=2, max_requests=400, jitter=50, requests=100, ok=100,
                      predictions_total=100, latency_count=100, worker_pids_seen=5)
    good.samples = [Sample(t, 300.0, 60.0, 120.0, 671, 8, float(t), [1, 2]) for t in range(10)]
    for name, value in changes.items():
        setattr(good, name, value)
    return good


def test_soak_verdict_flags_each_kind_of_failure():
    assert report().problems() == []
    assert "errors" in report(errors={"conn": 1}).problems()[0]
    assert "not exact" in report(predictions_total=99).problems()[0]
    assert "scrapes failed" in report(scrape_errors=["t=3s ReadTimeout"]).problems()[0]
    grown = report()
    grown.samples[-1].worker_peak_mb = 131.0  # 2 workers x 11 MB
    assert "RSS grew" in grown.problems()[0]
    piled = report()
    piled.samples[-1].db_files = FILES_PER_WORKER * 3 + 3
    assert ".db files" in piled.problems()[0]
    more = report()
    more.samples[-1].series = 672
    assert "series count changed" in more.problems()[0]
    assert "went down" in report(samples=[*report().samples, Sample(11, 300.0, 60.0, 120.0, 671, 8, 0.0, [])]).problems()[0]


@pytest.mark.slow
@pytest.mark.soak
def test_short_soak_with_worker_recycling(model_dir, tmp_path):
    started = time.monotonic()
    result = run_soak(duration=SOAK_SECONDS, model_dir=model_dir, run_dir=tmp_path, echo=None)
    print(f"\n{result}\n(wall time {time.monotonic() - started:.0f} s)")
    assert result.problems() == []
    assert result.recycled >= 5, "the soak is meant to recycle workers many times"
