"""Production mode: `gunicorn -c app/gunicorn_conf.py "app.main:create_app()"`.

Several worker processes share one set of metrics through prometheus_client's multiprocess mode:
the directory is wiped when the master starts; a dead worker's live gauges are dropped and its
counters and histograms folded into one aggregate file (app/multiproc.py), so recycled workers
(max_requests) keep totals exact without piling up files.
"""
import importlib
import os
import shutil
import tempfile

# Before anything imports prometheus_client: it picks multiprocess mode from this variable at import time.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), "fraud-api-metrics"))
# One OpenMP thread per worker: the workers already share the cores, and OpenMP's extra threads (boosted
# trees, lesson 07) made scoring one record cost ~6x more CPU here (2.7 ms vs 0.46 ms). Read at library load.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from app.multiproc import fold_dead_worker  # noqa: E402 (after the variable above)

os.environ.pop("ENABLE_FAULTS", None)  # lesson faults are never reachable in production mode

bind = f"{os.environ.get('APP_HOST', '127.0.0.1')}:{os.environ.get('APP_PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"      # keep-alive connections and a few threads per worker
threads = int(os.environ.get("APP_THREADS", "2"))
keepalive = 5
accesslog = None              # the app writes one structured JSON line per request itself
control_socket_disable = True  # no runtime-management socket (gunicornc): nothing here uses it
# Recycle each worker after about this many requests (jitter spreads the restarts; 0 turns it off):
# a slow leak in a library then never grows without bound.
max_requests = int(os.environ.get("APP_MAX_REQUESTS", "10000"))
max_requests_jitter = int(os.environ.get("APP_MAX_REQUESTS_JITTER", "1000"))
# The libraries the model app's workers import (scikit-learn only to unpickle the model) cost a new worker
# ~1 s of CPU: after every recycle that is ~100 µs per request served. The master imports them once and
# every worker inherits them by fork. The app and the model are still loaded by each worker (no
# preload_app), so a recycled worker picks up a new model or new app code as before.
SHARED_LIBRARIES = ("numpy", "flask", "prometheus_client", "joblib", "sklearn.pipeline", "sklearn.preprocessing",
                    "sklearn.linear_model")


def on_starting(server):
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(path, ignore_errors=True)  # stale .db files from a previous run would be counted again
    os.makedirs(path, exist_ok=True)
    if (server.app.app_uri or "").startswith("app.main:"):  # not for another app under this config
        for name in SHARED_LIBRARIES:
            importlib.import_module(name)


def child_exit(server, worker):
    fold_dead_worker(worker.pid, os.environ["PROMETHEUS_MULTIPROC_DIR"])


def worker_exit(server, worker):
    drift = getattr(worker.wsgi, "extensions", {}).get("drift")  # the app's buffered data drift counts
    if drift is not None:
        drift.flush()
