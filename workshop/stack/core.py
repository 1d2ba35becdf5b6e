"""The Stack object: start, reuse, reconfigure and stop Prometheus + Alertmanager (+ Grafana in Docker mode).

See the package docstring (workshop/stack/__init__.py) for the modes; this module only orchestrates:
config rendering is in config.py, the state file in state.py, the binaries in local.py, Compose in docker.py.
"""
import atexit
import shutil
from pathlib import Path

import pandas as pd
import requests

from workshop import procs, promql
from workshop.addresses import APP_JOB, APP_PORT, LOCALHOST, PORTS
from workshop.paths import ALERTMANAGER_CONFIG, RUN_DIR
from workshop.polling import poll_until
from workshop.procs import is_ready
from workshop.stack import docker, local
from workshop.stack.config import render_alertmanager_config, render_local_config, target_groups
from workshop.stack.state import READY_PATHS, StackState
from workshop.system_deps import docker_engine_available

DEFAULT_DATA_DIR = RUN_DIR / "stack"
DEFAULT_APP_TARGETS = (f"{LOCALHOST}:{APP_PORT}",)
DEFAULT_PORTS = {"prometheus": PORTS["prometheus"], "alertmanager": PORTS["alertmanager"]}


class Stack:
    def __init__(self, mode: str = "auto", app_targets: list | None = None,
                 scrape_interval: str | None = None, evaluation_interval: str | None = None,
                 prometheus_port: int = DEFAULT_PORTS["prometheus"],
                 alertmanager_port: int = DEFAULT_PORTS["alertmanager"], alertmanager: bool = True,
                 alertmanager_config: str | Path | None = None, data_dir: str | Path | None = None,
                 ready_timeout: float = 60.0, keep_running: bool = False, rules_dir: str | Path | None = None,
                 fresh: bool = False):
        """`app_targets`: "host:port" strings (or file_sd groups with labels) for job ml-model-app, default
        127.0.0.1:8000. Ports 0 pick free ones. `rules_dir`: load rule files from there instead of
        prometheus/rules/ (the alerting lesson's fast copy). `fresh`: start from empty storage, for a throwaway
        lesson stack; a kept Alertmanager notification log would swallow a re-run's alerts as already sent
        (until repeat_interval). Everything but `mode` is for local mode only."""
        if mode not in ("auto", "docker", "local"):
            raise ValueError(f"mode must be auto, docker or local, not {mode!r}")
        self.requested_mode = mode
        self.app_targets = list(app_targets) if app_targets is not None else None
        self.scrape_interval, self.evaluation_interval = scrape_interval, evaluation_interval
        self.ports = {"prometheus": prometheus_port, "alertmanager": alertmanager_port}
        self.with_alertmanager = alertmanager
        self.alertmanager_config = Path(alertmanager_config or ALERTMANAGER_CONFIG)
        self.data_dir = Path(data_dir or DEFAULT_DATA_DIR).resolve()
        self.state = StackState(self.data_dir)
        self.ready_timeout, self.keep_running = ready_timeout, keep_running
        self.rules_dir = str(Path(rules_dir).resolve()) if rules_dir else None
        self.fresh = fresh
        self.mode: str | None = None
        self.urls: dict[str, str] = {}
        self._processes: dict[str, object] = {}  # what this object started (local mode)
        self._owns_containers = False

    # -------------------------------------------------------------- public API
    @property
    def prometheus_url(self) -> str | None:
        return self.urls.get("prometheus")

    @property
    def alertmanager_url(self) -> str | None:
        return self.urls.get("alertmanager")

    @property
    def grafana_url(self) -> str | None:
        return self.urls.get("grafana")

    @property
    def app_bind_host(self) -> str:
        """Where the app must listen to be scraped: containers reach the host only off loopback."""
        return "0.0.0.0" if self.mode == "docker" else "127.0.0.1"

    def start(self) -> "Stack":
        state = self.state.live()
        mode = self.requested_mode
        if mode == "auto":  # local-only settings (ports 0 in tests, custom intervals) need local mode
            docker = not self._local_only_settings() and docker_engine_available()
            mode = state["mode"] if state else ("docker" if docker else "local")
        if state and state["mode"] != mode:
            raise RuntimeError(f"a {state['mode']} stack is already running (state in {self.data_dir}); "
                               "stop it first with `python -m workshop.stack down`")
        self.mode = mode
        (self._start_docker if mode == "docker" else self._start_local)(state)
        return self

    def stop(self, force: bool = False) -> None:
        """Stop what this object started; with force=True also a stack started elsewhere (`make down`)."""
        state = self.state.read()
        if self._processes:
            for name in ("prometheus", "alertmanager"):  # Prometheus first: no "Alertmanager down" noise
                if name in self._processes:
                    procs.stop_process(self._processes.pop(name))
            self.state.forget()
        elif self._owns_containers or (force and self._docker_stack_possible(state)):
            docker.compose("down")
            self._owns_containers = False
            self.state.forget()
        elif force and state:
            self.state.stop_recorded_processes(state)
            self.state.forget()
        elif state and self.urls:
            print("Stack left running: it was started elsewhere (`python -m workshop.stack down` stops it).")
        self.urls = {}

    def status(self) -> dict:
        state = self.state.read()
        if not state:
            return {"running": False, "mode": None, "data_dir": str(self.data_dir), "components": {},
                    "targets": []}
        components = {}
        for name, info in state["components"].items():
            ready = is_ready(info["url"] + READY_PATHS[name])
            pid = info.get("pid")
            components[name] = {"url": info["url"], "pid": pid, "ready": ready,
                                "process_alive": self.state.is_ours(pid) if pid else None}
        prometheus = components.get("prometheus", {})
        targets = self.targets(prometheus["url"]) if prometheus.get("ready") else []
        return {"running": all(c["ready"] for c in components.values()), "mode": state["mode"],
                "data_dir": str(self.data_dir), "components": components, "targets": targets}

    @staticmethod
    def targets(prom_url: str) -> list[dict]:
        """Active scrape targets with their health, as Prometheus reports them (/api/v1/targets)."""
        active = promql.api_get(prom_url, "targets", {"state": "active"})["activeTargets"]
        return [{"job": t["labels"].get("job"), "instance": t["labels"].get("instance"),
                 "health": t["health"], "last_error": t.get("lastError", "")} for t in active]

    def set_app_targets(self, app_targets: list) -> None:
        """Point job ml-model-app at other addresses; Prometheus picks the target file up live."""
        self._require_local("set_app_targets")
        self.app_targets = list(app_targets)
        self._configure()

    def reload(self) -> None:
        """Make Prometheus re-read its config and rules (after a notebook writes prometheus/rules/*.yml)."""
        if self.mode == "local":
            self._configure(force_reload=True)
        else:
            self._post_reload()

    def query(self, expr: str):
        return promql.instant(self.prometheus_url, expr)

    def wait_for_targets(self, job: str = APP_JOB, count: int | None = None, timeout: float = 30.0):
        """Wait until `count` targets of `job` (default: all configured app targets) are up; return them.

        Asks this Prometheus' targets API, not the `up` series: after a restart the kept TSDB still answers
        `up == 1` from the previous run before this process has scraped anything."""
        if count is None:
            local_app = self.mode == "local" and job == APP_JOB
            count = sum(len(g["targets"]) for g in target_groups(self._app_addresses())) if local_app else 1
        targets = poll_until(
            lambda: [t for t in self.targets(self.prometheus_url) if t["job"] == job],
            done=lambda ts: len(ts) >= count and all(t["health"] == "up" for t in ts), timeout=timeout,
            interval=0.25, what=f"{count} target(s) of job {job!r} up",
            describe=lambda ts: f"Prometheus reports {ts or 'no target yet'}")
        return pd.DataFrame(targets)

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Stack(mode={self.mode!r}, urls={self.urls})"

    @property
    def state_path(self) -> Path:
        return self.state.path

    def _write_state(self, components: dict) -> None:
        settings = {"app_targets": self.app_targets, "scrape_interval": self.scrape_interval,
                    "evaluation_interval": self.evaluation_interval, "rules_dir": self.rules_dir}
        self.state.write(self.mode, components, settings)

    # -------------------------------------------------------------- local mode
    def _require_local(self, what: str) -> None:
        if self.mode != "local":
            raise RuntimeError(f"{what} needs a started local-mode stack (mode is {self.mode!r})")

    def _app_addresses(self) -> list:
        return self.app_targets if self.app_targets is not None else list(DEFAULT_APP_TARGETS)

    def _configure(self, force_reload: bool = False) -> bool:
        """(Re)write the local config and target files; reload Prometheus if the config changed."""
        def address(url):
            return [url.removeprefix("http://")] if url else []

        addresses = {"app.yml": self._app_addresses(), "prometheus.yml": address(self.prometheus_url),
                     "alertmanager.yml": address(self.alertmanager_url)}
        changed = render_local_config(self.data_dir, addresses, self.scrape_interval,
                                      self.evaluation_interval, rules_dir=self.rules_dir)
        if (changed or force_reload) and self._prometheus_running():
            self._post_reload()
        if state := self.state.read():  # a later start() from elsewhere keeps these settings
            self._write_state(state["components"])
        return changed

    def _prometheus_running(self) -> bool:
        return bool(self.prometheus_url) and is_ready(self.prometheus_url + READY_PATHS["prometheus"])

    def _post_reload(self) -> None:
        response = requests.post(f"{self.prometheus_url}/-/reload", timeout=30)
        if not response.ok:
            raise RuntimeError(f"Prometheus rejected the reload: {response.text.strip()}")

    def _start_local(self, state: dict | None) -> None:
        if state:  # already running: reuse it; settings given to this object win, the others are kept
            for name, value in state.get("settings", {}).items():
                if getattr(self, name) is None:
                    setattr(self, name, value)
            self.urls = {name: info["url"] for name, info in state["components"].items()}
            self._configure()
            return
        prometheus, alertmanager = local.find_binaries(self.with_alertmanager)
        if self.with_alertmanager and not self.alertmanager_config.exists():
            raise FileNotFoundError(f"Alertmanager config {self.alertmanager_config} is missing")
        if self.fresh:
            for storage in local.STORAGE_DIRS.values():
                shutil.rmtree(self.data_dir / storage, ignore_errors=True)
        try:
            if self.with_alertmanager:
                config = render_alertmanager_config(None, self.data_dir / "alertmanager.yml",
                                                    source=self.alertmanager_config)
                self._launch("alertmanager", [
                    alertmanager, f"--config.file={config}",
                    f"--storage.path={self.data_dir / local.STORAGE_DIRS['alertmanager']}",
                    "--cluster.listen-address="], local.choose_port("alertmanager", self.ports["alertmanager"]))
            port = local.choose_port("prometheus", self.ports["prometheus"])
            self.urls["prometheus"] = f"http://{LOCALHOST}:{port}"
            self._configure()
            self._launch("prometheus", [
                prometheus, f"--config.file={self.data_dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.data_dir / local.STORAGE_DIRS['prometheus']}", "--web.enable-lifecycle",
            ], port)
        except BaseException:
            self.stop()
            raise
        self._write_state({name: {"url": self.urls[name], "pid": process.pid}
                           for name, process in self._processes.items()})

    def _launch(self, name: str, cmd: list[str], port: int) -> None:
        self._processes[name], self.urls[name] = local.launch(
            cmd, port, READY_PATHS[name], self.data_dir, self.data_dir / "logs" / f"{name}.log",
            self.ready_timeout, detach=self.keep_running)

    # -------------------------------------------------------------- Docker mode
    def _docker_stack_possible(self, state: dict | None) -> bool:
        return (state or {}).get("mode") == "docker" or (state is None and docker_engine_available())

    def _local_only_settings(self) -> bool:
        return bool(self.app_targets is not None or self.scrape_interval or self.evaluation_interval
                    or self.ports != DEFAULT_PORTS or self.alertmanager_config != ALERTMANAGER_CONFIG
                    or self.rules_dir or not self.with_alertmanager)

    def _start_docker(self, state: dict | None) -> None:
        if self._local_only_settings():
            raise ValueError("Docker mode serves the committed prometheus/ files as they are (app at "
                             "host.docker.internal:8000, default ports and intervals); use mode='local' for "
                             "custom targets, intervals, ports, rules or Alertmanager config")
        already_up = state is not None or is_ready(docker.DOCKER_URLS["prometheus"] + READY_PATHS["prometheus"])
        if not already_up:
            docker.ensure_env_file()
            docker.compose("up", "-d")
            self._owns_containers = not self.keep_running
            if self._owns_containers:
                atexit.register(self._stop_owned_containers)
        for name, url in docker.DOCKER_URLS.items():  # images may still be starting after `up -d` returns
            procs.wait_http(url + READY_PATHS[name], timeout=max(self.ready_timeout, 180))
        self.urls = dict(docker.DOCKER_URLS)
        self._write_state({name: {"url": url, "pid": None} for name, url in docker.DOCKER_URLS.items()})

    def _stop_owned_containers(self) -> None:
        if self._owns_containers:
            self.stop()
