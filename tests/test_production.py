"""Production mode: real gunicorn with several workers; metrics must be exact across them."""
import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from helpers import metric_value, scrape, total_predictions, worker_children

from workshop.appserver import AppServer
from workshop.paths import REPO_ROOT
from workshop.polling import poll_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def production(model_dir, tmp_path_factory):
    with AppServer(model_dir=model_dir, production=True, workers=2, threads=2,
                   run_dir=tmp_path_factory.mktemp("prod")) as server:
        yield server


def post_all(url, rows, connections=8):
    def send(chunk):
        with requests.Session() as session:
            return [session.post(f"{url}/predict", json=row, timeout=10).status_code for row in chunk]
    chunks = [rows[i::connections] for i in range(connections)]
    with ThreadPoolExecutor(connections) as pool:
        return [code for codes in pool.map(send, chunks) for code in codes]


def post_through_each_worker(server, rows):
    """Send a share of rows through every worker in turn by pausing the others (SIGSTOP).

    The kernel may hand every connection to one worker; pausing makes the split certain.
    Each pause is far shorter than gunicorn's worker timeout, so the master keeps them.
    """
    workers = sorted(worker_children(server))
    shares = [rows[i::len(workers)] for i in range(len(workers))]
    codes = []
    for serving, share in zip(workers, shares, strict=True):
        paused = [pid for pid in workers if pid != serving]
        for pid in paused:
            os.kill(pid, signal.SIGSTOP)
        try:
            codes += post_all(server.url, share)
        finally:
            for pid in paused:
                os.kill(pid, signal.SIGCONT)
    return workers, codes


def test_counts_are_exact_across_workers(production, records):
    _, rows = records
    before = total_predictions(production.url)
    workers, codes = post_through_each_worker(production, rows[:400])
    assert len(workers) == 2 and codes == [200] * 400
    pids = {entry["pid"] for entry in map(json.loads, production.log_lines())
            if entry.get("event") == "request"}
    assert set(workers) <= pids, "every worker should have served requests"
    for _ in range(6):  # each scrape may land on a different worker: all must agree
        assert total_predictions(production.url) == before + 400
        assert scrape(production.url, "prediction_latency_seconds_count") >= 400


def test_bad_input_is_counted_once_across_workers(production, records):
    _, rows = records
    before = scrape(production.url, "invalid_requests_total", reason="missing_field")
    for _ in range(10):
        r = requests.post(f"{production.url}/predict", json={"V1": 1.0}, timeout=5)
        assert r.status_code == 400
    assert scrape(production.url, "invalid_requests_total", reason="missing_field") == before + 10


def test_faults_are_not_reachable_in_production(production):
    assert requests.post(f"{production.url}/admin/faults", json={"error_rate": 1}, timeout=5).status_code == 404


def test_no_runtime_management_socket_in_production(production):
    """gunicorn >= 25 opens a control socket by default (gunicornc can add workers, reload, stop); production mode
    uses none, so it opens none. Without the setting the log says "Control socket listening at ..."."""
    log = production.log_path.read_text()
    assert "Booting worker" in log and "control socket" not in log.lower(), log


def test_a_recycled_worker_keeps_counts_and_gauges_sane(production, records, model_card):
    _, rows = records
    before = total_predictions(production.url)
    post_all(production.url, rows[:100])
    victim = worker_children(production)[0]
    os.kill(victim, signal.SIGTERM)  # gunicorn replaces the worker
    poll_until(lambda: victim not in worker_children(production), timeout=20, interval=0.05,
               what=f"worker {victim} gone")
    poll_until(lambda: len(worker_children(production)) >= 2, timeout=20, interval=0.1, what="2 workers again")
    post_all(production.url, rows[100:150])
    assert total_predictions(production.url) == before + 150  # a dead worker's counts are kept
    assert scrape(production.url, "model_info", version=model_card["version"]) == 1  # not 2: livemax


def drift_total(url, feature="score"):
    text = requests.get(f"{url}/metrics", timeout=5).text
    return sum(metric_value(text, "drift_bin_observations_total", feature=feature, bin=str(b)) for b in range(10))


def test_buffered_drift_counts_survive_a_graceful_worker_exit(model_dir, records, tmp_path):
    """With an hour-long flush period, only a scrape (own worker) or a worker's exit moves its drift buffer."""
    _, rows = records
    with AppServer(model_dir=model_dir, production=True, workers=2, threads=2, run_dir=tmp_path,
                   env={"DRIFT_FLUSH_SECONDS": "3600"}) as server:
        workers, codes = post_through_each_worker(server, rows[:300])
        assert codes == [200] * 300
        scraped, silent = workers  # scrape while `silent` is paused: `scraped` answers and flushes only itself
        os.kill(silent, signal.SIGSTOP)
        try:
            partial = drift_total(server.url)
        finally:
            os.kill(silent, signal.SIGCONT)
        assert partial == len(rows[:300][workers.index(scraped)::2])  # the other worker's counts are buffered
        os.kill(silent, signal.SIGTERM)  # graceful exit: gunicorn's worker_exit hook flushes the buffer
        poll_until(lambda: silent not in worker_children(server), timeout=20, interval=0.05,
                   what=f"worker {silent} to exit")
        assert drift_total(server.url) == 300 and drift_total(server.url, "V14") == 300
        assert total_predictions(server.url) == 300


@pytest.mark.parametrize("environment, expected", [({}, 1), ({"OMP_NUM_THREADS": "2"}, 2)])
def test_production_config_gives_each_worker_one_openmp_thread(environment, expected):
    """OpenMP reads OMP_NUM_THREADS when the library loads: loading gunicorn's config must set it before scikit-learn
    (and its OpenMP runtime) is imported, and leave an operator's own value alone. With the runtime's default
    (one thread per core) scoring one record with the boosted trees cost ~6x the CPU."""
    import subprocess
    import sys

    code = ("import runpy; runpy.run_path('app/gunicorn_conf.py'); import sklearn.ensemble; "
            "from threadpoolctl import threadpool_info; "
            "print(sorted({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'openmp'}))")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "PROMETHEUS_MULTIPROC_DIR")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
                         env={**env, **environment}, cwd=REPO_ROOT).stdout
    assert out.strip() == f"[{expected}]", f"OpenMP threads in a production worker: {out}"
