"""Model versions (lesson 07): a champion, challengers, and how each request is routed between them.

models/deployment.json names the versions (each a folder models/<version>/ written by training: artifact,
model card with sha256, reference profile) and the routing:
    {"champion": "lr-1a2b3c4d", "challengers": {"gb-5e6f7a8b": 0.1}, "mode": "split"}
- split:  each request goes to ONE version, by a sticky hash of X-Client-ID (else the request id) against
          the cumulative weights; the champion gets 1 - the challengers' weights;
- shadow: the champion answers every request; each challenger scores the same records in a background
          thread off the response path (a bounded queue: when full, records are dropped and counted, never
          waited for); only its metrics, its score drift and a log line are kept.
The file is re-read when its modification time changes (checked at most once a second per worker): every
version is loaded and its sha256 checked BEFORE the swap, so promote / new weights / roll back need no
restart and fail no request; a broken file is logged and the previous routing stays. Each version's
reference profile is loaded with it (app.drift): the records a version scores, answering or in shadow, are
binned against its own training deciles; a version without a usable profile is served without drift counts.
"""
import hashlib
import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flask import g, request
from prometheus_client import Counter, Gauge, Histogram

from app.logs import log_event
from app.metrics import LATENCY_BUCKETS
from app.model import FraudModel, ModelLoadError

DEPLOYMENT = "deployment.json"
MODES = ("split", "shadow")
CHECK_EVERY_S = 1.0
SHADOW_QUEUE = 256  # requests waiting for the shadow scorer; beyond that they are dropped (and counted)
SHADOW_BATCH = 64   # queued requests the shadow scorer takes at once (one predict_proba call per version)


@dataclass(frozen=True)
class Routing:
    """One deployment, loaded: swapped whole (one attribute assignment), never edited in place."""
    champion: str
    weights: dict[str, float]       # version -> share of requests it answers (shadow: champion 1.0)
    shadows: tuple[str, ...]        # versions scored in the background
    models: dict[str, FraudModel]
    mode: str

    @property
    def cumulative(self) -> list[tuple[str, float]]:
        total, edges = 0.0, []
        for version, weight in self.weights.items():
            total += weight
            edges.append((version, total))
        return edges


def read_deployment(models_dir: Path) -> dict:
    """The deployment file, checked: known mode, challenger weights within 0..1 and summing to at most 1."""
    spec = json.loads((Path(models_dir) / DEPLOYMENT).read_text())
    challengers = spec.get("challengers", {})
    if spec.get("mode", "split") not in MODES or not isinstance(spec.get("champion"), str):
        raise ValueError(f"{DEPLOYMENT}: needs a champion and mode in {MODES}")
    if not all(0 <= float(w) <= 1 for w in challengers.values()) or sum(challengers.values()) > 1:
        raise ValueError(f"{DEPLOYMENT}: challenger weights must be within 0..1 and sum to at most 1")
    return spec


def load_routing(models_dir: Path, spec: dict) -> Routing:
    """Every named version from models/<version>/, loaded afresh: FraudModel.load checks its sha256 each time."""
    champion, challengers, mode = spec["champion"], dict(spec.get("challengers", {})), spec.get("mode", "split")
    models = {v: FraudModel.load(Path(models_dir) / v) for v in [champion, *challengers]}
    if mode == "shadow":
        return Routing(champion, {champion: 1.0}, tuple(challengers), models, mode)
    weights = {champion: 1.0 - sum(challengers.values()), **challengers}
    return Routing(champion, weights, (), models, mode)


