"""Production mode: `gunicorn -c app/gunicorn_conf.py "app.main:create_app()"`.

Several worker processes share one set of metrics through prometheus_client's multiprocess mode:
the directory is wiped when the master starts and a dead worker's live gauges are dropped.
"""
import os
import shutil
import tempfile

from prometheus_client import multiprocess

os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), "fraud-api-metrics"))
os.environ.pop("ENABLE_FAULTS", None)  # lesson faults are never reachable in production mode

bind = f"{os.environ.get('APP_HOST', '127.0.0.1')}:{os.environ.get('APP_PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"      # keep-alive connections and a few threads per worker
threads = int(os.environ.get("APP_THREADS", "2"))
keepalive = 5
accesslog = None              # the app writes one structured JSON line per request itself


def on_starting(server):
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(path, ignore_errors=True)  # stale .db files from a previous run would be counted again
    os.makedirs(path, exist_ok=True)


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):
    drift = getattr(worker.wsgi, "extensions", {}).get("drift")  # the app's buffered data drift counts
    if drift is not None:
        drift.flush()
