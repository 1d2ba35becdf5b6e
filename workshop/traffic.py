"""Simulated client traffic for the model app: replay dataset records against POST /predict.

    summary = simulate("http://127.0.0.1:8000/predict", rate=20, duration=30, scenario="shift:V14:1.0@500")
    print(summary)

    handle = run_in_background(url, rate=20)       # keep traffic flowing while a notebook queries Prometheus
    ...; summary = handle.stop()

    python -m workshop.traffic --url http://127.0.0.1:8000/predict --rate 20 --duration 30   (workshop.traffic_cli)

Requests follow one shared schedule (request k is due at start + k / rate), so the achieved rate is accurate
whatever the concurrency. A server that cannot keep up is not flooded later: slots more than MAX_LAG_S late
are dropped, so the achieved rate then shows the server's capacity. Only loopback targets are allowed unless
`allow_remote=True` (`--allow-remote`): this load is meant for the app on your own machine.
"""
from __future__ import annotations

import ipaddress
import math
import os
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import requests
from tqdm import tqdm

from workshop.data import load_dataset
from workshop.progress import progress_bar
from workshop.scenario_stream import stream
from workshop.scenarios import Scenario, parse_scenario
from workshop.traffic_summary import Result, Summary

DEFAULT_URL = f"http://127.0.0.1:{os.environ.get('APP_PORT', '8000')}/predict"  # the app's port (contracts.md)
DEFAULT_SOURCE, DEFAULT_ROWS, DEFAULT_SEED = "synthetic", 20_000, 0
MAX_LAG_S = 0.5  # a worker later than this behind the schedule drops the missed slots instead of bursting
CONN, TIMEOUT, BAD_RESPONSE = "conn", "timeout", "bad_response"  # error keys besides HTTP status codes


class RemoteTargetError(ValueError):
    """The target host is not this machine and remote targets were not allowed."""


# ---------------------------------------------------------------- target checks

def is_loopback_url(url: str) -> bool:
    """True when every address the URL's host resolves to is a loopback address (127.0.0.0/8, ::1)."""
    host = urlsplit(url).hostname
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def check_target(url: str, allow_remote: bool = False) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if not allow_remote and not is_loopback_url(url):
        raise RemoteTargetError(
            f"refusing to send load to {parts.hostname!r}: it is not this machine (loopback). This workshop's "
            "traffic is meant for the app you run locally; pass allow_remote=True (CLI: --allow-remote) "
            "if you really mean to load that host.")


# ---------------------------------------------------------------- the run

class _Run:
    """Shared state of one run: the record stream, the schedule, the tallies. Workers take tickets from it."""

    def __init__(self, records, rate: float, count: int | None, duration: float | None,
                 stop_event: threading.Event, progress: tqdm, on_result: Callable[[Result], None] | None):
        self.records, self.rate, self.count, self.stop_event = records, rate, count, stop_event
        self.progress, self.on_result = progress, on_result
        self.lock = threading.Lock()
        self.start = time.perf_counter()
        self.deadline = self.start + duration if duration is not None else float("inf")
        self.origin = self.start  # slot k is due at origin + k / rate; moves forward when slots are dropped
        self.issued = 0
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.frauds_predicted = self.frauds_sent = self.drifted_sent = 0
        self.run_id = uuid.uuid4().hex[:8]

    def next_ticket(self):
        """(due time, index, record, drifted, label) of the next request, or None when the run is over."""
        with self.lock:
            if self.stop_event.is_set() or (self.count is not None and self.issued >= self.count):
                return None
            now = time.perf_counter()
            due = now
            if self.rate:
                due = self.origin + self.issued / self.rate
                if now - due > MAX_LAG_S:  # behind schedule: drop the missed slots rather than burst
                    self.origin += now - due
                    due = now
            if due >= self.deadline or now >= self.deadline:
                return None
            self.issued += 1
            return due, *next(self.records)

    def record(self, result: Result) -> None:
        with self.lock:
            self.statuses[result.status] += 1
            if result.latency_s is not None:
                self.latencies.append(result.latency_s)
            self.frauds_predicted += result.prediction == 1
            self.frauds_sent += result.label == 1
            self.drifted_sent += result.drifted
            self.progress.update()
            errors = sum(v for k, v in self.statuses.items() if not k.startswith("2"))
            self.progress.set_postfix_str(f"errors {errors}", refresh=False)
        if self.on_result is not None:
            self.on_result(result)


