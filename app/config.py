"""Service settings, read once from environment variables (12-factor style)."""
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    model_dir: Path = DEFAULT_MODEL_DIR
    host: str = "127.0.0.1"          # 0.0.0.0 inside a container, so Prometheus can reach it
    port: int = 8000
    max_body_bytes: int = 2 * 1024 * 1024  # a full batch fits, a runaway upload does not
    max_batch_records: int = 1000
    enable_faults: bool = False      # lesson-only fault injection (alerting lesson); never on in production
    log_requests: bool = True
    drift_flush_seconds: float = 1.0  # buffered drift counts reach the Prometheus counters this often

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ
        return cls(
            model_dir=Path(env.get("MODEL_DIR", DEFAULT_MODEL_DIR)),
            host=env.get("APP_HOST", cls.host),
            port=int(env.get("APP_PORT", cls.port)),
            max_body_bytes=int(env.get("MAX_BODY_BYTES", cls.max_body_bytes)),
            max_batch_records=int(env.get("MAX_BATCH_RECORDS", cls.max_batch_records)),
            enable_faults=_flag("ENABLE_FAULTS"),
            log_requests=not _flag("DISABLE_REQUEST_LOGS"),
            drift_flush_seconds=float(env.get("DRIFT_FLUSH_SECONDS", cls.drift_flush_seconds)),
        )
