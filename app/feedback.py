"""Ground truth arrives late: log every prediction, accept labels (POST /feedback), count the confusion matrix.

Fraud labels come from chargebacks, days to weeks after the prediction, and for a part of the traffic only.
So the app keeps a prediction log (request id -> version, probability, prediction, time) and a label store in
one SQLite file (FEEDBACK_DB; WAL mode, safe for several gunicorn workers). A label is joined to its
prediction when it arrives, and the app counts it into Prometheus counters by model version, predicted and
actual class: precision, recall and their error bars are recording rules over those counters.

Durability, stated and tested (tests/test_feedback_durability.py):
- a label is acknowledged (2xx) only after its transaction is committed with synchronous=FULL: on disk even
  if the machine loses power (a WAL commit survives a process crash whatever `synchronous` says);
- predictions are buffered and written by a background thread every FLUSH_S, so /predict never waits for
  the disk. A kill -9 loses what is still in the buffer: at most FLUSH_S of traffic (MAX_PENDING rows at
  most). A label for a lost prediction gets 404 unknown_request, like any id the store never saw.
"""
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from flask import jsonify
from prometheus_client import Counter, Histogram

from app.validation import RequestError

DEFAULT_DB = Path(__file__).resolve().parent.parent / ".run" / "feedback.sqlite"  # git-ignored run folder
FLUSH_S = 0.2          # the background writer commits the buffered predictions this often
MAX_PENDING = 20_000   # buffer bound: beyond it predictions are not logged (counted), /predict still answers
MAX_LABELS = 1000      # labels per POST /feedback
BUSY_TIMEOUT_MS = 10_000  # another worker holds the write lock: wait up to this long, then fail (500)
CLASSES = ("non_fraud", "fraud")
REJECTIONS = ("unknown_request", "conflicting_label")
# Finer than fraud_probability's buckets: PR-AUC and ROC points are read at these edges.
SCORE_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95,
                 0.98, 0.99, 0.995, 0.999, 1.0)
# Lesson seconds to production weeks.
DELAY_BUCKETS = (1, 5, 15, 30, 60, 300, 900, 3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 14 * 86400,
                 30 * 86400, 60 * 86400)
SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    request_id TEXT PRIMARY KEY, model_version TEXT NOT NULL, fraud_probability REAL NOT NULL,
    prediction INTEGER NOT NULL, predicted_at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS labels (
    request_id TEXT PRIMARY KEY, label INTEGER NOT NULL, labelled_at REAL NOT NULL) WITHOUT ROWID;
"""


def connect(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    """One connection (per thread): WAL, a busy timeout for the other workers, explicit transactions."""
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")   # readers never block the writer, a commit is one append
    db.execute(f"PRAGMA synchronous={synchronous}")  # FULL: fsync at every commit (survives power loss)
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return db


class LabelStore:
    """The SQLite file: the prediction log and the labels, joined on request_id."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.local = threading.local()
        self.db().executescript(SCHEMA)

    def db(self) -> sqlite3.Connection:
        if getattr(self.local, "db", None) is None:
            self.local.db = connect(self.path)
        return self.local.db

    def log_predictions(self, db: sqlite3.Connection, rows: list[tuple]) -> int:
        """Write buffered predictions in one transaction; returns how many were new (ids are unique)."""
        with_ids = db.total_changes
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR IGNORE INTO predictions VALUES (?, ?, ?, ?, ?)", rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return db.total_changes - with_ids

    def lookup(self, request_id: str) -> dict | None:
        row = self.db().execute(
            "SELECT p.request_id, l.label, p.prediction, p.fraud_probability, p.model_version, p.predicted_at, "
            "l.labelled_at FROM predictions p LEFT JOIN labels l USING (request_id) WHERE p.request_id = ?",
            (request_id,)).fetchone()
        keys = ("request_id", "label", "prediction", "fraud_probability", "model_version", "predicted_at",
                "labelled_at")
        return dict(zip(keys, row, strict=True)) if row else None

    def add_labels(self, labels: list[tuple[str, int]]) -> list[tuple[str, tuple | None]]:
        """Store labels in ONE transaction, committed (fsync) before this returns. Per label, in order:
        ("stored", prediction), ("duplicate", None), ("unknown_request", None) or ("conflicting_label", None);
        prediction = (model_version, fraud_probability, prediction, predicted_at)."""
        db, now, outcomes = self.db(), time.time(), []
        db.execute("BEGIN IMMEDIATE")  # take the write lock now: no other worker interleaves
        try:
            for request_id, label in labels:
                found = db.execute(
                    "SELECT p.model_version, p.fraud_probability, p.prediction, p.predicted_at, l.label "
                    "FROM predictions p LEFT JOIN labels l USING (request_id) WHERE p.request_id = ?",
                    (request_id,)).fetchone()
                if found is None:
                    outcomes.append(("unknown_request", None))
                elif found[4] is not None:
                    outcomes.append(("duplicate" if found[4] == label else "conflicting_label", None))
                else:
                    db.execute("INSERT INTO labels VALUES (?, ?, ?)", (request_id, label, now))
                    outcomes.append(("stored", (*found[:4], now)))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return outcomes


