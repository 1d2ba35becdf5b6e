"""Faults on demand for the alerting lesson: added latency and a share of 500 errors.

Off unless the service starts with ENABLE_FAULTS=1 (the lesson's dev server); the production
gunicorn config never sets it, so there the /admin/faults route does not even exist.
While a fault is on, fault_injection_active{fault=...} is 1, so dashboards show why alerts fire.
Plugged in through app/extensions.py: init_app() at the end adds the route and the scoring hook.
"""
import random
import threading
import time
from dataclasses import asdict, dataclass

from flask import g, jsonify, request

from app.validation import RequestError, number


@dataclass
class FaultSettings:
    latency_seconds: float = 0.0   # added to every prediction request
    error_rate: float = 0.0        # share of prediction requests answered with 500
    version: str = ""              # only requests answered by this model version (lesson 07); "" = all


class FaultInjector:
    def __init__(self, metrics, seed: int = 0):
        self._lock = threading.Lock()
        self._settings = FaultSettings()
        self._random = random.Random(seed)
        self._metrics = metrics

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    def update(self, latency_seconds: float = 0.0, error_rate: float = 0.0, version: str = "") -> FaultSettings:
        if not 0.0 <= latency_seconds <= 30.0:
            raise ValueError("latency_seconds must be within 0..30")
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError("error_rate must be within 0..1")
        with self._lock:
            self._settings = FaultSettings(latency_seconds, error_rate, version)
        self._metrics.faults.labels(fault="latency").set(1 if latency_seconds > 0 else 0)
        self._metrics.faults.labels(fault="errors").set(1 if error_rate > 0 else 0)
        return self._settings

    def apply(self, version: str = "") -> bool:
        """Sleep for the injected latency; return True when this request must fail with a 500."""
        settings = self._settings
        if settings.version and settings.version != version:
            return False
        if settings.latency_seconds:
            time.sleep(settings.latency_seconds)
        if settings.error_rate:
            with self._lock:
                return self._random.random() < settings.error_rate
        return False

    def as_dict(self) -> dict:
        return asdict(self._settings)


def init_app(app, service) -> None:
    """With ENABLE_FAULTS=1: a before-scoring hook that applies the faults, and /admin/faults to set them."""
    if not service.settings.enable_faults:
        return
    faults = app.extensions["faults"] = FaultInjector(service.metrics)

    def inject(rows) -> None:
        if faults.apply(g.get("model_version", "")):
            raise RuntimeError("injected fault (alerting lesson)")

    service.before_scoring.append(inject)

    @app.route("/admin/faults", methods=["GET", "POST", "DELETE"])
    def admin_faults():
        if request.method == "POST":
            payload = service.read_json()
            if not isinstance(payload, dict) or set(payload) - {"latency_seconds", "error_rate", "version"} \
                    or not isinstance(payload.get("version", ""), str):
                raise RequestError(400, "not_an_object",
                                   'body must be {"latency_seconds": s, "error_rate": share, "version": "..."}')
            try:
                faults.update(**{name: value if name == "version" else number(value, "body", name)
                                 for name, value in payload.items()})
            except ValueError as exc:
                raise RequestError(400, "out_of_range", str(exc)) from None
        elif request.method == "DELETE":
            faults.update()
        return jsonify(faults.as_dict())
