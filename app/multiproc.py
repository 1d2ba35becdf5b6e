"""Multiprocess metric files under gunicorn, kept exact and bounded while workers are recycled.

prometheus_client gives every worker its own counter_<pid>.db / histogram_<pid>.db and never deletes
them: with `max_requests` recycling, dead workers' files pile up and every scrape reads them all. When
a worker exits, the master folds its files into one <type>_aggregate.db (values summed key by key, the
same file format), so totals stay exact and the directory holds live workers + one file per type.
A scrape reads the directory under a shared lock; the fold holds it exclusively, so no scrape sees a
worker counted twice or not at all.
"""
import fcntl
import os
from contextlib import contextmanager

from prometheus_client import multiprocess
from prometheus_client.mmap_dict import MmapedDict

LOCK_FILE = "merge.lock"                       # not *.db: the collector reads only *.db
SUMMED_TYPES = ("counter", "histogram", "summary")  # their file values add up across processes


@contextmanager
def locked(path: str, exclusive: bool = False):
    fd = os.open(os.path.join(path, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock, and so does a process dying


def fold_dead_worker(pid: int, path: str) -> None:
    """gunicorn child_exit: drop the worker's live gauges, fold its counters/histograms into the aggregate."""
    multiprocess.mark_process_dead(pid, path)
    with locked(path, exclusive=True):
        for typ in SUMMED_TYPES:
            dead = os.path.join(path, f"{typ}_{pid}.db")
            if not os.path.exists(dead):
                continue
            aggregate = os.path.join(path, f"{typ}_aggregate.db")
            totals: dict[str, float] = {}
            for source in (aggregate, dead):
                if os.path.exists(source):
                    for key, value, _, _ in MmapedDict.read_all_values_from_file(source):
                        totals[key] = totals.get(key, 0.0) + value
            tmp = os.path.join(path, f"{typ}_aggregate.tmp")
            if os.path.exists(tmp):
                os.remove(tmp)  # left by a master killed mid-fold
            out = MmapedDict(tmp)
            try:
                for key, value in totals.items():
                    out.write_value(key, value, 0.0)
            finally:
                out.close()
            os.replace(tmp, aggregate)  # atomic: the old aggregate or the new one, never half of one
            os.remove(dead)
