"""A small webhook receiver for Alertmanager notifications: where the alerting lesson's alerts arrive.

    receiver = WebhookReceiver(port=5001).start()       # background thread; port=0 picks a free port
    payload = receiver.wait_for(has_alert("ModelLatencyP95High"), timeout=120)
    receiver.received     # every payload, oldest first: Alertmanager's JSON plus "receivedAt"
    receiver.table()      # one row per alert in those payloads (pandas), for a notebook
    receiver.stop()

    python -m workshop.webhook --port 5001     # Docker mode: --host 0.0.0.0 (containers must reach it)

HTTP: POST /alerts (what alertmanager.yml's webhook_configs call), GET /alerts (everything received, as
a JSON list), DELETE /alerts (forget it), GET /health. Each payload is also appended to a JSONL file
(default .run/webhook/alerts.jsonl), so notifications survive the notebook kernel.
"""
import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from workshop.addresses import WEBHOOK_PORT
from workshop.paths import RUN_DIR

DEFAULT_PORT = WEBHOOK_PORT
DEFAULT_LOG = RUN_DIR / "webhook" / "alerts.jsonl"
ALERTS_PATH = "/alerts"
MAX_BODY_BYTES = 10 * 1024 * 1024


def has_alert(alertname: str, status: str = "firing", since: datetime | None = None,
              **labels: str) -> Callable[[dict], bool]:
    """A `wait_for` predicate: the payload holds an alert `alertname` in `status` with these labels.
    `since` (timezone-aware): only an episode that started then or later (its startsAt), not an older one."""
    def matches(payload: dict) -> bool:
        return any(alert.get("status") == status and alert.get("labels", {}).get("alertname") == alertname
                   and all(alert["labels"].get(k) == v for k, v in labels.items())
                   and (since is None or started_at(alert) >= since)
                   for alert in payload.get("alerts", []))
    return matches


def started_at(alert: dict) -> datetime:
    """When an alert of a notification started (Alertmanager's startsAt, RFC 3339 with nanoseconds)."""
    return datetime.fromisoformat(alert["startsAt"])


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def _reply(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    def do_POST(self) -> None:
        if self._path() != ALERTS_PATH:
            return self._reply(404, {"error": "not_found", "message": f"POST notifications to {ALERTS_PATH}"})
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY_BYTES:
            message = f"need a JSON body of at most {MAX_BODY_BYTES} bytes"
            return self._reply(411 if length <= 0 else 413, {"error": "bad_length", "message": message})
        try:
            payload = json.loads(self.rfile.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._reply(400, {"error": "invalid_json", "message": str(exc)})
        if not isinstance(payload, dict):
            return self._reply(400, {"error": "not_an_object", "message": "a notification is a JSON object"})
        self.server.receiver._record(payload)
        self._reply(200, {"status": "ok"})

    def do_GET(self) -> None:
        if self._path() == ALERTS_PATH:
            return self._reply(200, self.server.receiver.received)
        if self._path() == "/health":
            return self._reply(200, {"status": "ok", "received": len(self.server.receiver.received)})
        self._reply(404, {"error": "not_found", "message": f"GET {ALERTS_PATH} or /health"})

    def do_DELETE(self) -> None:
        if self._path() != ALERTS_PATH:
            return self._reply(404, {"error": "not_found", "message": f"DELETE {ALERTS_PATH}"})
        self.server.receiver.clear()
        self._reply(200, {"status": "cleared"})

    def log_message(self, format, *args) -> None:
        pass  # no access log on stderr: it would clutter notebook cells


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, receiver: "WebhookReceiver"):
        self.receiver = receiver
        super().__init__(address, _Handler)


class WebhookReceiver:
    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 log_path: str | Path | None = DEFAULT_LOG, on_payload: Callable[[dict], None] | None = None):
        """`log_path=None`: keep payloads in memory only. `on_payload` is called (from a server thread)
        for every payload received."""
        self.host, self.port = host, port
        self.log_path = Path(log_path) if log_path else None
        self.on_payload = on_payload
        self._received: list[dict] = []
        self._changed = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where Alertmanager should post (a wildcard bind is reached through 127.0.0.1)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}{ALERTS_PATH}"

    @property
    def received(self) -> list[dict]:
        with self._changed:
            return list(self._received)

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> "WebhookReceiver":
        if self._server is not None:
            return self
        try:
            self._server = _Server((self.host, self.port), self)
        except OSError as exc:
            raise RuntimeError(f"cannot listen on {self.host}:{self.port} ({exc.strerror}): is another "
                               "webhook receiver running? Stop it, or use port=0 for a free port") from exc
        self.port = self._server.server_address[1]
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"webhook-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            self._thread.join(timeout=5)

    def clear(self) -> None:
        """Forget what was received so far (the JSONL file keeps it)."""
        with self._changed:
            self._received.clear()

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float = 60.0) -> dict:
        """The first payload (received before or during the wait) for which `predicate` is true.
        Raises TimeoutError listing what did arrive."""
        deadline = time.monotonic() + timeout
        with self._changed:
            seen = 0
            while True:
                for payload in self._received[seen:]:
                    if predicate(payload):
                        return payload
                seen = len(self._received)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching notification within {timeout:g}s; received: "
                                       f"{[summarize(p) for p in self._received] or 'nothing'}")
                self._changed.wait(remaining)

    def table(self):
        """One row per alert of every payload: when, receiver, status, alertname, severity, job, summary."""
        import pandas as pd

        columns = ["received_at", "receiver", "status", "alertname", "severity", "job", "summary",
                   "starts_at"]
        rows = []
        for payload in self.received:
            for alert in payload.get("alerts", []):
                labels = alert.get("labels", {})
                rows.append([payload.get("receivedAt"), payload.get("receiver"), alert.get("status"),
                             labels.get("alertname"), labels.get("severity"), labels.get("job"),
                             alert.get("annotations", {}).get("summary"), alert.get("startsAt")])
        return pd.DataFrame(rows, columns=columns)

    def _record(self, payload: dict) -> None:
        payload = {**payload, "receivedAt": datetime.now(UTC).isoformat(timespec="milliseconds")}
        with self._changed:
            self._received.append(payload)
            if self.log_path:
                with self.log_path.open("a") as log:
                    log.write(json.dumps(payload) + "\n")
            self._changed.notify_all()
        if self.on_payload:
            self.on_payload(payload)

    def __enter__(self) -> "WebhookReceiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"WebhookReceiver(url={self.url!r}, running={self.running}, received={len(self._received)})"


def summarize(payload: dict) -> str:
    """One line per notification: status, receiver, alert names."""
    names = sorted({a.get("labels", {}).get("alertname", "?") for a in payload.get("alerts", [])})
    return (f"{payload.get('status', '?')} -> {payload.get('receiver', '?')}: {', '.join(names)} "
            f"({len(payload.get('alerts', []))} alerts, group {payload.get('groupLabels', {})})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.webhook", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 in Docker mode (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG, help=f"JSONL file (default {DEFAULT_LOG})")
    args = parser.parse_args(argv)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    receiver = WebhookReceiver(args.host, args.port, args.log,
                               on_payload=lambda p: print(f"{p['receivedAt']} {summarize(p)}", flush=True))
    try:
        receiver.start()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Receiving Alertmanager notifications on {receiver.url} (log {args.log}); Ctrl+C stops.",
          flush=True)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