def _post(session: requests.Session, url: str, run: _Run, index: int, record: dict, drifted: bool,
          label: int, timeout: float) -> Result:
    request_id = f"sim-{run.run_id}-{index}"
    fields = {"index": index, "drifted": drifted, "label": label, "request_id": request_id}
    started = time.perf_counter()
    try:
        response = session.post(url, json=record, timeout=timeout, headers={"X-Request-ID": request_id})
    except requests.Timeout:
        return Result(status=TIMEOUT, latency_s=None, **fields)
    except requests.RequestException:
        return Result(status=CONN, latency_s=None, **fields)
    latency = time.perf_counter() - started
    if response.status_code // 100 != 2:
        return Result(status=str(response.status_code), latency_s=latency, **fields)
    try:
        body = response.json()
        return Result(status=str(response.status_code), latency_s=latency, prediction=int(body["prediction"]),
                      fraud_probability=float(body["fraud_probability"]), **fields)
    except (ValueError, KeyError, TypeError):
        return Result(status=BAD_RESPONSE, latency_s=latency, **fields)


def _worker(run: _Run, url: str, timeout: float) -> None:
    with requests.Session() as session:
        while (ticket := run.next_ticket()) is not None:
            due, index, record, drifted, label = ticket
            wait = due - time.perf_counter()
            if wait > 0 and run.stop_event.wait(wait):
                return  # stopped while waiting: this slot is not sent
            run.record(_post(session, url, run, index, record, drifted, label, timeout))


