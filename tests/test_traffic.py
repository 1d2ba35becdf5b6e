"""The traffic simulator against real HTTP servers on 127.0.0.1: bounds, rate, errors, stopping, CLI."""
import json
import math
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from werkzeug.serving import make_server

from workshop.data import FEATURES, load_dataset
from workshop.paths import REPO_ROOT
from workshop.polling import poll_until
from workshop.scenario_stream import stream
from workshop.traffic import RemoteTargetError, is_loopback_url, run_in_background, simulate
from workshop.traffic_cli import main
from workshop.traffic_summary import Summary


class PredictHandler(BaseHTTPRequestHandler):
    """Answers POST /predict like the app's contract; validates the 31 fields; can fail or be slow."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the real app, so each Session reuses its connection
    disable_nagle_algorithm = True  # headers and body go out in separate writes: avoid 40 ms delayed ACKs

    def do_POST(self):
        server = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with server.lock:
            server.n += 1
            n = server.n
        if server.delay:
            time.sleep(server.delay)
        try:
            record = json.loads(body)
        except ValueError:
            return self.reply(400, {"error": "invalid_json"})
        if self.path != "/predict":
            return self.reply(404, {"error": "not_found"})
        if not isinstance(record, dict) or set(record) != set(FEATURES):
            return self.reply(400, {"error": "missing_field"})
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   for v in record.values()):
            return self.reply(400, {"error": "non_numeric"})
        if server.fail_every and n % server.fail_every == 0:
            return self.reply(500, {"error": "internal_error"})
        request_id = self.headers.get("X-Request-ID", "")
        with server.lock:
            server.received[request_id] = record
        probability = 1 / (1 + math.exp(min(50.0, record["V14"] + 4)))  # fraud-like V14 is very negative
        prediction = int(probability >= 0.5)
        self.reply(200, {"prediction": prediction, "class_name": "fraud" if prediction else "non_fraud",
                         "fraud_probability": probability, "model_version": "stub", "request_id": request_id})

    def reply(self, status: int, payload: dict):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture()
def server():
    """A stub app on a free loopback port. The socket listens once constructed, so it is ready at once."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), PredictHandler)
    srv.daemon_threads = True
    srv.lock, srv.n, srv.received, srv.delay, srv.fail_every = threading.Lock(), 0, {}, 0.0, 0
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/predict"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def df():
    frame, _ = load_dataset(source="synthetic", n_rows=3_000, seed=5)
    return frame


def run(server, df, **kwargs):
    kwargs.setdefault("progress", False)
    return simulate(server.url, df, **kwargs)


def received_in_order(server):
    return [server.received[k] for k in sorted(server.received, key=lambda rid: int(rid.rsplit("-", 1)[1]))]


def test_count_is_exact_and_records_follow_the_scenario_stream(server, df):
    summary = run(server, df, rate=0, count=37, concurrency=4, seed=2, scenario="shift:V14:1.0@10")
    assert (summary.sent, summary.succeeded, summary.errors, server.n) == (37, 37, {}, 37)
    expected = [record for _, record, _ in stream(df, "shift:V14:1.0@10", 37, seed=2)]
    assert received_in_order(server) == expected  # exact indices, exact values on the wire
    assert summary.drifted_sent == 27
    assert summary.frauds_predicted == sum(r["V14"] < -4 for r in expected)


def test_duration_bound(server, df):
    summary = run(server, df, rate=0, duration=1.0, concurrency=2)
    assert 1.0 <= summary.duration_s < 1.5
    assert summary.sent == server.n == summary.succeeded > 20


def test_rate_follows_a_shared_schedule(server, df):
    summary = run(server, df, rate=50, duration=2.0, concurrency=4)
    assert 90 <= summary.sent <= 110
    assert 45 <= summary.achieved_rate <= 55
    # with both bounds, the count ends this one first: 25 requests at 50/s take about half a second
    summary = run(server, df, rate=50, duration=10, count=25, concurrency=4)
    assert summary.sent == 25 and 0.45 <= summary.duration_s < 0.9


def test_errors_counted_by_status(server, df):
    server.fail_every = 5
    summary = run(server, df, rate=0, count=50, concurrency=3)
    assert summary.sent == 50 and summary.succeeded == 40 and summary.errors == {"500": 10}
    assert "500: 10" in str(summary)


def test_slow_server_latency_and_timeouts(server, df):
    server.delay = 0.05
    summary = run(server, df, rate=0, count=6, concurrency=1)
    assert summary.succeeded == 6 and 50 <= summary.latency_p50_ms < 500
    server.delay = 0.4
    summary = run(server, df, rate=0, count=4, concurrency=4, timeout=0.1)
    assert summary.succeeded == 0 and summary.errors == {"timeout": 4}


def test_connection_errors_are_counted_not_raised(df):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    summary = simulate(f"http://127.0.0.1:{port}/predict", df, rate=0, count=5, concurrency=2,
                       progress=False)
    assert summary.sent == 5 and summary.succeeded == 0 and summary.errors == {"conn": 5}
    assert summary.latency_p50_ms is None and "no HTTP responses" in str(summary)


def test_stop_event_stops_early(server, df):
    stop, seen = threading.Event(), []

    def on_result(result):
        seen.append(result)
        if len(seen) >= 20:
            stop.set()

    summary = run(server, df, rate=100, duration=30, concurrency=4, stop_event=stop, on_result=on_result)
    assert summary.stopped_early and summary.duration_s < 2
    assert 20 <= summary.sent < 24 and summary.sent == server.n == len(seen)
    assert all(r.ok and r.status == "200" and r.request_id in server.received for r in seen)