class PredictionLog:
    """Buffered prediction log: the scoring hook appends in memory, a background thread commits every FLUSH_S.

    The thread is started by the first append in each process (gunicorn forks workers after importing)."""

    def __init__(self, store: LabelStore, on_error=None):
        self.store, self.on_error = store, on_error
        self.pending: list[tuple] = []
        self.lock, self.flush_lock = threading.Lock(), threading.Lock()
        self.pid = None
        self.db = None

    def add(self, rows: list[tuple]) -> int:
        """Buffer rows (no disk I/O); returns how many did not fit (the caller counts them)."""
        with self.lock:
            room = max(0, MAX_PENDING - len(self.pending))
            self.pending.extend(rows[:room])
            if self.pid != os.getpid():
                self.pid = os.getpid()
                threading.Thread(target=self._run, daemon=True, name="prediction-log").start()
        return max(0, len(rows) - room)

    def flush(self) -> None:
        """Commit what is buffered now (the label route calls it too, so this worker's ids are findable)."""
        with self.flush_lock:
            with self.lock:
                rows, self.pending = self.pending, []
            if not rows:
                return
            try:
                self.db = self.db or connect(self.store.path, synchronous="NORMAL")  # crash-safe, no fsync
                self.store.log_predictions(self.db, rows)
            except sqlite3.Error as exc:  # e.g. locked for BUSY_TIMEOUT_MS: keep the rows for the next try
                with self.lock:
                    self.pending[:0] = rows[:MAX_PENDING - len(self.pending)]
                if self.on_error:
                    self.on_error(exc)

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_S)
            self.flush()


class QualityMetrics:
    """The labels as Prometheus counters, by model version: rules turn them into precision, recall, ..."""

    def __init__(self, registry, version: str | None):
        self.feedback = Counter("model_feedback_total", "Labelled predictions by model version, predicted and "
                                "actual class (the confusion matrix)", ["version", "predicted", "actual"],
                                registry=registry)
        self.scores = Histogram("model_labelled_fraud_probability", "Fraud probability of labelled predictions, "
                                "by actual class (PR and ROC curves at the bucket edges)", ["version", "actual"],
                                buckets=SCORE_BUCKETS, registry=registry)
        self.delay = Histogram("model_label_delay_seconds", "Time from prediction to label", ["version"],
                               buckets=DELAY_BUCKETS, registry=registry)
        self.logged = Counter("model_feedback_predictions_logged_total", "Predictions handed to the prediction "
                              "log (labels can join them)", ["version"], registry=registry)
        self.dropped = Counter("model_feedback_predictions_dropped_total", "Predictions NOT logged: the log's "
                               "buffer was full (a label for them gets 404)", ["version"], registry=registry)
        self.rejected = Counter("model_feedback_rejected_total", "Labels not stored, by reason",
                                ["reason"], registry=registry)
        self.duplicates = Counter("model_feedback_duplicates_total", "Labels received again (same value): "
                                  "answered 200, counted once", registry=registry)
        self.log_errors = Counter("model_feedback_log_errors_total", "Failed prediction-log writes (retried)",
                                  registry=registry)
        for reason in REJECTIONS:
            self.rejected.labels(reason=reason)
        if version:  # series exist at 0 before the first label
            for predicted in CLASSES:
                for actual in CLASSES:
                    self.feedback.labels(version=version, predicted=predicted, actual=actual)
            for actual in CLASSES:
                self.scores.labels(version=version, actual=actual)
            self.delay.labels(version=version)
            self.logged.labels(version=version)
            self.dropped.labels(version=version)

    def count(self, label: int, stored: tuple) -> None:
        version, probability, prediction, predicted_at, labelled_at = stored
        actual = CLASSES[label]
        self.feedback.labels(version=version, predicted=CLASSES[prediction], actual=actual).inc()
        self.scores.labels(version=version, actual=actual).observe(probability)
        self.delay.labels(version=version).observe(max(0.0, labelled_at - predicted_at))


