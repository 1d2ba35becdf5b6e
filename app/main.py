"""The Flask app factory: /predict, /predict/batch, /health, /ready, /metrics, /openapi.json, + extensions.py."""
import importlib
import logging
import random
import re
import time
from dataclasses import dataclass

import numpy as np
from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app.config import Settings
from app.extensions import EXTENSIONS
from app.logs import get_logger, log_event, log_request
from app.metrics import Metrics, observe_many
from app.model import FraudModel, ModelLoadError
from app.openapi import openapi_document
from app.validation import RequestError, batch_format, batch_to_rows, parse_json, record_to_row

PREDICT_ENDPOINTS = {"predict", "predict_batch"}
HTTP_REASONS = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
BATCH_COLUMNS = ["prediction", "class_name", "fraud_probability"]  # the columnar batch answer
CLASS_NAMES = np.array(["non_fraud", "fraud"])
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
NO_MODEL = "none"  # the version label of a prediction request answered without a model (503)


@dataclass(frozen=True)
class Scored:
    """What every after-scoring hook receives: one entry per record, in request order."""
    request_ids: list[str]     # /predict: the request id; a batch: "<request id>:<i>" for its record i
    model_version: str         # the version that scored these records
    threshold: float
    inputs: np.ndarray         # (n, n_features) float rows, in the model's feature order
    probabilities: np.ndarray  # (n,) fraud probabilities
    predictions: np.ndarray    # (n,) 0/1: probability >= threshold


def new_request_id() -> str:
    """32 hex digits that sort by time, like a UUIDv7: nanoseconds, then 64 random bits (unique, not secret;
    `random` is reseeded in every forked worker). The prediction log's key then grows at its end (app/feedback.py)."""
    return f"{time.time_ns():016x}{random.getrandbits(64):016x}"


def record_ids(request_id: str, n: int) -> list[str]:
    """A batch gives each record its own id (":" never appears in a request id, so no clash with one)."""
    return [f"{request_id}:{i}" for i in range(n)]


class Service:
    """What the routes share: settings, metrics, the model (or why it is missing) and the scoring hooks."""

    def __init__(self, settings: Settings, model: FraudModel | None = None):
        self.settings, self.metrics, self.logger = settings, Metrics(), get_logger()
        self.model, self.load_error = model, None
        if model is None:
            try:
                self.model = FraudModel.load(settings.model_dir)
            except (ModelLoadError, OSError, KeyError, ValueError) as exc:
                self.load_error = str(exc)
                log_event(self.logger, "model_load_failed", logging.ERROR, error=self.load_error)
        if self.model is not None:
            self.metrics.describe_model(self.model.card)
        self.before_scoring: list = []  # hook(rows): features plugged in by app/extensions.py
        self.after_scoring: list = []   # hook(scored: Scored)
        self.before_metrics: list = []  # hook(): e.g. flush buffered counts before a scrape

    def pick_model(self) -> FraudModel:
        """The model that answers this request; app/versions.py (lesson 07) routes between versions."""
        return self.require_model()

    def warn(self, event: str, **fields) -> None:
        log_event(self.logger, event, logging.WARNING, **fields)

    def require_model(self) -> FraudModel:
        if self.model is None:
            raise RequestError(503, "model_unavailable", f"model not loaded: {self.load_error}")
        return self.model

    def read_json(self):
        try:
            raw = request.get_data(cache=False)
            # A streamed (chunked) body is cut at the limit without an error: is there more behind it?
            if request.content_length is None and len(raw) >= self.settings.max_body_bytes \
                    and request.environ["wsgi.input"].read(1):
                raise RequestEntityTooLarge()
        except RequestEntityTooLarge:
            raise RequestError(413, "payload_too_large",
                               f"body larger than {self.settings.max_body_bytes} bytes") from None
        return parse_json(request.content_type, raw)

    def score(self, inputs: np.ndarray, request_ids: list[str], model: FraudModel | None = None) -> Scored:
        """Score a (n, n_features) float array with `model` (default: the one model); `request_ids` names each
        record (see record_ids)."""
        m = model or self.require_model()
        for hook in self.before_scoring:
            hook(inputs)
        probabilities = m.predict_proba(inputs)
        undefined = np.flatnonzero(np.isnan(probabilities))
        if len(undefined):  # e.g. +1e308 and -1e308 in two features: inf - inf in the score
            raise RequestError(400, "out_of_range", f"record {undefined[0]}: values too large for the model "
                               "(its score is undefined); features are expected near their training range",
                               index=int(undefined[0]))
        predictions = (probabilities >= m.threshold).astype(int)
        scored = Scored(request_ids, m.version, m.threshold, inputs, probabilities, predictions)
        for hook in self.after_scoring:
            hook(scored)
        series, n_fraud = self.metrics.version_series(m.version), int(predictions.sum())
        if n_fraud:  # an increment is a locked file write under gunicorn: skip the +0 ones
            series.fraud.inc(n_fraud)
        if n_fraud < len(predictions):
            series.non_fraud.inc(len(predictions) - n_fraud)
        observe_many(series.fraud_probability, probabilities)
        return scored


