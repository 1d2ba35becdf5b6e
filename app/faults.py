"""Faults on demand for the alerting lesson: added latency and a share of 500 errors.

Off unless the service starts with ENABLE_FAULTS=1 (the lesson's dev server); the production
gunicorn config never sets it, so there the /admin/faults route does not even exist.
While a fault is on, fault_injection_active{fault=...} is 1, so dashboards show why alerts fire.
"""
import random
import threading
import time
from dataclasses import asdict, dataclass


@dataclass
class FaultSettings:
    latency_seconds: float = 0.0   # added to every prediction request
    error_rate: float = 0.0        # share of prediction requests answered with 500


class FaultInjector:
    def __init__(self, metrics, seed: int = 0):
        self._lock = threading.Lock()
        self._settings = FaultSettings()
        self._random = random.Random(seed)
        self._metrics = metrics

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    def update(self, latency_seconds: float = 0.0, error_rate: float = 0.0) -> FaultSettings:
        if not 0.0 <= latency_seconds <= 30.0:
            raise ValueError("latency_seconds must be within 0..30")
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError("error_rate must be within 0..1")
        with self._lock:
            self._settings = FaultSettings(latency_seconds, error_rate)
        self._metrics.faults.labels(fault="latency").set(1 if latency_seconds > 0 else 0)
        self._metrics.faults.labels(fault="errors").set(1 if error_rate > 0 else 0)
        return self._settings

    def apply(self) -> bool:
        """Sleep for the injected latency; return True when this request must fail with a 500."""
        settings = self._settings
        if settings.latency_seconds:
            time.sleep(settings.latency_seconds)
        if settings.error_rate:
            with self._lock:
                return self._random.random() < settings.error_rate
        return False

    def as_dict(self) -> dict:
        return asdict(self._settings)
