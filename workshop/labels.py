"""Simulated ground truth: labels that arrive late, for part of the traffic, through POST /feedback.

    feeder = LabelFeeder("http://127.0.0.1:8000", mean_delay_s=5, coverage=0.5)
    handle = run_in_background(url, rate=50, on_result=feeder.observe)   # workshop.traffic
    ...; handle.stop(); feeder.stop()          # sends what is due, then stops; feeder.summary()

Each successful prediction is labelled with its true class with probability `coverage` (`fraud_coverage`
for frauds: chargebacks label most frauds, few legitimate ones get a review), after an exponentially
distributed delay (mean `mean_delay_s`; real chargebacks take days to weeks, the lesson compresses it to
seconds). A background thread posts the due labels in batches of up to 1,000 every `interval` seconds.
Only labels answered 2xx count as acknowledged (`acknowledged`); the rest are tallied by reason.
A label answered `unknown_request` is retried RETRIES times, RETRY_S apart, as a real client should: its
prediction may still sit in another worker's prediction-log buffer (flushed every 0.2 s). After that the
prediction is taken as lost (e.g. in a crash) and the label is counted as `unknown_request`.
"""
from __future__ import annotations

import heapq
import threading
import time
from collections import Counter

import numpy as np
import requests

from workshop.traffic import check_target
from workshop.traffic_summary import Result

MAX_BATCH = 1000
RETRIES, RETRY_S = 5, 1.0


class LabelFeeder:
    def __init__(self, base_url: str, *, mean_delay_s: float = 5.0, coverage: float = 0.5,
                 fraud_coverage: float | None = None, interval: float = 0.5, seed: int = 0,
                 allow_remote: bool = False, timeout: float = 10.0):
        check_target(base_url, allow_remote)
        self.url = base_url.rstrip("/") + "/feedback"
        self.mean_delay_s, self.interval, self.timeout = mean_delay_s, interval, timeout
        self.coverage = {0: coverage, 1: coverage if fraud_coverage is None else fraud_coverage}
        self.rng = np.random.default_rng(seed)
        self.lock = threading.Lock()
        self.queue: list[tuple[float, str, int]] = []  # (due time, request id, label), a heap
        self.acknowledged: dict[str, int] = {}          # request id -> label, answered 2xx
        self.outcomes: Counter[str] = Counter()         # stored, duplicates, unknown_request, http_500, ...
        self.retries: Counter[str] = Counter()          # request id -> unknown_request answers so far
        self.predictions = self.scheduled = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="label-feeder")
        self.thread.start()

    def observe(self, result: Result) -> None:
        """traffic's on_result hook: maybe schedule a label for this prediction."""
        if not result.ok or result.label is None:
            return
        with self.lock:
            self.predictions += 1
            if self.rng.random() >= self.coverage[result.label]:
                return
            delay = self.rng.exponential(self.mean_delay_s) if self.mean_delay_s > 0 else 0.0
            heapq.heappush(self.queue, (time.monotonic() + delay, result.request_id, int(result.label)))
            self.scheduled += 1

    def schedule(self, request_ids, labels, delays) -> None:
        """Schedule explicit labels (e.g. for batch predictions' request_ids)."""
        now = time.monotonic()
        with self.lock:
            for request_id, label, delay in zip(request_ids, labels, delays, strict=True):
                heapq.heappush(self.queue, (now + float(delay), request_id, int(label)))
                self.scheduled += 1

    def _due(self, limit: int = MAX_BATCH, everything: bool = False) -> list[tuple[str, int]]:
        now, due = time.monotonic(), []
        with self.lock:
            while self.queue and len(due) < limit and (everything or self.queue[0][0] <= now):
                _, request_id, label = heapq.heappop(self.queue)
                due.append((request_id, label))
        return due

    def _post(self, session: requests.Session, due: list[tuple[str, int]]) -> None:
        body = {"labels": [{"request_id": r, "label": v} for r, v in due]}
        try:
            response = session.post(self.url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            self.outcomes[f"conn:{type(exc).__name__}"] += len(due)
            return
        if response.status_code != 200:
            self.outcomes[f"http_{response.status_code}"] += len(due)
            return
        answer = response.json()
        failed = {e["index"]: e["error"] for e in answer["errors"]}
        with self.lock:
            self.outcomes["stored"] += answer["stored"]
            self.outcomes["duplicates"] += answer["duplicates"]
            for i, (request_id, label) in enumerate(due):
                if failed.get(i) == "unknown_request" and self.retries[request_id] < RETRIES:
                    self.retries[request_id] += 1
                    heapq.heappush(self.queue, (time.monotonic() + RETRY_S, request_id, label))
                elif i in failed:
                    self.outcomes[failed[i]] += 1
                else:
                    self.acknowledged[request_id] = label

    def _run(self) -> None:
        with requests.Session() as session:
            while not self.stop_event.wait(self.interval):
                while due := self._due():
                    self._post(session, due)

    def stop(self, flush: bool = True) -> dict:
        """Stop the thread; with flush=True first send every scheduled label now (due or not), then the
        retries as they come due. Returns summary()."""
        self.stop_event.set()
        self.thread.join()
        if flush:
            with requests.Session() as session:
                left = len(self.queue)  # everything scheduled so far goes now, due or not
                while left > 0 and (due := self._due(min(left, MAX_BATCH), everything=True)):
                    left -= len(due)
                    self._post(session, due)
                while self.queue:  # retries of unknown ids, when they are due
                    time.sleep(max(0.0, min(self.interval, self.queue[0][0] - time.monotonic())))
                    if due := self._due():
                        self._post(session, due)
        return self.summary()

    def summary(self) -> dict:
        with self.lock:
            return {"predictions": self.predictions, "scheduled": self.scheduled, "pending": len(self.queue),
                    "acknowledged": len(self.acknowledged), **dict(self.outcomes)}