def test_background_handle(server, df):
    handle = run_in_background(server.url, df, rate=100, concurrency=2)  # unbounded: runs until stop()
    poll_until(lambda: server.n >= 10, timeout=10, interval=0.02, what="10 requests at the server")
    assert handle.running and server.n >= 10
    summary = handle.stop(timeout=5)
    assert not handle.running and summary.stopped_early
    assert summary.sent == server.n >= 10
    bounded = run_in_background(server.url, df, rate=0, count=15)
    assert bounded.result(timeout=10).sent == 15


def test_only_loopback_targets_unless_allowed(df):
    for url in ("http://127.0.0.1:8000/predict", "http://localhost:8000/predict", "http://[::1]:8000/",
                "http://127.0.0.2/predict"):
        assert is_loopback_url(url), url
    for url in ("http://10.1.2.3:8000/predict", "http://192.0.2.1/predict", "http://[2001:db8::1]/", "nohost"):
        assert not is_loopback_url(url), url
    started = time.monotonic()
    with pytest.raises(RemoteTargetError, match="--allow-remote"):
        simulate("http://192.0.2.1:8000/predict", df, count=1, progress=False)
    with pytest.raises(RemoteTargetError):
        run_in_background("http://192.0.2.1:8000/predict", df, count=1)
    assert time.monotonic() - started < 1  # refused before any connection attempt


def test_bounds_and_arguments_are_checked(server, df):
    with pytest.raises(ValueError, match="bound"):
        simulate(server.url, df)
    with pytest.raises(ValueError, match="concurrency"):
        simulate(server.url, df, count=1, concurrency=0)
    with pytest.raises(ValueError, match="unknown scenario"):
        simulate(server.url, df, count=1, scenario="nope")
    assert server.n == 0


def test_summary_as_dict_and_text():
    summary = Summary(url="u", scenario="clean", sent=3, succeeded=2, errors={"conn": 1}, duration_s=1.5,
                      target_rate=2, achieved_rate=2.0, latency_p50_ms=1, latency_p95_ms=2, latency_p99_ms=3)
    assert json.loads(json.dumps(summary.as_dict()))["errors"] == {"conn": 1}
    text = str(summary)
    assert "sent     3 in 1.5 s = 2.0 req/s (target 2)" in text and "conn: 1" in text and "p99 3.0 ms" in text


def test_cli_end_to_end(server):
    command = [sys.executable, "-m", "workshop.traffic", "--url", server.url, "--rate", "0", "--count", "20",
               "--concurrency", "2", "--rows", "2000", "--scenario", "shift:V14:1.0@5", "--no-progress"]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "sent     20 in" in done.stdout and "scenario shift:V14:1@5" in done.stdout
    assert server.n == 20
    done = subprocess.run([*command, "--json"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert json.loads(done.stdout)["succeeded"] == 20


def test_cli_refuses_bad_input(capsys):
    assert main(["--url", "http://192.0.2.1:8000/predict", "--count", "1"]) == 2
    assert "not this machine" in capsys.readouterr().err
    for argv, message in ((["--count", "1", "--scenario", "shift:V14"], "expected shift:FEATURE"),
                          (["--rate", "5"], "give --count and/or --duration")):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2 and message in capsys.readouterr().err


def test_against_the_real_app(app, scrape, df):
    """The lead's Flask app, served for real on a free port: every simulated request is a valid prediction."""
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        results = []
        summary = simulate(f"http://127.0.0.1:{http.server_port}/predict", df, rate=0, count=40, concurrency=2,
                           scenario="fraud:0.5@0", progress=False, on_result=results.append)
    finally:
        http.shutdown()
        http.server_close()
        thread.join(5)
    assert summary.sent == summary.succeeded == 40, summary.errors
    assert scrape("predictions_total", class_name="fraud") == summary.frauds_predicted > 0
    assert scrape("predictions_total", class_name="non_fraud") == 40 - summary.frauds_predicted
    probabilities = np.array([r.fraud_probability for r in results])
    labels = np.array([r.label for r in results])
    assert probabilities[labels == 1].mean() > probabilities[labels == 0].mean()


# ---------------------------------------------------------------- progress output that stays short

def test_a_logged_run_prints_a_few_plain_lines(server, df, capsys):
    """Output that is not a terminal (a CI log, a pipe): a line at each quarter of the run, no carriage return."""
    summary = simulate(server.url, df, rate=200, count=200, concurrency=2, progress=True)
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert summary.sent == 200 and out == ""
    assert "\r" not in err and 2 <= len(lines) <= 5, lines
    assert "200/200" in lines[-1] and lines[-1].startswith("traffic clean: 100%"), lines


@pytest.mark.slow
def test_a_notebook_executed_headless_saves_one_progress_line(server, tmp_path):
    """papermill (as CI and `make workshop` run the lessons): a 5 s run saves ONE line, its final state.
    Before workshop.progress, tqdm's text bar saved one `\\r` fragment per refresh (about one a second)."""
    import nbformat
    import papermill

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from workshop.data import load_dataset\n"
        "from workshop.traffic import simulate\n"
        "df, _ = load_dataset(source='synthetic', n_rows=2_000, seed=5)\n"
        f"summary = simulate({server.url!r}, df, rate=20, duration=5, concurrency=2)\n"
        "assert summary.sent >= 90")]
    nbformat.write(nb, tmp_path / "in.ipynb")
    papermill.execute_notebook(tmp_path / "in.ipynb", tmp_path / "out.ipynb", kernel_name="python3",
                               cwd=str(REPO_ROOT), progress_bar=False)
    outputs = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs
    texts = [o.get("text") or o.get("data", {}).get("text/plain", "") for o in outputs]
    assert len(outputs) == 1 and "\r" not in texts[0] and len(texts[0].splitlines()) == 1, texts
    assert texts[0].startswith("traffic clean: 100%") and "100/100" in texts[0], texts