LABEL_ID = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")


def parse_label(item, where: str, index: int | None = None) -> tuple[str, int]:
    """{"request_id": "...", "label": 0|1} -> (request_id, label); anything else is a counted 400."""
    at = {} if index is None else {"index": index}
    if not isinstance(item, dict):
        raise RequestError(400, "not_an_object", f'{where} must be {{"request_id": "...", "label": 0 or 1}}', **at)
    if missing := [k for k in ("request_id", "label") if k not in item]:
        raise RequestError(400, "missing_field", f"{where} lacks {missing}", fields=missing, **at)
    if extra := sorted(set(item) - {"request_id", "label"}):
        raise RequestError(400, "extra_field", f"{where} has unknown fields", fields=extra[:10], **at)
    request_id, label = item["request_id"], item["label"]
    if not isinstance(request_id, str) or not 0 < len(request_id) <= 80 or not set(request_id) <= LABEL_ID:
        raise RequestError(400, "bad_request_id", f"{where}: request_id must be a prediction's request id "
                           "([A-Za-z0-9._:-], at most 80 characters)", **at)
    if type(label) is not int or label not in (0, 1):  # not True, not 1.0, not "1"
        raise RequestError(400, "bad_label", f"{where}: label must be the integer 0 (legitimate) or 1 (fraud)",
                           **at)
    return request_id, label


def parse_labels(payload) -> tuple[list[tuple[str, int]], bool]:
    """A single label or {"labels": [...]} (1..MAX_LABELS); returns (labels, is_batch)."""
    if isinstance(payload, dict) and "labels" in payload and set(payload) == {"labels"}:
        items = payload["labels"]
        if not isinstance(items, list):
            raise RequestError(400, "not_an_object", '"labels" must be a list of {"request_id", "label"}')
        if not items:
            raise RequestError(400, "empty_batch", "no labels given")
        if len(items) > MAX_LABELS:
            raise RequestError(413, "batch_too_large", f"at most {MAX_LABELS} labels per request",
                               max_records=MAX_LABELS)
        return [parse_label(item, f"label {i}", i) for i, item in enumerate(items)], True
    return [parse_label(payload, "body")], False


def iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def init_app(app, service) -> None:
    """Registered by the quality lesson: log every scored record, serve POST /feedback and GET /feedback/<id>.
    FEEDBACK=off leaves it out (a deployment that collects no labels; `make bench` measures its cost)."""
    if os.environ.get("FEEDBACK", "").strip().lower() == "off":
        return
    store = LabelStore(Path(os.environ.get("FEEDBACK_DB") or DEFAULT_DB))
    quality = QualityMetrics(service.metrics.registry, service.model.version if service.model else None)
    for reason in ("unknown_request", "conflicting_label", "bad_label", "bad_request_id"):
        service.metrics.invalid.labels(reason=reason)  # a client's label mistakes, like /predict's
    log = PredictionLog(store, on_error=lambda exc: (quality.log_errors.inc(),
                                                    service.warn("prediction_log_failed", error=str(exc))))
    app.extensions["feedback"] = store
    app.extensions["prediction_log"] = log

    def log_scored(scored) -> None:  # the after-scoring hook: no disk I/O here
        n, version = len(scored.request_ids), scored.model_version
        dropped = log.add(list(zip(scored.request_ids, [version] * n, scored.probabilities.tolist(),
                                   scored.predictions.tolist(), [time.time()] * n, strict=True)))
        quality.logged.labels(version=version).inc(n - dropped)
        if dropped:
            quality.dropped.labels(version=version).inc(dropped)

    service.after_scoring.append(log_scored)
    document = app.view_functions["openapi"]  # notebook 02's /openapi.json, with /feedback added

    def openapi_with_feedback():
        doc = document().get_json()
        doc["paths"].update(openapi_paths())
        return jsonify(doc)

    app.view_functions["openapi"] = openapi_with_feedback

    @app.post("/feedback")
    def feedback():
        labels, is_batch = parse_labels(service.read_json())
        outcomes = store.add_labels(labels)
        if any(o == "unknown_request" for o, _ in outcomes):  # maybe still in this worker's buffer
            log.flush()
            retry = [i for i, (o, _) in enumerate(outcomes) if o == "unknown_request"]
            for i, again in zip(retry, store.add_labels([labels[i] for i in retry]), strict=True):
                outcomes[i] = again
        errors = []
        for i, ((request_id, label), (outcome, stored)) in enumerate(zip(labels, outcomes, strict=True)):
            if outcome == "stored":
                quality.count(label, stored)
            elif outcome == "duplicate":
                quality.duplicates.inc()
            else:
                quality.rejected.labels(reason=outcome).inc()
                errors.append({"index": i, "request_id": request_id, "error": outcome})
        stored = sum(o == "stored" for o, _ in outcomes)
        if is_batch:  # per-label outcomes; the stored ones are on disk
            return jsonify(stored=stored, duplicates=sum(o == "duplicate" for o, _ in outcomes), errors=errors)
        if errors:
            status, message = ((404, "no prediction with this request_id (yet): retry later, see docs/contracts.md")
                               if errors[0]["error"] == "unknown_request" else
                               (409, "this prediction already has the other label; the first one is kept"))
            raise RequestError(status, errors[0]["error"], message)
        return jsonify(request_id=labels[0][0], label=labels[0][1], stored=bool(stored))

    @app.get("/feedback/<request_id>")
    def feedback_lookup(request_id: str):
        found = store.lookup(request_id)
        if found is None:
            log.flush()
            found = store.lookup(request_id)
        if found is None:
            raise RequestError(404, "unknown_request", "no prediction with this request_id")
        return jsonify({**found, "predicted_at": iso(found["predicted_at"]), "labelled_at": iso(found["labelled_at"])})


def openapi_paths(max_labels: int = MAX_LABELS) -> dict:
    """/feedback in the service's OpenAPI document (added to /openapi.json by init_app)."""
    from app.openapi import _body, _errors, _json
    label = {"type": "object", "required": ["request_id", "label"], "additionalProperties": False,
             "properties": {"request_id": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,80}$"},
                            "label": {"enum": [0, 1], "description": "1 = fraud"}}}
    batch = {"type": "object", "required": ["labels"], "additionalProperties": False, "properties": {
        "labels": {"type": "array", "items": label, "minItems": 1,
                   "description": f"at most {max_labels}: more is a 413 batch_too_large"}}}
    error = {"type": "object", "required": ["error", "message"], "properties": {
        "error": {"enum": ["unknown_request", "conflicting_label"]}, "message": {"type": "string"}}}
    outcome = {"type": "object", "required": ["stored", "duplicates", "errors"], "properties": {
        "stored": {"type": "integer"}, "duplicates": {"type": "integer"}, "errors": {"type": "array", "items": {
            "type": "object", "properties": {"index": {"type": "integer"}, "request_id": {"type": "string"},
                                             "error": {"enum": list(REJECTIONS)}}}}}}
    single = {"type": "object", "required": ["request_id", "label", "stored"],
              "properties": {"request_id": {"type": "string"}, "label": {"enum": [0, 1]}, "stored": {"type": "boolean"}}}
    found = {"type": "object", "required": ["request_id", "label", "prediction", "fraud_probability", "model_version",
                                            "predicted_at", "labelled_at"]}
    return {
        "/feedback": {"post": {
            "summary": f"a true label (or up to {max_labels}) for earlier predictions; 2xx = stored on disk",
            "requestBody": _body({"oneOf": [label, batch]}),
            "responses": {"200": _json({"oneOf": [single, outcome]}, "stored, or already there"),
                          "404": _json(error, "no prediction with this request_id (yet)"),
                          "409": _json(error, "already labelled with the other label; the first is kept"),
                          **_errors(400, 413, 415)}}},
        "/feedback/{request_id}": {"get": {
            "summary": "a logged prediction and its label",
            "parameters": [{"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _json(found, "the prediction and its label (null until labelled)"),
                          "404": _json(error, "no prediction with this request_id")}}},
    }
