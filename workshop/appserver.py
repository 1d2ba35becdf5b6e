"""Start and stop the model service from notebooks, tests and the benchmark.

`AppServer(...).start()` runs `python -m app` (or gunicorn in production mode) as a subprocess on
127.0.0.1, polls /ready until the model is loaded, and stops the whole process group on `stop()`,
at interpreter exit, or when used as a context manager.
"""
import os
import sys
from pathlib import Path

from workshop import procs
from workshop.paths import REPO_ROOT, RUN_DIR


class AppServer:
    def __init__(self, port: int = 0, host: str = "127.0.0.1", model_dir: str | Path | None = None,
                 production: bool = False, workers: int = 2, threads: int = 2, enable_faults: bool = False,
                 env: dict | None = None, run_dir: Path | None = None, ready_timeout: float = 60.0):
        self.host, self.port = host, port
        self.model_dir = Path(model_dir).resolve() if model_dir else None
        self.production, self.workers, self.threads = production, workers, threads
        self.enable_faults, self.extra_env, self.ready_timeout = enable_faults, env or {}, ready_timeout
        self.run_dir = Path(run_dir or RUN_DIR / "app")
        self.process = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.run_dir / f"app-{self.port}.log"

    def command(self) -> list[str]:
        if self.production:
            gunicorn = str(Path(sys.executable).with_name("gunicorn"))
            return [gunicorn, "-c", "app/gunicorn_conf.py", "app.main:create_app()"]
        return [sys.executable, "-m", "app"]

    def environment(self) -> dict:
        env = {**os.environ, "APP_HOST": self.host, "APP_PORT": str(self.port), "PYTHONUNBUFFERED": "1",
               **self.extra_env}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if self.model_dir:
            env["MODEL_DIR"] = str(self.model_dir)
        if self.enable_faults:
            env["ENABLE_FAULTS"] = "1"
        if self.production:
            env.update(WEB_CONCURRENCY=str(self.workers), APP_THREADS=str(self.threads),
                       PROMETHEUS_MULTIPROC_DIR=str(self.run_dir / f"metrics-{self.port}"))
        return env

    def start(self) -> "AppServer":
        if self.process is not None and self.process.poll() is None:
            return self
        self.port = self.port or procs.free_port()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.process = procs.start_process(self.command(), self.log_path, cwd=REPO_ROOT, env=self.environment())
        procs.wait_http(f"{self.url}/ready", timeout=self.ready_timeout, process=self.process,
                        log_path=self.log_path)
        return self

    def stop(self) -> None:
        if self.process is not None:
            procs.stop_process(self.process)
            self.process = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_lines(self) -> list[str]:
        """The service's structured log lines (JSON objects, one per request)."""
        if not self.log_path.exists():
            return []
        return [line for line in self.log_path.read_text().splitlines() if line.startswith("{")]

    def __enter__(self) -> "AppServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