def bucket_of(key: str) -> float:
    """A uniform number in [0, 1) from a key: the same key always lands in the same place (sticky)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / 2.0**64


class Router:
    def __init__(self, service, models_dir: Path, drift=None):
        self.service, self.models_dir, self.drift = service, Path(models_dir), drift  # drift: app.drift.DriftMonitors
        self.path = self.models_dir / DEPLOYMENT
        self.routing: Routing | None = None
        self._mtime, self._checked, self._lock = None, 0.0, threading.Lock()
        registry = service.metrics.registry
        self.weight = Gauge("model_routing_weight", "Configured share of requests each version answers",
                            ["version"], multiprocess_mode="livemax", registry=registry)
        self.champion = Gauge("model_champion", "1 for the version that is the champion (canary guards compare "
                              "the others with it)", ["version"], multiprocess_mode="livemax", registry=registry)
        self.shadow = Gauge("model_shadow", "1 while a version is scored in shadow mode", ["version"],
                            multiprocess_mode="livemax", registry=registry)
        self.reloads = Counter("model_deployment_reloads_total", "Deployment file loads by result", ["result"],
                               registry=registry)
        self.shadow_predictions = Counter("shadow_predictions_total", "Records scored by a shadow version",
                                          ["version", "class_name"], registry=registry)
        self.shadow_disagreements = Counter("shadow_disagreements_total", "Records where the shadow version's "
                                            "class differs from the champion's", ["version"], registry=registry)
        self.shadow_seconds = Histogram("shadow_scoring_seconds", "Time a shadow version took per scoring call (a batch of queued requests)",
                                        ["version"], buckets=LATENCY_BUCKETS, registry=registry)
        self.shadow_dropped = Counter("shadow_dropped_total", "Records not shadow-scored: the queue was full",
                                      ["version"], registry=registry)
        self.queue: queue.Queue = queue.Queue(maxsize=SHADOW_QUEUE)
        self._worker_pid = None
        for result in ("ok", "error"):
            self.reloads.labels(result=result)
        self.reload(force=True)

    # -- reload ---------------------------------------------------------------------------------------------
    def reload(self, force: bool = False) -> None:
        """Re-read the deployment file if it changed; keep the old routing when the new one fails to load."""
        now = time.monotonic()
        if not force and now - self._checked < CHECK_EVERY_S:
            return
        with self._lock:
            self._checked = now
            try:
                mtime = self.path.stat().st_mtime_ns
            except FileNotFoundError:
                mtime = None
            if mtime == self._mtime and not force:
                return
            self._mtime = mtime
            if mtime is None:
                return
            try:
                routing = load_routing(self.models_dir, read_deployment(self.models_dir))
            except (ModelLoadError, OSError, KeyError, ValueError, TypeError) as exc:
                self.reloads.labels(result="error").inc()
                log_event(self.service.logger, "deployment_rejected", logging.ERROR, error=str(exc))
                return
            self._publish(routing)

    def _publish(self, routing: Routing) -> None:
        metrics, previous = self.service.metrics, self.routing
        if self.drift is not None:  # before the swap: the first request routed to a version is counted
            folders = {v: (self.models_dir / v, model) for v, model in routing.models.items()}
            for version, reason in self.drift.track(folders).items():
                self.service.warn("drift_monitoring_off", version=version, reason=reason)
        for version, model in routing.models.items():
            metrics.describe_version(model.card)  # model_info, held-out scores, prediction series at 0
            self.weight.labels(version=version).set(routing.weights.get(version, 0.0))
            self.shadow.labels(version=version).set(version in routing.shadows)
            self.champion.labels(version=version).set(version == routing.champion)
            for name in ("fraud", "non_fraud"):
                self.shadow_predictions.labels(version=version, class_name=name)
            for metric in (self.shadow_dropped, self.shadow_disagreements, self.shadow_seconds):
                metric.labels(version=version)
        for version in set(previous.models if previous else ()) - set(routing.models):
            self.weight.labels(version=version).set(0)  # retired: its series stay, at 0
            self.shadow.labels(version=version).set(0)
            self.champion.labels(version=version).set(0)
            metrics.info.labels(version=version).set(0)
        self.routing = routing
        self.service.model = routing.models[routing.champion]
        metrics.describe_model(self.service.model.card)
        self.reloads.labels(result="ok").inc()
        log_event(self.service.logger, "deployment_loaded", champion=routing.champion, mode=routing.mode,
                  weights=routing.weights, shadows=list(routing.shadows))

    # -- routing --------------------------------------------------------------------------------------------
    def pick(self) -> FraudModel:
        self.reload()
        routing = self.routing
        if routing is None:
            return self.service.require_model()
        if len(routing.weights) > 1:
            u = bucket_of(request.headers.get("X-Client-ID") or g.request_id)
            for version, upper in routing.cumulative:
                if u < upper:
                    return routing.models[version]
        return routing.models[routing.champion]

    # -- shadow ---------------------------------------------------------------------------------------------
    def enqueue_shadow(self, scored) -> None:
        """After-scoring hook (app.main.Scored): hand the champion's records to the shadow thread; never wait."""
        routing = self.routing
        if routing is None or not routing.shadows or scored.model_version != routing.champion:
            return
        self._ensure_worker()
        for version in routing.shadows:
            try:
                self.queue.put_nowait((routing.models[version], scored.inputs.copy(), scored.predictions,
                                       scored.request_ids[0]))
            except queue.Full:
                self.shadow_dropped.labels(version=version).inc(len(scored.inputs))

    def _ensure_worker(self) -> None:
        if self._worker_pid != os.getpid():  # one thread per (gunicorn worker) process
            self._worker_pid = os.getpid()
            threading.Thread(target=self._shadow_loop, name="shadow-scorer", daemon=True).start()

    def _shadow_loop(self) -> None:
        """Drain what is queued (up to SHADOW_BATCH requests) and score it in one call per version: trees cost
        milliseconds per call but microseconds per record in a batch, so the backlog shrinks as load grows."""
        while True:
            items = [self.queue.get()]
            while len(items) < SHADOW_BATCH and not self.queue.empty():
                items.append(self.queue.get_nowait())
            for version in {model.version for model, *_ in items}:
                mine = [item for item in items if item[0].version == version]
                model = mine[0][0]
                try:
                    inputs, champion = np.concatenate([i[1] for i in mine]), np.concatenate([i[2] for i in mine])
                    start = time.perf_counter()
                    probabilities = model.predict_proba(inputs)
                    self.shadow_seconds.labels(version=version).observe(time.perf_counter() - start)
                    if self.drift is not None:  # its scores against its own deciles
                        self.drift.count(version, inputs, probabilities)
                    labels = probabilities >= model.threshold
                    n_fraud, disagree = int(labels.sum()), int((labels != champion).sum())
                    self.shadow_predictions.labels(version=version, class_name="fraud").inc(n_fraud)
                    self.shadow_predictions.labels(version=version, class_name="non_fraud").inc(len(labels) - n_fraud)
                    self.shadow_disagreements.labels(version=version).inc(disagree)
                    log_event(self.service.logger, "shadow_prediction", version=version, n_records=len(labels),
                              n_fraud=n_fraud, disagree=disagree, request_ids=[i[3] for i in mine])
                except Exception as exc:  # a failing shadow must never touch the champion's answers
                    log_event(self.service.logger, "shadow_failed", logging.ERROR, version=version, error=repr(exc))
            for _ in items:
                self.queue.task_done()


def init_app(app, service) -> None:
    """Route between model versions when models/deployment.json exists; one model as before otherwise."""
    router = Router(service, service.settings.model_dir, app.extensions.get("drift"))
    app.extensions["versions"] = router
    service.pick_model = router.pick
    service.after_scoring.append(router.enqueue_shadow)
