"""The stack's state file (data_dir/stack.json): mode, components (URL, pid) and settings, so a later
`start()` or `python -m workshop.stack down` from another process finds a running stack."""
import json
from pathlib import Path

from workshop import procs
from workshop.procs import is_ready

READY_PATHS = {"prometheus": "/-/ready", "alertmanager": "/-/ready", "grafana": "/api/health"}


class StackState:
    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / "stack.json"

    def read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def write(self, mode: str, components: dict, settings: dict) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"mode": mode, "components": components, "settings": settings}, indent=2))

    def forget(self) -> None:
        self.path.unlink(missing_ok=True)

    def is_ours(self, pid: int | None) -> bool:
        """The pid runs a binary with this data_dir in its flags (guards against pids reused by others)."""
        if not pid or not procs.pid_alive(pid):
            return False
        return f"{self.data_dir}/" in (procs.pid_command(pid) or "")  # every flag path is inside data_dir

    def stop_recorded_processes(self, state: dict) -> None:
        for info in state["components"].values():
            if self.is_ours(info.get("pid")):
                procs.stop_pid(info["pid"])

    def live(self) -> dict | None:
        """The recorded stack if every component still answers; a stale record is cleaned up."""
        state = self.read()
        if not state:
            return None
        if all(is_ready(info["url"] + READY_PATHS[name]) and (info.get("pid") is None or self.is_ours(info["pid"]))
               for name, info in state["components"].items()):
            return state
        self.stop_recorded_processes(state)  # half-dead local stack: stop the survivors
        self.forget()
        return None