def add_routes(app: Flask, service: Service) -> None:
    settings = service.settings

    @app.post("/predict")
    def predict():
        m = service.pick_model()
        g.model_version = m.version
        row = record_to_row(service.read_json(), m.features)
        scored = service.score(np.array([row], dtype=np.float64), [g.request_id], m)
        label, p = int(scored.predictions[0]), float(scored.probabilities[0])
        result = {"prediction": label, "class_name": str(CLASS_NAMES[label]), "fraud_probability": p}
        g.log.update(class_name=result["class_name"], fraud_probability=round(p, 6))
        return jsonify(**result, threshold=m.threshold, model_version=scored.model_version, request_id=g.request_id)

    @app.post("/predict/batch")
    def predict_batch():
        m = service.pick_model()
        g.model_version = m.version
        payload = service.read_json()
        rows = batch_to_rows(payload, m.features, settings.max_batch_records)
        scored = service.score(rows, record_ids(g.request_id, len(rows)), m)
        labels, probabilities = scored.predictions.tolist(), scored.probabilities.tolist()
        g.log.update(n_records=len(labels), n_fraud=sum(labels))
        common = dict(n=len(labels), threshold=m.threshold, model_version=scored.model_version,
                      request_id=g.request_id, request_ids=scored.request_ids)
        rows = zip(labels, CLASS_NAMES[scored.predictions].tolist(), probabilities, strict=True)
        if batch_format(payload) == "columns":  # answer in the format of the question
            return jsonify(columns=BATCH_COLUMNS, data=list(rows), **common)
        return jsonify(predictions=[dict(zip(BATCH_COLUMNS, row, strict=True)) for row in rows], **common)

    @app.get("/health")
    def health():
        return jsonify(status="ok")

    @app.get("/ready")
    def ready():
        if service.model is None:
            return jsonify(status="not_ready", reason=service.load_error), 503
        return jsonify(status="ready", model_version=service.model.version)

    @app.get("/metrics", endpoint="metrics")  # Flask would name the endpoint after the function
    def metrics_endpoint():
        for hook in service.before_metrics:
            hook()
        body, content_type = service.metrics.exposition()
        return Response(body, content_type=content_type)

    @app.get("/openapi.json", endpoint="openapi")
    def openapi():
        model = service.model
        return jsonify(openapi_document(model.features if model else None, settings.max_batch_records,
                                        settings.max_body_bytes, "faults" in app.extensions,
                                        model.version if model else "no model"))


def add_error_handlers(app: Flask, service: Service) -> None:
    metrics = service.metrics

    @app.errorhandler(RequestError)
    def client_error(exc: RequestError):
        if exc.status < 500:
            metrics.invalid.labels(reason=exc.reason).inc()
        g.log["error"] = exc.reason
        return jsonify({**exc.body(), "request_id": g.get("request_id")}), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        reason = HTTP_REASONS.get(exc.code, "http_error")
        if exc.code < 500:
            metrics.invalid.labels(reason=reason).inc()
        g.log["error"] = reason
        return jsonify(error=reason, message=exc.description, request_id=g.get("request_id")), exc.code

    @app.errorhandler(Exception)
    def server_error(exc: Exception):
        log_event(service.logger, "unhandled_exception", logging.ERROR, request_id=g.get("request_id"),
                  error=repr(exc))
        g.log["error"] = "internal_error"
        return jsonify(error="internal_error", message="the server failed; see its logs",
                       request_id=g.get("request_id")), 500


def add_request_log(app: Flask, service: Service) -> None:
    """Every request: an id (the caller's X-Request-ID if sane), a timer, a count, one JSON log line."""

    @app.before_request
    def start_timer():
        g.start = time.perf_counter()
        supplied = request.headers.get("X-Request-ID", "")
        g.request_id = supplied if REQUEST_ID.match(supplied) else new_request_id()
        g.log = {}

    @app.after_request
    def record(response):
        elapsed = time.perf_counter() - g.get("start", time.perf_counter())
        endpoint, method, status = request.endpoint or "unmatched", request.method, response.status_code
        request_id, version = g.get("request_id", ""), g.get("model_version")
        if endpoint in PREDICT_ENDPOINTS:  # by the version that answered (or was to answer)
            series = service.metrics.version_series(version or NO_MODEL)
            series.latency.observe(elapsed)
            if status >= 500:
                series.errors.inc()
            response.headers["X-Model-Version"] = version or NO_MODEL
        service.metrics.count_request(endpoint, method, status)
        response.headers["X-Request-ID"] = request_id
        if service.settings.log_requests and endpoint != "metrics":
            model = service.model
            log_request(dict(request_id=request_id or None, method=method, path=request.path, status=status,
                             latency_ms=round(elapsed * 1000, 3),
                             model_version=version or (model.version if model else None), **g.get("log", {})))
        return response


def create_app(settings: Settings | None = None, model: FraudModel | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False  # OPTIONS gets a JSON 405 like any other unknown method
    service = Service(settings, model)
    app.extensions.update(service=service, metrics=service.metrics, model=service.model, settings=settings)
    add_request_log(app, service)
    add_routes(app, service)
    add_error_handlers(app, service)
    for name in EXTENSIONS:  # features of later lessons (app/extensions.py)
        importlib.import_module(name).init_app(app, service)
    return app