def simulate(url: str = DEFAULT_URL, df: pd.DataFrame | None = None, *, rate: float = 10.0,
             duration: float | None = None, count: int | None = None, concurrency: int = 4,
             seed: int = DEFAULT_SEED, scenario: str | Scenario = "clean", timeout: float = 5.0,
             stop_event: threading.Event | None = None, progress: bool = True, allow_remote: bool = False,
             on_result: Callable[[Result], None] | None = None) -> Summary:
    """Replay records from df (default: the synthetic dataset) against `url` and summarise what happened.

    rate: requests per second (0 = as fast as the workers go); duration (s) and/or count bound the run
    (at least one of them, or a stop_event, is required; both together: whichever comes first).
    concurrency: worker threads, each with its own requests.Session. seed and scenario fix the records sent
    (see workshop.scenarios; record i is the stream's i-th). Interrupting (Ctrl-C / kernel interrupt) stops
    the run and still returns the summary. on_result(Result) is called for every request, from the workers.
    progress: a bar (workshop.progress): one line rewritten in place in a notebook, a few plain lines in a log.
    """
    if count is None and duration is None and stop_event is None:
        raise ValueError("give count and/or duration (or a stop_event): traffic needs a bound")
    for name, value in (("rate", rate), ("duration", duration), ("count", count)):
        if value is not None and (not np.isfinite(value) or value < 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    check_target(url, allow_remote)
    scenario = parse_scenario(scenario)
    if df is None:
        df = default_dataset(seed)
    stop_event = stop_event or threading.Event()
    # one line updated in place in a notebook, a live bar in a terminal, a few plain lines in a log
    bar = progress_bar(_expected_total(rate, duration, count), f"traffic {scenario.name}", "req", progress)
    run = _Run(stream(df, scenario, seed=seed, with_label=True), rate, count, duration, stop_event, bar,
               on_result)
    workers = [threading.Thread(target=_worker, args=(run, url, timeout), daemon=True,
                                name=f"traffic-{i}") for i in range(concurrency)]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            while worker.is_alive():
                worker.join(0.1)  # short joins keep Ctrl-C responsive
    except KeyboardInterrupt:
        stop_event.set()
        for worker in workers:
            worker.join()
    finally:
        bar.close()
    elapsed = time.perf_counter() - run.start
    stopped_early = stop_event.is_set()
    return _summarise(run, url, scenario, rate, elapsed, stopped_early)


def _expected_total(rate: float, duration: float | None, count: int | None) -> int | None:
    """Length of the progress bar: the count, or rate x duration if that is smaller; None when unknown."""
    bounds = [count] if count is not None else []
    if rate and duration is not None:
        bounds.append(math.ceil(rate * duration))
    return min(bounds) if bounds else None


def _summarise(run: _Run, url: str, scenario: Scenario, rate: float, elapsed: float,
               stopped_early: bool) -> Summary:
    sent = sum(run.statuses.values())
    errors = {k: v for k, v in run.statuses.items() if not k.startswith("2")}
    ok = sent - sum(errors.values())
    p50 = p95 = p99 = None
    if run.latencies:
        p50, p95, p99 = (float(x) * 1000 for x in np.percentile(run.latencies, [50, 95, 99]))
    return Summary(url=url, scenario=scenario.name, sent=sent, succeeded=ok, errors=errors,
                   duration_s=round(elapsed, 3), target_rate=rate,
                   achieved_rate=sent / elapsed if elapsed > 0 else 0.0,
                   latency_p50_ms=p50, latency_p95_ms=p95, latency_p99_ms=p99,
                   frauds_predicted=run.frauds_predicted, frauds_sent=run.frauds_sent,
                   drifted_sent=run.drifted_sent, stopped_early=stopped_early)


def default_dataset(seed: int = DEFAULT_SEED, source: str = DEFAULT_SOURCE, n_rows: int = DEFAULT_ROWS):
    df, _ = load_dataset(source=source, n_rows=n_rows, seed=seed)
    return df


# ---------------------------------------------------------------- background runs (notebooks)

class TrafficHandle:
    """A traffic run in a background thread: `.stop()` ends it, `.result()` waits for its Summary."""

    def __init__(self, stop_event: threading.Event, kwargs: dict):
        self._stop_event = stop_event
        self._summary: Summary | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(kwargs,), daemon=True, name="traffic")
        self._thread.start()

    def _run(self, kwargs: dict) -> None:
        try:
            self._summary = simulate(stop_event=self._stop_event, **kwargs)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def result(self, timeout: float | None = None) -> Summary:
        """Wait for the run to end (at its bound or after stop()) and return its Summary."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"traffic still running after {timeout} s; call stop() first")
        if self._error is not None:
            raise self._error
        return self._summary

    def stop(self, timeout: float | None = 30.0) -> Summary:
        """Stop sending (requests in flight finish) and return the Summary."""
        self._stop_event.set()
        return self.result(timeout)

    def __repr__(self) -> str:
        return f"<TrafficHandle {'running' if self.running else 'finished'}>"


def run_in_background(url: str = DEFAULT_URL, df: pd.DataFrame | None = None, **kwargs) -> TrafficHandle:
    """Start `simulate(url, df, **kwargs)` in a daemon thread and return its handle at once.

    Without count/duration it runs until `handle.stop()`. The progress bar is off unless progress=True.
    A remote URL or a bad scenario spec raises here; other errors surface from `result()` / `stop()`.
    """
    kwargs.setdefault("progress", False)
    check_target(url, kwargs.get("allow_remote", False))
    if "scenario" in kwargs:
        kwargs["scenario"] = parse_scenario(kwargs["scenario"])
    if df is None:
        df = default_dataset(kwargs.get("seed", DEFAULT_SEED))
    external = kwargs.pop("stop_event", None)
    return TrafficHandle(external or threading.Event(), dict(url=url, df=df, **kwargs))


if __name__ == "__main__":  # python -m workshop.traffic
    from workshop.traffic_cli import main

    sys.exit(main())
